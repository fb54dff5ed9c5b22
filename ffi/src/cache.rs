//! `sturdy_cache`: the handle (open, close, free) and the data operations.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use sturdycache_core::{Cache, DiskHealth, Event, ListenerId, LoadError, Mode, SetOptions, Stored, Ttl, Value};

use crate::boundary::{Failure, FfiResult, bytes, c_bytes, c_str_opt, call, infallible, object, out, put};
use crate::options::sturdy_options;
use crate::status::sturdy_status;
use crate::value::sturdy_value;

/// An open cache. Opaque; created by `sturdy_cache_open`, closed by
/// `sturdy_cache_close`, released by `sturdy_cache_free`.
///
/// Thread safety: every function taking a `const sturdy_cache *` may be called
/// from any number of threads at once. After `sturdy_cache_close` (from any
/// thread) every call on the handle returns `STURDY_STATUS_CLOSED`; only
/// `sturdy_cache_free` may follow. Any number of handles, in any number of
/// processes, may share one directory.
pub struct sturdy_cache {
    core: Cache,
    /// Set by `sturdy_cache_close`. A flag rather than a lock: checking it is
    /// one load on a line no call writes, which keeps a hot get as cheap as
    /// the core's (the core and its threads are released by `sturdy_cache_free`,
    /// when no call can be running any more).
    closed: AtomicBool,
    /// The listeners subscribed through this handle, removed by close.
    listeners: Mutex<Vec<ListenerId>>,
}

impl sturdy_cache {
    /// The core cache behind the handle, for Rust code that holds a handle
    /// (the benchmark compares a get through the ABI with the core's own get
    /// on the very same cache); `None` once closed. Not part of the C ABI.
    pub fn core(&self) -> Option<&Cache> {
        self.handle().ok()
    }

    fn new(core: Cache) -> *mut sturdy_cache {
        Box::into_raw(Box::new(sturdy_cache {
            core,
            closed: AtomicBool::new(false),
            listeners: Mutex::new(Vec::new()),
        }))
    }

    /// The core cache, or `STURDY_STATUS_CLOSED`.
    #[inline]
    pub(crate) fn handle(&self) -> FfiResult<&Cache> {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        Ok(&self.core)
    }

    /// Runs `f` on the open cache, or fails with `STURDY_STATUS_CLOSED`.
    #[inline]
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Cache) -> FfiResult<T>) -> FfiResult<T> {
        f(self.handle()?)
    }

    /// Subscribes `listener` unless the handle is closed (checked under the
    /// listener lock, so a close never misses a listener added meanwhile).
    pub(crate) fn subscribe(&self, listener: impl Fn(&Event) + Send + Sync + 'static) -> FfiResult<ListenerId> {
        let mut ids = self.listeners.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let id = self.core.subscribe(listener);
        ids.push(id);
        Ok(id)
    }

    /// Closes the handle (see `sturdy_cache_close`); false if it already was.
    fn close(&self) -> bool {
        let ids = {
            let mut ids = self.listeners.lock();
            if self.closed.swap(true, Ordering::AcqRel) {
                return false;
            }
            std::mem::take(&mut *ids)
        };
        self.core.flush();
        for id in ids {
            self.core.unsubscribe(id);
        }
        self.core.flush_events();
        true
    }

    /// Unsubscribes `id`; false if it was not subscribed through this handle.
    pub(crate) fn unsubscribe(&self, id: ListenerId) -> FfiResult<bool> {
        let mut ids = self.listeners.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let Some(at) = ids.iter().position(|i| *i == id) else { return Ok(false) };
        ids.swap_remove(at);
        Ok(self.core.unsubscribe(id))
    }
}

fn closed() -> Failure {
    Failure::new(sturdy_status::Closed, "the cache is closed (sturdy_cache_close was called)")
}

