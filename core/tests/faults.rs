//! Every file-system call the public operations make, failed in turn through
//! the fault-injecting file system ([`FaultyFs`]): no panic, no wrong value, the
//! error classified by its errno, and the cache still usable and consistent once
//! the disk recovers. Also short, torn and unsynced writes, flipped bits,
//! stalls, and a simulated power loss.
//!
//! To fail exactly the k-th call of a kind (not the first k), two rules are
//! armed on that kind: first a zero `Fault::Delay` with `Trigger::Times(k - 1)`,
//! which lets the first k-1 calls through untouched (the first matching rule
//! wins), then the fault with `Trigger::Once`, which takes the k-th.

use std::collections::BTreeSet;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sturdycache::clock::ManualClock;
use sturdycache::fs::{Fault, FaultRule, FaultyFs, FsOp, StdFs, Trigger};
use sturdycache::{Cache, Config, DiskErrorKind, Durability, Error, SetOptions, SweepReport, Ttl, format};

// libc is not a dev-dependency; these are the Linux (and macOS) numbers, checked
// against the standard library's classification in `errno_constants_are_the_platform_ones`.
const EIO: i32 = 5;
const EACCES: i32 = 13;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;

/// Each injected errno and the kind the cache must report for it.
const ERRNOS: [(i32, DiskErrorKind); 4] = [
    (EIO, DiskErrorKind::Io),
    (ENOSPC, DiskErrorKind::NoSpace),
    (EROFS, DiskErrorKind::ReadOnly),
    (EACCES, DiskErrorKind::PermissionDenied),
];

const K: &[u8] = b"k";
const OLD: &[u8] = b"the old value of k";
const NEW: &[u8] = b"the new value of k, longer than the old one";
const K2: &[u8] = b"k2";
const K3: &[u8] = b"k3";
const N: &[u8] = b"n";
const ADDED: &[u8] = b"added value of n";

/// K2's value: above the compression threshold, so reads exercise the codec.
fn k2_value() -> Vec<u8> {
    (0..8192u32).map(|i| b"compressible "[(i % 13) as usize]).collect()
}

/// The fresh state every case starts from: key, value, tag.
fn seeded() -> Vec<(&'static [u8], Vec<u8>, &'static str)> {
    vec![(K, OLD.to_vec(), "t"), (K2, k2_value(), "t"), (K3, b"third".to_vec(), "u")]
}

/// The expiry `touch` sets in the matrix.
const TOUCH_TTL: Duration = Duration::from_secs(10);

/// A fresh cache (hot tier off, so every read goes to disk) on a `FaultyFs`,
/// seeded with [`seeded`] and with the clock moved past the access-time
/// granularity so that reads also refresh the on-disk recency mark.
struct Harness {
    dir: tempfile::TempDir,
    fs: Arc<FaultyFs>,
    clock: ManualClock,
    cache: Cache,
}

/// A scratch directory, in memory where the platform has a tmpfs: the faults
/// are simulated by `FaultyFs`, so real fsyncs would only slow the hundreds of
/// fresh caches down.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn open(dir: &Path, fs: &Arc<FaultyFs>, clock: &ManualClock, durability: Durability) -> Cache {
    let mut config = Config::new(dir);
    config.memory_limit = 0;
    config.durability = durability;
    config.sweep_interval = None;
    config.fail_on_disk_error = true; // this file tests the engine: every disk error must surface, classified
    config.fs = fs.clone();
    config.clock = Arc::new(clock.clone());
    let cache = Cache::open(config).unwrap();
    cache.wait_ready();
    cache
}

impl Harness {
    fn new(durability: Durability) -> Self {
        let dir = scratch_dir();
        let fs = Arc::new(FaultyFs::with_seed(Arc::new(StdFs), 1));
        let clock = ManualClock::starting_now();
        let cache = open(dir.path(), &fs, &clock, durability);
        for (key, value, tag) in seeded() {
            cache.set_with(key, &value, SetOptions::default().with_tag(tag)).unwrap();
        }
        clock.advance(Duration::from_secs(120));
        Harness { dir, fs, clock, cache }
    }

