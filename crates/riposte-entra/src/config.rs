//! One `[[tenant]]` table of riposte.toml.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Short name used in references (`contoso:bigbird@contoso.example`).
    pub name: String,
    /// The directory (tenant) id or domain.
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    /// Token authority; sovereign clouds use their own.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// Graph base URL, ending in /v1.0.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// Attempts per request (and per `$batch` sub-request) when Graph
    /// throttles (429) or is unavailable (503); then the request fails.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Longest wait between attempts: Retry-After when Graph sends one, else
    /// 0.5, 1, 2, 4 ... s. A Retry-After longer than this ends the request at
    /// once (failed, saying so) rather than sending it again too early.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: u64,
    /// Longest wait for one answer. A write whose answer does not come in
    /// time is not sent again; the user is read back to tell what is true.
    ///
    /// So one request takes at most `max_attempts * timeout_secs +
    /// (max_attempts - 1) * max_backoff_secs` (defaults: 6 * 30 + 5 * 60 =
    /// 480 s), and a cloud step (read, write, read-back) three of those.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Requests to this tenant that wait while 4 are already in flight go
    /// together, up to 20 in one `$batch` call (a bulk then costs about a
    /// twentieth of the calls; each sub-request is still throttled, retried
    /// and read back on its own). `false` sends every request on its own.
    #[serde(default = "default_batch")]
    pub batch: bool,
}

fn default_authority() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_graph_url() -> String {
    "https://graph.microsoft.com/v1.0".into()
}
fn default_attempts() -> u32 {
    6
}
fn default_max_backoff() -> u64 {
    60
}
fn default_timeout() -> u64 {
    30
}
fn default_batch() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct TenantSettings {
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub authority: String,
    pub graph_url: String,
    pub max_attempts: u32,
    pub max_backoff: Duration,
    pub timeout: Duration,
    /// Concurrent requests coalesced into `$batch` (`batch` in riposte.toml).
    pub batch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant {tenant:?}: `{key}`: {message}")]
pub struct TenantConfigError {
    pub tenant: String,
    pub key: &'static str,
    pub message: String,
}

/// HTTPS, or plain HTTP to a loopback address (the test double): never a
/// client secret in clear over a network.
fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") || host.starts_with("127.") {
        Ok(())
    } else {
        Err(format!(
            "{url:?} uses plain http to a non-loopback host; use https"
        ))
    }
}

impl TenantConfig {
    pub fn resolve(self, base_dir: &Path) -> Result<TenantSettings, TenantConfigError> {
        let invalid = |key: &'static str, message: String| TenantConfigError {
            tenant: self.name.clone(),
            key,
            message,
        };
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "name",
                "use letters, digits, '-' and '_' only".into(),
            ));
        }
        check_url(&self.authority).map_err(|m| invalid("authority", m))?;
        check_url(&self.graph_url).map_err(|m| invalid("graph_url", m))?;
        let client_secret = riposte_core::config_secret::resolve(
            "client_secret",
            "the app's client secret",
            self.client_secret_file.as_ref(),
            self.client_secret_env.as_ref(),
            base_dir,
        )
        .map_err(|e| TenantConfigError {
            tenant: self.name.clone(),
            key: if e.key.ends_with("_env") {
                "client_secret_env"
            } else {
                "client_secret_file"
            },
            message: e.message,
        })?;
        if self.max_attempts == 0 {
            return Err(invalid("max_attempts", "at least 1".into()));
        }
        Ok(TenantSettings {
            name: self.name.to_ascii_lowercase(),
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            client_secret,
            authority: self.authority.trim_end_matches('/').to_string(),
            graph_url: self.graph_url.trim_end_matches('/').to_string(),
            max_attempts: self.max_attempts,
            max_backoff: Duration::from_secs(self.max_backoff_secs),
            timeout: Duration::from_secs(self.timeout_secs),
            batch: self.batch,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clear_text_secrets_only_to_loopback() {
        assert!(super::check_url("https://graph.microsoft.com/v1.0").is_ok());
        assert!(super::check_url("http://127.0.0.1:9000/v1.0").is_ok());
        assert!(super::check_url("http://graph.example.com/v1.0").is_err());
        assert!(super::check_url("ftp://x").is_err());
    }
}
