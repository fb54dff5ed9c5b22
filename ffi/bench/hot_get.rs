//! The Rust side of `scripts/bench-c.sh`: the core's hot get of a 1 KiB value
//! next to the same get through the C ABI, in one process, on one cache.
//!
//! Set-up as the C side (`ffi/bench/hot_get.c`): N 16-byte keys `h%015u` with
//! 1 KiB values, all in the hot tier, visited in the same shuffled order. The
//! cache is opened through the C ABI; the core's `Cache::get` runs on the very
//! cache behind that handle, so both measure the same memory layout (which
//! differs from process to process and moves a hot get by up to 2x). Rounds
//! alternate: core get, `sturdy_cache_get` + `sturdy_value_free`,
//! `sturdy_cache_get_into`. Prints `<name> <median ns/op> <fastest ns/op>`
//! per variant, and `inproc_ratio <median of per-round ratios> <fastest ratio>`.
//!
//! usage: `bench_hot_get DIR KEYS ITERS_PER_ROUND ROUNDS` (run by the script;
//! without arguments it runs once, small, on a scratch directory: a smoke test).

use std::ffi::CString;
use std::hint::black_box;
use std::time::Instant;

use sturdycache::{
    sturdy_cache, sturdy_cache_free, sturdy_cache_get, sturdy_cache_get_into, sturdy_cache_open, sturdy_cache_set,
    sturdy_options, sturdy_options_free, sturdy_options_new, sturdy_options_set_health_interval_ms,
    sturdy_options_set_memory_limit, sturdy_options_set_sweep_interval_ms, sturdy_status, sturdy_value,
    sturdy_value_free,
};

/// xorshift64*, the same generator as the C side, for the same values and order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(2685821657736338717)
    }
}

fn ok(status: sturdy_status, what: &str) {
    assert_eq!(status, sturdy_status::Ok, "{what}");
}

/// Median and fastest of `v` (sorted in place).
fn summary(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let scratch;
    let (dir, n, iters, rounds) = if args.len() == 4 {
        let num = |i: usize| args[i].parse::<u64>().unwrap_or_else(|_| panic!("argument {i} is not a number"));
        (std::path::PathBuf::from(&args[0]), num(1) as usize, num(2), num(3) as usize)
    } else {
        scratch = tempfile::tempdir().expect("scratch dir");
        (scratch.path().to_path_buf(), 1000, 10_000, 1)
    };

    // Open through the C ABI, with the C side's settings.
    let dir_c = CString::new(dir.as_os_str().as_encoded_bytes()).expect("path without NUL");
    let mut options: *mut sturdy_options = std::ptr::null_mut();
    let mut handle: *mut sturdy_cache = std::ptr::null_mut();
    unsafe {
        ok(sturdy_options_new(dir_c.as_ptr(), &mut options), "options");
        ok(sturdy_options_set_memory_limit(options, 1 << 30), "memory_limit");
        ok(sturdy_options_set_sweep_interval_ms(options, 0), "sweep_interval");
        ok(sturdy_options_set_health_interval_ms(options, 0), "health_interval");
        ok(sturdy_cache_open(options, &mut handle), "open");
        sturdy_options_free(options);
    }
    let cache = unsafe { &*handle }.core().expect("open");
    cache.wait_ready();

    let mut rng = Rng(2);
    let value: Vec<u8> = (0..1024).map(|_| rng.next() as u8).collect();
    let keys: Vec<[u8; 16]> =
        (0..n).map(|i| *format!("h{i:015}").as_bytes().first_chunk().expect("16-byte key")).collect();
    for k in &keys {
        let s = unsafe {
            sturdy_cache_set(
                handle,
                k.as_ptr(),
                k.len(),
                value.as_ptr(),
                value.len(),
                std::ptr::null(),
                std::ptr::null_mut(),
            )
        };
        ok(s, "set");
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(2);
    for i in (1..n).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    // A set can leave an earlier key's hot copy stale (keys share coherence
    // buckets); one get of every key promotes them all, as in core's bench.
    for k in &keys {
        assert!(cache.get(k).expect("get").is_some(), "every key is stored");
    }
    let before = cache.metrics();
    assert_eq!(before.hot_entries, n as u64, "every key is hot");

    let (mut core_ns, mut abi_ns, mut into_ns) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = vec![0u8; 1024];
    let mut k = 0;
    let mut next = || {
        k = if k + 1 == n { 0 } else { k + 1 };
        &keys[order[k]]
    };
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(cache.get(black_box(next())).ok().flatten());
        }
        core_ns.push(start.elapsed().as_nanos() as f64 / iters as f64);

        let start = Instant::now();
        for _ in 0..iters {
            let key = black_box(next());
            let mut v = sturdy_value { data: std::ptr::null(), len: 0, value_type: 0, owner: [0; 4] };
            let s = unsafe { sturdy_cache_get(handle, key.as_ptr(), key.len(), &mut v) };
            black_box((s, v.len));
            unsafe { sturdy_value_free(&mut v) };
        }
        abi_ns.push(start.elapsed().as_nanos() as f64 / iters as f64);

        let start = Instant::now();
        for _ in 0..iters {
            let key = black_box(next());
            let mut len = 0usize;
            let s = unsafe {
                sturdy_cache_get_into(
                    handle,
                    key.as_ptr(),
                    key.len(),
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut len,
                    std::ptr::null_mut(),
                )
            };
            black_box((s, len, buf[0]));
        }
        into_ns.push(start.elapsed().as_nanos() as f64 / iters as f64);
    }
    assert_eq!(cache.metrics().hot_misses, before.hot_misses, "every measured get was a hot hit");
    let mut ratios: Vec<f64> = abi_ns.iter().zip(&core_ns).map(|(a, c)| a / c).collect();
    let (core_med, core_min) = summary(&mut core_ns);
    let (abi_med, abi_min) = summary(&mut abi_ns);
    let (into_med, into_min) = summary(&mut into_ns);
    let (ratio_med, _) = summary(&mut ratios);
    println!("rust_get {core_med:.1} {core_min:.1}");
    println!("inproc_abi_get {abi_med:.1} {abi_min:.1}");
    println!("inproc_abi_get_into {into_med:.1} {into_min:.1}");
    println!("inproc_ratio {ratio_med:.3} {:.3}", abi_min / core_min);
    unsafe { sturdy_cache_free(handle) };
}
