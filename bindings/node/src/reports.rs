//! The core's snapshots and reports as plain JavaScript objects (camelCase;
//! counts as numbers, durations in milliseconds).

use napi_derive::napi;
use sturdycache::breaker::BreakerSnapshot;
use sturdycache::{CheckReport, MetricsSnapshot, RecoveryReport, SweepReport};

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Disk errors by kind.
#[napi(object)]
pub struct DiskErrors {
    pub no_space: f64,
    pub read_only: f64,
    pub permission_denied: f64,
    pub io: f64,
    pub timed_out: f64,
    pub other: f64,
    pub total: f64,
}

/// One circuit breaker.
#[napi(object)]
pub struct BreakerStats {
    /// `'closed'`, `'open'`, `'half_open'`, `'forced_open'` or `'disabled'`.
    pub state: String,
    pub failure_rate: f64,
    pub calls_in_window: f64,
    pub failures_in_window: f64,
    pub consecutive_failures: f64,
    pub trips: f64,
    pub current_open_timeout_ms: f64,
    pub next_attempt_in_ms: Option<f64>,
}

impl From<&BreakerSnapshot> for BreakerStats {
    fn from(b: &BreakerSnapshot) -> Self {
        BreakerStats {
            state: b.state.as_str().into(),
            failure_rate: b.failure_rate,
            calls_in_window: b.calls_in_window as f64,
            failures_in_window: b.failures_in_window as f64,
            consecutive_failures: f64::from(b.consecutive_failures),
            trips: b.trips as f64,
            current_open_timeout_ms: ms(b.current_open_timeout),
            next_attempt_in_ms: b.next_attempt_in.map(ms),
        }
    }
}

/// The last disk failure.
#[napi(object)]
pub struct LastError {
    pub kind: String,
    pub at_ms: f64,
    pub message: String,
}

/// Mode, breakers, disk health, fallbacks and recoveries.
#[napi(object)]
pub struct Resilience {
    pub mode: String,
    pub disk_health: String,
    pub read_breaker: BreakerStats,
    pub write_breaker: BreakerStats,
    pub fallback_reads: f64,
    pub fallback_writes: f64,
    pub recoveries: f64,
    pub last_error: Option<LastError>,
    pub incident: f64,
}

/// The replay queue.
#[napi(object)]
pub struct Replay {
    pub queued: f64,
    pub drained: f64,
    pub dropped: f64,
    pub depth: f64,
    pub bytes: f64,
    pub lost: f64,
}

/// One latency histogram (nanoseconds).
#[napi(object)]
pub struct Latency {
    pub op: String,
    pub tier: String,
    pub count: f64,
    pub mean_ns: f64,
    pub max_ns: f64,
    pub p50_ns: f64,
    pub p90_ns: f64,
    pub p99_ns: f64,
    pub p999_ns: f64,
}

/// `cache.stats()`.
#[napi(object)]
pub struct Stats {
    pub hot_hits: f64,
    pub hot_misses: f64,
    pub disk_hits: f64,
    pub disk_misses: f64,
    pub hit_ratio: f64,
    pub sets: f64,
    pub deletes: f64,
    pub hot_evictions: f64,
    pub disk_evictions: f64,
    pub expirations: f64,
    pub hot_entries: f64,
    pub hot_bytes: f64,
    pub hot_limit: f64,
    pub disk_entries: f64,
    pub disk_bytes: f64,
    pub disk_limit: f64,
    pub disk_errors: DiskErrors,
    pub corruptions: f64,
    pub quarantined: f64,
    pub events_dropped: f64,
    pub resilience: Resilience,
    pub replay: Replay,
    pub latencies: Vec<Latency>,
}