    /// Fails exactly the `k`-th (1-based) call of kind `op` from now on with `fault`.
    fn arm_nth(&self, op: FsOp, k: u64, fault: Fault) {
        if k > 1 {
            self.fs.inject(FaultRule::new(op, Fault::Delay(Duration::ZERO), Trigger::Times(k - 1)));
        }
        self.fs.inject(FaultRule::new(op, fault, Trigger::Once));
    }

    fn get(&self, key: &[u8], case: &str) -> Option<Vec<u8>> {
        match self.cache.get(key) {
            Ok(v) => v.map(|v| v.to_vec()),
            Err(e) => panic!("{case}: get({}) failed with no fault armed: {e}", show(key)),
        }
    }

    /// Asserts `key`'s value is one of `allowed`.
    fn expect_one_of(&self, key: &[u8], allowed: &[Option<&[u8]>], case: &str) {
        let got = self.get(key, case);
        assert!(
            allowed.contains(&got.as_deref()),
            "{case}: {} holds {:?}, expected one of {:?}",
            show(key),
            got.as_deref().map(show),
            allowed.iter().map(|a| a.map(show)).collect::<Vec<_>>()
        );
    }

    /// Asserts every seeded key but those in `except` still has its value.
    fn expect_intact(&self, except: &[&[u8]], case: &str) {
        for (key, value, _) in seeded() {
            if !except.contains(&key) {
                self.expect_one_of(key, &[Some(&value)], case);
            }
        }
    }

    fn entry_path(&self, key: &[u8]) -> PathBuf {
        let hash = format::key_hash(key);
        self.dir.path().join("data").join(format!("{:02x}", (hash >> 120) as u8)).join(format!("{hash:032x}"))
    }

    fn quarantined_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.dir.path().join("quarantine")) {
            Ok(list) => list.map(|e| e.unwrap().path()).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("{e}"),
        }
    }

    /// Temp files left in `key`'s folder.
    fn temp_files_near(&self, key: &[u8]) -> Vec<String> {
        let folder = self.entry_path(key).parent().unwrap().to_path_buf();
        std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".tmp-"))
            .collect()
    }
}

