//! `sturdy_options`: the settings of a cache, one setter per core setting.
//! Values are checked when the cache opens (the core's `Config::validate`), so
//! a bad one makes `sturdy_cache_open` fail with `STURDY_STATUS_INVALID_CONFIG`
//! and a message naming the setting and its bounds.

use std::ffi::c_char;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Duration;

use sturdycache_core::{Config, DiskErrorKind, Durability, WriteMode};

use crate::boundary::{Failure, FfiResult, bytes, c_bytes, call, enum_arg, infallible, object, out};
use crate::clock::sturdy_clock;
use crate::status::sturdy_status;

/// The settings of a cache. Opaque; created by `sturdy_options_new` with every
/// setting at its default, changed by the `sturdy_options_set_*` functions,
/// read by `sturdy_cache_open` (which copies them), released by
/// `sturdy_options_free`.
///
/// Thread safety: not synchronised; use one options object from one thread at a time.
pub struct sturdy_options {
    pub(crate) config: Config,
}

/// How hard a set works to make its entry survive a power loss.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_durability {
    /// Write and rename; survives a killed process, not a power cut. The default.
    None = 0,
    /// fsync the file and its folder: an acknowledged set survives a power loss.
    Fsync = 1,
}

/// When a set returns.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_write_mode {
    /// After the entry is on disk. The default.
    WriteThrough = 0,
    /// After the memory insert; a background writer persists the value.
    WriteBehind = 1,
}

const DURABILITIES: [Durability; 2] = [Durability::None, Durability::Fsync];
const WRITE_MODES: [WriteMode; 2] = [WriteMode::WriteThrough, WriteMode::WriteBehind];

/// Disk error kind flag: no space (`ENOSPC`, `EDQUOT`).
pub const STURDY_DISK_ERROR_NO_SPACE: u32 = 1;
/// Disk error kind flag: read-only file system (`EROFS`).
pub const STURDY_DISK_ERROR_READ_ONLY: u32 = 2;
/// Disk error kind flag: permission denied (`EACCES`, `EPERM`).
pub const STURDY_DISK_ERROR_PERMISSION_DENIED: u32 = 4;
/// Disk error kind flag: low-level I/O error (`EIO`).
pub const STURDY_DISK_ERROR_IO: u32 = 8;
/// Disk error kind flag: timed out.
pub const STURDY_DISK_ERROR_TIMED_OUT: u32 = 16;
/// Disk error kind flag: any other error.
pub const STURDY_DISK_ERROR_OTHER: u32 = 32;
/// Every disk error kind flag.
pub const STURDY_DISK_ERROR_ALL: u32 = 63;

/// The flags of `STURDY_DISK_ERROR_*`, in the core's `DiskErrorKind::ALL` order.
const KIND_FLAGS: [u32; 6] = [
    STURDY_DISK_ERROR_NO_SPACE,
    STURDY_DISK_ERROR_READ_ONLY,
    STURDY_DISK_ERROR_PERMISSION_DENIED,
    STURDY_DISK_ERROR_IO,
    STURDY_DISK_ERROR_TIMED_OUT,
    STURDY_DISK_ERROR_OTHER,
];

fn failure_kinds(mask: u32) -> FfiResult<Vec<DiskErrorKind>> {
    if mask & !STURDY_DISK_ERROR_ALL != 0 {
        return Err(Failure::invalid(format!(
            "breaker_failure_kinds must be a combination of STURDY_DISK_ERROR_* flags (at most {STURDY_DISK_ERROR_ALL}), got {mask}"
        )));
    }
    Ok(DiskErrorKind::ALL.iter().zip(KIND_FLAGS).filter(|(_, flag)| mask & flag != 0).map(|(k, _)| *k).collect())
}

fn nonzero_ms(ms: u64) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(ms))
}

