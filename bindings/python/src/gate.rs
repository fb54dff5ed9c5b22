//! Calls into Python from the core's own threads (log records, event
//! listeners), closed at interpreter exit.
//!
//! A thread that attaches to a finalizing interpreter can be killed inside
//! Rust frames or hang. `sturdycache` closes this gate from an `atexit` hook:
//! after that, background threads drop log records and events instead of
//! attaching, and the hook waits (briefly, without the GIL) for the calls
//! already inside. Atomics only, so a fork at any moment leaves no lock held.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use log::{Log, Metadata, Record};
use pyo3::prelude::*;

static CLOSED: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` attached to Python, unless the gate is closed or the interpreter
/// cannot be attached to (then returns `None`).
pub fn call_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    let result = if CLOSED.load(Ordering::SeqCst) { None } else { Python::try_attach(f) };
    INSIDE.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Whether the gate is closed (the interpreter is exiting).
pub fn is_closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Closes the gate and waits up to `timeout` for the calls already inside.
pub fn close(py: Python<'_>, timeout: Duration) {
    CLOSED.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + timeout;
        while INSIDE.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// In a forked child only the forking thread exists: no call is inside.
pub fn after_fork_in_child() {
    INSIDE.store(0, Ordering::SeqCst);
}

/// pyo3-log's logger behind the gate.
struct GatedLogger(pyo3_log::Logger);

impl Log for GatedLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        // A record that cannot reach Python (exit under way) is dropped.
        let _ = call_python(|_py| self.0.log(record));
    }

    fn flush(&self) {}
}

/// Routes the core's log records to Python's `logging` (logger `sturdycache`
/// and its children, named after the Rust modules). Levels set in Python are
/// honoured at every record (loggers are cached, levels are not).
pub fn install_logger(py: Python<'_>) -> PyResult<()> {
    let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers)?.filter(log::LevelFilter::Debug);
    // Already installed (the module initialised twice): keep the first.
    if log::set_boxed_logger(Box::new(GatedLogger(logger))).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
    Ok(())
}
