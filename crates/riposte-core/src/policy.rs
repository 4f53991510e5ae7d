//! Who may do what: the one place where permissions are decided, for the
//! CLI, the API, the portal and automation alike.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::action::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees identities and the Action Center.
    Reader,
    /// A reader who may also request (and approve) actions within a scope.
    Responder,
    /// Everything, including people and tokens.
    Admin,
    /// A log forwarder: may only post events (`POST /api/v1/events`), never read
    /// identities, jobs, alerts or actions, never request or approve anything.
    Forwarder,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Responder => "responder",
            Role::Admin => "admin",
            Role::Forwarder => "forwarder",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected reader, responder, admin or forwarder")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "responder" => Ok(Role::Responder),
            "admin" => Ok(Role::Admin),
            "forwarder" => Ok(Role::Forwarder),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

/// Limits on a responder's rights. An empty list means "no limit".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Forest names the responder may act in.
    #[serde(default)]
    pub forests: Vec<String>,
    /// DNs of OUs (or containers) under which the responder may act.
    #[serde(default)]
    pub ous: Vec<String>,
    /// Actions the responder may request.
    #[serde(default)]
    pub actions: Vec<Action>,
}

impl Scope {
    pub fn is_unlimited(&self) -> bool {
        self.forests.is_empty() && self.ous.is_empty() && self.actions.is_empty()
    }
}

/// Someone signed in, or an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// As the ledger and audit trail name them: "user:alice", "token:siem".
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub scope: Scope,
    /// The person behind the credential (`people.name`): the same human
    /// whether signed in, on the CLI or through a token they own. `None`
    /// for service tokens, automation and a CLI run without a credential:
    /// they never approve.
    #[serde(default)]
    pub person: Option<String>,
}

/// What someone wants to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission<'a> {
    ReadIdentities,
    ReadJobs,
    /// Request `action` on the account `dn` in `forest`.
    RequestAction {
        action: Action,
        forest: &'a str,
        dn: &'a str,
    },
    /// Approve (or reject) someone else's request on a protected identity.
    Approve {
        action: Action,
        forest: &'a str,
        dn: &'a str,
        requested_by: &'a str,
        /// The person behind the request's credential, if any.
        requester_person: Option<&'a str>,
    },
    /// Manage people, tokens and configuration.
    Administer,
    /// Read detection alerts.
    ReadAlerts,
    /// Push events into the detection pipeline (forwarders, responders, admins).
    Ingest,
    /// Read the readiness report (coverage, gaps, fixes).
    ReadReadiness,
    /// Run a new readiness assessment now: it loads every DC and tenant, so
    /// responders and admins only.
    RefreshReadiness,
    /// Ask for one action on many accounts at once (mass containment). Needed
    /// besides `RequestAction` on each account, which is still checked one by one.
    RequestBulk {
        action: Action,
    },
    /// Pause, resume or cancel a bulk operation.
    ControlBulk,
    /// Request, approve, reject or undo actions at all: the role alone, checked before a
    /// request is even read, so a reader is refused the same way whatever it sends. The scope
    /// is checked per account afterwards (`RequestAction`, `Approve`, `RequestBulk`).
    Respond,
}

/// A refusal that names the missing right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{principal} ({role}) may not {wanted}: {missing}")]
pub struct Refusal {
    pub principal: String,
    pub role: Role,
    pub wanted: String,
    /// The right that is missing, in words.
    pub missing: String,
}

/// What a permission is, in words, for a refusal.
fn permission_words(wanted: &Permission<'_>) -> String {
    match wanted {
        Permission::ReadIdentities => "read identities".into(),
        Permission::ReadJobs => "read jobs".into(),
        Permission::RequestAction { action, dn, .. } => format!("request {action} on {dn}"),
        Permission::Approve { action, dn, .. } => format!("approve {action} on {dn}"),
        Permission::Administer => "administer riposte".into(),
        Permission::ReadAlerts => "read alerts".into(),
        Permission::Ingest => "send events for detection".into(),
        Permission::ReadReadiness => "read the readiness report".into(),
        Permission::RefreshReadiness => "run a readiness assessment".into(),
        Permission::RequestBulk { action } => format!("request {action} on many accounts"),
        Permission::ControlBulk => "pause, resume or cancel a bulk operation".into(),
        Permission::Respond => "request or decide actions".into(),
    }
}

