//! A forest's connection settings, as written in riposte.toml's
//! `[[forest]]` tables, and their validation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// How the action account signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// Simple bind with bind_dn and its password, over TLS.
    #[default]
    Simple,
    /// Kerberos (SASL GSSAPI) with a keytab; needs the `gssapi` cargo feature.
    Gssapi,
}

/// The action account's credentials, resolved.
#[derive(Debug, Clone)]
pub enum Credentials {
    Password(SecretString),
    Keytab { keytab: PathBuf, principal: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 636).
    #[default]
    Ldaps,
    /// Plain LDAP upgraded with the StartTLS extended operation before binding.
    Starttls,
    /// No encryption: refused unless `insecure = true`.
    None,
}

/// One `[[forest]]` table as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestConfig {
    /// Short name used in references (`corp:bert`).
    pub name: String,
    /// DNS domain, e.g. corp.example.test.
    pub domain: String,
    /// Naming context searched, e.g. DC=corp,DC=example,DC=test.
    pub base_dn: String,
    /// DC URLs in failover order: ldaps://host:636 or ldap://host:389.
    pub dcs: Vec<String>,
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM file with the CA(s) that sign the DCs' certificates.
    pub ca_file: Option<PathBuf>,
    /// Allows `tls = "none"`: passwords would cross the network in clear.
    #[serde(default)]
    pub insecure: bool,
    /// The action account's DN.
    pub bind_dn: String,
    #[serde(default)]
    pub auth: AuthKind,
    /// With auth = "gssapi": the keytab holding the action account's key.
    pub keytab: Option<PathBuf>,
    /// With auth = "gssapi": the action account's principal, e.g. riposte-action@CORP.EXAMPLE.TEST.
    pub principal: Option<String>,
    /// A file holding the action account's password (preferred).
    pub bind_password_file: Option<PathBuf>,
    /// An environment variable holding it.
    pub bind_password_env: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    #[serde(default = "default_operation_timeout")]
    pub operation_timeout_secs: u64,
    /// Bound connections kept open to each DC. Concurrent jobs share them
    /// (requests are pipelined on each). More than one lets a DC with cores
    /// to spare answer reads on another worker while a write is applied; on
    /// the 2-core lab one is faster (bench/bulk.sh: 12.5 s against 14.0 s
    /// for 2,000 accounts), so one is the default.
    #[serde(default = "default_connections_per_dc")]
    pub connections_per_dc: usize,
}

impl ForestConfig {
    fn password(&self, base_dir: &Path) -> Result<SecretString, ConfigError> {
        riposte_core::config_secret::resolve(
            "bind_password",
            "the action account's password",
            self.bind_password_file.as_ref(),
            self.bind_password_env.as_ref(),
            base_dir,
        )
        .map_err(|e| ConfigError::Invalid {
            forest: self.name.clone(),
            key: if e.key.ends_with("_env") {
                "bind_password_env"
            } else {
                "bind_password_file"
            },
            message: e.message,
        })
    }
}

fn default_connect_timeout() -> u64 {
    5
}
fn default_operation_timeout() -> u64 {
    15
}
fn default_connections_per_dc() -> usize {
    1
}

/// The most connections per DC a forest may ask for.
const MAX_CONNECTIONS_PER_DC: usize = 16;

/// A forest's settings, validated, with its secret resolved.
#[derive(Debug, Clone)]
pub struct ForestSettings {
    pub name: String,
    pub domain: String,
    pub base_dn: String,
    pub dcs: Vec<String>,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    pub connections_per_dc: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("forest {forest:?}: `{key}`: {message}")]
    Invalid {
        forest: String,
        key: &'static str,
        message: String,
    },
}

