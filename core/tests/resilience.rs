//! Deterministic scenario tests of the resilience layer: the disk's read and
//! write breakers, the degraded modes they imply, the replay queue, recovery,
//! health probes, operator overrides, events and metrics.
//!
//! Faults come from the chaos API (`Cache::faults`) or from a [`FaultyFs`]
//! passed as `Config::fs` (which also counts every disk call that reaches it);
//! time only moves through a [`ManualClock`]; recovery is driven with
//! `Cache::run_recovery`. Nothing sleeps: a stalled disk call is a file system
//! that blocks on a channel until the test releases it.
//!
//! The cache's own recovery thread also calls the same recovery round a few
//! times a second. With a clock that only moves when a test moves it, its rounds
//! can only do what the test's would do a moment later, so every assertion here
//! is on state reached after the test's own round (which waits for a drain in
//! progress), or on an event awaited through a condition variable, never on
//! which of the two rounds did the work.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use sturdycache::breaker::{BreakerConfig, BreakerState};
use sturdycache::chaos::{ChaosError, ChaosOp};
use sturdycache::clock::ManualClock;
use sturdycache::fs::{DirEntry, Fault, FaultRule, FaultyFs, FileMeta, FileSystem, FsOp, StdFs, Trigger};
use sturdycache::histogram::{Op, Tier};
use sturdycache::{BreakerName, Cache, Config, DiskHealth, DiskPath, Event, Mode, SetOptions, Stored, format};

/// EIO on Linux and macOS (libc is not a dev-dependency).
const EIO: i32 = 5;
/// Where every manual clock starts (ms since the epoch).
const START_MS: u64 = 1_700_000_000_000;
/// The breakers' first open time in these tests.
const OPEN: Duration = Duration::from_secs(10);
/// Their cap: two doublings of `OPEN` reach it.
const MAX_OPEN: Duration = Duration::from_secs(40);
/// The hot budget (doubled while degraded).
const MEMORY: u64 = 1 << 20;
/// A bound on waiting for an event another thread emits; never reached when
/// the cache behaves.
const EVENT_WAIT: Duration = Duration::from_secs(20);

/// A scratch directory, in memory where the platform has a tmpfs (the faults
/// are simulated, so real fsyncs would only slow the tests down).
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

/// Settings shared by every scenario: small open times, no periodic sweep or
/// health probe (each test that wants one turns it on), a trial admitted for
/// every half-open call, and no slow-call rule (a call "lasts" as long as the
/// test leaves the manual clock alone).
fn config(dir: &Path, clock: &ManualClock, fs: Arc<FaultyFs>) -> Config {
    let mut c = Config::new(dir);
    c.memory_limit = MEMORY;
    c.sweep_interval = None;
    c.health_interval = None;
    // The stalled-disk watchdog has its own scenario; elsewhere a call of the
    // recovery thread in flight while a test moves the clock must not trip it.
    c.io_timeout = None;
    c.breaker = BreakerConfig {
        open_timeout: OPEN,
        max_open_timeout: MAX_OPEN,
        recovery_factor: 1.0,
        slow_call_threshold: None,
        ..BreakerConfig::default()
    };
    c.clock = Arc::new(clock.clone());
    c.fs = fs;
    c
}

/// Writes `entries` to `dir` through a plain cache on the real file system,
/// then closes it: entries on disk that a new handle's hot tier has never seen.
fn seed_disk(dir: &Path, entries: &[(&[u8], &[u8], Option<&str>)]) {
    let mut c = Config::new(dir);
    c.memory_limit = 0;
    c.sweep_interval = None;
    c.health_interval = None;
    let cache = Cache::open(c).unwrap();
    for (key, value, tag) in entries {
        let opts = SetOptions { tag: *tag, ..SetOptions::default() };
        assert_eq!(cache.set_with(key, value, opts).unwrap(), Stored::Disk);
    }
}

/// What a fresh handle on `dir` (real file system, no hot tier) reads for
/// `key`: what is on disk now.
fn on_disk(dir: &Path, key: &[u8]) -> Option<Vec<u8>> {
    let mut c = Config::new(dir);
    c.memory_limit = 0;
    c.sweep_interval = None;
    c.health_interval = None;
    let cache = Cache::open(c).unwrap();
    let value = cache.get(key).unwrap().map(|v| v.to_vec());
    assert_eq!(cache.mode(), Mode::Normal);
    value
}

/// The events a cache emitted, in order, with a way to wait for one that
/// another thread (the recovery thread) may be about to emit.
#[derive(Clone, Default)]
struct Recorder(Arc<(Mutex<Vec<Event>>, Condvar)>);

impl Recorder {
    fn attach(cache: &Cache) -> Self {
        let recorder = Recorder::default();
        let sink = recorder.clone();
        cache.subscribe(move |e| {
            let (events, cv) = &*sink.0;
            events.lock().unwrap().push(e.clone());
            cv.notify_all();
        });
        recorder
    }

    /// Every event delivered so far (call `flush_events` first).
    fn all(&self) -> Vec<Event> {
        self.0.0.lock().unwrap().clone()
    }

    /// The first event matching `want`, waiting for it if need be.
    fn wait_for(&self, what: &str, want: impl Fn(&Event) -> bool) -> Event {
        let (events, cv) = &*self.0;
        let guard = events.lock().unwrap();
        let (guard, timeout) = cv.wait_timeout_while(guard, EVENT_WAIT, |events| !events.iter().any(&want)).unwrap();
        assert!(!timeout.timed_out(), "no {what} event; got {:?}", *guard);
        guard.iter().find(|e| want(e)).cloned().unwrap()
    }
}

/// One cache under test with its clock, its counting file system and its events.
struct Harness {
    dir: tempfile::TempDir,
    clock: ManualClock,
    fs: Arc<FaultyFs>,
    cache: Cache,
    events: Recorder,
}

impl Harness {
    fn new(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::open(scratch_dir(), Arc::new(FaultyFs::new(Arc::new(StdFs))), tweak)
    }

    /// A cache on `entries` already on disk (its hot tier cold).
    fn seeded(entries: &[(&[u8], &[u8], Option<&str>)], tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = scratch_dir();
        seed_disk(dir.path(), entries);
        Self::open(dir, Arc::new(FaultyFs::new(Arc::new(StdFs))), tweak)
    }

    fn open(dir: tempfile::TempDir, fs: Arc<FaultyFs>, tweak: impl FnOnce(&mut Config)) -> Self {
        let clock = ManualClock::new(START_MS);
        let mut c = config(dir.path(), &clock, fs.clone());
        tweak(&mut c);
        let cache = Cache::open(c).unwrap();
        cache.wait_ready();
        let events = Recorder::attach(&cache);
        Harness { dir, clock, fs, cache, events }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.cache.get(key).unwrap().map(|v| v.to_vec())
    }

