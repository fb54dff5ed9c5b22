//! The Rust side of `scripts/bench-c.sh`: the core's hot get of a 1 KiB value,
//! in the same set-up as the C side (`ffi/bench/hot_get.c`): N 16-byte keys
//! `h%015u`, all in the hot tier, visited in the same shuffled order. Prints
//! `rust_get <median ns/op over rounds>`.
//!
//! usage: `bench_hot_get DIR KEYS ITERS_PER_ROUND ROUNDS` (run by the script;
//! without arguments it runs once, small, on a scratch directory: a smoke test).

use std::hint::black_box;
use std::time::Instant;

use sturdycache_core::{Cache, Config};

/// xorshift64*, the same generator as the C side, for the same order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(2685821657736338717)
    }
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
    let mut config = Config::new(&dir);
    config.memory_limit = 1 << 30;
    config.sweep_interval = None;
    config.health_interval = None;
    let cache = Cache::open(config).expect("open");
    cache.wait_ready();
    let mut rng = Rng(2);
    let value: Vec<u8> = (0..1024).map(|_| rng.next() as u8).collect();
    let keys: Vec<[u8; 16]> =
        (0..n).map(|i| *format!("h{i:015}").as_bytes().first_chunk().expect("16-byte key")).collect();
    for k in &keys {
        cache.set(k, &value).expect("set");
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
    let mut per_round = Vec::with_capacity(rounds);
    let mut k = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iters {
            k = if k + 1 == n { 0 } else { k + 1 };
            black_box(cache.get(black_box(&keys[order[k]])).ok().flatten());
        }
        per_round.push(start.elapsed().as_nanos() as f64 / iters as f64);
    }
    assert_eq!(cache.metrics().hot_misses, before.hot_misses, "every measured get was a hot hit");
    per_round.sort_by(f64::total_cmp);
    println!("rust_get {:.1}", per_round[rounds / 2]);
}
