//! Strings the library hands out (and their free function), and the version.

use std::ffi::{CString, c_char};

use crate::boundary::{c_string, infallible};

/// Moves `text` to C: `*slot` becomes an owned NUL-terminated copy (freed by
/// `sturdy_string_free`), `*out_len` (optional) its length without the NUL.
///
/// # Safety
/// `out_len` must be NULL or writable.
pub(crate) unsafe fn hand_out(text: String, slot: &mut *mut c_char, out_len: *mut usize) {
    let c = c_string(text);
    unsafe { crate::boundary::put(out_len, c.as_bytes().len()) };
    *slot = c.into_raw();
}

/// Releases a string returned by `sturdy_cache_stats_json` or
/// `sturdy_cache_prometheus`. NULL is ignored.
///
/// Ownership: `text` must come from one of those functions and not be used
/// again. Never free it with `free()`; never pass other strings here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: created by CString::into_raw in hand_out, freed once per the contract.
        infallible((), || drop(unsafe { CString::from_raw(text) }));
    }
}

/// The library's version, e.g. `"0.1.0"`.
///
/// Ownership: a static string; do not free it. Thread safety: any thread.
/// Never fails, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sturdy_version() -> *const c_char {
    const VERSION: &std::ffi::CStr =
        match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}
