//! The core's [`ManualClock`](sturdycache::clock::ManualClock) for JavaScript
//! tests: pass one as `clock` and move time with `advance` instead of sleeping.

use napi_derive::napi;

use crate::errors::Failure;

/// A clock that moves only when told to (milliseconds since the epoch).
#[napi]
pub struct ManualClock {
    pub(crate) inner: sturdycache::clock::ManualClock,
}

fn ms(n: f64) -> Result<u64, Failure> {
    if n.is_finite() && n >= 0.0 {
        Ok(n as u64)
    } else {
        Err(Failure::range_error("ERR_STURDY_INVALID_ARGUMENT", format!("milliseconds must be at least 0, got {n}")))
    }
}

#[napi]
impl ManualClock {
    /// A clock standing at `startMs` (default: now).
    #[napi(constructor)]
    pub fn new(env: napi::Env, start_ms: Option<f64>) -> napi::Result<Self> {
        let inner = match start_ms {
            None => sturdycache::clock::ManualClock::starting_now(),
            Some(n) => sturdycache::clock::ManualClock::new(ms(n).map_err(|e| e.into_napi(&env))?),
        };
        Ok(ManualClock { inner })
    }

    /// Moves the clock (wall and monotonic) forward by `ms` milliseconds.
    #[napi]
    pub fn advance(&self, env: napi::Env, by_ms: f64) -> napi::Result<()> {
        let by = ms(by_ms).map_err(|e| e.into_napi(&env))?;
        self.inner.advance(std::time::Duration::from_millis(by));
        Ok(())
    }

    /// Sets the wall clock to `ms` (it may go backwards, as a clock jump).
    #[napi]
    pub fn set_ms(&self, env: napi::Env, to_ms: f64) -> napi::Result<()> {
        self.inner.set_ms(ms(to_ms).map_err(|e| e.into_napi(&env))?);
        Ok(())
    }

    /// The clock's reading, milliseconds since the epoch.
    #[napi(getter)]
    pub fn now_ms(&self) -> f64 {
        use sturdycache::clock::Clock;
        self.inner.now_ms() as f64
    }
}
