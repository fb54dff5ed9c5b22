//! Observability: the metrics snapshot as a versioned C struct and as JSON,
//! and the Prometheus text.

use std::ffi::c_char;

use serde_json::json;
use sturdycache_core::MetricsSnapshot;
use sturdycache_core::breaker::{BreakerSnapshot, BreakerState};

use crate::boundary::{Failure, call, out};
use crate::cache::{cache_ref, sturdy_cache, sturdy_disk_health, sturdy_mode};
use crate::status::sturdy_status;

/// The version of `sturdy_stats` this library fills. Fields are only ever
/// appended; a caller compiled against an older header passes its smaller
/// `sizeof(sturdy_stats)` and gets the fields it knows.
pub const STURDY_STATS_VERSION: u32 = 1;

/// A circuit breaker's state.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_breaker_state {
    /// Calls go through; failures are counted.
    Closed = 0,
    /// Calls are refused until the open time has passed.
    Open = 1,
    /// A fraction of calls go through as trials.
    HalfOpen = 2,
    /// Operator override: every call is refused until reset.
    ForcedOpen = 3,
    /// Operator override: every call goes through, nothing trips it, until reset.
    Disabled = 4,
}

impl sturdy_breaker_state {
    pub(crate) fn of(state: BreakerState) -> Self {
        match state {
            BreakerState::Closed => Self::Closed,
            BreakerState::Open => Self::Open,
            BreakerState::HalfOpen => Self::HalfOpen,
            BreakerState::ForcedOpen => Self::ForcedOpen,
            BreakerState::Disabled => Self::Disabled,
        }
    }
}

/// One circuit breaker in `sturdy_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sturdy_breaker_stats {
    /// Its state.
    pub state: sturdy_breaker_state,
    /// Failures in a row since the last success.
    pub consecutive_failures: u32,
    /// Failures / calls over the rolling window (0 when the window is empty).
    pub failure_rate: f64,
    /// Calls counted in the window.
    pub calls_in_window: u64,
    /// Failures counted in the window.
    pub failures_in_window: u64,
    /// Times it opened.
    pub trips: u64,
    /// The open time of the current (or next) open period, ms.
    pub open_timeout_ms: u64,
}

impl sturdy_breaker_stats {
    fn of(b: &BreakerSnapshot) -> Self {
        sturdy_breaker_stats {
            state: sturdy_breaker_state::of(b.state),
            consecutive_failures: b.consecutive_failures,
            failure_rate: b.failure_rate,
            calls_in_window: b.calls_in_window,
            failures_in_window: b.failures_in_window,
            trips: b.trips,
            open_timeout_ms: b.current_open_timeout.as_millis() as u64,
        }
    }
}

/// A point-in-time copy of the cache's counters, sizes and resilience state.
/// Filled by `sturdy_cache_stats`; plain data, owned by the caller.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sturdy_stats {
    /// `STURDY_STATS_VERSION` of the library that filled the struct.
    pub version: u32,
    /// Bytes of the struct the library filled.
    pub size: u32,
    /// Gets answered by the hot tier.
    pub hot_hits: u64,
    /// Gets the hot tier could not answer.
    pub hot_misses: u64,
    /// Gets answered by the disk tier.
    pub disk_hits: u64,
    /// Gets the disk tier could not answer either.
    pub disk_misses: u64,
    /// Hits over lookups, both tiers (0 when nothing was looked up).
    pub hit_ratio: f64,
    /// Successful sets (including adds that stored).
    pub sets: u64,
    /// Deletes that removed something.
    pub deletes: u64,
    /// Hot entries evicted for space.
    pub hot_evictions: u64,
    /// Disk entries evicted for space.
    pub disk_evictions: u64,
    /// Entries found expired (and removed) by a read or a sweep.
    pub expirations: u64,
    /// Hot entries now.
    pub hot_entries: u64,
    /// Hot bytes now (with the per-entry overhead).
    pub hot_bytes: u64,
    /// The hot budget now (it grows while degraded).
    pub hot_limit: u64,
    /// Disk entries known to this process (exact after a sweep).
    pub disk_entries: u64,
    /// Disk bytes, as counted by every process sharing the directory.
    pub disk_bytes: u64,
    /// The disk budget.
    pub disk_limit: u64,
    /// Disk errors seen: no space.
    pub disk_errors_no_space: u64,
    /// Disk errors seen: read-only file system.
    pub disk_errors_read_only: u64,
    /// Disk errors seen: permission denied.
    pub disk_errors_permission_denied: u64,
    /// Disk errors seen: I/O error.
    pub disk_errors_io: u64,
    /// Disk errors seen: timed out.
    pub disk_errors_timed_out: u64,
    /// Disk errors seen: other.
    pub disk_errors_other: u64,
    /// Entry files found corrupt.
    pub corruptions: u64,
    /// Corrupt files moved to the quarantine folder.
    pub quarantined: u64,
    /// The cache mode.
    pub mode: sturdy_mode,
    /// The disk's health as last probed.
    pub disk_health: sturdy_disk_health,
    /// The read path's breaker.
    pub read_breaker: sturdy_breaker_stats,
    /// The write path's breaker.
    pub write_breaker: sturdy_breaker_stats,
    /// Reads answered from memory because the disk path was closed or failed.
    pub fallback_reads: u64,
    /// Writes kept in memory (and the replay queue) instead of on disk.
    pub fallback_writes: u64,
    /// Returns from a degraded mode to normal.
    pub recoveries: u64,
    /// The incident in progress (0: none); events and log lines carry it.
    pub incident: u64,
    /// Writes ever queued for replay.
    pub replay_queued: u64,
    /// Writes replayed to disk.
    pub replay_drained: u64,
    /// Writes dropped because the replay queue was full.
    pub replay_dropped: u64,
    /// Writes waiting for the disk now.
    pub replay_depth: u64,
    /// Bytes waiting for the disk now.
    pub replay_bytes: u64,
    /// Keys whose stale disk copy must be deleted before it may be read again.
    pub replay_lost: u64,
    /// Events dropped because listeners fell behind.
    pub events_dropped: u64,
}

