//! The authorization request: a fresh `state`, `nonce` and PKCE verifier per
//! sign-in, and the URL that sends the browser to the provider with them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::error::OidcError;

/// One sign-in's start. `state`, `nonce` and `pkce_verifier` are secrets of
/// this sign-in: the caller keeps them (hashed `state` as the key) until the
/// callback, and never shows them.
pub struct AuthorizationRequest {
    /// Where to send the browser.
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("endpoint", &self.url.origin().ascii_serialization())
            .finish_non_exhaustive()
    }
}

/// 256 random bits, base64url: 43 characters, as PKCE wants for a verifier.
fn random_token() -> Result<String, OidcError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| OidcError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 code challenge of a PKCE verifier (RFC 7636 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl AuthorizationRequest {
    pub(crate) fn new(
        authorization_endpoint: &Url,
        client_id: &str,
        redirect_uri: &str,
        scopes: &str,
    ) -> Result<AuthorizationRequest, OidcError> {
        let state = random_token()?;
        let nonce = random_token()?;
        let pkce_verifier = random_token()?;
        let mut url = authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&pkce_verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(AuthorizationRequest {
            url,
            state,
            nonce,
            pkce_verifier,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn each_request_has_its_own_secrets_and_sends_only_the_challenge() {
        let endpoint = Url::parse("https://idp.example.com/auth?prompt=login").unwrap();
        let a =
            AuthorizationRequest::new(&endpoint, "riposte", "https://r.example/cb", "openid email")
                .unwrap();
        let b =
            AuthorizationRequest::new(&endpoint, "riposte", "https://r.example/cb", "openid email")
                .unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.pkce_verifier, b.pkce_verifier);
        assert_eq!(a.pkce_verifier.len(), 43);
        let query: Vec<(String, String)> = a.url.query_pairs().into_owned().collect();
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("prompt"),
            Some("login"),
            "the endpoint's own query is kept"
        );
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("state"), Some(a.state.as_str()));
        assert_eq!(get("nonce"), Some(a.nonce.as_str()));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(
            get("code_challenge"),
            Some(pkce_challenge(&a.pkce_verifier).as_str())
        );
        assert!(!a.url.as_str().contains(&a.pkce_verifier));
        assert_eq!(get("redirect_uri"), Some("https://r.example/cb"));
        assert!(!format!("{a:?}").contains(&a.state));
    }
}
