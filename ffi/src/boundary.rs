//! The boundary itself: the panic catcher every entry point runs under, and
//! the checked conversions of C arguments (pointers, lengths, strings, enum
//! codes) into Rust values, each failing with a status instead of undefined
//! behaviour.

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::status::{set_last_error, sturdy_status};

/// Why a call failed: the status to return and the message for
/// `sturdy_last_error_message`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: sturdy_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: sturdy_status, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure::new(sturdy_status::NullArgument, format!("{what} must not be NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(sturdy_status::InvalidArgument, message)
    }
}

impl From<sturdycache_core::Error> for Failure {
    fn from(err: sturdycache_core::Error) -> Self {
        Failure { status: sturdy_status::of_error(&err), message: err.to_string() }
    }
}

/// The result of an entry point's body.
pub(crate) type FfiResult<T = sturdy_status> = Result<T, Failure>;

/// Runs `body` as the entry point `op`: its status is returned; a failure
/// also sets the thread's last error message (prefixed with `op`); a panic is
/// caught and reported as `STURDY_STATUS_PANIC`, never unwinding into C.
#[inline]
pub(crate) fn call(op: &'static str, body: impl FnOnce() -> FfiResult) -> sturdy_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            set_last_error(format!("{op}: {}", failure.message));
            failure.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(format!("{op}: internal error (a bug in sturdycache, please report it): {what}"));
            sturdy_status::Panic
        }
    }
}

/// Runs `body` for an entry point that cannot report a status (frees,
/// accessors): a panic is caught and `fallback` returned instead.
#[inline]
pub(crate) fn infallible<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// `len` bytes at `ptr`. A zero length needs no pointer (NULL is fine); a
/// non-zero length with NULL, or one above `isize::MAX`, is refused.
///
/// # Safety
/// When `ptr` is non-NULL it must point to `len` readable bytes that stay
/// unchanged for `'a`.
#[inline]
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!("{what} length {len} is above PTRDIFF_MAX")));
    }
    // SAFETY: non-NULL, len within isize::MAX, readable per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The object `ptr` points to, or `NullArgument`.
///
/// # Safety
/// `ptr` must be NULL or point to a live `T` for `'a`.
#[inline]
pub(crate) unsafe fn object<'a, T>(ptr: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// The out-parameter `ptr` points to, or `NullArgument`.
///
/// # Safety
/// `ptr` must be NULL or point to writable memory for a `T`.
#[inline]
pub(crate) unsafe fn out<'a, T>(ptr: *mut T, what: &str) -> FfiResult<&'a mut T> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(what))
}

/// Writes `value` to an optional out-parameter (NULL: the caller does not want it).
///
/// # Safety
/// `ptr` must be NULL or point to writable memory for a `T`.
#[inline]
pub(crate) unsafe fn put<T>(ptr: *mut T, value: T) {
    // SAFETY: per the caller's contract.
    if let Some(slot) = unsafe { ptr.as_mut() } {
        *slot = value;
    }
}

/// A NUL-terminated C string as bytes, or `NullArgument`.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string alive for `'a`.
pub(crate) unsafe fn c_bytes<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a [u8]> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// An optional NUL-terminated UTF-8 string (NULL → `None`).
///
/// # Safety
/// As [`c_bytes`].
pub(crate) unsafe fn c_str_opt<'a>(ptr: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: per the caller's contract.
    let bytes = unsafe { c_bytes(ptr, what) }?;
    std::str::from_utf8(bytes).map(Some).map_err(|e| Failure::invalid(format!("{what} is not valid UTF-8 ({e})")))
}

/// A Rust string as an owned C string; NUL bytes (impossible in the strings
/// the core produces, but cheap to rule out) become `?`.
pub(crate) fn c_string(text: impl Into<Vec<u8>>) -> CString {
    let mut bytes = text.into();
    for b in &mut bytes {
        if *b == 0 {
            *b = b'?';
        }
    }
    CString::new(bytes).unwrap_or_default()
}

/// Maps an integer code from C to one of `table`'s values, naming `what` and
/// the valid range when it is out of range.
pub(crate) fn enum_arg<T: Clone>(code: u32, table: &[T], what: &str) -> FfiResult<T> {
    table
        .get(code as usize)
        .cloned()
        .ok_or_else(|| Failure::invalid(format!("{what} must be 0..={}, got {code}", table.len().saturating_sub(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = call("sturdy_test", || panic!("boom"));
        assert_eq!(status, sturdy_status::Panic);
        let msg = unsafe { CStr::from_ptr(crate::status::sturdy_last_error_message()) };
        assert!(msg.to_str().unwrap().contains("sturdy_test: internal error"), "{msg:?}");
        assert!(msg.to_str().unwrap().contains("boom"), "{msg:?}");
        let formatted = call("sturdy_test", || panic!("{} {}", "formatted", 7));
        assert_eq!(formatted, sturdy_status::Panic);
        let msg = unsafe { CStr::from_ptr(crate::status::sturdy_last_error_message()) };
        assert!(msg.to_str().unwrap().contains("formatted 7"), "{msg:?}");
        assert_eq!(infallible(42, || panic!("in an accessor")), 42);
    }

    #[test]
    fn lengths_and_pointers_are_checked() {
        assert_eq!(unsafe { bytes(std::ptr::null(), 0, "key") }.unwrap(), &[] as &[u8]);
        assert_eq!(unsafe { bytes(std::ptr::null(), 3, "key") }.unwrap_err().status, sturdy_status::NullArgument);
        let x = [1u8];
        let huge = unsafe { bytes(x.as_ptr(), usize::MAX, "key") }.unwrap_err();
        assert_eq!(huge.status, sturdy_status::InvalidArgument);
        assert!(huge.message.contains("PTRDIFF_MAX"));
        assert_eq!(enum_arg(7, &[1, 2], "op").unwrap_err().message, "op must be 0..=1, got 7");
        assert_eq!(c_string("a\0b").as_bytes(), b"a?b");
    }
}
