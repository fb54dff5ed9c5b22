//! Write-behind mode and the stalled-disk watchdog.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sturdycache::clock::ManualClock;
use sturdycache::fs::{Fault, FaultRule, FaultyFs, FsOp, StdFs, Trigger};
use sturdycache::{Cache, Config, Mode, SetOptions, Stored, WriteMode};

fn config(dir: &std::path::Path, fs: Arc<FaultyFs>) -> Config {
    let mut c = Config::new(dir);
    c.sweep_interval = None;
    c.health_interval = None;
    c.fs = fs;
    c
}

fn faulty() -> Arc<FaultyFs> {
    Arc::new(FaultyFs::new(Arc::new(StdFs)))
}

/// Waits for a condition other threads make true; fails after 10 s (a hang,
/// not a speed check).
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn write_behind_sets_return_from_memory_and_flush_persists_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), faulty());
    c.write_mode = WriteMode::WriteBehind;
    let cache = Cache::open(c).unwrap();
    for i in 0..50u32 {
        assert_eq!(cache.set(format!("k{i}").as_bytes(), &i.to_le_bytes()).unwrap(), Stored::Memory);
    }
    assert_eq!(cache.get(b"k7").unwrap().as_deref(), Some(&7u32.to_le_bytes()[..]), "readable before it is on disk");
    assert!(cache.flush(), "a healthy disk takes every queued write");
    assert_eq!(cache.metrics().replay.depth, 0);
    let mut cold = Config::new(dir.path());
    cold.memory_limit = 0;
    let cold = Cache::open(cold).unwrap();
    for i in 0..50u32 {
        assert_eq!(cold.get(format!("k{i}").as_bytes()).unwrap().as_deref(), Some(&i.to_le_bytes()[..]));
    }
}

#[test]
fn a_write_behind_set_never_waits_on_a_stalled_disk() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    let mut c = config(dir.path(), fs.clone());
    c.write_mode = WriteMode::WriteBehind;
    c.io_timeout = None; // keep the disk "healthy" but stalled: no breaker help
    let cache = Cache::open(c).unwrap();
    // Every disk write now stalls for 10 s: a set that waited on the disk
    // would take that long; twenty of them would hang the test for minutes.
    fs.inject(FaultRule::new(FsOp::Write, Fault::Delay(Duration::from_secs(10)), Trigger::Always));
    let (done, finished) = std::sync::mpsc::channel();
    let writer = cache.clone();
    std::thread::spawn(move || {
        for i in 0..20u32 {
            let stored = writer.set(format!("k{i}").as_bytes(), b"v").unwrap();
            assert_eq!(stored, Stored::Memory);
        }
        done.send(()).unwrap();
    });
    finished.recv_timeout(Duration::from_secs(5)).expect("write-behind sets returned without waiting on the disk");
    assert_eq!(cache.get(b"k19").unwrap().as_deref(), Some(&b"v"[..]));
    fs.clear();
}

#[test]
fn a_stalled_disk_call_trips_the_breaker_so_later_calls_skip_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    let clock = ManualClock::starting_now();
    let mut c = config(dir.path(), fs.clone());
    c.clock = Arc::new(clock.clone());
    c.io_timeout = Some(Duration::from_secs(1));
    let cache = Cache::open(c).unwrap();
    cache.wait_ready();
    // One write stalls (for real) while the cache's clock moves past io_timeout.
    fs.inject(FaultRule::new(FsOp::Write, Fault::Delay(Duration::from_millis(500)), Trigger::Once));
    let stalled = {
        let cache = cache.clone();
        std::thread::spawn(move || cache.set(b"slow", b"v").unwrap())
    };
    wait_until("the write to stall", || fs.fired() == 1);
    clock.advance(Duration::from_secs(2));
    cache.run_recovery();
    assert_eq!(cache.mode(), Mode::ReadOnly, "the watchdog opened the write path");
    let writes_before = fs.calls(FsOp::Write);
    assert_eq!(cache.set(b"fast", b"w").unwrap(), Stored::Memory, "answered from memory");
    assert_eq!(fs.calls(FsOp::Write), writes_before, "no disk write behind the stalled one");
    assert_eq!(cache.get(b"fast").unwrap().as_deref(), Some(&b"w"[..]));
    stalled.join().unwrap();
}

