//! Token acquisition: client credentials, one cached access token per
//! tenant, renewed a minute before it expires or when Graph answers 401.

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;
use tracing::debug;

use super::{EntraError, GraphClient};

impl GraphClient {
    /// A cached access token, renewed a minute before it expires.
    pub(crate) async fn access_token(&self) -> Result<String, EntraError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expiry)) = cached.as_ref()
            && *expiry > Instant::now()
        {
            return Ok(token.clone());
        }
        let s = &self.settings;
        let url = format!("{}/{}/oauth2/v2.0/token", s.authority, s.tenant_id);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", s.client_id.as_str()),
            ("client_secret", s.client_secret.expose_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| self.malformed(format!("token endpoint: {e}")))?;
        if !status.is_success() {
            // AAD's error_description names the problem; it never holds the secret.
            let message = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no description")
                .to_string();
            return Err(EntraError::Auth {
                tenant: s.name.clone(),
                message: format!("{status}: {message}"),
            });
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| self.malformed("token response without access_token"))?;
        let lifetime = body["expires_in"].as_u64().unwrap_or(300);
        let expiry = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
        *cached = Some((token.to_string(), expiry));
        debug!(tenant = %s.name, lifetime, "obtained a Graph token");
        Ok(token.to_string())
    }

    /// Drops the cached token, so the next request gets a new one (after a 401).
    pub(super) async fn forget_token(&self) {
        *self.token.lock().await = None;
    }
}
