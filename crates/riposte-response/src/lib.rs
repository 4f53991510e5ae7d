//! The alert path, whole: identity events (tailed DC logs, forwarders' batches through the
//! API, files read by `riposte ingest`) go through the detectors; every alert raised is
//! stored and published on the alert hook; the automation rules answer stored alerts with
//! jobs queued through the same `riposte-jobs::Runner`, policy and safeguards as a
//! person's request.
//!
//! - [`pipeline`]: events in, stored alerts out, the alert hook, evidence kept apart by input.
//! - [`detectors`]: one detector state or one per input; the live settings (DCs from the
//!   directory).
//! - [`ingest_stats`]: events and unparsed records per input, alerts per rule, tail lag.
//! - [`tailer`]: follows the DCs' Samba audit logs into the pipeline.
//! - [`automation`]: the rules, and which evidence they may act on ([`automation::trust`]).
//! - [`respond`]: the automation rules on the alert hook, into the Runner.
//!
//! HTTP knows this crate (`riposte-server` exposes it); this crate knows no HTTP server
//! and no command line.
#![forbid(unsafe_code)]

pub mod automation;
pub mod detectors;
pub mod ingest_stats;
pub mod pipeline;
pub mod respond;
pub mod tailer;

pub use detectors::live_pipeline;
pub use pipeline::{ALERT_HOOK_CAPACITY, BatchReport, DEFAULT_MAX_SKEW, Input, Pipeline, Unparsed};
pub use respond::respond_to_alerts;
/// How serious an alert is: what the HTTP layer describes, without knowing the detectors.
pub use riposte_detect::Severity;
pub use tailer::{TailSource, start_tailers, tail};
