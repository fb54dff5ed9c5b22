//! Write-behind mode and the stalled-disk watchdog.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sturdycache::clock::ManualClock;
use sturdycache::fs::{Fault, FaultRule, FaultyFs, FsOp, StdFs, Trigger};
use sturdycache::{Cache, Config, Mode, Stored, WriteMode};

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