fn show(bytes: &[u8]) -> String {
    if bytes.len() > 40 {
        format!("{}... ({} bytes)", String::from_utf8_lossy(&bytes[..40]), bytes.len())
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

fn calls(fs: &FaultyFs) -> [u64; FsOp::ALL.len()] {
    FsOp::ALL.map(|op| fs.calls(op))
}

/// The operations of the matrix, each on the seeded state.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// get(K): a warm hit.
    Get,
    Contains,
    /// set(K, NEW) over OLD.
    Set,
    /// add(N): N is absent.
    AddAbsent,
    /// add(K): K is present.
    AddPresent,
    Delete,
    /// touch(K, TOUCH_TTL).
    Touch,
    Pop,
    /// evict_tag("t"): K and K2.
    EvictTag,
    Clear,
    Keys,
    Sweep,
}

#[derive(Debug, PartialEq)]
enum Answer {
    Value(Option<Vec<u8>>),
    Flag(bool),
    Count(u64),
    Keys(BTreeSet<Vec<u8>>),
    Swept(SweepReport),
    Done,
}

fn perform(op: Op, cache: &Cache) -> Result<Answer, Error> {
    Ok(match op {
        Op::Get => Answer::Value(cache.get(K)?.map(|v| v.to_vec())),
        Op::Contains => Answer::Flag(cache.contains(K)?),
        Op::Set => {
            cache.set_with(K, NEW, SetOptions::default().with_tag("t"))?;
            Answer::Done
        }
        Op::AddAbsent => Answer::Flag(cache.add(N, ADDED, SetOptions::default())?),
        Op::AddPresent => Answer::Flag(cache.add(K, NEW, SetOptions::default())?),
        Op::Delete => Answer::Flag(cache.delete(K)?),
        Op::Touch => Answer::Flag(cache.touch(K, Ttl::After(TOUCH_TTL))?),
        Op::Pop => Answer::Value(cache.pop(K)?.map(|v| v.to_vec())),
        Op::EvictTag => Answer::Count(cache.evict_tag("t")?),
        Op::Clear => Answer::Count(cache.clear()?),
        Op::Keys => Answer::Keys(cache.keys()?.collect::<Result<_, _>>()?),
        Op::Sweep => Answer::Swept(cache.sweep()?),
    })
}

/// The only correct answer of a successful `op` on the seeded state.
fn correct_answer(op: Op) -> Answer {
    match op {
        Op::Get | Op::Pop => Answer::Value(Some(OLD.to_vec())),
        Op::Contains | Op::AddAbsent | Op::Delete | Op::Touch => Answer::Flag(true),
        Op::AddPresent => Answer::Flag(false),
        Op::Set => Answer::Done,
        Op::EvictTag => Answer::Count(2),
        Op::Clear => Answer::Count(3),
        Op::Keys => Answer::Keys([K, K2, K3].map(<[u8]>::to_vec).into()),
        Op::Sweep => Answer::Swept(SweepReport { scanned: 3, ..Default::default() }),
    }
}

/// Runs `op` on `h`, catching a panic so the failure names the case.
fn perform_caught(op: Op, h: &Harness, case: &str) -> Result<Answer, Error> {
    catch_unwind(AssertUnwindSafe(|| perform(op, &h.cache))).unwrap_or_else(|_| panic!("{case}: the cache panicked"))
}

/// Checks the outcome of `op` and the state it left, with the disk healthy
/// again. `fault` is the kind of the fault that was injected, if any.
fn check(op: Op, h: &Harness, outcome: Result<Answer, Error>, fault: Option<DiskErrorKind>, case: &str) {
    let failed = match outcome {
        Err(e) => {
            let Some(expected) = fault else { panic!("{case}: failed with no fault injected: {e}") };
            match &e {
                Error::Disk { kind, .. } => assert_eq!(*kind, expected, "{case}: misclassified: {e}"),
                other => panic!("{case}: expected Error::Disk({expected}), got {other:?}"),
            }
            true
        }
        Ok(answer) => {
            let correct = correct_answer(op);
            assert!(answer == correct, "{case}: answered {answer:?}, the correct answer is {correct:?}");
            false
        }
    };
    let k2 = k2_value();
    let either = |a: &'static [u8]| if failed { vec![None, Some(a)] } else { vec![None] };
    match op {
        Op::Get | Op::Contains | Op::AddPresent | Op::Keys | Op::Sweep => h.expect_intact(&[], case),
        Op::Set => {
            let allowed: &[Option<&[u8]>] = if failed { &[Some(OLD), Some(NEW)] } else { &[Some(NEW)] };
            h.expect_one_of(K, allowed, case);
            h.expect_intact(&[K], case);
        }
        Op::AddAbsent => {
            let allowed: &[Option<&[u8]>] = if failed { &[None, Some(ADDED)] } else { &[Some(ADDED)] };
            h.expect_one_of(N, allowed, case);
            h.expect_intact(&[], case);
        }
        Op::Delete | Op::Pop => {
            h.expect_one_of(K, &either(OLD), case);
            h.expect_intact(&[K], case);
        }
        Op::Touch => {
            // The value never changes; the expiry is the new one if touch succeeded.
            h.expect_intact(&[], case);
            h.clock.advance(TOUCH_TTL + Duration::from_secs(1));
            h.expect_one_of(K, &either(OLD), case);
            h.expect_intact(&[K], case);
        }
        Op::EvictTag => {
            h.expect_one_of(K, &either(OLD), case);
            let allowed: &[Option<&[u8]>] = if failed { &[None, Some(&k2)] } else { &[None] };
            h.expect_one_of(K2, allowed, case);
            h.expect_intact(&[K, K2], case);
        }
        Op::Clear => {
            for (key, value, _) in seeded() {
                let allowed: &[Option<&[u8]>] = if failed { &[None, Some(&value)] } else { &[None] };
                h.expect_one_of(key, allowed, case);
            }
        }
    }
}

/// With the disk healthy again, every operation works and agrees with the others.
fn assert_usable(h: &Harness, case: &str) {
    let report = h.cache.sweep().unwrap_or_else(|e| panic!("{case}: sweep after recovery failed: {e}"));
    assert_eq!(report.quarantined, 0, "{case}: the sweep found corrupt entries");
    let after = |key: &[u8]| [b"after:", key].concat();
    for key in [K, K2, K3, N] {
        h.cache.set(key, &after(key)).unwrap_or_else(|e| panic!("{case}: set after recovery failed: {e}"));
        h.expect_one_of(key, &[Some(&after(key))], case);
    }
    let keys: BTreeSet<Vec<u8>> = h.cache.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, [K, K2, K3, N].map(<[u8]>::to_vec).into(), "{case}: keys after recovery");
    assert!(!h.cache.add(K, b"x", SetOptions::default()).unwrap(), "{case}: add over a live key stored");
    assert!(h.cache.delete(N).unwrap(), "{case}");
    assert_eq!(h.get(N, case), None, "{case}");
    assert_eq!(h.cache.pop(K2).unwrap().as_deref(), Some(&after(K2)[..]), "{case}");
    assert!(!h.cache.contains(K2).unwrap(), "{case}");
    let m = h.cache.metrics();
    assert_eq!((m.corruptions, m.quarantined), (0, 0), "{case}: an I/O error was taken for corruption");
}