/// The cache handle `ptr`, or `NullArgument`.
///
/// # Safety
/// `ptr` must be NULL or a handle from `sturdy_cache_open` not yet freed.
#[inline]
pub(crate) unsafe fn cache_ref<'a>(ptr: *const sturdy_cache) -> FfiResult<&'a sturdy_cache> {
    unsafe { object(ptr, "cache") }
}

/// `ttl_ms` for `sturdy_write_options.ttl_ms` and `sturdy_cache_touch`: the cache's default TTL.
pub const STURDY_TTL_DEFAULT: u64 = 0;
/// `ttl_ms` for `sturdy_write_options.ttl_ms` and `sturdy_cache_touch`: never expire.
pub const STURDY_TTL_NEVER: u64 = u64::MAX;

fn ttl(ms: u64) -> Ttl {
    match ms {
        STURDY_TTL_DEFAULT => Ttl::Default,
        STURDY_TTL_NEVER => Ttl::Never,
        ms => Ttl::After(Duration::from_millis(ms)),
    }
}

/// Options of a write (`sturdy_cache_set`, `sturdy_cache_add`,
/// `sturdy_cache_get_or_load`). Zero-initialise it (`sturdy_write_options o =
/// {0};`) and set the fields you need; all zero means: default TTL, no tag,
/// value type 0 (bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sturdy_write_options {
    /// Expiry in milliseconds from now; `STURDY_TTL_DEFAULT` (0) for the
    /// cache's default TTL, `STURDY_TTL_NEVER` for never.
    pub ttl_ms: u64,
    /// A NUL-terminated UTF-8 tag for `sturdy_cache_evict_tag` (at most 65535
    /// bytes), or NULL for none. Borrowed for the duration of the call only.
    pub tag: *const c_char,
    /// A `STURDY_VALUE_TYPE_*` code stored with the value, so Python and Node
    /// readers restore its type (0: bytes).
    pub value_type: u8,
}

/// Reads `sturdy_write_options` (NULL: the defaults).
///
/// # Safety
/// `options` must be NULL or point to a valid struct whose `tag` is NULL or a
/// NUL-terminated string alive for `'a`.
unsafe fn write_options<'a>(options: *const sturdy_write_options) -> FfiResult<SetOptions<'a>> {
    // SAFETY: per the caller's contract.
    let Some(o) = (unsafe { options.as_ref() }) else { return Ok(SetOptions::default()) };
    let tag = unsafe { c_str_opt(o.tag, "options->tag") }?;
    Ok(SetOptions { ttl: ttl(o.ttl_ms), tag, value_type: o.value_type })
}

/// Where a set's value went.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_stored {
    /// Written to disk (durably with `STURDY_DURABILITY_FSYNC`).
    Disk = 0,
    /// Kept in memory and queued for replay: the disk cannot take writes now
    /// (the cache is degraded) or the cache writes behind.
    Memory = 1,
}

/// The cache's operating mode.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_mode {
    /// Both disk paths healthy.
    Normal = 0,
    /// Writes go to memory and the replay queue; reads still reach the disk.
    ReadOnly = 1,
    /// No disk calls at all; memory and the replay queue answer.
    MemoryOnly = 2,
}

impl sturdy_mode {
    pub(crate) fn of(mode: Mode) -> Self {
        match mode {
            Mode::Normal => Self::Normal,
            Mode::ReadOnly => Self::ReadOnly,
            Mode::MemoryOnly => Self::MemoryOnly,
        }
    }
}

/// The disk's health as last judged by the background probe.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_disk_health {
    /// Probes succeed promptly.
    Healthy = 0,
    /// Probes succeed, but slowly or not every time.
    Degraded = 1,
    /// Probes fail.
    Unhealthy = 2,
}

impl sturdy_disk_health {
    pub(crate) fn of(health: DiskHealth) -> Self {
        match health {
            DiskHealth::Healthy => Self::Healthy,
            DiskHealth::Degraded => Self::Degraded,
            DiskHealth::Unhealthy => Self::Unhealthy,
        }
    }
}

