//! Stress: eight threads doing random mixed operations on one small cache (hot
//! and disk budgets small enough to evict all the time) over a small key space,
//! under a watchdog that aborts the run if no operation completes for 10 s.
//!
//! Every value carries its key's name, its writer, a sequence number and a
//! checksum, so any value read can be checked to be one some thread really
//! wrote for that very key. The first run has no faults and allows no error;
//! the others fail 5% of all disk calls with EIO and allow only those errors,
//! once surfaced to every caller (`fail_on_disk_error`) and once degrading.
//!
//! The seed is fixed for reproducibility; set `STURDY_STRESS_SEED` to try others.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sturdycache::fs::{Fault, FaultRule, FaultyFs, StdFs, Trigger};
use sturdycache::{Cache, Config, DiskErrorKind, Error, LoadError, SetOptions, Ttl};

const THREADS: usize = 8;
const OPS_PER_THREAD: u64 = 1500;
const KEYS: usize = 48;
/// How long the watchdog lets the run go without a completed operation.
const STALL_LIMIT: Duration = Duration::from_secs(10);
const MEMORY_LIMIT: u64 = 8 << 10;
const DISK_LIMIT: u64 = 16 << 10;
/// Linux (and macOS) `EIO`; libc is not a dev-dependency.
const EIO: i32 = 5;

fn key_name(key: usize) -> String {
    format!("key-{key:02}")
}

fn tag_of(key: usize) -> &'static str {
    if key.is_multiple_of(2) { "even" } else { "odd" }
}

