//! Python keyword settings → core [`Config`]: sizes as ints or strings such as
//! `"512MiB"`, durations as seconds, enums as their snake-case names. Every
//! range check is the core's own (`Config::validate`, run by `Cache::open`).

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use sturdycache::breaker::BreakerConfig;
use sturdycache::{Config, DiskErrorKind, Durability, WriteMode};

use crate::clock::ManualClock;

/// Every keyword `Cache(...)` accepts besides `directory`, for error messages and `_repr_html_`.
pub const SETTINGS: &[&str] = &[
    "memory_limit",
    "disk_limit",
    "default_ttl",
    "durability",
    "max_key_size",
    "max_value_size",
    "compression_threshold",
    "compression_level",
    "quarantine_retention",
    "quarantine_max_bytes",
    "sweep_interval",
    "hot_shards",
    "breaker",
    "breaker_failure_kinds",
    "degraded_memory_factor",
    "max_replay_entries",
    "max_replay_bytes",
    "drain_batch_size",
    "health_interval",
    "io_timeout",
    "write_mode",
    "fail_on_disk_error",
    "clock",
    "secret_key",
];

/// Builds the core configuration for `directory` from a dict of settings.
pub fn build(directory: &str, settings: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let mut config = Config::new(directory);
    let Some(settings) = settings else { return Ok(config) };
    for (name, value) in settings.iter() {
        let name: String = name.extract().map_err(|_| PyTypeError::new_err("setting names must be strings"))?;
        apply(&mut config, &name, &value)?;
    }
    Ok(config)
}

fn apply(c: &mut Config, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
    match name {
        "memory_limit" => c.memory_limit = size(name, v)?,
        "disk_limit" => c.disk_limit = size(name, v)?,
        "default_ttl" => c.default_ttl = optional_seconds(name, v)?,
        "durability" => {
            c.durability = match text(name, v)?.as_str() {
                "none" => Durability::None,
                "fsync" => Durability::Fsync,
                other => return Err(bad_choice(name, other, "'none' or 'fsync'")),
            }
        }
        "max_key_size" => c.max_key_size = usize_size(name, v)?,
        "max_value_size" => c.max_value_size = usize_size(name, v)?,
        "compression_threshold" => c.compression_threshold = usize_size(name, v)?,
        "compression_level" => c.compression_level = integer(name, v)?,
        "quarantine_retention" => c.quarantine_retention = seconds(name, v)?,
        "quarantine_max_bytes" => c.quarantine_max_bytes = size(name, v)?,
        "sweep_interval" => c.sweep_interval = optional_seconds(name, v)?,
        "hot_shards" => c.hot_shards = integer(name, v)?,
        "breaker" => c.breaker = breaker(v)?,
        "breaker_failure_kinds" => {
            let mut kinds = Vec::new();
            for item in v.try_iter()? {
                let item = item?;
                let kind = text(name, &item)?;
                let found = DiskErrorKind::ALL.iter().find(|k| k.as_str() == kind).ok_or_else(|| {
                    let known: Vec<_> = DiskErrorKind::ALL.iter().map(|k| k.as_str()).collect();
                    PyValueError::new_err(format!("{name}: unknown kind '{kind}'; known: {}", known.join(", ")))
                })?;
                kinds.push(*found);
            }
            c.breaker_failure_kinds = kinds;
        }
        "degraded_memory_factor" => c.degraded_memory_factor = float(name, v)?,
        "max_replay_entries" => c.max_replay_entries = integer(name, v)?,
        "max_replay_bytes" => c.max_replay_bytes = size(name, v)?,
        "drain_batch_size" => c.drain_batch_size = integer(name, v)?,
        "health_interval" => c.health_interval = optional_seconds(name, v)?,
        "io_timeout" => c.io_timeout = optional_seconds(name, v)?,
        "write_mode" => {
            c.write_mode = match text(name, v)?.as_str() {
                "write_through" => WriteMode::WriteThrough,
                "write_behind" => WriteMode::WriteBehind,
                other => return Err(bad_choice(name, other, "'write_through' or 'write_behind'")),
            }
        }
        "fail_on_disk_error" => c.fail_on_disk_error = v.extract().map_err(|_| type_err(name, "a bool"))?,
        "secret_key" => {
            c.secret_key = if v.is_none() {
                None
            } else if let Ok(s) = v.cast::<PyString>() {
                Some(s.to_cow()?.as_bytes().to_vec())
            } else {
                let b = v.cast::<pyo3::types::PyBytes>().map_err(|_| type_err(name, "bytes or str"))?;
                Some(b.as_bytes().to_vec())
            };
        }
        "clock" => {
            let clock = v.cast::<ManualClock>().map_err(|_| type_err(name, "a sturdycache.ManualClock"))?;
            c.clock = Arc::new(clock.get().inner.clone());
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "unknown setting '{other}'; settings are: directory, {}",
                SETTINGS.join(", ")
            )));
        }
    }
    Ok(())
}

