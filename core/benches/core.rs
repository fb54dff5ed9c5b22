//! sturdycache against its peers, side by side in one run.
//!
//! Groups (criterion, one sturdycache function and one peer function each):
//! - `hot_get_1KiB`: a hot hit vs `moka::sync::Cache::get`, same keys.
//! - `warm_get_1KiB`: a get served from the entry file (hot tier off, page
//!   cache warm) vs `std::fs::read` of that same file.
//! - `set_1KiB_durability_none`: a set vs a bare write-temp-then-rename of the
//!   same encoded bytes with `std::fs`.
//!
//! Then `open_100k` (plain timed runs: `Cache::open` returns before the index
//! is built, so criterion's iteration model does not fit) and the hot tier's
//! memory overhead per entry. A summary table closes the run with
//! "ours / peer" ratios two ways: from the means of everything criterion
//! measured, and from an interleaved A/B pass (ours and the peer alternate
//! in short rounds; median of the per-round ratios), which is the steadier
//! figure on a shared machine: the disk figures swing with the file system's
//! state (on ext4 a create skips over recently freed inodes, so a burst of
//! deletes slows the next creates for seconds), which both sides of an A/B
//! round share.
//!
//! Knobs (environment variables):
//! - `STURDY_BENCH_QUICK=1`: short measurements (a few seconds in all).
//! - `STURDY_BENCH_ONLY=hot,warm,set,open,memory`: run only the named parts
//!   (substring match; a criterion filter argument works the same way).
//! - `STURDY_BENCH_OPEN_ENTRIES=N`: entries in the open benchmark's directory
//!   (default 100000; the directory is kept under `<target>/sturdy-bench/` and
//!   reused by later runs).
//! - `STURDY_BENCH_OPEN_RUNS=N`: timed opens (default 5).
//! - `STURDY_BENCH_HOT_KEYS=N`: key set of the hot get (default 10000).
//! - `STURDY_BENCH_DIR=path`: where the scratch and open directories go
//!   (default `<target>/sturdy-bench`; e.g. a tmpfs to take the file system's
//!   own costs out of the disk figures).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;

mod common;
use common::{RunMode, cycling, env_usize, scratch_root};
use sturdycache::clock::ManualClock;
use sturdycache::format::{self, Compression, EncodeInput};
use sturdycache::{Cache, Config, Durability, ENTRY_OVERHEAD};

// ---------------------------------------------------------------------------
// A counting allocator, switched on only while the memory figure is measured
// (off, it costs one relaxed load per allocation, for ours and peers alike).

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if COUNTING.load(Ordering::Relaxed) && !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if COUNTING.load(Ordering::Relaxed) && !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes glibc has handed out (chunk sizes, so including its per-chunk
/// header and rounding), or None off glibc.
fn malloc_in_use() -> Option<isize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks + m.hblkhd) as isize)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

// ---------------------------------------------------------------------------
// Settings.

struct Knobs {
    run: RunMode,
    hot_keys: usize,
    warm_keys: usize,
    set_keys: usize,
    open_entries: usize,
    open_runs: usize,
}

impl std::ops::Deref for Knobs {
    type Target = RunMode;
    fn deref(&self) -> &RunMode {
        &self.run
    }
}

impl Knobs {
    fn from_env() -> Knobs {
        let run = RunMode::from_env();
        let (smoke, quick) = (run.smoke, run.quick);
        let scale = |full: usize, small: usize| if smoke { small } else { full };
        Knobs {
            run,
            hot_keys: env_usize("STURDY_BENCH_HOT_KEYS").unwrap_or(scale(10_000, 200)),
            warm_keys: scale(1000, 50),
            set_keys: scale(1000, 50),
            open_entries: env_usize("STURDY_BENCH_OPEN_ENTRIES").unwrap_or(scale(100_000, 200)),
            open_runs: env_usize("STURDY_BENCH_OPEN_RUNS").unwrap_or(if quick { 2 } else { 5 }).max(1),
        }
    }
}

fn config(dir: &Path, memory_limit: u64) -> Config {
    let mut c = Config::new(dir);
    c.memory_limit = memory_limit;
    c.durability = Durability::None;
    c.sweep_interval = None;
    c
}

