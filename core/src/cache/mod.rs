//! [`Cache`]: the two tiers, coherence, the disk index and the background
//! sweep, behind one thread-safe handle.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

mod check;
mod degraded;
mod recovery;

pub use check::CheckReport;
pub use degraded::{MemoryLookup, MemoryMiss, Stored};
pub use recovery::RecoveryReport;

use crate::breaker::BreakerState;
use crate::chaos::Faults;
use crate::coherence::{Coherence, ScanTicket};
use crate::config::Config;
use crate::disk::{DiskTier, Found};
use crate::error::{Corruption, Error, Result};
use crate::events::{DiskHealth, Event, EventBus, ListenerId, Mode};
use crate::flight::{Flights, Role};
use crate::format::{self, Compression, DecodeError, EncodeInput};
use crate::fs::FaultyFs;
use crate::guard::DiskPath;
use crate::guard::{DiskGuard, ModeChange};
use crate::histogram::{LatencySet, Op, Tier};
use crate::hot::{self, HotTier, Lookup};
use crate::index::{DiskIndex, Item};
use crate::keylock::KeyLocks;
use crate::metrics::{Counters, MetricsSnapshot};
use crate::replay::ReplayQueue;
use crate::value::{Attachment, Value};

/// The directory layout version written to `<dir>/VERSION`.
pub const DIRECTORY_VERSION: u32 = 1;

/// When an entry expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ttl {
    /// The cache's `default_ttl` (never, when that is unset).
    #[default]
    Default,
    /// Never, whatever the default.
    Never,
    /// This long after the set.
    After(Duration),
}

/// Options of a set.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetOptions<'a> {
    /// Expiry.
    pub ttl: Ttl,
    /// A tag for [`Cache::evict_tag`].
    pub tag: Option<&'a str>,
    /// An opaque type tag the bindings use to restore a value's type (0 = bytes).
    pub value_type: u8,
}

impl<'a> SetOptions<'a> {
    /// Options with a TTL.
    pub fn ttl(ttl: Duration) -> Self {
        SetOptions { ttl: Ttl::After(ttl), ..Default::default() }
    }

    /// These options with a tag.
    pub fn with_tag(self, tag: &'a str) -> Self {
        SetOptions { tag: Some(tag), ..self }
    }
}

/// Why [`Cache::get_or_insert_with`] returned no value.
#[derive(Debug, thiserror::Error)]
pub enum LoadError<E> {
    /// The loader failed (waiters will run their own loader).
    #[error("loader failed: {0}")]
    Loader(E),
    /// The key or value was refused.
    #[error(transparent)]
    Invalid(Error),
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Entry files seen.
    pub scanned: u64,
    /// Expired entries removed.
    pub expired: u64,
    /// Entries evicted to meet the disk budget.
    pub evicted: u64,
    /// Corrupt entries quarantined.
    pub quarantined: u64,
    /// Abandoned temp files removed.
    pub leftovers_removed: u64,
    /// Old quarantined files deleted.
    pub quarantine_deleted: u64,
}

/// A resilient two-tier cache. Cheap to clone; every clone is the same cache.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("directory", &self.inner.config.directory).finish_non_exhaustive()
    }
}

struct Inner {
    config: Config,
    compression: Compression,
    hot: HotTier,
    disk: DiskTier,
    coherence: Coherence,
    index: DiskIndex,
    locks: KeyLocks,
    flights: Flights,
    counters: Arc<Counters>,
    /// Set once the first scan has finished.
    ready: (Mutex<bool>, Condvar),
    /// Serialises sweeps.
    sweeping: Mutex<()>,
    /// The previous sweep's scan ticket, to spot a change left unfinished by a dead process.
    last_ticket: Mutex<Option<ScanTicket>>,
    /// Tells the background threads to stop.
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// The breakers, the mode and disk health.
    guard: DiskGuard,
    /// Writes accepted while the disk could not take them.
    replay: ReplayQueue,
    /// Listeners of state changes.
    events: Arc<EventBus>,
    /// The chaos API's handle on the file-system seam.
    faults: Arc<FaultyFs>,
    /// A return to normal whose drain (and `Recovered` event) is pending,
    /// with the replay queue's drained count when it began.
    pending_recovery: Mutex<Option<(ModeChange, u64)>>,
    /// Wakes the recovery thread early (a breaker opened, the mode changed).
    wake: Arc<(Mutex<()>, Condvar)>,
    /// When replay drops were last logged (monotonic ns; 0: never).
    replay_drop_logged: std::sync::atomic::AtomicU64,
    /// When the last health probe ran (cache clock, ms; 0: never).
    last_health_ms: std::sync::atomic::AtomicU64,
    /// Serialises drains.
    draining: Mutex<()>,
    /// Latency histograms per operation and tier.
    latencies: LatencySet,
}

impl Drop for Inner {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        self.wake.1.notify_all();
    }
}

/// A validated write, encoded and ready for the disk.
struct Prepared {
    now: u64,
    expires: u64,
    hash: u128,
    bytes: Vec<u8>,
}

/// The facts of one completed entry write.
struct Written {
    hash: u128,
    file_len: u64,
    old_len: u64,
    now: u64,
    expires: u64,
    /// The key's generation, read under the key lock before the file changed.
    before: u32,
}

/// A verified disk entry, or why there is none.
enum DiskEntry {
    Live {
        /// The entry buffer (`hot::entry_buffer`).
        data: Arc<[u8]>,
    },
    Missing,
    Expired,
}