/// Creates settings for a cache in `directory` (a NUL-terminated path; created
/// when the cache opens if missing), every other setting at its default.
///
/// Ownership: `directory` is copied. On success `*out_options` is new settings
/// the caller owns; release them with `sturdy_options_free`. On failure it is NULL.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `directory` or `out_options` is NULL;
/// `STURDY_STATUS_INVALID_CONFIG` if `directory` is empty.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_new(
    directory: *const c_char,
    out_options: *mut *mut sturdy_options,
) -> sturdy_status {
    call("sturdy_options_new", || {
        let slot = unsafe { out(out_options, "out_options") }?;
        *slot = std::ptr::null_mut();
        let dir = unsafe { c_bytes(directory, "directory") }?;
        if dir.is_empty() {
            return Err(Failure::new(sturdy_status::InvalidConfig, "directory must not be empty"));
        }
        let config = Config::new(std::ffi::OsStr::from_bytes(dir));
        *slot = Box::into_raw(Box::new(sturdy_options { config }));
        Ok(sturdy_status::Ok)
    })
}

/// Releases settings. NULL is ignored.
///
/// Ownership: `options` must come from `sturdy_options_new` and not be used
/// again. Caches opened with them are unaffected (they copied the settings).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_free(options: *mut sturdy_options) {
    if !options.is_null() {
        // SAFETY: created by Box::into_raw in sturdy_options_new, freed once per the contract.
        infallible((), || drop(unsafe { Box::from_raw(options) }));
    }
}

/// Makes the cache read time from `clock` (a manual clock, for tests) instead
/// of the system clock.
///
/// Ownership: the options take their own reference to the clock; the caller
/// still owns `clock` and frees it when it likes.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` or `clock` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_clock(
    options: *mut sturdy_options,
    clock: *const sturdy_clock,
) -> sturdy_status {
    call("sturdy_options_set_clock", || {
        let clock = unsafe { object(clock, "clock") }?.clock.clone();
        unsafe { edit(options) }?.clock = Arc::new(clock);
        Ok(sturdy_status::Ok)
    })
}

/// Authenticates every entry with a keyed MAC (BLAKE3) derived from `key`:
/// entries written carry one, and an entry read without a valid one (written
/// without the key, with another key, or tampered with) is quarantined
/// (reason `bad-mac`) and reported as a miss. Every process sharing the
/// directory must use the same key. `key` NULL (with `key_len` 0) removes the
/// setting; a non-NULL empty key is refused at open (`STURDY_STATUS_INVALID_CONFIG`).
///
/// Ownership: the key bytes are copied.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL, or `key` is NULL
/// with a non-zero `key_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_secret_key(
    options: *mut sturdy_options,
    key: *const u8,
    key_len: usize,
) -> sturdy_status {
    call("sturdy_options_set_secret_key", || {
        let c = unsafe { edit(options) }?;
        c.secret_key =
            if key.is_null() && key_len == 0 { None } else { Some(unsafe { bytes(key, key_len, "key") }?.to_vec()) };
        Ok(sturdy_status::Ok)
    })
}

unsafe fn edit<'a>(options: *mut sturdy_options) -> FfiResult<&'a mut Config> {
    Ok(&mut unsafe { out(options, "options") }?.config)
}

/// Byte budget of the hot (memory) tier, counting keys, values, tags and a fixed per-entry overhead.
/// Default 64 MiB; 0 disables the hot tier.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_memory_limit(options: *mut sturdy_options, bytes: u64) -> sturdy_status {
    call("sturdy_options_set_memory_limit", || {
        let c = unsafe { edit(options) }?;
        c.memory_limit = bytes;
        Ok(sturdy_status::Ok)
    })
}

/// Byte budget of the warm (disk) tier, counting whole entry files; least recently used entries are
/// evicted. Default 1 GiB; must be greater than 0.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_disk_limit(options: *mut sturdy_options, bytes: u64) -> sturdy_status {
    call("sturdy_options_set_disk_limit", || {
        let c = unsafe { edit(options) }?;
        c.disk_limit = bytes;
        Ok(sturdy_status::Ok)
    })
}

/// Expiry for entries written with `STURDY_TTL_DEFAULT`. Default: never; 0 restores never.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_default_ttl_ms(options: *mut sturdy_options, ms: u64) -> sturdy_status {
    call("sturdy_options_set_default_ttl_ms", || {
        let c = unsafe { edit(options) }?;
        c.default_ttl = nonzero_ms(ms);
        Ok(sturdy_status::Ok)
    })
}

