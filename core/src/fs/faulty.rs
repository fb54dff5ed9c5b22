//! A [`FileSystem`] that fails on purpose.
//!
//! [`FaultyFs`] wraps another file system and, according to the [`FaultRule`]s
//! armed on it, turns some of its calls into errors, short or torn writes, flipped
//! bits or stalls. The cache's own tests use it to prove that every disk failure
//! degrades the cache instead of breaking it, and the user-facing chaos API builds
//! on it so that users can rehearse the same failures in their own systems.
//!
//! It also simulates power loss ([`FaultyFs::crash`]): it remembers which data and
//! which directory entries were never made durable and throws them away, the way
//! LevelDB's and RocksDB's `FaultInjectionTestEnv` do, so crash-consistency of the
//! write protocol (write, sync, rename, sync the directory) can be tested without
//! pulling the plug.
//!
//! Because every cache keeps one in place in production (the chaos API), it
//! costs one relaxed atomic increment (the per-op call count) and one relaxed
//! atomic load per call while no rule is armed; with crash tracking on (tests
//! only: see [`FaultyFs::without_crash_tracking`]) operations that change the
//! namespace also take the tracking lock.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;

use super::{DirEntry, FileMeta, FileSystem};

/// One kind of [`FileSystem`] call, so that a [`FaultRule`] can say which calls it
/// targets and [`FaultyFs::calls`] can say how often each kind was made.
///
/// The fsync inside [`FileSystem::write_new`] with `sync = true` is its own kind
/// ([`FsOp::Sync`]), separate from the write ([`FsOp::Write`]), because "the data
/// reached the disk but was not made durable" is a failure the cache must handle
/// differently from "the write failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsOp {
    /// [`FileSystem::create_dir_all`].
    CreateDir,
    /// [`FileSystem::read`].
    Read,
    /// The data part of [`FileSystem::write_new`].
    Write,
    /// The fsync of [`FileSystem::write_new`] when called with `sync = true`.
    Sync,
    /// [`FileSystem::rename`] and [`FileSystem::rename_new`].
    Rename,
    /// [`FileSystem::hard_link`].
    Link,
    /// [`FileSystem::remove_file`].
    Remove,
    /// [`FileSystem::sync_dir`].
    SyncDir,
    /// [`FileSystem::read_dir`].
    ReadDir,
    /// [`FileSystem::metadata`].
    Metadata,
    /// [`FileSystem::set_accessed`].
    SetTimes,
    /// [`FileSystem::map_shared`].
    Map,
}

impl FsOp {
    /// Every kind of call, in declaration order, so callers (tests, the chaos API)
    /// can iterate over all of them without keeping their own list in sync.
    pub const ALL: [FsOp; 12] = [
        FsOp::CreateDir,
        FsOp::Read,
        FsOp::Write,
        FsOp::Sync,
        FsOp::Rename,
        FsOp::Link,
        FsOp::Remove,
        FsOp::SyncDir,
        FsOp::ReadDir,
        FsOp::Metadata,
        FsOp::SetTimes,
        FsOp::Map,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// What goes wrong when a rule fires: the failure modes real disks show, so the
/// cache can be tested against each of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Fails the call with `io::Error::from_raw_os_error(errno)` without performing
    /// it, like a disk that is full (`ENOSPC`), read-only (`EROFS`), forbidden
    /// (`EACCES`) or broken (`EIO`). Applies to every op.
    Errno(i32),
    /// Writes only the first `keep` bytes (at most the data's length) through the
    /// inner file system, then fails with `EIO`: the partial file is left behind,
    /// as after a real short write, so cleanup of half-written files gets tested.
    /// Applies to [`FsOp::Write`] only.
    ShortWrite {
        /// How many leading bytes reach the file.
        keep: usize,
    },
    /// Silently writes only the first `keep` bytes and reports success, like a
    /// lying disk or a torn page: only the cache's checksums can notice.
    /// Applies to [`FsOp::Write`] only.
    TornWrite {
        /// How many leading bytes reach the file.
        keep: usize,
    },
    /// Returns the data read with one bit flipped, like silent media corruption,
    /// so integrity checks on read get tested. With `Some(offset)` the lowest bit
    /// of byte `offset % len` is flipped; with `None` a random bit of a random
    /// byte (drawn from the [`FaultyFs`]'s seedable generator). Empty data is
    /// returned unchanged. Applies to [`FsOp::Read`] only.
    BitFlip {
        /// Which byte to corrupt (modulo the length), or `None` for a random one.
        offset: Option<usize>,
    },
    /// Sleeps this long, then performs the call normally, like a stalled disk, so
    /// timeouts and latency budgets get tested. Applies to every op.
    Delay(std::time::Duration),
}

impl Fault {
    /// Whether this fault makes sense for `op`; a rule whose fault does not is
    /// skipped for that call rather than misapplied.
    fn applies_to(&self, op: FsOp) -> bool {
        match self {
            Fault::ShortWrite { .. } | Fault::TornWrite { .. } => op == FsOp::Write,
            Fault::BitFlip { .. } => op == FsOp::Read,
            Fault::Errno(_) | Fault::Delay(_) => true,
        }
    }
}

/// When a matching rule fires, so tests can inject a single failure, a burst, a
/// random rate or a permanent outage.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Fires on the first matching call, then disarms itself.
    Once,
    /// Fires on the next `n` matching calls, then disarms itself. `Times(0)` never
    /// fires and is never armed.
    Times(u64),
    /// Fires on each matching call with this probability (clamped to 0..=1; NaN
    /// never fires) and stays armed until removed. Deterministic under
    /// [`FaultyFs::with_seed`] for a given sequence of calls.
    Probability(f64),
    /// Fires on every matching call until removed or cleared.
    Always,
}

