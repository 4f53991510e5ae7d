//! What riposte.toml's `[oidc]` says, checked once, and the one rule from a
//! person's groups to a riposte role: the first `[[oidc.role]]` whose group
//! the person has, in the order the file lists them.

use std::fmt;
use std::time::Duration;

use riposte_core::policy::{Role, Scope};
use secrecy::SecretString;

use crate::endpoint::{EndpointError, check_endpoint};

/// The most clock skew riposte accepts between itself and the provider.
pub const MAX_CLOCK_SKEW_SECONDS: u64 = 300;

/// One `[[oidc.role]]`: people whose groups claim holds `group` get `role`
/// within `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub group: String,
    pub role: Role,
    pub scope: Scope,
}

/// The `[oidc]` section, checked (`OidcSettings::check`).
#[derive(Clone)]
pub struct OidcSettings {
    /// Exactly as the provider names itself in discovery and in `iss`.
    pub issuer: String,
    pub client_id: String,
    /// Read from `client_secret_file`; never logged, never in an error.
    pub client_secret: SecretString,
    /// PEM of extra roots to trust for the provider (`ca_file`), besides the system's.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// "Sign in with <display_name>".
    pub display_name: String,
    /// Sent with the authorization request; "openid" is always among them.
    pub scopes: Vec<String>,
    /// The ID-token claim holding the person's groups.
    pub groups_claim: String,
    pub max_clock_skew: Duration,
    /// The callback URL registered at the provider; `None`: made from the request's Host.
    pub redirect_url: Option<String>,
    /// In the file's order: the first match wins.
    pub roles: Vec<RoleRule>,
    /// Bound on each request to the provider.
    pub timeout: Duration,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("scopes", &self.scopes)
            .field("groups_claim", &self.groups_claim)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("redirect_url", &self.redirect_url)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("[oidc] issuer: {0}")]
    Issuer(EndpointError),
    #[error("[oidc] redirect_url: {0}")]
    RedirectUrl(EndpointError),
    #[error(
        "[oidc] {field} is empty; set it to the value your identity provider gave riposte's app registration"
    )]
    Empty { field: &'static str },
    #[error(
        "[oidc] max_clock_skew_seconds = {0} is above {MAX_CLOCK_SKEW_SECONDS}; fix the clocks (NTP) rather than widen the window"
    )]
    SkewTooLarge(u64),
    #[error(
        "[[oidc.role]] for group {group:?}: role {role} cannot be given by sign-in; use reader, responder or admin"
    )]
    RoleRefused { group: String, role: Role },
    #[error(
        "[[oidc.role]] for group {group:?}: forests, ous and actions limit a responder only; remove them or make the role responder"
    )]
    ScopeOnNonResponder { group: String },
    #[error("[[oidc.role]] has an empty group; name a value of the {claim:?} claim")]
    EmptyGroup { claim: String },
}

impl OidcSettings {
    /// Every rule the settings must meet before riposte starts.
    pub fn check(&self) -> Result<(), SettingsError> {
        check_endpoint("the issuer", &self.issuer).map_err(SettingsError::Issuer)?;
        if let Some(url) = &self.redirect_url {
            check_endpoint("the redirect URL", url).map_err(SettingsError::RedirectUrl)?;
        }
        if self.client_id.trim().is_empty() {
            return Err(SettingsError::Empty { field: "client_id" });
        }
        if self.groups_claim.trim().is_empty() {
            return Err(SettingsError::Empty {
                field: "groups_claim",
            });
        }
        if self.max_clock_skew.as_secs() > MAX_CLOCK_SKEW_SECONDS {
            return Err(SettingsError::SkewTooLarge(self.max_clock_skew.as_secs()));
        }
        for rule in &self.roles {
            if rule.group.is_empty() {
                return Err(SettingsError::EmptyGroup {
                    claim: self.groups_claim.clone(),
                });
            }
            // A forwarder only posts events: a person at a browser is never one.
            if rule.role == Role::Forwarder {
                return Err(SettingsError::RoleRefused {
                    group: rule.group.clone(),
                    role: rule.role,
                });
            }
            if rule.role != Role::Responder && !rule.scope.is_unlimited() {
                return Err(SettingsError::ScopeOnNonResponder {
                    group: rule.group.clone(),
                });
            }
        }
        Ok(())
    }

