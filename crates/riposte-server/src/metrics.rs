//! Prometheus metrics, in the text exposition format, kept by hand: a few
//! counters do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct Metrics {
    /// (action, outcome) -> jobs finished.
    jobs: Mutex<BTreeMap<(String, String), u64>>,
    /// action -> (seconds summed, count), request to verified outcome.
    latency: Mutex<BTreeMap<String, (f64, u64)>>,
    /// (method, route, status) -> requests.
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Passwords checked (argon2id runs): what sign-in guesses cost.
    password_checks: std::sync::atomic::AtomicU64,
}

impl Metrics {
    pub fn job_finished(&self, action: &str, outcome: &str, took: Duration) {
        *self
            .jobs
            .lock()
            .expect("metrics lock")
            .entry((action.into(), outcome.into()))
            .or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        let entry = latency.entry(action.into()).or_default();
        entry.0 += took.as_secs_f64();
        entry.1 += 1;
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        *self
            .http
            .lock()
            .expect("metrics lock")
            .entry((method.into(), route.into(), status))
            .or_default() += 1;
    }

    pub fn password_checked(&self) {
        self.password_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn render(
        &self,
        directory_round_trips: u64,
        ingest: &riposte_response::ingest_stats::IngestSnapshot,
    ) -> String {
        let mut out = String::new();
        render_ingest(&mut out, ingest);
        let _ = writeln!(
            out,
            "# HELP riposte_password_checks_total Person passwords checked (argon2id runs)."
        );
        let _ = writeln!(out, "# TYPE riposte_password_checks_total counter");
        let _ = writeln!(
            out,
            "riposte_password_checks_total {}",
            self.password_checks
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP riposte_jobs_total Jobs finished, by action and outcome."
        );
        let _ = writeln!(out, "# TYPE riposte_jobs_total counter");
        for ((action, outcome), n) in self.jobs.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "riposte_jobs_total{{action=\"{action}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP riposte_action_duration_seconds Time from claim to final outcome."
        );
        let _ = writeln!(out, "# TYPE riposte_action_duration_seconds summary");
        for (action, (sum, count)) in self.latency.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "riposte_action_duration_seconds_sum{{action=\"{action}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "riposte_action_duration_seconds_count{{action=\"{action}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP riposte_directory_round_trips_total LDAP operations sent to domain controllers."
        );
        let _ = writeln!(out, "# TYPE riposte_directory_round_trips_total counter");
        let _ = writeln!(
            out,
            "riposte_directory_round_trips_total {directory_round_trips}"
        );
        let _ = writeln!(
            out,
            "# HELP riposte_http_requests_total HTTP requests, by method, route and status."
        );
        let _ = writeln!(out, "# TYPE riposte_http_requests_total counter");
        for ((method, route, status), n) in self.http.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "riposte_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out
    }
}

/// A label value in the exposition format: `\`, `"` and newlines escaped (input names
/// carry principal names, rule ids come from loaded Sigma rules).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The ingestion metrics: events read and unparsed per input, alerts per rule, detector
/// windows held, tail lag. Each family: its HELP and TYPE, then its samples.
fn render_ingest(out: &mut String, s: &riposte_response::ingest_stats::IngestSnapshot) {
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let by = |key: &str, name: &str| format!("{{{key}=\"{}\"}}", label(name));
    family(
        "riposte_ingest_events_total",
        "counter",
        "Identity events read, by input (tail:<forest>, api:<principal>, file:<principal>).",
        s.inputs
            .iter()
            .map(|(i, c)| (by("input", i), c.events.to_string()))
            .collect(),
    );
    family(
        "riposte_ingest_unparsed_total",
        "counter",
        "Records that could not be read, by input.",
        s.inputs
            .iter()
            .map(|(i, c)| (by("input", i), c.unparsed.to_string()))
            .collect(),
    );
    family(
        "riposte_alerts_total",
        "counter",
        "Alerts raised and stored, by rule id (the pack's and Sigma rules').",
        s.alerts_by_rule
            .iter()
            .map(|(r, n)| (by("rule", r), n.to_string()))
            .collect(),
    );
    family(
        "riposte_detector_windows_held",
        "gauge",
        "Windowed groups the detectors hold (spray sources, brute-forced accounts, Sigma correlation groups).",
        vec![(String::new(), s.windows_held.to_string())],
    );
    family(
        "riposte_tail_lag_seconds",
        "gauge",
        "Seconds between the newest tailed event's own time and its processing, by input.",
        s.tail
            .iter()
            .map(|(i, l)| (by("input", i), l.seconds.to_string()))
            .collect(),
    );
    family(
        "riposte_tail_bytes_behind",
        "gauge",
        "Bytes of a tailed audit log not read yet, by input.",
        s.tail
            .iter()
            .map(|(i, l)| (by("input", i), l.bytes_behind.to_string()))
            .collect(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use riposte_response::ingest_stats::{IngestSnapshot, InputCounts, TailLag};

    #[test]
    fn ingestion_families_are_whole_and_label_values_escaped() {
        let mut s = IngestSnapshot {
            windows_held: 7,
            ..Default::default()
        };
        s.inputs.insert(
            "api:token:we\"ird\\".into(),
            InputCounts {
                events: 3,
                unparsed: 1,
            },
        );
        s.alerts_by_rule.insert("riposte.password_spray".into(), 2);
        s.tail.insert(
            "tail:corp".into(),
            TailLag {
                seconds: 1.5,
                bytes_behind: 42,
            },
        );
        let text = Metrics::default().render(0, &s);
        for line in [
            "riposte_ingest_events_total{input=\"api:token:we\\\"ird\\\\\"} 3",
            "riposte_ingest_unparsed_total{input=\"api:token:we\\\"ird\\\\\"} 1",
            "riposte_alerts_total{rule=\"riposte.password_spray\"} 2",
            "riposte_detector_windows_held 7",
            "riposte_tail_lag_seconds{input=\"tail:corp\"} 1.5",
            "riposte_tail_bytes_behind{input=\"tail:corp\"} 42",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Each family's HELP and TYPE come right before its samples.
        let type_line = text
            .lines()
            .position(|l| l == "# TYPE riposte_alerts_total counter")
            .unwrap();
        assert!(
            text.lines()
                .nth(type_line + 1)
                .unwrap()
                .starts_with("riposte_alerts_total{")
        );
    }
}
