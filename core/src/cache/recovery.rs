//! Recovery: probing a failing disk on the breakers' schedule, probing a
//! healthy one every `health_interval`, and draining the replay queue once the
//! disk takes writes again.
//!
//! A background thread ("sturdycache-recovery") calls [`Inner::tick`] a few
//! times a second while anything is degraded or queued, and about once a
//! second otherwise; tests call it through [`Cache::run_recovery`] after moving
//! a manual clock, so nothing waits on real time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::events::{DiskHealth, Event, Mode};
use crate::guard::DiskPath;
use crate::hot;
use crate::replay::{Drained, Pending};

use super::*;

/// What one recovery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Probes of a failing disk made (and how many succeeded).
    pub probes: u32,
    /// Of those, the ones that succeeded.
    pub probes_ok: u32,
    /// A health probe of a healthy disk ran.
    pub health_checked: bool,
    /// Queued writes replayed to disk.
    pub drained: u64,
    /// Stale copies of dropped writes deleted from disk.
    pub lost_cleared: u64,
}

static PROBE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Who asked for a recovery round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Round {
    /// The recovery thread's own rounds: queued writes that failed recently
    /// wait for the back-off of [`Inner::drain_due`].
    Background,
    /// [`Cache::run_recovery`](super::Cache::run_recovery): replay now.
    Requested,
}

