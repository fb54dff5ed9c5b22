//! The disk guard: two circuit breakers (the disk's read path and write path),
//! the cache mode they imply, disk health, and the incident bookkeeping behind
//! events and logs.
//!
//! | read breaker | write breaker | mode |
//! | --- | --- | --- |
//! | closed | closed | normal |
//! | closed | open / half-open / forced open | read-only: reads from disk and memory, writes to memory and the replay queue |
//! | open / half-open / forced open | any | memory-only: no disk calls at all |
//!
//! Logging follows the rule "one line per transition or incident, never one
//! per call": transitions log at WARN (degrading) or INFO (recovering), each
//! with the incident id that its events carry.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::breaker::{
    Admission, BreakerConfig, BreakerSnapshot, BreakerState, CircuitBreaker, Outcome, Permit, Transition,
};
use crate::clock::Clock;
use crate::error::{DiskErrorKind, Error};
use crate::events::{BreakerName, DiskHealth, Event, EventBus, Mode};
use crate::name::{UnknownName, parse_name};

/// A guarded disk path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskPath {
    /// Reads, listings, metadata.
    Read,
    /// Writes, renames, links, deletes, fsyncs.
    Write,
}

impl DiskPath {
    /// Both paths.
    pub const ALL: [DiskPath; 2] = [DiskPath::Read, DiskPath::Write];

    /// `"read"` or `"write"`: the name every binding uses for this path.
    pub fn name(self) -> &'static str {
        match self {
            DiskPath::Read => "read",
            DiskPath::Write => "write",
        }
    }
}

impl FromStr for DiskPath {
    type Err = UnknownName;

    /// Parses a [`DiskPath::name`].
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        parse_name("disk path", s, DiskPath::ALL, DiskPath::name)
    }
}

/// The last disk failure seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// Its kind.
    pub kind: DiskErrorKind,
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// The error in words.
    pub message: String,
}

/// The resilience part of a metrics snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GuardSnapshot {
    /// The cache mode.
    pub mode: Mode,
    /// The disk's health as last probed.
    pub disk_health: DiskHealth,
    /// The read path's breaker.
    pub read_breaker: BreakerSnapshot,
    /// The write path's breaker.
    pub write_breaker: BreakerSnapshot,
    /// Reads answered from memory because the disk path was closed or failed.
    pub fallback_reads: u64,
    /// Writes kept in memory (and the replay queue) instead of on disk.
    pub fallback_writes: u64,
    /// Returns from a degraded mode to normal.
    pub recoveries: u64,
    /// The last disk failure.
    pub last_error: Option<LastError>,
    /// The incident in progress (0: none).
    pub incident: u64,
}

impl Default for BreakerSnapshot {
    /// A closed breaker that has seen nothing.
    fn default() -> Self {
        BreakerSnapshot {
            state: BreakerState::Closed,
            failure_rate: 0.0,
            calls_in_window: 0,
            failures_in_window: 0,
            consecutive_failures: 0,
            trips: 0,
            current_open_timeout: std::time::Duration::ZERO,
            next_attempt_in: None,
            half_open_in_flight: 0,
            half_open_successes: 0,
        }
    }
}

fn degraded(state: BreakerState) -> bool {
    matches!(state, BreakerState::Open | BreakerState::HalfOpen | BreakerState::ForcedOpen)
}

fn mode_code(m: Mode) -> u8 {
    match m {
        Mode::Normal => 0,
        Mode::ReadOnly => 1,
        Mode::MemoryOnly => 2,
    }
}

fn mode_of(code: u8) -> Mode {
    match code {
        0 => Mode::Normal,
        1 => Mode::ReadOnly,
        _ => Mode::MemoryOnly,
    }
}

fn health_code(h: DiskHealth) -> u8 {
    match h {
        DiskHealth::Healthy => 0,
        DiskHealth::Degraded => 1,
        DiskHealth::Unhealthy => 2,
    }
}

fn health_of(code: u8) -> DiskHealth {
    match code {
        0 => DiskHealth::Healthy,
        1 => DiskHealth::Degraded,
        _ => DiskHealth::Unhealthy,
    }
}