/// Opens (creating if needed) the cache in the options' directory. Returns
/// quickly however many entries exist; `sturdy_cache_wait_ready` waits for the
/// background index build.
///
/// Ownership: `options` is only read (copied); the caller still owns and frees
/// it. On success `*out_cache` is a new handle the caller owns: close it with
/// `sturdy_cache_close` (optional) and release it with `sturdy_cache_free`. On
/// failure `*out_cache` is NULL.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`; `STURDY_STATUS_INVALID_CONFIG` (a
/// setting out of range; the message names it); `STURDY_STATUS_NOT_A_DIRECTORY`;
/// `STURDY_STATUS_NEWER_FORMAT`; `STURDY_STATUS_DISK_*` when the directory
/// cannot be created or read and `fail_on_disk_error` is set (otherwise a disk
/// that cannot take the directory now is an outage: the cache opens degraded
/// and recovers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_open(
    options: *const sturdy_options,
    out_cache: *mut *mut sturdy_cache,
) -> sturdy_status {
    call("sturdy_cache_open", || {
        let slot = unsafe { out(out_cache, "out_cache") }?;
        *slot = std::ptr::null_mut();
        let config = unsafe { object(options, "options") }?.config.clone();
        let opened = Cache::open(config)?;
        *slot = sturdy_cache::new(opened);
        Ok(sturdy_status::Ok)
    })
}

/// Opens the cache in `directory` (a NUL-terminated path) with default
/// settings. Same as `sturdy_options_new` + `sturdy_cache_open`.
///
/// Ownership and errors: as `sturdy_cache_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_open_default(
    directory: *const c_char,
    out_cache: *mut *mut sturdy_cache,
) -> sturdy_status {
    call("sturdy_cache_open_default", || {
        let slot = unsafe { out(out_cache, "out_cache") }?;
        *slot = std::ptr::null_mut();
        let dir = unsafe { c_bytes(directory, "directory") }?;
        let config = sturdycache_core::Config::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(dir));
        let opened = Cache::open(config)?;
        *slot = sturdy_cache::new(opened);
        Ok(sturdy_status::Ok)
    })
}

/// Closes the cache: makes every later call on the handle return
/// `STURDY_STATUS_CLOSED`, writes what is queued (as `sturdy_cache_flush`),
/// removes the handle's event listeners and waits for any listener call in
/// progress, so no listener runs after it returns. Calls already under way on
/// other threads finish normally. Queued writes the disk cannot take now (the
/// cache is degraded) are lost; call `sturdy_cache_flush` first to know.
///
/// Ownership: the handle stays allocated, with the cache's memory and
/// background threads, until `sturdy_cache_free`. Values and key iterators
/// already returned stay valid.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`; `STURDY_STATUS_CLOSED` if the handle
/// is already closed (a second close is harmless).
/// Thread safety: may be called while other threads use the handle, and from
/// an event listener (which then cannot wait for its own call to return).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_close(cache: *mut sturdy_cache) -> sturdy_status {
    call("sturdy_cache_close", || {
        if unsafe { cache_ref(cache) }?.close() {
            Ok(sturdy_status::Ok)
        } else {
            Err(Failure::new(sturdy_status::Closed, "the cache is already closed"))
        }
    })
}

/// Closes the cache if it is still open (as `sturdy_cache_close`), then
/// releases the handle, the cache's memory and its background threads (once
/// key iterators still alive are freed too). NULL is ignored.
///
/// Ownership: `cache` must come from `sturdy_cache_open`, and no other thread
/// may be using it or use it again (that would be a use after free, which no
/// status can report; `sturdy_cache_close` is what makes a handle safely
/// unusable while other threads still hold it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_free(cache: *mut sturdy_cache) {
    if cache.is_null() {
        return;
    }
    infallible((), || {
        // SAFETY: created by Box::into_raw in sturdy_cache::new, freed once per the contract.
        let handle = unsafe { Box::from_raw(cache) };
        handle.close();
        drop(handle);
    })
}