/// One armed fault: which calls it targets, what it does and when.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The kinds of call the rule targets; empty means every kind (subject to
    /// the fault applying to it, see [`Fault`]).
    pub ops: Vec<FsOp>,
    /// What happens when the rule fires.
    pub fault: Fault,
    /// When the rule fires.
    pub trigger: Trigger,
    /// If set, only calls on a path whose text contains this fragment match, so a
    /// test can break one shard or one file and check the rest keeps working. For
    /// two-path calls (rename, hard link) either path may contain it.
    pub path_contains: Option<String>,
}

impl FaultRule {
    /// A rule targeting one kind of call, on any path.
    pub fn new(op: FsOp, fault: Fault, trigger: Trigger) -> Self {
        FaultRule { ops: vec![op], fault, trigger, path_contains: None }
    }

    /// A rule targeting every kind of call the fault applies to, on any path, for
    /// "the whole disk is broken" scenarios.
    pub fn all_ops(fault: Fault, trigger: Trigger) -> Self {
        FaultRule { ops: Vec::new(), fault, trigger, path_contains: None }
    }

    /// Restricts the rule to paths containing `fragment`, to break one part of the
    /// cache while the rest stays healthy.
    pub fn on_path(mut self, fragment: impl Into<String>) -> Self {
        self.path_contains = Some(fragment.into());
        self
    }

    fn matches(&self, op: FsOp, paths: &[&Path]) -> bool {
        if !self.ops.is_empty() && !self.ops.contains(&op) {
            return false;
        }
        if !self.fault.applies_to(op) {
            return false;
        }
        match &self.path_contains {
            None => true,
            Some(fragment) => paths.iter().any(|p| p.to_string_lossy().contains(fragment.as_str())),
        }
    }
}

/// Names an injected rule so it can be removed again with [`FaultyFs::remove`]
/// while other rules stay armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u64);

/// What [`FaultyFs::crash`] threw away, so a test can check that the crash it
/// simulated actually lost something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Files cut back to their last durable length (data written without a
    /// successful sync).
    pub truncated: usize,
    /// Directory entries deleted because their directory was not synced after
    /// they were created.
    pub removed: usize,
}

/// A rule as armed: `remaining` counts the firings left for `Once`/`Times`.
struct Armed {
    id: RuleId,
    rule: FaultRule,
    remaining: Option<u64>,
}

struct Rules {
    list: Vec<Armed>,
    next_id: u64,
    rng: fastrand::Rng,
}

/// What a call must do after the rules were consulted (delays already slept).
enum Action {
    Proceed,
    Fail(i32),
    ShortWrite(usize),
    TornWrite(usize),
    BitFlip { byte: usize, bit: u8 },
}

/// What is not durable yet, for [`FaultyFs::crash`].
#[derive(Default)]
struct Track {
    /// Files whose data was not all made durable: path -> durable length.
    unsynced: HashMap<PathBuf, u64>,
    /// Directory -> names created in it since its last successful sync.
    new_names: HashMap<PathBuf, HashSet<PathBuf>>,
}

/// The directory whose sync makes `path`'s entry durable; a bare relative name
/// lives in ".".
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Track {
    fn add_name(&mut self, path: &Path) {
        self.new_names.entry(parent_of(path)).or_default().insert(path.to_path_buf());
    }

    fn drop_name(&mut self, path: &Path) {
        let parent = parent_of(path);
        if let Some(names) = self.new_names.get_mut(&parent) {
            names.remove(path);
            if names.is_empty() {
                self.new_names.remove(&parent);
            }
        }
    }
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A [`FileSystem`] that forwards to another and injects the faults described by
/// its armed [`FaultRule`]s, and can simulate a power loss.
///
/// Every method takes `&self`, so one `Arc<FaultyFs>` can be handed to the cache
/// as its file system while a test (or the chaos API) keeps another handle to arm
/// and disarm faults as the cache runs.
pub struct FaultyFs {
    inner: Arc<dyn FileSystem>,
    /// Mirrors `rules.list.len()`; read relaxed so unarmed calls never lock.
    armed: AtomicUsize,
    fired: AtomicU64,
    calls: [AtomicU64; FsOp::ALL.len()],
    rules: Mutex<Rules>,
    /// Crash tracking; `None` for the chaos API's wrapper, which must not
    /// remember every file a long-running cache writes.
    track: Option<Mutex<Track>>,
}

impl fmt::Debug for FaultyFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyFs")
            .field("inner", &self.inner)
            .field("armed", &self.armed())
            .field("fired", &self.fired())
            .finish_non_exhaustive()
    }
}