/// A disk call under way (see [`DiskGuard::enter`]).
pub struct InFlight<'a> {
    guard: &'a DiskGuard,
    id: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.guard.in_flight.lock().remove(&self.id);
    }
}

/// A mode change the cache must act on (hot budget, drain, events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeChange {
    /// The mode before.
    pub from: Mode,
    /// The mode now.
    pub to: Mode,
    /// The incident it belongs to.
    pub incident: u64,
    /// How long the outage lasted, when this is a return to normal (ms).
    pub outage_ms: u64,
}

/// The guard.
pub struct DiskGuard {
    read: CircuitBreaker,
    write: CircuitBreaker,
    counted: Box<dyn Fn(DiskErrorKind) -> bool + Send + Sync>,
    mode: AtomicU8,
    health: AtomicU8,
    fallback_reads: AtomicU64,
    fallback_writes: AtomicU64,
    recoveries: AtomicU64,
    incident: AtomicU64,
    outage_started_ms: AtomicU64,
    last_error: Mutex<Option<LastError>>,
    /// Serialises mode recomputation, so transitions are announced in order.
    transitions: Mutex<()>,
    /// Disk calls under way: id -> (path, start, already reported as stalled).
    in_flight: Mutex<std::collections::HashMap<u64, (DiskPath, u64, bool)>>,
    next_call: AtomicU64,
    events: Arc<EventBus>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DiskGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskGuard").field("mode", &self.mode()).field("health", &self.health()).finish()
    }
}

impl DiskGuard {
    /// A guard with two breakers of the same settings. `counted` says which
    /// disk error kinds count as breaker failures.
    pub fn new(
        breaker: BreakerConfig,
        counted: Box<dyn Fn(DiskErrorKind) -> bool + Send + Sync>,
        events: Arc<EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        DiskGuard {
            read: CircuitBreaker::new(breaker.clone(), clock.clone()),
            write: CircuitBreaker::new(breaker, clock.clone()),
            counted,
            mode: AtomicU8::new(mode_code(Mode::Normal)),
            health: AtomicU8::new(health_code(DiskHealth::Healthy)),
            fallback_reads: AtomicU64::new(0),
            fallback_writes: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            incident: AtomicU64::new(0),
            outage_started_ms: AtomicU64::new(0),
            last_error: Mutex::new(None),
            transitions: Mutex::new(()),
            in_flight: Mutex::new(std::collections::HashMap::new()),
            next_call: AtomicU64::new(0),
            events,
            clock,
        }
    }

    fn breaker(&self, path: DiskPath) -> &CircuitBreaker {
        match path {
            DiskPath::Read => &self.read,
            DiskPath::Write => &self.write,
        }
    }

    /// The cache mode now.
    #[inline]
    pub fn mode(&self) -> Mode {
        mode_of(self.mode.load(Ordering::Acquire))
    }

    /// The disk's health now.
    pub fn health(&self) -> DiskHealth {
        health_of(self.health.load(Ordering::Acquire))
    }

    /// Asks to make a disk call on `path`. `None`: do not touch the disk (the
    /// path's breaker is open, or the cache is memory-only); answer from memory.
    pub fn admit(&self, path: DiskPath) -> (Option<Permit>, Option<ModeChange>) {
        if path == DiskPath::Write && self.mode() == Mode::MemoryOnly {
            return (None, None);
        }
        let (admission, transition) = self.breaker(path).acquire();
        let change = self.after(path, transition, "open time elapsed: trying the disk again");
        match admission {
            Admission::Permitted(p) => (Some(p), change),
            Admission::Rejected => (None, change),
        }
    }

