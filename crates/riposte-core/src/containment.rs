//! One identity across directories, and what containing it means for each
//! kind: the one place where an action fans out into per-directory steps.

use serde::{Deserialize, Serialize};

use crate::account::AccountState;
use crate::action::Action;
use crate::cloud::{CloudAccount, CloudAction, IdentityKind};

/// A person as riposte sees them: their AD account, their Entra accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub kind: IdentityKind,
    pub ad: Option<AccountState>,
    pub cloud: Vec<CloudAccount>,
    /// Entra could not be searched for linked accounts: containment may be incomplete.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cloud_error: Option<String>,
}

impl Identity {
    /// Links by objectSid: an Entra user whose onPremisesSecurityIdentifier
    /// is the AD account's objectSid is the same person.
    pub fn from_ad(
        ad: AccountState,
        linked: Vec<CloudAccount>,
        cloud_error: Option<String>,
    ) -> Self {
        let sid = ad.sid.as_ref().map(|s| s.to_string());
        let cloud: Vec<CloudAccount> = linked
            .into_iter()
            .filter(|c| c.on_premises_sid.is_some() && c.on_premises_sid == sid)
            .collect();
        let kind = if cloud.is_empty() {
            IdentityKind::AdOnly
        } else {
            IdentityKind::Hybrid
        };
        Identity {
            kind,
            ad: Some(ad),
            cloud,
            cloud_error,
        }
    }

    pub fn from_cloud(account: CloudAccount) -> Self {
        Identity {
            kind: account.kind(),
            ad: None,
            cloud: vec![account],
            cloud_error: None,
        }
    }

    /// `forest:sAMAccountName`, or `tenant:UPN` for a cloud identity.
    pub fn reference(&self) -> String {
        match (&self.ad, self.cloud.first()) {
            (Some(a), _) => a.reference(),
            (None, Some(c)) => c.reference(),
            (None, None) => String::new(),
        }
    }

    /// Where the identity lives, for scope checks: (forest or tenant, DN or UPN).
    pub fn location(&self) -> (String, String) {
        match (&self.ad, self.cloud.first()) {
            (Some(a), _) => (a.forest.clone(), a.dn.clone()),
            (None, Some(c)) => (c.tenant.clone(), c.user_principal_name.clone()),
            (None, None) => (String::new(), String::new()),
        }
    }
}

/// One directory's part of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "directory", rename_all = "kebab-case")]
pub enum Step {
    Ad {
        forest: String,
        dn: String,
        action: Action,
    },
    Cloud {
        tenant: String,
        id: String,
        upn: String,
        action: CloudAction,
    },
    /// A directory that could not be searched for this identity's accounts:
    /// recorded as a failed step, so containment is never reported complete.
    Unresolved { what: String, error: String },
}

