//! `[oidc]` and its `[[oidc.role]]` tables: single sign-on for the portal.
//! The rules the settings must meet live in `riposte_oidc::OidcSettings::check`;
//! this reads the file's words into them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use riposte_core::action::Action;
use riposte_core::policy::{Role, Scope};
use riposte_oidc::{OidcSettings, RoleRule};
use serde::Deserialize;

/// The default bound on each request to the provider.
const TIMEOUT_SECS: u64 = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OidcFile {
    issuer: String,
    client_id: String,
    /// The client secret lives in a file, never inline.
    client_secret_file: Option<PathBuf>,
    /// An extra root (PEM) to trust for the provider, besides the system's.
    ca_file: Option<PathBuf>,
    #[serde(default = "default_display_name")]
    display_name: String,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default = "default_groups_claim")]
    groups_claim: String,
    #[serde(default = "default_skew")]
    max_clock_skew_seconds: u64,
    redirect_url: Option<String>,
    #[serde(default, rename = "role")]
    roles: Vec<RoleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    group: String,
    role: String,
    #[serde(default)]
    forests: Vec<String>,
    #[serde(default)]
    ous: Vec<String>,
    #[serde(default)]
    actions: Vec<String>,
}

fn default_display_name() -> String {
    "single sign-on".into()
}
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_skew() -> u64 {
    60
}