fn breaker(v: &Bound<'_, PyAny>) -> PyResult<BreakerConfig> {
    let dict = v.cast::<PyDict>().map_err(|_| type_err("breaker", "a dict of breaker settings"))?;
    let mut b = BreakerConfig::default();
    for (name, value) in dict.iter() {
        let name: String = name.extract().map_err(|_| PyTypeError::new_err("breaker setting names must be strings"))?;
        let field = format!("breaker.{name}");
        let f = field.as_str();
        match name.as_str() {
            "failure_threshold" => b.failure_threshold = integer(f, &value)?,
            "failure_rate_threshold" => b.failure_rate_threshold = float(f, &value)?,
            "minimum_calls" => b.minimum_calls = integer(f, &value)?,
            "rolling_window" => b.rolling_window = seconds(f, &value)?,
            "window_buckets" => b.window_buckets = integer(f, &value)?,
            "slow_call_threshold" => b.slow_call_threshold = optional_seconds(f, &value)?,
            "open_timeout" => b.open_timeout = seconds(f, &value)?,
            "max_open_timeout" => b.max_open_timeout = seconds(f, &value)?,
            "recovery_factor" => b.recovery_factor = float(f, &value)?,
            "half_open_max_calls" => b.half_open_max_calls = integer(f, &value)?,
            "success_threshold" => b.success_threshold = integer(f, &value)?,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unknown breaker setting '{other}'; breaker settings are: failure_threshold, \
                     failure_rate_threshold, minimum_calls, rolling_window, window_buckets, slow_call_threshold, \
                     open_timeout, max_open_timeout, recovery_factor, half_open_max_calls, success_threshold"
                )));
            }
        }
    }
    Ok(b)
}

fn type_err(name: &str, wanted: &str) -> PyErr {
    PyTypeError::new_err(format!("{name} must be {wanted}"))
}

fn bad_choice(name: &str, got: &str, wanted: &str) -> PyErr {
    PyValueError::new_err(format!("{name} must be {wanted}, got '{got}'"))
}

fn text(name: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    v.extract().map_err(|_| type_err(name, "a string"))
}

/// An integer setting; bools are refused (they are ints to Python, never meant here).
fn integer<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(name: &str, v: &Bound<'py, PyAny>) -> PyResult<T> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(type_err(name, "an integer"));
    }
    v.extract::<T>().map_err(|_| {
        if v.is_instance_of::<pyo3::types::PyInt>() {
            PyValueError::new_err(format!("{name} is out of range: {v}"))
        } else {
            type_err(name, "an integer")
        }
    })
}

fn float(name: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(type_err(name, "a number"));
    }
    v.extract().map_err(|_| type_err(name, "a number"))
}

/// A byte size: a non-negative int, or a string such as `"512MiB"` parsed by the core.
pub fn size(name: &str, v: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(s) = v.cast::<PyString>() {
        let s = s.to_cow()?;
        return sturdycache::parse_size(&s).map_err(|e| PyValueError::new_err(format!("{name}: {e}")));
    }
    integer(name, v)
}

fn usize_size(name: &str, v: &Bound<'_, PyAny>) -> PyResult<usize> {
    let n = size(name, v)?;
    usize::try_from(n).map_err(|_| PyValueError::new_err(format!("{name} is out of range: {n}")))
}

/// A duration in seconds (int or float, finite, not negative).
pub fn seconds(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let s = float(name, v)?;
    Duration::try_from_secs_f64(s)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a finite, non-negative number of seconds, got {s}")))
}

fn optional_seconds(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    if v.is_none() { Ok(None) } else { seconds(name, v).map(Some) }
}
