//! Cloud (Entra ID) accounts and actions, connector-neutral: what the
//! outcome rules need to judge a Graph action by what was read back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How an identity exists across directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// Only in Active Directory.
    AdOnly,
    /// In AD and synced to Entra ID: AD is the source of authority.
    Hybrid,
    /// Only in Entra ID, a member of the tenant.
    CloudOnly,
    /// An Entra ID guest from another organisation.
    Guest,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::AdOnly => "ad-only",
            IdentityKind::Hybrid => "hybrid",
            IdentityKind::CloudOnly => "cloud-only",
            IdentityKind::Guest => "guest",
        }
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Entra ID user as read from Graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudAccount {
    pub tenant: String,
    pub id: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    /// "Member" or "Guest".
    pub user_type: String,
    pub account_enabled: bool,
    /// Synced from AD (onPremisesSyncEnabled).
    pub synced: bool,
    /// The AD objectSid it is synced from.
    pub on_premises_sid: Option<String>,
    /// signInSessionsValidFromDateTime (RFC 3339).
    pub sessions_valid_from: Option<String>,
    pub force_change_password: Option<bool>,
    /// Identity Protection riskState, when read.
    pub risk_state: Option<String>,
}

impl CloudAccount {
    pub fn kind(&self) -> IdentityKind {
        if self.user_type.eq_ignore_ascii_case("guest") {
            IdentityKind::Guest
        } else if self.synced {
            IdentityKind::Hybrid
        } else {
            IdentityKind::CloudOnly
        }
    }

    /// `tenant:UPN`, the canonical way riposte names a cloud account.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.tenant, self.user_principal_name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloudAction {
    Disable,
    Enable,
    RevokeSessions,
    ForcePasswordReset,
    ConfirmCompromised,
}

impl CloudAction {
    pub const ALL: [CloudAction; 5] = [
        CloudAction::Disable,
        CloudAction::Enable,
        CloudAction::RevokeSessions,
        CloudAction::ForcePasswordReset,
        CloudAction::ConfirmCompromised,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloudAction::Disable => "disable",
            CloudAction::Enable => "enable",
            CloudAction::RevokeSessions => "revoke-sessions",
            CloudAction::ForcePasswordReset => "force-password-reset",
            CloudAction::ConfirmCompromised => "confirm-compromised",
        }
    }

    /// The Graph application permission the action needs.
    pub fn permission(self) -> &'static str {
        match self {
            CloudAction::Disable | CloudAction::Enable => "User.EnableDisableAccount.All",
            CloudAction::RevokeSessions => "User.RevokeSessions.All",
            CloudAction::ForcePasswordReset => "User-PasswordProfile.ReadWrite.All",
            CloudAction::ConfirmCompromised => "IdentityRiskyUser.ReadWrite.All",
        }
    }
}

impl fmt::Display for CloudAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown cloud action {0:?}; expected disable, enable, revoke-sessions, force-password-reset or confirm-compromised"
)]
pub struct UnknownCloudAction(pub String);

impl FromStr for CloudAction {
    type Err = UnknownCloudAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CloudAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownCloudAction(s.to_string()))
    }
}

/// The outcome of one Graph action, with its evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudReport {
    pub tenant: String,
    pub user: String,
    pub action: CloudAction,
    pub outcome: crate::outcome::Outcome,
    pub message: String,
    pub before: Option<CloudAccount>,
    pub after: Option<CloudAccount>,
    /// Requests sent, in order (never a secret).
    pub writes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant {tenant}: {message}")]
pub struct CloudError {
    pub tenant: String,
    pub message: String,
}

/// What riposte needs from a cloud directory (Entra ID through Graph).
#[async_trait::async_trait]
pub trait CloudDirectory: Send + Sync {
    fn tenant_names(&self) -> Vec<String>;

    /// Users a reference names in one tenant (or every tenant): object id,
    /// UPN, mail, or the AD objectSid a user is synced from.
    async fn find(
        &self,
        tenant: Option<&str>,
        reference: &str,
    ) -> Result<Vec<CloudAccount>, CloudError>;

    /// Users synced from the AD account with this objectSid, in every tenant.
    async fn linked_to(&self, sid: &str) -> Result<Vec<CloudAccount>, CloudError>;

    /// Reads, acts, reads back and classifies one action on one user;
    /// `with_mfa` makes a forced password change also require MFA.
    async fn execute(
        &self,
        tenant: &str,
        id: &str,
        action: CloudAction,
        with_mfa: bool,
    ) -> CloudReport;
}