    /// Disk calls that reached the file system, plus those the chaos API
    /// failed before they could: every attempt to touch the disk.
    fn disk_calls(&self) -> u64 {
        FsOp::ALL.iter().map(|op| self.fs.calls(*op)).sum::<u64>() + self.cache.faults().injected()
    }

    /// Opens the write breaker the way a full disk does: ENOSPC on every write
    /// (left armed), and `failure_threshold` (5) sets that fail, each kept in
    /// memory. The keys are `trip-0` … `trip-4`.
    fn fill_disk(&self) {
        self.cache.faults().inject(ChaosOp::Write, ChaosError::Enospc, Trigger::Always).unwrap();
        for i in 0..5 {
            assert_eq!(self.cache.mode(), Mode::Normal, "tripped before the 5th failure");
            let key = format!("trip-{i}");
            assert_eq!(self.cache.set(key.as_bytes(), b"kept in memory").unwrap(), Stored::Memory);
        }
        assert_eq!(self.cache.mode(), Mode::ReadOnly);
    }

    /// Opens the read breaker the way a failing device does: EIO on every read
    /// (left armed), and five gets of keys memory does not hold.
    fn break_reads(&self) {
        self.cache.faults().inject(ChaosOp::Read, ChaosError::Eio, Trigger::Always).unwrap();
        for i in 0..5 {
            assert_eq!(self.cache.mode(), Mode::Normal, "tripped before the 5th failure");
            assert_eq!(self.get(format!("absent-{i}").as_bytes()), None);
        }
        assert_eq!(self.cache.mode(), Mode::MemoryOnly);
    }

    /// Clears every fault, moves the clock past the current open time and runs
    /// recovery rounds until the cache is normal with nothing queued; waits for
    /// the `Recovered` event and returns it.
    fn recover(&self) -> Event {
        self.cache.faults().clear();
        self.clock.advance(MAX_OPEN);
        assert!(settle(&self.cache), "did not recover: {:?}", self.cache.metrics().resilience);
        self.events.wait_for("recovered", |e| matches!(e, Event::Recovered { .. }))
    }
}

/// Runs recovery rounds (each makes at least one probe when a half-open
/// breaker admits it) until the cache is normal with nothing queued or lost.
fn settle(cache: &Cache) -> bool {
    for _ in 0..20 {
        cache.run_recovery();
        let m = cache.metrics();
        if m.resilience.mode == Mode::Normal && m.replay.depth == 0 && m.replay.lost == 0 {
            return true;
        }
    }
    false
}

fn mode_changes(events: &[Event]) -> Vec<(Mode, Mode, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ModeChanged { from, to, incident, .. } => Some((*from, *to, *incident)),
            _ => None,
        })
        .collect()
}

