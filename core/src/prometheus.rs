//! Prometheus text exposition (format 0.0.4) of the cache's metrics.
//!
//! [`render_core`] renders a [`MetricsSnapshot`]; [`Exposition`] is the
//! builder it uses, for anything else to be exposed the same way. Samples are
//! grouped by metric family, so each family gets exactly one `# HELP` and one
//! `# TYPE` line however many label sets it has. Every name gets the
//! `sturdycache_` prefix; counters end in `_total`, sizes in `_bytes`, and
//! durations are exposed in `_seconds` (converted from nanoseconds).

use std::fmt::Write as _;

use crate::error::DiskErrorKind;
use crate::histogram::{HistogramSnapshot, Op, Tier};
use crate::metrics::{DiskErrorCounts, MetricsSnapshot};

/// The prefix of every metric name.
pub const PREFIX: &str = "sturdycache_";

/// A number a sample can carry.
pub trait SampleValue: Copy {
    /// Appends the value as Prometheus text (`+Inf`, `-Inf` and `NaN` for the special floats).
    fn write_to(self, out: &mut String);
}

macro_rules! integer_sample {
    ($($t:ty),*) => {$(
        impl SampleValue for $t {
            fn write_to(self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
integer_sample!(u64, u32, usize, i64, i32);

impl SampleValue for f64 {
    fn write_to(self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self == f64::INFINITY {
            out.push_str("+Inf");
        } else if self == f64::NEG_INFINITY {
            out.push_str("-Inf");
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

impl SampleValue for bool {
    fn write_to(self, out: &mut String) {
        out.push(if self { '1' } else { '0' });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: Kind,
    samples: String,
}

/// Collects samples grouped by metric family, then renders them.
///
/// Names are given without the [`PREFIX`], which is added. Adding a sample to
/// a family that already exists appends to it (the help text and type of the
/// first call are kept; in debug builds a mismatch panics, as do names that
/// break the conventions).
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str, out: &mut String) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    fn family(&mut self, name: &str, help: &str, kind: Kind) -> &mut Family {
        debug_assert!(valid_name(name), "invalid metric name {name:?}");
        match self.families.iter().position(|f| f.name == name) {
            Some(i) => {
                let f = &mut self.families[i];
                debug_assert_eq!(f.kind, kind, "metric {name} used as two types");
                debug_assert_eq!(f.help, help, "metric {name} given two help texts");
                f
            }
            None => {
                self.families.push(Family {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    kind,
                    samples: String::new(),
                });
                let last = self.families.len() - 1;
                &mut self.families[last]
            }
        }
    }

    fn sample(out: &mut String, name: &str, suffix: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
        out.push_str(PREFIX);
        out.push_str(name);
        out.push_str(suffix);
        let all = labels.iter().copied().chain(extra);
        let mut first = true;
        for (k, v) in all {
            debug_assert!(valid_name(k) && !k.starts_with("__"), "invalid label name {k:?}");
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(v, out);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
    }

    /// Adds a counter sample; `name` must end in `_total`.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: impl SampleValue) {
        debug_assert!(name.ends_with("_total"), "counter {name} must end in _total");
        let f = self.family(name, help, Kind::Counter);
        Self::sample(&mut f.samples, name, "", labels, None);
        value.write_to(&mut f.samples);
        f.samples.push('\n');
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: impl SampleValue) {
        debug_assert!(!name.ends_with("_total"), "gauge {name} must not end in _total");
        let f = self.family(name, help, Kind::Gauge);
        Self::sample(&mut f.samples, name, "", labels, None);
        value.write_to(&mut f.samples);
        f.samples.push('\n');
    }

    /// Adds a latency histogram (`name` must end in `_seconds`): cumulative
    /// `_bucket` samples with an `le` label in seconds ending with `+Inf`,
    /// then `_sum` (seconds) and `_count`.
    pub fn histogram(&mut self, name: &str, help: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        debug_assert!(name.ends_with("_seconds"), "latency histogram {name} must end in _seconds");
        debug_assert!(labels.iter().all(|(k, _)| *k != "le"), "the le label is reserved");
        let f = self.family(name, help, Kind::Histogram);
        let mut le = String::new();
        for b in &h.buckets {
            le.clear();
            match b.le_ns {
                Some(ns) => seconds(ns).write_to(&mut le),
                None => le.push_str("+Inf"),
            }
            Self::sample(&mut f.samples, name, "_bucket", labels, Some(("le", &le)));
            b.cumulative.write_to(&mut f.samples);
            f.samples.push('\n');
        }
        Self::sample(&mut f.samples, name, "_sum", labels, None);
        seconds(h.sum_ns).write_to(&mut f.samples);
        f.samples.push('\n');
        Self::sample(&mut f.samples, name, "_count", labels, None);
        h.count.write_to(&mut f.samples);
        f.samples.push('\n');
    }

    /// Adds per-operation, per-tier latencies (from
    /// [`LatencySet::snapshot`](crate::histogram::LatencySet::snapshot)):
    /// the histogram `sturdycache_operation_duration_seconds{op,tier}`, the
    /// gauge `sturdycache_operation_duration_quantile_seconds{op,tier,quantile}`
    /// (0.5, 0.9, 0.99, 0.999; upper bounds, see [`crate::histogram`]) and the
    /// gauge `sturdycache_operation_duration_max_seconds{op,tier}`.
    pub fn latencies(&mut self, latencies: &[(Op, Tier, HistogramSnapshot)]) {
        for (op, tier, h) in latencies {
            let labels = [("op", op.as_str()), ("tier", tier.as_str())];
            self.histogram("operation_duration_seconds", "Time taken by cache operations.", &labels, h);
        }
        for (op, tier, h) in latencies {
            for (q, v) in [("0.5", h.p50), ("0.9", h.p90), ("0.99", h.p99), ("0.999", h.p999)] {
                let labels = [("op", op.as_str()), ("tier", tier.as_str()), ("quantile", q)];
                self.gauge(
                    "operation_duration_quantile_seconds",
                    "Latency percentiles of cache operations since start (upper bounds, < 6.25% high).",
                    &labels,
                    seconds(v),
                );
            }
        }
        for (op, tier, h) in latencies {
            let labels = [("op", op.as_str()), ("tier", tier.as_str())];
            self.gauge(
                "operation_duration_max_seconds",
                "Slowest cache operation since start.",
                &labels,
                seconds(h.max_ns),
            );
        }
    }

    /// The text exposition, families in the order they were first added.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.families.iter().map(|f| f.samples.len() + 128).sum());
        for f in &self.families {
            let _ = write!(out, "# HELP {PREFIX}{} ", f.name);
            escape_help(&f.help, &mut out);
            let _ = writeln!(out, "\n# TYPE {PREFIX}{} {}", f.name, f.kind.as_str());
            out.push_str(&f.samples);
        }
        out
    }
}

/// Adds every field of `m` to `ex`.
pub fn write_core(ex: &mut Exposition, m: &MetricsSnapshot) {
    // Destructured without `..`: a new field will not compile until it is exposed here.
    let MetricsSnapshot {
        hot_hits,
        hot_misses,
        disk_hits,
        disk_misses,
        sets,
        deletes,
        hot_evictions,
        disk_evictions,
        expirations,
        hot_entries,
        hot_bytes,
        hot_limit,
        disk_entries,
        disk_bytes,
        disk_limit,
        disk_errors,
        corruptions,
        quarantined,
        resilience: _,
        replay: _,
        latencies: _,
        events_dropped: _,
    } = m;
    let hot = &[("tier", "hot")][..];
    let disk = &[("tier", "disk")][..];

    let help = "Gets answered by each tier.";
    ex.counter("hits_total", help, hot, *hot_hits);
    ex.counter("hits_total", help, disk, *disk_hits);
    let help = "Gets a tier could not answer (a disk miss is a miss of the whole cache).";
    ex.counter("misses_total", help, hot, *hot_misses);
    ex.counter("misses_total", help, disk, *disk_misses);
    ex.counter("sets_total", "Successful sets, including adds that stored.", &[], *sets);
    ex.counter("deletes_total", "Deletes that removed something.", &[], *deletes);
    let help = "Entries evicted from each tier for space.";
    ex.counter("evictions_total", help, hot, *hot_evictions);
    ex.counter("evictions_total", help, disk, *disk_evictions);
    ex.counter("expirations_total", "Entries found expired and removed.", &[], *expirations);

    let help = "Entries held by each tier (disk: known to this process, exact after a sweep).";
    ex.gauge("entries", help, hot, *hot_entries);
    ex.gauge("entries", help, disk, *disk_entries);
    let help = "Bytes used by each tier (hot: including per-entry overhead; disk: counted by every process).";
    ex.gauge("used_bytes", help, hot, *hot_bytes);
    ex.gauge("used_bytes", help, disk, *disk_bytes);
    let help = "Byte budget of each tier.";
    ex.gauge("limit_bytes", help, hot, *hot_limit);
    ex.gauge("limit_bytes", help, disk, *disk_limit);

    let counts: &DiskErrorCounts = disk_errors;
    for kind in DiskErrorKind::ALL {
        ex.counter("disk_errors_total", "Disk errors, by kind.", &[("kind", kind.as_str())], counts.get(kind));
    }
    ex.counter("corruptions_total", "Entry files found corrupt.", &[], *corruptions);
    ex.counter("quarantined_total", "Corrupt files moved to the quarantine folder.", &[], *quarantined);
}

/// The Prometheus text exposition of a metrics snapshot.
pub fn render_core(m: &MetricsSnapshot) -> String {
    let mut ex = Exposition::new();
    write_core(&mut ex, m);
    ex.render()
}

/// Renders a whole cache snapshot: the core families, the resilience state,
/// the replay queue and the latency histograms.
pub fn render_cache(m: &MetricsSnapshot) -> String {
    use crate::breaker::BreakerState;
    use crate::events::{DiskHealth, Mode};
    let mut ex = Exposition::new();
    write_core(&mut ex, m);
    let r = &m.resilience;
    for mode in [Mode::Normal, Mode::ReadOnly, Mode::MemoryOnly] {
        ex.gauge("mode", "1 for the cache's current mode.", &[("mode", mode.as_str())], r.mode == mode);
    }
    for health in [DiskHealth::Healthy, DiskHealth::Degraded, DiskHealth::Unhealthy] {
        let labels = [("health", health.as_str())];
        ex.gauge("disk_health", "1 for the disk health the last probe found.", &labels, r.disk_health == health);
    }
    for (name, b) in [("read", &r.read_breaker), ("write", &r.write_breaker)] {
        for state in BreakerState::ALL {
            let labels = [("breaker", name), ("state", state.as_str())];
            ex.gauge("breaker_state", "1 for each disk-path breaker's current state.", &labels, b.state == state);
        }
        let labels = [("breaker", name)];
        ex.gauge(
            "breaker_failure_rate",
            "Failures over calls in the breaker's rolling window.",
            &labels,
            b.failure_rate,
        );
        ex.counter("breaker_trips_total", "Times the breaker opened.", &labels, b.trips);
        let next = b.next_attempt_in.map_or(0.0, |d| d.as_secs_f64());
        ex.gauge(
            "breaker_next_attempt_seconds",
            "Time until an open breaker lets a probe through (0 when not open).",
            &labels,
            next,
        );
    }
    ex.counter(
        "fallback_total",
        "Calls answered from memory because a disk path was closed or failed.",
        &[("path", "read")],
        r.fallback_reads,
    );
    ex.counter(
        "fallback_total",
        "Calls answered from memory because a disk path was closed or failed.",
        &[("path", "write")],
        r.fallback_writes,
    );
    ex.counter("recoveries_total", "Returns from a degraded mode to normal.", &[], r.recoveries);
    if let Some(e) = &r.last_error {
        let at = e.at_ms as f64 / 1000.0;
        ex.gauge(
            "last_disk_error_timestamp_seconds",
            "When the last disk error happened, by kind.",
            &[("kind", e.kind.as_str())],
            at,
        );
    }
    let q = &m.replay;
    ex.counter("replay_queued_total", "Writes queued while the disk could not take them.", &[], q.queued);
    ex.counter("replay_drained_total", "Queued writes replayed to disk after recovery.", &[], q.drained);
    ex.counter(
        "replay_dropped_total",
        "Queued writes dropped because the queue was full (lost entries).",
        &[],
        q.dropped,
    );
    ex.gauge("replay_depth", "Writes waiting in the replay queue.", &[], q.depth);
    ex.gauge("replay_bytes", "Bytes waiting in the replay queue.", &[], q.bytes);
    ex.gauge("replay_lost_keys", "Dropped keys whose stale disk copies await deletion.", &[], q.lost);
    ex.counter("events_dropped_total", "Events dropped because listeners fell behind.", &[], m.events_dropped);
    ex.latencies(&m.latencies);
    ex.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Histogram;
    use std::collections::HashMap;

    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    }

    /// Splits a sample line into name, unescaped labels and value, or says why it cannot.
    fn parse_sample(line: &str) -> Result<Sample, String> {
        let name_end = line.find(['{', ' ']).ok_or("no value")?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(format!("bad name {name:?}"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            loop {
                let eq = rest.find('=').ok_or("label without =")?;
                let key = &rest[..eq];
                if !valid_name(key) {
                    return Err(format!("bad label name {key:?}"));
                }
                rest = rest[eq + 1..].strip_prefix('"').ok_or("unquoted label value")?;
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let end = loop {
                    match chars.next().ok_or("unterminated label value")? {
                        (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            c => return Err(format!("bad escape \\{c}")),
                        },
                        (_, '\n') => return Err("raw newline in label value".into()),
                        (i, '"') => break i,
                        (_, c) => value.push(c),
                    }
                };
                labels.push((key.to_owned(), value));
                rest = &rest[end + 1..];
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r;
                } else {
                    rest = rest.strip_prefix('}').ok_or("labels not closed")?;
                    break;
                }
            }
        }
        let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|e| format!("bad value {v:?}: {e}"))?,
        };
        Ok(Sample { name: name.to_owned(), labels, value })
    }

    /// Checks the text format and returns the families' types and their samples.
    #[allow(clippy::type_complexity)]
    fn validate(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
        assert!(text.ends_with('\n'), "must end with a newline");
        let mut helps: HashMap<String, usize> = HashMap::new();
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        let mut current: Option<String> = None;
        let mut finished: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                *helps.entry(name.to_owned()).or_default() += 1;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "second TYPE for {name}");
                assert_eq!(helps.get(name), Some(&1), "TYPE of {name} not right after one HELP");
                if let Some(prev) = current.replace(name.to_owned()) {
                    finished.push(prev);
                }
            } else {
                let s = parse_sample(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
                assert!(s.name.starts_with(PREFIX), "{line}");
                let family = current.as_deref().expect("sample before any TYPE");
                let ok = match types[family].as_str() {
                    "histogram" => [format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count")]
                        .contains(&s.name),
                    "counter" => s.name == family && family.ends_with("_total"),
                    _ => s.name == family,
                };
                assert!(ok, "sample {line:?} outside its family {family}");
                assert!(!finished.contains(&s.name), "family {} split in two", s.name);
                samples.push(s);
            }
        }
        assert!(helps.values().all(|n| *n == 1), "a family has several HELP lines: {helps:?}");
        assert_eq!(helps.len(), types.len(), "HELP without TYPE");
        (types, samples)
    }

    fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
        samples
            .iter()
            .filter(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v))
            })
            .collect()
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = find(samples, name, labels);
        assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
        found[0].value
    }

    #[test]
    fn core_metrics_cover_every_field_once_with_distinct_values() {
        let m = MetricsSnapshot {
            hot_hits: 1,
            hot_misses: 2,
            disk_hits: 3,
            disk_misses: 4,
            sets: 5,
            deletes: 6,
            hot_evictions: 7,
            disk_evictions: 8,
            expirations: 9,
            hot_entries: 10,
            hot_bytes: 11,
            hot_limit: 12,
            disk_entries: 13,
            disk_bytes: 14,
            disk_limit: 15,
            disk_errors: DiskErrorCounts {
                no_space: 16,
                read_only: 17,
                permission_denied: 18,
                io: 19,
                timed_out: 20,
                other: 21,
            },
            corruptions: 22,
            quarantined: 23,
            ..MetricsSnapshot::default()
        };
        let text = render_core(&m);
        let (types, samples) = validate(&text);
        let n = |s: &str| format!("{PREFIX}{s}");
        type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);
        let expected: &[Expected] = &[
            ("hits_total", &[("tier", "hot")], 1.0),
            ("misses_total", &[("tier", "hot")], 2.0),
            ("hits_total", &[("tier", "disk")], 3.0),
            ("misses_total", &[("tier", "disk")], 4.0),
            ("sets_total", &[], 5.0),
            ("deletes_total", &[], 6.0),
            ("evictions_total", &[("tier", "hot")], 7.0),
            ("evictions_total", &[("tier", "disk")], 8.0),
            ("expirations_total", &[], 9.0),
            ("entries", &[("tier", "hot")], 10.0),
            ("used_bytes", &[("tier", "hot")], 11.0),
            ("limit_bytes", &[("tier", "hot")], 12.0),
            ("entries", &[("tier", "disk")], 13.0),
            ("used_bytes", &[("tier", "disk")], 14.0),
            ("limit_bytes", &[("tier", "disk")], 15.0),
            ("disk_errors_total", &[("kind", "no_space")], 16.0),
            ("disk_errors_total", &[("kind", "read_only")], 17.0),
            ("disk_errors_total", &[("kind", "permission_denied")], 18.0),
            ("disk_errors_total", &[("kind", "io")], 19.0),
            ("disk_errors_total", &[("kind", "timed_out")], 20.0),
            ("disk_errors_total", &[("kind", "other")], 21.0),
            ("corruptions_total", &[], 22.0),
            ("quarantined_total", &[], 23.0),
        ];
        for (name, labels, want) in expected {
            assert_eq!(value(&samples, &n(name), labels), *want, "{name}{labels:?}");
        }
        assert_eq!(samples.len(), expected.len(), "a sample not accounted for");
        for (name, kind) in &types {
            let want = if name.ends_with("_total") { "counter" } else { "gauge" };
            assert_eq!(kind, want, "{name}");
        }
        assert_eq!(
            types.len(),
            12,
            "hits misses sets deletes evictions expirations entries used limit errors corruptions quarantined"
        );
    }

    #[test]
    fn one_help_and_type_per_family_even_when_interleaved() {
        let mut ex = Exposition::new();
        ex.counter("a_total", "A.", &[("x", "1")], 1u64);
        ex.gauge("b", "B.", &[], 0.5);
        ex.counter("a_total", "A.", &[("x", "2")], 2u64);
        let text = ex.render();
        let (types, samples) = validate(&text);
        assert_eq!(types.len(), 2);
        assert_eq!(text.matches("# HELP sturdycache_a_total ").count(), 1);
        assert_eq!(text.matches("# TYPE sturdycache_a_total counter").count(), 1);
        assert_eq!(value(&samples, "sturdycache_a_total", &[("x", "2")]), 2.0);
        assert_eq!(value(&samples, "sturdycache_b", &[]), 0.5);
        assert!(text.starts_with("# HELP sturdycache_a_total A.\n# TYPE sturdycache_a_total counter\n"), "{text}");
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut ex = Exposition::new();
        let nasty = "C:\\dir \"quoted\"\nnext line";
        ex.gauge("info", "Help with a \\ backslash\nand a newline.", &[("path", nasty), ("plain", "ok")], 1u64);
        ex.gauge("special", "Special floats.", &[("v", "nan")], f64::NAN);
        ex.gauge("special", "Special floats.", &[("v", "inf")], f64::INFINITY);
        ex.gauge("flag", "A boolean.", &[], true);
        let text = ex.render();
        assert!(text.contains(r#"path="C:\\dir \"quoted\"\nnext line""#), "{text}");
        assert!(text.contains("# HELP sturdycache_info Help with a \\\\ backslash\\nand a newline.\n"), "{text}");
        let (_, samples) = validate(&text);
        assert_eq!(value(&samples, "sturdycache_info", &[("path", nasty), ("plain", "ok")]), 1.0);
        assert!(value(&samples, "sturdycache_special", &[("v", "nan")]).is_nan());
        assert_eq!(value(&samples, "sturdycache_special", &[("v", "inf")]), f64::INFINITY);
        assert_eq!(value(&samples, "sturdycache_flag", &[]), 1.0);
    }

    #[test]
    fn histograms_have_cumulative_buckets_ending_in_inf_equal_to_count() {
        let h = Histogram::new();
        for ns in [500, 800, 2_000, 70_000, 3_000_000, 2_000_000_000, 9_000_000_000] {
            h.record(ns);
        }
        let snap = h.snapshot();
        let mut ex = Exposition::new();
        ex.latencies(&[(Op::Get, Tier::Hot, snap.clone()), (Op::Set, Tier::Disk, Histogram::new().snapshot())]);
        let text = ex.render();
        let (types, samples) = validate(&text);
        let family = "sturdycache_operation_duration_seconds";
        assert_eq!(types[family], "histogram");
        assert_eq!(types["sturdycache_operation_duration_quantile_seconds"], "gauge");

        let labels = [("op", "get"), ("tier", "hot")];
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket") && s.labels[..2] == *find_labels(&labels))
            .collect();
        assert_eq!(buckets.len(), snap.buckets.len());
        let les: Vec<f64> = buckets
            .iter()
            .map(|s| {
                let (k, v) = s.labels.last().unwrap();
                assert_eq!(k, "le", "le comes last");
                if v == "+Inf" { f64::INFINITY } else { v.parse().unwrap() }
            })
            .collect();
        assert!(les.windows(2).all(|w| w[0] < w[1]), "le not increasing: {les:?}");
        assert_eq!(les[0], 1e-6);
        assert_eq!(*les.last().unwrap(), f64::INFINITY);
        assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value), "not cumulative");
        let count = value(&samples, &format!("{family}_count"), &labels);
        assert_eq!(count, 7.0);
        assert_eq!(buckets.last().unwrap().value, count, "+Inf bucket must equal _count");
        let at = |le: f64| buckets[les.iter().position(|x| *x == le).unwrap()].value;
        assert_eq!(at(1e-6), 2.0);
        assert_eq!(at(1e-4), 4.0);
        assert_eq!(at(5.0), 6.0);
        let sum = value(&samples, &format!("{family}_sum"), &labels);
        assert!((sum - 11.003_073_3).abs() < 1e-9, "sum in seconds: {sum}");
        let q = "sturdycache_operation_duration_quantile_seconds";
        let p999 = value(&samples, q, &[("op", "get"), ("tier", "hot"), ("quantile", "0.999")]);
        assert_eq!(p999, 9.0, "p999 of 7 samples is the exact maximum");
        let max = value(&samples, "sturdycache_operation_duration_max_seconds", &labels);
        assert_eq!(max, 9.0);
        // The empty histogram still renders consistently.
        let empty = [("op", "set"), ("tier", "disk")];
        assert_eq!(value(&samples, &format!("{family}_count"), &empty), 0.0);
    }

    fn find_labels(labels: &[(&str, &str)]) -> Vec<(String, String)> {
        labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_validator_rejects_malformed_lines() {
        // Guards the checks above: each of these must fail to parse.
        for bad in [
            "sturdycache_x",
            "sturdycache_x{a=\"1} 2",
            "sturdycache_x{a=\"1\"} two",
            "sturdycache_x{a=\"\\q\"} 1",
            "9x 1",
            "sturdycache_x{a=1} 1",
        ] {
            assert!(parse_sample(bad).is_err(), "{bad:?} accepted");
        }
        let ok = parse_sample(r#"sturdycache_x{a="q\"\\\n",b=""} -1.5"#).unwrap();
        assert_eq!(ok.labels, find_labels(&[("a", "q\"\\\n"), ("b", "")]));
        assert_eq!(ok.value, -1.5);
        let dup = "# HELP sturdycache_a A\n# TYPE sturdycache_a gauge\nsturdycache_a 1\n# HELP sturdycache_a A\n";
        assert!(std::panic::catch_unwind(|| validate(dup)).is_err(), "duplicate HELP accepted");
    }
}