/// How hard a set works to survive a power loss: a `sturdy_durability` value. Default
/// `STURDY_DURABILITY_NONE` (survives a killed process); `STURDY_DURABILITY_FSYNC` makes every
/// acknowledged set survive power loss.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL; `STURDY_STATUS_INVALID_ARGUMENT` for an unknown value.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_durability(options: *mut sturdy_options, durability: u32) -> sturdy_status {
    call("sturdy_options_set_durability", || {
        let c = unsafe { edit(options) }?;
        c.durability = enum_arg(durability, &DURABILITIES, "durability")?;
        Ok(sturdy_status::Ok)
    })
}

/// When a set returns: a `sturdy_write_mode` value. Default `STURDY_WRITE_MODE_WRITE_THROUGH` (after
/// the disk write); `STURDY_WRITE_MODE_WRITE_BEHIND` returns after the memory insert and a background
/// writer persists the value (`sturdy_cache_flush` waits for it). A write-behind set that finds the
/// replay queue full on a healthy disk writes through itself (`STURDY_STORED_DISK`): backpressure,
/// never a dropped write.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL; `STURDY_STATUS_INVALID_ARGUMENT` for an unknown value.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_write_mode(options: *mut sturdy_options, write_mode: u32) -> sturdy_status {
    call("sturdy_options_set_write_mode", || {
        let c = unsafe { edit(options) }?;
        c.write_mode = enum_arg(write_mode, &WRITE_MODES, "write_mode")?;
        Ok(sturdy_status::Ok)
    })
}

/// Longest accepted key. Default 64 KiB; 1 to 1 GiB.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_max_key_size(options: *mut sturdy_options, bytes: usize) -> sturdy_status {
    call("sturdy_options_set_max_key_size", || {
        let c = unsafe { edit(options) }?;
        c.max_key_size = bytes;
        Ok(sturdy_status::Ok)
    })
}

/// Longest accepted value. Default 128 MiB; 1 byte to 1 TiB.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_max_value_size(
    options: *mut sturdy_options,
    bytes: usize,
) -> sturdy_status {
    call("sturdy_options_set_max_value_size", || {
        let c = unsafe { edit(options) }?;
        c.max_value_size = bytes;
        Ok(sturdy_status::Ok)
    })
}

/// Values at least this long are zstd-compressed when that saves space. Default 4 KiB.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_compression_threshold(
    options: *mut sturdy_options,
    bytes: usize,
) -> sturdy_status {
    call("sturdy_options_set_compression_threshold", || {
        let c = unsafe { edit(options) }?;
        c.compression_threshold = bytes;
        Ok(sturdy_status::Ok)
    })
}

/// zstd level. Default 3; 1 to 22.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_compression_level(
    options: *mut sturdy_options,
    level: i32,
) -> sturdy_status {
    call("sturdy_options_set_compression_level", || {
        let c = unsafe { edit(options) }?;
        c.compression_level = level;
        Ok(sturdy_status::Ok)
    })
}

/// How long quarantined (corrupt) files are kept for forensics. Default 7 days.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_quarantine_retention_ms(
    options: *mut sturdy_options,
    ms: u64,
) -> sturdy_status {
    call("sturdy_options_set_quarantine_retention_ms", || {
        let c = unsafe { edit(options) }?;
        c.quarantine_retention = Duration::from_millis(ms);
        Ok(sturdy_status::Ok)
    })
}

/// Cap on the quarantine folder's size; the oldest files go first. Default 64 MiB.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_quarantine_max_bytes(
    options: *mut sturdy_options,
    bytes: u64,
) -> sturdy_status {
    call("sturdy_options_set_quarantine_max_bytes", || {
        let c = unsafe { edit(options) }?;
        c.quarantine_max_bytes = bytes;
        Ok(sturdy_status::Ok)
    })
}

/// How often the background sweep removes expired entries, enforces the disk budget and cleans the
/// quarantine. Default 60 s; 0 runs no periodic sweep (call `sturdy_cache_sweep` yourself).
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_sweep_interval_ms(options: *mut sturdy_options, ms: u64) -> sturdy_status {
    call("sturdy_options_set_sweep_interval_ms", || {
        let c = unsafe { edit(options) }?;
        c.sweep_interval = nonzero_ms(ms);
        Ok(sturdy_status::Ok)
    })
}

/// Hot-tier shards. Default 16; a power of two up to 1024.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_hot_shards(options: *mut sturdy_options, shards: usize) -> sturdy_status {
    call("sturdy_options_set_hot_shards", || {
        let c = unsafe { edit(options) }?;
        c.hot_shards = shards;
        Ok(sturdy_status::Ok)
    })
}