impl FaultyFs {
    /// Wraps `inner` with no rule armed; probabilistic triggers and random bit
    /// flips draw from a randomly seeded generator.
    pub fn new(inner: Arc<dyn FileSystem>) -> Self {
        Self::with_rng(inner, fastrand::Rng::new())
    }

    /// Wraps `inner` with a generator seeded by `seed`, so that
    /// [`Trigger::Probability`] and [`Fault::BitFlip`] with no offset make the same
    /// choices for the same sequence of calls, and a failing chaos test can be
    /// replayed.
    pub fn with_seed(inner: Arc<dyn FileSystem>, seed: u64) -> Self {
        Self::with_rng(inner, fastrand::Rng::with_seed(seed))
    }

    /// Wraps `inner` for fault injection only, without crash tracking (so
    /// [`FaultyFs::crash`] is unsupported): what a cache uses for its chaos API,
    /// where remembering every unsynced file would grow without bound.
    pub fn without_crash_tracking(inner: Arc<dyn FileSystem>) -> Self {
        FaultyFs { track: None, ..Self::with_rng(inner, fastrand::Rng::new()) }
    }

    fn track(&self) -> Option<parking_lot::MutexGuard<'_, Track>> {
        self.track.as_ref().map(|t| t.lock())
    }

    fn with_rng(inner: Arc<dyn FileSystem>, rng: fastrand::Rng) -> Self {
        FaultyFs {
            inner,
            armed: AtomicUsize::new(0),
            fired: AtomicU64::new(0),
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            rules: Mutex::new(Rules { list: Vec::new(), next_id: 0, rng }),
            track: Some(Mutex::new(Track::default())),
        }
    }

    /// Arms `rule` after every rule already armed (earlier rules take precedence)
    /// and returns its id for [`FaultyFs::remove`]. A `Times(0)` rule gets an id but
    /// is never armed, since it could never fire.
    pub fn inject(&self, rule: FaultRule) -> RuleId {
        let mut rules = self.rules.lock();
        let id = RuleId(rules.next_id);
        rules.next_id += 1;
        let remaining = match rule.trigger {
            Trigger::Once => Some(1),
            Trigger::Times(0) => return id,
            Trigger::Times(n) => Some(n),
            Trigger::Probability(_) | Trigger::Always => None,
        };
        rules.list.push(Armed { id, rule, remaining });
        self.armed.store(rules.list.len(), Relaxed);
        id
    }

    /// Disarms one rule; returns whether it was still armed (a spent `Once` or
    /// `Times` rule has already disarmed itself).
    pub fn remove(&self, id: RuleId) -> bool {
        let mut rules = self.rules.lock();
        let before = rules.list.len();
        rules.list.retain(|armed| armed.id != id);
        self.armed.store(rules.list.len(), Relaxed);
        rules.list.len() != before
    }

    /// Disarms every rule, to let the disk "recover" and check the cache heals.
    pub fn clear(&self) {
        let mut rules = self.rules.lock();
        rules.list.clear();
        self.armed.store(0, Relaxed);
    }

    /// How many rules are still armed, so a test can check its faults were used up.
    pub fn armed(&self) -> usize {
        self.armed.load(Relaxed)
    }

    /// How many faults were injected so far (delays included), so a test can check
    /// the failure it set up actually happened.
    pub fn fired(&self) -> u64 {
        self.fired.load(Relaxed)
    }

    /// How many calls of kind `op` were made so far, faulty or not, so a test can
    /// check how the cache used the disk (for example that a hit did not read it).
    pub fn calls(&self, op: FsOp) -> u64 {
        self.calls[op.index()].load(Relaxed)
    }

    /// Simulates a power loss: every file whose data was written without a
    /// successful sync is cut back to its last durable length, then every name
    /// created (by `write_new`, `rename` or `hard_link`) in a directory that was
    /// not successfully synced since is deleted; then all tracking starts afresh.
    ///
    /// This models "unsynced data and unsynced directory entries are lost", the
    /// worst outcome a POSIX file system allows, which is what a write protocol
    /// must survive. It is a model, not an emulation: a name removed or renamed
    /// away without a directory sync stays gone, a renamed directory is never
    /// deleted, and the file system's own behaviour is not reproduced. It acts on
    /// the real paths with `std::fs`, so it assumes the inner file system is the
    /// real disk. Tracked files or names that no longer exist are skipped. If an
    /// operation fails, the rest is still done, tracking is still reset, and the
    /// first error is returned.
    pub fn crash(&self) -> io::Result<CrashReport> {
        let Some(mut track) = self.track() else {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "this FaultyFs does not track writes for crash()"));
        };
        let mut report = CrashReport::default();
        let mut first_err = None;
        // Hard links share a record's inode: the second truncation finds the file
        // already short and does not count again.
        for (path, &durable) in &track.unsynced {
            match truncate_to(path, durable) {
                Ok(true) => report.truncated += 1,
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        for path in track.new_names.values().flatten() {
            match remove_if_file(path) {
                Ok(true) => report.removed += 1,
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        *track = Track::default();
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Counts the call and consults the rules; sleeps for a delay outside any lock.
    fn check(&self, op: FsOp, paths: &[&Path]) -> Action {
        self.calls[op.index()].fetch_add(1, Relaxed);
        if self.armed.load(Relaxed) == 0 {
            return Action::Proceed;
        }
        match self.pick(op, paths) {
            None => Action::Proceed,
            Some(Ok(action)) => action,
            Some(Err(delay)) => {
                std::thread::sleep(delay);
                Action::Proceed
            }
        }
    }

    /// Finds the first armed rule that matches and fires, spends one of its
    /// firings, and resolves its fault (an `Err` is a delay to sleep).
    fn pick(&self, op: FsOp, paths: &[&Path]) -> Option<Result<Action, std::time::Duration>> {
        let mut guard = self.rules.lock();
        let rules = &mut *guard;
        let index = rules.list.iter().position(|armed| {
            armed.rule.matches(op, paths)
                && match armed.rule.trigger {
                    Trigger::Probability(p) => rules.rng.f64() < p,
                    _ => true,
                }
        })?;
        let armed = &mut rules.list[index];
        let result = match armed.rule.fault {
            Fault::Errno(code) => Ok(Action::Fail(code)),
            Fault::ShortWrite { keep } => Ok(Action::ShortWrite(keep)),
            Fault::TornWrite { keep } => Ok(Action::TornWrite(keep)),
            Fault::BitFlip { offset: Some(byte) } => Ok(Action::BitFlip { byte, bit: 0 }),
            Fault::BitFlip { offset: None } => {
                Ok(Action::BitFlip { byte: rules.rng.usize(..), bit: rules.rng.u8(0..8) })
            }
            Fault::Delay(delay) => Err(delay),
        };
        if let Some(remaining) = &mut armed.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                rules.list.remove(index);
                self.armed.store(rules.list.len(), Relaxed);
            }
        }
        self.fired.fetch_add(1, Relaxed);
        Some(result)
    }

    /// A read through `read`, with Read faults applied (errno or a flipped bit).
    fn faulty_read(&self, path: &Path, read: impl FnOnce() -> io::Result<Vec<u8>>) -> io::Result<Vec<u8>> {
        match self.check(FsOp::Read, &[path]) {
            Action::Fail(code) => Err(errno(code)),
            Action::BitFlip { byte, bit } => {
                let mut data = read()?;
                if !data.is_empty() {
                    let at = byte % data.len();
                    data[at] ^= 1 << bit;
                }
                Ok(data)
            }
            Action::Proceed | Action::ShortWrite(_) | Action::TornWrite(_) => read(),
        }
    }

    /// For calls whose only possible fault is an error.
    fn gate(&self, op: FsOp, paths: &[&Path]) -> io::Result<()> {
        match self.check(op, paths) {
            Action::Fail(code) => Err(errno(code)),
            _ => Ok(()),
        }
    }

    /// Tracks a rename for the crash model: `to` now names `from`'s inode,
    /// durable or not; the old `to` is gone.
    fn record_rename(&self, from: &Path, to: &Path) {
        let Some(mut track) = self.track() else { return };
        match track.unsynced.remove(from) {
            Some(durable) => track.unsynced.insert(to.to_path_buf(), durable),
            None => track.unsynced.remove(to),
        };
        track.drop_name(from);
        track.add_name(to);
    }

    /// Records a `write_new` for crash simulation: `durable` when the data was
    /// synced successfully. A failed write is recorded only if it left a file.
    fn record_write(&self, path: &Path, durable: bool, result: &io::Result<()>) {
        let created = match result {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(_) => self.inner.metadata(path).is_ok(),
        };
        if !created {
            return;
        }
        let Some(mut track) = self.track() else { return };
        if durable && result.is_ok() {
            track.unsynced.remove(path);
        } else {
            track.unsynced.insert(path.to_path_buf(), 0);
        }
        track.add_name(path);
    }

    /// Writes without sync and records the file as not durable.
    fn write_unsynced(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let result = self.inner.write_new(path, data, false);
        self.record_write(path, false, &result);
        result
    }
}

/// Cuts `path` to `len` if it is a longer regular file; returns whether it did.
fn truncate_to(path: &Path, len: u64) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() > len => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    OpenOptions::new().write(true).open(path)?.set_len(len)?;
    Ok(true)
}