impl sturdy_stats {
    fn of(m: &MetricsSnapshot) -> Self {
        let r = &m.resilience;
        sturdy_stats {
            version: STURDY_STATS_VERSION,
            size: size_of::<sturdy_stats>() as u32,
            hot_hits: m.hot_hits,
            hot_misses: m.hot_misses,
            disk_hits: m.disk_hits,
            disk_misses: m.disk_misses,
            hit_ratio: m.hit_ratio(),
            sets: m.sets,
            deletes: m.deletes,
            hot_evictions: m.hot_evictions,
            disk_evictions: m.disk_evictions,
            expirations: m.expirations,
            hot_entries: m.hot_entries,
            hot_bytes: m.hot_bytes,
            hot_limit: m.hot_limit,
            disk_entries: m.disk_entries,
            disk_bytes: m.disk_bytes,
            disk_limit: m.disk_limit,
            disk_errors_no_space: m.disk_errors.no_space,
            disk_errors_read_only: m.disk_errors.read_only,
            disk_errors_permission_denied: m.disk_errors.permission_denied,
            disk_errors_io: m.disk_errors.io,
            disk_errors_timed_out: m.disk_errors.timed_out,
            disk_errors_other: m.disk_errors.other,
            corruptions: m.corruptions,
            quarantined: m.quarantined,
            mode: sturdy_mode::of(r.mode),
            disk_health: sturdy_disk_health::of(r.disk_health),
            read_breaker: sturdy_breaker_stats::of(&r.read_breaker),
            write_breaker: sturdy_breaker_stats::of(&r.write_breaker),
            fallback_reads: r.fallback_reads,
            fallback_writes: r.fallback_writes,
            recoveries: r.recoveries,
            incident: r.incident,
            replay_queued: m.replay.queued,
            replay_drained: m.replay.drained,
            replay_dropped: m.replay.dropped,
            replay_depth: m.replay.depth,
            replay_bytes: m.replay.bytes,
            replay_lost: m.replay.lost,
            events_dropped: m.events_dropped,
        }
    }
}

/// Fills `*out_stats` with a snapshot. Pass `sizeof(sturdy_stats)` as
/// `stats_size`: the library writes at most that many bytes (so a program
/// built against an older, smaller struct keeps working) and sets
/// `out_stats->version` and `out_stats->size`.
///
/// Ownership: `out_stats` is the caller's memory.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`; `STURDY_STATUS_INVALID_ARGUMENT` if
/// `stats_size` is smaller than the two leading fields (8 bytes);
/// `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_stats(
    cache: *const sturdy_cache,
    out_stats: *mut sturdy_stats,
    stats_size: usize,
) -> sturdy_status {
    call("sturdy_cache_stats", || {
        if out_stats.is_null() {
            return Err(Failure::null("out_stats"));
        }
        if stats_size < 8 {
            return Err(Failure::invalid(format!(
                "stats_size must be at least 8 (pass sizeof(sturdy_stats), {}), got {stats_size}",
                size_of::<sturdy_stats>()
            )));
        }
        let mut stats = unsafe { cache_ref(cache) }?.with(|c| Ok(sturdy_stats::of(&c.metrics())))?;
        let n = stats_size.min(size_of::<sturdy_stats>());
        stats.size = n as u32;
        // SAFETY: the caller provides `stats_size` writable bytes at out_stats; n <= that.
        unsafe { std::ptr::copy_nonoverlapping((&stats as *const sturdy_stats).cast::<u8>(), out_stats.cast(), n) };
        Ok(sturdy_status::Ok)
    })
}