fn open(dir: &Path, memory_limit: u64) -> Cache {
    let cache = Cache::open(config(dir, memory_limit)).expect("open the cache");
    cache.wait_ready();
    cache
}

fn keys(n: usize, prefix: char) -> Vec<[u8; 16]> {
    (0..n).map(|i| *format!("{prefix}{i:015}").as_bytes().first_chunk().expect("16-byte key")).collect()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// A shuffled visiting order over `n` keys, long enough to cycle through.
fn order(n: usize, seed: u64) -> Vec<usize> {
    let mut o: Vec<usize> = (0..n).collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut o);
    o
}

/// Where sturdycache keeps `key`'s entry file (see `docs/FORMAT.md`).
fn entry_path(dir: &Path, key: &[u8]) -> PathBuf {
    let hash = format::key_hash(key);
    dir.join("data").join(format!("{:02x}", (hash >> 120) as u8)).join(format!("{hash:032x}"))
}

// ---------------------------------------------------------------------------
// Measurement bookkeeping.

/// Total time and iterations of everything criterion measured, per function.
#[derive(Default)]
struct Means {
    totals: HashMap<String, (u64, Duration)>,
}

impl Means {
    fn add(&mut self, id: &str, iters: u64, elapsed: Duration) -> Duration {
        let e = self.totals.entry(id.to_string()).or_default();
        e.0 += iters;
        e.1 += elapsed;
        elapsed
    }
    fn ns(&self, id: &str) -> Option<f64> {
        self.totals.get(id).filter(|(n, _)| *n > 0).map(|(n, d)| d.as_nanos() as f64 / *n as f64)
    }
}

/// Ours and the peer alternate in `rounds` rounds of `iters` calls each
/// (which goes first alternates too). Returns the mean ns per call of each
/// and the median of the per-round ratios.
fn interleaved(
    rounds: usize,
    iters: u64,
    ours: &mut impl FnMut(u64) -> Duration,
    peer: &mut impl FnMut(u64) -> Duration,
) -> (f64, f64, f64) {
    let (mut t_ours, mut t_peer) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let (a, b) = if r % 2 == 0 {
            let a = ours(iters);
            (a, peer(iters))
        } else {
            let b = peer(iters);
            (ours(iters), b)
        };
        t_ours += a;
        t_peer += b;
        ratios.push(a.as_secs_f64() / b.as_secs_f64().max(1e-12));
    }
    ratios.sort_by(f64::total_cmp);
    let per = |t: Duration| t.as_nanos() as f64 / (rounds as u64 * iters) as f64;
    (per(t_ours), per(t_peer), ratios[ratios.len() / 2])
}

struct Row {
    name: &'static str,
    peer: &'static str,
    ours_ns: Option<f64>,
    peer_ns: Option<f64>,
    ab: (f64, f64, f64),
    ab_rounds: usize,
    target: f64,
}

/// Runs one criterion group (ours, then the peer) and the interleaved pass.
#[allow(clippy::too_many_arguments)]
fn compare(
    c: &mut Criterion,
    means: &mut Means,
    knobs: &Knobs,
    name: &'static str,
    peer_name: &'static str,
    target: f64,
    (ab_rounds, ab_iters): (usize, u64),
    mut ours: impl FnMut(u64) -> Duration,
    mut peer: impl FnMut(u64) -> Duration,
) -> Row {
    let ours_id = format!("{name}/sturdycache");
    let peer_id = format!("{name}/{peer_name}");
    {
        let mut group = c.benchmark_group(name);
        group.bench_function("sturdycache", |b| b.iter_custom(|n| means.add(&ours_id, n, ours(n))));
        group.bench_function(peer_name, |b| b.iter_custom(|n| means.add(&peer_id, n, peer(n))));
        group.finish();
    }
    let (ab_rounds, ab_iters) = knobs.ab(ab_rounds, ab_iters);
    let ab = interleaved(ab_rounds, ab_iters, &mut ours, &mut peer);
    Row { name, peer: peer_name, ours_ns: means.ns(&ours_id), peer_ns: means.ns(&peer_id), ab, ab_rounds, target }
}

// ---------------------------------------------------------------------------
// The groups.

