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

    pub fn render(&self, directory_round_trips: u64) -> String {
        let mut out = String::new();
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
