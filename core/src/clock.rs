//! The clock seam: every reading of time in the cache goes through [`Clock`],
//! so tests can jump time forward instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The cache's sources of time.
///
/// Wall-clock time for expiry (stored in entry files and compared by other
/// processes); monotonic time for durations within this process (latencies,
/// slow calls, breaker timeouts), which must not jump with the wall clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Nanoseconds on a monotonic clock with an arbitrary origin.
    fn monotonic_ns(&self) -> u64;
}

/// The process's monotonic origin.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The real system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    fn monotonic_ns(&self) -> u64 {
        origin().elapsed().as_nanos() as u64
    }
}

/// A clock that only moves when told to; for tests.
///
/// Its monotonic reading starts at zero and moves with [`ManualClock::advance`]
/// (not with [`ManualClock::set_ms`], which models a wall-clock jump).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
    monotonic: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `start_ms` milliseconds since the epoch.
    pub fn new(start_ms: u64) -> Self {
        Self { now: Arc::new(AtomicU64::new(start_ms)), monotonic: Arc::new(AtomicU64::new(0)) }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_ms())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        self.monotonic.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Sets the clock to `ms` (it may move backwards, to test clock jumps).
    pub fn set_ms(&self, ms: u64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn monotonic_ns(&self) -> u64 {
        self.monotonic.load(Ordering::SeqCst)
    }
}
