//! The circuit breaker's cost per guarded call on its CLOSED path
//! (`acquire` then `record(Success)`), against a baseline of what any timed
//! call pays anyway: two readings of the same clock through `Arc<dyn Clock>`.
//! The budget: at most 50 ns of overhead per guarded call.
//!
//! Criterion groups (each: the baseline and the breaker path):
//! - `breaker_closed/system_clock`: the real monotonic clock.
//! - `breaker_closed/manual_clock`: a clock that is one atomic load, which
//!   leaves little but the breaker's own work.
//!
//! Then an interleaved A/B pass (baseline and breaker alternate in short
//! rounds; median of the per-round figures, steadier on a shared machine) and
//! a two-thread run on one shared breaker (against two threads of the
//! baseline), and a summary: overhead in ns per call and the breaker/baseline
//! ratio. The budget verdict uses the single-thread system-clock and
//! manual-clock figures; the two-thread rows show how much the threads' shared
//! counters cost (each thread counts in its own cache line).
//!
//! Knobs: `STURDY_BENCH_QUICK=1` for short measurements; a criterion filter
//! argument works as usual (the summary always runs).

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::Criterion;
use sturdycache::breaker::{Admission, BreakerConfig, CircuitBreaker, Outcome};
use sturdycache::clock::{Clock, ManualClock, SystemClock};

/// The overhead budget of the issue, ns per guarded call.
const BUDGET_NS: f64 = 50.0;

fn quick() -> bool {
    std::env::var_os("STURDY_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// What a timed call costs without a breaker: two clock readings.
#[inline(always)]
fn baseline(clock: &dyn Clock) -> u64 {
    let start = clock.monotonic_ns();
    black_box(start);
    clock.monotonic_ns().wrapping_sub(start)
}

/// A guarded call that succeeds, through the breaker.
#[inline(always)]
fn guarded(breaker: &CircuitBreaker) {
    match breaker.acquire().0 {
        Admission::Permitted(p) => {
            black_box(&p);
            black_box(breaker.record(p, Outcome::Success));
        }
        Admission::Rejected => unreachable!("the breaker stays closed on successes"),
    }
}

fn clocks() -> [(&'static str, Arc<dyn Clock>); 2] {
    [("system_clock", Arc::new(SystemClock)), ("manual_clock", Arc::new(ManualClock::new(0)))]
}

fn criterion_groups(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_closed");
    for (name, clock) in clocks() {
        let breaker = CircuitBreaker::new(BreakerConfig::default(), clock.clone());
        group.bench_function(format!("{name}/baseline_clock_x2"), |b| b.iter(|| baseline(clock.as_ref())));
        group.bench_function(format!("{name}/acquire_record_success"), |b| b.iter(|| guarded(&breaker)));
    }
    group.finish();
}

/// ns per iteration of `f` over `iters` iterations.
fn time_per_iter(iters: u64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Figure {
    base_ns: f64,
    guarded_ns: f64,
    overhead_ns: f64,
}

/// Interleaved rounds: baseline, breaker, baseline, breaker, ...
fn ab(clock: Arc<dyn Clock>, rounds: usize, iters: u64) -> Figure {
    let breaker = CircuitBreaker::new(BreakerConfig::default(), clock.clone());
    // Warm up both.
    time_per_iter(iters, || {
        black_box(baseline(clock.as_ref()));
    });
    time_per_iter(iters, || guarded(&breaker));
    let (mut base, mut guard, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let b = time_per_iter(iters, || {
            black_box(baseline(clock.as_ref()));
        });
        let g = time_per_iter(iters, || guarded(&breaker));
        base.push(b);
        guard.push(g);
        diff.push(g - b);
    }
    Figure { base_ns: median(&mut base), guarded_ns: median(&mut guard), overhead_ns: median(&mut diff) }
}

/// `threads` threads at once, each timing `iters` runs of the baseline (false)
/// or of a guarded call on one shared breaker (true); mean ns per call.
fn parallel(threads: usize, iters: u64, breaker: Option<&Arc<CircuitBreaker>>, clock: &Arc<dyn Clock>) -> f64 {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (breaker, barrier, clock) = (breaker.cloned(), barrier.clone(), clock.clone());
            std::thread::spawn(move || {
                barrier.wait();
                match breaker {
                    Some(b) => time_per_iter(iters, || guarded(&b)),
                    None => time_per_iter(iters, || {
                        black_box(baseline(clock.as_ref()));
                    }),
                }
            })
        })
        .collect();
    let per_thread: Vec<f64> = handles.into_iter().map(|h| h.join().expect("bench thread")).collect();
    per_thread.iter().sum::<f64>() / per_thread.len() as f64
}

/// Two threads on one breaker (the CLOSED path's shared counters could
/// contend), interleaved with two threads of the baseline.
fn contended(clock: Arc<dyn Clock>, rounds: usize, iters: u64) -> Figure {
    let breaker = Arc::new(CircuitBreaker::new(BreakerConfig::default(), clock.clone()));
    let (mut base, mut guard, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let b = parallel(2, iters, None, &clock);
        let g = parallel(2, iters, Some(&breaker), &clock);
        base.push(b);
        guard.push(g);
        diff.push(g - b);
    }
    Figure { base_ns: median(&mut base), guarded_ns: median(&mut guard), overhead_ns: median(&mut diff) }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion = if quick() {
        criterion.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1))
    } else {
        criterion.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
    };
    criterion_groups(&mut criterion);
    criterion.final_summary();

    let (rounds, iters) = if quick() { (9, 200_000) } else { (31, 1_000_000) };
    println!();
    println!("circuit breaker, CLOSED path (acquire + record(Success)), interleaved A/B, median of {rounds} rounds:");
    println!("{:<14} {:>14} {:>14} {:>14} {:>8}", "clock", "baseline ns", "guarded ns", "overhead ns", "ratio");
    let mut worst = 0.0f64;
    for (name, clock) in clocks() {
        let f = ab(clock, rounds, iters);
        worst = worst.max(f.overhead_ns);
        println!(
            "{:<14} {:>14.1} {:>14.1} {:>14.1} {:>7.2}x",
            name,
            f.base_ns,
            f.guarded_ns,
            f.overhead_ns,
            f.guarded_ns / f.base_ns
        );
    }
    for (name, clock) in clocks() {
        let f = contended(clock, rounds.min(11), iters);
        println!(
            "{:<14} {:>14.1} {:>14.1} {:>14.1} {:>7.2}x   (two threads at once, one shared breaker)",
            name,
            f.base_ns,
            f.guarded_ns,
            f.overhead_ns,
            f.guarded_ns / f.base_ns
        );
    }
    println!(
        "breaker overhead per guarded call: {worst:.1} ns (budget {BUDGET_NS:.0} ns): {}",
        if worst <= BUDGET_NS { "within budget" } else { "OVER BUDGET" }
    );
}