impl From<&MetricsSnapshot> for Stats {
    fn from(m: &MetricsSnapshot) -> Self {
        let r = &m.resilience;
        let e = &m.disk_errors;
        Stats {
            hot_hits: m.hot_hits as f64,
            hot_misses: m.hot_misses as f64,
            disk_hits: m.disk_hits as f64,
            disk_misses: m.disk_misses as f64,
            hit_ratio: m.hit_ratio(),
            sets: m.sets as f64,
            deletes: m.deletes as f64,
            hot_evictions: m.hot_evictions as f64,
            disk_evictions: m.disk_evictions as f64,
            expirations: m.expirations as f64,
            hot_entries: m.hot_entries as f64,
            hot_bytes: m.hot_bytes as f64,
            hot_limit: m.hot_limit as f64,
            disk_entries: m.disk_entries as f64,
            disk_bytes: m.disk_bytes as f64,
            disk_limit: m.disk_limit as f64,
            disk_errors: DiskErrors {
                no_space: e.no_space as f64,
                read_only: e.read_only as f64,
                permission_denied: e.permission_denied as f64,
                io: e.io as f64,
                timed_out: e.timed_out as f64,
                other: e.other as f64,
                total: e.total() as f64,
            },
            corruptions: m.corruptions as f64,
            quarantined: m.quarantined as f64,
            events_dropped: m.events_dropped as f64,
            resilience: Resilience {
                mode: r.mode.as_str().into(),
                disk_health: r.disk_health.as_str().into(),
                read_breaker: (&r.read_breaker).into(),
                write_breaker: (&r.write_breaker).into(),
                fallback_reads: r.fallback_reads as f64,
                fallback_writes: r.fallback_writes as f64,
                recoveries: r.recoveries as f64,
                last_error: r.last_error.as_ref().map(|l| LastError {
                    kind: l.kind.as_str().into(),
                    at_ms: l.at_ms as f64,
                    message: l.message.clone(),
                }),
                incident: r.incident as f64,
            },
            replay: Replay {
                queued: m.replay.queued as f64,
                drained: m.replay.drained as f64,
                dropped: m.replay.dropped as f64,
                depth: m.replay.depth as f64,
                bytes: m.replay.bytes as f64,
                lost: m.replay.lost as f64,
            },
            latencies: m
                .latencies
                .iter()
                .map(|(op, tier, h)| Latency {
                    op: op.as_str().into(),
                    tier: tier.as_str().into(),
                    count: h.count as f64,
                    mean_ns: h.mean_ns() as f64,
                    max_ns: h.max_ns as f64,
                    p50_ns: h.p50 as f64,
                    p90_ns: h.p90 as f64,
                    p99_ns: h.p99 as f64,
                    p999_ns: h.p999 as f64,
                })
                .collect(),
        }
    }
}

/// `cache.health()`: the part of the stats an operator looks at first.
#[napi(object)]
pub struct Health {
    pub mode: String,
    pub disk_health: String,
    pub read_breaker: String,
    pub write_breaker: String,
    pub replay_depth: f64,
    pub replay_dropped: f64,
    pub last_error: Option<LastError>,
    pub incident: f64,
    /// Whether other processes' hot tiers see this one's writes.
    pub coherent_across_processes: bool,
}

impl Health {
    /// The health part of `m`.
    pub fn new(m: &MetricsSnapshot, coherent: bool) -> Self {
        let r = &m.resilience;
        Health {
            mode: r.mode.as_str().into(),
            disk_health: r.disk_health.as_str().into(),
            read_breaker: r.read_breaker.state.as_str().into(),
            write_breaker: r.write_breaker.state.as_str().into(),
            replay_depth: m.replay.depth as f64,
            replay_dropped: m.replay.dropped as f64,
            last_error: r.last_error.as_ref().map(|l| LastError {
                kind: l.kind.as_str().into(),
                at_ms: l.at_ms as f64,
                message: l.message.clone(),
            }),
            incident: r.incident as f64,
            coherent_across_processes: coherent,
        }
    }
}

/// What `sweep()` did.
#[napi(object)]
pub struct Sweep {
    pub scanned: f64,
    pub expired: f64,
    pub evicted: f64,
    pub quarantined: f64,
    pub leftovers_removed: f64,
    pub quarantine_deleted: f64,
}

impl From<SweepReport> for Sweep {
    fn from(r: SweepReport) -> Self {
        Sweep {
            scanned: r.scanned as f64,
            expired: r.expired as f64,
            evicted: r.evicted as f64,
            quarantined: r.quarantined as f64,
            leftovers_removed: r.leftovers_removed as f64,
            quarantine_deleted: r.quarantine_deleted as f64,
        }
    }
}

/// What `check()` found.
#[napi(object)]
pub struct Check {
    pub scanned: f64,
    pub valid: f64,
    pub expired: f64,
    pub quarantined: f64,
    pub errors: f64,
}

impl From<CheckReport> for Check {
    fn from(r: CheckReport) -> Self {
        Check {
            scanned: r.scanned as f64,
            valid: r.valid as f64,
            expired: r.expired as f64,
            quarantined: r.quarantined as f64,
            errors: r.errors as f64,
        }
    }
}

/// What `runRecovery()` did.
#[napi(object)]
pub struct Recovery {
    pub probes: f64,
    pub probes_ok: f64,
    pub health_checked: bool,
    pub drained: f64,
    pub lost_cleared: f64,
}

impl From<RecoveryReport> for Recovery {
    fn from(r: RecoveryReport) -> Self {
        Recovery {
            probes: f64::from(r.probes),
            probes_ok: f64::from(r.probes_ok),
            health_checked: r.health_checked,
            drained: r.drained as f64,
            lost_cleared: r.lost_cleared as f64,
        }
    }
}
