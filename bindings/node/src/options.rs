//! `new Cache(options)`: the JavaScript settings (camelCase, sizes as numbers
//! or strings like `'512MiB'`, durations in milliseconds) as a core [`Config`].
//!
//! The JavaScript layer checks the types and turns `null`/`false` for the
//! settings that can be switched off into `false`; ranges are the core's to
//! judge ([`Config::validate`]), so its error names the limit.

use std::time::Duration;

use napi::Either;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use sturdycache::breaker::BreakerConfig;
use sturdycache::{Config, DiskErrorKind, Durability, WriteMode};

use crate::errors::Failure;

/// A size: bytes, or a string such as `'512MiB'` (parsed by the core).
pub type Size = Either<f64, String>;

/// A duration in milliseconds, or `false` for "off".
pub type Switchable = Either<f64, bool>;

/// Every core setting, as the JavaScript layer passes it on.
#[napi(object)]
pub struct NativeOptions {
    pub directory: String,
    pub memory_limit: Option<Size>,
    pub disk_limit: Option<Size>,
    pub default_ttl: Option<f64>,
    pub durability: Option<String>,
    pub max_key_size: Option<Size>,
    pub max_value_size: Option<Size>,
    pub compression_threshold: Option<Size>,
    pub compression_level: Option<f64>,
    pub quarantine_retention: Option<f64>,
    pub quarantine_max_bytes: Option<Size>,
    pub sweep_interval: Option<Switchable>,
    pub hot_shards: Option<f64>,
    pub breaker: Option<NativeBreakerOptions>,
    pub breaker_failure_kinds: Option<Vec<String>>,
    pub degraded_memory_factor: Option<f64>,
    pub max_replay_entries: Option<f64>,
    pub max_replay_bytes: Option<Size>,
    pub drain_batch_size: Option<f64>,
    pub health_interval: Option<Switchable>,
    pub io_timeout: Option<Switchable>,
    pub write_mode: Option<String>,
    pub fail_on_disk_error: Option<bool>,
    pub secret_key: Option<Buffer>,
}

/// The circuit breakers' settings (both disk paths use the same).
#[napi(object)]
pub struct NativeBreakerOptions {
    pub failure_threshold: Option<f64>,
    pub failure_rate_threshold: Option<f64>,
    pub minimum_calls: Option<f64>,
    pub rolling_window: Option<f64>,
    pub window_buckets: Option<f64>,
    pub slow_call_threshold: Option<Switchable>,
    pub open_timeout: Option<f64>,
    pub max_open_timeout: Option<f64>,
    pub recovery_factor: Option<f64>,
    pub half_open_max_calls: Option<f64>,
    pub success_threshold: Option<f64>,
}

fn bad(name: &str, what: &str, got: impl std::fmt::Display) -> Failure {
    Failure::range_error("ERR_STURDY_INVALID_CONFIG", format!("{name} must be {what}, got {got}"))
}

/// A whole, non-negative number of something.
fn count(name: &str, n: f64) -> Result<u64, Failure> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 {
        Ok(n as u64)
    } else {
        Err(bad(name, "a whole number of at least 0", n))
    }
}

fn small_count(name: &str, n: f64) -> Result<u32, Failure> {
    let c = count(name, n)?;
    u32::try_from(c).map_err(|_| bad(name, "at most 4294967295", n))
}

/// A size in bytes.
pub fn size(name: &str, s: &Size) -> Result<u64, Failure> {
    match s {
        Either::A(n) => count(name, *n),
        Either::B(text) => sturdycache::parse_size(text).map_err(|e| {
            Failure::range_error(
                "ERR_STURDY_INVALID_CONFIG",
                format!("{name}: {}", e.to_string().trim_start_matches("invalid configuration: ")),
            )
        }),
    }
}

fn usize_size(name: &str, s: &Size) -> Result<usize, Failure> {
    usize::try_from(size(name, s)?).map_err(|_| bad(name, "addressable on this platform", "a larger size"))
}

/// Milliseconds as a duration.
pub fn millis(name: &str, ms: f64) -> Result<Duration, Failure> {
    if ms.is_finite() && ms >= 0.0 {
        Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| bad(name, "a duration in milliseconds", ms))
    } else {
        Err(bad(name, "a duration in milliseconds of at least 0", ms))
    }
}

fn switchable(name: &str, s: &Switchable) -> Result<Option<Duration>, Failure> {
    match s {
        Either::A(ms) => millis(name, *ms).map(Some),
        Either::B(false) => Ok(None),
        Either::B(true) => Err(bad(name, "a duration in milliseconds or false", true)),
    }
}

fn disk_error_kind(name: &str) -> Result<DiskErrorKind, Failure> {
    DiskErrorKind::ALL.iter().copied().find(|k| k.as_str() == name).ok_or_else(|| {
        let known: Vec<_> = DiskErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        Failure::range_error(
            "ERR_STURDY_INVALID_CONFIG",
            format!("breakerFailureKinds: unknown kind {name:?} (known: {})", known.join(", ")),
        )
    })
}

