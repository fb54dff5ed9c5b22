//! Counters, and the snapshot callers read.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::DiskErrorKind;

/// Live counters, shared by the tiers.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) hot_hits: AtomicU64,
    pub(crate) hot_misses: AtomicU64,
    pub(crate) disk_hits: AtomicU64,
    pub(crate) disk_misses: AtomicU64,
    pub(crate) sets: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) disk_evictions: AtomicU64,
    pub(crate) expirations: AtomicU64,
    pub(crate) corruptions: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) disk_errors: [AtomicU64; DiskErrorKind::ALL.len()],
}

impl Counters {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn disk_error(&self, kind: DiskErrorKind) {
        Self::inc(&self.disk_errors[kind.index()]);
    }
}

/// Disk errors seen, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskErrorCounts {
    /// `ENOSPC`, `EDQUOT`.
    pub no_space: u64,
    /// `EROFS`.
    pub read_only: u64,
    /// `EACCES`, `EPERM`.
    pub permission_denied: u64,
    /// `EIO`.
    pub io: u64,
    /// Timeouts.
    pub timed_out: u64,
    /// Anything else.
    pub other: u64,
}

impl DiskErrorCounts {
    /// The count for one kind.
    pub fn get(&self, kind: DiskErrorKind) -> u64 {
        match kind {
            DiskErrorKind::NoSpace => self.no_space,
            DiskErrorKind::ReadOnly => self.read_only,
            DiskErrorKind::PermissionDenied => self.permission_denied,
            DiskErrorKind::Io => self.io,
            DiskErrorKind::TimedOut => self.timed_out,
            DiskErrorKind::Other => self.other,
        }
    }

    /// All kinds added up.
    pub fn total(&self) -> u64 {
        DiskErrorKind::ALL.iter().map(|k| self.get(*k)).sum()
    }
}

/// A point-in-time copy of the cache's counters and sizes.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Gets answered by the hot tier.
    pub hot_hits: u64,
    /// Gets the hot tier could not answer.
    pub hot_misses: u64,
    /// Gets answered by the disk tier.
    pub disk_hits: u64,
    /// Gets the disk tier could not answer either.
    pub disk_misses: u64,
    /// Successful sets (including `add`s that stored).
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
    /// Hot bytes now (including per-entry overhead).
    pub hot_bytes: u64,
    /// The hot budget.
    pub hot_limit: u64,
    /// Disk entries known to this process (exact after a sweep).
    pub disk_entries: u64,
    /// Disk bytes, as counted by every process sharing the directory.
    pub disk_bytes: u64,
    /// The disk budget.
    pub disk_limit: u64,
    /// Disk errors by kind.
    pub disk_errors: DiskErrorCounts,
    /// Entry files found corrupt.
    pub corruptions: u64,
    /// Corrupt files moved to the quarantine folder.
    pub quarantined: u64,
    /// Mode, breakers, disk health, fallbacks, recoveries and the last error.
    pub resilience: crate::guard::GuardSnapshot,
    /// The replay queue.
    pub replay: crate::replay::ReplayStats,
    /// Latency histograms per operation and tier (empty ones left out). Hot-tier
    /// calls are sampled (one in 64) to keep timing off the fast path.
    pub latencies: Vec<(crate::histogram::Op, crate::histogram::Tier, crate::histogram::HistogramSnapshot)>,
    /// Events dropped because listeners fell behind.
    pub events_dropped: u64,
}

impl MetricsSnapshot {
    pub(crate) fn counters(c: &Counters) -> Self {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let e = |k: DiskErrorKind| get(&c.disk_errors[k.index()]);
        MetricsSnapshot {
            hot_hits: get(&c.hot_hits),
            hot_misses: get(&c.hot_misses),
            disk_hits: get(&c.disk_hits),
            disk_misses: get(&c.disk_misses),
            sets: get(&c.sets),
            deletes: get(&c.deletes),
            disk_evictions: get(&c.disk_evictions),
            expirations: get(&c.expirations),
            corruptions: get(&c.corruptions),
            quarantined: get(&c.quarantined),
            disk_errors: DiskErrorCounts {
                no_space: e(DiskErrorKind::NoSpace),
                read_only: e(DiskErrorKind::ReadOnly),
                permission_denied: e(DiskErrorKind::PermissionDenied),
                io: e(DiskErrorKind::Io),
                timed_out: e(DiskErrorKind::TimedOut),
                other: e(DiskErrorKind::Other),
            },
            ..Default::default()
        }
    }

    /// Hits over lookups, both tiers together; 0 when nothing was looked up.
    pub fn hit_ratio(&self) -> f64 {
        let hits = self.hot_hits + self.disk_hits;
        let total = hits + self.disk_misses;
        if total == 0 { 0.0 } else { hits as f64 / total as f64 }
    }
}