impl Inner {
    /// Probes a disk path; returns how long it took (monotonic ns). The write
    /// path: write, fsync, read back and delete a small file under the cache
    /// directory. The read path: read the directory's VERSION file and list
    /// the data folder (a read-only disk can still pass it).
    fn probe(&self, path: DiskPath) -> Result<u64> {
        if path == DiskPath::Read {
            let started = self.config.clock.monotonic_ns();
            let fs = self.disk.fs();
            // Not found is not a failure: a cache opened on a disk that could not
            // take its directory has none yet (the write probe writes it).
            let version = self.config.directory.join("VERSION");
            match fs.read(&version) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.disk.fail("probe read", &version, e)),
            }
            let data = self.disk.data_dir();
            match fs.read_dir(data) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.disk.fail("probe list", data, e)),
            }
            return Ok(self.config.clock.monotonic_ns().saturating_sub(started));
        }
        let fs = self.disk.fs();
        let dir = self.config.directory.join("probe");
        let n = PROBE_SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}", std::process::id()));
        let body = format!("sturdycache probe {n}\n");
        let started = self.config.clock.monotonic_ns();
        let mut wrote = fs.write_new(&path, body.as_bytes(), true);
        if matches!(&wrote, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            fs.create_dir_all(&dir).map_err(|e| self.disk.fail("create folder", &dir, e))?;
            wrote = fs.write_new(&path, body.as_bytes(), true);
        }
        if let Err(e) = wrote {
            let _ = fs.remove_file(&path);
            return Err(self.disk.fail("probe write", &path, e));
        }
        let read = fs.read(&path);
        let removed = fs.remove_file(&path);
        match read {
            Ok(bytes) if bytes == body.as_bytes() => {}
            Ok(_) => return Err(self.disk.fail("probe read", &path, std::io::Error::from_raw_os_error(libc::EIO))),
            Err(e) => return Err(self.disk.fail("probe read", &path, e)),
        }
        removed.map_err(|e| self.disk.fail("probe delete", &path, e))?;
        // A cache opened degraded may not have written its VERSION yet.
        super::check_or_write_version(fs, &self.config.directory)?;
        Ok(self.config.clock.monotonic_ns().saturating_sub(started))
    }

    /// One recovery round: probe what is failing, check a healthy disk's
    /// health when due, drain what is queued once writes are back.
    pub(super) fn tick(&self, round: Round) -> RecoveryReport {
        let mut report = RecoveryReport::default();
        if self.config.fail_on_disk_error {
            return report;
        }
        self.check_stalls();
        // Recovery probes, read path first (writes wait for it).
        while let Some(path) = self.guard.probing() {
            let (permit, change) = self.guard.admit(path);
            self.apply(change);
            let Some(permit) = permit else { break };
            let call_in_flight = self.guard.enter(path);
            let result = self.probe(path);
            drop(call_in_flight);
            report.probes += 1;
            report.probes_ok += u32::from(result.is_ok());
            let change = self.guard.finish(path, permit, &result);
            self.apply(change);
            if result.is_err() || self.guard.probing() == Some(path) {
                break; // wait for the breaker's next attempt
            }
        }
        if self.guard.mode() == Mode::Normal {
            report.health_checked = self.health_check_if_due();
            if round == Round::Requested || self.drain_due() {
                let (drained, lost) = self.drain();
                report.drained = drained;
                report.lost_cleared = lost;
            }
        }
        report
    }

    /// Replays one queued set. The entry file is encoded and staged without the
    /// key's lock, so a write-behind set of the same key never waits for that
    /// disk write; the lock is held only to put the file in place, and only if
    /// the queued write is still the key's latest (a newer write or delete that
    /// arrived meanwhile wins, and the staged file is dropped).
    fn replay_set(&self, w: &Drained, data: &[u8], expires_ms: u64) -> Result<()> {
        let (key, tag, value, value_type) = hot::split(data);
        let tag = std::str::from_utf8(tag).ok().filter(|t| !t.is_empty());
        let opts = SetOptions { ttl: Ttl::Never, tag, value_type };
        let now = self.now();
        let bytes = self.encode(key, value, &opts, now, expires_ms);
        let staged = self.disk.stage(w.hash, &bytes)?;
        let _guard = self.locks.lock(w.hash);
        if !self.replay.is_current(w) {
            self.disk.discard(&staged);
            return Ok(());
        }
        self.publish_staged(key, value, &opts, Prepared { now, expires: expires_ms, hash: w.hash, bytes }, &staged)
    }

    /// At open, the directory could not be created or its VERSION written:
    /// start read-only (the disk may still be readable) or, when there is no
    /// directory to read, memory-only; the probes recover as after any trip.
    pub(super) fn open_degraded(&self, error: &Error) {
        log::warn!("opening {} degraded: {error}", self.config.directory.display());
        let change = self.guard.trip(DiskPath::Write, error);
        self.apply(change);
        if self.disk.fs().metadata(&self.config.directory.join("VERSION")).is_err() {
            let change = self.guard.trip(DiskPath::Read, error);
            self.apply(change);
        }
    }

    /// Whether a round in normal mode may replay queued writes now. Writes
    /// that failed without tripping the write breaker are retried once a disk
    /// write has succeeded since, or the breaker's open time has passed (cache
    /// clock) since the latest failure: retries back off like the breaker
    /// does instead of adding failures to a disk that just failed.
    fn drain_due(&self) -> bool {
        match self.guard.recent_write_failure() {
            None => true,
            Some((at_ms, open)) => self.now().saturating_sub(at_ms) >= open.as_millis() as u64,
        }
    }

    /// The stalled-disk watchdog's check (see `DiskGuard::check_stalls`).
    pub(super) fn check_stalls(&self) {
        if let Some(timeout) = self.config.io_timeout {
            for change in self.guard.check_stalls(timeout) {
                self.apply(Some(change));
            }
        }
    }

    /// Probes a healthy disk every `health_interval` (cache clock).
    fn health_check_if_due(&self) -> bool {
        let Some(every) = self.config.health_interval else { return false };
        let now = self.now();
        let last = self.last_health_ms.load(Ordering::Acquire);
        if now.saturating_sub(last) < every.as_millis() as u64 {
            return false;
        }
        self.last_health_ms.store(now, Ordering::Release);
        let (permit, change) = self.guard.admit(DiskPath::Write);
        self.apply(change);
        let Some(permit) = permit else { return false };
        let call_in_flight = self.guard.enter(DiskPath::Write);
        let result = self.probe(DiskPath::Write);
        drop(call_in_flight);
        let slow = self.config.breaker.slow_call_threshold;
        match &result {
            Ok(ns) if slow.is_some_and(|s| *ns > s.as_nanos() as u64) => {
                self.guard.set_health(DiskHealth::Degraded, &format!("probe took {} ms", ns / 1_000_000))
            }
            Ok(_) => self.guard.set_health(DiskHealth::Healthy, "probe succeeded"),
            Err(e) => self.guard.set_health(DiskHealth::Unhealthy, &format!("probe failed: {e}")),
        }
        let change = self.guard.finish(DiskPath::Write, permit, &result);
        self.apply(change);
        true
    }

    /// Replays queued writes in batches through the normal write path. Returns
    /// (writes replayed, stale copies deleted). Stops at the first failure.
    pub(super) fn drain(&self) -> (u64, u64) {
        let mut drained = 0;
        let mut lost_cleared = 0;
        let _one = self.draining.lock();
        // Whole-disk chores first: a clear or evict_tag made during the outage.
        let (cleared, tags) = self.replay.disk_chores();
        if cleared || !tags.is_empty() {
            let done = self.on_disk(DiskPath::Write, || {
                if cleared {
                    self.clear()?;
                }
                for tag in &tags {
                    self.evict_tag(tag)?;
                }
                Ok(())
            });
            if !matches!(done, Ok(Some(()))) {
                return (0, 0);
            }
            self.replay.disk_chores_done(cleared, &tags);
        }
        loop {
            let batch = self.replay.take(self.config.drain_batch_size);
            if batch.is_empty() {
                break;
            }
            for w in batch {
                let ok = match &w.pending {
                    Pending::Set { data, expires_ms } => {
                        self.on_disk(DiskPath::Write, || self.replay_set(&w, data, *expires_ms))
                    }
                    Pending::Delete => self.on_disk(DiskPath::Write, || {
                        let _guard = self.locks.lock(w.hash);
                        if self.replay.is_current(&w) {
                            self.delete_locked(&w.key, w.hash)?;
                        }
                        Ok(())
                    }),
                };
                if !matches!(ok, Ok(Some(()))) {
                    return (drained, lost_cleared);
                }
                if self.replay.done(&w) {
                    drained += 1;
                }
            }
        }
        loop {
            let lost = self.replay.lost(self.config.drain_batch_size);
            if lost.is_empty() {
                break;
            }
            for hash in lost {
                let _key = self.locks.lock(hash);
                if !self.replay.is_lost(hash) {
                    continue; // a newer write for the key arrived meanwhile
                }
                let removed = self.on_disk(DiskPath::Write, || {
                    let _change = self.coherence.begin_change();
                    let removed = self.disk.remove(hash)?;
                    self.coherence.bump(hash);
                    if removed {
                        self.account_removed(hash, None);
                    }
                    Ok(())
                });
                if !matches!(removed, Ok(Some(()))) {
                    return (drained, lost_cleared);
                }
                self.replay.lost_cleared(hash);
                lost_cleared += 1;
            }
        }
        self.enforce_disk_limit();
        if self.replay.is_empty()
            && let Some((change, drained_before)) = self.pending_recovery.lock().take()
        {
            let total = self.replay.stats().drained.saturating_sub(drained_before);
            log::info!(
                "[incident {}] recovered: mode {}, replay queue drained ({total} writes replayed)",
                change.incident,
                self.guard.mode()
            );
            self.events.emit(Event::Recovered {
                mode: self.guard.mode(),
                drained: total,
                outage: std::time::Duration::from_millis(change.outage_ms),
                incident: change.incident,
            });
        }
        (drained, lost_cleared)
    }
}

