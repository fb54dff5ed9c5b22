//! Operations on the cache as a whole: the sweep, a recovery round, breaker
//! overrides.

use sturdycache_core::DiskPath;
use sturdycache_core::breaker::BreakerState;

use crate::boundary::{call, enum_arg, put};
use crate::cache::{cache_ref, sturdy_cache};
use crate::status::sturdy_status;

/// What `sturdy_cache_sweep` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct sturdy_sweep_report {
    /// Entry files seen.
    pub scanned: u64,
    /// Expired entries removed.
    pub expired: u64,
    /// Entries evicted to meet the disk budget.
    pub evicted: u64,
    /// Corrupt entries quarantined.
    pub quarantined: u64,
    /// Abandoned temp files removed.
    pub leftovers_removed: u64,
    /// Old quarantined files deleted.
    pub quarantine_deleted: u64,
}

/// What `sturdy_cache_run_recovery` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct sturdy_recovery_report {
    /// Probes of a failing disk made.
    pub probes: u32,
    /// Of those, the ones that succeeded.
    pub probes_ok: u32,
    /// Queued writes replayed to disk.
    pub drained: u64,
    /// Stale copies of dropped writes deleted from disk.
    pub lost_cleared: u64,
    /// Whether a health probe of a healthy disk ran.
    pub health_checked: bool,
}

/// What `sturdy_cache_check` found.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct sturdy_check_report {
    /// Entry files examined.
    pub scanned: u64,
    /// Entries that verified and are live.
    pub valid: u64,
    /// Entries that verified but are expired (left for the sweep).
    pub expired: u64,
    /// Corrupt entries moved to the quarantine folder.
    pub quarantined: u64,
    /// Files that could not be read (I/O errors); left in place.
    pub errors: u64,
}

/// A guarded disk path (each has its own circuit breaker).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_disk_path {
    /// Reads, listings, metadata.
    Read = 0,
    /// Writes, renames, links, deletes, fsyncs.
    Write = 1,
}

/// Runs the maintenance the background thread runs every `sweep_interval`:
/// rescans the disk, removes expired entries and abandoned temp files,
/// enforces the disk budget, cleans the quarantine. `*out_report` may be NULL.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`, `STURDY_STATUS_DISK_*`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_sweep(
    cache: *const sturdy_cache,
    out_report: *mut sturdy_sweep_report,
) -> sturdy_status {
    call("sturdy_cache_sweep", || {
        let r = unsafe { cache_ref(cache) }?.handle()?.sweep()?;
        let report = sturdy_sweep_report {
            scanned: r.scanned,
            expired: r.expired,
            evicted: r.evicted,
            quarantined: r.quarantined,
            leftovers_removed: r.leftovers_removed,
            quarantine_deleted: r.quarantine_deleted,
        };
        unsafe { put(out_report, report) };
        Ok(sturdy_status::Ok)
    })
}

/// Reads and verifies every entry file (full decode, checksum, and the MAC
/// when a secret key is set), quarantining the corrupt ones: an audit of the
/// whole directory. Slow on large caches. `*out_report` may be NULL.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`, `STURDY_STATUS_DISK_*`
/// when the data folder cannot be listed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_check(
    cache: *const sturdy_cache,
    out_report: *mut sturdy_check_report,
) -> sturdy_status {
    call("sturdy_cache_check", || {
        let r = unsafe { cache_ref(cache) }?.handle()?.check()?;
        let report = sturdy_check_report {
            scanned: r.scanned,
            valid: r.valid,
            expired: r.expired,
            quarantined: r.quarantined,
            errors: r.errors,
        };
        unsafe { put(out_report, report) };
        Ok(sturdy_status::Ok)
    })
}

/// Runs one recovery round now: probes a failing disk when its breaker allows,
/// checks a healthy disk's health when due, replays queued writes. The
/// background thread does this on its own; this is for tests and for callers
/// that want recovery at a moment of their choosing. `*out_report` may be NULL.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_run_recovery(
    cache: *const sturdy_cache,
    out_report: *mut sturdy_recovery_report,
) -> sturdy_status {
    call("sturdy_cache_run_recovery", || {
        let r = unsafe { cache_ref(cache) }?.handle()?.run_recovery();
        let report = sturdy_recovery_report {
            probes: r.probes,
            probes_ok: r.probes_ok,
            drained: r.drained,
            lost_cleared: r.lost_cleared,
            health_checked: r.health_checked,
        };
        unsafe { put(out_report, report) };
        Ok(sturdy_status::Ok)
    })
}

/// Operator override of a disk path's breaker: `state` (a
/// `sturdy_breaker_state`) `STURDY_BREAKER_STATE_FORCED_OPEN` keeps the path
/// closed to calls (maintenance), `STURDY_BREAKER_STATE_DISABLED` never trips,
/// any other state resets it to closed. `path` is a `sturdy_disk_path`.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`; `STURDY_STATUS_INVALID_ARGUMENT` for
/// an unknown path or state; `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_override_breaker(
    cache: *const sturdy_cache,
    path: u32,
    state: u32,
) -> sturdy_status {
    call("sturdy_cache_override_breaker", || {
        let path = enum_arg(path, &[DiskPath::Read, DiskPath::Write], "path")?;
        let state = enum_arg(state, &BreakerState::ALL, "state")?;
        unsafe { cache_ref(cache) }?.handle()?.override_breaker(path, state);
        Ok(sturdy_status::Ok)
    })
}