/// Deletes `path` if it is a file (or symlink); returns whether it did.
fn remove_if_file(path: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

impl FileSystem for FaultyFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.gate(FsOp::CreateDir, &[path])?;
        self.inner.create_dir_all(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.faulty_read(path, || self.inner.read(path))
    }

    fn read_head(&self, path: &Path, max_len: usize) -> io::Result<Vec<u8>> {
        self.faulty_read(path, || self.inner.read_head(path, max_len))
    }

    fn write_new(&self, path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
        let mut data = data;
        match self.check(FsOp::Write, &[path]) {
            Action::Fail(code) => return Err(errno(code)),
            Action::ShortWrite(keep) => {
                self.write_unsynced(path, &data[..keep.min(data.len())])?;
                return Err(errno(libc::EIO));
            }
            Action::TornWrite(keep) => data = &data[..keep.min(data.len())],
            Action::Proceed | Action::BitFlip { .. } => {}
        }
        if sync && let Action::Fail(code) = self.check(FsOp::Sync, &[path]) {
            // The data reaches the file but the fsync "fails": not durable.
            self.write_unsynced(path, data)?;
            return Err(errno(code));
        }
        let result = self.inner.write_new(path, data, sync);
        self.record_write(path, sync, &result);
        result
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.gate(FsOp::Rename, &[from, to])?;
        self.inner.rename(from, to)?;
        self.record_rename(from, to);
        Ok(())
    }

    fn rename_new(&self, from: &Path, to: &Path) -> io::Result<bool> {
        self.gate(FsOp::Rename, &[from, to])?;
        let renamed = self.inner.rename_new(from, to)?;
        if renamed {
            self.record_rename(from, to);
        }
        Ok(renamed)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.gate(FsOp::Link, &[from, to])?;
        self.inner.hard_link(from, to)?;
        let Some(mut track) = self.track() else { return Ok(()) };
        // Same inode: if `from`'s data is not durable, neither is `to`'s, even after
        // `from` is removed.
        if let Some(&durable) = track.unsynced.get(from) {
            track.unsynced.insert(to.to_path_buf(), durable);
        }
        track.add_name(to);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.gate(FsOp::Remove, &[path])?;
        self.inner.remove_file(path)?;
        let Some(mut track) = self.track() else { return Ok(()) };
        track.unsynced.remove(path);
        track.drop_name(path);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.gate(FsOp::SyncDir, &[path])?;
        self.inner.sync_dir(path)?;
        if let Some(mut track) = self.track() {
            track.new_names.remove(path);
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.gate(FsOp::ReadDir, &[path])?;
        self.inner.read_dir(path)
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        self.gate(FsOp::Metadata, &[path])?;
        self.inner.metadata(path)
    }

    fn set_accessed(&self, path: &Path, at_ms: u64) -> io::Result<()> {
        self.gate(FsOp::SetTimes, &[path])?;
        self.inner.set_accessed(path, at_ms)
    }

    fn map_shared(&self, path: &Path, len: u64) -> io::Result<memmap2::MmapMut> {
        self.gate(FsOp::Map, &[path])?;
        self.inner.map_shared(path, len)
    }
}

#[cfg(test)]
mod tests {
    use super::super::StdFs;
    use super::*;
    use std::time::{Duration, Instant};

    fn faulty() -> (tempfile::TempDir, FaultyFs) {
        let dir = tempfile::tempdir().unwrap();
        (dir, FaultyFs::with_seed(Arc::new(StdFs), 7))
    }

    fn os_err(result: io::Result<impl fmt::Debug>) -> i32 {
        result.unwrap_err().raw_os_error().expect("an OS error code")
    }

    #[test]
    fn all_lists_every_op_at_its_index() {
        for (i, op) in FsOp::ALL.iter().enumerate() {
            assert_eq!(op.index(), i);
        }
        let distinct: HashSet<FsOp> = FsOp::ALL.into_iter().collect();
        assert_eq!(distinct.len(), 12);
    }

    #[test]
    fn passes_through_when_unarmed() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        fs.write_new(&p, b"hello", true).unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"hello");
        assert_eq!(fs.metadata(&p).unwrap().len, 5);
        assert_eq!(fs.fired(), 0);
        assert!(format!("{fs:?}").contains("FaultyFs"));
    }

    #[test]
    fn errno_fails_without_performing_the_call() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        fs.inject(FaultRule::new(FsOp::Write, Fault::Errno(libc::ENOSPC), Trigger::Once));
        assert_eq!(os_err(fs.write_new(&p, b"data", false)), libc::ENOSPC);
        assert!(!p.exists(), "a failed write must not create the file");
        fs.write_new(&p, b"data", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
    }

    #[test]
    fn short_write_leaves_prefix_and_fails_with_eio() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        fs.inject(FaultRule::new(FsOp::Write, Fault::ShortWrite { keep: 3 }, Trigger::Once));
        assert_eq!(os_err(fs.write_new(&p, b"abcdef", true)), libc::EIO);
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        // keep larger than the data writes it all, and still fails.
        let q = dir.path().join("b");
        fs.inject(FaultRule::new(FsOp::Write, Fault::ShortWrite { keep: 100 }, Trigger::Once));
        assert_eq!(os_err(fs.write_new(&q, b"xy", false)), libc::EIO);
        assert_eq!(std::fs::read(&q).unwrap(), b"xy");
    }

    #[test]
    fn torn_write_reports_success_with_prefix() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        fs.inject(FaultRule::new(FsOp::Write, Fault::TornWrite { keep: 2 }, Trigger::Once));
        fs.write_new(&p, b"abcdef", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"ab");
        assert_eq!(fs.fired(), 1);
    }

    fn differing_bits(a: &[u8], b: &[u8]) -> Vec<(usize, u8)> {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y).map(|(i, (x, y))| (i, x ^ y)).collect()
    }

    #[test]
    fn bit_flip_at_offset_flips_one_bit() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        let data = vec![0u8; 10];
        std::fs::write(&p, &data).unwrap();
        fs.inject(FaultRule::new(FsOp::Read, Fault::BitFlip { offset: Some(13) }, Trigger::Once));
        let got = fs.read(&p).unwrap();
        assert_eq!(differing_bits(&data, &got), vec![(3, 1)]);
        assert_eq!(fs.read(&p).unwrap(), data, "Once must not flip twice");
        assert_eq!(std::fs::read(&p).unwrap(), data, "the file itself is intact");
    }

    #[test]
    fn random_bit_flip_flips_exactly_one_bit_and_spares_empty_data() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        let data: Vec<u8> = (0..64).collect();
        std::fs::write(&p, &data).unwrap();
        fs.inject(FaultRule::new(FsOp::Read, Fault::BitFlip { offset: None }, Trigger::Always));
        for _ in 0..20 {
            let got = fs.read(&p).unwrap();
            let diff = differing_bits(&data, &got);
            assert_eq!(diff.len(), 1);
            assert_eq!(diff[0].1.count_ones(), 1);
        }
        let e = dir.path().join("empty");
        std::fs::write(&e, b"").unwrap();
        assert_eq!(fs.read(&e).unwrap(), b"");
    }

    #[test]
    fn delay_stalls_then_performs_the_call() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        std::fs::write(&p, b"x").unwrap();
        fs.inject(FaultRule::new(FsOp::Read, Fault::Delay(Duration::from_millis(60)), Trigger::Once));
        let start = Instant::now();
        assert_eq!(fs.read(&p).unwrap(), b"x");
        assert!(start.elapsed() >= Duration::from_millis(60));
        assert_eq!(fs.fired(), 1);
        assert_eq!(fs.armed(), 0, "a Once delay stalls one call only");
        fs.read(&p).unwrap();
        assert_eq!(fs.fired(), 1);
    }

    #[test]
    fn sync_fault_writes_data_but_fails_and_leaves_it_undurable() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        fs.inject(FaultRule::new(FsOp::Sync, Fault::Errno(libc::EIO), Trigger::Always));
        // Without sync the Sync rule is not consulted.
        let q = dir.path().join("b");
        fs.write_new(&q, b"unsynced", false).unwrap();
        assert_eq!(fs.fired(), 0);
        assert_eq!(fs.calls(FsOp::Sync), 0);

        assert_eq!(os_err(fs.write_new(&p, b"payload", true)), libc::EIO);
        assert_eq!(std::fs::read(&p).unwrap(), b"payload");
        assert_eq!(fs.calls(FsOp::Sync), 1);
        fs.clear();
        fs.sync_dir(dir.path()).unwrap();
        let report = fs.crash().unwrap();
        assert_eq!(report, CrashReport { truncated: 2, removed: 0 });
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        assert_eq!(std::fs::read(&q).unwrap(), b"");
    }

    #[test]
    fn sync_dir_fault_keeps_entries_undurable() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        fs.write_new(&p, b"durable data", true).unwrap();
        fs.inject(FaultRule::new(FsOp::SyncDir, Fault::Errno(libc::EIO), Trigger::Once));
        assert_eq!(os_err(fs.sync_dir(dir.path())), libc::EIO);
        let report = fs.crash().unwrap();
        assert_eq!(report, CrashReport { truncated: 0, removed: 1 });
        assert!(!p.exists());
    }

    #[test]
    fn once_times_always_and_clear() {
        let (dir, fs) = faulty();
        let d = dir.path();
        let once = fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EACCES), Trigger::Once));
        assert_eq!(fs.armed(), 1);
        assert_eq!(os_err(fs.metadata(d)), libc::EACCES);
        assert!(fs.metadata(d).is_ok());
        assert_eq!(fs.armed(), 0);
        assert!(!fs.remove(once), "a spent rule is no longer armed");

        fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EIO), Trigger::Times(3)));
        for _ in 0..3 {
            assert_eq!(os_err(fs.metadata(d)), libc::EIO);
        }
        assert!(fs.metadata(d).is_ok());
        assert_eq!(fs.armed(), 0);

        fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EROFS), Trigger::Times(0)));
        assert_eq!(fs.armed(), 0);
        assert!(fs.metadata(d).is_ok());

        fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EROFS), Trigger::Always));
        fs.inject(FaultRule::new(FsOp::ReadDir, Fault::Errno(libc::EROFS), Trigger::Always));
        for _ in 0..10 {
            assert_eq!(os_err(fs.metadata(d)), libc::EROFS);
        }
        assert_eq!(fs.armed(), 2);
        fs.clear();
        assert_eq!(fs.armed(), 0);
        assert!(fs.metadata(d).is_ok());
        assert!(fs.read_dir(d).is_ok());
        assert_eq!(fs.fired(), 1 + 3 + 10);
    }

    #[test]
    fn remove_disarms_one_rule_and_first_rule_wins() {
        let (dir, fs) = faulty();
        let d = dir.path();
        let first = fs.inject(FaultRule::new(FsOp::ReadDir, Fault::Errno(libc::EIO), Trigger::Always));
        let second = fs.inject(FaultRule::new(FsOp::ReadDir, Fault::Errno(libc::ENOSPC), Trigger::Always));
        assert_ne!(first, second);
        assert_eq!(os_err(fs.read_dir(d)), libc::EIO);
        assert!(fs.remove(first));
        assert!(!fs.remove(first));
        assert_eq!(fs.armed(), 1);
        assert_eq!(os_err(fs.read_dir(d)), libc::ENOSPC);
        assert!(fs.remove(second));
        assert!(fs.read_dir(d).is_ok());
    }

    #[test]
    fn path_filter_limits_the_rule() {
        let (dir, fs) = faulty();
        let good = dir.path().join("good");
        let bad = dir.path().join("shard-7");
        fs.inject(FaultRule::all_ops(Fault::Errno(libc::EIO), Trigger::Always).on_path("shard-7"));
        fs.write_new(&good, b"ok", false).unwrap();
        assert_eq!(os_err(fs.write_new(&bad, b"no", false)), libc::EIO);
        assert_eq!(fs.read(&good).unwrap(), b"ok");
        assert_eq!(os_err(fs.create_dir_all(&bad)), libc::EIO);
        // Either path of a rename matches.
        assert_eq!(os_err(fs.rename(&good, &bad)), libc::EIO);
        assert!(good.exists());
        assert_eq!(os_err(fs.hard_link(&good, &bad)), libc::EIO);
        assert!(!bad.exists());
        fs.rename(&good, &dir.path().join("other")).unwrap();
    }

    #[test]
    fn fault_not_applying_to_op_is_skipped() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        std::fs::write(&p, b"abc").unwrap();
        // A write-only fault on every op leaves reads alone and stays armed.
        fs.inject(FaultRule::all_ops(Fault::ShortWrite { keep: 1 }, Trigger::Once));
        assert_eq!(fs.read(&p).unwrap(), b"abc");
        assert_eq!(fs.armed(), 1);
        // A read rule does not affect writes.
        fs.clear();
        fs.inject(FaultRule::new(FsOp::Read, Fault::Errno(libc::EIO), Trigger::Always));
        let q = dir.path().join("b");
        fs.write_new(&q, b"written", true).unwrap();
        assert_eq!(std::fs::read(&q).unwrap(), b"written");
        assert_eq!(fs.fired(), 0);
        assert_eq!(os_err(fs.read(&q)), libc::EIO);
        assert_eq!(fs.fired(), 1);
    }

    fn probability_pattern(seed: u64) -> Vec<bool> {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFs::with_seed(Arc::new(StdFs), seed);
        fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EIO), Trigger::Probability(0.5)));
        (0..128).map(|_| fs.metadata(dir.path()).is_err()).collect()
    }

    #[test]
    fn probability_is_deterministic_per_seed() {
        let a = probability_pattern(42);
        assert_eq!(a, probability_pattern(42));
        let failures = a.iter().filter(|&&x| x).count();
        assert!((20..=108).contains(&failures), "{failures} of 128 at p=0.5");
        assert_ne!(a, probability_pattern(43));
    }

    #[test]
    fn probability_extremes() {
        let (dir, fs) = faulty();
        fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EIO), Trigger::Probability(0.0)));
        for _ in 0..50 {
            assert!(fs.metadata(dir.path()).is_ok());
        }
        fs.clear();
        fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EIO), Trigger::Probability(1.0)));
        for _ in 0..50 {
            assert!(fs.metadata(dir.path()).is_err());
        }
        assert_eq!(fs.armed(), 1);
    }

    #[test]
    fn seeded_random_bit_flip_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, vec![0u8; 256]).unwrap();
        let flips = |seed| {
            let fs = FaultyFs::with_seed(Arc::new(StdFs), seed);
            fs.inject(FaultRule::new(FsOp::Read, Fault::BitFlip { offset: None }, Trigger::Always));
            (0..8).map(|_| fs.read(&p).unwrap()).collect::<Vec<_>>()
        };
        let first = flips(1);
        assert_eq!(first, flips(1));
        let positions: HashSet<usize> = first.iter().map(|data| data.iter().position(|&b| b != 0).unwrap()).collect();
        assert!(positions.len() > 1, "random flips should not all hit one byte");
    }

    #[test]
    fn map_and_other_ops_can_fail() {
        let (dir, fs) = faulty();
        let p = dir.path().join("map");
        fs.inject(FaultRule::new(FsOp::Map, Fault::Errno(libc::ENOMEM), Trigger::Once));
        assert_eq!(os_err(fs.map_shared(&p, 4096)), libc::ENOMEM);
        assert!(!p.exists());
        assert_eq!(fs.map_shared(&p, 4096).unwrap().len(), 4096);
        fs.inject(FaultRule::new(FsOp::SetTimes, Fault::Errno(libc::EPERM), Trigger::Once));
        assert_eq!(os_err(fs.set_accessed(&p, 1_000)), libc::EPERM);
        fs.set_accessed(&p, 1_000).unwrap();
        fs.inject(FaultRule::new(FsOp::Remove, Fault::Errno(libc::EBUSY), Trigger::Once));
        assert_eq!(os_err(fs.remove_file(&p)), libc::EBUSY);
        assert!(p.exists());
        fs.remove_file(&p).unwrap();
        assert!(!p.exists());
    }

    #[test]
    fn calls_and_fired_are_counted() {
        let (dir, fs) = faulty();
        let p = dir.path().join("a");
        let tmp = dir.path().join("a.tmp");
        fs.write_new(&tmp, b"1", true).unwrap();
        fs.rename(&tmp, &p).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        fs.inject(FaultRule::new(FsOp::Read, Fault::Errno(libc::EIO), Trigger::Times(2)));
        for _ in 0..5 {
            let _ = fs.read(&p);
        }
        assert_eq!(fs.calls(FsOp::Write), 1);
        assert_eq!(fs.calls(FsOp::Sync), 1);
        assert_eq!(fs.calls(FsOp::Rename), 1);
        assert_eq!(fs.calls(FsOp::SyncDir), 1);
        assert_eq!(fs.calls(FsOp::Read), 5);
        assert_eq!(fs.calls(FsOp::Map), 0);
        assert_eq!(fs.fired(), 2);
    }

    #[test]
    fn crash_drops_unsynced_and_keeps_durable() {
        let (dir, fs) = faulty();
        let d = dir.path();
        // The durable protocol: write+sync a temp file, rename it in, sync the dir.
        let tmp = d.join("durable.tmp");
        let durable = d.join("durable");
        fs.write_new(&tmp, b"keep me", true).unwrap();
        fs.rename(&tmp, &durable).unwrap();
        fs.sync_dir(d).unwrap();
        // An unsynced file in an unsynced directory entry.
        let lost = d.join("lost");
        fs.write_new(&lost, b"gone", false).unwrap();

        let report = fs.crash().unwrap();
        assert_eq!(report, CrashReport { truncated: 1, removed: 1 });
        assert_eq!(std::fs::read(&durable).unwrap(), b"keep me");
        assert!(!lost.exists());
        assert!(!tmp.exists());
        // Tracking starts afresh.
        assert_eq!(fs.crash().unwrap(), CrashReport::default());
    }

    #[test]
    fn crash_follows_renames_links_and_removals() {
        let (dir, fs) = faulty();
        let d = dir.path();
        let sub = d.join("sub");
        fs.create_dir_all(&sub).unwrap();
        // Unsynced data renamed into place: the dir is synced, the data is not.
        let tmp = sub.join("x.tmp");
        let x = sub.join("x");
        fs.write_new(&tmp, b"data", false).unwrap();
        fs.rename(&tmp, &x).unwrap();
        // Unsynced data linked into place and the original removed.
        let tmp2 = sub.join("y.tmp");
        let y = sub.join("y");
        fs.write_new(&tmp2, b"more", false).unwrap();
        fs.hard_link(&tmp2, &y).unwrap();
        fs.remove_file(&tmp2).unwrap();
        fs.sync_dir(&sub).unwrap();
        // Synced data whose name only lives in the unsynced directory.
        let z = d.join("z");
        fs.write_new(&z, b"z", true).unwrap();
        // Removed before the crash: nothing to do.
        let w = d.join("w");
        fs.write_new(&w, b"w", false).unwrap();
        fs.remove_file(&w).unwrap();

        let report = fs.crash().unwrap();
        assert_eq!(report, CrashReport { truncated: 2, removed: 1 });
        assert_eq!(std::fs::read(&x).unwrap(), b"");
        assert_eq!(std::fs::read(&y).unwrap(), b"");
        assert!(!z.exists());
        assert!(sub.is_dir());
    }

    #[test]
    fn shared_between_threads() {
        let (dir, fs) = faulty();
        let fs = Arc::new(fs);
        let as_dyn: Arc<dyn FileSystem> = fs.clone();
        fs.inject(FaultRule::new(FsOp::Metadata, Fault::Errno(libc::EIO), Trigger::Times(10)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let fs = as_dyn.clone();
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || (0..25).filter(|_| fs.metadata(&path).is_err()).count())
            })
            .collect();
        let failures: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(failures, 10);
        assert_eq!(fs.fired(), 10);
        assert_eq!(fs.calls(FsOp::Metadata), 100);
        assert_eq!(fs.armed(), 0);
    }
}
