//! The containment actions riposte can take on an AD account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Disable,
    Enable,
    ForcePasswordReset,
    Unlock,
    SetPassword,
    /// Entra ID: end every sign-in session (signInSessionsValidFromDateTime := now).
    RevokeSessions,
    /// Entra ID Protection: mark the user confirmed compromised.
    ConfirmCompromised,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Disable,
        Action::Enable,
        Action::ForcePasswordReset,
        Action::Unlock,
        Action::SetPassword,
        Action::RevokeSessions,
        Action::ConfirmCompromised,
    ];

    /// Actions that exist only in Entra ID.
    pub fn is_cloud_only(self) -> bool {
        matches!(self, Action::RevokeSessions | Action::ConfirmCompromised)
    }

    /// The same action in Entra ID, where it exists there.
    pub fn in_cloud(self) -> Option<crate::cloud::CloudAction> {
        use crate::cloud::CloudAction as C;
        match self {
            Action::Disable => Some(C::Disable),
            Action::Enable => Some(C::Enable),
            Action::ForcePasswordReset => Some(C::ForcePasswordReset),
            Action::RevokeSessions => Some(C::RevokeSessions),
            Action::ConfirmCompromised => Some(C::ConfirmCompromised),
            Action::Unlock | Action::SetPassword => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::ForcePasswordReset => "force-password-reset",
            Action::Unlock => "unlock",
            Action::SetPassword => "set-password",
            Action::RevokeSessions => "revoke-sessions",
            Action::ConfirmCompromised => "confirm-compromised",
        }
    }

    /// What the action does, in words a responder confirms.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Disable => "disable the account (set ACCOUNTDISABLE, keeping every other flag)",
            Action::Enable => "enable the account (clear ACCOUNTDISABLE, keeping every other flag)",
            Action::ForcePasswordReset => "require a password change at next logon (pwdLastSet=0)",
            Action::Unlock => "unlock the account (lockoutTime=0)",
            Action::SetPassword => "set a new random password, shown once to the requester",
            Action::RevokeSessions => {
                "end every Entra ID sign-in session (refresh tokens and session cookies)"
            }
            Action::ConfirmCompromised => {
                "mark the user confirmed compromised in Entra ID Protection"
            }
        }
    }

    /// The action that reverses this one, where one exists.
    pub fn undo(self) -> Option<Action> {
        match self {
            Action::Disable => Some(Action::Enable),
            Action::Enable => Some(Action::Disable),
            _ => None,
        }
    }

    /// The attribute whose change is the action's effect, for evidence.
    pub fn attribute_written(self) -> &'static str {
        match self {
            Action::Disable | Action::Enable => "userAccountControl",
            Action::ForcePasswordReset => "pwdLastSet",
            Action::Unlock => "lockoutTime",
            Action::SetPassword => "unicodePwd",
            Action::RevokeSessions => "signInSessionsValidFromDateTime",
            Action::ConfirmCompromised => "riskState",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown action {0:?}; expected one of disable, enable, force-password-reset, unlock, set-password"
)]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

/// Choices a requester makes with an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOptions {
    /// For a forced reset: first clear DONT_EXPIRE_PASSWORD / SMARTCARD_REQUIRED,
    /// which would make AD ignore it, and record that this was done.
    #[serde(default)]
    pub clear_blocking_flags: bool,
    /// For a forced reset in Entra ID: also require MFA before the new password
    /// (passwordProfile.forceChangePasswordNextSignInWithMfa).
    #[serde(default)]
    pub with_mfa: bool,
}
