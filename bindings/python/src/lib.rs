//! PyO3 bindings of sturdycache: the `sturdycache._native` module.
//!
//! Thin by design: settings, keys, values, errors, snapshots and events are
//! translated; every disk operation and every wait runs with the GIL
//! released. The Python package (`python/src/sturdycache`) subclasses
//! [`cache::NativeCache`] and adds the rest of the diskcache-shaped API,
//! asyncio, memoize wrappers, the HTML view and the FACT integration.
#![warn(missing_docs)]

use std::time::Duration;

use pyo3::prelude::*;

mod cache;
mod clock;
mod codec;
mod config;
mod convert;
mod errors;
mod fastget;
mod forkgate;
mod gate;

/// Parses a size such as `"512MiB"`, `"1GB"` or `"4096"` into bytes (the core's parser).
#[pyfunction]
fn parse_size(text: &str) -> PyResult<u64> {
    sturdycache::parse_size(text).map_err(errors::to_py)
}

/// Closes the gate background threads use to reach Python (called at exit).
#[pyfunction]
#[pyo3(signature = (timeout=1.0))]
fn _close_gate(py: Python<'_>, timeout: f64) {
    gate::close(py, Duration::try_from_secs_f64(timeout).unwrap_or(Duration::from_secs(1)));
}

/// Resets per-process state in a forked child.
#[pyfunction]
fn _after_fork_in_child() {
    gate::after_fork_in_child();
    forkgate::after_fork_in_child();
}

/// The `sturdycache._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    gate::install_logger(py)?;
    m.add_class::<cache::NativeCache>()?;
    fastget::install(&py.get_type::<cache::NativeCache>())?;
    m.add_class::<cache::KeyIter>()?;
    m.add_class::<cache::Memo>()?;
    m.add_class::<clock::ManualClock>()?;
    m.add("CacheError", py.get_type::<errors::CacheError>())?;
    m.add("DiskError", py.get_type::<errors::DiskError>())?;
    m.add("NewerFormatError", py.get_type::<errors::NewerFormatError>())?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(_close_gate, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(forkgate::_before_fork, m)?)?;
    m.add_function(wrap_pyfunction!(forkgate::_after_fork_in_parent, m)?)?;
    m.add_function(wrap_pyfunction!(forkgate::_wait_for_threads, m)?)?;
    m.add_function(wrap_pyfunction!(codec::_install_codec, m)?)?;
    m.add_function(wrap_pyfunction!(cache::memo_key, m)?)?;
    m.add_function(wrap_pyfunction!(cache::encode_key, m)?)?;
    m.add_function(wrap_pyfunction!(cache::encode_value, m)?)?;
    m.add_function(wrap_pyfunction!(cache::decode_value, m)?)?;
    m.add("VERSION", sturdycache::VERSION)?;
    m.add("SETTINGS", config::SETTINGS.to_vec())?;
    Ok(())
}