/// Looks `key` up. A corrupt disk entry is quarantined and reported as a
/// miss; while the disk is failing, memory and the replay queue answer.
///
/// Ownership: `key` is borrowed for the call. On a hit `*out_value` is filled
/// with a reference to the value (no copy of the bytes, no allocation); release
/// it with `sturdy_value_free`. Otherwise `*out_value` is zeroed (freeing it is
/// a no-op).
/// Returns `STURDY_STATUS_OK` on a hit, `STURDY_STATUS_NOT_FOUND` on a miss.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_EMPTY_KEY`,
/// `STURDY_STATUS_KEY_TOO_LARGE`, `STURDY_STATUS_CLOSED`, and
/// `STURDY_STATUS_DISK_*` only with `fail_on_disk_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_get(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    out_value: *mut sturdy_value,
) -> sturdy_status {
    call("sturdy_cache_get", || unsafe { read_value(cache, key, key_len, out_value, |c, key| c.get(key)) })
}

/// The body of `sturdy_cache_get` and `sturdy_cache_pop`: zeroes `*out_value`,
/// runs `read` (the core call) and, on a hit, fills `*out_value` with a
/// reference to the value.
///
/// # Safety
/// The pointers follow the contract of `sturdy_cache_get`.
unsafe fn read_value(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    out_value: *mut sturdy_value,
    read: impl FnOnce(&Cache, &[u8]) -> sturdycache_core::Result<Option<Value>>,
) -> FfiResult {
    let slot = unsafe { out(out_value, "out_value") }?;
    *slot = sturdy_value::EMPTY;
    let key = unsafe { bytes(key, key_len, "key") }?;
    match unsafe { cache_ref(cache) }?.with(|c| Ok(read(c, key)?))? {
        Some(value) => {
            sturdy_value::fill(slot, value);
            Ok(sturdy_status::Ok)
        }
        None => Ok(sturdy_status::NotFound),
    }
}

/// Looks `key` up and copies its value into the caller's `buffer`.
///
/// `*out_len` is set to the value's length on a hit (0 on a miss). If the
/// value is longer than `buffer_len` nothing is copied and
/// `STURDY_STATUS_BUFFER_TOO_SMALL` is returned: allocate `*out_len` bytes and
/// call again (the value may have changed meanwhile). `buffer` may be NULL when
/// `buffer_len` is 0, to ask for the size. `out_value_type` may be NULL.
///
/// Ownership: every pointer is borrowed for the call.
/// Returns `STURDY_STATUS_OK` on a hit that fit, `STURDY_STATUS_NOT_FOUND` on a miss.
/// Errors: as `sturdy_cache_get`, and `STURDY_STATUS_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_get_into(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    buffer: *mut u8,
    buffer_len: usize,
    out_len: *mut usize,
    out_value_type: *mut u8,
) -> sturdy_status {
    call("sturdy_cache_get_into", || {
        let len_slot = unsafe { out(out_len, "out_len") }?;
        *len_slot = 0;
        if buffer.is_null() && buffer_len != 0 {
            return Err(Failure::null("buffer (with a non-zero buffer_len)"));
        }
        let key = unsafe { bytes(key, key_len, "key") }?;
        unsafe { cache_ref(cache) }?.with(|c| {
            let Some(value) = c.get(key)? else { return Ok(sturdy_status::NotFound) };
            *len_slot = value.len();
            unsafe { put(out_value_type, value.value_type()) };
            if value.len() > buffer_len {
                return Err(Failure::new(
                    sturdy_status::BufferTooSmall,
                    format!("the value is {} bytes; the buffer holds {buffer_len}", value.len()),
                ));
            }
            // SAFETY: `buffer` holds `buffer_len` >= value.len() writable bytes per the
            // contract (non-NULL when value.len() > 0, since buffer_len > 0 then).
            if !value.is_empty() {
                unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), buffer, value.len()) };
            }
            Ok(sturdy_status::Ok)
        })
    })
}