/// FNV-1a, 64 bits.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The value `writer` writes as its `seq`-th write to `key`: a header naming
/// all three, a filler of `len` bytes derived from them, and a checksum.
fn encode(key: usize, writer: usize, seq: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{}|{writer}|{seq}|{len}|", key_name(key)).into_bytes();
    let pattern = format!("{writer}.{seq};");
    v.extend(pattern.bytes().cycle().take(len));
    let sum = checksum(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Checks that `value`, read for `key`, is exactly a value some thread wrote
/// for `key`: intact, of this key, and with a sequence number already issued.
fn verify(key: usize, value: &[u8], issued: &[AtomicU64]) -> Result<(), String> {
    let shown = || String::from_utf8_lossy(&value[..value.len().min(60)]).into_owned();
    let Some(split) = value.len().checked_sub(8) else { return Err(format!("too short: {:?}", shown())) };
    let (body, sum) = value.split_at(split);
    if checksum(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err(format!("checksum mismatch: {:?}", shown()));
    }
    let text = String::from_utf8_lossy(body);
    let mut fields = text.splitn(5, '|');
    let name = fields.next().unwrap_or_default();
    if name != key_name(key) {
        return Err(format!("a value of {name:?} returned for {:?}", key_name(key)));
    }
    let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
    let (Some(writer), Some(seq), Some(len)) = (number(), number(), number()) else {
        return Err(format!("malformed header: {:?}", shown()));
    };
    if writer as usize >= THREADS || seq >= issued[writer as usize].load(Ordering::SeqCst) {
        return Err(format!("writer {writer} never wrote sequence number {seq}"));
    }
    if encode(key, writer as usize, seq, len as usize) != value {
        return Err(format!("not the bytes writer {writer} wrote as {seq}: {:?}", shown()));
    }
    Ok(())
}

/// Operation codes, for the per-thread "currently doing" marks the watchdog prints.
const OP_NAMES: [&str; 13] = [
    "idle",
    "get",
    "set",
    "set_with ttl",
    "add",
    "delete",
    "touch",
    "pop",
    "contains",
    "get_or_insert_with",
    "keys",
    "evict_tag",
    "sweep",
];

/// What a run shares between its threads.
struct Shared {
    cache: Cache,
    issued: Vec<AtomicU64>,
    progress: Arc<AtomicU64>,
    doing: Arc<Vec<AtomicU8>>,
    /// Whether disk errors (only `Io`) are expected.
    faults: bool,
    errors: AtomicU64,
}

impl Shared {
    /// Accepts `result` if it is Ok, or an injected EIO when faults are armed.
    fn check<T>(&self, what: &str, result: Result<T, Error>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(Error::Disk { kind: DiskErrorKind::Io, .. }) if self.faults => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => panic!("{what} failed: {e} ({e:?})"),
        }
    }

    fn check_value(&self, what: &str, key: usize, value: &[u8]) {
        if let Err(problem) = verify(key, value, &self.issued) {
            panic!("{what} on {}: wrong value: {problem}", key_name(key));
        }
    }

    /// A fresh value for `key` from `writer`.
    fn next_value(&self, rng: &mut fastrand::Rng, writer: usize, key: usize) -> Vec<u8> {
        let seq = self.issued[writer].fetch_add(1, Ordering::SeqCst);
        let len = if rng.u8(..20) == 0 { rng.usize(4096..6000) } else { rng.usize(16..1200) };
        encode(key, writer, seq, len)
    }
}

fn worker(shared: &Shared, writer: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let cache = &shared.cache;
    for _ in 0..OPS_PER_THREAD {
        let key = rng.usize(..KEYS);
        let name = key_name(key);
        let k = name.as_bytes();
        let roll = rng.u8(..100);
        let op: u8 = match roll {
            0..28 => 1,
            28..44 => 2,
            44..52 => 3,
            52..59 => 4,
            59..66 => 5,
            66..71 => 6,
            71..76 => 7,
            76..83 => 8,
            83..94 => 9,
            94..96 => 10,
            96..99 => 11,
            _ => 12,
        };
        shared.doing[writer].store(op, Ordering::Relaxed);
        let what = OP_NAMES[op as usize];
        match op {
            1 => {
                if let Some(Some(v)) = shared.check(what, cache.get(k)) {
                    shared.check_value(what, key, &v);
                }
            }
            2 => {
                let v = shared.next_value(&mut rng, writer, key);
                shared.check(what, cache.set(k, &v));
            }
            3 => {
                let v = shared.next_value(&mut rng, writer, key);
                let opts = SetOptions::ttl(Duration::from_millis(rng.u64(1..=30))).with_tag(tag_of(key));
                shared.check(what, cache.set_with(k, &v, opts));
            }
            4 => {
                let v = shared.next_value(&mut rng, writer, key);
                shared.check(what, cache.add(k, &v, SetOptions::default().with_tag(tag_of(key))));
            }
            5 => {
                shared.check(what, cache.delete(k));
            }
            6 => {
                let ttl = if rng.bool() { Ttl::Never } else { Ttl::After(Duration::from_millis(rng.u64(1..=50))) };
                shared.check(what, cache.touch(k, ttl));
            }
            7 => {
                if let Some(Some(v)) = shared.check(what, cache.pop(k)) {
                    shared.check_value(what, key, &v);
                }
            }
            8 => {
                shared.check(what, cache.contains(k));
            }
            9 => {
                let fresh = shared.next_value(&mut rng, writer, key);
                match cache.get_or_insert_with(k, SetOptions::default(), || Ok::<_, Infallible>(fresh)) {
                    Ok(v) => shared.check_value(what, key, &v),
                    Err(LoadError::Invalid(e)) => panic!("{what} refused valid input: {e}"),
                    Err(LoadError::Loader(never)) => match never {},
                }
            }
            10 => {
                if let Some(keys) = shared.check(what, cache.keys()) {
                    for listed in keys {
                        if let Some(listed) = shared.check(what, listed) {
                            let known = (0..KEYS).any(|i| key_name(i).as_bytes() == listed);
                            assert!(known, "keys() listed a key nobody set: {:?}", String::from_utf8_lossy(&listed));
                        }
                    }
                }
            }
            11 => {
                shared.check(what, cache.evict_tag(tag_of(key)));
            }
            _ => {
                shared.check(what, cache.sweep());
            }
        }
        shared.doing[writer].store(0, Ordering::Relaxed);
        shared.progress.fetch_add(1, Ordering::Relaxed);
    }
}

/// Watches `progress`; if it does not move for `limit`, prints what each
/// thread was doing and aborts the process (a deadlocked test cannot be failed
/// any other way: its threads can never be joined). Stops when told to or when
/// the sender is dropped.
fn watchdog(
    progress: Arc<AtomicU64>,
    doing: Arc<Vec<AtomicU8>>,
    limit: Duration,
) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (done, stop) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let mut last = progress.load(Ordering::Relaxed);
            let mut since = Instant::now();
            loop {
                match stop.recv_timeout((limit / 10).min(Duration::from_secs(1))) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                let now = progress.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() >= limit {
                    let states: Vec<&str> = doing
                        .iter()
                        .map(|d| OP_NAMES.get(d.load(Ordering::Relaxed) as usize).copied().unwrap_or("?"))
                        .collect();
                    eprintln!(
                        "watchdog: no operation completed for {limit:?} after {now} operations \
                         (deadlock?); threads were in: {states:?}; aborting"
                    );
                    std::process::abort();
                }
            }
        })
        .unwrap();
    (done, handle)
}

