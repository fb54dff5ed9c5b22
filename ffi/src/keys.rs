//! `sturdy_keys`: iteration over the keys of live entries.

use sturdycache_core::Keys;

use crate::boundary::{call, infallible, out};
use crate::cache::{cache_ref, sturdy_cache};
use crate::status::sturdy_status;

/// An iterator over the keys of live entries on disk (while the cache is
/// degraded: the keys held in memory), in no particular order. Entries set or
/// removed during the iteration may or may not be seen. Opaque; created by
/// `sturdy_cache_keys`, advanced by `sturdy_keys_next`, released by
/// `sturdy_keys_free`.
///
/// It keeps the cache's engine alive (not the handle): it may be used after
/// `sturdy_cache_close`, and the background threads stop once it is freed.
/// Thread safety: use one iterator from one thread at a time.
pub struct sturdy_keys {
    iter: Keys,
    current: Vec<u8>,
}

/// Starts an iteration over the cache's keys.
///
/// Ownership: on success `*out_keys` is a new iterator the caller owns;
/// release it with `sturdy_keys_free`. On failure it is NULL.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`,
/// `STURDY_STATUS_DISK_*` when the data folder cannot be listed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_keys(
    cache: *const sturdy_cache,
    out_keys: *mut *mut sturdy_keys,
) -> sturdy_status {
    call("sturdy_cache_keys", || {
        let slot = unsafe { out(out_keys, "out_keys") }?;
        *slot = std::ptr::null_mut();
        let iter = unsafe { cache_ref(cache) }?.handle()?.keys()?;
        *slot = Box::into_raw(Box::new(sturdy_keys { iter, current: Vec::new() }));
        Ok(sturdy_status::Ok)
    })
}

/// Advances to the next key.
///
/// Ownership: on `STURDY_STATUS_OK`, `*out_key` points to `*out_key_len`
/// bytes owned by the iterator, valid until the next call on it or
/// `sturdy_keys_free`. Otherwise `*out_key` is NULL and `*out_key_len` 0.
/// Returns `STURDY_STATUS_OK` with a key, `STURDY_STATUS_NOT_FOUND` at the end.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`; `STURDY_STATUS_DISK_*` when a folder
/// or file cannot be read (the iteration may continue after it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_keys_next(
    keys: *mut sturdy_keys,
    out_key: *mut *const u8,
    out_key_len: *mut usize,
) -> sturdy_status {
    call("sturdy_keys_next", || {
        let key_slot = unsafe { out(out_key, "out_key") }?;
        let len_slot = unsafe { out(out_key_len, "out_key_len") }?;
        *key_slot = std::ptr::null();
        *len_slot = 0;
        let keys = unsafe { out(keys, "keys") }?;
        match keys.iter.next() {
            Some(Ok(key)) => {
                keys.current = key;
                *key_slot = keys.current.as_ptr();
                *len_slot = keys.current.len();
                Ok(sturdy_status::Ok)
            }
            Some(Err(err)) => Err(err.into()),
            None => Ok(sturdy_status::NotFound),
        }
    })
}

/// Releases an iterator. NULL is ignored.
///
/// Ownership: `keys` must come from `sturdy_cache_keys` and not be used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_keys_free(keys: *mut sturdy_keys) {
    if !keys.is_null() {
        // SAFETY: created by Box::into_raw in sturdy_cache_keys, freed once per the contract.
        infallible((), || drop(unsafe { Box::from_raw(keys) }));
    }
}