/// Stores `key` → `value` (either may hold any bytes; the value may be empty).
/// Never fails because of the disk: while the disk cannot take writes the value
/// is kept in memory, queued for replay, and `*out_stored` says
/// `STURDY_STORED_MEMORY`.
///
/// Ownership: `key`, `value` and `options` (NULL: defaults) are borrowed for the
/// call. `out_stored` may be NULL.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_EMPTY_KEY`,
/// `STURDY_STATUS_KEY_TOO_LARGE`, `STURDY_STATUS_VALUE_TOO_LARGE`,
/// `STURDY_STATUS_TAG_TOO_LARGE`, `STURDY_STATUS_INVALID_ARGUMENT` (tag not
/// UTF-8), `STURDY_STATUS_CLOSED`, and `STURDY_STATUS_DISK_*` only with
/// `fail_on_disk_error`. A refused write leaves what was stored untouched.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_set(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    options: *const sturdy_write_options,
    out_stored: *mut sturdy_stored,
) -> sturdy_status {
    call("sturdy_cache_set", || {
        let key = unsafe { bytes(key, key_len, "key") }?;
        let value = unsafe { bytes(value, value_len, "value") }?;
        let opts = unsafe { write_options(options) }?;
        let stored = unsafe { cache_ref(cache) }?.with(|c| Ok(c.set_with(key, value, opts)?))?;
        let stored = match stored {
            Stored::Disk => sturdy_stored::Disk,
            Stored::Memory => sturdy_stored::Memory,
        };
        unsafe { put(out_stored, stored) };
        Ok(sturdy_status::Ok)
    })
}

/// Stores `key` → `value` only if `key` has no live value, atomically across
/// processes. `*out_added` (may be NULL) says whether it stored.
///
/// Ownership and errors: as `sturdy_cache_set`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_add(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    options: *const sturdy_write_options,
    out_added: *mut bool,
) -> sturdy_status {
    call("sturdy_cache_add", || {
        let key = unsafe { bytes(key, key_len, "key") }?;
        let value = unsafe { bytes(value, value_len, "value") }?;
        let opts = unsafe { write_options(options) }?;
        let added = unsafe { cache_ref(cache) }?.with(|c| Ok(c.add(key, value, opts)?))?;
        unsafe { put(out_added, added) };
        Ok(sturdy_status::Ok)
    })
}

/// Removes `key`. `*out_deleted` (may be NULL) says whether anything was removed.
///
/// Ownership: `key` is borrowed for the call.
/// Errors: as `sturdy_cache_get`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_delete(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    out_deleted: *mut bool,
) -> sturdy_status {
    call("sturdy_cache_delete", || {
        let key = unsafe { bytes(key, key_len, "key") }?;
        let deleted = unsafe { cache_ref(cache) }?.with(|c| Ok(c.delete(key)?))?;
        unsafe { put(out_deleted, deleted) };
        Ok(sturdy_status::Ok)
    })
}

/// Changes `key`'s expiry to `ttl_ms` from now (`STURDY_TTL_DEFAULT`: the
/// cache's default; `STURDY_TTL_NEVER`: never). `*out_touched` (may be NULL)
/// says whether `key` had a live value.
///
/// Ownership: `key` is borrowed for the call.
/// Errors: as `sturdy_cache_get`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_touch(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    ttl_ms: u64,
    out_touched: *mut bool,
) -> sturdy_status {
    call("sturdy_cache_touch", || {
        let key = unsafe { bytes(key, key_len, "key") }?;
        let touched = unsafe { cache_ref(cache) }?.with(|c| Ok(c.touch(key, ttl(ttl_ms))?))?;
        unsafe { put(out_touched, touched) };
        Ok(sturdy_status::Ok)
    })
}