    /// The rule for a person with these groups: the first listed that matches.
    pub fn role_for(&self, groups: &[String]) -> Option<&RoleRule> {
        self.roles
            .iter()
            .find(|rule| groups.iter().any(|g| g == &rule.group))
    }

    /// The scopes to ask for, "openid" first and always.
    pub fn requested_scopes(&self) -> String {
        let mut scopes = vec!["openid"];
        scopes.extend(
            self.scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "openid" && !s.is_empty()),
        );
        scopes.join(" ")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn settings(issuer: &str) -> OidcSettings {
        OidcSettings {
            issuer: issuer.to_string(),
            client_id: "riposte-lab".into(),
            client_secret: SecretString::from("s3cret-never-shown"),
            extra_roots_pem: None,
            display_name: "Lab provider".into(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            groups_claim: "groups".into(),
            max_clock_skew: Duration::from_secs(60),
            redirect_url: None,
            roles: vec![
                RoleRule {
                    group: "soc-responders".into(),
                    role: Role::Responder,
                    scope: Scope {
                        forests: vec!["corp".into()],
                        ..Scope::default()
                    },
                },
                RoleRule {
                    group: "soc-readers".into(),
                    role: Role::Reader,
                    scope: Scope::default(),
                },
            ],
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_first_listed_rule_that_matches_wins() {
        let s = settings("https://idp.example.com/");
        let both = vec!["soc-readers".to_string(), "soc-responders".to_string()];
        assert_eq!(s.role_for(&both).unwrap().role, Role::Responder);
        assert_eq!(
            s.role_for(&["soc-readers".into()]).unwrap().role,
            Role::Reader
        );
        assert!(s.role_for(&["marketing".into()]).is_none());
        assert!(s.role_for(&[]).is_none());
        // Group names compare exactly: no case folding, no prefix.
        assert!(
            s.role_for(&["SOC-READERS".into(), "soc-reader".into()])
                .is_none()
        );
    }

    #[test]
    fn settings_that_break_a_rule_are_refused_with_the_reason() {
        assert_eq!(settings("https://idp.example.com/").check(), Ok(()));
        assert_eq!(settings("http://127.0.0.1:8080/").check(), Ok(()));
        let err = settings("http://idp.example.com/").check().unwrap_err();
        assert!(err.to_string().contains("not https"), "{err}");

        let mut s = settings("https://idp.example.com/");
        s.max_clock_skew = Duration::from_secs(301);
        assert_eq!(s.check(), Err(SettingsError::SkewTooLarge(301)));

        let mut s = settings("https://idp.example.com/");
        s.roles[1].role = Role::Forwarder;
        assert!(matches!(s.check(), Err(SettingsError::RoleRefused { .. })));

        let mut s = settings("https://idp.example.com/");
        s.roles[1].scope.forests = vec!["corp".into()];
        assert!(matches!(
            s.check(),
            Err(SettingsError::ScopeOnNonResponder { .. })
        ));

        let mut s = settings("https://idp.example.com/");
        s.client_id = " ".into();
        assert!(matches!(s.check(), Err(SettingsError::Empty { .. })));
    }

    #[test]
    fn openid_is_always_asked_for_once() {
        let mut s = settings("https://idp.example.com/");
        assert_eq!(s.requested_scopes(), "openid profile email");
        s.scopes = vec!["email".into()];
        assert_eq!(s.requested_scopes(), "openid email");
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let s = settings("https://idp.example.com/");
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