/// Fails every call `op` makes, one at a time, with each errno, on both
/// durabilities. Returns how many faults were injected.
fn fail_every_call(op: Op) -> usize {
    let mut injected = 0;
    for durability in [Durability::None, Durability::Fsync] {
        let base = Harness::new(durability);
        let before = calls(&base.fs);
        let outcome = perform(op, &base.cache);
        let used: Vec<(FsOp, u64)> = FsOp::ALL
            .into_iter()
            .zip(calls(&base.fs).iter().zip(before))
            .map(|(fs_op, (after, before))| (fs_op, after - before))
            .filter(|&(_, n)| n > 0)
            .collect();
        let case = format!("{op:?} ({durability:?}) with no fault");
        check(op, &base, outcome, None, &case);
        assert_usable(&base, &case);
        assert!(!used.is_empty(), "{case}: made no disk call, so nothing was tested");
        assert!(!used.iter().any(|(o, _)| *o == FsOp::Map), "{case}: mapped a file outside open");

        for (fs_op, count) in used {
            for k in 1..=count {
                for (errno, kind) in ERRNOS {
                    let case =
                        format!("{op:?} ({durability:?}) with {fs_op:?} call {k} of {count} failing (errno {errno})");
                    let h = Harness::new(durability);
                    let errors_before = h.cache.metrics().disk_errors;
                    h.arm_nth(fs_op, k, Fault::Errno(errno));
                    let outcome = perform_caught(op, &h, &case);
                    assert_eq!(h.fs.fired(), k, "{case}: the fault was not reached");
                    assert_eq!(h.fs.armed(), 0, "{case}");
                    h.fs.clear();
                    if outcome.is_err() {
                        let errors_after = h.cache.metrics().disk_errors;
                        assert!(
                            errors_after.get(kind) > errors_before.get(kind),
                            "{case}: the error was not counted as {kind}: {errors_before:?} -> {errors_after:?}"
                        );
                    }
                    check(op, &h, outcome, Some(kind), &case);
                    assert_usable(&h, &case);
                    injected += 1;
                }
            }
        }
    }
    injected
}

macro_rules! matrix_tests {
    ($($name:ident => $op:expr,)*) => {$(
        #[test]
        fn $name() {
            let injected = fail_every_call($op);
            eprintln!("{:?}: {injected} faults injected", $op);
        }
    )*};
}

matrix_tests! {
    every_call_of_get_fails_cleanly => Op::Get,
    every_call_of_contains_fails_cleanly => Op::Contains,
    every_call_of_set_fails_cleanly => Op::Set,
    every_call_of_add_absent_fails_cleanly => Op::AddAbsent,
    every_call_of_add_present_fails_cleanly => Op::AddPresent,
    every_call_of_delete_fails_cleanly => Op::Delete,
    every_call_of_touch_fails_cleanly => Op::Touch,
    every_call_of_pop_fails_cleanly => Op::Pop,
    every_call_of_evict_tag_fails_cleanly => Op::EvictTag,
    every_call_of_clear_fails_cleanly => Op::Clear,
    every_call_of_keys_fails_cleanly => Op::Keys,
    every_call_of_sweep_fails_cleanly => Op::Sweep,
}

