//! The provider's metadata (OpenID Connect Discovery 1.0), read from
//! `<issuer>/.well-known/openid-configuration` and held to the issuer.

use reqwest::Url;
use serde::Deserialize;

use crate::endpoint::check_endpoint;
use crate::error::OidcError;

/// What riposte uses of the provider's metadata, every URL checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// Where the metadata of `issuer` is.
pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

impl Discovery {
    /// The metadata in `body`, for the configured `issuer`: it must name that
    /// issuer exactly (a provider speaking for another is refused), every
    /// endpoint must pass the https rule, and the provider must support what
    /// riposte sends (PKCE S256, `client_secret_basic`) when it says.
    pub fn from_document(issuer: &str, body: &[u8]) -> Result<Discovery, OidcError> {
        let bad = |reason: String| OidcError::Discovery {
            issuer: issuer.to_string(),
            reason,
        };
        let doc: Document = serde_json::from_slice(body).map_err(|e| {
            bad(format!(
                "its metadata is not OpenID Connect discovery JSON ({e})"
            ))
        })?;
        if doc.issuer != issuer {
            return Err(bad(format!(
                "its metadata names the issuer {:?}; set [oidc] issuer to exactly that value if it is the same provider",
                doc.issuer
            )));
        }
        let endpoint =
            |what: &str, url: &str| check_endpoint(what, url).map_err(|e| bad(e.to_string()));
        let authorization_endpoint =
            endpoint("the authorization endpoint", &doc.authorization_endpoint)?;
        let token_endpoint = endpoint("the token endpoint", &doc.token_endpoint)?;
        let jwks_uri = endpoint("the JWKS URI", &doc.jwks_uri)?;
        if let Some(methods) = &doc.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(bad(
                "it does not support PKCE with S256; enable it for riposte's client".into(),
            ));
        }
        if let Some(methods) = &doc.token_endpoint_auth_methods_supported
            && !methods.iter().any(|m| m == "client_secret_basic")
        {
            return Err(bad(
                "it does not accept client_secret_basic at its token endpoint; allow it for riposte's client".into(),
            ));
        }
        Ok(Discovery {
            issuer: doc.issuer,
            authorization_endpoint,
            token_endpoint,
            jwks_uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://idp.example.com/";

    fn doc(patch: serde_json::Value) -> Vec<u8> {
        let mut d = json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://idp.example.com/auth",
            "token_endpoint": "https://idp.example.com/token",
            "jwks_uri": "https://idp.example.com/jwks",
            "code_challenge_methods_supported": ["plain", "S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"]
        });
        for (k, v) in patch.as_object().unwrap() {
            d[k] = v.clone();
        }
        serde_json::to_vec(&d).unwrap()
    }

    #[test]
    fn metadata_of_the_configured_issuer_is_taken() {
        let d = Discovery::from_document(ISSUER, &doc(json!({}))).unwrap();
        assert_eq!(d.token_endpoint.as_str(), "https://idp.example.com/token");
        assert_eq!(
            discovery_url(ISSUER),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example.com/realms/soc"),
            "https://idp.example.com/realms/soc/.well-known/openid-configuration"
        );
    }

    #[test]
    fn metadata_naming_another_issuer_or_plain_http_endpoints_is_refused() {
        for (patch, expect) in [
            (
                json!({"issuer": "https://evil.example.com/"}),
                "names the issuer",
            ),
            (
                json!({"issuer": "https://idp.example.com"}),
                "names the issuer",
            ),
            (
                json!({"token_endpoint": "http://idp.example.com/token"}),
                "token endpoint",
            ),
            (
                json!({"jwks_uri": "http://idp.example.com/jwks"}),
                "JWKS URI",
            ),
            (
                json!({"code_challenge_methods_supported": ["plain"]}),
                "S256",
            ),
            (
                json!({"token_endpoint_auth_methods_supported": ["private_key_jwt"]}),
                "client_secret_basic",
            ),
            (json!({"jwks_uri": 5}), "not OpenID Connect discovery JSON"),
        ] {
            let err = Discovery::from_document(ISSUER, &doc(patch.clone())).unwrap_err();
            assert!(err.to_string().contains(expect), "{patch}: {err}");
        }
    }
}