fn seed() -> u64 {
    std::env::var("STURDY_STRESS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_cafe)
}

/// Runs the workers on `cache` under the watchdog; returns the shared state.
/// A worker's panic is re-raised here, after every thread has been joined.
fn run(cache: Cache, faults: bool) -> Arc<Shared> {
    let seed = seed();
    eprintln!("stress seed {seed} (set STURDY_STRESS_SEED to change)");
    let shared = Arc::new(Shared {
        cache,
        issued: (0..THREADS).map(|_| AtomicU64::new(0)).collect(),
        progress: Arc::new(AtomicU64::new(0)),
        doing: Arc::new((0..THREADS).map(|_| AtomicU8::new(0)).collect()),
        faults,
        errors: AtomicU64::new(0),
    });
    let (done, dog) = watchdog(shared.progress.clone(), shared.doing.clone(), STALL_LIMIT);
    let start = Barrier::new(THREADS);
    let start = Arc::new(start);
    let began = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|writer| {
            let shared = shared.clone();
            let start = start.clone();
            std::thread::Builder::new()
                .name(format!("worker-{writer}"))
                .spawn(move || {
                    start.wait();
                    worker(&shared, writer, seed.wrapping_add(writer as u64));
                })
                .unwrap()
        })
        .collect();
    let results: Vec<_> = workers.into_iter().map(JoinHandle::join).collect();
    done.send(()).unwrap();
    dog.join().unwrap();
    for result in results {
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
    let ops = shared.progress.load(Ordering::Relaxed);
    assert_eq!(ops, THREADS as u64 * OPS_PER_THREAD);
    eprintln!(
        "{ops} operations in {:?}, {} disk errors, {:?}",
        began.elapsed(),
        shared.errors.load(Ordering::Relaxed),
        shared.cache.metrics()
    );
    shared
}

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::new(dir);
    config.memory_limit = MEMORY_LIMIT;
    config.disk_limit = DISK_LIMIT;
    config.sweep_interval = None;
    config.hot_shards = 4;
    config
}

/// After a run, with the disk healthy: every key holds nothing or a value some
/// thread wrote for it, and every key can be written and read back.
fn check_final_state(shared: &Shared) {
    let cache = &shared.cache;
    cache.sweep().unwrap();
    for key in 0..KEYS {
        let name = key_name(key);
        if let Some(v) = cache.get(name.as_bytes()).unwrap() {
            shared.check_value("final get", key, &v);
        }
        cache.set(name.as_bytes(), b"final").unwrap();
        assert_eq!(cache.get(name.as_bytes()).unwrap().as_deref(), Some(&b"final"[..]), "{name}");
    }
    let keys: BTreeSet<Vec<u8>> = cache.keys().unwrap().collect::<Result<_, _>>().unwrap();
    for key in &keys {
        assert!((0..KEYS).any(|i| key_name(i).as_bytes() == key.as_slice()), "unknown key listed");
    }
}

#[test]
fn mixed_operations_from_many_threads_never_fail_or_return_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(config(dir.path())).unwrap();
    cache.wait_ready();
    let shared = run(cache, false);
    let m = shared.cache.metrics();
    assert_eq!(shared.errors.load(Ordering::Relaxed), 0);
    assert_eq!(m.disk_errors.total(), 0, "{m:?}");
    assert_eq!(m.corruptions, 0, "a sound entry was judged corrupt: {m:?}");
    // The budgets were small enough to matter.
    assert!(m.hot_evictions > 0, "the hot tier never evicted: {m:?}");
    assert!(m.disk_evictions > 0, "the disk tier never evicted: {m:?}");
    shared.cache.sweep().unwrap();
    let m = shared.cache.metrics();
    assert!(m.disk_bytes <= DISK_LIMIT, "over the disk budget after a sweep: {m:?}");
    check_final_state(&shared);
}

/// Runs the workers over a disk that fails 5% of all calls with EIO and
/// returns the shared state, the fault count and the metrics, faults cleared.
fn run_on_a_failing_disk(fail_on_disk_error: bool) -> (Arc<Shared>, u64, sturdycache::MetricsSnapshot) {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::with_seed(Arc::new(StdFs), seed()));
    let mut config = config(dir.path());
    config.fs = fs.clone();
    config.fail_on_disk_error = fail_on_disk_error;
    let cache = Cache::open(config).unwrap();
    cache.wait_ready();
    fs.inject(FaultRule::all_ops(Fault::Errno(EIO), Trigger::Probability(0.05)));
    let shared = run(cache, true);
    fs.clear();
    let m = shared.cache.metrics();
    assert!(fs.fired() > 0, "no fault fired");
    assert_eq!(m.disk_errors.total(), m.disk_errors.io, "EIO classified as another kind: {m:?}");
    assert_eq!(m.corruptions, 0, "an I/O error was taken for corruption: {m:?}");
    check_final_state(&shared);
    (shared, fs.fired(), m)
}

