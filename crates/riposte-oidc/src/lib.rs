//! riposte's OpenID Connect relying party, for the portal's single sign-on.
//!
//! The authorization code flow with PKCE (S256), `state` and `nonce`, against
//! a provider found by discovery from its issuer. Signatures and the standard
//! claims are checked by `jsonwebtoken` with keys from the provider's JWKS (no
//! JWT, JWKS or crypto code here); this crate adds what OpenID Connect asks
//! on top (the nonce, `azp` with several audiences, `iat`, the bounded clock
//! skew) and maps the groups claim to a riposte role.
//!
//! One file per concern: `settings` (what riposte.toml says, groups to
//! roles), `endpoint` (the https-only-except-loopback rule), `discovery`,
//! `jwks` (cached; fetched again once for an unknown key id),
//! `authorize` (the request and its secrets), `token` (the code exchange,
//! `client_secret_basic`), `id_token` (validation), `client` (all of it
//! behind one `OidcClient`). Errors never carry a secret, code or token.
#![forbid(unsafe_code)]

mod authorize;
mod client;
mod discovery;
mod endpoint;
mod error;
mod id_token;
mod jwks;
mod settings;
mod token;

pub use authorize::{AuthorizationRequest, pkce_challenge};
pub use client::OidcClient;
pub use discovery::Discovery;
pub use endpoint::{EndpointError, check_endpoint};
pub use error::{OidcError, oauth_error_code};
pub use id_token::{IdTokenError, SignedInIdentity};
pub use settings::{MAX_CLOCK_SKEW_SECONDS, OidcSettings, RoleRule, SettingsError};