impl OidcFile {
    /// The checked settings; a message naming the key to fix otherwise.
    pub(super) fn resolve(self, base_dir: &Path) -> Result<OidcSettings, String> {
        let client_secret = riposte_core::config_secret::resolve(
            "client_secret",
            "the client secret riposte's app registration was given",
            self.client_secret_file.as_ref(),
            None,
            base_dir,
        )
        .map_err(|e| format!("[oidc] {e}"))?;
        let extra_roots_pem = match &self.ca_file {
            Some(file) => {
                let path = base_dir.join(file);
                Some(std::fs::read(&path).map_err(|e| {
                    format!(
                        "[oidc] ca_file: cannot read {}: {e}; give the PEM of the root that signed the provider's certificate, or remove ca_file",
                        path.display()
                    )
                })?)
            }
            None => None,
        };
        let roles = self
            .roles
            .into_iter()
            .map(RoleFile::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        if roles.is_empty() {
            return Err("[oidc] has no [[oidc.role]]: nobody could sign in; map at least one group to a role (group = \"...\", role = \"reader\")".into());
        }
        let settings = OidcSettings {
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret,
            extra_roots_pem,
            display_name: self.display_name,
            scopes: self.scopes,
            groups_claim: self.groups_claim,
            max_clock_skew: Duration::from_secs(self.max_clock_skew_seconds),
            redirect_url: self.redirect_url,
            roles,
            timeout: Duration::from_secs(TIMEOUT_SECS),
        };
        settings.check().map_err(|e| e.to_string())?;
        Ok(settings)
    }
}

impl RoleFile {
    fn resolve(self) -> Result<RoleRule, String> {
        let role: Role = self
            .role
            .parse()
            .map_err(|e| format!("[[oidc.role]] for group {:?}: {e}", self.group))?;
        let actions = self
            .actions
            .iter()
            .map(|a| a.parse::<Action>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("[[oidc.role]] for group {:?}: {e}", self.group))?;
        Ok(RoleRule {
            group: self.group,
            role,
            scope: Scope {
                forests: self.forests,
                ous: self.ous,
                actions,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use riposte_core::policy::Role;
    use secrecy::ExposeSecret;

    use crate::config::{Config, ConfigError};

    /// A forest and an [oidc] section whose files are in `dir`.
    fn config(dir: &Path, oidc: &str) -> Result<Config, ConfigError> {
        let text = format!(
            r#"
[[forest]]
name = "corp"
domain = "corp.example.test"
base_dn = "DC=corp,DC=example,DC=test"
dcs = ["ldaps://127.0.0.11:636"]
ca_file = "/etc/hostname"
bind_dn = "CN=riposte-action,OU=Service,DC=corp,DC=example,DC=test"
bind_password_file = "/etc/hostname"

{oidc}
"#
        );
        Config::parse(&dir.join("riposte.toml"), &text)
    }

    const OIDC: &str = r#"
[oidc]
issuer = "https://127.0.0.1:8443/"
client_id = "riposte-lab"
client_secret_file = "oidc/client_secret"
display_name = "Lab provider"

[[oidc.role]]
group = "soc-responders"
role = "responder"
forests = ["corp"]
actions = ["disable"]

[[oidc.role]]
group = "soc-readers"
role = "reader"
"#;

    fn dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("oidc")).unwrap();
        std::fs::write(dir.path().join("oidc/client_secret"), "lab-secret\n").unwrap();
        dir
    }

    fn error(dir: &Path, oidc: &str) -> String {
        let err = config(dir, oidc).unwrap_err().to_string();
        assert!(!err.contains("lab-secret"), "{err}");
        err
    }

    #[test]
    fn the_oidc_section_is_read_with_its_defaults_and_roles_in_order() {
        let dir = dir();
        assert!(config(dir.path(), "").unwrap().oidc.is_none());
        let oidc = config(dir.path(), OIDC).unwrap().oidc.unwrap();
        assert_eq!(oidc.issuer, "https://127.0.0.1:8443/");
        assert_eq!(oidc.client_secret.expose_secret(), "lab-secret");
        assert_eq!(oidc.requested_scopes(), "openid profile email");
        assert_eq!(oidc.groups_claim, "groups");
        assert_eq!(oidc.max_clock_skew.as_secs(), 60);
        assert_eq!(oidc.display_name, "Lab provider");
        assert!(oidc.extra_roots_pem.is_none());
        let roles: Vec<_> = oidc
            .roles
            .iter()
            .map(|r| (r.group.as_str(), r.role))
            .collect();
        assert_eq!(
            roles,
            [
                ("soc-responders", Role::Responder),
                ("soc-readers", Role::Reader)
            ]
        );
        assert_eq!(oidc.roles[0].scope.forests, ["corp"]);
        assert!(!format!("{oidc:?}").contains("lab-secret"));
    }

    #[test]
    fn a_bad_oidc_section_is_refused_saying_what_to_fix() {
        let dir = dir();
        let d = dir.path();
        let missing = OIDC.replace("oidc/client_secret", "oidc/nope");
        assert!(error(d, &missing).contains("client_secret_file"));
        let no_secret = OIDC.replace("client_secret_file = \"oidc/client_secret\"\n", "");
        assert!(error(d, &no_secret).contains("client_secret_file"));
        let inline = OIDC.replace("client_secret_file", "client_secret");
        assert!(error(d, &inline).contains("client_secret"));
        let plain = OIDC.replace("https://127.0.0.1:8443/", "http://idp.example.com/");
        assert!(error(d, &plain).contains("not https"));
        let unknown = OIDC.replace("role = \"reader\"", "role = \"boss\"");
        assert!(error(d, &unknown).contains("unknown role \"boss\""));
        let forwarder = OIDC.replace("role = \"reader\"", "role = \"forwarder\"");
        assert!(error(d, &forwarder).contains("cannot be given by sign-in"));
        let skew = OIDC.replace("display_name", "max_clock_skew_seconds = 301\ndisplay_name");
        assert!(error(d, &skew).contains("above 300"));
        let forest = OIDC.replace("forests = [\"corp\"]", "forests = [\"nowhere\"]");
        assert!(error(d, &forest).contains("names no [[forest]]"));
        let action = OIDC.replace("[\"disable\"]", "[\"delete\"]");
        assert!(error(d, &action).contains("unknown action"));
        let ca = OIDC.replace("display_name", "ca_file = \"nope.pem\"\ndisplay_name");
        assert!(error(d, &ca).contains("ca_file"));
        let no_roles = OIDC.split("[[oidc.role]]").next().unwrap().to_string();
        assert!(error(d, &no_roles).contains("[[oidc.role]]"));
    }
}