/// Decides whether `principal` may do `wanted`.
pub fn authorize(principal: &Principal, wanted: &Permission<'_>) -> Result<(), Refusal> {
    let refuse = |what: String, missing: String| {
        Err(Refusal {
            principal: principal.name.clone(),
            role: principal.role,
            wanted: what,
            missing,
        })
    };
    // A forwarder feeds events and does nothing else: what a stolen forwarder
    // credential gives is the right to send events, which automation trusts
    // only as far as its rules say (`inputs`) and the forwarder's scope allows.
    if principal.role == Role::Forwarder {
        return match wanted {
            Permission::Ingest => Ok(()),
            other => refuse(
                permission_words(other),
                "a role other than forwarder (forwarders may only send events)".into(),
            ),
        };
    }
    match wanted {
        Permission::ReadIdentities
        | Permission::ReadJobs
        | Permission::ReadAlerts
        | Permission::ReadReadiness => Ok(()),
        Permission::RefreshReadiness => match principal.role {
            Role::Admin | Role::Responder => Ok(()),
            Role::Reader | Role::Forwarder => refuse(
                "run a readiness assessment".into(),
                "the responder role (readers may only look at the last report)".into(),
            ),
        },
        Permission::Ingest => match principal.role {
            Role::Admin | Role::Responder | Role::Forwarder => Ok(()),
            Role::Reader => refuse(
                "send events for detection".into(),
                "the forwarder or responder role (readers may only look)".into(),
            ),
        },
        Permission::RequestBulk { action } => match principal.role {
            Role::Admin => Ok(()),
            Role::Responder
                if principal.scope.actions.is_empty()
                    || principal.scope.actions.contains(action) =>
            {
                Ok(())
            }
            Role::Responder => refuse(
                format!("request {action} on many accounts"),
                format!("the {action} action in the responder's scope"),
            ),
            Role::Reader | Role::Forwarder => refuse(
                format!("request {action} on many accounts"),
                "the responder role (readers may only look)".into(),
            ),
        },
        Permission::Respond => match principal.role {
            Role::Admin | Role::Responder => Ok(()),
            Role::Reader | Role::Forwarder => refuse(
                "request or decide actions".into(),
                "the responder role (readers may only look)".into(),
            ),
        },
        Permission::ControlBulk => match principal.role {
            Role::Admin | Role::Responder => Ok(()),
            Role::Reader | Role::Forwarder => refuse(
                "pause, resume or cancel a bulk operation".into(),
                "the responder role (readers may only look)".into(),
            ),
        },
        Permission::Administer => match principal.role {
            Role::Admin => Ok(()),
            _ => refuse("administer riposte".into(), "the admin role".into()),
        },
        Permission::RequestAction { action, forest, dn }
        | Permission::Approve {
            action, forest, dn, ..
        } => {
            let verb = if matches!(wanted, Permission::Approve { .. }) {
                "approve"
            } else {
                "request"
            };
            let what = format!("{verb} {action} on {dn}");
            if matches!(principal.role, Role::Reader | Role::Forwarder) {
                return refuse(what, "the responder role (readers may only look)".into());
            }
            if let Permission::Approve {
                requested_by,
                requester_person,
                ..
            } = wanted
                && let Err(missing) =
                    crate::safeguards::second_person(principal, requested_by, *requester_person)
            {
                return refuse(what, missing);
            }
            if principal.role == Role::Admin {
                return Ok(());
            }
            let scope = &principal.scope;
            if !scope.actions.is_empty() && !scope.actions.contains(action) {
                return refuse(
                    what,
                    format!("the {action} action in the responder's scope"),
                );
            }
            if !scope.forests.is_empty()
                && !scope.forests.iter().any(|f| f.eq_ignore_ascii_case(forest))
            {
                return refuse(what, format!("forest {forest} in the responder's scope"));
            }
            if !scope.ous.is_empty() && !scope.ous.iter().any(|ou| crate::dn::within(dn, ou)) {
                return refuse(
                    what,
                    format!("an OU containing {dn} in the responder's scope"),
                );
            }
            Ok(())
        }
    }
}

