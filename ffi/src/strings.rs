//! Strings the library hands out (and their free function), and the version.

use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use crate::boundary::{Failure, c_bytes, c_string, call, infallible, out};
use crate::status::sturdy_status;

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

/// The library's version, e.g. `"0.1.0"` (the core's version).
///
/// Ownership: a static string; do not free it. Thread safety: any thread.
/// Never fails, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sturdy_version() -> *const c_char {
    static VERSION: OnceLock<CString> = OnceLock::new();
    infallible(c"unknown".as_ptr(), || VERSION.get_or_init(|| c_string(sturdycache_core::VERSION)).as_ptr())
}

/// Parses a size the way every sturdycache binding does: `"4096"`, `"64KiB"`,
/// `"512MiB"`, `"1.5GiB"`, `"1GB"` (decimal `kB`/`MB`/`GB`/`TB`, binary
/// `KiB`/`MiB`/`GiB`/`TiB` and the short `K`/`M`/`G`/`T`).
///
/// Ownership: `text` (NUL-terminated) is borrowed for the call.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`; `STURDY_STATUS_INVALID_CONFIG` for text
/// that is not a size (the message gives examples).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_parse_size(text: *const c_char, out_bytes: *mut u64) -> sturdy_status {
    call("sturdy_parse_size", || {
        let slot = unsafe { out(out_bytes, "out_bytes") }?;
        let text = unsafe { c_bytes(text, "text") }?;
        let text = std::str::from_utf8(text).map_err(|e| Failure::invalid(format!("text is not UTF-8 ({e})")))?;
        *slot = sturdycache_core::parse_size(text)?;
        Ok(sturdy_status::Ok)
    })
}
