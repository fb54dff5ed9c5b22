//! What the benchmark binaries share: how a run is chosen (smoke, quick or
//! full, and which parts) and where scratch caches live.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;

/// How much of a benchmark to run.
pub struct RunMode {
    /// Test mode (`cargo test --benches`, or `--test`): everything once, tiny.
    pub smoke: bool,
    /// `STURDY_BENCH_QUICK=1`: fewer samples and rounds.
    pub quick: bool,
    /// `STURDY_BENCH_ONLY` (comma-separated) and a criterion filter: the parts to run.
    pub only: Vec<String>,
}

impl RunMode {
    pub fn from_env() -> RunMode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // Criterion's own rule: without `--bench` (as under `cargo test --benches`),
        // or with `--test`, every benchmark runs once as a test.
        let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
        let quick = smoke || std::env::var("STURDY_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
        let mut only: Vec<String> = std::env::var("STURDY_BENCH_ONLY")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        only.extend(args.iter().find(|a| !a.starts_with('-')).cloned());
        RunMode { smoke, quick, only }
    }

    /// Whether the part named `part` runs.
    pub fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| part.contains(o.as_str()) || o.contains(part))
    }

    /// Rounds and calls per round of an interleaved A/B pass, from the full-run figures.
    pub fn ab(&self, rounds: usize, iters: u64) -> (usize, u64) {
        if self.smoke {
            (1, 1)
        } else if self.quick {
            ((rounds / 3) | 1, (iters / 2).max(1))
        } else {
            (rounds, iters)
        }
    }

    /// Criterion configured for this mode.
    pub fn criterion(&self) -> Criterion {
        let (warm, measure, samples) = if self.quick {
            (Duration::from_millis(200), Duration::from_millis(600), 10)
        } else {
            (Duration::from_secs(1), Duration::from_secs(3), 30)
        };
        Criterion::default()
            .warm_up_time(warm)
            .measurement_time(measure)
            .sample_size(samples)
            .nresamples(10_000)
            .configure_from_args()
    }
}

/// A timed loop for criterion's `iter_custom`: each call runs `iters`
/// iterations, handing `call` the next index of `order` (cycling), and returns
/// the elapsed time.
pub fn cycling<'a>(order: &'a [usize], mut call: impl FnMut(usize) + 'a) -> impl FnMut(u64) -> Duration + 'a {
    let mut i = 0;
    move |iters| {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            i = if i + 1 == order.len() { 0 } else { i + 1 };
            call(order[i]);
        }
        start.elapsed()
    }
}

/// A whole-number environment setting, if set.
pub fn env_usize(name: &str) -> Option<usize> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v:?} is not a number"),
    }
}

/// `STURDY_BENCH_DIR`, or `<target>/sturdy-bench` (the bench binary lives in
/// `<target>/release/deps/`).
pub fn scratch_root() -> PathBuf {
    let root = std::env::var_os("STURDY_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("path of the bench binary");
        exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir).join("sturdy-bench")
    });
    std::fs::create_dir_all(&root).expect("create the bench scratch folder");
    root
}