#[test]
fn errno_constants_are_the_platform_ones() {
    for (errno, kind) in ERRNOS {
        assert_eq!(DiskErrorKind::of(&io::Error::from_raw_os_error(errno)), kind, "errno {errno}");
    }
    assert_eq!(io::Error::from_raw_os_error(ENOSPC).kind(), io::ErrorKind::StorageFull);
    assert_eq!(io::Error::from_raw_os_error(EROFS).kind(), io::ErrorKind::ReadOnlyFilesystem);
    assert_eq!(io::Error::from_raw_os_error(EACCES).kind(), io::ErrorKind::PermissionDenied);
}

/// The matrix reaches every kind of call the read and write paths make (only
/// mapping, which happens at open, is out of its reach).
#[test]
fn the_matrix_reaches_every_kind_of_call() {
    let mut reached = BTreeSet::new();
    for durability in [Durability::None, Durability::Fsync] {
        for op in [
            Op::Get,
            Op::Contains,
            Op::Set,
            Op::AddAbsent,
            Op::AddPresent,
            Op::Delete,
            Op::Touch,
            Op::Pop,
            Op::EvictTag,
            Op::Clear,
            Op::Keys,
            Op::Sweep,
        ] {
            let h = Harness::new(durability);
            let before = calls(&h.fs);
            perform(op, &h.cache).unwrap();
            for (i, (after, before)) in calls(&h.fs).iter().zip(before).enumerate() {
                if *after > before {
                    reached.insert(i);
                }
            }
        }
    }
    let missing: Vec<FsOp> =
        FsOp::ALL.into_iter().enumerate().filter(|(i, _)| !reached.contains(i)).map(|(_, op)| op).collect();
    assert_eq!(missing, vec![FsOp::Map]);
}

/// The length of the entry file `value` makes for `key` (tag "t").
fn entry_len(key: &[u8], value: &[u8]) -> u64 {
    let h = Harness::new(Durability::None);
    h.cache.set_with(key, value, SetOptions::default().with_tag("t")).unwrap();
    std::fs::metadata(h.entry_path(key)).unwrap().len()
}

#[test]
fn short_write_fails_the_set_and_leaves_the_old_value_and_no_temp_file() {
    let len = entry_len(K, NEW) as usize;
    for keep in [0, 1, format::HEADER_LEN, len - 1] {
        let case = format!("short write of {keep} of {len} bytes");
        let h = Harness::new(Durability::None);
        h.fs.inject(FaultRule::new(FsOp::Write, Fault::ShortWrite { keep }, Trigger::Once));
        let err = h.cache.set_with(K, NEW, SetOptions::default().with_tag("t")).unwrap_err();
        assert_eq!(err.disk_kind(), Some(DiskErrorKind::Io), "{case}: {err}");
        assert_eq!(h.fs.fired(), 1, "{case}");
        h.expect_intact(&[], &case);
        assert_eq!(h.temp_files_near(K), Vec::<String>::new(), "{case}: the partial temp file was left behind");
        assert_usable(&h, &case);
    }
}

#[test]
fn torn_write_is_quarantined_on_the_next_get_never_returned() {
    let len = entry_len(K, NEW) as usize;
    for durability in [Durability::None, Durability::Fsync] {
        for keep in [0, 1, format::HEADER_LEN - 1, format::HEADER_LEN, len / 2, len - format::CHECKSUM_LEN, len - 1] {
            let case = format!("torn write of {keep} of {len} bytes ({durability:?})");
            let h = Harness::new(durability);
            h.fs.inject(FaultRule::new(FsOp::Write, Fault::TornWrite { keep }, Trigger::Once));
            // The disk lies: the set succeeds.
            h.cache.set_with(K, NEW, SetOptions::default().with_tag("t")).unwrap();
            assert_eq!(h.fs.fired(), 1, "{case}");
            assert_eq!(std::fs::metadata(h.entry_path(K)).unwrap().len(), keep as u64, "{case}");
            assert_eq!(h.get(K, &case), None, "{case}: a torn entry was returned");
            let m = h.cache.metrics();
            assert_eq!((m.corruptions, m.quarantined), (1, 1), "{case}");
            let quarantined = h.quarantined_files();
            assert_eq!(quarantined.len(), 1, "{case}");
            assert_eq!(std::fs::metadata(&quarantined[0]).unwrap().len(), keep as u64, "{case}");
            assert!(!h.entry_path(K).exists(), "{case}: the torn file stayed in place");
            h.expect_intact(&[K], &case);
            h.cache.set(K, NEW).unwrap();
            h.expect_one_of(K, &[Some(NEW)], &case);
        }
    }
}