/// With `fail_on_disk_error` every fault reaches its caller, as an `Io` error
/// and nothing else; no value read is ever wrong.
#[test]
fn mixed_operations_on_a_failing_disk_only_fail_with_disk_errors() {
    let (shared, fired, m) = run_on_a_failing_disk(true);
    let errors = shared.errors.load(Ordering::Relaxed);
    assert!(errors > 0, "no fault reached the caller: fired {fired}, errors {errors}");
    assert!(m.disk_errors.io >= errors, "{errors} errors returned but {m:?}");
}

/// By default the cache degrades instead: how many faults reach a caller
/// depends on when the breakers trip (none may), but every fault is counted,
/// anything that does reach a caller is an `Io` error, and no value read is
/// ever wrong.
#[test]
fn mixed_operations_on_a_degrading_disk_never_return_a_wrong_value() {
    let (shared, fired, m) = run_on_a_failing_disk(false);
    let errors = shared.errors.load(Ordering::Relaxed);
    assert!(m.disk_errors.io > 0, "{fired} faults fired but none was counted: {m:?}");
    assert!(m.disk_errors.io >= errors, "{errors} errors returned but {m:?}");
}

/// The watchdog really aborts a stuck run: a child process runs it over
/// threads that never make progress.
#[cfg(unix)]
#[test]
fn the_watchdog_aborts_a_stuck_run() {
    use std::os::unix::process::ExitStatusExt;
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "watchdog_child", "--ignored", "--nocapture"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(6), "the child was not aborted (SIGABRT): {:?}\n{stderr}", output.status);
    assert!(stderr.contains("watchdog: no operation completed"), "{stderr}");
    assert!(stderr.contains("\"get\""), "the report should name what the threads were doing: {stderr}");
}

const CHILD_ENV: &str = "STURDY_STRESS_WATCHDOG_CHILD";

/// The child of [`the_watchdog_aborts_a_stuck_run`]: a thread "stuck" in a get,
/// with a short stall limit. Returns at once unless run by that test.
#[test]
#[ignore = "run by the_watchdog_aborts_a_stuck_run in a child process"]
fn watchdog_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let progress = Arc::new(AtomicU64::new(0));
    let doing = Arc::new(vec![AtomicU8::new(1), AtomicU8::new(0)]);
    let (_done, _dog) = watchdog(progress, doing, Duration::from_millis(200));
    // Stuck: nothing ever completes. If the watchdog fails to abort within
    // 20 s, the child exits normally and the parent test fails.
    let (_never_tx, never) = mpsc::channel::<()>();
    let _ = never.recv_timeout(Duration::from_secs(20));
}

/// The value check the stress runs rely on rejects every kind of wrong value.
#[test]
fn the_value_check_rejects_wrong_values() {
    let issued: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();
    issued[3].store(10, Ordering::SeqCst);
    let good = encode(7, 3, 9, 100);
    assert_eq!(verify(7, &good, &issued), Ok(()));
    assert!(verify(8, &good, &issued).unwrap_err().contains("returned for"), "another key's value");
    assert!(verify(7, &encode(7, 3, 10, 100), &issued).is_err(), "a sequence number not yet issued");
    assert!(verify(7, &encode(7, 4, 0, 100), &issued).is_err(), "a writer that wrote nothing");
    assert!(verify(7, &good[..good.len() - 1], &issued).is_err(), "a truncated value");
    assert!(verify(7, b"short", &issued).is_err());
    for at in [0, 5, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 1;
        assert!(verify(7, &bad, &issued).is_err(), "a flipped bit at {at}");
    }
    // A well-formed, correctly checksummed value whose filler is not the writer's.
    let mut forged = good[..good.len() - 8].to_vec();
    let last = forged.len() - 1;
    forged[last] = b'#';
    let sum = checksum(&forged);
    forged.extend_from_slice(&sum.to_le_bytes());
    assert!(verify(7, &forged, &issued).unwrap_err().contains("not the bytes"));
}