fn breaker_changes(events: &[Event], which: BreakerName) -> Vec<(&'static str, &'static str, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::BreakerStateChanged { breaker, from, to, incident } if *breaker == which => {
                Some((*from, *to, *incident))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_single_write_failure_falls_back_to_memory_and_stays_readable() {
    let h = Harness::new(|_| {});
    h.cache.faults().inject(ChaosOp::Write, ChaosError::Enospc, Trigger::Once).unwrap();
    assert_eq!(h.cache.set(b"k", b"v1").unwrap(), Stored::Memory, "the caller can tell it is not on disk");
    assert_eq!(h.cache.faults().injected(), 1);
    assert_eq!(h.get(b"k").as_deref(), Some(&b"v1"[..]));
    assert_eq!(h.cache.mode(), Mode::Normal, "one failure is below the threshold");
    let m = h.cache.metrics();
    assert_eq!(m.resilience.fallback_writes, 1);
    assert_eq!(m.resilience.write_breaker.failures_in_window, 1);
    assert_eq!(m.resilience.last_error.as_ref().map(|e| e.kind), Some(sturdycache::DiskErrorKind::NoSpace));
    assert_eq!(m.replay.queued, 1);
    // The recovery thread may already have replayed it; either way it is one write.
    assert_eq!(m.replay.depth + m.replay.drained, 1);

    h.cache.run_recovery();
    let m = h.cache.metrics();
    assert_eq!((m.replay.depth, m.replay.drained), (0, 1), "the queue drains once the disk takes writes");
    assert_eq!(on_disk(&h.path(), b"k").as_deref(), Some(&b"v1"[..]));
    assert_eq!(h.get(b"k").as_deref(), Some(&b"v1"[..]));
    assert_eq!(h.cache.set(b"k", b"v2").unwrap(), Stored::Disk);
    h.cache.flush_events();
    assert!(mode_changes(&h.events.all()).is_empty(), "no mode change for one failure");
}

#[test]
fn pop_add_and_touch_after_a_failed_write_see_the_queued_value_not_the_disk_copy() {
    let h = Harness::seeded(&[(b"k", b"old", None), (b"d", b"old d", None)], |_| {});
    h.cache.faults().inject(ChaosOp::Write, ChaosError::Enospc, Trigger::Once).unwrap();
    assert_eq!(h.cache.set(b"k", b"new").unwrap(), Stored::Memory);
    h.cache.faults().inject(ChaosOp::Delete, ChaosError::Eio, Trigger::Once).unwrap();
    h.cache.delete(b"d").unwrap();
    assert_eq!(h.get(b"d"), None);
    assert_eq!(h.cache.mode(), Mode::Normal, "two failures are below the threshold");
    // Whether or not the recovery thread has replayed them yet, the newer word wins.
    assert!(!h.cache.add(b"k", b"added", SetOptions::default()).unwrap(), "k holds a value");
    assert!(!h.cache.touch(b"d", sturdycache::Ttl::Never).unwrap(), "d was deleted");
    assert_eq!(h.cache.pop(b"k").unwrap().as_deref(), Some(&b"new"[..]), "never the overwritten disk copy");
    assert_eq!(h.get(b"k"), None);
    assert!(h.cache.add(b"d", b"added d", SetOptions::default()).unwrap(), "d was deleted: add stores");
    assert!(settle(&h.cache));
    assert_eq!(on_disk(&h.path(), b"k"), None);
    assert_eq!(on_disk(&h.path(), b"d").as_deref(), Some(&b"added d"[..]));
}

#[test]
fn five_write_failures_open_the_write_breaker_into_read_only() {
    let h = Harness::seeded(&[(b"old", b"written before the outage", None)], |_| {});
    h.fill_disk();
    h.cache.flush_events();
    let events = h.events.all();
    let breaker = breaker_changes(&events, BreakerName::Write);
    let modes = mode_changes(&events);
    assert_eq!(breaker.len(), 1, "{events:?}");
    assert_eq!((breaker[0].0, breaker[0].1), ("closed", "open"));
    assert_eq!(modes.len(), 1, "{events:?}");
    assert_eq!((modes[0].0, modes[0].1), (Mode::Normal, Mode::ReadOnly));
    let incident = breaker[0].2;
    assert_ne!(incident, 0);
    assert_eq!(modes[0].2, incident, "one incident id for the whole transition");
    assert!(events.iter().all(|e| e.incident() == incident), "{events:?}");
    let m = h.cache.metrics();
    assert_eq!(m.resilience.write_breaker.state, BreakerState::Open);
    assert_eq!(m.resilience.write_breaker.trips, 1);
    assert_eq!(m.resilience.read_breaker.state, BreakerState::Closed);
    assert_eq!(m.resilience.incident, incident);
    assert_eq!(m.resilience.fallback_writes, 5);

    // Reads are still served from disk: this handle never held "old" in memory.
    let disk_hits = m.disk_hits;
    assert_eq!(h.get(b"old").as_deref(), Some(&b"written before the outage"[..]));
    assert_eq!(h.cache.metrics().disk_hits, disk_hits + 1);

    // Writes go to memory and the queue without trying the disk.
    let fired = h.cache.faults().injected();
    let writes = h.fs.calls(FsOp::Write) + h.fs.calls(FsOp::Rename);
    assert_eq!(h.cache.set(b"new", b"during the outage").unwrap(), Stored::Memory);
    assert_eq!(h.cache.faults().injected(), fired, "an open breaker does not call the disk");
    assert_eq!(h.fs.calls(FsOp::Write) + h.fs.calls(FsOp::Rename), writes);
    assert_eq!(h.get(b"new").as_deref(), Some(&b"during the outage"[..]));
    let m = h.cache.metrics();
    assert_eq!(m.replay.depth, 6);
    assert_eq!(m.resilience.fallback_writes, 6);
    assert_eq!(m.hot_limit, 2 * MEMORY, "the hot budget doubles while degraded");
}

#[test]
fn read_only_on_enospc_keeps_serving_disk_reads() {
    let entries: Vec<(Vec<u8>, Vec<u8>)> =
        (0..10).map(|i| (format!("cold-{i}").into_bytes(), format!("value {i}").into_bytes())).collect();
    let refs: Vec<(&[u8], &[u8], Option<&str>)> = entries.iter().map(|(k, v)| (&k[..], &v[..], None)).collect();
    // No hot tier: every read below must come from the disk.
    let h = Harness::seeded(&refs, |c| c.memory_limit = 0);
    h.fill_disk();
    let before = h.cache.metrics();
    for _ in 0..2 {
        for (k, v) in &entries {
            assert_eq!(h.get(k).as_ref(), Some(v));
            assert_eq!(h.cache.set(b"written", k).unwrap(), Stored::Memory);
        }
    }
    let after = h.cache.metrics();
    assert_eq!(after.disk_hits - before.disk_hits, 20, "read-only mode reads the disk");
    assert_eq!(after.resilience.fallback_reads, before.resilience.fallback_reads);
    assert_eq!(after.resilience.fallback_writes - before.resilience.fallback_writes, 20);
    assert_eq!(h.cache.mode(), Mode::ReadOnly);
    assert_eq!(after.resilience.read_breaker.state, BreakerState::Closed);
    assert_eq!(after.resilience.read_breaker.consecutive_failures, 0);
    // The last write wins even with no hot tier: the queue answers.
    assert_eq!(h.get(b"written").as_deref(), Some(&b"cold-9"[..]));
}

#[test]
fn read_failures_switch_to_memory_only_with_no_disk_calls_at_all() {
    let h = Harness::seeded(&[(b"cold", b"on disk only", None)], |_| {});
    assert_eq!(h.cache.set(b"hot", b"in memory").unwrap(), Stored::Disk);
    h.break_reads();
    h.cache.flush_events();
    let events = h.events.all();
    let read = breaker_changes(&events, BreakerName::Read);
    assert_eq!(read.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(), vec![("closed", "open")]);
    let modes = mode_changes(&events);
    assert_eq!(modes, vec![(Mode::Normal, Mode::MemoryOnly, read[0].2)]);
    assert_eq!(h.cache.metrics().hot_limit, 2 * MEMORY);

    let calls = h.disk_calls();
    assert_eq!(h.get(b"missing"), None);
    assert_eq!(h.get(b"cold"), None, "a key memory does not hold is a miss");
    assert_eq!(h.get(b"hot").as_deref(), Some(&b"in memory"[..]), "hot keys are still served");
    assert!(!h.cache.contains(b"cold").unwrap());
    assert_eq!(h.cache.set(b"fresh", b"memory only").unwrap(), Stored::Memory);
    assert_eq!(h.get(b"fresh").as_deref(), Some(&b"memory only"[..]));
    assert!(h.cache.delete(b"hot").unwrap(), "the answer counts what memory held");
    assert_eq!(h.get(b"hot"), None);
    assert!(h.cache.add(b"added", b"a", SetOptions::default()).unwrap());
    // A recovery round before the open time has passed makes no probe either.
    let report = h.cache.run_recovery();
    assert_eq!((report.probes, report.drained), (0, 0));
    assert_eq!(h.disk_calls(), calls, "memory-only makes no disk call at all");
    let m = h.cache.metrics();
    assert_eq!(m.resilience.read_breaker.state, BreakerState::Open);
    assert!(m.resilience.fallback_reads >= 2);
    assert_eq!(m.replay.depth, 3, "fresh, added and the delete of hot are queued");

    h.recover();
    assert_eq!(h.get(b"cold").as_deref(), Some(&b"on disk only"[..]), "the disk is read again");
    assert_eq!(on_disk(&h.path(), b"hot"), None, "the delete made during the outage reached the disk");
    assert_eq!(on_disk(&h.path(), b"fresh").as_deref(), Some(&b"memory only"[..]));
    assert_eq!(h.cache.metrics().hot_limit, MEMORY, "the hot budget shrinks back");
}

#[test]
fn recovery_after_the_open_timeout_drains_the_last_write_per_key() {
    let h = Harness::seeded(&[(b"k", b"k0", None), (b"j", b"j0", None)], |_| {});
    h.fill_disk();
    assert_eq!(h.cache.metrics().hot_limit, 2 * MEMORY);
    assert_eq!(h.cache.set(b"k", b"k1").unwrap(), Stored::Memory);
    assert_eq!(h.cache.set(b"k", b"k2").unwrap(), Stored::Memory);
    h.cache.delete(b"j").unwrap();
    assert_eq!(h.get(b"j"), None, "deleted during the outage: never the disk copy");
    assert_eq!(h.cache.set(b"j", b"j3").unwrap(), Stored::Memory);
    assert_eq!(h.cache.metrics().replay.depth, 7, "5 trip keys, k and j: one write per key");
    assert_eq!(on_disk(&h.path(), b"k").as_deref(), Some(&b"k0"[..]), "nothing reached the disk yet");

    // The disk is fine again, but the breaker waits out its open time.
    h.cache.faults().clear();
    h.clock.advance(OPEN - Duration::from_millis(1));
    let report = h.cache.run_recovery();
    assert_eq!((report.probes, report.drained), (0, 0), "no probe before the open time");
    assert_eq!(h.cache.mode(), Mode::ReadOnly);
    let m = h.cache.metrics();
    assert_eq!(m.resilience.write_breaker.next_attempt_in, Some(Duration::from_millis(1)));
    h.clock.advance(Duration::from_millis(1));
    assert!(settle(&h.cache), "{:?}", h.cache.metrics().resilience);
    let recovered = h.events.wait_for("recovered", |e| matches!(e, Event::Recovered { .. }));

    let m = h.cache.metrics();
    assert_eq!(m.resilience.mode, Mode::Normal);
    assert_eq!(m.resilience.write_breaker.state, BreakerState::Closed);
    assert_eq!(m.resilience.write_breaker.current_open_timeout, OPEN, "a good recovery restores the open time");
    assert_eq!(m.resilience.recoveries, 1);
    assert_eq!(m.resilience.incident, 0, "no incident in progress");
    assert_eq!((m.replay.depth, m.replay.drained), (0, 7));
    assert_eq!(m.hot_limit, MEMORY, "the hot budget shrank back");
    assert_eq!(on_disk(&h.path(), b"k").as_deref(), Some(&b"k2"[..]), "the last write per key wins");
    assert_eq!(on_disk(&h.path(), b"j").as_deref(), Some(&b"j3"[..]));
    assert_eq!(on_disk(&h.path(), b"trip-4").as_deref(), Some(&b"kept in memory"[..]));
    assert_eq!(h.get(b"k").as_deref(), Some(&b"k2"[..]));

    h.cache.flush_events();
    let events = h.events.all();
    let incident = events[0].incident();
    let write = breaker_changes(&events, BreakerName::Write);
    assert_eq!(
        write.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        vec![("closed", "open"), ("open", "half_open"), ("half_open", "closed")],
        "a good probe half-opens it; success_threshold successes close it"
    );
    assert!(write.iter().all(|c| c.2 == incident));
    assert_eq!(
        mode_changes(&events),
        vec![(Mode::Normal, Mode::ReadOnly, incident), (Mode::ReadOnly, Mode::Normal, incident)]
    );
    match recovered {
        Event::Recovered { mode, drained, incident: id, outage } => {
            assert_eq!((mode, drained, id), (Mode::Normal, 7, incident));
            assert_eq!(outage, OPEN, "the outage lasted one open time on the manual clock");
        }
        other => panic!("{other:?}"),
    }
    let recovered_at = events.iter().position(|e| matches!(e, Event::Recovered { .. })).unwrap();
    let normal_at = events.iter().position(|e| matches!(e, Event::ModeChanged { to: Mode::Normal, .. })).unwrap();
    assert!(normal_at < recovered_at, "Recovered comes after the mode change, once the queue is drained");
}

#[test]
fn failed_recoveries_back_off_doubling_up_to_the_cap() {
    let h = Harness::new(|_| {});
    h.cache.faults().inject(ChaosOp::Write, ChaosError::Eio, Trigger::Always).unwrap();
    for i in 0..5 {
        assert_eq!(h.cache.set(format!("k{i}").as_bytes(), b"v").unwrap(), Stored::Memory);
    }
    let snapshot = || h.cache.metrics().resilience.write_breaker;
    let b = snapshot();
    assert_eq!(b.state, BreakerState::Open);
    assert_eq!((b.current_open_timeout, b.next_attempt_in, b.trips), (OPEN, Some(OPEN), 1));

    let mut open = OPEN;
    for (round, expected) in [20u64, 40, 40, 40].into_iter().enumerate() {
        // Just before the open time: nothing happens.
        h.clock.advance(open - Duration::from_millis(1));
        assert_eq!(h.cache.run_recovery().probes, 0);
        assert_eq!(snapshot().state, BreakerState::Open);
        h.clock.advance(Duration::from_millis(1));
        // The probe (by this round or the recovery thread's) fails: open again, for twice as long.
        h.cache.run_recovery();
        let b = snapshot();
        let expected = Duration::from_secs(expected);
        assert_eq!(b.state, BreakerState::Open, "round {round}");
        assert_eq!(b.current_open_timeout, expected, "round {round}");
        assert_eq!(b.next_attempt_in, Some(expected), "round {round}");
        assert_eq!(b.trips, round as u64 + 2, "round {round}");
        assert_eq!(h.cache.mode(), Mode::ReadOnly);
        open = expected;
    }
    assert!(h.cache.prometheus().contains("sturdycache_breaker_next_attempt_seconds{breaker=\"write\"} 40\n"));
    // Once the disk is back, the next probe closes it and the open time starts over.
    h.recover();
    let b = snapshot();
    assert_eq!((b.state, b.current_open_timeout, b.next_attempt_in), (BreakerState::Closed, OPEN, None));
    assert_eq!(on_disk(&h.path(), b"k4").as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_delete_during_the_outage_stays_deleted_after_the_drain() {
    for memory in [MEMORY, 0] {
        let h = Harness::seeded(&[(b"gone", b"old disk copy", None), (b"kept", b"kept", None)], |c| {
            c.memory_limit = memory
        });
        // Hot variant: the doomed value is also in memory.
        if memory > 0 {
            assert_eq!(h.get(b"gone").as_deref(), Some(&b"old disk copy"[..]));
        }
        h.fill_disk();
        let removed = h.cache.delete(b"gone").unwrap();
        assert_eq!(removed, memory > 0, "while degraded, delete counts what memory held");
        assert!(h.cache.pop(b"kept").unwrap().is_some(), "pop reads the disk in read-only mode");
        for key in [&b"gone"[..], b"kept"] {
            assert_eq!(h.get(key), None, "memory {memory}: the old disk copy must not show through");
            assert!(!h.cache.contains(key).unwrap());
        }
        assert_eq!(on_disk(&h.path(), b"gone").as_deref(), Some(&b"old disk copy"[..]), "not deleted yet");

        h.recover();
        for key in [&b"gone"[..], b"kept"] {
            assert_eq!(h.get(key), None, "memory {memory}: the delete outlived the drain");
            assert_eq!(on_disk(&h.path(), key), None, "memory {memory}: removed from disk");
        }
    }
}

#[test]
fn replay_overflow_drops_the_oldest_writes_as_misses_never_old_values() {
    let keys: Vec<Vec<u8>> = (0..5).map(|i| format!("q{i}").into_bytes()).collect();
    let old: Vec<Vec<u8>> = (0..5).map(|i| format!("old {i}").into_bytes()).collect();
    let new: Vec<Vec<u8>> = (0..5).map(|i| format!("new {i}").into_bytes()).collect();
    let entries: Vec<(&[u8], &[u8], Option<&str>)> =
        keys.iter().zip(&old).map(|(k, v)| (&k[..], &v[..], None)).collect();
    // No hot tier, so only the queue can answer for a write made during the outage.
    let h = Harness::seeded(&entries, |c| {
        c.memory_limit = 0;
        c.max_replay_entries = 3;
    });
    h.cache.faults().inject(ChaosOp::Write, ChaosError::Enospc, Trigger::Always).unwrap();
    // Five failing sets: they trip the breaker and overflow the queue of three.
    for (k, v) in keys.iter().zip(&new) {
        assert_eq!(h.cache.set(k, v).unwrap(), Stored::Memory);
    }
    assert_eq!(h.cache.mode(), Mode::ReadOnly);
    let m = h.cache.metrics();
    assert_eq!((m.replay.queued, m.replay.dropped, m.replay.depth, m.replay.lost), (5, 2, 3, 2));
    h.cache.flush_events();
    let drops: Vec<(u64, u64)> = h
        .events
        .all()
        .iter()
        .filter_map(|e| match e {
            Event::ReplayDropped { dropped, queued, .. } => Some((*dropped, *queued)),
            _ => None,
        })
        .collect();
    assert_eq!(drops, vec![(1, 3), (1, 3)]);
    for key in &keys[..2] {
        assert_eq!(h.get(key), None, "a dropped write is a lost entry, never the old disk value");
    }
    for i in 2..5 {
        assert_eq!(h.get(&keys[i]).as_ref(), Some(&new[i]));
    }
    assert_eq!(on_disk(&h.path(), &keys[0]).as_ref(), Some(&old[0]), "the stale copy is still on disk");

    h.recover();
    let m = h.cache.metrics();
    assert_eq!((m.replay.depth, m.replay.lost, m.replay.drained), (0, 0, 3));
    for key in &keys[..2] {
        assert_eq!(h.get(key), None, "still a miss after recovery");
        assert_eq!(on_disk(&h.path(), key), None, "the stale copy was deleted");
    }
    for i in 2..5 {
        assert_eq!(on_disk(&h.path(), &keys[i]).as_ref(), Some(&new[i]));
    }
}

/// One scripted outage: random sets, deletes and clears over a few keys while
/// faults come and go and recovery runs; after every step each key reads as
/// the last write says, or as a miss only when its write may have been dropped.
fn run_script(seed: u64, steps: usize) {
    let fs = Arc::new(FaultyFs::with_seed(Arc::new(StdFs), seed));
    let h = Harness::open(scratch_dir(), fs, |c| {
        c.max_replay_entries = 4;
        c.breaker.failure_threshold = 3;
        c.breaker.success_threshold = 2;
    });
    let mut rng = fastrand::Rng::with_seed(seed);
    let keys: Vec<Vec<u8>> = (0..6).map(|i| format!("key-{i}").into_bytes()).collect();
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut may_miss: HashSet<Vec<u8>> = HashSet::new();
    let mut dropped_seen = 0;
    let mut faulty = false;
    let mut trace: Vec<String> = Vec::new();
    let show = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
    for step in 0..steps {
        let key = keys[rng.usize(..keys.len())].clone();
        let what = match rng.u32(..100) {
            0..45 => {
                let value = format!("{}@{step}", show(&key)).into_bytes();
                h.cache.set(&key, &value).unwrap();
                model.insert(key.clone(), value);
                may_miss.remove(&key);
                format!("set {}", show(&key))
            }
            45..60 => {
                h.cache.delete(&key).unwrap();
                model.remove(&key);
                may_miss.remove(&key);
                format!("delete {}", show(&key))
            }
            60..76 if faulty => {
                h.cache.faults().clear();
                h.fs.clear();
                faulty = false;
                "faults cleared".to_string()
            }
            60..76 => {
                faulty = true;
                let f = h.cache.faults();
                match rng.u32(..5) {
                    0 => f.inject(ChaosOp::Write, ChaosError::Enospc, Trigger::Always).map(|_| "ENOSPC on writes"),
                    1 => f.inject(ChaosOp::Read, ChaosError::Eio, Trigger::Always).map(|_| "EIO on reads"),
                    2 => f.inject(ChaosOp::All, ChaosError::Eio, Trigger::Always).map(|_| "EIO on everything"),
                    3 => f.inject(ChaosOp::Rename, ChaosError::Erofs, Trigger::Always).map(|_| "EROFS on renames"),
                    _ => {
                        h.fs.inject(FaultRule::all_ops(Fault::Errno(EIO), Trigger::Probability(0.3)));
                        Ok("EIO on 30% of calls")
                    }
                }
                .unwrap()
                .to_string()
            }
            76..94 => {
                h.clock.advance(MAX_OPEN);
                let r = h.cache.run_recovery();
                format!("recovery round {r:?}")
            }
            _ => {
                h.cache.clear().unwrap();
                model.clear();
                may_miss.clear();
                "clear".to_string()
            }
        };
        let m = h.cache.metrics();
        trace.push(format!("{step}: {what} -> mode {}, replay {:?}", m.resilience.mode, m.replay));
        if m.replay.dropped > dropped_seen {
            // Some queued writes were dropped: any key with a write may be lost.
            dropped_seen = m.replay.dropped;
            may_miss.extend(keys.iter().cloned());
        }
        for k in &keys {
            let got = h.cache.get(k).unwrap_or_else(|e| panic!("seed {seed}: get failed: {e}\n{}", trace.join("\n")));
            let got = got.map(|v| v.to_vec());
            match (&got, model.get(k)) {
                (Some(v), want) if want != Some(v) => panic!(
                    "seed {seed}: {} read {:?}, last written {:?}\n{}",
                    show(k),
                    show(v),
                    want.map(|w| show(w)),
                    trace.join("\n")
                ),
                (None, Some(want)) if !may_miss.contains(k) => {
                    panic!(
                        "seed {seed}: {} missed, last written {}; on disk {:?}\n{}",
                        show(k),
                        show(want),
                        on_disk(&h.path(), k).map(|v| show(&v)),
                        trace.join("\n")
                    )
                }
                _ => {}
            }
        }
    }
    // The disk heals: the queue drains and the disk agrees with the last writes.
    h.fs.clear();
    h.recover();
    for k in &keys {
        let disk = on_disk(&h.path(), k);
        let got = h.get(k);
        match model.get(k) {
            Some(want) if !may_miss.contains(k) => {
                assert_eq!(disk.as_ref(), Some(want), "seed {seed}: {} on disk\n{}", show(k), trace.join("\n"));
                assert_eq!(got.as_ref(), Some(want), "seed {seed}: {}", show(k));
            }
            Some(want) => {
                assert!(disk.is_none() || disk.as_ref() == Some(want), "seed {seed}: {} on disk", show(k));
                assert!(got.is_none() || got.as_ref() == Some(want), "seed {seed}: {}", show(k));
            }
            None => {
                assert_eq!(disk, None, "seed {seed}: deleted {} is on disk\n{}", show(k), trace.join("\n"));
                assert_eq!(got, None, "seed {seed}: deleted {} reads back", show(k));
            }
        }
    }
}

#[test]
fn scripted_outages_never_return_an_overwritten_or_deleted_value() {
    for seed in 1..=6 {
        run_script(seed, 300);
    }
}

#[test]
fn isolated_corrupt_files_never_trip_the_read_breaker() {
    let entries: Vec<(Vec<u8>, Vec<u8>)> =
        (0..60).map(|i| (format!("file-{i}").into_bytes(), format!("value of file {i}").into_bytes())).collect();
    let refs: Vec<(&[u8], &[u8], Option<&str>)> = entries.iter().map(|(k, v)| (&k[..], &v[..], None)).collect();
    let dir = scratch_dir();
    seed_disk(dir.path(), &refs);
    // One file in 20 is damaged on disk: a flipped bit in its value.
    let corrupt: Vec<usize> = vec![10, 30, 50];
    for &i in &corrupt {
        let hash = format::key_hash(&entries[i].0);
        let path = dir.path().join("data").join(format!("{:02x}", (hash >> 120) as u8)).join(format!("{hash:032x}"));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - format::CHECKSUM_LEN - 1;
        bytes[at] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let h = Harness::open(dir, Arc::new(FaultyFs::new(Arc::new(StdFs))), |c| c.memory_limit = 0);
    for _ in 0..2 {
        for (i, (k, v)) in entries.iter().enumerate() {
            let got = h.get(k);
            if corrupt.contains(&i) {
                assert_eq!(got, None, "a corrupt file is a miss");
            } else {
                assert_eq!(got.as_ref(), Some(v));
            }
        }
    }
    let m = h.cache.metrics();
    assert_eq!((m.corruptions, m.quarantined), (3, 3));
    assert_eq!(m.resilience.mode, Mode::Normal);
    assert_eq!((m.resilience.read_breaker.state, m.resilience.read_breaker.trips), (BreakerState::Closed, 0));
    h.cache.flush_events();
    let quarantined = h.events.all().iter().filter(|e| matches!(e, Event::Quarantined { .. })).count();
    assert_eq!(quarantined, 3);
    assert!(mode_changes(&h.events.all()).is_empty());
}

#[test]
fn a_burst_of_corrupt_reads_trips_the_read_breaker_into_memory_only() {
    let entries: Vec<(Vec<u8>, Vec<u8>)> =
        (0..8).map(|i| (format!("file-{i}").into_bytes(), format!("value of file {i}").into_bytes())).collect();
    let refs: Vec<(&[u8], &[u8], Option<&str>)> = entries.iter().map(|(k, v)| (&k[..], &v[..], None)).collect();
    let h = Harness::seeded(&refs, |_| {});
    assert_eq!(h.cache.set(b"hot", b"in memory").unwrap(), Stored::Disk);
    h.cache.faults().inject(ChaosOp::Read, ChaosError::Corruption, Trigger::Always).unwrap();
    for (k, _) in &entries[..5] {
        assert_eq!(h.cache.mode(), Mode::Normal);
        assert_eq!(h.get(k), None, "a corrupt read is a miss, never a damaged value");
    }
    assert_eq!(h.cache.mode(), Mode::MemoryOnly, "five corrupt reads in a row trip the read path");
    let m = h.cache.metrics();
    assert_eq!(m.corruptions, 5);
    assert_eq!(m.resilience.read_breaker.state, BreakerState::Open);
    let fired = h.cache.faults().injected();
    for (k, _) in &entries[5..] {
        assert_eq!(h.get(k), None, "memory-only: not in memory, a miss");
    }
    assert_eq!(h.get(b"hot").as_deref(), Some(&b"in memory"[..]));
    assert_eq!(h.cache.faults().injected(), fired, "no disk read in memory-only mode");

    h.recover();
    for (k, v) in &entries[5..] {
        assert_eq!(h.get(k).as_ref(), Some(v), "untouched files read again after recovery");
    }
}

#[test]
fn clear_and_evict_tag_in_memory_only_hide_disk_entries_until_recovery_removes_them() {
    let h = Harness::new(|_| {});
    for (k, tag) in [(&b"a"[..], Some("t")), (b"b", Some("t")), (b"c", Some("u")), (b"d", None)] {
        let opts = SetOptions { tag, ..SetOptions::default() };
        assert_eq!(h.cache.set_with(k, k, opts).unwrap(), Stored::Disk);
    }
    h.break_reads();
    assert_eq!(h.cache.evict_tag("t").unwrap(), 2, "counts what memory held");
    assert_eq!(h.get(b"a"), None);
    assert_eq!(h.get(b"b"), None);
    assert_eq!(h.get(b"c").as_deref(), Some(&b"c"[..]));
    assert_eq!(h.cache.clear().unwrap(), 2, "c and d were in memory");
    assert_eq!(h.cache.metrics().hot_entries, 0, "memory is emptied now");
    for k in [&b"a"[..], b"b", b"c", b"d"] {
        assert_eq!(h.get(k), None);
        assert_eq!(on_disk(&h.path(), k).as_deref(), Some(k), "the disk is cleared only after recovery");
    }
    assert_eq!(h.cache.set(b"e", b"after the clear").unwrap(), Stored::Memory);
    assert_eq!(h.cache.set_with(b"f", b"tagged t", SetOptions::default().with_tag("t")).unwrap(), Stored::Memory);

    h.recover();
    for k in [&b"a"[..], b"b", b"c", b"d"] {
        assert_eq!(h.get(k), None);
        assert_eq!(on_disk(&h.path(), k), None, "removed from disk by the drain");
    }
    assert_eq!(on_disk(&h.path(), b"e").as_deref(), Some(&b"after the clear"[..]), "later writes survive");
    assert_eq!(on_disk(&h.path(), b"f").as_deref(), Some(&b"tagged t"[..]), "a later write with the tag survives");
}

#[test]
fn operator_overrides_force_read_only_and_reset_drains_the_queue() {
    let h = Harness::new(|_| {});
    assert_eq!(h.cache.set(b"before", b"on disk").unwrap(), Stored::Disk);
    h.cache.override_breaker(DiskPath::Write, BreakerState::ForcedOpen);
    assert_eq!(h.cache.mode(), Mode::ReadOnly);
    assert_eq!(h.cache.metrics().resilience.write_breaker.state, BreakerState::ForcedOpen);
    let writes = || [FsOp::Write, FsOp::Rename, FsOp::Link, FsOp::Remove].iter().map(|op| h.fs.calls(*op)).sum::<u64>();
    let before = writes();
    assert_eq!(h.cache.set(b"k", b"queued").unwrap(), Stored::Memory);
    assert!(h.cache.delete(b"before").unwrap());
    assert_eq!(h.get(b"before"), None);
    // However long it stays forced open, no probe and no drain touches the disk.
    h.clock.advance(MAX_OPEN * 10);
    let report = h.cache.run_recovery();
    assert_eq!((report.probes, report.drained), (0, 0));
    assert_eq!(h.cache.mode(), Mode::ReadOnly);
    assert_eq!(writes(), before, "no write reached the disk");
    assert_eq!(on_disk(&h.path(), b"before").as_deref(), Some(&b"on disk"[..]));

    h.cache.override_breaker(DiskPath::Write, BreakerState::Closed);
    assert_eq!(h.cache.mode(), Mode::Normal);
    assert!(settle(&h.cache));
    let recovered = h.events.wait_for("recovered", |e| matches!(e, Event::Recovered { .. }));
    assert!(matches!(recovered, Event::Recovered { drained: 2, mode: Mode::Normal, .. }), "{recovered:?}");
    assert_eq!(on_disk(&h.path(), b"k").as_deref(), Some(&b"queued"[..]));
    assert_eq!(on_disk(&h.path(), b"before"), None);
    h.cache.flush_events();
    let events = h.events.all();
    assert_eq!(
        breaker_changes(&events, BreakerName::Write).iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        vec![("closed", "forced_open"), ("forced_open", "closed")]
    );
    let modes: Vec<(Mode, Mode)> = mode_changes(&events).iter().map(|c| (c.0, c.1)).collect();
    assert_eq!(modes, vec![(Mode::Normal, Mode::ReadOnly), (Mode::ReadOnly, Mode::Normal)]);
}

#[test]
fn the_health_probe_catches_a_failing_disk_and_sees_it_heal() {
    let h = Harness::new(|c| c.health_interval = Some(Duration::from_secs(60)));
    let calls = h.disk_calls();
    let report = h.cache.run_recovery();
    assert!(!report.health_checked, "not due before the interval has passed");
    assert_eq!(h.disk_calls(), calls);
    assert_eq!(h.cache.disk_health(), DiskHealth::Healthy);

    h.cache.faults().inject(ChaosOp::Write, ChaosError::Eio, Trigger::Always).unwrap();
    h.clock.advance(Duration::from_secs(61));
    h.cache.run_recovery();
    let event = h.events.wait_for("unhealthy", |e| {
        matches!(e, Event::DiskHealthChanged { from: DiskHealth::Healthy, to: DiskHealth::Unhealthy, .. })
    });
    assert_ne!(event.incident(), 0);
    assert_eq!(h.cache.disk_health(), DiskHealth::Unhealthy, "caught before any user call failed");
    assert_eq!(h.cache.mode(), Mode::Normal, "one failed probe does not open the breaker");
    assert_eq!(h.cache.metrics().resilience.write_breaker.trips, 0);
    assert!(h.cache.prometheus().contains("sturdycache_disk_health{health=\"unhealthy\"} 1\n"));

    h.cache.faults().clear();
    h.clock.advance(Duration::from_secs(61));
    h.cache.run_recovery();
    h.events.wait_for("healthy", |e| {
        matches!(e, Event::DiskHealthChanged { from: DiskHealth::Unhealthy, to: DiskHealth::Healthy, .. })
    });
    assert_eq!(h.cache.disk_health(), DiskHealth::Healthy);
    let probe_dir = h.path().join("probe");
    let left = std::fs::read_dir(&probe_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the probe cleans up after itself");
}

#[test]
fn prometheus_and_latencies_tell_the_story_of_an_outage() {
    let h = Harness::new(|_| {});
    assert_eq!(h.cache.set(b"before", b"v").unwrap(), Stored::Disk);
    assert_eq!(h.get(b"missing"), None);
    let text = h.cache.prometheus();
    for line in ["sturdycache_mode{mode=\"normal\"} 1\n", "sturdycache_mode{mode=\"read_only\"} 0\n"] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    h.fill_disk();
    assert_eq!(h.get(b"missing-too"), None);
    let text = h.cache.prometheus();
    for line in [
        "sturdycache_mode{mode=\"read_only\"} 1\n",
        "sturdycache_mode{mode=\"normal\"} 0\n",
        "sturdycache_mode{mode=\"memory_only\"} 0\n",
        "sturdycache_breaker_state{breaker=\"write\",state=\"open\"} 1\n",
        "sturdycache_breaker_state{breaker=\"read\",state=\"closed\"} 1\n",
        "sturdycache_breaker_trips_total{breaker=\"write\"} 1\n",
        "sturdycache_breaker_next_attempt_seconds{breaker=\"write\"} 10\n",
        "sturdycache_fallback_total{path=\"write\"} 5\n",
        "sturdycache_replay_depth 5\n",
        "sturdycache_replay_queued_total 5\n",
        "sturdycache_disk_health{health=\"unhealthy\"} 1\n",
        "sturdycache_recoveries_total 0\n",
        "# TYPE sturdycache_operation_duration_seconds histogram\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    assert!(text.contains("sturdycache_last_disk_error_timestamp_seconds{kind=\""), "{text}");
    let m = h.cache.metrics();
    let count =
        |op: Op, tier: Tier| m.latencies.iter().find(|(o, t, _)| *o == op && *t == tier).map(|(_, _, s)| s.count);
    assert_eq!(count(Op::Set, Tier::Disk), Some(1), "the set that reached the disk");
    assert_eq!(count(Op::Set, Tier::Hot), Some(5), "the sets kept in memory");
    assert_eq!(count(Op::Get, Tier::Disk), Some(2), "both misses looked at the disk");

    h.recover();
    let text = h.cache.prometheus();
    for line in [
        "sturdycache_mode{mode=\"normal\"} 1\n",
        "sturdycache_recoveries_total 1\n",
        "sturdycache_replay_drained_total 5\n",
        "sturdycache_replay_depth 0\n",
        "sturdycache_breaker_state{breaker=\"write\",state=\"closed\"} 1\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
}

/// The real file system, except that one read of an entry file, once armed,
/// blocks until the test releases it: a stalled disk call, without sleeping.
#[derive(Debug)]
struct GateFs {
    armed: AtomicBool,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl FileSystem for GateFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let entry = path.parent().and_then(Path::parent).is_some_and(|p| p.ends_with("data"));
        if entry && self.armed.swap(false, Ordering::SeqCst) {
            let _ = self.entered.lock().unwrap().send(());
            // Returns when released, or when the test is gone (sender dropped).
            let _ = self.release.lock().unwrap().recv();
        }
        StdFs.read(path)
    }
    fn read_head(&self, path: &Path, max_len: usize) -> io::Result<Vec<u8>> {
        StdFs.read_head(path, max_len)
    }
    fn write_new(&self, path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
        StdFs.write_new(path, data, sync)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.hard_link(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        StdFs.read_dir(path)
    }
    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        StdFs.metadata(path)
    }
    fn set_accessed(&self, path: &Path, at_ms: u64) -> io::Result<()> {
        StdFs.set_accessed(path, at_ms)
    }
    fn map_shared(&self, path: &Path, len: u64) -> io::Result<memmap2::MmapMut> {
        StdFs.map_shared(path, len)
    }
}

#[test]
fn a_stalled_disk_call_trips_the_watchdog_and_later_calls_skip_the_disk() {
    let dir = scratch_dir();
    seed_disk(dir.path(), &[(b"slow", b"read from a stalled disk", None), (b"cold", b"on disk", None)]);
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(GateFs {
        armed: AtomicBool::new(false),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    let fs = Arc::new(FaultyFs::new(gate.clone()));
    let timeout = Duration::from_secs(5);
    let h = Harness::open(dir, fs, |c| c.io_timeout = Some(timeout));
    assert_eq!(h.cache.set(b"hot", b"in memory").unwrap(), Stored::Disk);

    gate.armed.store(true, Ordering::SeqCst);
    let stalled = {
        let cache = h.cache.clone();
        std::thread::spawn(move || cache.get(b"slow").unwrap().map(|v| v.to_vec()))
    };
    entered.recv_timeout(EVENT_WAIT).expect("the read never reached the disk");
    // The call is in flight; just under io_timeout the watchdog leaves it alone.
    h.clock.advance(timeout - Duration::from_millis(1));
    h.cache.run_recovery();
    assert_eq!(h.cache.mode(), Mode::Normal);
    h.clock.advance(Duration::from_millis(1));
    h.cache.run_recovery();
    let change = h.events.wait_for("memory-only", |e| matches!(e, Event::ModeChanged { to: Mode::MemoryOnly, .. }));
    assert!(matches!(&change, Event::ModeChanged { cause, .. } if cause.contains("io_timeout")), "{change:?}");
    assert_eq!(h.cache.mode(), Mode::MemoryOnly);

    // With the stalled read still blocked, later calls are answered from memory.
    let calls = h.disk_calls();
    assert_eq!(h.get(b"cold"), None);
    assert_eq!(h.get(b"hot").as_deref(), Some(&b"in memory"[..]));
    assert_eq!(h.cache.set(b"new", b"kept").unwrap(), Stored::Memory);
    assert_eq!(h.disk_calls(), calls, "nothing queues behind the stalled call");

    release.send(()).unwrap();
    let got = stalled.join().unwrap();
    assert_eq!(got.as_deref(), Some(&b"read from a stalled disk"[..]), "the stalled call still answers rightly");
    h.recover();
    assert_eq!(h.get(b"cold").as_deref(), Some(&b"on disk"[..]));
    assert_eq!(on_disk(&h.path(), b"new").as_deref(), Some(&b"kept"[..]));
}

/// Rules that make every change to the disk fail with `errno`: a disk that is
/// read-only (EROFS) or full (ENOSPC) from the start.
fn refuse_changes(fs: &FaultyFs, errno: i32) -> Vec<sturdycache::fs::RuleId> {
    [FsOp::CreateDir, FsOp::Write, FsOp::Rename, FsOp::Link, FsOp::Remove, FsOp::Map]
        .into_iter()
        .map(|op| fs.inject(FaultRule::new(op, Fault::Errno(errno), Trigger::Always)))
        .collect()
}

#[test]
fn a_cache_opened_on_a_read_only_disk_serves_its_entries_and_keeps_writes_in_memory() {
    const EROFS: i32 = 30;
    let dir = scratch_dir();
    seed_disk(dir.path(), &[(b"old", b"written before the remount", None)]);
    let fs = Arc::new(FaultyFs::new(Arc::new(StdFs)));
    let rules = refuse_changes(&fs, EROFS);
    // An existing cache needs no write to open (the shared coherence map
    // cannot be mapped writable, so this handle works without it).
    let h = Harness::open(dir, fs.clone(), |_| {});
    assert_eq!(h.get(b"old").as_deref(), Some(&b"written before the remount"[..]), "disk reads still served");
    assert_eq!(h.cache.set(b"new", b"kept in memory").unwrap(), Stored::Memory);
    assert_eq!(h.get(b"new").as_deref(), Some(&b"kept in memory"[..]));
    let m = h.cache.metrics();
    assert_eq!(m.resilience.last_error.map(|e| e.kind), Some(sturdycache::DiskErrorKind::ReadOnly));

    // The disk is writable again: after the open time, probes close the breaker and the queue drains.
    for id in rules {
        fs.remove(id);
    }
    h.clock.advance(OPEN);
    assert!(settle(&h.cache), "recovered: {:?}", h.cache.metrics().resilience);
    assert_eq!(on_disk(&h.path(), b"new").as_deref(), Some(&b"kept in memory"[..]));
}

#[test]
fn a_cache_whose_directory_cannot_be_created_opens_memory_only_and_recovers() {
    const ENOSPC: i32 = 28;
    let parent = scratch_dir();
    let dir = parent.path().join("not-yet");
    let fs = Arc::new(FaultyFs::new(Arc::new(StdFs)));
    let rules = refuse_changes(&fs, ENOSPC);
    let clock = ManualClock::new(START_MS);
    let cache = Cache::open(config(&dir, &clock, fs.clone())).expect("open succeeds, degraded");
    cache.wait_ready();
    assert_eq!(cache.mode(), Mode::MemoryOnly, "nothing on disk to read");
    assert_eq!(cache.set(b"k", b"v").unwrap(), Stored::Memory);
    assert_eq!(cache.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(!dir.exists());

    for id in rules {
        fs.remove(id);
    }
    clock.advance(OPEN);
    assert!(settle(&cache), "recovered: {:?}", cache.metrics().resilience);
    assert!(dir.join("VERSION").is_file(), "the directory was prepared on recovery");
    assert_eq!(on_disk(&dir, b"k").as_deref(), Some(&b"v"[..]));
}
