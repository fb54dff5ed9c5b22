//! 64 threads of mixed operations on one cache while a chaos thread makes the
//! disk fail and recover (issue 3, "Concurrency"), under a watchdog.
//!
//! The invariant checked: no get ever returns a value that this process has
//! since overwritten or deleted, and no corrupt value. How:
//! - Each thread owns its keys and is their only writer, so a key's writes
//!   happen in that thread's program order. The thread models each key (the
//!   version last written, or deleted) and checks its own reads exactly: after
//!   `set(k, v_n)` a read returns `v_n` or nothing (an entry may be lost:
//!   dropped from a full replay queue, evicted, quarantined), never another
//!   version; after a delete it returns nothing until the thread's next write.
//! - Threads also read the keys of the other threads of their group (eight
//!   threads share a key space of 24 keys, so reads and writes collide). Such
//!   a read must decode (checksum), belong to the key read, and be no older
//!   than the owner's last write completed before the read began: each owner
//!   publishes, after every write returns, a floor (the write's sequence
//!   number, doubled, plus one for a delete).
//! - Every call must return `Ok`: a failing disk is never an error to callers.
//!
//! The chaos thread cycles: arm one or two faults (EIO, ENOSPC or EROFS on all
//! calls, writes, renames or deletes; bit flips on reads; short stalls), let
//! the workers run a while, clear them, now and then force the write breaker
//! open for a while (maintenance), move the manual clock past the breakers'
//! open time and run recovery rounds. At the end the disk is healed, the
//! replay queue drained, and every key is checked again, in memory and in a
//! second cache opened on the directory (what the disk holds).
//!
//! The seed is fixed for reproducibility; set `STURDY_CHAOS_SEED` to try others.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use sturdycache::breaker::BreakerState;
use sturdycache::chaos::{ChaosError, ChaosOp};
use sturdycache::clock::ManualClock;
use sturdycache::fs::Trigger;
use sturdycache::{Cache, Config, DiskPath, LoadError, Mode, SetOptions, Ttl};

const THREADS: usize = 64;
/// Threads per group: a thread reads the keys of its group's other threads.
const GROUP: usize = 8;
const KEYS_PER_THREAD: usize = 3;
const OPS_PER_THREAD: usize = 400;
/// How long the watchdog lets the run go without a completed operation.
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Operations the workers complete between two chaos steps.
const CHAOS_PACE: u64 = 150;
/// The workers wake the chaos thread every this many operations.
const TICK: u64 = 25;
/// Past the breakers' longest open time (`max_open_timeout` below).
const RECOVERY_STEP: Duration = Duration::from_secs(5);

fn key_name(owner: usize, k: usize) -> Vec<u8> {
    format!("t{owner:02}-k{k}").into_bytes()
}

