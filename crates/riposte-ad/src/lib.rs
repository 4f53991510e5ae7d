//! riposte's Active Directory connector.
//!
//! LDAP over TLS (LDAPS by default, or StartTLS) with the server certificate
//! verified against the forest's own CA; one bound connection per DC, reused;
//! failover across a forest's DCs. Every value put into a filter is escaped
//! (RFC 4515); userAccountControl is only ever written as compare-and-swap.
#![forbid(unsafe_code)]

pub mod config;
mod connection;
mod container_rights;
mod entry;
pub mod filter;
mod kerberos;
mod readiness;
mod tls;

pub use config::{AuthKind, ConfigError, Credentials, ForestConfig, ForestSettings, TlsMode};
pub use connection::AdDirectory;
pub use entry::STATE_ATTRIBUTES;
/// The rustls client configuration riposte uses for a forest (only its CA trusted);
/// public for the benchmark floor (`examples/ldap_floor.rs`).
pub use tls::client_config;
