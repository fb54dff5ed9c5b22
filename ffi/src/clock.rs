//! `sturdy_clock`: the core's manual clock, so C tests move time instead of
//! sleeping (TTL expiry, breaker open times).

use sturdycache_core::clock::{Clock, ManualClock};

use crate::boundary::{FfiResult, call, infallible, object, out};
use crate::status::sturdy_status;

/// A clock that only moves when told to, for tests: give it to
/// `sturdy_options_set_clock` and every expiry and breaker timeout of that
/// cache follows it. Opaque; created by `sturdy_clock_new_manual`, released by
/// `sturdy_clock_free`. Thread safety: every function may be called from any
/// thread at once.
pub struct sturdy_clock {
    pub(crate) clock: ManualClock,
}

/// Creates a manual clock standing at `start_ms` milliseconds since the Unix
/// epoch (0: the current time).
///
/// Ownership: on success `*out_clock` is a new clock the caller owns; release
/// it with `sturdy_clock_free`. A cache given the clock keeps its own
/// reference, so the clock may be freed first (that cache's time then stands
/// still). On failure `*out_clock` is NULL.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `out_clock` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_clock_new_manual(start_ms: u64, out_clock: *mut *mut sturdy_clock) -> sturdy_status {
    call("sturdy_clock_new_manual", || {
        let slot = unsafe { out(out_clock, "out_clock") }?;
        *slot = std::ptr::null_mut();
        let clock = if start_ms == 0 { ManualClock::starting_now() } else { ManualClock::new(start_ms) };
        *slot = Box::into_raw(Box::new(sturdy_clock { clock }));
        Ok(sturdy_status::Ok)
    })
}

/// Moves the clock forward by `ms` milliseconds (wall and monotonic time both).
///
/// Ownership: `clock` stays the caller's; results are written to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `clock` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_clock_advance_ms(clock: *const sturdy_clock, ms: u64) -> sturdy_status {
    call("sturdy_clock_advance_ms", || {
        unsafe { manual(clock) }?.clock.advance(std::time::Duration::from_millis(ms));
        Ok(sturdy_status::Ok)
    })
}

/// Sets the wall-clock reading to `ms` since the epoch (it may go backwards,
/// to model a clock jump; monotonic time does not move).
///
/// Ownership: `clock` stays the caller's; results are written to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `clock` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_clock_set_ms(clock: *const sturdy_clock, ms: u64) -> sturdy_status {
    call("sturdy_clock_set_ms", || {
        unsafe { manual(clock) }?.clock.set_ms(ms);
        Ok(sturdy_status::Ok)
    })
}

/// The clock's wall-clock reading, ms since the epoch.
///
/// Ownership: `clock` stays the caller's; results are written to the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT` if `clock` or `out_ms` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_clock_now_ms(clock: *const sturdy_clock, out_ms: *mut u64) -> sturdy_status {
    call("sturdy_clock_now_ms", || {
        let slot = unsafe { out(out_ms, "out_ms") }?;
        *slot = unsafe { manual(clock) }?.clock.now_ms();
        Ok(sturdy_status::Ok)
    })
}

/// Releases a clock. NULL is ignored.
///
/// Ownership: `clock` must come from `sturdy_clock_new_manual` and not be
/// used again. Caches opened with it keep working (they hold their own reference).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_clock_free(clock: *mut sturdy_clock) {
    if !clock.is_null() {
        // SAFETY: created by Box::into_raw in sturdy_clock_new_manual, freed once per the contract.
        infallible((), || drop(unsafe { Box::from_raw(clock) }));
    }
}

unsafe fn manual<'a>(clock: *const sturdy_clock) -> FfiResult<&'a sturdy_clock> {
    unsafe { object(clock, "clock") }
}