#[test]
fn failed_fsync_fails_the_set() {
    for op in [FsOp::Sync, FsOp::SyncDir] {
        for (errno, kind) in ERRNOS {
            let case = format!("{op:?} failing with errno {errno}");
            let h = Harness::new(Durability::Fsync);
            h.fs.inject(FaultRule::new(op, Fault::Errno(errno), Trigger::Once));
            let err = h.cache.set(K, NEW).unwrap_err();
            assert_eq!(err.disk_kind(), Some(kind), "{case}: {err}");
            assert_eq!(h.fs.fired(), 1, "{case}");
            h.fs.clear();
            h.expect_one_of(K, &[Some(OLD), Some(NEW)], &case);
            assert_usable(&h, &case);
        }
    }
    // Without fsync durability, no sync is attempted, so none can fail.
    let h = Harness::new(Durability::None);
    let syncs = |fs: &FaultyFs| (fs.calls(FsOp::Sync), fs.calls(FsOp::SyncDir));
    let before = syncs(&h.fs);
    h.fs.inject(FaultRule::new(FsOp::Sync, Fault::Errno(EIO), Trigger::Always));
    h.fs.inject(FaultRule::new(FsOp::SyncDir, Fault::Errno(EIO), Trigger::Always));
    h.cache.set(K, NEW).unwrap();
    assert!(h.cache.delete(K2).unwrap());
    assert_eq!(h.fs.fired(), 0);
    assert_eq!(syncs(&h.fs), before);
    h.expect_one_of(K, &[Some(NEW)], "Durability::None");
}

#[test]
fn a_flipped_bit_on_read_is_a_miss_never_the_flipped_value() {
    let len = entry_len(K, OLD) as usize;
    let offsets: BTreeSet<usize> = (0..len).step_by((len / 16).max(1)).chain([len - 1]).collect();
    for offset in offsets {
        // Once: the media returned a bad bit, but the file is sound. The read is a
        // miss; the quarantine re-reads the file, finds it sound and puts it back.
        let case = format!("transient flip at byte {offset} of {len}");
        let h = Harness::new(Durability::None);
        h.fs.inject(FaultRule::new(FsOp::Read, Fault::BitFlip { offset: Some(offset) }, Trigger::Once));
        assert_eq!(h.get(K, &case), None, "{case}: the flipped value was returned");
        assert_eq!(h.fs.fired(), 1, "{case}");
        assert_eq!(h.cache.metrics().corruptions, 1, "{case}");
        h.expect_intact(&[], &case);
        assert_eq!(h.cache.metrics().quarantined, 0, "{case}: a sound file was kept in quarantine");

        // Always: the corruption is persistent, so the file stays quarantined.
        let case = format!("persistent flip at byte {offset} of {len}");
        let h = Harness::new(Durability::None);
        h.fs.inject(FaultRule::new(FsOp::Read, Fault::BitFlip { offset: Some(offset) }, Trigger::Always));
        assert_eq!(h.get(K, &case), None, "{case}: the flipped value was returned");
        assert!(!h.cache.contains(K).unwrap(), "{case}");
        h.fs.clear();
        let m = h.cache.metrics();
        assert_eq!(m.quarantined, 1, "{case}");
        assert!(m.corruptions >= 1, "{case}");
        assert_eq!(h.quarantined_files().len(), 1, "{case}");
        assert_eq!(h.get(K, &case), None, "{case}: the quarantined entry came back");
        h.expect_intact(&[K], &case);
    }
}