/// The core configuration for `options`.
pub fn to_config(o: &NativeOptions) -> Result<Config, Failure> {
    let mut c = Config::new(&o.directory);
    if let Some(s) = &o.memory_limit {
        c.memory_limit = size("memoryLimit", s)?;
    }
    if let Some(s) = &o.disk_limit {
        c.disk_limit = size("diskLimit", s)?;
    }
    if let Some(ms) = o.default_ttl {
        c.default_ttl = Some(millis("defaultTtl", ms)?);
    }
    if let Some(d) = &o.durability {
        c.durability = match d.as_str() {
            "none" => Durability::None,
            "fsync" => Durability::Fsync,
            other => return Err(bad("durability", "'none' or 'fsync'", format!("{other:?}"))),
        };
    }
    if let Some(s) = &o.max_key_size {
        c.max_key_size = usize_size("maxKeySize", s)?;
    }
    if let Some(s) = &o.max_value_size {
        c.max_value_size = usize_size("maxValueSize", s)?;
    }
    if let Some(s) = &o.compression_threshold {
        c.compression_threshold = usize_size("compressionThreshold", s)?;
    }
    if let Some(n) = o.compression_level {
        if !(n.is_finite() && n.fract() == 0.0 && (-1e6..=1e6).contains(&n)) {
            return Err(bad("compressionLevel", "a whole number", n));
        }
        c.compression_level = n as i32;
    }
    if let Some(ms) = o.quarantine_retention {
        c.quarantine_retention = millis("quarantineRetention", ms)?;
    }
    if let Some(s) = &o.quarantine_max_bytes {
        c.quarantine_max_bytes = size("quarantineMaxBytes", s)?;
    }
    if let Some(s) = &o.sweep_interval {
        c.sweep_interval = switchable("sweepInterval", s)?;
    }
    if let Some(n) = o.hot_shards {
        c.hot_shards = count("hotShards", n)? as usize;
    }
    if let Some(b) = &o.breaker {
        c.breaker = breaker(b)?;
    }
    if let Some(kinds) = &o.breaker_failure_kinds {
        c.breaker_failure_kinds = kinds.iter().map(|k| disk_error_kind(k)).collect::<Result<_, _>>()?;
    }
    if let Some(f) = o.degraded_memory_factor {
        c.degraded_memory_factor = f;
    }
    if let Some(n) = o.max_replay_entries {
        c.max_replay_entries = count("maxReplayEntries", n)? as usize;
    }
    if let Some(s) = &o.max_replay_bytes {
        c.max_replay_bytes = size("maxReplayBytes", s)?;
    }
    if let Some(n) = o.drain_batch_size {
        c.drain_batch_size = count("drainBatchSize", n)? as usize;
    }
    if let Some(s) = &o.health_interval {
        c.health_interval = switchable("healthInterval", s)?;
    }
    if let Some(s) = &o.io_timeout {
        c.io_timeout = switchable("ioTimeout", s)?;
    }
    if let Some(m) = &o.write_mode {
        c.write_mode = match m.as_str() {
            "write-through" => WriteMode::WriteThrough,
            "write-behind" => WriteMode::WriteBehind,
            other => return Err(bad("writeMode", "'write-through' or 'write-behind'", format!("{other:?}"))),
        };
    }
    if let Some(f) = o.fail_on_disk_error {
        c.fail_on_disk_error = f;
    }
    if let Some(key) = &o.secret_key {
        c.secret_key = Some(key.to_vec());
    }
    Ok(c)
}

fn breaker(b: &NativeBreakerOptions) -> Result<BreakerConfig, Failure> {
    let mut c = BreakerConfig::default();
    if let Some(n) = b.failure_threshold {
        c.failure_threshold = small_count("breaker.failureThreshold", n)?;
    }
    if let Some(r) = b.failure_rate_threshold {
        c.failure_rate_threshold = r;
    }
    if let Some(n) = b.minimum_calls {
        c.minimum_calls = small_count("breaker.minimumCalls", n)?;
    }
    if let Some(ms) = b.rolling_window {
        c.rolling_window = millis("breaker.rollingWindow", ms)?;
    }
    if let Some(n) = b.window_buckets {
        c.window_buckets = small_count("breaker.windowBuckets", n)?;
    }
    if let Some(s) = &b.slow_call_threshold {
        c.slow_call_threshold = switchable("breaker.slowCallThreshold", s)?;
    }
    if let Some(ms) = b.open_timeout {
        c.open_timeout = millis("breaker.openTimeout", ms)?;
    }
    if let Some(ms) = b.max_open_timeout {
        c.max_open_timeout = millis("breaker.maxOpenTimeout", ms)?;
    }
    if let Some(f) = b.recovery_factor {
        c.recovery_factor = f;
    }
    if let Some(n) = b.half_open_max_calls {
        c.half_open_max_calls = small_count("breaker.halfOpenMaxCalls", n)?;
    }
    if let Some(n) = b.success_threshold {
        c.success_threshold = small_count("breaker.successThreshold", n)?;
    }
    Ok(c)
}