/// Starts the stalled-disk watchdog: a thread that makes no disk calls of its
/// own (so a stall cannot hide from it), checking in-flight calls four times
/// per `io_timeout`.
pub(super) fn spawn_watchdog(
    inner: Weak<Inner>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    io_timeout: Duration,
) -> Result<()> {
    let every = (io_timeout / 4).max(Duration::from_millis(5));
    std::thread::Builder::new()
        .name("sturdycache-watchdog".into())
        .spawn(move || {
            while !super::stopped_after(&stop, every) {
                let Some(i) = inner.upgrade() else { return };
                i.check_stalls();
            }
        })
        .map(|_| ())
        .map_err(|e| Error::InvalidConfig(format!("cannot start the watchdog thread: {e}")))
}

/// Starts the recovery thread: it ticks every 250 ms while the cache is
/// degraded or has writes queued, every second otherwise, and at once when woken.
pub(super) fn spawn(
    inner: Weak<Inner>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    wake: Arc<(Mutex<()>, Condvar)>,
) -> Result<()> {
    std::thread::Builder::new()
        .name("sturdycache-recovery".into())
        .spawn(move || {
            loop {
                let busy = match inner.upgrade() {
                    Some(i) => {
                        i.tick(Round::Background);
                        i.guard.mode() != Mode::Normal || !i.replay.is_empty()
                    }
                    None => return,
                };
                if *stop.0.lock() {
                    return;
                }
                let pause = if busy { Duration::from_millis(250) } else { Duration::from_secs(1) };
                let mut guard = wake.0.lock();
                wake.1.wait_for(&mut guard, pause);
            }
        })
        .map(|_| ())
        .map_err(|e| Error::InvalidConfig(format!("cannot start the recovery thread: {e}")))
}