#[test]
fn a_stalled_disk_only_slows_the_cache() {
    const STALL: Duration = Duration::from_millis(20);
    let h = Harness::new(Durability::Fsync);
    h.fs.inject(FaultRule::all_ops(Fault::Delay(STALL), Trigger::Always));
    let start = Instant::now();
    h.cache.set(K, NEW).unwrap();
    h.expect_one_of(K, &[Some(NEW)], "stalled");
    assert!(h.cache.delete(K).unwrap());
    assert_eq!(h.get(K, "stalled"), None);
    let stalls = h.fs.fired();
    assert!(stalls >= 6, "only {stalls} calls were stalled");
    assert!(start.elapsed() >= STALL * stalls as u32, "{stalls} stalls of {STALL:?} took {:?}", start.elapsed());
    h.fs.clear();
    assert_eq!(h.cache.metrics().disk_errors.total(), 0, "a stall is not an error");
    h.expect_intact(&[K], "stalled");
}

#[test]
fn disk_errors_are_counted_by_kind() {
    for (errno, kind) in ERRNOS {
        let h = Harness::new(Durability::None);
        let before = h.cache.metrics().disk_errors;
        h.fs.inject(FaultRule::new(FsOp::Read, Fault::Errno(errno), Trigger::Once));
        assert_eq!(h.cache.get(K).unwrap_err().disk_kind(), Some(kind));
        h.fs.inject(FaultRule::new(FsOp::Rename, Fault::Errno(errno), Trigger::Once));
        assert_eq!(h.cache.set(K, NEW).unwrap_err().disk_kind(), Some(kind));
        let after = h.cache.metrics().disk_errors;
        assert_eq!(after.get(kind), before.get(kind) + 2, "{kind}");
        assert_eq!(after.total(), before.total() + 2, "{kind}: counted under another kind too: {after:?}");
    }
}

#[test]
fn after_a_crash_every_fsynced_entry_survives_and_nothing_corrupt_is_returned() {
    let dir = scratch_dir();
    let fs = Arc::new(FaultyFs::new(Arc::new(StdFs)));
    let clock = ManualClock::starting_now();
    let value = |name: &str, version: u32| format!("{name} version {version} {}", "x".repeat(version as usize * 7));
    const KEYS: usize = 48;
    {
        // One process-worth of writers of each durability, interleaved so that
        // lazy entries share folders with durable ones (whose folder syncs make
        // the lazy names, but not their data, durable).
        let durable = open(dir.path(), &fs, &clock, Durability::Fsync);
        let lazy = open(dir.path(), &fs, &clock, Durability::None);
        for version in 1..=2 {
            for i in 0..KEYS {
                durable
                    .set(format!("durable-{i}").as_bytes(), value(&format!("durable-{i}"), version).as_bytes())
                    .unwrap();
                lazy.set(format!("lazy-{i}").as_bytes(), value(&format!("lazy-{i}"), version).as_bytes()).unwrap();
            }
        }
    }
    let report = fs.crash().unwrap();
    assert!(report.truncated > 0 && report.removed > 0, "the crash lost nothing: {report:?}");

    let cache = open(dir.path(), &fs, &clock, Durability::None);
    let mut lazy_survivors = 0;
    for i in 0..KEYS {
        let name = format!("durable-{i}");
        let got = cache.get(name.as_bytes()).unwrap();
        assert_eq!(got.as_deref(), Some(value(&name, 2).as_bytes()), "{name}: an fsynced set was lost");
        let name = format!("lazy-{i}");
        match cache.get(name.as_bytes()).unwrap() {
            None => {}
            Some(v) => {
                assert_eq!(&*v, value(&name, 2).as_bytes(), "{name}: a wrong value after the crash");
                lazy_survivors += 1;
            }
        }
    }
    let keys: BTreeSet<Vec<u8>> = cache.keys().unwrap().collect::<Result<_, _>>().unwrap();
    for key in &keys {
        assert!(cache.get(key).unwrap().is_some(), "keys() listed {} but it has no value", show(key));
    }
    assert_eq!(keys.len(), KEYS + lazy_survivors);
    let m = cache.metrics();
    assert_eq!(m.disk_errors.total(), 0);
    eprintln!(
        "after the crash: {report:?}, {lazy_survivors} unsynced entries survived, {} corrupt files quarantined",
        m.quarantined
    );
}