fn hot_get(c: &mut Criterion, means: &mut Means, knobs: &Knobs, root: &Path) -> Row {
    let dir = tempfile::tempdir_in(root).expect("scratch dir");
    let n = knobs.hot_keys;
    let keys = keys(n, 'h');
    let value = random_bytes(1024, 1);
    let cache = open(dir.path(), 1 << 30);
    let moka: moka::sync::Cache<Vec<u8>, Arc<[u8]>> = moka::sync::Cache::new(2 * n as u64);
    for k in &keys {
        cache.set(k, &value).expect("set");
        moka.insert(k.to_vec(), Arc::from(&value[..]));
    }
    moka.run_pending_tasks();
    for k in &keys {
        assert!(cache.get(k).expect("get").is_some() && moka.get(&k[..]).is_some(), "both hold every key");
    }
    let before = cache.metrics();
    assert_eq!(before.hot_entries, n as u64, "every key is in the hot tier");
    let order = order(n, 2);

    let ours = cycling(&order, |k| {
        black_box(cache.get(black_box(&keys[k])).ok().flatten());
    });
    let peer = cycling(&order, |k| {
        black_box(moka.get(black_box(&keys[k][..])));
    });
    let row = compare(c, means, knobs, "hot_get_1KiB", "moka", 1.0, (21, 100_000), ours, peer);
    let after = cache.metrics();
    assert_eq!(after.hot_misses, before.hot_misses, "every measured get was a hot hit");
    row
}

fn warm_get(c: &mut Criterion, means: &mut Means, knobs: &Knobs, root: &Path) -> Row {
    let dir = tempfile::tempdir_in(root).expect("scratch dir");
    let n = knobs.warm_keys;
    let keys = keys(n, 'w');
    let value = random_bytes(1024, 3);
    let cache = open(dir.path(), 0);
    for k in &keys {
        cache.set(k, &value).expect("set");
    }
    let paths: Vec<PathBuf> = keys.iter().map(|k| entry_path(dir.path(), k)).collect();
    for (k, p) in keys.iter().zip(&paths) {
        let bytes = std::fs::read(p).expect("the entry file is where the format says");
        let decoded = format::decode(&bytes).expect("a sound entry");
        assert_eq!(decoded.key, &k[..]);
        assert_eq!(cache.get(k).expect("get").as_deref(), Some(&value[..]), "warm read (page cache now warm)");
    }
    let before = cache.metrics();
    let order = order(n, 4);

    let ours = cycling(&order, |k| {
        black_box(cache.get(black_box(&keys[k])).ok().flatten());
    });
    let peer = cycling(&order, |k| {
        black_box(std::fs::read(black_box(&paths[k])).ok());
    });
    let row = compare(c, means, knobs, "warm_get_1KiB", "std_fs_read", 1.5, (31, 2_000), ours, peer);
    let after = cache.metrics();
    assert_eq!(after.hot_hits, before.hot_hits, "no measured get was served from memory");
    assert_eq!(after.disk_misses, before.disk_misses, "every measured get found its file");
    row
}