/// A bulk operation as the policy judges control of it (pause, resume,
/// cancel, undo, approve, reject).
#[derive(Debug, Clone, Copy)]
pub struct BulkControl<'a> {
    pub action: Action,
    pub requested_by: &'a str,
    pub requester_person: Option<&'a str>,
    /// Each child's (forest, DN); the DN is empty for a cloud-only identity.
    pub children: &'a [(String, String)],
}

/// Whether `principal` may control a bulk operation: an admin always; a
/// responder only if they requested it (the same human, whatever the
/// credential) or if every child is inside their scope, so a responder
/// scoped to one forest cannot stop (or restart) another forest's response.
pub fn authorize_bulk_control(
    principal: &Principal,
    bulk: &BulkControl<'_>,
    what: &str,
) -> Result<(), Refusal> {
    authorize(principal, &Permission::ControlBulk).map_err(|r| Refusal {
        wanted: what.to_string(),
        ..r
    })?;
    if principal.role == Role::Admin {
        return Ok(());
    }
    let own = principal.name.eq_ignore_ascii_case(bulk.requested_by)
        || principal.person.as_deref().is_some_and(|p| {
            crate::safeguards::humans_behind(bulk.requested_by, bulk.requester_person)
                .contains(&p.trim().to_ascii_lowercase())
        });
    if own {
        return Ok(());
    }
    for (forest, dn) in bulk.children {
        if let Err(refusal) = authorize(
            principal,
            &Permission::RequestAction {
                action: bulk.action,
                forest,
                dn,
            },
        ) {
            return Err(Refusal {
                wanted: what.to_string(),
                missing: format!(
                    "every account of the bulk operation in the responder's scope (or being its requester); {} is outside it: {}",
                    if dn.is_empty() { forest } else { dn },
                    refusal.missing
                ),
                ..refusal
            });
        }
    }
    Ok(())
}

