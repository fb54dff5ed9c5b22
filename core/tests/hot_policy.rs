//! Trace-driven check of the hot tier's eviction policy: on a workload where a
//! popular, Zipf-distributed key set is interrupted by one-off sequential
//! scans, SIEVE (the hot tier) keeps the popular keys and beats LRU of the
//! same entry capacity.
//!
//! Why the trace makes the claim meaningful: a scan key is requested once and
//! never again, so it can never hit in any policy; every scan longer than the
//! cache pushes LRU's whole popular working set out (each scan key becomes
//! "most recent"), while SIEVE inserts scan keys unvisited and evicts them
//! first. The test also shows the scans really do hurt LRU (its hit ratio on
//! the popular requests alone, without scans, is clearly higher), so the
//! comparison is about scan resistance, not about a workload both policies
//! handle alike.

use std::num::NonZeroUsize;

use sturdycache::{Cache, Config, Durability, ENTRY_OVERHEAD};

/// Entries either cache holds.
const CAPACITY: usize = 1000;
/// Distinct popular keys (twice the capacity: the cache cannot hold them all).
const POPULAR: usize = 2000;
/// Zipf exponent of the popular requests.
const ZIPF_S: f64 = 0.9;
/// Trace length.
const OPS: usize = 50_000;
/// Popular requests between two scans.
const BETWEEN_SCANS: usize = 2000;
/// Fresh keys per scan (longer than the cache).
const SCAN_LEN: usize = 1500;
/// During a scan, the share of requests that are still popular ones.
const POPULAR_DURING_SCAN: f64 = 0.5;

const KEY_LEN: usize = 16;
const VALUE: [u8; 8] = *b"payload!";

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Req {
    Popular(u32),
    Scan(u32),
}

impl Req {
    fn key(self) -> [u8; KEY_LEN] {
        let text = match self {
            Req::Popular(i) => format!("p{i:015}"),
            Req::Scan(i) => format!("s{i:015}"),
        };
        *text.as_bytes().first_chunk().expect("16-byte key")
    }
}

/// The deterministic trace: popular phases of Zipf requests, each followed by
/// a scan of fresh sequential keys interleaved with popular requests.
fn trace(seed: u64) -> Vec<Req> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let weights: Vec<f64> = (1..=POPULAR).map(|r| 1.0 / (r as f64).powf(ZIPF_S)).collect();
    let total: f64 = weights.iter().sum();
    let cdf: Vec<f64> = weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect();
    let mut zipf = || {
        let u = rng.f64();
        Req::Popular(cdf.partition_point(|&c| c < u).min(POPULAR - 1) as u32)
    };
    let mut out = Vec::with_capacity(OPS);
    let mut fresh = 0u32;
    let mut coin = fastrand::Rng::with_seed(seed ^ 0x5ca1);
    while out.len() < OPS {
        out.extend((0..BETWEEN_SCANS).map(|_| zipf()));
        let mut scanned = 0;
        while scanned < SCAN_LEN {
            if coin.f64() < POPULAR_DURING_SCAN {
                out.push(zipf());
            } else {
                out.push(Req::Scan(fresh));
                fresh += 1;
                scanned += 1;
            }
        }
    }
    out.truncate(OPS);
    out
}

/// Hits of an LRU cache of `CAPACITY` entries, inserting on every miss.
fn lru_hits(trace: &[Req]) -> u64 {
    let mut lru = lru::LruCache::new(NonZeroUsize::new(CAPACITY).unwrap());
    let mut hits = 0;
    for &req in trace {
        if lru.get(&req).is_some() {
            hits += 1;
        } else {
            lru.put(req, ());
        }
    }
    hits
}

/// Hot-tier hits of a sturdycache whose hot budget holds `CAPACITY` entries,
/// setting every key that is missing altogether (a key only on disk is
/// promoted by the get, which counts as a hot miss).
fn sieve_hits(trace: &[Req]) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.memory_limit = CAPACITY as u64 * ((KEY_LEN + VALUE.len()) as u64 + ENTRY_OVERHEAD);
    config.durability = Durability::None;
    config.sweep_interval = None;
    let cache = Cache::open(config).unwrap();
    cache.wait_ready();
    for &req in trace {
        let key = req.key();
        if cache.get(&key).unwrap().is_none() {
            cache.set(&key, &VALUE).unwrap();
        }
    }
    let m = cache.metrics();
    assert_eq!(m.hot_entries, CAPACITY as u64, "the hot tier held exactly the LRU's capacity");
    assert_eq!(m.hot_hits + m.hot_misses, trace.len() as u64);
    m.hot_hits
}

#[test]
fn sieve_resists_scans_better_than_lru() {
    let trace = trace(0x51E7E);
    let popular: Vec<Req> = trace.iter().copied().filter(|r| matches!(r, Req::Popular(_))).collect();
    let n_popular = popular.len() as f64;

    let lru = lru_hits(&trace) as f64 / n_popular;
    let lru_unpolluted = lru_hits(&popular) as f64 / n_popular;
    let sieve = sieve_hits(&trace) as f64 / n_popular;
    println!(
        "hit ratio on the {} popular requests of a {}-op trace, {CAPACITY} entries: \
         SIEVE (hot tier) {sieve:.3}, LRU {lru:.3}; LRU without the scans {lru_unpolluted:.3}",
        popular.len(),
        trace.len()
    );

    // The trace and the hashing are deterministic, so these figures are exact
    // for a given build; the margins leave room for small policy changes.
    // The scans must really pollute LRU, or the comparison proves nothing
    // (observed: 0.820 without the scans, 0.685 with them).
    assert!(lru_unpolluted - lru >= 0.08, "the scans barely hurt LRU: the trace does not test scan resistance");
    // Observed: SIEVE 0.789, 0.104 ahead of LRU and close to LRU's scan-free
    // figure, although the hot tier is sharded (SIEVE per shard, evictions
    // round-robin across shards). 0.08 still fails any policy that lets each
    // scan flush the popular set the way LRU does.
    assert!(sieve - lru >= 0.08, "SIEVE {sieve:.3} is not clearly ahead of LRU {lru:.3} on a scan-polluted trace");
}