impl ForestConfig {
    /// Validates the table and reads its secret. Relative paths are taken
    /// from `base_dir`, the directory of the config file.
    pub fn resolve(self, base_dir: &Path) -> Result<ForestSettings, ConfigError> {
        let forest = self.name.clone();
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            forest: forest.clone(),
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
                "use letters, digits, '-' and '_' only (it is typed in references like corp:bert)"
                    .into(),
            ));
        }
        if !self.base_dn.to_ascii_uppercase().contains("DC=") {
            return Err(invalid(
                "base_dn",
                format!(
                    "{:?} is not a naming context such as DC=corp,DC=example,DC=test",
                    self.base_dn
                ),
            ));
        }
        if self.dcs.is_empty() {
            return Err(invalid(
                "dcs",
                "list at least one domain controller, e.g. [\"ldaps://dc1.corp.example.test:636\"]"
                    .into(),
            ));
        }
        let expected_scheme = match self.tls {
            TlsMode::Ldaps => "ldaps://",
            TlsMode::Starttls | TlsMode::None => "ldap://",
        };
        for dc in &self.dcs {
            if !dc.starts_with(expected_scheme) {
                return Err(invalid(
                    "dcs",
                    format!(
                        "{dc:?} does not match tls = {:?}: expected a URL starting with {expected_scheme}",
                        self.tls
                    ),
                ));
            }
        }
        // Kerberos seals the whole connection (SASL privacy), so it needs no TLS.
        if self.tls == TlsMode::None && !self.insecure && self.auth != AuthKind::Gssapi {
            return Err(invalid(
                "tls",
                "\"none\" sends the action account's password in clear and is refused; use \"ldaps\" or \"starttls\", auth = \"gssapi\" (sealed), or set insecure = true for this forest if you accept that".into(),
            ));
        }
        let ca_file = match (self.tls, self.ca_file.clone()) {
            (TlsMode::None, _) => None,
            (_, None) => {
                return Err(invalid(
                    "ca_file",
                    "required with TLS: the PEM file of the CA that signed the DCs' certificates"
                        .into(),
                ));
            }
            (_, Some(path)) => {
                let path = base_dir.join(path);
                if !path.is_file() {
                    return Err(invalid(
                        "ca_file",
                        format!("{} does not exist or is not a file", path.display()),
                    ));
                }
                Some(path)
            }
        };
        let credentials = match self.auth {
            AuthKind::Simple => Credentials::Password(self.password(base_dir)?),
            AuthKind::Gssapi => {
                let keytab = self
                    .keytab
                    .as_ref()
                    .map(|k| base_dir.join(k))
                    .ok_or_else(|| {
                        invalid(
                            "keytab",
                            "auth = \"gssapi\" needs the keytab of the action account".into(),
                        )
                    })?;
                if !keytab.is_file() {
                    return Err(invalid(
                        "keytab",
                        format!("{} does not exist or is not a file", keytab.display()),
                    ));
                }
                let principal = self
                    .principal
                    .clone()
                    .filter(|p| p.contains('@'))
                    .ok_or_else(|| {
                        invalid(
                            "principal",
                            "auth = \"gssapi\" needs principal = \"account@REALM\"".into(),
                        )
                    })?;
                for dc in &self.dcs {
                    let host = dc
                        .split("://")
                        .nth(1)
                        .unwrap_or("")
                        .split([':', '/'])
                        .next()
                        .unwrap_or("");
                    if host.parse::<std::net::IpAddr>().is_ok() || !host.contains('.') {
                        return Err(invalid(
                            "dcs",
                            format!(
                                "{dc:?}: Kerberos needs the DC's fully qualified host name in the URL (its SPN is ldap/<host>)"
                            ),
                        ));
                    }
                }
                Credentials::Keytab { keytab, principal }
            }
        };
        if self.bind_dn.trim().is_empty() {
            return Err(invalid(
                "bind_dn",
                "the action account's DN (or UPN) is empty".into(),
            ));
        }
        if self.connect_timeout_secs == 0 || self.operation_timeout_secs == 0 {
            return Err(invalid(
                "connect_timeout_secs",
                "timeouts must be at least 1 second".into(),
            ));
        }
        if !(1..=MAX_CONNECTIONS_PER_DC).contains(&self.connections_per_dc) {
            return Err(invalid(
                "connections_per_dc",
                format!(
                    "{} connections per DC: give 1 to {MAX_CONNECTIONS_PER_DC}",
                    self.connections_per_dc
                ),
            ));
        }
        Ok(ForestSettings {
            name: self.name.to_ascii_lowercase(),
            domain: self.domain,
            base_dn: self.base_dn,
            dcs: self.dcs,
            tls: self.tls,
            ca_file,
            bind_dn: self.bind_dn,
            credentials,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            operation_timeout: Duration::from_secs(self.operation_timeout_secs),
            connections_per_dc: self.connections_per_dc,
        })
    }
}
