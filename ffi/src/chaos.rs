//! The chaos API: disk faults injected into one cache at run time, so a C
//! program can rehearse a failing disk against its own code.

use std::time::Duration;

use sturdycache_core::chaos::{ChaosError, ChaosOp};
use sturdycache_core::fs::{RuleId, Trigger};

use crate::boundary::{call, enum_arg, object, put};
use crate::cache::{cache_ref, sturdy_cache};
use crate::status::sturdy_status;

/// Which disk operations a fault hits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_chaos_op {
    /// Reads, listings and metadata look-ups.
    Read = 0,
    /// Creating and writing files and folders.
    Write = 1,
    /// fsync of files and folders.
    Fsync = 2,
    /// Renames and hard links (how entries are published).
    Rename = 3,
    /// Deletes.
    Delete = 4,
    /// Every disk operation.
    All = 5,
}

/// What an injected fault does.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_chaos_error {
    /// `EIO`: a failing device.
    Eio = 0,
    /// `ENOSPC`: a full disk.
    Enospc = 1,
    /// `EROFS`: a read-only file system.
    Erofs = 2,
    /// `EACCES`: permission denied.
    Eacces = 3,
    /// Reads return data with one bit flipped (only with `STURDY_CHAOS_OP_READ` or `_ALL`).
    Corruption = 4,
    /// Each call stalls `delay_ms`, then proceeds (a slow or hung disk).
    Delay = 5,
}

/// When an injected fault fires.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_fault_trigger {
    /// On the first matching call, then it disarms itself.
    Once = 0,
    /// On the next `times` matching calls, then it disarms itself.
    Times = 1,
    /// On each matching call with `probability`, until removed.
    Probability = 2,
    /// On every matching call until removed.
    Always = 3,
}

/// A fault to inject. The enum fields are plain integers so that any value a
/// caller writes is checked rather than trusted.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sturdy_fault {
    /// A `sturdy_chaos_op`.
    pub op: u32,
    /// A `sturdy_chaos_error`.
    pub error: u32,
    /// A `sturdy_fault_trigger`.
    pub trigger: u32,
    /// With `STURDY_FAULT_TRIGGER_TIMES`: how many calls fail.
    pub times: u64,
    /// With `STURDY_FAULT_TRIGGER_PROBABILITY`: 0.0 to 1.0.
    pub probability: f64,
    /// With `STURDY_CHAOS_ERROR_DELAY`: the stall per call, ms.
    pub delay_ms: u64,
}

const OPS: [ChaosOp; 6] =
    [ChaosOp::Read, ChaosOp::Write, ChaosOp::Fsync, ChaosOp::Rename, ChaosOp::Delete, ChaosOp::All];

/// Arms a fault in this cache's disk layer (its own file-system seam: other
/// handles and processes on the directory are unaffected). The cache reacts as
/// to a real failing disk: breakers trip, writes go to memory, events fire.
///
/// Ownership: `fault` is read during the call. `*out_fault_id` (may be NULL)
/// identifies it for `sturdy_cache_remove_fault`.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`; `STURDY_STATUS_INVALID_ARGUMENT` for an
/// unknown op, error or trigger; `STURDY_STATUS_INVALID_CONFIG` for a
/// probability outside 0..1 or corruption on a non-read op; `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_inject_fault(
    cache: *const sturdy_cache,
    fault: *const sturdy_fault,
    out_fault_id: *mut u64,
) -> sturdy_status {
    call("sturdy_cache_inject_fault", || {
        let f = unsafe { object(fault, "fault") }?;
        let op = enum_arg(f.op, &OPS, "fault->op")?;
        let delay = Duration::from_millis(f.delay_ms);
        let errors = [
            ChaosError::Eio,
            ChaosError::Enospc,
            ChaosError::Erofs,
            ChaosError::Eacces,
            ChaosError::Corruption,
            ChaosError::Delay(delay),
        ];
        let error = enum_arg(f.error, &errors, "fault->error")?;
        let triggers = [Trigger::Once, Trigger::Times(f.times), Trigger::Probability(f.probability), Trigger::Always];
        let trigger = enum_arg(f.trigger, &triggers, "fault->trigger")?;
        let id = unsafe { cache_ref(cache) }?.with(|c| Ok(c.faults().inject(op, error, trigger)?))?;
        unsafe { put(out_fault_id, id.0) };
        Ok(sturdy_status::Ok)
    })
}

/// Disarms one fault.
///
/// Returns `STURDY_STATUS_OK`, or `STURDY_STATUS_NOT_FOUND` if it was not armed
/// (unknown id, or a `ONCE`/`TIMES` fault that already disarmed itself).
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_remove_fault(cache: *const sturdy_cache, fault_id: u64) -> sturdy_status {
    call("sturdy_cache_remove_fault", || {
        let removed = unsafe { cache_ref(cache) }?.with(|c| Ok(c.faults().remove(RuleId(fault_id))))?;
        Ok(if removed { sturdy_status::Ok } else { sturdy_status::NotFound })
    })
}

/// Disarms every fault.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_clear_faults(cache: *const sturdy_cache) -> sturdy_status {
    call("sturdy_cache_clear_faults", || {
        unsafe { cache_ref(cache) }?.with(|c| {
            c.faults().clear();
            Ok(sturdy_status::Ok)
        })
    })
}

/// How many faults are armed now (`*out_active`) and how many times faults
/// have fired so far (`*out_injected`); either pointer may be NULL.
///
/// Ownership: the library keeps none of the pointers passed in; results are written
/// to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` (cache), `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_fault_counts(
    cache: *const sturdy_cache,
    out_active: *mut usize,
    out_injected: *mut u64,
) -> sturdy_status {
    call("sturdy_cache_fault_counts", || {
        let (active, injected) = unsafe { cache_ref(cache) }?.with(|c| {
            let f = c.faults();
            Ok((f.active(), f.injected()))
        })?;
        unsafe {
            put(out_active, active);
            put(out_injected, injected);
        }
        Ok(sturdy_status::Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_with_a_null_pointer_is_refused() {
        let status = unsafe { sturdy_cache_inject_fault(std::ptr::null(), std::ptr::null(), std::ptr::null_mut()) };
        assert_eq!(status, sturdy_status::NullArgument);
    }
}