fn set(c: &mut Criterion, means: &mut Means, knobs: &Knobs, root: &Path) -> Row {
    // Both trees under one parent: ext4 then allocates their inodes from the
    // same block group, whose state (how many inodes were freed in the last
    // seconds, which a create must skip over) dominates a create's cost.
    let scratch = tempfile::tempdir_in(root).expect("scratch dir");
    let (ours_dir, peer_dir) = (scratch.path().join("ours"), scratch.path().join("peer"));
    let n = knobs.set_keys;
    let keys = keys(n, 's');
    let value = random_bytes(1024, 5);
    let cache = Cache::open(config(&ours_dir, sturdycache::DEFAULT_MEMORY_LIMIT)).expect("open");
    cache.wait_ready();
    // The peer writes the bytes sturdycache would write, to the same layout.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64;
    let compression = Compression { threshold: cache.config().compression_threshold, level: 3 };
    let encoded: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            let input = EncodeInput {
                key: k,
                tag: b"",
                value: &value,
                value_type: 0,
                created_ms: now_ms,
                expires_ms: 0,
                mac_key: None,
            };
            format::encode(&input, compression)
        })
        .collect();
    let targets: Vec<PathBuf> = keys.iter().map(|k| entry_path(&peer_dir, k)).collect();
    for (t, bytes) in targets.iter().zip(&encoded) {
        std::fs::create_dir_all(t.parent().expect("folder")).expect("create folder");
        std::fs::write(t, bytes).expect("first write");
    }
    for k in &keys {
        cache.set(k, &value).expect("first set");
    }
    for (k, t) in keys.iter().zip(&targets) {
        let ours = std::fs::read(entry_path(&ours_dir, k)).expect("our entry file");
        assert_eq!(ours.len(), std::fs::metadata(t).expect("peer file").len() as usize, "same bytes on disk");
    }

    let in_turn: Vec<usize> = (0..n).collect();
    let ours = cycling(&in_turn, |k| {
        cache.set(black_box(&keys[k]), black_box(&value)).expect("set");
    });
    let pid = std::process::id();
    let mut seq = 0u64;
    let peer = cycling(&in_turn, |k| {
        seq += 1;
        let target = &targets[k];
        let tmp = target.with_file_name(format!(".tmp-{pid}-{seq}"));
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).expect("create temp");
        f.write_all(black_box(&encoded[k])).expect("write");
        drop(f);
        std::fs::rename(&tmp, target).expect("rename");
    });
    compare(c, means, knobs, "set_1KiB_durability_none", "std_fs_write_rename", 1.3, (61, 40), ours, peer)
}

/// Medians of the open and open-to-ready times.
struct OpenFigures {
    entries: usize,
    empty_open: Duration,
    open: Duration,
    ready: Duration,
    created_in: Option<Duration>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn open_bench(knobs: &Knobs, root: &Path) -> OpenFigures {
    let n = knobs.open_entries;
    let dir = root.join(format!("open-{n}"));
    let done = dir.join("bench-complete");
    let mut created_in = None;
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("open_100k: creating {n} entries in {} (once; reused by later runs)", dir.display());
        let start = Instant::now();
        let cache = open(&dir, 0);
        let value = random_bytes(100, 6);
        for k in keys(n, 'o') {
            cache.set(&k, &value).expect("set");
        }
        drop(cache);
        std::fs::write(&done, n.to_string()).expect("mark the directory complete");
        created_in = Some(start.elapsed());
    }
    let empty = tempfile::tempdir_in(root).expect("scratch dir");
    drop(open(empty.path(), 0));
    let (mut empty_opens, mut opens, mut readies) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..knobs.open_runs {
        let start = Instant::now();
        let cache = Cache::open(config(empty.path(), 0)).expect("open");
        empty_opens.push(start.elapsed());
        cache.wait_ready();
        drop(cache);

        let start = Instant::now();
        let cache = Cache::open(config(&dir, 0)).expect("open");
        opens.push(start.elapsed());
        cache.wait_ready();
        readies.push(start.elapsed());
        assert_eq!(cache.metrics().disk_entries, n as u64, "the background scan indexed every entry");
    }
    OpenFigures { entries: n, empty_open: median(empty_opens), open: median(opens), ready: median(readies), created_in }
}

/// Heap bytes per hot entry beyond key and value (16-byte keys, 100-byte
/// values): (growth with the hot tier on − growth with it off − N·116) / N.
/// Returns (requested bytes, glibc chunk bytes) per entry.
fn memory_overhead(n: usize, root: &Path) -> (f64, Option<f64>) {
    let growth = |memory_limit: u64| {
        let dir = tempfile::tempdir_in(root).expect("scratch dir");
        // A still clock: the disk index then grows alike in both runs and cancels out.
        let mut config = config(dir.path(), memory_limit);
        config.clock = Arc::new(ManualClock::starting_now());
        let cache = Cache::open(config).expect("open");
        cache.wait_ready();
        let keys = keys(n, 'm');
        let value = [0xA5u8; 100];
        cache.set(b"warm-up", &value).expect("set");
        cache.delete(b"warm-up").expect("delete");
        COUNTING.store(true, Ordering::SeqCst);
        let (live0, malloc0) = (LIVE.load(Ordering::SeqCst), malloc_in_use());
        for k in &keys {
            cache.set(k, &value).expect("set");
        }
        let (live1, malloc1) = (LIVE.load(Ordering::SeqCst), malloc_in_use());
        COUNTING.store(false, Ordering::SeqCst);
        assert_eq!(cache.metrics().hot_entries, if memory_limit == 0 { 0 } else { n as u64 });
        (live1 - live0, malloc0.zip(malloc1).map(|(a, b)| b - a))
    };
    let (on, on_malloc) = growth(1 << 30);
    let (off, off_malloc) = growth(0);
    let payload = (n * 116) as isize;
    let per = |on: isize, off: isize| (on - off - payload) as f64 / n as f64;
    (per(on, off), on_malloc.zip(off_malloc).map(|(a, b)| per(a, b)))
}