/// How much the hot budget grows while the cache is degraded (read-only or memory-only). Default 2.0;
/// 1.0 to 16.0.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_degraded_memory_factor(
    options: *mut sturdy_options,
    factor: f64,
) -> sturdy_status {
    call("sturdy_options_set_degraded_memory_factor", || {
        let c = unsafe { edit(options) }?;
        c.degraded_memory_factor = factor;
        Ok(sturdy_status::Ok)
    })
}

/// Most writes kept for replay while the disk cannot take them. Default 10000; at least 1.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_max_replay_entries(
    options: *mut sturdy_options,
    entries: usize,
) -> sturdy_status {
    call("sturdy_options_set_max_replay_entries", || {
        let c = unsafe { edit(options) }?;
        c.max_replay_entries = entries;
        Ok(sturdy_status::Ok)
    })
}

/// Most bytes kept for replay. Default 64 MiB.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_max_replay_bytes(
    options: *mut sturdy_options,
    bytes: u64,
) -> sturdy_status {
    call("sturdy_options_set_max_replay_bytes", || {
        let c = unsafe { edit(options) }?;
        c.max_replay_bytes = bytes;
        Ok(sturdy_status::Ok)
    })
}

/// Writes replayed per batch after the disk comes back. Default 100; at least 1.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_drain_batch_size(
    options: *mut sturdy_options,
    entries: usize,
) -> sturdy_status {
    call("sturdy_options_set_drain_batch_size", || {
        let c = unsafe { edit(options) }?;
        c.drain_batch_size = entries;
        Ok(sturdy_status::Ok)
    })
}

/// How often a healthy disk is probed (write, fsync, read back, delete a small file). Default 60 s; 0
/// disables the periodic probe (recovery probes still run).
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_health_interval_ms(options: *mut sturdy_options, ms: u64) -> sturdy_status {
    call("sturdy_options_set_health_interval_ms", || {
        let c = unsafe { edit(options) }?;
        c.health_interval = nonzero_ms(ms);
        Ok(sturdy_status::Ok)
    })
}

/// A disk call still running after this long trips its path's breaker (the stalled-disk watchdog).
/// Default 5 s; 0 disables the watchdog.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_io_timeout_ms(options: *mut sturdy_options, ms: u64) -> sturdy_status {
    call("sturdy_options_set_io_timeout_ms", || {
        let c = unsafe { edit(options) }?;
        c.io_timeout = nonzero_ms(ms);
        Ok(sturdy_status::Ok)
    })
}

/// Report disk errors to callers as `STURDY_STATUS_DISK_*` instead of degrading (no breakers, no replay
/// queue): for tests of the engine itself. Default false.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_fail_on_disk_error(
    options: *mut sturdy_options,
    enabled: bool,
) -> sturdy_status {
    call("sturdy_options_set_fail_on_disk_error", || {
        let c = unsafe { edit(options) }?;
        c.fail_on_disk_error = enabled;
        Ok(sturdy_status::Ok)
    })
}

/// Consecutive failures that trip a disk-path breaker. Default 5; 0 disables this rule.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_failure_threshold(
    options: *mut sturdy_options,
    failures: u32,
) -> sturdy_status {
    call("sturdy_options_set_breaker_failure_threshold", || {
        let c = unsafe { edit(options) }?;
        c.breaker.failure_threshold = failures;
        Ok(sturdy_status::Ok)
    })
}

/// Failure rate over the rolling window at or above which a breaker trips, once `breaker_minimum_calls`
/// are in the window. Default 0.5; 0.0 to 1.0, 0.0 disables this rule.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_failure_rate_threshold(
    options: *mut sturdy_options,
    rate: f64,
) -> sturdy_status {
    call("sturdy_options_set_breaker_failure_rate_threshold", || {
        let c = unsafe { edit(options) }?;
        c.breaker.failure_rate_threshold = rate;
        Ok(sturdy_status::Ok)
    })
}

/// Calls the window must hold before the rate rule applies. Default 10.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_minimum_calls(
    options: *mut sturdy_options,
    calls: u32,
) -> sturdy_status {
    call("sturdy_options_set_breaker_minimum_calls", || {
        let c = unsafe { edit(options) }?;
        c.breaker.minimum_calls = calls;
        Ok(sturdy_status::Ok)
    })
}