/// Whether `key` has a live value (verified, like a get, but not promoted
/// into memory).
///
/// Ownership: `key` is borrowed for the call.
/// Errors: as `sturdy_cache_get` (`out_contains` must not be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_contains(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    out_contains: *mut bool,
) -> sturdy_status {
    call("sturdy_cache_contains", || {
        let slot = unsafe { out(out_contains, "out_contains") }?;
        let key = unsafe { bytes(key, key_len, "key") }?;
        *slot = unsafe { cache_ref(cache) }?.with(|c| Ok(c.contains(key)?))?;
        Ok(sturdy_status::Ok)
    })
}

/// Removes `key` and hands back its value; across processes only one pop gets it.
///
/// Ownership and results: as `sturdy_cache_get`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_pop(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    out_value: *mut sturdy_value,
) -> sturdy_status {
    call("sturdy_cache_pop", || unsafe { read_value(cache, key, key_len, out_value, |c, key| c.pop(key)) })
}

/// Removes every entry. `*out_removed` (may be NULL) is the number of disk
/// entries removed.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`,
/// `STURDY_STATUS_DISK_*` only with `fail_on_disk_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_clear(cache: *const sturdy_cache, out_removed: *mut u64) -> sturdy_status {
    call("sturdy_cache_clear", || {
        let removed = unsafe { cache_ref(cache) }?.handle()?.clear()?;
        unsafe { put(out_removed, removed) };
        Ok(sturdy_status::Ok)
    })
}

/// Removes every entry written with tag `tag` (a NUL-terminated UTF-8
/// string; `""` stands for "no tag" and removes nothing). `*out_removed` (may
/// be NULL) is the number of keys removed.
///
/// Ownership: `tag` is borrowed for the call.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_INVALID_ARGUMENT` (not
/// UTF-8), `STURDY_STATUS_CLOSED`, `STURDY_STATUS_DISK_*` only with `fail_on_disk_error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_evict_tag(
    cache: *const sturdy_cache,
    tag: *const c_char,
    out_removed: *mut u64,
) -> sturdy_status {
    call("sturdy_cache_evict_tag", || {
        let tag = unsafe { c_str_opt(tag, "tag") }?.ok_or_else(|| Failure::null("tag"))?;
        let removed = unsafe { cache_ref(cache) }?.handle()?.evict_tag(tag)?;
        unsafe { put(out_removed, removed) };
        Ok(sturdy_status::Ok)
    })
}

/// Writes everything queued (write-behind sets, writes kept during an
/// outage) to disk now, on the calling thread. `*out_all_written` (may be
/// NULL) is true when nothing is left queued, false when the disk cannot take
/// writes now (the cache is degraded): it never waits for a failing disk.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_flush(cache: *const sturdy_cache, out_all_written: *mut bool) -> sturdy_status {
    call("sturdy_cache_flush", || {
        let all = unsafe { cache_ref(cache) }?.handle()?.flush();
        unsafe { put(out_all_written, all) };
        Ok(sturdy_status::Ok)
    })
}

/// Blocks until the background open work (disk index build, clean-up of
/// abandoned temp files) is done.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_wait_ready(cache: *const sturdy_cache) -> sturdy_status {
    call("sturdy_cache_wait_ready", || {
        unsafe { cache_ref(cache) }?.handle()?.wait_ready();
        Ok(sturdy_status::Ok)
    })
}

/// The cache's mode (normal, read-only or memory-only).
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_mode(cache: *const sturdy_cache, out_mode: *mut sturdy_mode) -> sturdy_status {
    call("sturdy_cache_mode", || {
        let slot = unsafe { out(out_mode, "out_mode") }?;
        *slot = unsafe { cache_ref(cache) }?.with(|c| Ok(sturdy_mode::of(c.mode())))?;
        Ok(sturdy_status::Ok)
    })
}

/// The disk's health as last probed.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_disk_health(
    cache: *const sturdy_cache,
    out_health: *mut sturdy_disk_health,
) -> sturdy_status {
    call("sturdy_cache_disk_health", || {
        let slot = unsafe { out(out_health, "out_health") }?;
        *slot = unsafe { cache_ref(cache) }?.with(|c| Ok(sturdy_disk_health::of(c.disk_health())))?;
        Ok(sturdy_status::Ok)
    })
}

