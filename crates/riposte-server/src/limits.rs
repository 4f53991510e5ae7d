//! `[limits]` and `[alerts]`: how much one caller, authenticated or not, may
//! make `riposte serve` spend (sign-in guesses, password hashing, event
//! streams, slow requests), and how long alerts are kept.

use std::time::Duration;

use serde::Deserialize;

/// `[limits]` in riposte.toml. Every bound has a default; none can be turned off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Failed sign-ins from one client address (IPv6: its /64) within the
    /// window before that address gets 429 until the window ends.
    pub sign_in_failures_per_address: u32,
    /// Failed sign-ins for one name within the window before every attempt
    /// for that name, from anywhere, gets 429 until the window ends.
    pub sign_in_failures_per_name: u32,
    /// The sign-in window, in seconds: failures are counted per window, and
    /// the audit trail gets one summary per (address, name) per window.
    pub sign_in_window_seconds: u64,
    /// Password checks (argon2id) running at once; a sign-in beyond it gets
    /// 503 with Retry-After instead of waiting in a queue.
    pub password_hashing_concurrency: u32,
    /// Server-sent event streams one caller may hold open at once.
    pub event_streams_per_caller: u32,
    /// An event stream with nothing new for this many seconds ends; the
    /// client may open it again.
    pub event_stream_idle_seconds: u64,
    /// A request (other than an event stream's body) that takes longer is
    /// answered 503 `request_timeout`.
    pub request_timeout_seconds: u64,
    /// A connection that does not send a complete request head within this
    /// many seconds (an idle keep-alive connection too) is closed.
    pub header_read_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sign_in_failures_per_address: 30,
            sign_in_failures_per_name: 10,
            sign_in_window_seconds: 900,
            password_hashing_concurrency: 2,
            event_streams_per_caller: 8,
            event_stream_idle_seconds: 600,
            request_timeout_seconds: 60,
            header_read_timeout_seconds: 30,
        }
    }
}

impl Limits {
    /// A message naming the first key out of range, for the config error.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            (
                "sign_in_failures_per_address",
                u64::from(self.sign_in_failures_per_address),
            ),
            (
                "sign_in_failures_per_name",
                u64::from(self.sign_in_failures_per_name),
            ),
            ("sign_in_window_seconds", self.sign_in_window_seconds),
            (
                "password_hashing_concurrency",
                u64::from(self.password_hashing_concurrency),
            ),
            (
                "event_streams_per_caller",
                u64::from(self.event_streams_per_caller),
            ),
            ("event_stream_idle_seconds", self.event_stream_idle_seconds),
            ("request_timeout_seconds", self.request_timeout_seconds),
            (
                "header_read_timeout_seconds",
                self.header_read_timeout_seconds,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!(
                "[limits] {key} must be at least 1 (a bound cannot be turned off)"
            ));
        }
        if self.sign_in_window_seconds > 86_400 {
            return Err("[limits] sign_in_window_seconds must be at most 86400 (a day)".into());
        }
        Ok(())
    }

    pub fn sign_in_window(&self) -> Duration {
        Duration::from_secs(self.sign_in_window_seconds)
    }
    pub fn event_stream_idle(&self) -> Duration {
        Duration::from_secs(self.event_stream_idle_seconds)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }
}

/// `[alerts]` in riposte.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRetention {
    /// Alerts raised longer ago than this many days are removed (1 to 3650).
    pub retention_days: u32,
}

impl Default for AlertRetention {
    fn default() -> Self {
        AlertRetention { retention_days: 90 }
    }
}

impl AlertRetention {
    pub fn check(&self) -> Result<(), String> {
        if !(1..=3650).contains(&self.retention_days) {
            return Err(format!(
                "[alerts] retention_days = {} must be between 1 and 3650",
                self.retention_days
            ));
        }
        Ok(())
    }

    pub fn keep(&self) -> Duration {
        Duration::from_secs(u64::from(self.retention_days) * 86_400)
    }
}
