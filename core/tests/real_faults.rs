//! Real disk faults, produced by the kernel rather than the file-system seam:
//! a full tmpfs (ENOSPC), ext4 on a loop device forced read-only by an error
//! (`errors=remount-ro` + `trigger_fs_error`, EROFS), a one-shot EIO
//! (`simulate_fail`) and power cuts (`EXT4_IOC_SHUTDOWN` + SIGKILL).
//! See `../shared/notes/faults.md` for how each fault behaves on this machine kind.
//!
//! Root only. Each test checks its preconditions (root, the tools, loop
//! devices, a working `mount`, the ext4 sysfs knobs) and otherwise prints
//! `SKIP <test>: <reason>` to stderr and returns. A skip is not a pass where
//! the tests must run: with `STURDY_REQUIRE_REAL_FAULTS=1` (set by
//! `scripts/test.sh` when it runs as root with the tools installed) a missing
//! precondition fails the test instead.
//!
//! What the kernel does here (Linux 6.18): an open cache pins its mount (its
//! coherence file is mapped), so `umount` is EBUSY until the last handle is
//! dropped, and then succeeds at once; after an error remount `remount,rw` is
//! refused (the journal is aborted), so the way back is umount, `e2fsck -fy`,
//! mount, or, with the cache kept open, `umount -l` and a repaired copy
//! mounted in its place. A killed writer leaves no open file behind.
//!
//! Every mount and loop device is released by a drop guard ([`Rig`]), on
//! failure too. The power-cut child re-executes this binary (see
//! [`power_cut_child`]); set `STURDY_SEED=<u64>` to replay a run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use sturdycache::chaos::{ChaosError, ChaosOp};
use sturdycache::clock::ManualClock;
use sturdycache::fs::Trigger;
use sturdycache::{Cache, Config, Durability, Mode, Stored, format};

/// Turns a skip into a failure (set by `scripts/test.sh` as root).
const REQUIRE: &str = "STURDY_REQUIRE_REAL_FAULTS";
/// Names the child role of a re-executed test binary.
const ROLE: &str = "STURDY_RF_ROLE";
/// The child's cache directory.
const DIR: &str = "STURDY_RF_DIR";
/// The child's durability: "fsync" or "none".
const DURABILITY: &str = "STURDY_RF_DURABILITY";
/// The child's first sequence number (sequence numbers never repeat across cycles).
const SEQ_BASE: &str = "STURDY_RF_SEQ_BASE";
/// Prefix of protocol lines on the child's stdout.
const MARK: &str = "@@ ";
/// `EXT4_IOC_SHUTDOWN` = `_IOR('X', 125, __u32)`.
const EXT4_IOC_SHUTDOWN: u64 = 0x8004_587d;
/// Shut down without flushing the journal: what a power cut leaves.
const EXT4_GOING_FLAGS_NOLOGFLUSH: u32 = 2;
/// `simulate_fail` code making the next directory-block read fail with EIO.
const EXT4_SIM_DIRBLOCK_EIO: &str = "7";
/// Keys the power-cut child writes (few, so keys are overwritten often).
const POWER_CUT_KEYS: usize = 12;

// ---------------------------------------------------------------------------
// Preconditions and skips