/// The snapshot as a JSON object (`"version": 1`, then `"hot"`, `"disk"`,
/// `"resilience"`, `"replay"`, `"latencies"` sections; docs/C.md shows one),
/// NUL-terminated UTF-8.
///
/// Ownership: on success `*out_json` is a new string the caller owns; release
/// it with `sturdy_string_free`. `out_len` (may be NULL) receives its length
/// without the NUL. On failure `*out_json` is NULL.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_stats_json(
    cache: *const sturdy_cache,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> sturdy_status {
    call("sturdy_cache_stats_json", || {
        let slot = unsafe { out(out_json, "out_json") }?;
        *slot = std::ptr::null_mut();
        let text = unsafe { cache_ref(cache) }?.with(|c| Ok(stats_json(&c.metrics())))?;
        unsafe { crate::strings::hand_out(text, slot, out_len) };
        Ok(sturdy_status::Ok)
    })
}

/// Every metric in the Prometheus text exposition format (0.0.4), NUL-terminated.
///
/// Ownership: as `sturdy_cache_stats_json`.
/// Errors: `STURDY_STATUS_NULL_ARGUMENT`, `STURDY_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sturdy_cache_prometheus(
    cache: *const sturdy_cache,
    out_text: *mut *mut c_char,
    out_len: *mut usize,
) -> sturdy_status {
    call("sturdy_cache_prometheus", || {
        let slot = unsafe { out(out_text, "out_text") }?;
        *slot = std::ptr::null_mut();
        let text = unsafe { cache_ref(cache) }?.with(|c| Ok(c.prometheus()))?;
        unsafe { crate::strings::hand_out(text, slot, out_len) };
        Ok(sturdy_status::Ok)
    })
}

fn breaker_json(b: &BreakerSnapshot) -> serde_json::Value {
    json!({
        "state": b.state.as_str(),
        "failure_rate": b.failure_rate,
        "calls_in_window": b.calls_in_window,
        "failures_in_window": b.failures_in_window,
        "consecutive_failures": b.consecutive_failures,
        "trips": b.trips,
        "open_timeout_ms": b.current_open_timeout.as_millis() as u64,
        "next_attempt_in_ms": b.next_attempt_in.map(|d| d.as_millis() as u64),
    })
}

/// The JSON form of a snapshot (names follow the core's fields).
pub(crate) fn stats_json(m: &MetricsSnapshot) -> String {
    let r = &m.resilience;
    let e = &m.disk_errors;
    let latencies: Vec<_> = m
        .latencies
        .iter()
        .map(|(op, tier, h)| {
            json!({
                "op": op.as_str(), "tier": tier.as_str(), "count": h.count, "mean_ns": h.mean_ns(),
                "p50_ns": h.p50, "p90_ns": h.p90, "p99_ns": h.p99, "p999_ns": h.p999, "max_ns": h.max_ns,
            })
        })
        .collect();
    json!({
        "version": STURDY_STATS_VERSION,
        "hit_ratio": m.hit_ratio(),
        "hot": {
            "hits": m.hot_hits, "misses": m.hot_misses, "evictions": m.hot_evictions,
            "entries": m.hot_entries, "bytes": m.hot_bytes, "limit": m.hot_limit,
        },
        "disk": {
            "hits": m.disk_hits, "misses": m.disk_misses, "evictions": m.disk_evictions,
            "entries": m.disk_entries, "bytes": m.disk_bytes, "limit": m.disk_limit,
            "corruptions": m.corruptions, "quarantined": m.quarantined,
            "errors": {
                "no_space": e.no_space, "read_only": e.read_only, "permission_denied": e.permission_denied,
                "io": e.io, "timed_out": e.timed_out, "other": e.other,
            },
        },
        "sets": m.sets,
        "deletes": m.deletes,
        "expirations": m.expirations,
        "resilience": {
            "mode": r.mode.as_str(),
            "disk_health": r.disk_health.as_str(),
            "read_breaker": breaker_json(&r.read_breaker),
            "write_breaker": breaker_json(&r.write_breaker),
            "fallback_reads": r.fallback_reads,
            "fallback_writes": r.fallback_writes,
            "recoveries": r.recoveries,
            "incident": r.incident,
            "last_error": r.last_error.as_ref().map(|l| json!({
                "kind": l.kind.as_str(), "at_ms": l.at_ms, "message": l.message,
            })),
        },
        "replay": {
            "queued": m.replay.queued, "drained": m.replay.drained, "dropped": m.replay.dropped,
            "depth": m.replay.depth, "bytes": m.replay.bytes, "lost": m.replay.lost,
        },
        "events_dropped": m.events_dropped,
        "latencies": latencies,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_is_an_object_with_the_documented_sections() {
        let m = MetricsSnapshot::default();
        let v: serde_json::Value = serde_json::from_str(&stats_json(&m)).unwrap();
        for section in ["hot", "disk", "resilience", "replay"] {
            assert!(v[section].is_object(), "{section} missing in {v}");
        }
        assert_eq!(v["version"], 1);
        assert_eq!(v["resilience"]["mode"], "normal");
        assert_eq!(v["resilience"]["last_error"], serde_json::Value::Null);
        assert!(v["latencies"].as_array().unwrap().is_empty());
    }
}
