//! Lock-free latency histograms, cheap enough to sit on every operation.
//!
//! [`Histogram::record`] is two atomic adds and one atomic load (plus a
//! `fetch_max` only when a new maximum is seen): no lock, no allocation,
//! no retry loop. About 12 ns on one thread on the CI-class machine
//! (one uncontended `fetch_add` there costs about 8 ns).
//!
//! Not `hdrhistogram`: its `record` needs `&mut self`, so a shared histogram
//! would cost a mutex per call (or per-thread recorders plus a merge step),
//! which misses "negligible overhead"; this fixed log-linear layout needs no
//! more than atomics.
//!
//! # Layout and error
//!
//! Values are nanoseconds. Values below 16 get one exact bucket each. Above
//! that, every power of two `[2^e, 2^(e+1))` is split into 16 equal
//! sub-buckets, up to `2^42 ns` (about 73 minutes); larger values are clamped
//! into the last bucket. 624 buckets in all (about 5 KiB per histogram).
//!
//! A percentile is reported as the upper bound of the bucket that holds its
//! rank, capped at the exact maximum, so it is **never below the true value**
//! and overstates it by **less than 1/16 (6.25 %)** of the true value (exact
//! below 16 ns). For values clamped into the last bucket (above ~73 minutes)
//! the reported figure is the exact maximum, still an upper bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bits of linear sub-division per power of two.
const SUB_BITS: u32 = 4;
/// Sub-buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// The largest exponent with its own buckets: values `< 2^(MAX_EXP + 1)` are
/// bucketed exactly, larger ones clamp into the last bucket.
const MAX_EXP: u32 = 41;
/// Number of fine buckets.
const BUCKETS: usize = (SUB + (MAX_EXP + 1 - SUB_BITS) as u64 * SUB) as usize;
// The exactly bucketed range covers at least one hour.
const _: () = assert!(1u64 << (MAX_EXP + 1) > 3_600 * 1_000_000_000);

/// Upper bounds (inclusive, in nanoseconds) of the Prometheus buckets, before
/// the final `+Inf`: 1 µs, 5 µs, 10 µs, … 5 s.
pub const PROMETHEUS_BOUNDS_NS: [u64; 14] = [
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

/// The fine bucket a value falls into.
#[inline]
fn index(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros();
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let shift = exp - SUB_BITS;
    let sub = (ns >> shift) & (SUB - 1);
    (SUB + u64::from(shift) * SUB + sub) as usize
}

/// The smallest and largest value (inclusive) of a fine bucket.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i);
    }
    let shift = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    let lower = (SUB + sub) << shift;
    (lower, lower + (1 << shift) - 1)
}

/// A concurrent latency histogram over nanoseconds. See the module docs for
/// its layout and error bound.
pub struct Histogram {
    buckets: Box<[AtomicU64; BUCKETS]>,
    sum: CacheLine,
    /// Read by every record, written rarely: kept off the line `sum` dirties.
    max: CacheLine,
}

/// An atomic alone on its cache line (128 bytes: adjacent-line prefetch).
#[repr(align(128))]
#[derive(Default)]
struct CacheLine(AtomicU64);

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Histogram").field(&self.snapshot()).finish()
    }
}

impl Histogram {
    /// An empty histogram (one allocation of about 5 KiB).
    pub fn new() -> Self {
        let buckets: Box<[AtomicU64]> = (0..BUCKETS).map(|_| AtomicU64::new(0)).collect();
        let buckets = match buckets.try_into() {
            Ok(b) => b,
            Err(_) => unreachable!("the iterator yields exactly BUCKETS elements"),
        };
        Self { buckets, sum: CacheLine::default(), max: CacheLine::default() }
    }

    /// Records one observation of `ns` nanoseconds. Lock-free and
    /// allocation-free; safe to call from any number of threads.
    #[inline]
    pub fn record(&self, ns: u64) {
        self.sum.0.fetch_add(ns, Ordering::Relaxed);
        if ns > self.max.0.load(Ordering::Relaxed) {
            self.max.0.fetch_max(ns, Ordering::Relaxed);
        }
        // Release: a snapshot that sees this count (Acquire) also sees the
        // sum and max updates above, so its max is never below a counted value.
        self.buckets[index(ns)].fetch_add(1, Ordering::Release);
    }