fn seed() -> u64 {
    std::env::var("STURDY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| fastrand::u64(..))
}

/// Reports a missing precondition: `SKIP` on stderr, or a failure when the
/// environment requires the real-fault tests to run.
fn skip(test: &str, reason: &str) {
    if std::env::var(REQUIRE).is_ok_and(|v| !v.is_empty() && v != "0") {
        panic!("{test} cannot run ({reason}), but {REQUIRE} is set: real-fault tests must run here");
    }
    // Straight to stderr, past libtest's output capture: a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// Why this machine cannot run a real-fault test, or `None`.
fn missing_precondition(ext4: bool) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (mount, loop devices and ext4 fault knobs need root)".into());
    }
    let mut tools = vec!["mount", "umount"];
    if ext4 {
        tools.extend(["losetup", "mkfs.ext4", "e2fsck"]);
    }
    if let Some(t) = tools.iter().find(|t| which(t).is_none()) {
        return Some(format!("`{t}` not found (install util-linux / mount / e2fsprogs)"));
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let fs = if ext4 { "ext4" } else { "tmpfs" };
    if !filesystems.split_whitespace().any(|f| f == fs) {
        return Some(format!("the kernel has no {fs}"));
    }
    if ext4 && !Path::new("/dev/loop-control").exists() {
        return Some("no loop devices (/dev/loop-control is missing)".into());
    }
    None
}

// ---------------------------------------------------------------------------
// Commands, mounts and loop devices

fn run(cmd: &str, args: &[&str]) -> Output {
    let exe = which(cmd).unwrap_or_else(|| PathBuf::from(cmd));
    Command::new(exe).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn run_ok(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = run(cmd, args);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// Mounts and loop devices of one test, released on drop in reverse order.
struct Rig {
    tmp: tempfile::TempDir,
    mounted: Vec<PathBuf>,
    loops: Vec<String>,
}

impl Rig {
    fn new() -> Rig {
        Rig { tmp: tempfile::tempdir().unwrap(), mounted: Vec::new(), loops: Vec::new() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn mount_tmpfs(&mut self, mnt: &Path, size: &str) -> Result<(), String> {
        std::fs::create_dir_all(mnt).unwrap();
        run_ok("mount", &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", s(mnt)])?;
        self.mounted.push(mnt.to_path_buf());
        Ok(())
    }

    /// A fresh ext4 image of `mib` MiB with 1 KiB blocks (so a directory
    /// outgrows one block, and becomes hash-indexed, after ~25 entries).
    fn make_ext4(&self, name: &str, mib: u64) -> Result<PathBuf, String> {
        let img = self.path(name);
        std::fs::File::create(&img).unwrap().set_len(mib << 20).unwrap();
        run_ok("mkfs.ext4", &["-q", "-F", "-b", "1024", "-O", "dir_index", s(&img)])?;
        Ok(img)
    }

    fn attach(&mut self, img: &Path) -> Result<String, String> {
        let dev = run_ok("losetup", &["-f", "--show", s(img)])?;
        self.loops.push(dev.clone());
        Ok(dev)
    }

    fn detach(&mut self, dev: &str) {
        if run_ok("losetup", &["-d", dev]).is_ok() {
            self.loops.retain(|d| d != dev);
        }
    }

    fn mount_ext4(&mut self, dev: &str, mnt: &Path, opts: &str) -> Result<(), String> {
        std::fs::create_dir_all(mnt).unwrap();
        run_ok("mount", &["-t", "ext4", "-o", opts, dev, s(mnt)])?;
        self.mounted.push(mnt.to_path_buf());
        Ok(())
    }

    /// Unmounts, retrying while the mount is busy (a dropped cache's
    /// background threads may hold it for a moment) until `patience` runs out.
    fn umount(&mut self, mnt: &Path, patience: Duration) -> Result<u32, String> {
        let deadline = Instant::now() + patience;
        let mut tries = 0;
        loop {
            tries += 1;
            match run_ok("umount", &[s(mnt)]) {
                Ok(_) => {
                    self.mounted.retain(|m| m != mnt);
                    return Ok(tries);
                }
                Err(e) if Instant::now() < deadline && e.contains("busy") => {
                    // Nothing signals "no longer busy": poll.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("{e} (after {tries} tries)")),
            }
        }
    }

    /// Detaches the file system at `mnt` now; it lives on while anything holds it.
    fn umount_lazy(&mut self, mnt: &Path) {
        run_ok("umount", &["-l", s(mnt)]).unwrap();
        self.mounted.retain(|m| m != mnt);
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for mnt in std::mem::take(&mut self.mounted).into_iter().rev() {
            if self.umount(&mnt, Duration::from_secs(5)).is_err() {
                let _ = run_ok("umount", &["-l", s(&mnt)]);
            }
        }
        for dev in std::mem::take(&mut self.loops) {
            if let Err(e) = run_ok("losetup", &["-d", &dev]) {
                eprintln!("warning: {e}");
            }
        }
    }
}

/// `/sys/fs/ext4/<loopN>`: the per-file-system fault knobs.
fn sysfs(dev: &str) -> PathBuf {
    Path::new("/sys/fs/ext4").join(Path::new(dev).file_name().unwrap())
}

fn knob(dev: &str, name: &str) -> PathBuf {
    sysfs(dev).join(name)
}

fn write_knob(dev: &str, name: &str, value: &str) {
    std::fs::write(knob(dev, name), value).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
}

fn read_knob(dev: &str, name: &str) -> String {
    std::fs::read_to_string(knob(dev, name)).unwrap().trim().to_string()
}

/// `e2fsck -fy`; exit codes 0 (clean) and 1 (errors corrected) are fine.
fn fsck(target: &str) -> Result<i32, String> {
    let out = run("e2fsck", &["-fy", target]);
    match out.status.code() {
        Some(c @ (0 | 1)) => Ok(c),
        _ => Err(format!(
            "e2fsck -fy {target}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("")
        )),
    }
}

fn mount_options(mnt: &Path) -> String {
    run_ok("findmnt", &["-no", "OPTIONS", s(mnt)]).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Values that prove their own integrity

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The value of `key` at `seq`: magic, seq, key, `len` payload bytes (random,
/// or a repeated byte when `compressible`, so zstd is used), and an FNV-1a
/// checksum of all of it. The same arguments always give the same bytes.
fn value(key: &str, seq: u64, len: usize, compressible: bool) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seq ^ fnv64(key.as_bytes()));
    let mut v = Vec::with_capacity(len + key.len() + 24);
    v.extend_from_slice(b"RFV1");
    v.extend_from_slice(&seq.to_le_bytes());
    v.push(key.len() as u8);
    v.extend_from_slice(key.as_bytes());
    if compressible {
        v.resize(v.len() + len, b'a' + (seq % 26) as u8);
    } else {
        v.extend((0..len).map(|_| rng.u8(..)));
    }
    let sum = fnv64(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// The sequence number of a value read back for `key`, or why it is damaged.
fn check(key: &str, v: &[u8]) -> Result<u64, String> {
    let head = 4 + 8 + 1 + key.len();
    if v.len() < head + 8 || &v[..4] != b"RFV1" {
        return Err(format!("{key}: malformed value ({} bytes)", v.len()));
    }
    let (body, sum) = v.split_at(v.len() - 8);
    if fnv64(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err(format!("{key}: checksum mismatch ({} bytes)", v.len()));
    }
    if v[12] as usize != key.len() || &v[13..head] != key.as_bytes() {
        return Err(format!("{key}: the value of another key"));
    }
    Ok(u64::from_le_bytes(v[4..12].try_into().unwrap()))
}

// ---------------------------------------------------------------------------
// Cache plumbing

/// A cache in `dir` with a manual clock, no periodic sweep or health probe and
/// no hot tier (so every read of an entry not written during an outage is a
/// provable disk read), breakers opening for 1 s.
fn config(dir: &Path, clock: &ManualClock, durability: Durability) -> Config {
    let mut c = Config::new(dir);
    c.durability = durability;
    c.memory_limit = 0;
    c.sweep_interval = None;
    c.health_interval = None;
    c.breaker.open_timeout = Duration::from_secs(1);
    c.breaker.max_open_timeout = Duration::from_secs(2);
    c.clock = Arc::new(clock.clone());
    c
}

/// Moves the clock to the write breaker's next attempt and runs recovery
/// rounds until the cache is normal with an empty replay queue.
/// Returns the rounds it took, or what was left after `rounds` rounds.
fn recover(cache: &Cache, clock: &ManualClock, rounds: u32) -> Result<u32, String> {
    for round in 1..=rounds {
        let m = cache.metrics();
        let b = &m.resilience.write_breaker;
        if let Some(wait) = b.next_attempt_in {
            clock.advance(wait);
        }
        cache.run_recovery();
        if cache.mode() == Mode::Normal && cache.metrics().replay.depth == 0 {
            return Ok(round);
        }
    }
    let m = cache.metrics();
    Err(format!(
        "not recovered after {rounds} rounds: mode {:?}, replay depth {}, write breaker {:?}, last error {:?}",
        cache.mode(),
        m.replay.depth,
        m.resilience.write_breaker,
        m.resilience.last_error
    ))
}

/// Lets the write breaker's open time pass and runs recovery rounds until a
/// probe has been tried and has failed (the breaker opened again); the cache
/// must stay read-only. (With the default `recovery_factor` of 0.5 the first
/// half-open call is refused, so this can take more than one round; the
/// recovery thread may also make the probe itself.)
fn recovery_fails(cache: &Cache, clock: &ManualClock) {
    let before = cache.metrics().resilience.write_breaker;
    clock.advance(before.next_attempt_in.expect("the write breaker is open"));
    let mut probes = 0;
    for _ in 0..10 {
        let report = cache.run_recovery();
        assert_eq!(report.probes_ok, 0, "a probe of the failing disk succeeded: {report:?}");
        probes += report.probes;
        if cache.metrics().resilience.write_breaker.trips > before.trips {
            assert_eq!(cache.mode(), Mode::ReadOnly);
            return;
        }
    }
    panic!("no failed recovery probe after 10 rounds ({probes} probes here): {:?}", cache.metrics().resilience);
}

fn get(cache: &Cache, key: &str) -> Option<Vec<u8>> {
    cache.get(key.as_bytes()).unwrap_or_else(|e| panic!("get {key} returned an error: {e}")).map(|v| v.to_vec())
}

/// What a key should read as.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Value(Vec<u8>),
    Absent,
}

/// Checks every key of `want` through `cache`; returns the mismatches.
fn verify(cache: &Cache, want: &BTreeMap<String, Want>) -> Vec<String> {
    let mut bad = Vec::new();
    for (key, w) in want {
        let got = get(cache, key);
        if let Some(v) = &got
            && let Err(e) = check(key, v)
        {
            bad.push(format!("CORRUPT value returned: {e}"));
            continue;
        }
        match (w, &got) {
            (Want::Value(v), Some(g)) if v == g => {}
            (Want::Absent, None) => {}
            (Want::Value(v), g) => bad.push(format!(
                "{key}: want seq {}, got {}",
                check(key, v).unwrap(),
                g.as_ref().map_or("nothing".into(), |g| format!("seq {}", check(key, g).unwrap()))
            )),
            (Want::Absent, Some(g)) => bad.push(format!("{key}: want nothing, got seq {}", check(key, g).unwrap())),
        }
    }
    bad
}

/// Drops the cache and unmounts `mnt`: dropping the last handle must release
/// the file system (the coherence map is the cache's only long-lived hold on it).
fn close_and_umount(rig: &mut Rig, cache: Cache, mnt: &Path) -> u32 {
    drop(cache);
    rig.umount(mnt, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("dropping the cache did not free the mount: {e}"))
}

// ---------------------------------------------------------------------------
// 1. A full tmpfs: ENOSPC → read-only mode → space freed → recovery and drain

#[test]
fn full_tmpfs_degrades_to_read_only_and_recovers_when_space_returns() {
    const TEST: &str = "full_tmpfs_degrades_to_read_only_and_recovers_when_space_returns";
    if let Some(reason) = missing_precondition(false) {
        return skip(TEST, &reason);
    }
    let started = Instant::now();
    let mut rig = Rig::new();
    let mnt = rig.path("mnt");
    if let Err(e) = rig.mount_tmpfs(&mnt, "2m") {
        return skip(TEST, &format!("cannot mount a tmpfs: {e}"));
    }
    let dir = mnt.join("cache");
    let clock = ManualClock::starting_now();
    let cache = Cache::open(config(&dir, &clock, Durability::None)).unwrap();
    cache.wait_ready();
    let mut want = BTreeMap::new();
    let mut seq = 0;
    let mut next = |key: &str| {
        seq += 1;
        value(key, seq, 6000, false)
    };

    // Write until the disk is full: every set succeeds; the first one that
    // cannot reach the disk stays in memory.
    let mut on_disk = Vec::new();
    let first_in_memory = loop {
        assert!(on_disk.len() < 1000, "a 2 MiB tmpfs never filled up");
        let key = format!("fill-{}", on_disk.len());
        let v = next(&key);
        let stored = cache.set(key.as_bytes(), &v).unwrap();
        want.insert(key.clone(), Want::Value(v));
        match stored {
            Stored::Disk => on_disk.push(key),
            Stored::Memory => break key,
        }
    };
    assert!(on_disk.len() > 50, "only {} entries fit on the tmpfs", on_disk.len());
    assert!(cache.metrics().disk_errors.no_space >= 1, "the ENOSPC was not counted");
    // Soak up the slack a failed write left behind, so the disk is really full.
    let filler = mnt.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0xAA; 4096];
        while f.write_all(&chunk).is_ok() {}
    }

    // The outage: new keys, overwrites and a delete. All are accepted into
    // memory; the write breaker trips and the cache becomes read-only.
    for i in 0..12 {
        let key = format!("outage-{i}");
        let v = next(&key);
        assert_eq!(cache.set(key.as_bytes(), &v).unwrap(), Stored::Memory, "{key} reached a full disk");
        want.insert(key, Want::Value(v));
    }
    for key in &on_disk[..5] {
        let v = next(key);
        assert_eq!(cache.set(key.as_bytes(), &v).unwrap(), Stored::Memory);
        want.insert(key.clone(), Want::Value(v));
    }
    // (The answer counts what memory held: nothing, with no hot tier.)
    let deleted = on_disk[5].clone();
    cache.delete(deleted.as_bytes()).unwrap();
    want.insert(deleted, Want::Absent);
    assert_eq!(cache.mode(), Mode::ReadOnly, "the write breaker did not trip on a full disk");
    assert!(cache.metrics().resilience.write_breaker.trips >= 1);

    // Reads still come from the disk; outage writes from memory; the delete holds.
    let before = cache.metrics();
    let untouched: Vec<&String> = on_disk[6..].iter().collect();
    for key in &untouched {
        assert_eq!(Some(&Want::Value(get(&cache, key).expect("an entry on the full disk"))), want.get(*key));
    }
    let after = cache.metrics();
    assert_eq!(after.disk_hits - before.disk_hits, untouched.len() as u64, "reads did not come from disk");
    assert_eq!(cache.mode(), Mode::ReadOnly, "reads of a full disk tripped the read breaker");
    let bad = verify(&cache, &want);
    assert!(bad.is_empty(), "while read-only: {bad:?}");

    // A cache opened on the full disk (a restart during the outage) opens,
    // reads from disk and keeps its writes in memory.
    {
        let restarted = Cache::open(config(&dir, &clock, Durability::None)).expect("open on a full disk");
        restarted.wait_ready();
        let key = &on_disk[10];
        assert_eq!(Some(&Want::Value(get(&restarted, key).expect("an entry on disk"))), want.get(key));
        assert_eq!(restarted.set(b"restarted", b"x").unwrap(), Stored::Memory);
    }

    // A recovery attempt while the disk is still full fails and stays read-only.
    recovery_fails(&cache, &clock);
    assert!(cache.metrics().replay.depth > 0);

    // Space returns: recovery closes the breaker and drains the queue.
    std::fs::remove_file(&filler).unwrap();
    run_ok("mount", &["-o", "remount,size=16m", s(&mnt)]).unwrap();
    let rounds = recover(&cache, &clock, 20).unwrap();
    // 1 + 12 new keys, 5 overwrites and 1 delete were queued (the recovery
    // thread may have replayed some of them itself).
    let drained = cache.metrics().replay.drained;
    assert_eq!(drained, 19, "replayed writes");
    assert!(cache.metrics().resilience.recoveries >= 1);
    let bad = verify(&cache, &want);
    assert!(bad.is_empty(), "after the drain: {bad:?}");
    assert_eq!(cache.set(b"after", b"recovery").unwrap(), Stored::Disk);
    drop(cache);

    // Everything, including what was written during the outage, is on disk.
    let fresh = Cache::open(config(&dir, &clock, Durability::None)).unwrap();
    fresh.wait_ready();
    let bad = verify(&fresh, &want);
    assert!(bad.is_empty(), "after reopening: {bad:?}");
    assert_eq!(fresh.metrics().corruptions, 0);
    eprintln!(
        "{TEST}: {} entries filled 2 MiB ({first_in_memory} went to memory), recovered in {rounds} rounds, \
         {drained} writes replayed, {:?}",
        on_disk.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 2. ext4 forced read-only by an error (errors=remount-ro)

/// An ext4 file system on a loop device, mounted at `mnt`.
struct Ext4 {
    rig: Rig,
    img: PathBuf,
    dev: String,
    mnt: PathBuf,
}

/// Sets up ext4 with `opts`, or says why it cannot (a skip).
fn ext4(mib: u64, opts: &str, knobs: &[&str]) -> Result<Ext4, String> {
    if let Some(reason) = missing_precondition(true) {
        return Err(reason);
    }
    let mut rig = Rig::new();
    let img = rig.make_ext4("disk.img", mib)?;
    let dev = rig.attach(&img).map_err(|e| format!("no loop device: {e}"))?;
    let mnt = rig.path("mnt");
    rig.mount_ext4(&dev, &mnt, opts).map_err(|e| format!("cannot mount ext4: {e}"))?;
    if let Some(k) = knobs.iter().find(|k| !knob(&dev, k).exists()) {
        return Err(format!("{} is missing", knob(&dev, k).display()));
    }
    Ok(Ext4 { rig, img, dev, mnt })
}

/// What phase 1 of the read-only tests leaves: a cache in read-only mode.
struct Degraded {
    cache: Cache,
    clock: ManualClock,
    dir: PathBuf,
    want: BTreeMap<String, Want>,
    /// The keys acknowledged on disk before the fault, and their values.
    acked: BTreeMap<String, Vec<u8>>,
    /// Keys only ever written during the outage.
    outage_only: Vec<String>,
}

/// Writes entries durably, forces the file system read-only with an error,
/// and checks the cache degrades to read-only while reads keep working.
fn degrade_by_fs_error(fs: &Ext4) -> Degraded {
    let dir = fs.mnt.join("cache");
    let clock = ManualClock::starting_now();
    let cache = Cache::open(config(&dir, &clock, Durability::Fsync)).unwrap();
    cache.wait_ready();
    let mut want = BTreeMap::new();
    let mut acked = BTreeMap::new();
    for i in 0..20 {
        let key = format!("before-{i}");
        let v = value(&key, i, 100 + 300 * i as usize, i % 3 == 0);
        assert_eq!(cache.set(key.as_bytes(), &v).unwrap(), Stored::Disk);
        acked.insert(key.clone(), v.clone());
        want.insert(key, Want::Value(v));
    }

    write_knob(&fs.dev, "trigger_fs_error", "1");
    let refused = std::fs::write(fs.mnt.join("x"), b"x").map_err(|e| e.raw_os_error());
    assert_eq!(refused, Err(Some(libc::EROFS)), "ext4 did not go read-only: {}", mount_options(&fs.mnt));

    let mut outage_only = Vec::new();
    for i in 0..8 {
        let key = format!("during-{i}");
        let v = value(&key, 100 + i, 500, false);
        assert_eq!(cache.set(key.as_bytes(), &v).unwrap(), Stored::Memory, "{key} reached a read-only disk");
        want.insert(key.clone(), Want::Value(v));
        outage_only.push(key);
    }
    for i in 0..4 {
        let key = format!("before-{i}");
        let v = value(&key, 200 + i, 700, false);
        assert_eq!(cache.set(key.as_bytes(), &v).unwrap(), Stored::Memory);
        want.insert(key, Want::Value(v));
    }
    cache.delete(b"before-4").unwrap(); // not in memory (no hot tier): answers false
    want.insert("before-4".into(), Want::Absent);
    let m = cache.metrics();
    assert_eq!(cache.mode(), Mode::ReadOnly, "EROFS did not make the cache read-only: {:?}", m.resilience);
    assert!(m.disk_errors.read_only >= 1, "EROFS was not classified: {:?}", m.disk_errors);

    // Reads of entries not touched during the outage come from the disk.
    let hits = m.disk_hits;
    for i in 5..20 {
        let key = format!("before-{i}");
        assert_eq!(get(&cache, &key).as_ref(), acked.get(&key), "{key}");
    }
    assert_eq!(cache.metrics().disk_hits - hits, 15, "reads did not come from the read-only disk");
    assert_eq!(cache.mode(), Mode::ReadOnly, "reads tripped the read breaker");
    let bad = verify(&cache, &want);
    assert!(bad.is_empty(), "while read-only: {bad:?}");

    // Recovery cannot succeed while the file system is read-only.
    recovery_fails(&cache, &clock);
    Degraded { cache, clock, dir, want, acked, outage_only }
}

/// The operator's way back: close the cache, unmount, e2fsck, mount. A
/// `remount,rw` is refused after an error remount (the journal is aborted).
#[test]
fn ext4_error_remount_ro_degrades_and_acked_entries_survive_fsck() {
    const TEST: &str = "ext4_error_remount_ro_degrades_and_acked_entries_survive_fsck";
    let started = Instant::now();
    let mut fs = match ext4(32, "errors=remount-ro", &["trigger_fs_error"]) {
        Ok(fs) => fs,
        Err(reason) => return skip(TEST, &reason),
    };
    let Degraded { cache, dir, acked, outage_only, .. } = degrade_by_fs_error(&fs);

    // For the record: an open cache pins the mount (its coherence map is mapped).
    let busy = run_ok("umount", &[s(&fs.mnt)]);
    eprintln!("{TEST}: umount under an open cache: {}", busy.as_ref().err().map_or("succeeded", |e| e.as_str()));
    if busy.is_ok() {
        fs.rig.mounted.retain(|m| *m != fs.mnt);
    }

    let tries = close_and_umount(&mut fs.rig, cache, &fs.mnt);
    let fsck_code = fsck(&fs.dev).unwrap();
    fs.rig.mount_ext4(&fs.dev, &fs.mnt, "errors=remount-ro").unwrap();

    // Every entry acknowledged before the fault is intact; writes accepted only
    // into memory died with the closed cache (never a phantom or damaged value).
    let clock = ManualClock::starting_now();
    let cache = Cache::open(config(&dir, &clock, Durability::Fsync)).unwrap();
    cache.wait_ready();
    let mut want: BTreeMap<String, Want> = acked.into_iter().map(|(k, v)| (k, Want::Value(v))).collect();
    want.extend(outage_only.into_iter().map(|k| (k, Want::Absent)));
    let bad = verify(&cache, &want);
    assert!(bad.is_empty(), "after fsck: {bad:?}");
    let report = cache.sweep().unwrap();
    assert_eq!((report.quarantined, cache.metrics().corruptions), (0, 0));
    assert_eq!(cache.set(b"after", b"fsck").unwrap(), Stored::Disk);
    assert_eq!(cache.mode(), Mode::Normal);
    eprintln!("{TEST}: umount after drop took {tries} tries, e2fsck exit {fsck_code}, {:?}", started.elapsed());
}

/// The cache stays open while the operator repairs the disk: the broken file
/// system is detached (`umount -l`; the cache's map keeps it alive), a repaired
/// copy is mounted in its place, and recovery drains the outage writes into it.
#[test]
fn ext4_error_remount_ro_recovers_and_drains_into_the_repaired_disk() {
    const TEST: &str = "ext4_error_remount_ro_recovers_and_drains_into_the_repaired_disk";
    let started = Instant::now();
    let mut fs = match ext4(32, "errors=remount-ro", &["trigger_fs_error"]) {
        Ok(fs) => fs,
        Err(reason) => return skip(TEST, &reason),
    };
    let Degraded { cache, clock, dir, want, .. } = degrade_by_fs_error(&fs);

    // Detach the broken file system; repair a copy of its image and mount that.
    fs.rig.umount_lazy(&fs.mnt);
    let copy = fs.rig.path("repaired.img");
    std::fs::copy(&fs.img, &copy).unwrap();
    let fsck_code = fsck(s(&copy)).unwrap();
    let dev2 = fs.rig.attach(&copy).unwrap();
    fs.rig.mount_ext4(&dev2, &fs.mnt, "errors=remount-ro").unwrap();

    let rounds = recover(&cache, &clock, 20).unwrap();
    // 8 new keys, 4 overwrites and 1 delete were queued.
    assert_eq!(cache.metrics().replay.drained, 13, "replayed writes");
    let bad = verify(&cache, &want);
    assert!(bad.is_empty(), "after the drain: {bad:?}");

    // Dropping the cache releases the detached file system (its sysfs folder goes).
    let old = sysfs(&fs.dev);
    drop(cache);
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.exists() {
        assert!(Instant::now() < deadline, "the dropped cache still holds the detached file system");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dev1 = fs.dev.clone();
    fs.rig.detach(&dev1);

    // A fresh cache on the repaired disk sees every write, outage ones included.
    fs.rig.umount(&fs.mnt, Duration::from_secs(10)).unwrap();
    fs.rig.mount_ext4(&dev2, &fs.mnt, "errors=remount-ro").unwrap();
    let fresh = Cache::open(config(&dir, &ManualClock::starting_now(), Durability::Fsync)).unwrap();
    fresh.wait_ready();
    let bad = verify(&fresh, &want);
    assert!(bad.is_empty(), "after reopening: {bad:?}");
    assert_eq!(fresh.metrics().corruptions, 0);
    eprintln!("{TEST}: e2fsck exit {fsck_code}, recovered in {rounds} rounds, {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 3. A one-shot EIO (simulate_fail)

/// Keys whose entries share one data folder: 40 of them make it outgrow one
/// 1 KiB block, so ext4 indexes it and a lookup in it reads a directory block.
fn keys_in_one_folder(n: usize) -> Vec<String> {
    let top = |k: &str| (format::key_hash(k.as_bytes()) >> 120) as u8;
    let folder = top("eio-0");
    (0..).map(|i| format!("eio-{i}")).filter(|k| top(k) == folder).take(n).collect()
}

#[test]
fn eio_from_simulate_fail_is_a_miss_or_a_memory_write_never_an_error() {
    const TEST: &str = "eio_from_simulate_fail_is_a_miss_or_a_memory_write_never_an_error";
    let started = Instant::now();
    let mut fs = match ext4(32, "errors=continue", &["simulate_fail"]) {
        Ok(fs) => fs,
        Err(reason) => return skip(TEST, &reason),
    };
    let dir = fs.mnt.join("cache");
    let clock = ManualClock::starting_now();
    let keys = keys_in_one_folder(41);
    let (late, keys) = keys.split_last().unwrap();
    let mut want = BTreeMap::new();
    let cache = Cache::open(config(&dir, &clock, Durability::Fsync)).unwrap();
    cache.wait_ready();
    for (i, key) in keys.iter().enumerate() {
        let v = value(key, i as u64, 200, false);
        assert_eq!(cache.set(key.as_bytes(), &v).unwrap(), Stored::Disk);
        want.insert(key.clone(), Want::Value(v));
    }

    // A write whose file cannot be created (EIO on the folder) goes to memory,
    // reads back from memory, and is replayed on the next recovery round.
    write_knob(&fs.dev, "simulate_fail", EXT4_SIM_DIRBLOCK_EIO);
    let v = value(late, 1000, 200, false);
    assert_eq!(cache.set(late.as_bytes(), &v).unwrap(), Stored::Memory, "the set did not meet the EIO");
    assert_eq!(read_knob(&fs.dev, "simulate_fail"), "0", "the fault did not fire");
    let m = cache.metrics();
    assert_eq!((m.disk_errors.io, m.replay.queued), (1, 1), "{:?}", m.disk_errors);
    assert_eq!(cache.mode(), Mode::Normal, "one EIO must not trip the breaker");
    assert_eq!(get(&cache, late).as_ref(), Some(&v));
    cache.run_recovery(); // (or the recovery thread already did)
    let m = cache.metrics();
    assert_eq!((m.replay.drained, m.replay.depth), (1, 0));
    want.insert(late.clone(), Want::Value(v));
    close_and_umount(&mut fs.rig, cache, &fs.mnt);

    // Cold caches: the fault armed before opening hits the open's scan of the
    // data folder, which must not fail the open.
    fs.rig.mount_ext4(&fs.dev, &fs.mnt, "errors=continue").unwrap();
    write_knob(&fs.dev, "simulate_fail", EXT4_SIM_DIRBLOCK_EIO);
    let cache = Cache::open(config(&dir, &clock, Durability::Fsync)).expect("an EIO in the first scan failed the open");
    cache.wait_ready();
    assert_eq!(read_knob(&fs.dev, "simulate_fail"), "0", "the scan did not meet the EIO");
    assert_eq!(cache.metrics().disk_entries, 0, "the failed scan indexed entries");

    // A read whose lookup fails with EIO is a miss, not an error; the next
    // read of the same key finds the entry.
    let probe = &keys[7];
    write_knob(&fs.dev, "simulate_fail", EXT4_SIM_DIRBLOCK_EIO);
    let before = cache.metrics();
    assert_eq!(cache.get(probe.as_bytes()).expect("an EIO on read must not be an error"), None);
    assert_eq!(read_knob(&fs.dev, "simulate_fail"), "0", "the read did not meet the EIO");
    let after = cache.metrics();
    assert_eq!(after.disk_errors.io - before.disk_errors.io, 1);
    assert_eq!(after.resilience.fallback_reads - before.resilience.fallback_reads, 1);
    assert_eq!(cache.mode(), Mode::Normal);
    let bad = verify(&cache, &want);
    assert!(bad.is_empty(), "after the EIO: {bad:?}");
    // The next sweep indexes what the failed scan missed.
    cache.sweep().unwrap();
    assert_eq!(cache.metrics().disk_entries, want.len() as u64);
    assert_eq!(cache.metrics().corruptions, 0);

    // A clear whose listing fails still clears: memory now, every disk entry
    // hidden at once and removed once recovery runs.
    write_knob(&fs.dev, "simulate_fail", EXT4_SIM_DIRBLOCK_EIO);
    cache.clear().expect("an EIO in clear must not be an error");
    assert_eq!(read_knob(&fs.dev, "simulate_fail"), "0", "the clear did not meet the EIO");
    let gone: BTreeMap<String, Want> = want.keys().map(|k| (k.clone(), Want::Absent)).collect();
    let bad = verify(&cache, &gone);
    assert!(bad.is_empty(), "after a clear that met an EIO: {bad:?}");
    cache.run_recovery();
    assert_eq!(cache.sweep().unwrap().scanned, 0, "the clear never reached the disk");
    eprintln!("{TEST}: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 4. Power cuts: EXT4_IOC_SHUTDOWN + SIGKILL, then remount and verify

/// Cuts the power to the file system mounted at `mnt`: every later call on it
/// fails with EIO, and what the journal did not commit is lost.
fn shutdown(mnt: &Path) {
    let path = std::ffi::CString::new(mnt.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; the fd is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    assert!(fd >= 0, "open {}: {}", mnt.display(), std::io::Error::last_os_error());
    let flags: u32 = EXT4_GOING_FLAGS_NOLOGFLUSH;
    // SAFETY: EXT4_IOC_SHUTDOWN reads one u32 through the pointer, which lives across the call.
    let rc = unsafe { libc::ioctl(fd, EXT4_IOC_SHUTDOWN as _, &flags as *const u32) };
    let err = std::io::Error::last_os_error();
    // SAFETY: fd was opened above and is not used again.
    unsafe { libc::close(fd) };
    assert_eq!(rc, 0, "EXT4_IOC_SHUTDOWN: {err}");
}

/// A delete whose folder fsync failed has unlinked the file, but not durably;
/// it is queued for replay. The replay finds the file gone and must still
/// make that durable (fsync the folder), or a power cut brings the deleted
/// value back. (Found by the power-cut loop: without the folder fsync on a
/// missing file, about one run in fifty resurrected a deleted value.)
#[test]
fn replayed_delete_after_a_failed_folder_fsync_survives_a_power_cut() {
    const TEST: &str = "replayed_delete_after_a_failed_folder_fsync_survives_a_power_cut";
    let mut fs = match ext4(32, "errors=remount-ro", &[]) {
        Ok(fs) => fs,
        Err(reason) => return skip(TEST, &reason),
    };
    let dir = fs.mnt.join("cache");
    let clock = ManualClock::starting_now();
    let cache = Cache::open(config(&dir, &clock, Durability::Fsync)).unwrap();
    cache.wait_ready();
    let (doomed, kept) = (value("doomed", 1, 300, false), value("kept", 2, 300, false));
    assert_eq!(cache.set(b"doomed", &doomed).unwrap(), Stored::Disk);
    assert_eq!(cache.set(b"kept", &kept).unwrap(), Stored::Disk);

    // The unlink happens; the folder fsync after it fails.
    cache.faults().inject(ChaosOp::Fsync, ChaosError::Eio, Trigger::Once).unwrap();
    cache.delete(b"doomed").unwrap();
    assert_eq!(cache.faults().injected(), 1, "the delete did not fsync its folder");
    assert_eq!(cache.metrics().replay.queued, 1, "the failed delete was not queued");
    assert_eq!(get(&cache, "doomed"), None);
    cache.run_recovery(); // replays the delete (or the recovery thread did)
    let m = cache.metrics();
    assert_eq!((m.replay.drained, m.replay.depth, cache.mode()), (1, 0, Mode::Normal));

    // Power cut before the journal's own commit (5 s): only what was fsynced survives.
    shutdown(&fs.mnt);
    drop(cache);
    fs.rig.umount(&fs.mnt, Duration::from_secs(10)).unwrap();
    fs.rig.mount_ext4(&fs.dev, &fs.mnt, "errors=remount-ro").unwrap();
    let fresh = Cache::open(config(&dir, &ManualClock::starting_now(), Durability::Fsync)).unwrap();
    fresh.wait_ready();
    let want = BTreeMap::from([("doomed".to_string(), Want::Absent), ("kept".to_string(), Want::Value(kept))]);
    let bad = verify(&fresh, &want);
    assert!(bad.is_empty(), "after the power cut: {bad:?}");
}

/// The newest change of a key that the disk must reflect.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Floor {
    /// Nothing known: any sound value (or none) will do.
    #[default]
    Unknown,
    /// Set at this seq: its value or a later one.
    Set(u64),
    /// Deleted at this seq: nothing, or a value set later.
    Deleted(u64),
}

impl Floor {
    fn seq(self) -> u64 {
        match self {
            Floor::Unknown => 0,
            Floor::Set(s) | Floor::Deleted(s) => s,
        }
    }

    /// Whether reading `got` (a value's seq, or nothing) honours this floor;
    /// `deleting`: a delete was started after it (and may have landed).
    fn allows(self, got: Option<u64>, deleting: bool) -> bool {
        match (self, got) {
            (Floor::Unknown, _) => true,
            (Floor::Set(s), Some(v)) => v >= s,
            (Floor::Set(_), None) => deleting,
            (Floor::Deleted(d), Some(v)) => v > d,
            (Floor::Deleted(_), None) => true,
        }
    }
}

/// What the parent knows of one key.
#[derive(Debug, Default, Clone, Copy)]
struct Expect {
    /// The newest change acknowledged durable (or seen after a clean unmount).
    floor: Floor,
    /// A delete was started after the floor.
    deleting: bool,
    /// The newest seq the child started to set: no value can be later.
    ceiling: u64,
}

/// Cycles of: a child sets and deletes keys (`try`/`del` before each call,
/// `ack`/`ackdel` once it reached the disk), the power is cut after a few
/// acks and the child killed, the file system is mounted again (its journal
/// replays) and a fresh cache reads every key. With `Durability::Fsync` every
/// acknowledged change survives (a set: its value or a later one; a delete:
/// no older value comes back) and no entry file is torn. Every fourth cycle
/// uses `Durability::None` next to a program that fsyncs (so the journal
/// commits renames of unsynced data): changes may be lost and files torn, but
/// no damaged or invented value is ever returned.
#[test]
fn power_cut_loop_loses_no_fsynced_write_and_returns_no_corrupt_value() {
    const TEST: &str = "power_cut_loop_loses_no_fsynced_write_and_returns_no_corrupt_value";
    const CYCLES: u64 = 32;
    // No rename-replace flush (auto_da_alloc): the harshest ext4 setting for
    // writers that do not fsync, so `Durability::None` cycles leave torn files.
    const MOUNT: &str = "errors=remount-ro,noauto_da_alloc";
    let started = Instant::now();
    let mut fs = match ext4(64, MOUNT, &[]) {
        Ok(fs) => fs,
        Err(reason) => return skip(TEST, &reason),
    };
    let seed = seed();
    eprintln!("{TEST}: seed {seed} (STURDY_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = fs.mnt.join("cache");
    let keys: Vec<String> = (0..POWER_CUT_KEYS).map(|i| format!("pc-{i:02}")).collect();
    let mut expect: BTreeMap<String, Expect> = keys.iter().map(|k| (k.clone(), Expect::default())).collect();
    let (mut acked_sets, mut acked_deletes, mut wrong) = (0, 0, Vec::new());
    // Corrupt entry files found after fsync and after none cycles.
    let (mut torn_fsync, mut torn_none) = (0, 0);
    // Keys whose newest acknowledged change of a `Durability::None` cycle the
    // cut undid: the proof that the cut really drops what was not synced.
    let mut none_undone = 0;

    for cycle in 0..CYCLES {
        let fsync = cycle % 4 != 3;
        let target = rng.usize(3..=30);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "power_cut_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env(ROLE, "power_cut_child")
            .env(DIR, &dir)
            .env(DURABILITY, if fsync { "fsync" } else { "none" })
            .env(SEQ_BASE, ((cycle + 1) * 1_000_000).to_string())
            .env("STURDY_SEED", rng.u64(..).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, msg)) = line.split_once(MARK)
                    && tx.send(msg.to_string()).is_err()
                {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let mut acks = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while acks < target {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    acks += usize::from(line.starts_with("ack"));
                    seen.push(line);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("cycle {cycle}: the child acknowledged {acks} of {target} changes in 30 s");
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("cycle {cycle}: the child exited ({:?}) after {acks} acks", child.wait());
                }
            }
        }
        // The cut, mid-write, then the process dies with it.
        let cut_at = seen.len();
        shutdown(&fs.mnt);
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        seen.extend(lines.try_iter());

        // The newest acknowledged change per key of a none cycle.
        let mut none_acked: BTreeMap<String, Floor> = BTreeMap::new();
        for line in &seen {
            let mut parts = line.split(' ');
            let (Some(what), Some(key), Some(seq)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let Ok(seq) = seq.parse::<u64>() else { continue };
            let e = expect.get_mut(key).unwrap_or_else(|| panic!("unknown key in {line:?}"));
            let change = match what {
                "try" => {
                    e.ceiling = e.ceiling.max(seq);
                    None
                }
                "del" => {
                    e.deleting = true;
                    None
                }
                "ack" => Some(Floor::Set(seq)),
                "ackdel" => Some(Floor::Deleted(seq)),
                _ => None,
            };
            if !fsync && (what == "try" || what == "del") {
                // A change that was never durable may take the older state with it.
                e.floor = Floor::Unknown;
            }
            let Some(change) = change else { continue };
            if matches!(change, Floor::Set(_)) {
                acked_sets += 1
            } else {
                acked_deletes += 1
            }
            if fsync {
                e.floor = change;
                e.deleting = false;
            } else {
                none_acked.insert(key.to_string(), change);
            }
        }

        // Power back: unmount the dead file system, mount (the journal replays), verify.
        fs.rig.umount(&fs.mnt, Duration::from_secs(10)).unwrap();
        fs.rig.mount_ext4(&fs.dev, &fs.mnt, MOUNT).unwrap();
        let mut c = Config::new(&dir);
        c.sweep_interval = None;
        c.health_interval = None;
        let cache = Cache::open(c).unwrap();
        cache.wait_ready();
        for key in &keys {
            let e = expect.get_mut(key).unwrap();
            let got = match get(&cache, key).map(|v| check(key, &v)) {
                Some(Err(why)) => {
                    wrong.push(format!("cycle {cycle}: DAMAGED value returned: {why}"));
                    continue;
                }
                Some(Ok(v)) if v > e.ceiling => {
                    wrong.push(format!("cycle {cycle}: {key} reads seq {v}, never written (last {})", e.ceiling));
                    continue;
                }
                got => got.map(Result::unwrap),
            };
            if !e.floor.allows(got, e.deleting) {
                // The key's story this cycle; lines after the cut mark may predate it.
                let story: Vec<&str> = seen[..cut_at]
                    .iter()
                    .map(String::as_str)
                    .chain(["(cut)"])
                    .chain(seen[cut_at..].iter().map(String::as_str))
                    .filter(|l| *l == "(cut)" || l.split(' ').nth(1) == Some(key.as_str()))
                    .collect();
                wrong.push(format!(
                    "cycle {cycle}: {key}: acknowledged {:?} (delete started since: {}), reads {}; this cycle: {}",
                    e.floor,
                    e.deleting,
                    got.map_or("nothing".into(), |v| format!("seq {v}")),
                    story.join(", ")
                ));
            }
            if none_acked.get(key).is_some_and(|f| !f.allows(got, false)) {
                none_undone += 1;
            }
            // After a clean unmount what the disk holds is the floor from here on.
            *e = Expect {
                floor: got.map_or(Floor::Deleted(e.ceiling.max(e.floor.seq())), Floor::Set),
                deleting: false,
                ceiling: got.unwrap_or(e.ceiling),
            };
        }
        let torn = cache.metrics().corruptions;
        if fsync {
            torn_fsync += torn;
        } else {
            torn_none += torn;
        }
        close_and_umount(&mut fs.rig, cache, &fs.mnt);
        fs.rig.mount_ext4(&fs.dev, &fs.mnt, MOUNT).unwrap();
    }

    eprintln!(
        "{TEST}: {CYCLES} cycles, {acked_sets} sets and {acked_deletes} deletes acknowledged ({none_undone} keys' \
         newest unsynced change undone by the cut), torn entry files quarantined: {torn_none} after none cycles, \
         {torn_fsync} after fsync cycles, {:?}",
        started.elapsed()
    );
    assert!(wrong.is_empty(), "wrong answers after power cuts: {wrong:#?}");
    assert_eq!(torn_fsync, 0, "entries written with fsync were torn by a power cut");
    assert!(acked_sets >= 3 * CYCLES && acked_deletes > 0, "{acked_sets} sets, {acked_deletes} deletes acknowledged");
    assert!(none_undone > 0, "no unsynced change was lost: the power cut did not cut anything");
}

/// The power-cut child: sets (five in six) and deletes random keys until
/// killed, printing `try`/`del` before each call and `ack`/`ackdel` once it
/// reached the disk (a set returned [`Stored::Disk`]; a delete counted no
/// fallback write).
#[test]
#[ignore = "child process of power_cut_loop_loses_no_fsynced_write_and_returns_no_corrupt_value"]
fn power_cut_child() {
    if std::env::var(ROLE).ok().as_deref() != Some("power_cut_child") {
        return;
    }
    let dir = PathBuf::from(std::env::var_os(DIR).expect("dir"));
    let mut c = Config::new(dir);
    c.sweep_interval = None;
    c.health_interval = None;
    c.durability = match std::env::var(DURABILITY).as_deref() {
        Ok("fsync") => Durability::Fsync,
        _ => Durability::None,
    };
    let durability = c.durability;
    let neighbour = c.directory.with_file_name("neighbour");
    let mut seq: u64 = std::env::var(SEQ_BASE).unwrap().parse().unwrap();
    let mut rng = fastrand::Rng::with_seed(seed());
    let cache = Cache::open(c).unwrap();
    let mut out = std::io::stdout().lock();
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        seq += 1;
        let key = format!("pc-{:02}", rng.usize(..POWER_CUT_KEYS));
        let line = if rng.u8(..6) == 0 {
            writeln!(out, "{MARK}del {key} {seq}").unwrap();
            out.flush().unwrap();
            let fallbacks = cache.metrics().resilience.fallback_writes;
            match cache.delete(key.as_bytes()) {
                Ok(_) if cache.metrics().resilience.fallback_writes == fallbacks => format!("ackdel {key} {seq}"),
                Ok(_) => format!("memdel {key} {seq}"),
                Err(e) => format!("err {key} {seq} {e}"),
            }
        } else {
            let v = value(&key, seq, rng.usize(0..8000), seq % 2 == 1);
            writeln!(out, "{MARK}try {key} {seq}").unwrap();
            out.flush().unwrap();
            match cache.set(key.as_bytes(), &v) {
                Ok(Stored::Disk) => format!("ack {key} {seq}"),
                Ok(Stored::Memory) => format!("mem {key} {seq}"),
                Err(e) => format!("err {key} {seq} {e}"),
            }
        };
        writeln!(out, "{MARK}{line}").unwrap();
        out.flush().unwrap();
        if durability == Durability::None && seq.is_multiple_of(3) {
            // Another program on the same disk fsyncs: the journal commits our
            // renames, not our unsynced data, so the cut can leave torn entries.
            let _ = std::fs::File::create(&neighbour).and_then(|mut f| {
                f.write_all(&seq.to_le_bytes())?;
                f.sync_all()
            });
        }
    }
}