/// Whether other processes' hot tiers see this handle's writes (the shared
/// coherence map could be created in the directory).
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_is_coherent_across_processes(
    cache: *const sturdy_cache,
    out_coherent: *mut bool,
) -> sturdy_status {
    call("sturdy_cache_is_coherent_across_processes", || {
        let slot = unsafe { out(out_coherent, "out_coherent") }?;
        *slot = unsafe { cache_ref(cache) }?.with(|c| Ok(c.is_coherent_across_processes()))?;
        Ok(sturdy_status::Ok)
    })
}

/// Where a loader puts the value it computed (see `sturdy_loader`). Opaque;
/// owned by the library, valid only during the loader call.
pub struct sturdy_loaded {
    bytes: Vec<u8>,
}

/// Hands the computed value to the library from inside a `sturdy_loader`
/// (copied; calling it again replaces it). Not calling it stores an empty value.
///
/// Ownership: `data` is borrowed for the call.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_loaded_set(sink: *mut sturdy_loaded, data: *const u8, len: usize) -> sturdy_status {
    call("sturdy_loaded_set", || {
        let sink = unsafe { out(sink, "sink") }?;
        let data = unsafe { bytes(data, len, "data") }?;
        sink.bytes.clear();
        sink.bytes.extend_from_slice(data);
        Ok(sturdy_status::Ok)
    })
}

/// Computes a missing value for `sturdy_cache_get_or_load`: called on the
/// caller's thread with no cache lock held; puts the value with
/// `sturdy_loaded_set(sink, ...)` and returns 0, or returns any other number to
/// report failure. It must not unwind (C++ exceptions, longjmp) into the library.
pub type sturdy_loader = Option<
    unsafe extern "C" fn(user_data: *mut c_void, key: *const u8, key_len: usize, sink: *mut sturdy_loaded) -> i32,
>;

/// The value for `key`, computing and storing it with `loader` when missing.
/// Concurrent callers for the same key (in this process) run one loader; the
/// others wait and share its value. If a loader fails, a waiter runs its own.
/// A value that cannot be stored (a disk error) is still returned.
///
/// Ownership: `key` and `options` (NULL: defaults) are borrowed for the call;
/// `user_data` is passed to `loader` untouched. On success `*out_value` is
/// filled (release it with `sturdy_value_free`); otherwise zeroed.
/// Errors: as `sturdy_cache_set`; `STURDY_STATUS_CALLBACK_FAILED` when the
/// loader returned non-zero (the message carries the number).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_get_or_load(
    cache: *const sturdy_cache,
    key: *const u8,
    key_len: usize,
    options: *const sturdy_write_options,
    loader: sturdy_loader,
    user_data: *mut c_void,
    out_value: *mut sturdy_value,
) -> sturdy_status {
    call("sturdy_cache_get_or_load", || {
        let slot = unsafe { out(out_value, "out_value") }?;
        *slot = sturdy_value::EMPTY;
        let loader = loader.ok_or_else(|| Failure::null("loader"))?;
        let key = unsafe { bytes(key, key_len, "key") }?;
        let opts = unsafe { write_options(options) }?;
        let core = unsafe { cache_ref(cache) }?.handle()?;
        let loaded = core.get_or_insert_with(key, opts, || {
            let mut sink = sturdy_loaded { bytes: Vec::new() };
            // SAFETY: the loader is a C function following the documented contract.
            match unsafe { loader(user_data, key.as_ptr(), key.len(), &mut sink) } {
                0 => Ok(sink.bytes),
                code => Err(code),
            }
        });
        match loaded {
            Ok(value) => {
                sturdy_value::fill(slot, value);
                Ok(sturdy_status::Ok)
            }
            Err(LoadError::Loader(code)) => {
                Err(Failure::new(sturdy_status::CallbackFailed, format!("the loader returned {code}")))
            }
            Err(LoadError::Invalid(err)) => Err(err.into()),
        }
    })
}
