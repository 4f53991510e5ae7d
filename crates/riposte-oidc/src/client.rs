//! One provider, as the portal uses it: `begin` makes the authorization
//! request, `finish` exchanges the code and validates the ID token.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use reqwest::Url;

use crate::authorize::AuthorizationRequest;
use crate::discovery::{Discovery, discovery_url};
use crate::error::OidcError;
use crate::id_token::{Expected, SignedInIdentity, signing_key_id, validate};
use crate::jwks::JwksCache;
use crate::settings::OidcSettings;
use crate::token::{exchange_code, read_bounded};

/// How long the provider's metadata is kept before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of the keys for unknown key ids.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(10);

pub struct OidcClient {
    settings: OidcSettings,
    http: reqwest::Client,
    discovery: tokio::sync::Mutex<Option<(Discovery, Instant)>>,
    jwks: JwksCache,
}

impl OidcClient {
    /// A client for `settings` (checked: `OidcSettings::check`). Nothing is
    /// fetched until the first sign-in.
    pub fn new(settings: OidcSettings) -> Result<OidcClient, OidcError> {
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("riposte/", env!("CARGO_PKG_VERSION")))
            // The token request carries the client secret: it goes to the
            // discovered endpoint and nowhere a redirect points.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &settings.extra_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| OidcError::Client(format!("the extra root is not PEM ({e})")))?;
            if roots.is_empty() {
                return Err(OidcError::Client(
                    "the extra root file holds no certificate".into(),
                ));
            }
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder
            .build()
            .map_err(|e| OidcError::Client(e.to_string()))?;
        Ok(OidcClient {
            settings,
            http,
            discovery: tokio::sync::Mutex::new(None),
            jwks: JwksCache::new(JWKS_MIN_REFETCH),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    async fn get(&self, what: &'static str, url: &Url) -> Result<Vec<u8>, OidcError> {
        let unreachable = |reason: String| OidcError::Unreachable {
            what,
            url: url.to_string(),
            reason,
        };
        let response = self
            .http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP {}", response.status().as_u16())));
        }
        read_bounded(response, what, url).await
    }

    /// The provider's metadata, read again after `DISCOVERY_TTL`.
    pub async fn discovery(&self) -> Result<Discovery, OidcError> {
        let mut cached = self.discovery.lock().await;
        if let Some((discovery, at)) = cached.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(discovery.clone());
        }
        let issuer = &self.settings.issuer;
        let url = Url::parse(&discovery_url(issuer)).map_err(|e| OidcError::Discovery {
            issuer: issuer.clone(),
            reason: e.to_string(),
        })?;
        let body = self.get("discovery document", &url).await?;
        let discovery = Discovery::from_document(issuer, &body)?;
        *cached = Some((discovery.clone(), Instant::now()));
        Ok(discovery)
    }

    /// A new sign-in: where to send the browser, and the secrets to keep until it comes back.
    pub async fn begin(&self, redirect_uri: &str) -> Result<AuthorizationRequest, OidcError> {
        let discovery = self.discovery().await?;
        AuthorizationRequest::new(
            &discovery.authorization_endpoint,
            &self.settings.client_id,
            redirect_uri,
            &self.settings.requested_scopes(),
        )
    }

    /// The person the provider signed in, from the callback's `code` and the
    /// secrets `begin` made for this browser.
    pub async fn finish(
        &self,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<SignedInIdentity, OidcError> {
        let discovery = self.discovery().await?;
        let id_token = exchange_code(
            &self.http,
            &discovery.token_endpoint,
            &self.settings.client_id,
            &self.settings.client_secret,
            code,
            redirect_uri,
            pkce_verifier,
        )
        .await?;
        let (alg, kid) = signing_key_id(&id_token)?;
        let jwks_uri = &discovery.jwks_uri;
        let jwk = self
            .jwks
            .key(kid.as_deref(), alg, || async {
                let body = self.get("JWKS", jwks_uri).await?;
                serde_json::from_slice::<JwkSet>(&body).map_err(|e| OidcError::Jwks {
                    reason: format!("{jwks_uri} is not a JSON Web Key Set ({e})"),
                })
            })
            .await?;
        let expected = Expected {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            nonce,
            skew_seconds: self.settings.max_clock_skew.as_secs(),
            groups_claim: &self.settings.groups_claim,
        };
        Ok(validate(&id_token, &jwk, alg, &expected)?)
    }
}