    /// Reports how an admitted call went. Disk errors of a counted kind are
    /// failures; other errors (bad input) count neither way.
    pub fn finish<T>(&self, path: DiskPath, permit: Permit, result: &Result<T, Error>) -> Option<ModeChange> {
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(e) => match e.disk_kind() {
                Some(kind) => {
                    *self.last_error.lock() =
                        Some(LastError { kind, at_ms: self.clock.now_ms(), message: e.to_string() });
                    if (self.counted)(kind) { Outcome::Failure } else { Outcome::Ignored }
                }
                None => Outcome::Ignored,
            },
        };
        self.finish_with(path, permit, outcome, result.as_ref().err().map(|e| e.to_string()))
    }

    /// Reports an admitted call's outcome directly (e.g. a corrupt read: a
    /// failure of the read path, so a burst of corruption trips it).
    pub fn finish_with(
        &self,
        path: DiskPath,
        permit: Permit,
        outcome: Outcome,
        cause: Option<String>,
    ) -> Option<ModeChange> {
        let transition = self.breaker(path).record(permit, outcome);
        let cause = cause.unwrap_or_else(|| "calls succeeded again".to_string());
        self.after(path, transition, &cause)
    }

    /// Registers a disk call under way, for the stalled-disk watchdog; the
    /// call is forgotten when the returned guard drops.
    pub fn enter(&self, path: DiskPath) -> InFlight<'_> {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.in_flight.lock().insert(id, (path, self.clock.monotonic_ns(), false));
        InFlight { guard: self, id }
    }

    /// The watchdog: opens the breaker of every path with a call under way for
    /// longer than `timeout`, so later calls are answered from memory instead
    /// of queueing behind a stalled disk. Each stalled call trips once.
    pub fn check_stalls(&self, timeout: std::time::Duration) -> Vec<ModeChange> {
        let now = self.clock.monotonic_ns();
        let limit = timeout.as_nanos() as u64;
        let stalled: Vec<(DiskPath, u64)> = {
            let mut calls = self.in_flight.lock();
            calls
                .values_mut()
                .filter(|(_, start, reported)| !*reported && now.saturating_sub(*start) >= limit)
                .map(|(path, start, reported)| {
                    *reported = true;
                    (*path, now.saturating_sub(*start))
                })
                .collect()
        };
        let mut changes = Vec::new();
        for (path, waited_ns) in stalled {
            let cause = format!("a disk call has not returned after {} ms (io_timeout)", waited_ns / 1_000_000);
            let transition = self.breaker(path).trip();
            if let Some(change) = self.after(path, transition, &cause) {
                changes.push(change);
            }
        }
        changes
    }

    /// When the write path has failed since its last success: the time of the
    /// latest disk error (cache clock, ms) and the write breaker's open time.
    /// Cheap when it has not (one atomic load): the recovery thread asks on
    /// every round.
    pub fn recent_write_failure(&self) -> Option<(u64, std::time::Duration)> {
        if self.write.consecutive_failures() == 0 {
            return None;
        }
        let at_ms = self.last_error.lock().as_ref().map_or(0, |e| e.at_ms);
        Some((at_ms, self.write.snapshot().current_open_timeout))
    }

    /// Opens a path's breaker for a failure seen outside a guarded call (the
    /// directory could not be prepared at open); it recovers like any trip.
    pub fn trip(&self, path: DiskPath, error: &Error) -> Option<ModeChange> {
        if let Some(kind) = error.disk_kind() {
            *self.last_error.lock() = Some(LastError { kind, at_ms: self.clock.now_ms(), message: error.to_string() });
        }
        let transition = self.breaker(path).trip();
        self.after(path, transition, &error.to_string())
    }

    /// Operator overrides: force a path's breaker open, disable it, or reset it.
    pub fn override_breaker(&self, path: DiskPath, to: BreakerState) -> Option<ModeChange> {
        let b = self.breaker(path);
        let transition = match to {
            BreakerState::ForcedOpen => b.force_open(),
            BreakerState::Disabled => b.disable(),
            _ => b.reset(),
        };
        self.after(path, transition, "operator override")
    }

    /// Counts a read or write answered from memory.
    pub fn count_fallback(&self, path: DiskPath) {
        match path {
            DiskPath::Read => &self.fallback_reads,
            DiskPath::Write => &self.fallback_writes,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The incident in progress, or a new one.
    pub fn incident(&self) -> u64 {
        match self.incident.load(Ordering::Acquire) {
            0 => self.events.next_incident(),
            id => id,
        }
    }

    /// Whether a breaker is not closed (so the probe should run).
    pub fn probing(&self) -> Option<DiskPath> {
        if degraded(self.read.state()) {
            Some(DiskPath::Read)
        } else if degraded(self.write.state()) {
            Some(DiskPath::Write)
        } else {
            None
        }
    }

    /// Records a health probe's result; emits an event on change.
    pub fn set_health(&self, to: DiskHealth, cause: &str) {
        let from = health_of(self.health.swap(health_code(to), Ordering::AcqRel));
        if from != to {
            let incident = self.incident();
            match to {
                DiskHealth::Healthy => log::info!("[incident {incident}] disk health {from} -> {to}: {cause}"),
                _ => log::warn!("[incident {incident}] disk health {from} -> {to}: {cause}"),
            }
            self.events.emit(Event::DiskHealthChanged { from, to, cause: cause.to_string(), incident });
        }
    }

    /// Announces a breaker transition and recomputes the mode.
    fn after(&self, path: DiskPath, transition: Option<Transition>, cause: &str) -> Option<ModeChange> {
        let t = transition?;
        let _order = self.transitions.lock();
        if degraded(t.to) && self.incident.load(Ordering::Acquire) == 0 {
            self.incident.store(self.events.next_incident(), Ordering::Release);
            self.outage_started_ms.store(self.clock.now_ms(), Ordering::Release);
        }
        let incident = self.incident();
        let breaker = match path {
            DiskPath::Read => BreakerName::Read,
            DiskPath::Write => BreakerName::Write,
        };
        if matches!(t.to, BreakerState::Open | BreakerState::ForcedOpen) {
            log::warn!("[incident {incident}] {breaker} breaker {} -> {}: {cause}", t.from.as_str(), t.to.as_str());
        } else {
            log::info!("[incident {incident}] {breaker} breaker {} -> {}", t.from.as_str(), t.to.as_str());
        }
        self.events.emit(Event::BreakerStateChanged { breaker, from: t.from.as_str(), to: t.to.as_str(), incident });
        if t.to == BreakerState::Open {
            self.set_health(DiskHealth::Unhealthy, cause);
        }
        let to = if degraded(self.read.state()) {
            Mode::MemoryOnly
        } else if degraded(self.write.state()) {
            Mode::ReadOnly
        } else {
            Mode::Normal
        };
        let from = mode_of(self.mode.swap(mode_code(to), Ordering::AcqRel));
        if from == to {
            return None;
        }
        if to == Mode::Normal {
            self.set_health(DiskHealth::Healthy, "both disk paths closed again");
        }
        let now = self.clock.now_ms();
        let outage_ms = if to == Mode::Normal {
            self.incident.store(0, Ordering::Release);
            self.recoveries.fetch_add(1, Ordering::Relaxed);
            now.saturating_sub(self.outage_started_ms.load(Ordering::Acquire))
        } else {
            0
        };
        let cause = if to == Mode::Normal { "both disk paths closed".to_string() } else { cause.to_string() };
        if to == Mode::Normal {
            log::info!("[incident {incident}] mode {from} -> {to} after {outage_ms} ms");
        } else {
            log::warn!("[incident {incident}] mode {from} -> {to}: {cause}");
        }
        self.events.emit(Event::ModeChanged { from, to, cause, incident });
        Some(ModeChange { from, to, incident, outage_ms })
    }

    /// The resilience part of the metrics.
    pub fn snapshot(&self) -> GuardSnapshot {
        GuardSnapshot {
            mode: self.mode(),
            disk_health: self.health(),
            read_breaker: self.read.snapshot(),
            write_breaker: self.write.snapshot(),
            fallback_reads: self.fallback_reads.load(Ordering::Relaxed),
            fallback_writes: self.fallback_writes.load(Ordering::Relaxed),
            recoveries: self.recoveries.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
            incident: self.incident.load(Ordering::Acquire),
        }
    }
}
