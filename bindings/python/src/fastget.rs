//! `NativeCache.get` as a vectorcall (`METH_FASTCALL`) method.
//!
//! The wheel is abi3 for CPython ≥ 3.9, and the 3.9 limited API has no
//! `METH_FASTCALL`, so PyO3 compiles every method as `METH_VARARGS`: each
//! call builds an argument tuple and parses it, about 30 ns — a fifth of a hot
//! get. On an interpreter that has `METH_FASTCALL` in its stable ABI (3.10 and
//! later), [`install`] replaces `get` with this one, which reads its
//! arguments straight from the caller's stack. Only the common shapes are
//! handled here (`get(key)` and `get(key, default)`); anything else
//! (keywords, `read=True`, ...) goes to the PyO3 method, kept as the fallback,
//! so both behave identically.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::cache::NativeCache;

/// The PyO3 `get`, called for every shape the fast path does not handle.
static FALLBACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The signature `inspect` reads (CPython's `__text_signature__` convention).
const DOC: &std::ffi::CStr =
    c"get($self, /, key, default=None, read=False, expire_time=False, tag=False, retry=False)\n--\n\n\
The value for `key`, or `default`. `read=True` returns a bytes value as a file object. A corrupt entry is \
quarantined and is a miss.";

/// CPython's flag value (`Include/methodobject.h`); pyo3-ffi only names it
/// when built for a 3.10+ limited API, and it is only used on a 3.10+ runtime.
const METH_FASTCALL: std::ffi::c_int = 0x0080;

type Fast = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

/// Replaces `class.get` with the vectorcall version when the running
/// interpreter supports it; otherwise leaves the PyO3 method in place.
pub fn install(class: &Bound<'_, PyType>) -> PyResult<()> {
    let py = class.py();
    if py.version_info() < (3, 10) {
        return Ok(());
    }
    FALLBACK.get_or_try_init(py, || class.getattr("get").map(Bound::unbind))?;
    let fast: Fast = get;
    // The method table entry must outlive the type: it is made once per
    // process (the module is initialised once) and never freed.
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"get".as_ptr(),
        // SAFETY: CPython calls `ml_meth` with the signature its flags name;
        // METH_FASTCALL | METH_KEYWORDS is `Fast`'s.
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: unsafe { std::mem::transmute::<Fast, ffi::PyCFunction>(fast) },
        },
        ml_flags: METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: DOC.as_ptr(),
    }));
    // SAFETY: `class` is a live type object and `def` is 'static.
    let descr = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(class.as_type_ptr(), std::ptr::from_mut(def)))?
    };
    class.setattr("get", descr)
}

/// `get(key)` and `get(key, default)` without an argument tuple.
unsafe extern "C" fn get(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls methods with the GIL held (attached).
    let py = unsafe { Python::assume_attached() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes `self` and `nargs` positional arguments
        // followed by one per keyword name, all borrowed for the call.
        unsafe { call(py, slf, args, nargsf, kwnames) }
    }));
    let result = match outcome {
        Ok(result) => result,
        Err(_) => Err(PyRuntimeError::new_err("sturdycache: internal error in get (a Rust panic was caught)")),
    };
    match result {
        Ok(value) => value.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

unsafe fn call<'py>(
    py: Python<'py>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    // PY_VECTORCALL_ARGUMENTS_OFFSET is the top bit of nargsf.
    let nargs = nargsf as usize & !(1usize << (usize::BITS - 1));
    // SAFETY (all borrows): see `get`; each pointer is a live object for the call.
    let slf = unsafe { Bound::from_borrowed_ptr(py, slf) };
    let arg = |i: usize| unsafe { Bound::from_borrowed_ptr(py, *args.add(i)) };
    let keywords = if kwnames.is_null() {
        None
    } else {
        Some(unsafe { Bound::from_borrowed_ptr(py, kwnames) }.cast_into::<PyTuple>()?)
    };
    let no_keywords = keywords.as_ref().is_none_or(|k| k.is_empty());
    if no_keywords && (nargs == 1 || nargs == 2) {
        let cache = slf.cast::<NativeCache>()?;
        let default = (nargs == 2).then(|| arg(1));
        return cache.get().lookup(py, &arg(0), default);
    }
    let positional: Vec<_> = std::iter::once(slf).chain((0..nargs).map(arg)).collect();
    fallback(py, PyTuple::new(py, positional)?, keywords, args, nargs)
}

/// Calls the PyO3 `get` with the same arguments (`positional` starts with
/// `self`; keyword values follow the `nargs` positional ones in `args`).
fn fallback<'py>(
    py: Python<'py>,
    positional: Bound<'py, PyTuple>,
    keywords: Option<Bound<'py, PyTuple>>,
    args: *const *mut ffi::PyObject,
    nargs: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let full = FALLBACK.get(py).ok_or_else(|| PyRuntimeError::new_err("sturdycache: get is not installed"))?;
    let kwargs = PyDict::new(py);
    if let Some(names) = keywords {
        for (i, name) in names.iter().enumerate() {
            // SAFETY: keyword values follow the positional ones in `args`.
            let value = unsafe { Bound::from_borrowed_ptr(py, *args.add(nargs + i)) };
            kwargs.set_item(name, value)?;
        }
    }
    full.bind(py).call(positional, Some(&kwargs))
}
