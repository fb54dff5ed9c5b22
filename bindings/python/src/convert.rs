//! Core snapshots and events as plain Python dicts (stable snake-case keys).

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use sturdycache::breaker::BreakerSnapshot;
use sturdycache::events::Event;
use sturdycache::{CheckReport, MetricsSnapshot, RecoveryReport, SweepReport};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// One event: `{"event": name, "incident": id, ...fields}`.
pub fn event<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("event", e.name())?;
    d.set_item("incident", e.incident())?;
    d.set_item("message", e.to_string())?;
    match e {
        Event::ModeChanged { from, to, cause, .. } => {
            d.set_item("from", from.as_str())?;
            d.set_item("to", to.as_str())?;
            d.set_item("cause", cause)?;
        }
        Event::BreakerStateChanged { breaker, from, to, .. } => {
            d.set_item("breaker", breaker.as_str())?;
            d.set_item("from", *from)?;
            d.set_item("to", *to)?;
        }
        Event::Quarantined { path, reason, .. } => {
            d.set_item("path", path.display().to_string())?;
            d.set_item("reason", *reason)?;
        }
        Event::ReplayDropped { dropped, queued, .. } => {
            d.set_item("dropped", dropped)?;
            d.set_item("queued", queued)?;
        }
        Event::Recovered { mode, drained, outage, .. } => {
            d.set_item("mode", mode.as_str())?;
            d.set_item("drained", drained)?;
            d.set_item("outage", secs(*outage))?;
        }
        Event::DiskHealthChanged { from, to, cause, .. } => {
            d.set_item("from", from.as_str())?;
            d.set_item("to", to.as_str())?;
            d.set_item("cause", cause)?;
        }
        _ => {}
    }
    Ok(d)
}

fn breaker<'py>(py: Python<'py>, b: &BreakerSnapshot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("state", b.state.as_str())?;
    d.set_item("failure_rate", b.failure_rate)?;
    d.set_item("calls_in_window", b.calls_in_window)?;
    d.set_item("failures_in_window", b.failures_in_window)?;
    d.set_item("consecutive_failures", b.consecutive_failures)?;
    d.set_item("trips", b.trips)?;
    d.set_item("current_open_timeout", secs(b.current_open_timeout))?;
    d.set_item("next_attempt_in", b.next_attempt_in.map(secs))?;
    d.set_item("half_open_in_flight", b.half_open_in_flight)?;
    d.set_item("half_open_successes", b.half_open_successes)?;
    Ok(d)
}

/// Every figure of a metrics snapshot, nested by subject.
pub fn metrics<'py>(py: Python<'py>, m: &MetricsSnapshot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, value) in [
        ("hot_hits", m.hot_hits),
        ("hot_misses", m.hot_misses),
        ("disk_hits", m.disk_hits),
        ("disk_misses", m.disk_misses),
        ("sets", m.sets),
        ("deletes", m.deletes),
        ("hot_evictions", m.hot_evictions),
        ("disk_evictions", m.disk_evictions),
        ("expirations", m.expirations),
        ("hot_entries", m.hot_entries),
        ("hot_bytes", m.hot_bytes),
        ("hot_limit", m.hot_limit),
        ("disk_entries", m.disk_entries),
        ("disk_bytes", m.disk_bytes),
        ("disk_limit", m.disk_limit),
        ("corruptions", m.corruptions),
        ("quarantined", m.quarantined),
        ("events_dropped", m.events_dropped),
    ] {
        d.set_item(name, value)?;
    }
    d.set_item("hits", m.hot_hits + m.disk_hits)?;
    d.set_item("misses", m.disk_misses)?;
    d.set_item("hit_rate", m.hit_ratio())?;
    let errors = PyDict::new(py);
    for kind in sturdycache::DiskErrorKind::ALL {
        errors.set_item(kind.as_str(), m.disk_errors.get(kind))?;
    }
    d.set_item("disk_errors", errors)?;

    let r = &m.resilience;
    let res = PyDict::new(py);
    res.set_item("mode", r.mode.as_str())?;
    res.set_item("disk_health", r.disk_health.as_str())?;
    res.set_item("read_breaker", breaker(py, &r.read_breaker)?)?;
    res.set_item("write_breaker", breaker(py, &r.write_breaker)?)?;
    res.set_item("fallback_reads", r.fallback_reads)?;
    res.set_item("fallback_writes", r.fallback_writes)?;
    res.set_item("recoveries", r.recoveries)?;
    res.set_item("incident", r.incident)?;
    let last = match &r.last_error {
        Some(e) => {
            let le = PyDict::new(py);
            le.set_item("kind", e.kind.as_str())?;
            le.set_item("at_ms", e.at_ms)?;
            le.set_item("message", &e.message)?;
            Some(le)
        }
        None => None,
    };
    res.set_item("last_error", last)?;
    d.set_item("resilience", res)?;

    let q = &m.replay;
    let replay = PyDict::new(py);
    for (name, value) in [
        ("queued", q.queued),
        ("drained", q.drained),
        ("dropped", q.dropped),
        ("depth", q.depth),
        ("bytes", q.bytes),
        ("lost", q.lost),
    ] {
        replay.set_item(name, value)?;
    }
    d.set_item("replay", replay)?;

    let lat = PyDict::new(py);
    for (op, tier, h) in &m.latencies {
        let one = PyDict::new(py);
        one.set_item("count", h.count)?;
        one.set_item("mean_ns", h.mean_ns())?;
        one.set_item("max_ns", h.max_ns)?;
        one.set_item("p50_ns", h.p50)?;
        one.set_item("p90_ns", h.p90)?;
        one.set_item("p99_ns", h.p99)?;
        one.set_item("p999_ns", h.p999)?;
        lat.set_item(format!("{}.{}", op.as_str(), tier.as_str()), one)?;
    }
    d.set_item("latencies", lat)?;
    Ok(d)
}

/// What a sweep did.
pub fn sweep<'py>(py: Python<'py>, r: &SweepReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("scanned", r.scanned)?;
    d.set_item("expired", r.expired)?;
    d.set_item("evicted", r.evicted)?;
    d.set_item("quarantined", r.quarantined)?;
    d.set_item("leftovers_removed", r.leftovers_removed)?;
    d.set_item("quarantine_deleted", r.quarantine_deleted)?;
    Ok(d)
}

/// What one recovery round did.
pub fn recovery<'py>(py: Python<'py>, r: &RecoveryReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("probes", r.probes)?;
    d.set_item("probes_ok", r.probes_ok)?;
    d.set_item("health_checked", r.health_checked)?;
    d.set_item("drained", r.drained)?;
    d.set_item("lost_cleared", r.lost_cleared)?;
    Ok(d)
}

/// What an audit of every entry found.
pub fn check<'py>(py: Python<'py>, r: &CheckReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("scanned", r.scanned)?;
    d.set_item("valid", r.valid)?;
    d.set_item("expired", r.expired)?;
    d.set_item("quarantined", r.quarantined)?;
    d.set_item("errors", r.errors)?;
    Ok(d)
}
