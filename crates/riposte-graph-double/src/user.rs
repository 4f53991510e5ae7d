//! A user as the double keeps it, and the plain member most tests seed.

use serde::{Deserialize, Serialize};

/// A user as the double keeps it (Graph property names on the wire).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub mail: Option<String>,
    pub display_name: String,
    #[serde(default = "member")]
    pub user_type: String,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    pub on_premises_security_identifier: Option<String>,
    #[serde(default)]
    pub on_premises_immutable_id: Option<String>,
    #[serde(default = "epoch")]
    pub sign_in_sessions_valid_from_date_time: String,
    #[serde(default)]
    pub force_change_password_next_sign_in: bool,
    #[serde(default)]
    pub force_change_password_next_sign_in_with_mfa: bool,
    #[serde(default = "no_risk")]
    pub risk_state: String,
}

fn member() -> String {
    "Member".into()
}
fn yes() -> bool {
    true
}
fn epoch() -> String {
    "2026-01-01T00:00:00Z".into()
}
fn no_risk() -> String {
    "none".into()
}

impl User {
    /// An enabled cloud-only member with no risk and no pending password change: what the
    /// double assumes for a property a seeded user leaves out.
    pub fn member(
        id: impl Into<String>,
        upn: impl Into<String>,
        display_name: impl Into<String>,
    ) -> User {
        User {
            id: id.into(),
            user_principal_name: upn.into(),
            mail: None,
            display_name: display_name.into(),
            user_type: member(),
            account_enabled: yes(),
            on_premises_sync_enabled: None,
            on_premises_security_identifier: None,
            on_premises_immutable_id: None,
            sign_in_sessions_valid_from_date_time: epoch(),
            force_change_password_next_sign_in: false,
            force_change_password_next_sign_in_with_mfa: false,
            risk_state: no_risk(),
        }
    }
}