impl Cache {
    /// Opens (creating if needed) the cache in `config.directory`.
    ///
    /// Returns quickly however many entries exist: the disk index is built,
    /// abandoned temp files removed and old quarantine cleaned by a background
    /// thread ([`Cache::wait_ready`] waits for it).
    pub fn open(config: Config) -> Result<Cache> {
        config.validate()?;
        let faults = Arc::new(FaultyFs::without_crash_tracking(config.fs.clone()));
        let fs: Arc<dyn crate::fs::FileSystem> = faults.clone();
        let dir = config.directory.clone();
        // A disk that cannot take the directory now (read-only, full, failing)
        // is an outage like any other: the cache opens degraded and recovers.
        let unprepared = match prepare_directory(&*fs, &dir) {
            Err(e) if e.disk_kind().is_some() && !config.fail_on_disk_error => Some(e),
            other => {
                other?;
                None
            }
        };
        let counters = Arc::new(Counters::default());
        let disk = DiskTier::new(
            fs.clone(),
            &dir,
            config.durability,
            counters.clone(),
            config.secret_key.as_deref().map(format::MacKey::derive),
        );
        let events = Arc::new(EventBus::new());
        let kinds = config.breaker_failure_kinds.clone();
        let guard = DiskGuard::new(
            config.breaker.clone(),
            Box::new(move |k| kinds.contains(&k)),
            events.clone(),
            config.clock.clone(),
        );
        let coherence = Coherence::open(&*fs, &dir.join("coherence.map"));
        let inner = Arc::new(Inner {
            compression: Compression { threshold: config.compression_threshold, level: config.compression_level },
            hot: HotTier::new(config.hot_shards, config.memory_limit),
            disk,
            coherence,
            index: DiskIndex::default(),
            locks: KeyLocks::default(),
            flights: Flights::default(),
            counters,
            ready: (Mutex::new(false), Condvar::new()),
            sweeping: Mutex::new(()),
            last_ticket: Mutex::new(None),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            guard,
            replay: ReplayQueue::new(config.max_replay_entries, config.max_replay_bytes),
            events,
            faults,
            pending_recovery: Mutex::new(None),
            wake: Arc::new((Mutex::new(()), Condvar::new())),
            replay_drop_logged: std::sync::atomic::AtomicU64::new(0),
            // The first health probe comes one interval after open.
            last_health_ms: std::sync::atomic::AtomicU64::new(config.clock.now_ms().max(1)),
            draining: Mutex::new(()),
            latencies: LatencySet::new(),
            config,
        });
        if let Some(e) = unprepared {
            inner.open_degraded(&e);
        }
        spawn_background(Arc::downgrade(&inner), inner.stop.clone(), inner.config.sweep_interval)?;
        recovery::spawn(Arc::downgrade(&inner), inner.stop.clone(), inner.wake.clone())?;
        if let Some(timeout) = inner.config.io_timeout {
            recovery::spawn_watchdog(Arc::downgrade(&inner), inner.stop.clone(), timeout)?;
        }
        Ok(Cache { inner })
    }

    /// The settings the cache was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The cache directory.
    pub fn directory(&self) -> &Path {
        &self.inner.config.directory
    }

    /// Blocks until the background open work (index build, leftover cleanup) is done.
    pub fn wait_ready(&self) {
        let (lock, cv) = &self.inner.ready;
        let mut ready = lock.lock();
        while !*ready {
            cv.wait(&mut ready);
        }
    }

    /// Whether the hot tiers of other processes see this one's writes (the
    /// shared coherence map could be created).
    pub fn is_coherent_across_processes(&self) -> bool {
        self.inner.coherence.is_shared()
    }