impl Step {
    pub fn describe(&self) -> String {
        match self {
            Step::Ad { forest, dn, action } => format!("AD {forest}: {action} {dn}"),
            Step::Cloud {
                tenant,
                upn,
                action,
                ..
            } => format!("Entra {tenant}: {action} {upn}"),
            Step::Unresolved { what, .. } => format!("unresolved: {what}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotApplicable(pub String);

/// The steps `action` takes on `identity`, by kind:
/// - ad-only: the AD action; Entra-only actions do not apply;
/// - hybrid: AD is the source of authority. Disable in AD and revoke the
///   Entra sessions at once (the cloud would otherwise wait for the next
///   sync); other account changes in AD; session and risk actions in Entra;
/// - cloud-only and guest: through Graph (a guest's forced reset is refused
///   there, with the reason).
pub fn plan(identity: &Identity, action: Action) -> Result<Vec<Step>, NotApplicable> {
    let ad_step = || {
        identity.ad.as_ref().map(|a| Step::Ad {
            forest: a.forest.clone(),
            dn: a.dn.clone(),
            action,
        })
    };
    let cloud_steps = |cloud_action: CloudAction| -> Vec<Step> {
        identity
            .cloud
            .iter()
            .map(|c| Step::Cloud {
                tenant: c.tenant.clone(),
                id: c.id.clone(),
                upn: c.user_principal_name.clone(),
                action: cloud_action,
            })
            .collect()
    };
    let steps: Vec<Step> = match (identity.kind, action) {
        (IdentityKind::AdOnly, a) if a.is_cloud_only() => {
            return Err(NotApplicable(format!(
                "{} has no Entra ID account, so {action} does not apply; disable or force a password reset instead",
                identity.reference()
            )));
        }
        (IdentityKind::AdOnly, _) => ad_step().into_iter().collect(),
        (IdentityKind::Hybrid, Action::Disable) => ad_step()
            .into_iter()
            .chain(cloud_steps(CloudAction::RevokeSessions))
            .collect(),
        (IdentityKind::Hybrid, a) if a.is_cloud_only() => {
            cloud_steps(a.in_cloud().expect("cloud action"))
        }
        (IdentityKind::Hybrid, _) => ad_step().into_iter().collect(),
        (IdentityKind::CloudOnly | IdentityKind::Guest, a) => match a.in_cloud() {
            Some(cloud_action) => cloud_steps(cloud_action),
            None => {
                return Err(NotApplicable(format!(
                    "{} exists only in Entra ID, where riposte does not {action}; use force-password-reset or disable",
                    identity.reference()
                )));
            }
        },
    };
    if steps.is_empty() {
        return Err(NotApplicable(format!(
            "{} has no account to {action}",
            identity.reference()
        )));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::test_account;

    fn cloud(kind: &str, sid: Option<&str>) -> CloudAccount {
        CloudAccount {
            tenant: "contoso".into(),
            id: "id-1".into(),
            user_principal_name: "bert@corp.example.test".into(),
            mail: None,
            display_name: None,
            user_type: if kind == "guest" {
                "Guest".into()
            } else {
                "Member".into()
            },
            account_enabled: true,
            synced: sid.is_some(),
            on_premises_sid: sid.map(String::from),
            sessions_valid_from: None,
            force_change_password: None,
            risk_state: None,
        }
    }

    #[test]
    fn a_hybrid_disable_is_an_ad_disable_and_a_session_revocation() {
        let ad = test_account(0x200);
        let sid = ad.sid.as_ref().unwrap().to_string();
        let identity = Identity::from_ad(
            ad,
            vec![
                cloud("member", Some(&sid)),
                cloud("member", Some("S-1-5-21-9-9-9-1")),
            ],
            None,
        );
        assert_eq!(identity.kind, IdentityKind::Hybrid);
        assert_eq!(
            identity.cloud.len(),
            1,
            "only the account synced from this SID is linked"
        );
        let steps = plan(&identity, Action::Disable).unwrap();
        assert!(matches!(
            &steps[0],
            Step::Ad {
                action: Action::Disable,
                ..
            }
        ));
        assert!(matches!(
            &steps[1],
            Step::Cloud {
                action: CloudAction::RevokeSessions,
                ..
            }
        ));
        assert_eq!(
            plan(&identity, Action::ForcePasswordReset).unwrap().len(),
            1,
            "forced reset in AD only"
        );
        assert!(matches!(
            plan(&identity, Action::RevokeSessions).unwrap()[0],
            Step::Cloud { .. }
        ));
    }

    #[test]
    fn each_kind_gets_the_steps_it_can_take() {
        let ad_only = Identity::from_ad(test_account(0x200), vec![], None);
        assert_eq!(ad_only.kind, IdentityKind::AdOnly);
        assert!(plan(&ad_only, Action::RevokeSessions).is_err());
        let cloud_only = Identity::from_cloud(cloud("member", None));
        assert_eq!(cloud_only.kind, IdentityKind::CloudOnly);
        assert!(matches!(
            plan(&cloud_only, Action::ForcePasswordReset).unwrap()[0],
            Step::Cloud {
                action: CloudAction::ForcePasswordReset,
                ..
            }
        ));
        assert!(plan(&cloud_only, Action::Unlock).is_err());
        let guest = Identity::from_cloud(cloud("guest", None));
        assert_eq!(guest.kind, IdentityKind::Guest);
        assert_eq!(plan(&guest, Action::Disable).unwrap().len(), 1);
    }
}