    /// Records a duration (saturating at `u64::MAX` nanoseconds).
    #[inline]
    pub fn record_duration(&self, d: Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// A point-in-time summary. Concurrent recording may land partly in it;
    /// the count always equals the sum of its buckets.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = [0u64; BUCKETS];
        for (c, b) in counts.iter_mut().zip(self.buckets.iter()) {
            *c = b.load(Ordering::Acquire);
        }
        let max_ns = self.max.0.load(Ordering::Relaxed);
        let sum_ns = self.sum.0.load(Ordering::Relaxed);
        let count: u64 = counts.iter().sum();

        let percentile = |q: f64| -> u64 {
            if count == 0 {
                return 0;
            }
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0u64;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return if i == BUCKETS - 1 { max_ns } else { bounds(i).1.min(max_ns) };
                }
            }
            max_ns
        };

        let mut buckets = Vec::with_capacity(PROMETHEUS_BOUNDS_NS.len() + 1);
        let mut fine = 0usize;
        let mut cumulative = 0u64;
        for le in PROMETHEUS_BOUNDS_NS {
            // A fine bucket counts under `le` only if all of it lies at or
            // below `le`: the figure never overstates how many calls were fast.
            while fine < BUCKETS - 1 && bounds(fine).1 <= le {
                cumulative += counts[fine];
                fine += 1;
            }
            buckets.push(PromBucket { le_ns: Some(le), cumulative });
        }
        buckets.push(PromBucket { le_ns: None, cumulative: count });

        HistogramSnapshot {
            count,
            sum_ns,
            max_ns,
            p50: percentile(0.50),
            p90: percentile(0.90),
            p99: percentile(0.99),
            p999: percentile(0.999),
            buckets,
        }
    }
}

/// One cumulative Prometheus bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromBucket {
    /// The inclusive upper bound in nanoseconds; `None` is `+Inf`.
    pub le_ns: Option<u64>,
    /// Observations at or below `le_ns` (see [`HistogramSnapshot::buckets`]).
    pub cumulative: u64,
}

/// A summary of a [`Histogram`]. Percentiles are in nanoseconds, each the
/// upper bound of the bucket holding that rank (never below the true value,
/// less than 6.25 % above it); all zero when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations.
    pub count: u64,
    /// Sum of all observations, in nanoseconds.
    pub sum_ns: u64,
    /// The largest observation, exact.
    pub max_ns: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Cumulative counts at [`PROMETHEUS_BOUNDS_NS`] then `+Inf` (which equals
    /// `count`). A fine bucket straddling a bound is counted under the next
    /// bound, so a bucket may miss observations up to 6.25 % below its bound.
    pub buckets: Vec<PromBucket>,
}

impl HistogramSnapshot {
    /// Mean in nanoseconds; 0 when empty.
    pub fn mean_ns(&self) -> u64 {
        self.sum_ns.checked_div(self.count).unwrap_or(0)
    }
}

/// A cache operation, for per-operation latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `get`.
    Get,
    /// `set` / `set_with`.
    Set,
    /// `delete`.
    Delete,
    /// `add`.
    Add,
    /// `touch`.
    Touch,
    /// `pop`.
    Pop,
    /// `contains`.
    Contains,
}

impl Op {
    /// Every operation, in a stable order.
    pub const ALL: [Op; 7] = [Op::Get, Op::Set, Op::Delete, Op::Add, Op::Touch, Op::Pop, Op::Contains];

    /// A lower-case name, stable for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::Add => "add",
            Op::Touch => "touch",
            Op::Pop => "pop",
            Op::Contains => "contains",
        }
    }
}

/// The tier an operation was answered by (or had to reach).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The in-memory tier.
    Hot,
    /// The disk tier.
    Disk,
}

impl Tier {
    /// Both tiers, in a stable order.
    pub const ALL: [Tier; 2] = [Tier::Hot, Tier::Disk];

    /// A lower-case name, stable for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Disk => "disk",
        }
    }
}

/// One [`Histogram`] per operation and tier.
#[derive(Debug)]
pub struct LatencySet {
    histograms: [Histogram; Op::ALL.len() * Tier::ALL.len()],
}

impl Default for LatencySet {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencySet {
    /// Empty histograms for every operation and tier.
    pub fn new() -> Self {
        Self { histograms: std::array::from_fn(|_| Histogram::new()) }
    }

    #[inline]
    fn slot(op: Op, tier: Tier) -> usize {
        op as usize * Tier::ALL.len() + tier as usize
    }

