//! `sturdycache.ManualClock`: the core's fake clock, so Python tests move time
//! instead of sleeping (expiry, breaker open times, health intervals).

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A clock that moves only when told to. Pass it as `Cache(..., clock=clock)`.
#[pyclass(frozen, module = "sturdycache._native")]
pub struct ManualClock {
    pub(crate) inner: sturdycache::clock::ManualClock,
}

#[pymethods]
impl ManualClock {
    /// A clock standing at `start_ms` milliseconds since the epoch (default: now).
    #[new]
    #[pyo3(signature = (start_ms=None))]
    fn new(start_ms: Option<u64>) -> Self {
        let inner = match start_ms {
            Some(ms) => sturdycache::clock::ManualClock::new(ms),
            None => sturdycache::clock::ManualClock::starting_now(),
        };
        ManualClock { inner }
    }

    /// Moves wall-clock and monotonic time forward by `seconds`.
    fn advance(&self, seconds: f64) -> PyResult<()> {
        let by = Duration::try_from_secs_f64(seconds).map_err(|_| {
            PyValueError::new_err(format!("advance takes a finite, non-negative number of seconds, got {seconds}"))
        })?;
        self.inner.advance(by);
        Ok(())
    }

    /// Sets the wall clock to `ms` since the epoch (it may go backwards: a clock jump).
    fn set_ms(&self, ms: u64) {
        self.inner.set_ms(ms);
    }

    /// The wall-clock reading, ms since the epoch.
    fn now_ms(&self) -> u64 {
        use sturdycache::clock::Clock;
        self.inner.now_ms()
    }
}