/// Span of the breakers' rolling window. Default 300 s; greater than 0.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_rolling_window_ms(
    options: *mut sturdy_options,
    ms: u64,
) -> sturdy_status {
    call("sturdy_options_set_breaker_rolling_window_ms", || {
        let c = unsafe { edit(options) }?;
        c.breaker.rolling_window = Duration::from_millis(ms);
        Ok(sturdy_status::Ok)
    })
}

/// Buckets the rolling window is kept in. Default 10; at least 1.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_window_buckets(
    options: *mut sturdy_options,
    buckets: u32,
) -> sturdy_status {
    call("sturdy_options_set_breaker_window_buckets", || {
        let c = unsafe { edit(options) }?;
        c.breaker.window_buckets = buckets;
        Ok(sturdy_status::Ok)
    })
}

/// A successful disk call slower than this counts as a failure. Default 5 s; 0 disables slow-call
/// detection.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_slow_call_threshold_ms(
    options: *mut sturdy_options,
    ms: u64,
) -> sturdy_status {
    call("sturdy_options_set_breaker_slow_call_threshold_ms", || {
        let c = unsafe { edit(options) }?;
        c.breaker.slow_call_threshold = nonzero_ms(ms);
        Ok(sturdy_status::Ok)
    })
}

/// Time a breaker stays open before it lets trial calls through (half-open). Default 60 s.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_open_timeout_ms(
    options: *mut sturdy_options,
    ms: u64,
) -> sturdy_status {
    call("sturdy_options_set_breaker_open_timeout_ms", || {
        let c = unsafe { edit(options) }?;
        c.breaker.open_timeout = Duration::from_millis(ms);
        Ok(sturdy_status::Ok)
    })
}

/// Cap on the open time, which doubles with each failed recovery. Default 30 min; at least the open
/// timeout.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_max_open_timeout_ms(
    options: *mut sturdy_options,
    ms: u64,
) -> sturdy_status {
    call("sturdy_options_set_breaker_max_open_timeout_ms", || {
        let c = unsafe { edit(options) }?;
        c.breaker.max_open_timeout = Duration::from_millis(ms);
        Ok(sturdy_status::Ok)
    })
}

/// Fraction of calls let through while half-open. Default 0.5; greater than 0.0, at most 1.0.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_recovery_factor(
    options: *mut sturdy_options,
    fraction: f64,
) -> sturdy_status {
    call("sturdy_options_set_breaker_recovery_factor", || {
        let c = unsafe { edit(options) }?;
        c.breaker.recovery_factor = fraction;
        Ok(sturdy_status::Ok)
    })
}

/// Most trial calls outstanding at once while half-open. Default 10; at least 1.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_half_open_max_calls(
    options: *mut sturdy_options,
    calls: u32,
) -> sturdy_status {
    call("sturdy_options_set_breaker_half_open_max_calls", || {
        let c = unsafe { edit(options) }?;
        c.breaker.half_open_max_calls = calls;
        Ok(sturdy_status::Ok)
    })
}

/// Trial successes that close a half-open breaker. Default 3; at least 1.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_success_threshold(
    options: *mut sturdy_options,
    successes: u32,
) -> sturdy_status {
    call("sturdy_options_set_breaker_success_threshold", || {
        let c = unsafe { edit(options) }?;
        c.breaker.success_threshold = successes;
        Ok(sturdy_status::Ok)
    })
}

/// Which disk error kinds count as breaker failures: a bitwise OR of `STURDY_DISK_ERROR_*` flags.
/// Default `STURDY_DISK_ERROR_ALL`.
///
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `options` is NULL; `STURDY_STATUS_INVALID_ARGUMENT` for an unknown value.
/// Range checks happen at `sturdy_cache_open` (`STURDY_STATUS_INVALID_CONFIG`).
/// Ownership: the value is copied into `options`, which stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_options_set_breaker_failure_kinds(
    options: *mut sturdy_options,
    mask: u32,
) -> sturdy_status {
    call("sturdy_options_set_breaker_failure_kinds", || {
        let c = unsafe { edit(options) }?;
        c.breaker_failure_kinds = failure_kinds(mask)?;
        Ok(sturdy_status::Ok)
    })
}