    /// The histogram of one operation and tier.
    #[inline]
    pub fn get(&self, op: Op, tier: Tier) -> &Histogram {
        &self.histograms[Self::slot(op, tier)]
    }

    /// Records one observation.
    #[inline]
    pub fn record(&self, op: Op, tier: Tier, ns: u64) {
        self.get(op, tier).record(ns);
    }

    /// Summaries of every non-empty histogram, in [`Op::ALL`] × [`Tier::ALL`] order.
    pub fn snapshot(&self) -> Vec<(Op, Tier, HistogramSnapshot)> {
        let mut out = Vec::new();
        for op in Op::ALL {
            for tier in Tier::ALL {
                let s = self.get(op, tier).snapshot();
                if s.count > 0 {
                    out.push((op, tier, s));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The true value at quantile `q` of sorted `values` (nearest rank).
    fn true_quantile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// Asserts every reported percentile is an upper bound within the stated error.
    fn check(values: &[u64]) {
        let h = Histogram::new();
        for &v in values {
            h.record(v);
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let s = h.snapshot();
        assert_eq!(s.count, values.len() as u64);
        assert_eq!(s.sum_ns, values.iter().sum::<u64>());
        assert_eq!(s.max_ns, *sorted.last().unwrap());
        for (q, got) in [(0.5, s.p50), (0.9, s.p90), (0.99, s.p99), (0.999, s.p999)] {
            let want = true_quantile(&sorted, q);
            assert!(got >= want, "q={q}: reported {got} below true {want}");
            // Overstated by less than 1/16 of the true value (exact below 16).
            assert!((got - want) * 16 < want.max(1), "q={q}: reported {got}, true {want}: error too large");
        }
    }

    #[test]
    fn every_value_lies_within_its_bucket_and_buckets_are_narrow() {
        let mut values: Vec<u64> = (0..70_000).collect();
        for e in 0..=MAX_EXP + 1 {
            let p = 1u64 << e;
            values.extend([p - 1, p, p + 1, p + p / 3]);
        }
        for v in values {
            let i = index(v);
            let (lo, hi) = bounds(i);
            if v < 1 << (MAX_EXP + 1) {
                assert!(lo <= v && v <= hi, "{v} not in bucket {i} [{lo}, {hi}]");
                assert!((hi - lo) * 16 <= lo.max(1), "bucket {i} [{lo}, {hi}] wider than 1/16");
            } else {
                assert_eq!(i, BUCKETS - 1, "{v} must clamp into the last bucket");
            }
        }
        // Buckets tile the range with no gap and no overlap.
        for i in 1..BUCKETS {
            assert_eq!(bounds(i).0, bounds(i - 1).1 + 1, "gap or overlap at bucket {i}");
        }
        assert_eq!(bounds(BUCKETS - 1).1, (1 << (MAX_EXP + 1)) - 1);
    }

    #[test]
    fn percentiles_of_known_distributions_are_upper_bounds_within_the_error() {
        // Uniform over 1 ns .. 100 µs.
        check(&(1..=100_000).collect::<Vec<u64>>());
        // Constant values (a single bucket), exact and inexact.
        check(&[7; 1000]);
        check(&[1_000_003; 1000]);
        // Bimodal: fast hits and slow disk reads.
        let mut bimodal = vec![250u64; 9_000];
        bimodal.extend(std::iter::repeat_n(3_000_000, 1_000));
        check(&bimodal);
        // Heavy-tailed (log-uniform over 10 ns .. 10 s), seeded.
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let heavy: Vec<u64> = (0..50_000).map(|_| (10f64 * 1e9f64.powf(rng.f64())) as u64).collect();
        check(&heavy);
        // Tiny samples: p999 of 3 values is the maximum, exactly.
        let h = Histogram::new();
        for v in [5, 1_000_000, 123_456_789] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.p999, 123_456_789);
        assert_eq!(s.p50, bounds(index(1_000_000)).1, "the upper bound of the median's bucket");
    }

    #[test]
    fn empty_histogram_reports_zeros() {
        let s = Histogram::new().snapshot();
        assert_eq!((s.count, s.sum_ns, s.max_ns, s.p50, s.p999, s.mean_ns()), (0, 0, 0, 0, 0, 0));
        assert_eq!(s.buckets.len(), PROMETHEUS_BOUNDS_NS.len() + 1);
        assert!(s.buckets.iter().all(|b| b.cumulative == 0));
    }

    #[test]
    fn huge_values_clamp_but_max_stays_exact() {
        let h = Histogram::new();
        h.record(10);
        h.record(u64::MAX / 2);
        h.record(1 << 50);
        let s = h.snapshot();
        assert_eq!(s.max_ns, u64::MAX / 2);
        assert_eq!(s.p999, u64::MAX / 2, "a clamped rank reports the exact maximum");
        assert_eq!(s.p50, u64::MAX / 2, "2^50 is clamped: its upper bound is the exact maximum");
        assert_eq!(s.buckets.last().unwrap().cumulative, 3);
        assert_eq!(s.buckets[PROMETHEUS_BOUNDS_NS.len() - 1].cumulative, 1, "only the 10 ns value is <= 5 s");
    }

    #[test]
    fn concurrent_recording_sums_exactly() {
        const THREADS: u64 = 8;
        const PER: u64 = 20_000;
        let h = Arc::new(Histogram::new());
        let barrier = Arc::new(std::sync::Barrier::new(THREADS as usize));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (h, barrier) = (h.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..PER {
                        h.record(t * 1_000_000 + i * 37);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let s = h.snapshot();
        let want_sum: u64 = (0..THREADS).flat_map(|t| (0..PER).map(move |i| t * 1_000_000 + i * 37)).sum();
        assert_eq!(s.count, THREADS * PER);
        assert_eq!(s.sum_ns, want_sum);
        assert_eq!(s.max_ns, (THREADS - 1) * 1_000_000 + (PER - 1) * 37);
        assert_eq!(s.buckets.last().unwrap().cumulative, THREADS * PER);
    }

    #[test]
    fn prometheus_buckets_are_cumulative_and_never_overstate_fast_calls() {
        let mut rng = fastrand::Rng::with_seed(7);
        let values: Vec<u64> = (0..20_000).map(|_| (100f64 * 1e8f64.powf(rng.f64())) as u64).collect();
        let h = Histogram::new();
        values.iter().for_each(|&v| h.record(v));
        let s = h.snapshot();
        assert_eq!(s.buckets.len(), PROMETHEUS_BOUNDS_NS.len() + 1);
        for w in s.buckets.windows(2) {
            assert!(w[0].cumulative <= w[1].cumulative, "not cumulative: {w:?}");
        }
        assert_eq!(s.buckets.last().unwrap(), &PromBucket { le_ns: None, cumulative: values.len() as u64 });
        for b in &s.buckets[..PROMETHEUS_BOUNDS_NS.len()] {
            let le = b.le_ns.unwrap();
            let at_or_below = values.iter().filter(|&&v| v <= le).count() as u64;
            let well_below = values.iter().filter(|&&v| v <= le - le / 16).count() as u64;
            assert!(b.cumulative <= at_or_below, "le={le}: {} > {at_or_below}", b.cumulative);
            assert!(b.cumulative >= well_below, "le={le}: {} < {well_below}", b.cumulative);
        }
        // Values clearly inside a bucket land in it.
        let h = Histogram::new();
        h.record(900);
        h.record(1_100);
        let s = h.snapshot();
        assert_eq!(s.buckets[0], PromBucket { le_ns: Some(1_000), cumulative: 1 });
        assert_eq!(s.buckets[1], PromBucket { le_ns: Some(5_000), cumulative: 2 });
    }

    #[test]
    fn latency_set_keeps_operations_and_tiers_apart_and_skips_empty_ones() {
        let set = LatencySet::new();
        assert!(set.snapshot().is_empty());
        set.record(Op::Get, Tier::Hot, 100);
        set.record(Op::Get, Tier::Hot, 200);
        set.record(Op::Get, Tier::Disk, 50_000);
        set.record(Op::Contains, Tier::Disk, 7);
        let snap = set.snapshot();
        let summary: Vec<_> = snap.iter().map(|(o, t, s)| (o.as_str(), t.as_str(), s.count, s.max_ns)).collect();
        assert_eq!(summary, vec![("get", "hot", 2, 200), ("get", "disk", 1, 50_000), ("contains", "disk", 1, 7)]);
        // Every (op, tier) pair has its own slot.
        let mut slots: Vec<usize> =
            Op::ALL.iter().flat_map(|&o| Tier::ALL.iter().map(move |&t| LatencySet::slot(o, t))).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), Op::ALL.len() * Tier::ALL.len());
    }
}