    /// The value for `key`, if cached and live. A corrupt disk entry is
    /// quarantined and reported as a miss; a disk I/O error is an `Err`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        self.inner.get_resilient(key, true)
    }

    /// [`get`](Self::get) in two halves, for callers that must not block in
    /// one of them (a binding holding an interpreter lock answers hot hits
    /// without releasing it): this half looks in the hot tier only and never
    /// touches the disk; on a miss, [`get_after_memory`](Self::get_after_memory)
    /// finishes the get. Counted and timed exactly like one `get`.
    pub fn get_from_memory(&self, key: &[u8]) -> Result<MemoryLookup> {
        self.inner.get_from_memory(key, true)
    }

    /// The second half of [`get_from_memory`](Self::get_from_memory): the
    /// replay queue, then the disk. `key` must be the key of `miss` (another
    /// key is simply looked up afresh).
    pub fn get_after_memory(&self, key: &[u8], miss: MemoryMiss) -> Result<Option<Value>> {
        self.inner.get_beyond_memory(key, miss)
    }

    /// Keeps `attachment` — the caller's decoded form of `value`, which a
    /// get of `key` returned — with `key`'s hot entry, so that later hits
    /// return it in [`MemoryLookup::Hit`] and the caller can skip decoding.
    /// For immutable decoded forms only: every later reader shares the one
    /// object. Charged to the memory budget (the value's length plus 64
    /// bytes) and dropped with the entry. Returns false, keeping nothing,
    /// when the entry is no longer the one `value` came from, is not in
    /// memory, or already has an attachment.
    pub fn attach(&self, key: &[u8], value: &Value, attachment: Attachment) -> bool {
        self.inner.hot.attach(hot::hash_of(key), key, value, attachment)
    }

    /// Whether `key` has a live value (verified; does not promote it).
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        Ok(self.inner.get_resilient(key, false)?.is_some())
    }

    /// Stores `key` → `value` with the default TTL.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<Stored> {
        self.set_with(key, value, SetOptions::default())
    }

    /// Stores `key` → `value`.
    pub fn set_with(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<Stored> {
        let start = self.inner.config.clock.monotonic_ns();
        let stored = self.inner.set_resilient(key, value, opts)?;
        let tier = if stored.on_disk() { Tier::Disk } else { Tier::Hot };
        self.inner.record_latency(Op::Set, tier, start);
        Ok(stored)
    }

    /// The part of a write-behind set that never touches the disk, for
    /// callers that must not block (an event loop): `Some(Stored::Memory)`
    /// when the write was queued for the background writer and is readable
    /// now; `None`, storing nothing, when the set needs a disk write, because
    /// the cache writes through or its queue is full on a healthy disk (see
    /// [`WriteMode::WriteBehind`](crate::WriteMode::WriteBehind)). Then call
    /// [`set_with`](Self::set_with) where blocking is allowed.
    pub fn set_in_memory(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<Option<Stored>> {
        if !self.inner.writes_behind() {
            return Ok(None);
        }
        let start = self.inner.config.clock.monotonic_ns();
        let stored = self.inner.set_queued(key, value, opts)?;
        if stored.is_some() {
            self.inner.record_latency(Op::Set, Tier::Hot, start);
        }
        Ok(stored)
    }

    /// Stores `key` → `value` only if `key` has no live value, atomically across
    /// processes. Returns whether it stored.
    pub fn add(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<bool> {
        self.inner.timed(Op::Add, || self.inner.add_resilient(key, value, opts))
    }

    /// Removes `key`. Returns whether anything was removed.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.inner.timed(Op::Delete, || self.inner.delete_resilient(key))
    }

    /// Changes `key`'s expiry. Returns whether `key` had a live value.
    pub fn touch(&self, key: &[u8], ttl: Ttl) -> Result<bool> {
        self.inner.timed(Op::Touch, || self.inner.touch_resilient(key, ttl))
    }

    /// Removes and returns `key`'s value; across processes only one `pop` gets it.
    pub fn pop(&self, key: &[u8]) -> Result<Option<Value>> {
        self.inner.timed(Op::Pop, || self.inner.pop_resilient(key))
    }

    /// Removes every entry. Returns how many disk entries were removed.
    pub fn clear(&self) -> Result<u64> {
        self.inner.clear_resilient()
    }

    /// Removes every entry tagged `tag`. Returns how many keys were removed.
    /// The empty tag stands for "no tag" and removes nothing.
    pub fn evict_tag(&self, tag: &str) -> Result<u64> {
        self.inner.evict_tag_resilient(tag)
    }

    /// The keys of live entries on disk, in no particular order. Entries set or
    /// removed during the iteration may or may not be seen. While the cache is
    /// degraded, the keys held in memory (hot tier and replay queue).
    pub fn keys(&self) -> Result<Keys> {
        Keys::new(self.inner.clone())
    }

    /// The value for `key`, computing and storing it with `load` if missing.
    ///
    /// Concurrent callers for the same key run one loader; the others wait and
    /// share its value. If the loader fails or panics, a waiter runs its own.
    /// The loader runs with no cache lock held. A failure to store the computed
    /// value (a disk error) is logged and counted, and the value still returned.
    pub fn get_or_insert_with<E>(
        &self,
        key: &[u8],
        opts: SetOptions<'_>,
        load: impl FnOnce() -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<Value, LoadError<E>> {
        self.inner.check_key(key).map_err(LoadError::Invalid)?;
        // Refuse a bad TTL or tag before loading, not as a store failure after it.
        self.inner.expiry(opts.ttl, 0).map_err(LoadError::Invalid)?;
        self.inner.check_value(&[], opts.tag).map_err(LoadError::Invalid)?;
        let mut load = Some(load);
        loop {
            if let Some(v) = self.inner.get_quietly(key) {
                return Ok(v);
            }
            match self.inner.flights.join(key) {
                Role::Follower(flight) => {
                    if let Some(v) = flight.wait() {
                        return Ok(v);
                    }
                }
                Role::Leader(leader) => {
                    if let Some(v) = self.inner.get_quietly(key) {
                        leader.finish(v.clone());
                        return Ok(v);
                    }
                    let Some(load) = load.take() else { continue };
                    let bytes = load().map_err(LoadError::Loader)?;
                    self.inner.check_value(&bytes, opts.tag).map_err(LoadError::Invalid)?;
                    if let Err(e) = self.inner.set_resilient(key, &bytes, opts) {
                        log::warn!("computed value could not be stored: {e}");
                    }
                    let value = Value::from_slice(&bytes, opts.value_type);
                    leader.finish(value.clone());
                    return Ok(value);
                }
            }
        }
    }

    /// Runs the maintenance the background thread runs every `sweep_interval`:
    /// rescans the disk, removes expired entries and abandoned temp files,
    /// enforces the disk budget and cleans the quarantine.
    pub fn sweep(&self) -> Result<SweepReport> {
        self.inner.sweep()
    }

    /// Reads and fully verifies every entry file (format, checksum and, with a
    /// `secret_key`, the MAC), quarantining corrupt ones. Slow on large caches:
    /// an audit, not something for a request path.
    pub fn check(&self) -> Result<CheckReport> {
        self.inner.check()
    }

    /// A snapshot of the counters, sizes, resilience state and latencies.
    pub fn metrics(&self) -> MetricsSnapshot {
        let i = &self.inner;
        MetricsSnapshot {
            hot_evictions: i.hot.evictions(),
            hot_entries: i.hot.entries(),
            hot_bytes: i.hot.bytes(),
            hot_limit: i.hot.limit(),
            disk_entries: i.index.len() as u64,
            disk_bytes: i.coherence.disk_bytes(),
            disk_limit: i.config.disk_limit,
            resilience: i.guard.snapshot(),
            replay: i.replay.stats(),
            latencies: i.latencies.snapshot(),
            events_dropped: i.events.dropped(),
            ..MetricsSnapshot::counters(&i.counters)
        }
    }

    /// Every metric in the Prometheus text exposition format (0.0.4).
    pub fn prometheus(&self) -> String {
        crate::prometheus::render_cache(&self.metrics())
    }

    /// The cache mode: normal, read-only or memory-only.
    pub fn mode(&self) -> Mode {
        self.inner.guard.mode()
    }

    /// The disk's health as last probed.
    pub fn disk_health(&self) -> DiskHealth {
        self.inner.guard.health()
    }

    /// Registers a listener for state changes (mode, breakers, quarantine,
    /// replay drops, recovery, disk health). Listeners run on a library thread,
    /// one event at a time, never under a cache lock; a listener should hold a
    /// `Weak` reference to the cache, not a `Cache`, or the cache is never freed.
    pub fn subscribe(&self, listener: impl Fn(&Event) + Send + Sync + 'static) -> ListenerId {
        self.inner.events.subscribe(listener)
    }

    /// Removes a listener; false if it was not registered.
    pub fn unsubscribe(&self, id: ListenerId) -> bool {
        self.inner.events.unsubscribe(id)
    }

    /// Waits until every event emitted so far has been delivered.
    pub fn flush_events(&self) {
        self.inner.events.flush()
    }

    /// The chaos API: inject disk faults into this cache to test an application
    /// against a failing disk (see [`Faults`]).
    pub fn faults(&self) -> Faults {
        Faults::new(self.inner.faults.clone())
    }

    /// Writes everything queued (write-behind sets, writes kept during an
    /// outage) to disk now, in the caller's thread. Returns true when nothing
    /// is left queued; false when the disk cannot take writes (the cache is
    /// degraded): it never waits for a failing disk to come back.
    pub fn flush(&self) -> bool {
        let i = &self.inner;
        if i.config.fail_on_disk_error || i.guard.mode() != Mode::Normal {
            return i.replay.is_empty();
        }
        i.drain();
        i.replay.is_empty()
    }

    /// Runs one recovery round now (probe a failing disk when its breaker
    /// allows, check a healthy disk's health when due, drain the replay queue).
    /// The background thread does this on its own (waiting, after a failed
    /// write, for the breaker's open time before replaying it); this is for
    /// tests and for callers that want recovery at a moment of their choosing,
    /// and it replays queued writes at once.
    pub fn run_recovery(&self) -> RecoveryReport {
        self.inner.tick(recovery::Round::Requested)
    }

    /// Operator override of a disk path's breaker: `ForcedOpen` keeps the path
    /// closed to calls (maintenance), `Disabled` never trips, anything else
    /// resets it to closed.
    pub fn override_breaker(&self, path: DiskPath, state: BreakerState) {
        let change = self.inner.guard.override_breaker(path, state);
        self.inner.apply(change);
    }
}

/// Creates the cache directory if needed and checks (or writes) its VERSION.
fn prepare_directory(fs: &dyn crate::fs::FileSystem, dir: &Path) -> Result<()> {
    match fs.metadata(dir) {
        Ok(m) if !m.is_dir => return Err(Error::NotADirectory(dir.to_path_buf())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs.create_dir_all(dir).map_err(|e| Error::disk("create folder", dir, e))?;
        }
        Err(e) => return Err(Error::disk("stat", dir, e)),
    }
    check_or_write_version(fs, dir)
}

pub(super) fn check_or_write_version(fs: &dyn crate::fs::FileSystem, dir: &Path) -> Result<()> {
    if version_accepted(fs, dir)? {
        return Ok(());
    }
    // Unique per opener, not just per process: threads of one process (Node
    // workers, Python threads) may open a new directory at the same moment.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".VERSION-{}-{n}", std::process::id()));
    let body = format!("sturdycache {DIRECTORY_VERSION}\n");
    let path = dir.join("VERSION");
    let written = fs
        .write_new(&tmp, body.as_bytes(), true)
        .map_err(|e| Error::disk("write", &tmp, e))
        .and_then(|()| fs.rename(&tmp, &path).map_err(|e| Error::disk("rename", &path, e)));
    if written.is_err() {
        let _ = fs.remove_file(&tmp);
        // Another opener may have written it meanwhile: that is success too.
        if version_accepted(fs, dir)? {
            return Ok(());
        }
    }
    written
}

/// Whether `dir/VERSION` exists and names a version this build reads; an
/// error for a newer one. Missing or unparseable: `false` (to be written).
fn version_accepted(fs: &dyn crate::fs::FileSystem, dir: &Path) -> Result<bool> {
    let path = dir.join("VERSION");
    match fs.read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            match text.trim().strip_prefix("sturdycache ").and_then(|v| v.parse::<u32>().ok()) {
                Some(v) if v > DIRECTORY_VERSION => {
                    Err(Error::NewerFormat { path: dir.to_path_buf(), found: v, supported: DIRECTORY_VERSION })
                }
                Some(_) => Ok(true),
                None => {
                    log::warn!("{} is unreadable; rewriting it", path.display());
                    Ok(false)
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::disk("read", &path, e)),
    }
}

/// Waits `every`, or less if the cache is dropped meanwhile; returns whether
/// it was (the background threads' shared pacing).
fn stopped_after(stop: &(Mutex<bool>, Condvar), every: Duration) -> bool {
    let mut stopped = stop.0.lock();
    if !*stopped {
        stop.1.wait_for(&mut stopped, every);
    }
    *stopped
}

fn spawn_background(inner: Weak<Inner>, stop: Arc<(Mutex<bool>, Condvar)>, every: Option<Duration>) -> Result<()> {
    std::thread::Builder::new()
        .name("sturdycache-sweep".into())
        .spawn(move || {
            let first = inner.upgrade().map(|i| {
                let report = i.sweep();
                if let Err(e) = report {
                    log::warn!("initial scan of {} failed: {e}", i.config.directory.display());
                }
                *i.ready.0.lock() = true;
                i.ready.1.notify_all();
            });
            if first.is_none() {
                return;
            }
            let Some(every) = every else { return };
            while !stopped_after(&stop, every) {
                let Some(i) = inner.upgrade() else { return };
                if let Err(e) = i.sweep() {
                    log::warn!("sweep of {} failed: {e}", i.config.directory.display());
                }
            }
        })
        .map(|_| ())
        .map_err(|e| Error::InvalidConfig(format!("cannot start the sweep thread: {e}")))
}

impl Inner {
    /// Runs a write-side operation, recording its latency under the tier the
    /// mode sent it to.
    fn timed<T>(&self, op: Op, call: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = self.config.clock.monotonic_ns();
        let result = call();
        let tier = if self.guard.mode() == Mode::Normal { Tier::Disk } else { Tier::Hot };
        self.record_latency(op, tier, start);
        result
    }

    fn now(&self) -> u64 {
        self.config.clock.now_ms()
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if key.len() > self.config.max_key_size {
            return Err(Error::KeyTooLarge { len: key.len(), max: self.config.max_key_size });
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8], tag: Option<&str>) -> Result<()> {
        if value.len() > self.config.max_value_size {
            return Err(Error::ValueTooLarge { len: value.len(), max: self.config.max_value_size });
        }
        let tag_len = tag.map_or(0, str::len);
        if tag_len > format::MAX_TAG_LEN {
            return Err(Error::TagTooLarge { len: tag_len, max: format::MAX_TAG_LEN });
        }
        Ok(())
    }

    fn expiry(&self, ttl: Ttl, now: u64) -> Result<u64> {
        let ttl = match ttl {
            Ttl::Default => self.config.default_ttl,
            Ttl::Never => None,
            Ttl::After(d) if d.is_zero() => {
                return Err(Error::InvalidConfig("ttl must be greater than zero".into()));
            }
            Ttl::After(d) => Some(d),
        };
        Ok(ttl.map_or(0, |d| now.saturating_add(d.as_millis().min(u64::MAX as u128) as u64).max(1)))
    }

    /// A get for single-flight: disk errors are logged and treated as a miss,
    /// so a failing disk never stops a value from being computed.
    fn get_quietly(&self, key: &[u8]) -> Option<Value> {
        self.get_resilient(key, true).unwrap_or_else(|e| {
            log::debug!("read before load failed: {e}");
            None
        })
    }

    /// Reads and verifies `hash`'s file. `generation` must have been read
    /// before the file, so a concurrent writer makes the promoted copy stale.
    /// [`Inner::read_entry`] for a caller holding no key lock: an expired entry
    /// is also removed (expired is counted once by the caller).
    fn read_disk(&self, key: &[u8], hash: u128, generation: u32, promote: bool) -> Result<DiskEntry> {
        let entry = self.read_entry(key, hash, generation, promote)?;
        // Here, not in `read_entry`: its other callers hold the key's lock.
        // Only with the write path open: a degraded cache makes no disk writes.
        if matches!(entry, DiskEntry::Expired) && (self.config.fail_on_disk_error || self.guard.mode() == Mode::Normal)
        {
            self.remove_if_dead(key, hash);
        }
        Ok(entry)
    }

    /// Reads, verifies and decodes `hash`'s entry once (through the guard):
    /// the whole entry buffer (key, tag, value, type) and its expiry.
    fn read_entry(&self, key: &[u8], hash: u128, generation: u32, promote: bool) -> Result<DiskEntry> {
        let Some(degraded::ReadAttempt { bytes, permit }) = self.guarded_read(hash)? else {
            return Ok(DiskEntry::Missing);
        };
        let Some(bytes) = bytes else {
            self.finish_read(permit, crate::breaker::Outcome::Success);
            return Ok(DiskEntry::Missing);
        };
        let now = self.now();
        let decoded = match self.disk.decode(&bytes) {
            Ok(d) => {
                self.finish_read(permit, crate::breaker::Outcome::Success);
                d
            }
            Err(DecodeError::Corrupt(reason)) => {
                self.finish_read(permit, crate::breaker::Outcome::Failure);
                self.quarantine(&self.disk.entry_path(hash), hash, &reason, bytes.len() as u64);
                return Ok(DiskEntry::Missing);
            }
            Err(DecodeError::NewerVersion(v)) => {
                self.finish_read(permit, crate::breaker::Outcome::Success);
                log::debug!("entry {hash:032x} has format version {v}; treated as a miss");
                return Ok(DiskEntry::Missing);
            }
        };
        if decoded.key != key || self.replay.hides(decoded.tag) {
            // A hash collision (never another key's value), or an entry a
            // clear or evict_tag removed while the disk was out of reach.
            return Ok(DiskEntry::Missing);
        }
        let header = decoded.header;
        if header.is_expired(now) {
            return Ok(DiskEntry::Expired); // removed by `read_disk`, which holds no lock
        }
        let data = hot::entry_buffer(decoded.key, decoded.tag, &decoded.value, header.value_type);
        if promote {
            self.hot.insert(hash as u64, data.clone(), header.expires_ms, generation);
            // A write kept in memory since the overlay was asked (queued before
            // its hot update, see `keep_in_memory`) supersedes this copy.
            if self.replay.lookup(key, hash).is_some() {
                self.hot.remove(hash as u64, key);
            }
        }
        if self.index.touch(hash, now, bytes.len() as u64, header.expires_ms) {
            self.disk.mark_used(hash, now);
        }
        Ok(DiskEntry::Live { data })
    }

    /// Quarantines the corrupt file at `path` (`file_len` bytes) holding `hash`'s entry.
    /// Returns whether the file was moved (and its bytes accounted).
    fn quarantine(&self, path: &Path, hash: u128, reason: &Corruption, file_len: u64) -> bool {
        Counters::inc(&self.counters.corruptions);
        let _change = self.coherence.begin_change();
        let incident = self.guard.incident();
        if let Some(moved) = self.disk.quarantine(path, hash, reason, self.now(), incident) {
            Counters::inc(&self.counters.quarantined);
            self.account_removed(hash, Some(file_len));
            self.events.emit(Event::Quarantined { path: moved, reason: reason.as_str(), incident });
            return true;
        }
        false
    }

    /// After `hash`'s file left the data folder: forget it in the index and
    /// take its bytes off the shared count (its length as read, else as indexed).
    fn account_removed(&self, hash: u128, file_len: Option<u64>) {
        let indexed = self.index.forget(hash).map(|i| i.len);
        if let Some(len) = file_len.or(indexed) {
            self.coherence.add_disk_bytes(-(len as i64));
        }
    }

    /// Removes `hash`'s entry if it is expired, checking again after claiming
    /// it so that a fresh entry another process just wrote is put back.
    fn remove_if_dead(&self, key: &[u8], hash: u128) -> bool {
        let _guard = self.locks.lock(hash);
        self.remove_if_dead_locked(key, hash)
    }

    /// [`Inner::remove_if_dead`] for a caller holding the key's lock.
    fn remove_if_dead_locked(&self, key: &[u8], hash: u128) -> bool {
        let _change = self.coherence.begin_change();
        let claim = match self.disk.claim(hash) {
            Ok(Some(c)) => c,
            Ok(None) => return false,
            Err(e) => {
                log::debug!("could not remove expired entry: {e}");
                return false;
            }
        };
        let now = self.now();
        let (dead, file_len) = match self.disk.read_path(&claim) {
            Ok(Some(bytes)) => match self.disk.decode(&bytes) {
                Ok(d) => (d.header.is_expired(now) || d.key != key, Some(bytes.len() as u64)),
                Err(_) => (true, Some(bytes.len() as u64)),
            },
            _ => (true, None),
        };
        if !dead {
            self.disk.unclaim(hash, &claim);
            return false;
        }
        self.disk.discard(&claim);
        self.coherence.bump(hash);
        self.hot.remove(hash as u64, key);
        self.account_removed(hash, file_len);
        true
    }

    fn encode(&self, key: &[u8], value: &[u8], opts: &SetOptions<'_>, now: u64, expires: u64) -> Vec<u8> {
        let input = EncodeInput {
            key,
            tag: opts.tag.unwrap_or("").as_bytes(),
            value,
            value_type: opts.value_type,
            created_ms: now,
            expires_ms: expires,
            mac_key: self.disk.mac_key(),
        };
        format::encode(&input, self.compression)
    }

    /// After `w.hash`'s file changed: account its bytes, index it, bump the
    /// generation and cache the new value in the hot tier.
    fn commit_write(&self, key: &[u8], value: &[u8], opts: &SetOptions<'_>, w: Written) {
        let Written { hash, file_len, old_len, now, expires, before } = w;
        self.coherence.add_disk_bytes(file_len as i64 - old_len as i64);
        self.index.record(hash, Item { len: file_len, last_use: now, expires });
        let generation = self.coherence.bump(hash);
        let tag = opts.tag.unwrap_or("").as_bytes();
        // A generation that moved by more than our own bump means another
        // process changed the bucket after we read it, maybe this key's file
        // after ours: caching our value could outlive theirs on disk.
        let sole_writer = generation == before.wrapping_add(1);
        let buf_len = hot::entry_buffer_len(key, tag, value);
        if sole_writer && self.hot.fits(buf_len) {
            self.hot.insert(hash as u64, hot::entry_buffer(key, tag, value, opts.value_type), expires, generation);
        } else {
            self.hot.remove(hash as u64, key);
        }
        Counters::inc(&self.counters.sets);
    }

    /// Validates a write and encodes its entry file: the common first half of
    /// `set` and `add`, done before any lock is taken.
    fn prepare(&self, key: &[u8], value: &[u8], opts: &SetOptions<'_>) -> Result<Prepared> {
        self.check_key(key)?;
        self.check_value(value, opts.tag)?;
        let now = self.now();
        let expires = self.expiry(opts.ttl, now)?;
        let hash = format::key_hash(key);
        let bytes = self.encode(key, value, opts, now, expires);
        Ok(Prepared { now, expires, hash, bytes })
    }

    /// Writes a prepared entry to disk and commits it; the caller holds the key's lock.
    fn write_prepared(&self, key: &[u8], value: &[u8], opts: &SetOptions<'_>, p: Prepared) -> Result<()> {
        let staged = self.disk.stage(p.hash, &p.bytes)?;
        self.publish_staged(key, value, opts, p, &staged)
    }

    /// Puts an entry staged by `DiskTier::stage` in place and commits it; the
    /// caller holds the key's lock. The staged file is gone afterwards.
    fn publish_staged(
        &self,
        key: &[u8],
        value: &[u8],
        opts: &SetOptions<'_>,
        p: Prepared,
        staged: &Path,
    ) -> Result<()> {
        let Prepared { now, expires, hash, bytes } = p;
        let known_len = self.index.get(hash).map(|item| item.len);
        let before = self.coherence.generation(hash);
        let _change = self.coherence.begin_change();
        let old_len = match self.disk.publish(hash, staged, known_len) {
            Ok(old_len) => old_len,
            Err(e) => {
                // The file may or may not have changed: make every cached copy stale.
                self.coherence.bump(hash);
                self.hot.remove(hash as u64, key);
                return Err(e);
            }
        };
        self.commit_write(
            key,
            value,
            opts,
            Written { hash, file_len: bytes.len() as u64, old_len, now, expires, before },
        );
        Ok(())
    }

    fn add(&self, key: &[u8], value: &[u8], opts: SetOptions<'_>) -> Result<bool> {
        let Prepared { now, expires, hash, bytes } = self.prepare(key, value, &opts)?;
        let stored = {
            let _guard = self.locks.lock(hash);
            let generation = self.coherence.generation(hash);
            if let Lookup::Hit(..) = self.hot.get(hash as u64, key, generation, || now) {
                return Ok(false);
            }
            // A few rounds: each either creates the file, finds a live entry, or
            // clears a dead one out of the way.
            let mut stored = false;
            for _ in 0..4 {
                let change = self.coherence.begin_change();
                let before = self.coherence.generation(hash);
                if self.disk.create(hash, &bytes)? {
                    self.commit_write(
                        key,
                        value,
                        &opts,
                        Written { hash, file_len: bytes.len() as u64, old_len: 0, now, expires, before },
                    );
                    stored = true;
                    break;
                }
                drop(change);
                let Some(existing) = self.disk.read(hash)? else { continue };
                match self.disk.decode(&existing) {
                    // Live, a hash collision holding the slot, or a newer writer's entry.
                    Ok(d) if d.key != key || !d.header.is_expired(now) => return Ok(false),
                    Err(DecodeError::NewerVersion(_)) => return Ok(false),
                    Ok(_) => {
                        self.remove_if_dead_locked(key, hash);
                    }
                    Err(DecodeError::Corrupt(reason)) => {
                        self.quarantine(&self.disk.entry_path(hash), hash, &reason, existing.len() as u64);
                    }
                }
            }
            stored
        };
        if stored {
            self.enforce_disk_limit();
        }
        Ok(stored)
    }

    /// `delete` for a caller holding the key's lock.
    fn delete_locked(&self, key: &[u8], hash: u128) -> Result<bool> {
        let file_len = self.index.get(hash).map(|i| i.len).or_else(|| self.disk.len_of(hash).ok().flatten());
        let _change = self.coherence.begin_change();
        let result = self.disk.remove(hash);
        self.coherence.bump(hash);
        let in_memory = self.hot.remove(hash as u64, key);
        let on_disk = match result {
            Ok(removed) => removed,
            Err(e) => {
                // The unlink may have happened before the folder fsync failed.
                if matches!(self.disk.len_of(hash), Ok(None)) {
                    self.account_removed(hash, file_len);
                }
                return Err(e);
            }
        };
        if on_disk {
            self.account_removed(hash, file_len);
        }
        let removed = on_disk || in_memory;
        if removed {
            Counters::inc(&self.counters.deletes);
        }
        Ok(removed)
    }

    /// Rewrites the entry with a new expiry. Across processes a plain
    /// read-modify-rename could put back a value another process has just
    /// replaced, so the file is claimed first (only one process can claim it)
    /// and the rewritten copy is linked into place only if nobody wrote the key
    /// meanwhile; if somebody did, their value stands.
    fn touch(&self, key: &[u8], ttl: Ttl) -> Result<bool> {
        self.check_key(key)?;
        let now = self.now();
        let expires = self.expiry(ttl, now)?;
        let hash = format::key_hash(key);
        let _guard = self.locks.lock(hash);
        let before = self.coherence.generation(hash);
        let _change = self.coherence.begin_change();
        let Some(claim) = self.disk.claim(hash)? else {
            return Ok(match self.hot.get(hash as u64, key, before, || now) {
                Lookup::Hit(..) => self.hot.retime(hash as u64, key, expires, before, before),
                _ => false,
            });
        };
        let bytes = match self.disk.read_path(&claim) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(false),
            Err(e) => {
                self.disk.unclaim(hash, &claim);
                return Err(e);
            }
        };
        match self.disk.decode(&bytes) {
            Err(DecodeError::Corrupt(reason)) => {
                self.quarantine(&claim, hash, &reason, bytes.len() as u64);
                self.coherence.bump(hash);
                self.hot.remove(hash as u64, key);
                Ok(false)
            }
            Ok(d) if d.key == key && !d.header.is_expired(now) => {
                let created = self.disk.create(hash, &format::with_expiry(&bytes, expires, self.disk.mac_key()));
                if !matches!(created, Ok(true)) {
                    // Failed, or a newer entry took the name: put the claimed one
                    // back only if the name is still free.
                    self.disk.unclaim(hash, &claim);
                } else {
                    self.disk.discard(&claim);
                }
                let generation = self.coherence.bump(hash);
                if matches!(created, Ok(true)) && generation == before.wrapping_add(1) {
                    self.hot.retime(hash as u64, key, expires, before, generation);
                    if let Some(item) = self.index.get(hash) {
                        self.index.record(hash, Item { expires, ..item });
                    }
                } else {
                    // Another writer is involved (see `commit_write`): let readers go to disk.
                    self.hot.remove(hash as u64, key);
                }
                created.map(|_| true)
            }
            // Another key's entry (a hash collision), an expired one, or a newer writer's.
            _ => {
                self.disk.unclaim(hash, &claim);
                Ok(false)
            }
        }
    }

    fn pop(&self, key: &[u8]) -> Result<Option<Value>> {
        self.check_key(key)?;
        let hash = format::key_hash(key);
        let now = self.now();
        let _guard = self.locks.lock(hash);
        let generation = self.coherence.generation(hash);
        let from_memory = match self.hot.get(hash as u64, key, generation, || now) {
            Lookup::Hit(v, _) => Some(v),
            _ => None,
        };
        let _change = self.coherence.begin_change();
        let Some(claim) = self.disk.claim(hash)? else {
            // Only in memory (or nowhere).
            self.coherence.bump(hash);
            self.hot.remove(hash as u64, key);
            return Ok(from_memory);
        };
        let bytes = match self.disk.read_path(&claim) {
            Ok(b) => b,
            Err(e) => {
                self.disk.unclaim(hash, &claim);
                return Err(e);
            }
        };
        let mut quarantined = false;
        let found = match bytes.as_deref().map(|b| self.disk.decode(b)) {
            Some(Ok(d)) if d.key != key => {
                self.disk.unclaim(hash, &claim);
                return Ok(None);
            }
            Some(Ok(d)) if d.header.is_expired(now) => None,
            Some(Ok(d)) => Some(Value::from_slice(&d.value, d.header.value_type)),
            Some(Err(DecodeError::Corrupt(reason))) => {
                quarantined = self.quarantine(&claim, hash, &reason, bytes.as_ref().map_or(0, |b| b.len() as u64));
                None
            }
            Some(Err(DecodeError::NewerVersion(_))) => {
                self.disk.unclaim(hash, &claim);
                return Ok(None);
            }
            None => None,
        };
        self.disk.discard(&claim);
        // With fsync durability the entry's removal must survive a power cut too
        // (the claim rename took its name away). The value is already taken, so a
        // failure here is logged and counted, not turned into a failed pop.
        if let Err(e) = self.disk.sync_folder(hash) {
            log::warn!("popped entry's removal may not be durable: {e}");
        }
        self.coherence.bump(hash);
        self.hot.remove(hash as u64, key);
        if !quarantined {
            self.account_removed(hash, bytes.map(|b| b.len() as u64)); // a quarantine accounted it already
        }
        if found.is_some() {
            Counters::inc(&self.counters.deletes);
        }
        Ok(found)
    }

    fn clear(&self) -> Result<u64> {
        let mut hashes = Vec::new();
        self.disk.scan(|f| {
            if let Found::Entry { hash, len, .. } = f {
                hashes.push((hash, len));
            }
        })?;
        let mut removed = 0;
        for (hash, len) in hashes {
            let _change = self.coherence.begin_change();
            if self.disk.remove(hash)? {
                removed += 1;
                self.coherence.add_disk_bytes(-(len as i64));
            }
        }
        self.coherence.bump_all();
        self.hot.clear();
        self.index.clear();
        Ok(removed)
    }

    fn evict_tag(&self, tag: &str) -> Result<u64> {
        if tag.is_empty() {
            return Ok(0); // the empty tag is "no tag": it names no group
        }
        let mut candidates = Vec::new();
        self.disk.scan(|f| {
            if let Found::Entry { hash, header: Ok(h), .. } = f
                && h.tag_len as usize == tag.len()
            {
                candidates.push(hash);
            }
        })?;
        let mut removed = Vec::new();
        for hash in candidates {
            let _guard = self.locks.lock(hash);
            let Some(bytes) = self.disk.read(hash)? else { continue };
            let Ok(d) = self.disk.decode(&bytes) else { continue };
            if d.tag != tag.as_bytes() {
                continue;
            }
            let _change = self.coherence.begin_change();
            if self.disk.remove(hash)? {
                removed.push(hash as u64);
                self.account_removed(hash, Some(bytes.len() as u64));
            }
            self.coherence.bump(hash);
        }
        // Count keys, not copies: most tagged entries were in both tiers.
        let mut gone: std::collections::HashSet<u64> = removed.into_iter().collect();
        gone.extend(self.hot.remove_tag(tag.as_bytes()));
        Ok(gone.len() as u64)
    }

    /// Evicts least recently used entries until the shared byte count is
    /// within the disk budget.
    fn enforce_disk_limit(&self) -> u64 {
        let limit = self.config.disk_limit;
        let mut evicted = 0;
        let mut rescanned = false;
        while self.coherence.disk_bytes() > limit {
            let Some((hash, item)) = self.index.oldest() else {
                // Other processes' files are not in our index yet: look again, once.
                if rescanned || self.rescan().is_err() {
                    break;
                }
                rescanned = true;
                continue;
            };
            let _guard = self.locks.lock(hash);
            let _change = self.coherence.begin_change();
            match self.disk.remove(hash) {
                Ok(true) => {
                    self.account_removed(hash, Some(item.len));
                    Counters::inc(&self.counters.disk_evictions);
                    evicted += 1;
                }
                Ok(false) => {
                    self.index.forget(hash);
                }
                Err(e) => {
                    log::warn!("disk budget: could not evict: {e}");
                    break;
                }
            }
        }
        evicted
    }

    /// Rebuilds the index from the directory; returns what it found.
    fn rescan(&self) -> Result<ScanResult> {
        let mut result = ScanResult::default();
        let mut items = Vec::new();
        self.disk.scan(|f| match f {
            Found::Entry { hash, len, last_use, header } => {
                result.total_bytes += len;
                result.scanned += 1;
                match header {
                    Ok(h) => items.push((hash, Item { len, last_use, expires: h.expires_ms })),
                    Err(DecodeError::NewerVersion(_)) => {}
                    Err(DecodeError::Corrupt(reason)) => result.corrupt.push((hash, reason, len)),
                }
            }
            Found::Leftover { path, pid, modified } => result.leftovers.push((path, pid, modified)),
        })?;
        self.index.replace(items);
        Ok(result)
    }

    /// The sweep. It also heals drift in the shared byte count (a process
    /// killed between its rename and its count, files deleted by hand).
    fn sweep(&self) -> Result<SweepReport> {
        if !self.config.fail_on_disk_error && self.guard.mode() != Mode::Normal {
            return Ok(SweepReport::default()); // no disk calls while degraded
        }
        let _one = self.sweeping.lock();
        let now = self.now();
        let ticket = self.coherence.scan_ticket();
        let scan = self.rescan()?;
        let mut report = SweepReport { scanned: scan.scanned, ..Default::default() };
        // The same unfinished change at two sweeps in a row: its process died mid-change.
        let stuck = ticket.change_in_flight() && self.last_ticket.lock().replace(ticket) == Some(ticket);
        if !self.coherence.reconcile(ticket, scan.total_bytes, stuck) {
            log::debug!("data folder changed during the scan; the byte count is reconciled at a later sweep");
        }
        for (path, pid, modified) in scan.leftovers {
            if self.disk.is_stale_leftover(pid, modified, now) {
                self.disk.discard(&path);
                report.leftovers_removed += 1;
                log::info!("removed abandoned temp file {}", path.display());
            }
        }
        for (hash, reason, len) in scan.corrupt {
            let before = self.counters.quarantined.load(std::sync::atomic::Ordering::Relaxed);
            self.quarantine(&self.disk.entry_path(hash), hash, &reason, len);
            if self.counters.quarantined.load(std::sync::atomic::Ordering::Relaxed) > before {
                report.quarantined += 1;
            }
        }
        for hash in self.index.expired(now) {
            if self.remove_expired_by_hash(hash, now) {
                report.expired += 1;
                Counters::inc(&self.counters.expirations);
            }
        }
        report.evicted = self.enforce_disk_limit();
        report.quarantine_deleted = self.disk.clean_quarantine(
            now,
            self.config.quarantine_retention.as_millis() as u64,
            self.config.quarantine_max_bytes,
        )?;
        Ok(report)
    }

    /// Sweep-side expiry: the key is not known until the file is read.
    fn remove_expired_by_hash(&self, hash: u128, now: u64) -> bool {
        let Ok(Some(bytes)) = self.disk.read(hash) else { return false };
        match self.disk.decode(&bytes) {
            Ok(d) if d.header.is_expired(now) => {
                let key = d.key.to_vec();
                self.remove_if_dead(&key, hash)
            }
            _ => false,
        }
    }
}

#[derive(Default)]
struct ScanResult {
    scanned: u64,
    total_bytes: u64,
    corrupt: Vec<(u128, Corruption, u64)>,
    leftovers: Vec<(std::path::PathBuf, Option<u32>, u64)>,
}

/// An iterator over the keys of live disk entries (see [`Cache::keys`]).
pub struct Keys {
    inner: Arc<Inner>,
    folders: std::vec::IntoIter<std::path::PathBuf>,
    files: std::vec::IntoIter<std::path::PathBuf>,
    memory: std::vec::IntoIter<Vec<u8>>,
}

impl Keys {
    fn new(inner: Arc<Inner>) -> Result<Self> {
        if inner.guard.mode() != Mode::Normal {
            let mut keys = inner.hot.keys();
            keys.extend(inner.replay.queued_keys());
            keys.sort();
            keys.dedup();
            let none = Vec::new().into_iter();
            return Ok(Keys { inner, folders: none, files: Vec::new().into_iter(), memory: keys.into_iter() });
        }
        let folders = inner.disk.entry_folders()?;
        Ok(Keys { inner, folders: folders.into_iter(), files: Vec::new().into_iter(), memory: Vec::new().into_iter() })
    }
}

impl Iterator for Keys {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(key) = self.memory.next() {
            return Some(Ok(key));
        }
        loop {
            if let Some(path) = self.files.next() {
                let bytes = match self.inner.disk.read_path(&path) {
                    Ok(Some(b)) => b,
                    Ok(None) => continue,
                    Err(e) => return Some(Err(e)),
                };
                let Ok(d) = self.inner.disk.decode(&bytes) else { continue };
                let name_hash =
                    path.file_name().and_then(|n| n.to_str()).and_then(|n| u128::from_str_radix(n, 16).ok());
                if name_hash != Some(format::key_hash(d.key)) || d.header.is_expired(self.inner.now()) {
                    continue;
                }
                return Some(Ok(d.key.to_vec()));
            }
            let folder = self.folders.next()?;
            match self.inner.disk.entry_files(&folder) {
                Ok(files) => self.files = files.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