/// FNV-1a, 64 bits.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Version `version` of `key`'s value: key | version | filler | checksum.
fn encode(key: &[u8], version: u64) -> Vec<u8> {
    let mut v = key.to_vec();
    v.extend_from_slice(&version.to_le_bytes());
    let filler = 16 + (version.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize; // 16..144 bytes
    v.extend((0..filler).map(|i| (version as u8).wrapping_add(i as u8)));
    let sum = checksum(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// The version a value read for `key` holds, if it is intact and `key`'s.
fn decode(key: &[u8], value: &[u8]) -> Result<u64, String> {
    let shown = || format!("{:?}", String::from_utf8_lossy(&value[..value.len().min(24)]));
    let Some(split) = value.len().checked_sub(8) else { return Err(format!("too short: {}", shown())) };
    let (body, sum) = value.split_at(split);
    if checksum(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err(format!("corrupt value (checksum): {}", shown()));
    }
    if !body.starts_with(key) || body.len() < key.len() + 8 {
        return Err(format!("a value of another key: {}", shown()));
    }
    let version = u64::from_le_bytes(body[key.len()..key.len() + 8].try_into().unwrap());
    if encode(key, version) != value {
        return Err(format!("not the bytes of version {version}: {}", shown()));
    }
    Ok(version)
}

/// What the workers, the chaos thread and the watchdog share.
struct Shared {
    cache: Cache,
    /// Per key (owner * KEYS_PER_THREAD + k): 2 * seq of the owner's last
    /// completed write, + 1 if it was a delete.
    floors: Vec<AtomicU64>,
    progress: AtomicU64,
    /// Signalled every `TICK` operations (the chaos thread paces itself on it).
    ticks: (Mutex<()>, Condvar),
    stop: AtomicBool,
    violations: Mutex<Vec<String>>,
    /// Per key: its owner's last operations and their answers, for a failure's message.
    histories: Vec<Mutex<Vec<String>>>,
}

impl Shared {
    fn history(&self, slot: usize) -> String {
        format!("The owner's last operations on the key:\n  {}", self.histories[slot].lock().unwrap().join("\n  "))
    }

    fn fail(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 20 {
            v.push(what);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn ok<T, E: std::fmt::Debug>(&self, what: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(format!("{what} returned an error: {e:?}"));
                None
            }
        }
    }
}

/// One owned key as its owner knows it.
struct Owned {
    key: Vec<u8>,
    /// The version last written, `None` after a delete (or never written).
    current: Option<u64>,
    /// Sequence numbers of this key's writes, sets and deletes alike.
    seq: u64,
}

fn worker(shared: &Shared, me: usize, seed: u64) -> Vec<Owned> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let cache = &shared.cache;
    let mut own: Vec<Owned> =
        (0..KEYS_PER_THREAD).map(|k| Owned { key: key_name(me, k), current: None, seq: 0 }).collect();
    let group = me / GROUP * GROUP;
    for _ in 0..OPS_PER_THREAD {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let k = rng.usize(..KEYS_PER_THREAD);
        let slot = me * KEYS_PER_THREAD + k;
        let o = &mut own[k];
        let key = o.key.clone();
        // A value returned for an owned key must be exactly the current version.
        let check = |current: Option<u64>, got: &[u8]| match (decode(&key, got), current) {
            (Ok(v), Some(c)) if v == c => None,
            (found, _) => Some(format!("returned {found:?}")),
        };
        let publish =
            |seq: u64, deleted: bool| shared.floors[slot].store(2 * seq + u64::from(deleted), Ordering::SeqCst);
        let before = o.current;
        // (what was done, what it returned, a violation)
        let (what, answer, problem): (&str, String, Option<String>) = match rng.u8(..100) {
            0..25 => {
                o.seq += 1;
                let r = shared.ok("set", cache.set(&key, &encode(&key, o.seq)));
                if r.is_some() {
                    o.current = Some(o.seq);
                    publish(o.seq, false);
                }
                ("set", format!("v{} {r:?}", o.seq), None)
            }
            25..43 => match shared.ok("get", cache.get(&key)) {
                Some(Some(v)) => ("get", format!("{:?}", decode(&key, &v)), check(o.current, &v)),
                r => ("get", format!("{}", r.is_some()), None),
            },
            43..58 => {
                foreign_read(shared, &mut rng, me, group);
                ("", String::new(), None)
            }
            58..66 => {
                o.seq += 1;
                let r = shared.ok("delete", cache.delete(&key));
                if r.is_some() {
                    o.current = None;
                    publish(o.seq, true);
                }
                ("delete", format!("{r:?}"), None)
            }
            66..71 => {
                o.seq += 1;
                let r = shared.ok("add", cache.add(&key, &encode(&key, o.seq), SetOptions::default()));
                if r == Some(true) {
                    o.current = Some(o.seq);
                    publish(o.seq, false);
                }
                ("add", format!("v{} {r:?}", o.seq), None)
            }
            71..76 => {
                let ttl = if rng.bool() { Ttl::Never } else { Ttl::After(Duration::from_secs(24 * 3600)) };
                ("touch", format!("{:?}", shared.ok("touch", cache.touch(&key, ttl))), None)
            }
            76..81 => {
                o.seq += 1;
                let r = shared.ok("pop", cache.pop(&key));
                let problem = r.as_ref().and_then(|found| found.as_ref().and_then(|v| check(o.current, v)));
                let answer = format!("{:?}", r.as_ref().map(|f| f.as_ref().map(|v| decode(&key, v))));
                if r.is_some() {
                    o.current = None;
                    publish(o.seq, true);
                }
                ("pop", answer, problem)
            }
            81..86 => {
                let r = shared.ok("contains", cache.contains(&key));
                let problem = (r == Some(true) && o.current.is_none()).then(|| "true after a delete".to_string());
                ("contains", format!("{r:?}"), problem)
            }
            _ => {
                o.seq += 1;
                let loaded = AtomicBool::new(false);
                let fresh = encode(&key, o.seq);
                let got = cache.get_or_insert_with(&key, SetOptions::default(), || {
                    loaded.store(true, Ordering::SeqCst);
                    Ok::<_, std::convert::Infallible>(fresh)
                });
                let loaded = loaded.load(Ordering::SeqCst);
                let problem = match &got {
                    Ok(v) if loaded => {
                        let problem = check(Some(o.seq), v);
                        o.current = Some(o.seq);
                        publish(o.seq, false);
                        problem
                    }
                    Ok(v) => check(o.current, v),
                    Err(LoadError::Loader(never)) => match *never {},
                    Err(e) => Some(format!("an error: {e:?}")),
                };
                let answer = format!("v{} loaded {loaded} {:?}", o.seq, got.as_ref().map(|v| decode(&key, v)));
                ("get_or_insert_with", answer, problem)
            }
        };
        if !what.is_empty() {
            let mut history = shared.histories[slot].lock().unwrap();
            if history.len() == 12 {
                history.remove(0);
            }
            history.push(format!("{what} -> {answer} (mode after: {:?})", cache.mode()));
        }
        if let Some(problem) = problem {
            shared.fail(format!(
                "{what} {}: {problem}; the last write was {before:?} (None: deleted). {}",
                String::from_utf8_lossy(&key),
                shared.history(slot)
            ));
        }
        if (shared.progress.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(TICK) {
            let _lock = shared.ticks.0.lock().unwrap();
            shared.ticks.1.notify_all();
        }
    }
    own
}

/// A get (or contains) of another thread's key in the group: intact, that
/// key's, and no older than the owner's last write completed before the read.
fn foreign_read(shared: &Shared, rng: &mut fastrand::Rng, me: usize, group: usize) {
    let owner = group + rng.usize(..GROUP);
    if owner == me {
        return;
    }
    let k = rng.usize(..KEYS_PER_THREAD);
    let key = key_name(owner, k);
    let floor = shared.floors[owner * KEYS_PER_THREAD + k].load(Ordering::SeqCst);
    if rng.u8(..4) == 0 {
        // Nothing to check but the answer: the owner may be writing right now.
        shared.ok("contains (foreign)", shared.cache.contains(&key));
        return;
    }
    let Some(Some(v)) = shared.ok("get (foreign)", shared.cache.get(&key)) else { return };
    match decode(&key, &v) {
        Ok(version) if 2 * version >= floor => {}
        Ok(version) => shared.fail(format!(
            "get (foreign) {}: version {version}, but the owner's last write before the read began was {} {}. {}",
            String::from_utf8_lossy(&key),
            if floor % 2 == 1 { "a delete, as write" } else { "version" },
            floor / 2,
            shared.history(owner * KEYS_PER_THREAD + k)
        )),
        Err(e) => shared.fail(format!("get (foreign) {}: {e}", String::from_utf8_lossy(&key))),
    }
}

/// The faults the chaos thread picks from.
fn random_fault(rng: &mut fastrand::Rng) -> (ChaosOp, ChaosError) {
    match rng.u8(..10) {
        0 => (ChaosOp::All, ChaosError::Eio),
        1 => (ChaosOp::Write, ChaosError::Eio),
        2 => (ChaosOp::Write, ChaosError::Enospc),
        3 => (ChaosOp::Write, ChaosError::Erofs),
        4 => (ChaosOp::Read, ChaosError::Eio),
        5 => (ChaosOp::Read, ChaosError::Corruption),
        6 => (ChaosOp::Rename, ChaosError::Eio),
        7 => (ChaosOp::Delete, ChaosError::Erofs),
        8 => (ChaosOp::All, ChaosError::Delay(Duration::from_micros(300))),
        _ => (ChaosOp::Write, ChaosError::Delay(Duration::from_millis(1))),
    }
}

fn random_trigger(rng: &mut fastrand::Rng) -> Trigger {
    match rng.u8(..3) {
        0 => Trigger::Always,
        1 => Trigger::Probability(0.3),
        _ => Trigger::Times(rng.u64(1..20)),
    }
}

/// Waits until the workers have completed `ops` more operations, or the run stops.
fn pace(shared: &Shared, ops: u64) {
    let target = shared.progress.load(Ordering::SeqCst) + ops;
    let mut ticks = shared.ticks.0.lock().unwrap();
    while shared.progress.load(Ordering::SeqCst) < target && !shared.stop.load(Ordering::SeqCst) {
        // The timeout only guards against a missed wake-up at the very end.
        ticks = shared.ticks.1.wait_timeout(ticks, Duration::from_millis(50)).unwrap().0;
    }
}

/// Returns (fault cycles, faults that fired).
fn chaos(shared: &Shared, clock: &ManualClock, seed: u64) -> (u64, u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let faults = shared.cache.faults();
    let mut cycles = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        for _ in 0..rng.usize(1..=2) {
            let (op, error) = random_fault(&mut rng);
            shared.ok("inject", faults.inject(op, error, random_trigger(&mut rng)));
        }
        pace(shared, CHAOS_PACE);
        faults.clear();
        if rng.u8(..8) == 0 {
            // An operator's maintenance window now and then.
            shared.cache.override_breaker(DiskPath::Write, BreakerState::ForcedOpen);
            pace(shared, CHAOS_PACE / 4);
            shared.cache.override_breaker(DiskPath::Write, BreakerState::Closed);
        }
        clock.advance(RECOVERY_STEP);
        shared.cache.run_recovery();
        pace(shared, CHAOS_PACE / 2);
        shared.cache.run_recovery();
        cycles += 1;
    }
    (cycles, faults.injected())
}

fn config(dir: &std::path::Path, clock: &ManualClock) -> Config {
    let mut c = Config::new(dir);
    c.clock = Arc::new(clock.clone());
    c.sweep_interval = None;
    c.health_interval = Some(Duration::from_secs(30));
    // Small enough that the hot tier evicts and the replay queue overflows.
    c.memory_limit = 16 << 10;
    c.max_replay_entries = 48;
    c.breaker.open_timeout = Duration::from_secs(1);
    c.breaker.max_open_timeout = Duration::from_secs(4);
    c
}

#[test]
fn sixty_four_threads_under_chaos_never_read_an_overwritten_deleted_or_corrupt_value() {
    let seed: u64 = std::env::var("STURDY_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let cache = Cache::open(config(dir.path(), &clock)).unwrap();
    cache.wait_ready();
    let shared = Arc::new(Shared {
        cache,
        floors: (0..THREADS * KEYS_PER_THREAD).map(|_| AtomicU64::new(0)).collect(),
        progress: AtomicU64::new(0),
        ticks: (Mutex::new(()), Condvar::new()),
        stop: AtomicBool::new(false),
        violations: Mutex::new(Vec::new()),
        histories: (0..THREADS * KEYS_PER_THREAD).map(|_| Mutex::new(Vec::new())).collect(),
    });
    let start = Arc::new(Barrier::new(THREADS + 1));
    let (done_tx, done_rx) = mpsc::channel::<Vec<Owned>>();
    let mut workers = Vec::new();
    for me in 0..THREADS {
        let (shared, start, done_tx) = (shared.clone(), start.clone(), done_tx.clone());
        workers.push(std::thread::spawn(move || {
            start.wait();
            // A panic drops the sender without a message (see the joins below).
            let own = worker(&shared, me, seed ^ (me as u64).wrapping_mul(0x9E37_79B9));
            done_tx.send(own).unwrap();
        }));
    }
    drop(done_tx);
    let chaos_thread = {
        let (shared, clock) = (shared.clone(), clock.clone());
        std::thread::spawn(move || chaos(&shared, &clock, seed))
    };
    start.wait();

    // The watchdog: fail if no operation completes for STALL_LIMIT.
    let mut finished: Vec<Owned> = Vec::new();
    let (mut last, mut last_change) = (0, Instant::now());
    while finished.len() < THREADS * KEYS_PER_THREAD {
        match done_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(own) => finished.extend(own),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = shared.progress.load(Ordering::SeqCst);
        if now != last {
            (last, last_change) = (now, Instant::now());
        } else if last_change.elapsed() > STALL_LIMIT {
            let m = shared.cache.metrics();
            panic!(
                "no operation completed for {STALL_LIMIT:?} ({now} done, {} threads finished): a hang; \
                 mode {:?}, replay {:?}",
                finished.len() / KEYS_PER_THREAD,
                m.resilience.mode,
                m.replay
            );
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    let mut panicked = 0;
    for w in workers {
        panicked += usize::from(w.join().is_err());
    }
    let (cycles, fired) = chaos_thread.join().expect("the chaos thread does not panic");
    assert_eq!(panicked, 0, "a worker panicked");
    let violations = shared.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{} violation(s):\n{}", violations.len(), violations.join("\n"));
    let ops = shared.progress.load(Ordering::SeqCst);
    assert_eq!(ops, (THREADS * OPS_PER_THREAD) as u64, "every operation ran");

    // The chaos was real: faults fired, the cache degraded, and it recovered.
    let m = shared.cache.metrics();
    eprintln!(
        "chaos: {ops} ops, {cycles} fault cycles, {fired} faults fired; fallback reads {} writes {}, \
         recoveries {}, replay {:?}, quarantined {}",
        m.resilience.fallback_reads, m.resilience.fallback_writes, m.resilience.recoveries, m.replay, m.quarantined
    );
    assert!(cycles >= 3 && fired > 0, "the chaos thread ran ({cycles} cycles, {fired} faults fired)");
    assert!(m.resilience.fallback_writes > 0 && m.resilience.recoveries > 0, "the cache degraded and recovered");

    // Heal the disk, let recovery close the breakers and drain the queue.
    let cache = &shared.cache;
    cache.faults().clear();
    for _ in 0..50 {
        if cache.mode() == Mode::Normal && cache.flush() {
            break;
        }
        clock.advance(RECOVERY_STEP);
        cache.run_recovery();
    }
    assert_eq!(cache.mode(), Mode::Normal, "recovered once the disk is healthy");
    assert!(cache.flush(), "the replay queue drains");
    assert_eq!(cache.metrics().replay.lost, 0, "stale copies of dropped writes are deleted");

    // Every key once more, in memory and on disk (a second cache on the directory).
    let mut cold = config(dir.path(), &clock);
    cold.memory_limit = 0;
    let cold = Cache::open(cold).unwrap();
    let mut live = 0;
    for o in &finished {
        for (what, c) in [("final get", cache), ("final get from disk", &cold)] {
            match (c.get(&o.key).unwrap(), o.current) {
                (None, _) => {}
                (Some(v), Some(current)) if decode(&o.key, &v) == Ok(current) => live += 1,
                (Some(v), current) => panic!(
                    "{what} {}: returned {:?}; the last write was {current:?} (None: deleted)",
                    String::from_utf8_lossy(&o.key),
                    decode(&o.key, &v)
                ),
            }
        }
    }
    assert!(live > 0, "some values survived the chaos");
}

// ---------------------------------------------------------------------------
// Deterministic regressions for the races the chaos run above found.

fn plain_config(dir: &std::path::Path, clock: &ManualClock) -> Config {
    let mut c = Config::new(dir);
    c.clock = Arc::new(clock.clone());
    c.sweep_interval = None;
    c.health_interval = None;
    c
}

/// Waits for something another thread does; fails after 10 s (a hang, not a speed check).
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// A get that read the old disk copy must not leave it in memory over a set
/// kept in memory meanwhile (read-only mode: the set cannot reach the disk).
#[test]
fn a_get_racing_a_memory_kept_set_does_not_leave_the_old_value_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    // The old value on disk, written by another handle: this cache has no copy in memory.
    Cache::open(plain_config(dir.path(), &clock)).unwrap().set(b"k", b"old").unwrap();
    let cache = Cache::open(plain_config(dir.path(), &clock)).unwrap();
    cache.wait_ready();
    cache.override_breaker(DiskPath::Write, BreakerState::ForcedOpen);
    assert_eq!(cache.mode(), Mode::ReadOnly);
    // The get's disk read stalls; the set happens while it does.
    let faults = cache.faults();
    faults.inject(ChaosOp::Read, ChaosError::Delay(Duration::from_millis(500)), Trigger::Once).unwrap();
    let reader = {
        let cache = cache.clone();
        std::thread::spawn(move || cache.get(b"k").unwrap().map(|v| v.to_vec()))
    };
    wait_until("the get to reach the disk", || faults.injected() == 1);
    assert_eq!(cache.set(b"k", b"new").unwrap(), sturdycache::Stored::Memory);
    assert_eq!(reader.join().unwrap().as_deref(), Some(&b"old"[..]), "the get began before the set");
    assert_eq!(cache.get(b"k").unwrap().as_deref(), Some(&b"new"[..]), "the set is not undone by the get");
}

/// A pop whose read of the entry is corrupted in flight (a sound file, a
/// failing read) must not have the file put back: the key stays popped.
#[test]
fn a_pop_with_a_corrupted_read_does_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let mut c = plain_config(dir.path(), &clock);
    c.memory_limit = 0; // the pop reads the disk
    let cache = Cache::open(c).unwrap();
    cache.wait_ready();
    cache.set(b"k", b"value").unwrap();
    cache.faults().inject(ChaosOp::Read, ChaosError::Corruption, Trigger::Once).unwrap();
    assert!(cache.pop(b"k").unwrap().is_none(), "the corrupted read is a miss");
    assert_eq!(cache.faults().injected(), 1);
    assert!(cache.get(b"k").unwrap().is_none(), "popped stays popped");
    assert!(!cache.contains(b"k").unwrap());
}

/// A touch must not make a stale memory copy current again: here another
/// handle (another process, as far as this one knows) replaced the value.
#[test]
fn a_touch_does_not_revive_a_stale_copy_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let cache = Cache::open(plain_config(dir.path(), &clock)).unwrap();
    let other = Cache::open(plain_config(dir.path(), &clock)).unwrap();
    assert!(cache.is_coherent_across_processes());
    cache.set(b"k", b"old").unwrap();
    assert_eq!(cache.get(b"k").unwrap().as_deref(), Some(&b"old"[..])); // now in memory
    other.set(b"k", b"new").unwrap();
    assert!(cache.touch(b"k", Ttl::Never).unwrap());
    assert_eq!(cache.get(b"k").unwrap().as_deref(), Some(&b"new"[..]));
}

/// Pop, touch and add while writes cannot reach the disk read the disk entry
/// under the key's lock; an expired entry must not make them wait on that lock.
#[test]
fn degraded_pop_touch_and_add_of_an_expired_disk_entry_do_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let mut c = plain_config(dir.path(), &clock);
    c.memory_limit = 0; // only the disk holds the entries
    let cache = Cache::open(c).unwrap();
    cache.wait_ready();
    for key in [&b"pop"[..], b"touch", b"add"] {
        cache.set_with(key, b"v", SetOptions::ttl(Duration::from_secs(1))).unwrap();
    }
    clock.advance(Duration::from_secs(2));
    cache.override_breaker(DiskPath::Write, BreakerState::ForcedOpen);
    assert_eq!(cache.mode(), Mode::ReadOnly);
    let (done, finished) = mpsc::channel();
    let worker = cache.clone();
    std::thread::spawn(move || {
        let popped = worker.pop(b"pop").unwrap();
        let touched = worker.touch(b"touch", Ttl::Never).unwrap();
        let added = worker.add(b"add", b"w", SetOptions::default()).unwrap();
        done.send((popped.is_none(), touched, added)).unwrap();
    });
    let (popped_none, touched, added) =
        finished.recv_timeout(Duration::from_secs(10)).expect("pop, touch and add returned (no self-deadlock)");
    assert!(popped_none && !touched && added, "expired entries are absent");
}