// ---------------------------------------------------------------------------

fn main() {
    let knobs = Knobs::from_env();
    let root = scratch_root();
    let mut c = knobs.criterion();
    let mut means = Means::default();
    let mut rows = Vec::new();
    // The set goes first: every part that follows deletes thousands of files
    // when it ends, which makes the next file creations slower for a while.
    if knobs.wants("set_1KiB_durability_none") {
        rows.push(set(&mut c, &mut means, &knobs, &root));
    }
    if knobs.wants("hot_get_1KiB") {
        rows.push(hot_get(&mut c, &mut means, &knobs, &root));
    }
    if knobs.wants("warm_get_1KiB") {
        rows.push(warm_get(&mut c, &mut means, &knobs, &root));
    }
    c.final_summary();
    let open = knobs.wants("open_100k").then(|| open_bench(&knobs, &root));
    let memory_n = if knobs.smoke { 500 } else { 20_000 };
    let memory = knobs.wants("memory").then(|| memory_overhead(memory_n, &root));

    println!();
    println!("== sturdycache vs peers (ours / peer; lower is better) ==");
    println!(
        "{:<26} {:<20} {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>6}",
        "benchmark", "peer", "ours ns", "peer ns", "ratio", "A/B ours", "A/B peer", "A/B", "target"
    );
    for r in &rows {
        let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}"));
        let ratio = r.ours_ns.zip(r.peer_ns).map(|(a, b)| a / b);
        let (ab_ours, ab_peer, ab) = r.ab;
        let verdict = if knobs.smoke {
            "(test mode: one call, no verdict)"
        } else if ab <= r.target {
            "ok"
        } else {
            "MISSED"
        };
        println!(
            "{:<26} {:<20} {:>10} {:>10} {:>7} | {:>10.1} {:>10.1} {:>7.3} | <= {:.1} {verdict}",
            r.name,
            r.peer,
            fmt(r.ours_ns),
            fmt(r.peer_ns),
            ratio.map_or("n/a".to_string(), |x| format!("{x:.3}")),
            ab_ours,
            ab_peer,
            ab,
            r.target
        );
    }
    println!(
        "(ratio: means of all iterations criterion ran; A/B: median of the per-round ratios of {} rounds \
         in which ours and the peer alternate)",
        rows.iter().map(|r| r.ab_rounds.to_string()).collect::<Vec<_>>().join("/")
    );
    if let Some(o) = open {
        println!();
        println!(
            "open_100k: {} entries: Cache::open {:.2} ms (empty cache: {:.2} ms); open to wait_ready {:.1} ms \
             (median of {} runs, warm page cache{})",
            o.entries,
            o.open.as_secs_f64() * 1e3,
            o.empty_open.as_secs_f64() * 1e3,
            o.ready.as_secs_f64() * 1e3,
            knobs.open_runs,
            o.created_in.map_or(String::new(), |d| format!("; directory created in {:.1} s", d.as_secs_f64()))
        );
    }
    if let Some((requested, chunks)) = memory {
        println!();
        println!(
            "memory: hot entry overhead beyond key and value ({memory_n} entries, 16 B keys, 100 B values): \
             {requested:.1} B requested from the allocator{}; the budget charges ENTRY_OVERHEAD = {ENTRY_OVERHEAD} B",
            chunks.map_or(String::new(), |c| format!(", {c:.1} B in glibc chunks (with malloc headers and rounding)"))
        );
    }
}
