//! riposte's Microsoft Entra ID connector (Microsoft Graph v1.0).
//!
//! Client credentials with a cached token renewed before expiry (and once
//! more on a 401); 429 and 503 honour Retry-After with exponential back-off
//! up to a bound; a tenant's concurrent requests (bulk work) go together
//! through `$batch` (20 per call), each keeping its own retries. Every action is read back and classified
//! by `riposte-core::outcome`, like AD's.
//!
//! Two parts: `graph`, the Graph client (requests, token, throttling and
//! Retry-After, paging, `$batch` and coalescing, [`EntraError`]), which knows nothing of
//! riposte's actions; and the directory adapter (`tenant`: users as
//! `CloudAccount`s; `actions`: read, write, read back, classify;
//! `directory`: `CloudDirectory`; `readiness`), which reaches Graph only
//! through `graph::GraphClient` and never names reqwest.
//!
//! Tested against `riposte-graph-double`, a test double owned by this
//! project: there is no Entra tenant where riposte is built.
#![forbid(unsafe_code)]

mod actions;
pub mod config;
mod directory;
mod graph;
mod readiness;
mod tenant;

pub use config::{TenantConfig, TenantConfigError, TenantSettings};
pub use directory::EntraDirectory;
pub use graph::{BATCH_LIMIT, BatchRequest, BatchResponse, EntraError};
pub use tenant::EntraTenant;