/// Write-behind under concurrency: each thread owns its keys and must always
/// read back exactly its own last write (or nothing after its delete), while
/// the background drain and a flushing thread persist the queue underneath.
#[test]
fn write_behind_readers_always_see_their_last_write_while_the_queue_drains() {
    const THREADS: u32 = 8;
    const KEYS: u32 = 4;
    const OPS: u32 = 400;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), faulty());
    c.write_mode = WriteMode::WriteBehind;
    c.memory_limit = 16 << 10; // small: entries fall out of the hot tier onto the queue and disk
    let cache = Cache::open(c).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flusher = {
        let (cache, stop) = (cache.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                cache.flush();
                std::thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(u64::from(t) + 7);
                let mut last: Vec<Option<Vec<u8>>> = vec![None; KEYS as usize];
                for n in 0..OPS {
                    let k = rng.u32(0..KEYS);
                    let key = format!("t{t}-k{k}");
                    match rng.u32(0..10) {
                        0 => {
                            cache.delete(key.as_bytes()).unwrap();
                            last[k as usize] = None;
                        }
                        1..=4 => {
                            let value = format!("{key}-v{n}-{}", "x".repeat(rng.usize(0..600))).into_bytes();
                            cache.set(key.as_bytes(), &value).unwrap();
                            last[k as usize] = Some(value);
                        }
                        _ => {
                            let got = cache.get(key.as_bytes()).unwrap().map(|v| v.to_vec());
                            assert_eq!(got, last[k as usize], "{key}: a read must return the owner's last write");
                        }
                    }
                }
                last
            })
        })
        .collect();
    let finals: Vec<_> = workers.into_iter().map(|w| w.join().expect("no worker panicked")).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flusher.join().unwrap();
    assert!(cache.flush(), "everything reaches the disk in the end");
    let mut cold = Config::new(dir.path());
    cold.memory_limit = 0;
    let cold = Cache::open(cold).unwrap();
    for (t, last) in finals.iter().enumerate() {
        for (k, want) in last.iter().enumerate() {
            let got = cold.get(format!("t{t}-k{k}").as_bytes()).unwrap().map(|v| v.to_vec());
            assert_eq!(&got, want, "t{t}-k{k} on disk after the final flush");
        }
    }
}

/// A burst of write-behind sets larger than the replay queue, on a healthy
/// disk slower than the burst: the sets past the queue's bound write through
/// themselves (backpressure), so no accepted write is dropped.
#[test]
fn a_write_behind_burst_past_the_queue_bound_writes_through_instead_of_dropping() {
    const BOUND: usize = 4;
    const SETS: u32 = 12;
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    let mut c = config(dir.path(), fs.clone());
    c.write_mode = WriteMode::WriteBehind;
    c.max_replay_entries = BOUND;
    c.io_timeout = None;
    let cache = Cache::open(c).unwrap();
    cache.wait_ready();
    // Every disk write takes 20 ms: the background writer can take one queued
    // write per 20 ms, while the burst offers a write per microsecond or so.
    fs.inject(FaultRule::new(FsOp::Write, Fault::Delay(Duration::from_millis(20)), Trigger::Always));
    let stored: Vec<Stored> =
        (0..SETS).map(|i| cache.set(format!("k{i}").as_bytes(), &i.to_le_bytes()).unwrap()).collect();
    fs.clear();
    assert!(stored[..BOUND].iter().all(|s| *s == Stored::Memory), "the first writes are queued: {stored:?}");
    assert!(stored.contains(&Stored::Disk), "the writes past the bound went to disk themselves: {stored:?}");
    assert!(cache.flush());
    let m = cache.metrics();
    assert_eq!(m.replay.dropped, 0, "{m:?}");
    assert_eq!(cache.mode(), Mode::Normal);
    let mut cold = Config::new(dir.path());
    cold.memory_limit = 0;
    let cold = Cache::open(cold).unwrap();
    for i in 0..SETS {
        assert_eq!(cold.get(format!("k{i}").as_bytes()).unwrap().as_deref(), Some(&i.to_le_bytes()[..]), "k{i}");
    }
}

/// `set_in_memory`, the write-behind set for callers that must not block,
/// queues like a write-behind set but hands back (storing nothing) the sets
/// that would need a disk write: a full queue on a healthy disk, or a cache
/// that writes through.
#[test]
fn set_in_memory_queues_or_declines_without_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    let mut c = config(dir.path(), fs.clone());
    c.write_mode = WriteMode::WriteBehind;
    c.max_replay_entries = 2;
    c.io_timeout = None;
    let cache = Cache::open(c).unwrap();
    cache.wait_ready();
    fs.inject(FaultRule::new(FsOp::Write, Fault::Delay(Duration::from_millis(50)), Trigger::Always));
    let writes_before = fs.calls(FsOp::Write);
    let opts = SetOptions::default;
    assert_eq!(cache.set_in_memory(b"a", b"1", opts()).unwrap(), Some(Stored::Memory));
    assert_eq!(cache.set_in_memory(b"b", b"2", opts()).unwrap(), Some(Stored::Memory));
    assert_eq!(cache.set_in_memory(b"c", b"3", opts()).unwrap(), None, "the queue is full");
    assert_eq!(cache.get(b"c").unwrap(), None, "a declined set stores nothing");
    assert_eq!(cache.set_in_memory(b"a", b"1b", opts()).unwrap(), Some(Stored::Memory), "replacing fits");
    assert_eq!(cache.get(b"a").unwrap().as_deref(), Some(&b"1b"[..]));
    assert!(fs.calls(FsOp::Write) <= writes_before + 1, "only the background writer wrote");
    assert!(cache.set_in_memory(b"", b"x", opts()).is_err(), "bad input is still an error");
    fs.clear();
    assert!(cache.flush());
    assert_eq!(cache.metrics().replay.dropped, 0);

    let dir = tempfile::tempdir().unwrap();
    let through = Cache::open(config(dir.path(), faulty())).unwrap();
    assert_eq!(through.set_in_memory(b"a", b"1", opts()).unwrap(), None, "a write-through cache always declines");
    assert_eq!(through.get(b"a").unwrap(), None);
}
