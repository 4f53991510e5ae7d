//! riposte's identity detections over [`riposte_events::IdentityEvent`]s.
//!
//! Two kinds of rules run side by side in one [`Detector`]:
//! - the built-in identity pack ([`builtin`]), written in Rust because its rules need what
//!   Sigma cannot say well: counting *distinct* accounts per source across Kerberos, NTLM and
//!   Samba events at once, deciding who is a domain controller or an admin from configuration
//!   and from what the stream shows, and thresholds set in one config struct;
//! - Sigma rules (detection and correlation) loaded from YAML with `rsigma-parser` and run by
//!   `rsigma-eval`'s correlation engine ([`sigma`]).
//!
//! Every rule's windowed state is bounded (groups and entries per group are capped), so memory
//! does not grow with the input.
#![forbid(unsafe_code)]

mod alert;
pub mod builtin;
mod compromise;
mod config;
mod detector;
pub mod sigma;

pub use alert::{Alert, Entities, EventRef, Severity};
pub use config::{
    BruteForceConfig, DetectConfig, GroupBurstConfig, SprayConfig, UserEnumerationConfig,
};
pub use detector::Detector;
pub use sigma::{RuleCheck, RuleProblem, SigmaError, SigmaRules};
