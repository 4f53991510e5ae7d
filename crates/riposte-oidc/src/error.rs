//! What can go wrong signing someone in, each saying what failed and what to
//! do, never carrying a secret, an authorization code or a token.

use crate::id_token::IdTokenError;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the OpenID provider {issuer:?} cannot be used: {reason}")]
    Discovery { issuer: String, reason: String },
    #[error(
        "the OpenID provider's {what} at {url} did not answer ({reason}); check that riposte can reach it and trusts its certificate ([oidc] ca_file)"
    )]
    Unreachable {
        what: &'static str,
        url: String,
        reason: String,
    },
    #[error("the OpenID provider's keys (JWKS) cannot be used: {reason}")]
    Jwks { reason: String },
    #[error(
        "the OpenID provider refused to exchange the authorization code (HTTP {status}{}); check [oidc] client_id, the client secret and the registered redirect URI, then sign in again",
        error.as_deref().map(|e| format!(", {e}")).unwrap_or_default()
    )]
    TokenExchange { status: u16, error: Option<String> },
    #[error(
        "the token endpoint's answer has no ID token ({reason}); check that the scope openid is granted to riposte's client"
    )]
    NoIdToken { reason: String },
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    #[error("the HTTP client for the OpenID provider cannot be built: {0}; check [oidc] ca_file")]
    Client(String),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

impl OidcError {
    /// A short stable reason for the audit trail (`details.why`).
    pub fn why(&self) -> &'static str {
        match self {
            OidcError::Discovery { .. } => "provider-metadata-refused",
            OidcError::Unreachable { .. } => "provider-unreachable",
            OidcError::Jwks { .. } => "provider-keys-unusable",
            OidcError::TokenExchange { .. } => "token-exchange-failed",
            OidcError::NoIdToken { .. } => "no-id-token",
            OidcError::IdToken(e) => e.why(),
            OidcError::Client(_) => "client-unusable",
            OidcError::Random(_) => "no-randomness",
        }
    }
}

/// The OAuth `error` code of a refusal, kept only if it looks like one
/// (RFC 6749's charset, short): a provider's free text never reaches a page or log.
pub fn oauth_error_code(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    ok.then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_oauth_error_codes_are_kept() {
        assert_eq!(
            oauth_error_code("invalid_grant").as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(oauth_error_code("<script>"), None);
        assert_eq!(oauth_error_code(""), None);
        assert_eq!(oauth_error_code(&"a".repeat(65)), None);
    }
}