/// The actions `principal` may request on an account: what a page may offer.
pub fn permitted_actions(principal: &Principal, forest: &str, dn: &str) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|action| {
            authorize(
                principal,
                &Permission::RequestAction {
                    action: *action,
                    forest,
                    dn,
                },
            )
            .is_ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERNIE: &str = "CN=ernie,OU=Staff,DC=corp,DC=example,DC=test";

    fn who(role: Role, scope: Scope) -> Principal {
        Principal {
            name: format!("user:{role}"),
            role,
            scope,
            person: Some(role.to_string()),
        }
    }

    #[test]
    fn only_responders_and_admins_ingest_and_everyone_reads_alerts() {
        for role in [Role::Reader, Role::Responder, Role::Admin] {
            let p = who(role, Scope::default());
            assert!(authorize(&p, &Permission::ReadAlerts).is_ok());
            assert_eq!(
                authorize(&p, &Permission::Ingest).is_ok(),
                role != Role::Reader
            );
        }
        let refusal =
            authorize(&who(Role::Reader, Scope::default()), &Permission::Ingest).unwrap_err();
        assert!(refusal.missing.contains("responder"), "{refusal}");
    }

    #[test]
    fn forwarders_only_send_events() {
        let fwd = who(Role::Forwarder, Scope::default());
        assert!(authorize(&fwd, &Permission::Ingest).is_ok());
        let dn = ERNIE;
        for wanted in [
            Permission::ReadIdentities,
            Permission::ReadJobs,
            Permission::ReadAlerts,
            Permission::ReadReadiness,
            Permission::RefreshReadiness,
            Permission::Administer,
            Permission::Respond,
            Permission::ControlBulk,
            Permission::RequestBulk {
                action: Action::Unlock,
            },
            Permission::RequestAction {
                action: Action::Unlock,
                forest: "corp",
                dn,
            },
            Permission::Approve {
                action: Action::Unlock,
                forest: "corp",
                dn,
                requested_by: "automation:x",
                requester_person: None,
            },
        ] {
            let refusal = authorize(&fwd, &wanted).unwrap_err();
            assert!(refusal.missing.contains("forwarder"), "{refusal}");
        }
        assert_eq!("forwarder".parse::<Role>(), Ok(Role::Forwarder));
    }

    #[test]
    fn readers_look_and_never_act() {
        let reader = who(Role::Reader, Scope::default());
        assert!(authorize(&reader, &Permission::ReadIdentities).is_ok());
        let refusal = authorize(
            &reader,
            &Permission::RequestAction {
                action: Action::Disable,
                forest: "corp",
                dn: ERNIE,
            },
        )
        .unwrap_err();
        assert!(refusal.missing.contains("responder"), "{refusal}");
        assert!(permitted_actions(&reader, "corp", ERNIE).is_empty());
        assert!(authorize(&reader, &Permission::Administer).is_err());
        let refusal = authorize(&reader, &Permission::Respond).unwrap_err();
        assert!(refusal.missing.contains("responder"), "{refusal}");
        // A responder passes the role check whatever its scope; the scope is checked per account.
        let narrow = Scope {
            forests: vec!["fabrikam".into()],
            ..Scope::default()
        };
        assert!(authorize(&who(Role::Responder, narrow), &Permission::Respond).is_ok());
        assert!(authorize(&who(Role::Admin, Scope::default()), &Permission::Respond).is_ok());
    }

    #[test]
    fn responder_scopes_limit_forests_ous_and_actions() {
        let scoped = who(
            Role::Responder,
            Scope {
                forests: vec!["corp".into()],
                ous: vec!["OU=Staff,DC=corp,DC=example,DC=test".into()],
                actions: vec![Action::Disable, Action::Enable],
            },
        );
        assert!(
            authorize(
                &scoped,
                &Permission::RequestAction {
                    action: Action::Disable,
                    forest: "corp",
                    dn: ERNIE
                }
            )
            .is_ok()
        );
        let other_forest = authorize(
            &scoped,
            &Permission::RequestAction {
                action: Action::Disable,
                forest: "fabrikam",
                dn: ERNIE,
            },
        );
        assert!(
            other_forest
                .unwrap_err()
                .missing
                .contains("forest fabrikam")
        );
        let tier0 = "CN=admin,OU=Tier0,DC=corp,DC=example,DC=test";
        assert!(
            authorize(
                &scoped,
                &Permission::RequestAction {
                    action: Action::Disable,
                    forest: "corp",
                    dn: tier0
                }
            )
            .is_err()
        );
        // An OU name that only ends like the scope is not inside it.
        let lookalike = "CN=x,OU=NotStaff,DC=corp,DC=example,DC=test";
        assert!(
            authorize(
                &scoped,
                &Permission::RequestAction {
                    action: Action::Disable,
                    forest: "corp",
                    dn: lookalike
                }
            )
            .is_err()
        );
        // An OU named "Tier0,OU=Staff" at the domain root is not inside OU=Staff, whether the
        // directory escapes the '=' in it or not, or escapes the comma as hex; the string
        // suffix rule passed the first two. The same rule holds for approving.
        for outside in [
            "CN=x,OU=Tier0\\,OU=Staff,DC=corp,DC=example,DC=test",
            "CN=x,OU=Tier0\\2COU=Staff,DC=corp,DC=example,DC=test",
            "CN=x,OU=Tier0\\,OU\\3DStaff,DC=corp,DC=example,DC=test",
        ] {
            for wanted in [
                Permission::RequestAction {
                    action: Action::Disable,
                    forest: "corp",
                    dn: outside,
                },
                Permission::Approve {
                    action: Action::Disable,
                    forest: "corp",
                    dn: outside,
                    requested_by: "user:someone-else",
                    requester_person: None,
                },
            ] {
                assert!(authorize(&scoped, &wanted).is_err(), "{outside}");
            }
        }
        // Written differently, the same OU is still inside.
        assert!(
            authorize(
                &scoped,
                &Permission::Approve {
                    action: Action::Disable,
                    forest: "corp",
                    dn: "cn=ernie , ou = STAFF,dc=Corp,DC=example,DC=test",
                    requested_by: "user:someone-else",
                    requester_person: None,
                }
            )
            .is_ok()
        );
        assert_eq!(
            permitted_actions(&scoped, "corp", ERNIE),
            vec![Action::Disable, Action::Enable]
        );
        assert!(authorize(&scoped, &Permission::Administer).is_err());
    }

    #[test]
    fn bulk_needs_a_responder_whose_scope_has_the_action() {
        let reader = who(Role::Reader, Scope::default());
        let bulk = Permission::RequestBulk {
            action: Action::Disable,
        };
        assert!(authorize(&reader, &bulk).is_err());
        assert!(authorize(&reader, &Permission::ControlBulk).is_err());
        let responder = who(Role::Responder, Scope::default());
        assert!(authorize(&responder, &bulk).is_ok());
        assert!(authorize(&responder, &Permission::ControlBulk).is_ok());
        let unlock_only = who(
            Role::Responder,
            Scope {
                actions: vec![Action::Unlock],
                ..Scope::default()
            },
        );
        assert!(
            authorize(&unlock_only, &bulk)
                .unwrap_err()
                .missing
                .contains("disable")
        );
    }

    #[test]
    fn nobody_approves_their_own_request() {
        let admin = who(Role::Admin, Scope::default());
        let own = Permission::Approve {
            action: Action::Disable,
            forest: "corp",
            dn: ERNIE,
            requested_by: "user:admin",
            requester_person: None,
        };
        assert!(
            authorize(&admin, &own)
                .unwrap_err()
                .missing
                .contains("second person")
        );
        let other = Permission::Approve {
            action: Action::Disable,
            forest: "corp",
            dn: ERNIE,
            requested_by: "user:bob",
            requester_person: Some("bob"),
        };
        assert!(authorize(&admin, &other).is_ok());
        // The same human through another credential is still the requester.
        let through_a_token = Permission::Approve {
            action: Action::Disable,
            forest: "corp",
            dn: ERNIE,
            requested_by: "token:soar",
            requester_person: Some("admin"),
        };
        assert!(authorize(&admin, &through_a_token).is_err());
    }

    #[test]
    fn a_responder_controls_only_bulks_inside_their_scope_or_their_own() {
        let corp_bulk = vec![
            ("corp".to_string(), ERNIE.to_string()),
            (
                "corp".to_string(),
                "CN=bert,OU=Staff,DC=corp,DC=example,DC=test".to_string(),
            ),
        ];
        let bulk = BulkControl {
            action: Action::Disable,
            requested_by: "user:admin",
            requester_person: Some("admin"),
            children: &corp_bulk,
        };
        let fabrikam = who(
            Role::Responder,
            Scope {
                forests: vec!["fabrikam".into()],
                ..Scope::default()
            },
        );
        let refused = authorize_bulk_control(&fabrikam, &bulk, "pause bulk x").unwrap_err();
        assert!(refused.missing.contains("forest corp"), "{refused}");
        let corp = who(
            Role::Responder,
            Scope {
                forests: vec!["corp".into()],
                ..Scope::default()
            },
        );
        assert!(authorize_bulk_control(&corp, &bulk, "pause").is_ok());
        assert!(
            authorize_bulk_control(&who(Role::Admin, Scope::default()), &bulk, "pause").is_ok()
        );
        assert!(
            authorize_bulk_control(&who(Role::Reader, Scope::default()), &bulk, "pause").is_err()
        );
        // Their own bulk, requested through another credential of theirs.
        let mine = BulkControl {
            requested_by: "token:laptop",
            requester_person: Some("responder"),
            ..bulk
        };
        assert!(authorize_bulk_control(&fabrikam, &mine, "pause").is_ok());
    }
}
