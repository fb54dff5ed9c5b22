//! Core errors as Python exceptions: bad input is a `ValueError` whose message
//! names the limit, a disk failure an `OSError` subclass carrying its errno.

use pyo3::exceptions::{PyException, PyNotADirectoryError, PyOSError, PyValueError};
use pyo3::prelude::*;
use sturdycache::Error;

pyo3::create_exception!(
    _native,
    CacheError,
    PyException,
    "Base class of the errors sturdycache raises that have no standard Python equivalent."
);
pyo3::create_exception!(
    _native,
    DiskError,
    PyOSError,
    "A disk operation failed (only raised where the cache cannot degrade, e.g. opening a directory)."
);
pyo3::create_exception!(
    _native,
    NewerFormatError,
    CacheError,
    "The cache directory was written by a newer sturdycache whose format this build cannot read."
);

/// Translates a core error into the Python exception a caller expects.
pub fn to_py(err: Error) -> PyErr {
    match err {
        Error::NotADirectory(path) => {
            PyNotADirectoryError::new_err(format!("cache path {} exists and is not a directory", path.display()))
        }
        Error::NewerFormat { .. } => NewerFormatError::new_err(err.to_string()),
        Error::Disk { kind, ref path, ref source, .. } => {
            let errno = source.raw_os_error().unwrap_or(0);
            let message = err.to_string();
            let py_err = DiskError::new_err((errno, message, path.display().to_string()));
            Python::attach(|py| {
                // The kind is an extra attribute; failing to set it must not hide the error itself.
                let _ = py_err.value(py).setattr("kind", kind.as_str());
            });
            py_err
        }
        e if e.is_invalid_input() => PyValueError::new_err(e.to_string()),
        e => CacheError::new_err(e.to_string()),
    }
}
