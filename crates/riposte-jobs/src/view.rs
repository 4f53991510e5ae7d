//! How jobs and accounts look to the outside (CLI --json, the API): one
//! shape, built in one place.

use riposte_core::account::AccountState;
use riposte_core::cloud::CloudAccount;
use riposte_core::containment::{self, Identity, NotApplicable, Step};
use riposte_core::outcome::{self, Assessment};
use riposte_core::{Action, ActionOptions, rights, time as adtime, uac};
use riposte_store::{Job, JobEvent};
use serde_json::{Value, json};

/// What `action` would do to this AD account now, judged from its state.
fn ad_expectation(action: Action, account: &AccountState) -> (&'static str, String) {
    {
        {
            let assessment = outcome::assess_before(action, ActionOptions::default(), account);
            let clears =
                matches!(assessment, Assessment::NeedsWrite { clear_flags } if clear_flags != 0);
            let missing = rights::missing_rights(&rights::required_rights(action, clears), account);
            let (word, why) = match assessment {
                Assessment::AlreadyInForce => ("already", "already in that state".to_string()),
                Assessment::WouldBeIneffective { flags } => (
                    "ineffective",
                    format!(
                        "AD would ignore it: {} set; offer --clear-blocking-flags",
                        flags.join(", ")
                    ),
                ),
                Assessment::NeedsWrite { .. } if !missing.is_empty() => (
                    "denied",
                    format!(
                        "the action account lacks {}",
                        missing
                            .iter()
                            .map(|r| r.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                Assessment::NeedsWrite { .. } if action == Action::SetPassword => (
                    "available",
                    "needs the Reset Password right, which only the write itself can prove"
                        .to_string(),
                ),
                Assessment::NeedsWrite { .. } => ("available", action.describe().to_string()),
            };
            (word, why)
        }
    }
}

/// What each action would do to this identity now, per directory: the
/// steps it would take (riposte-core::containment) and what each directory's
/// state says about them.
pub fn action_preview(identity: &Identity) -> Vec<(Action, &'static str, String)> {
    Action::ALL
        .into_iter()
        .map(|action| match containment::plan(identity, action) {
            Err(NotApplicable(why)) => (action, "not-applicable", why),
            Ok(steps) => {
                let parts: Vec<(&'static str, String)> = steps
                    .iter()
                    .map(|step| match step {
                        Step::Ad { action, .. } => match &identity.ad {
                            Some(ad) => ad_expectation(*action, ad),
                            None => ("failed", "no AD account".to_string()),
                        },
                        Step::Cloud { id, action, .. } => {
                            match identity.cloud.iter().find(|c| &c.id == id) {
                                Some(c) => match outcome::assess_cloud_before(*action, c) {
                                    Some(v) => {
                                        (v.outcome.as_str(), format!("Entra: {}", v.message))
                                    }
                                    None => (
                                        "available",
                                        format!("Entra: {action} ({})", action.permission()),
                                    ),
                                },
                                None => ("failed", "the Entra account went missing".to_string()),
                            }
                        }
                        Step::Unresolved { what, error } => ("failed", format!("{what}: {error}")),
                    })
                    .collect();
                let word = parts.first().map(|(w, _)| *w).unwrap_or("available");
                let why = parts
                    .iter()
                    .map(|(_, why)| why.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                (action, word, why)
            }
        })
        .collect()
}

pub fn must_change_text(account: &AccountState) -> String {
    let blockers = account.forced_reset_blockers();
    if account.password_change_required() {
        "in force (msDS-User-Account-Control-Computed has PASSWORD_EXPIRED)".into()
    } else if account.password_change_requested() && !blockers.is_empty() {
        format!(
            "requested (pwdLastSet=0) but NOT in force: {} set",
            blockers.join(", ")
        )
    } else if !blockers.is_empty() {
        format!(
            "not in force; a forced reset would be ignored: {} set",
            blockers.join(", ")
        )
    } else {
        "not in force".into()
    }
}

fn ad_account(account: &AccountState) -> Value {
    json!({
        "reference": account.reference(),
        "forest": account.forest,
        "dn": account.dn,
        "sid": account.sid.as_ref().map(|s| s.to_string()),
        "object_guid": account.guid,
        "sam_account_name": account.sam_account_name,
        "user_principal_name": account.user_principal_name,
        "display_name": account.display_name,
        "enabled": account.enabled(),
        "locked": account.locked(),
        "must_change_password": {
            "in_force": account.password_change_required(),
            "requested": account.password_change_requested(),
            "explanation": must_change_text(account),
        },
        "forced_reset_blockers": account.forced_reset_blockers(),
        "protected": account.admin_count,
        "user_account_control": account.user_account_control,
        "user_account_control_flags": uac::flag_names(account.user_account_control),
        "uac_computed_flags": uac::flag_names(account.uac_computed),
        "pwd_last_set": account.pwd_last_set,
        "action_account_may_write": account.writable_attributes,
        "replication_metadata": account.metadata,
    })
}

fn cloud_account(account: &CloudAccount) -> Value {
    json!({
        "reference": account.reference(),
        "tenant": account.tenant,
        "id": account.id,
        "user_principal_name": account.user_principal_name,
        "mail": account.mail,
        "display_name": account.display_name,
        "user_type": account.user_type,
        "kind": account.kind(),
        "enabled": account.account_enabled,
        "synced_from_ad": account.synced,
        "on_premises_sid": account.on_premises_sid,
        "sign_in_sessions_valid_from": account.sessions_valid_from,
        "force_change_password_next_sign_in": account.force_change_password,
    })
}

/// An identity: its kind, each of its accounts, what each action would do
/// now, and (for a signed-in principal) which actions they may request. The
/// AD account's fields are also at the top level, where they always were.
pub fn identity(identity: &Identity, permitted: Option<&[Action]>) -> Value {
    let mut value = match &identity.ad {
        Some(ad) => ad_account(ad),
        None => json!({}),
    };
    value["reference"] = json!(identity.reference());
    value["kind"] = json!(identity.kind);
    value["ad"] = identity.ad.as_ref().map(ad_account).unwrap_or(Value::Null);
    value["entra"] = json!(identity.cloud.iter().map(cloud_account).collect::<Vec<_>>());
    if let Some(error) = &identity.cloud_error {
        value["entra_error"] = json!(error);
    }
    if identity.ad.is_none()
        && let Some(c) = identity.cloud.first()
    {
        value["display_name"] = json!(c.display_name);
        value["enabled"] = json!(c.account_enabled);
    }
    value["actions"] = json!(
        action_preview(identity)
            .iter()
            .map(|(a, word, why)| json!({"action": a.as_str(), "expected": word, "why": why}))
            .collect::<Vec<_>>()
    );
    if let Some(permitted) = permitted {
        value["permitted_actions"] = json!(permitted);
    }
    value
}

/// The actions `principal` may request on `identity`: allowed by the policy
/// and meaningful for the identity's kind.
pub fn permitted_actions(
    principal: &riposte_core::policy::Principal,
    identity: &Identity,
) -> Vec<Action> {
    let (forest, dn) = identity.location();
    riposte_core::policy::permitted_actions(principal, &forest, &dn)
        .into_iter()
        .filter(|a| containment::plan(identity, *a).is_ok())
        .collect()
}

/// A job with its target, outcome, evidence and timeline.
pub fn job(job: &Job, events: &[JobEvent]) -> Value {
    json!({
        "job_id": job.id,
        "action": job.action,
        "target": {
            "reference": job.target_ref,
            "forest": job.forest,
            "dn": job.target_dn,
            "sid": job.target_sid,
        },
        "outcome": job.outcome,
        // The one rule behind undo (riposte_core::outcome::changed_something).
        "changed_something": job.changed_something(),
        "message": job.message,
        "reason": job.reason,
        "requested_by": job.requested_by,
        "requester_person": job.requester_person,
        "source": job.source,
        "evidence_input": job.evidence_input,
        "state": job.state,
        "approval": job.approval,
        "approval_reason": job.approval_reason,
        "decided_by": job.decided_by,
        "options": job.options,
        "created_at": adtime::rfc3339(job.created_at),
        "finished_at": job.finished_at.map(adtime::rfc3339),
        "evidence": job.evidence,
        "events": events,
    })
}

/// A bulk operation as the CLI (--json), the API and the portal show it:
/// the parent record, its counts from the children, what was left out, and
/// (when given) each child in short.
pub fn bulk(bulk: &riposte_store::BulkOperation, children: Option<&[Job]>) -> Value {
    let done = bulk.counts.finished;
    let mut out = json!({
        "bulk_id": bulk.id,
        "created_at": adtime::rfc3339(bulk.created_at),
        "updated_at": adtime::rfc3339(bulk.updated_at),
        "finished_at": bulk.finished_at.map(adtime::rfc3339),
        "action": bulk.action,
        "selector": { "kind": bulk.selector_kind, "value": bulk.selector_value },
        "requested_by": bulk.requested_by,
        "requester_person": bulk.requester_person,
        "source": bulk.source,
        "reason": bulk.reason,
        "state": bulk.state,
        "undo_of": bulk.undo_of,
        "awaiting_approval": riposte_store::bulk_awaiting_approval(bulk),
        "approval": bulk.approval,
        "approval_reason": bulk.approval_reason,
        "decided_by": bulk.decided_by,
        "counts": bulk.counts,
        "progress": if bulk.counts.total == 0 { 1.0 } else { done as f64 / bulk.counts.total as f64 },
        "left_out": bulk.skipped,
        "links": {
            "self": format!("/api/v1/bulk/{}", bulk.id),
            "jobs": format!("/api/v1/jobs?bulk={}", bulk.id),
        },
    });
    if let Some(children) = children {
        out["jobs"] = children
            .iter()
            .map(|j| {
                json!({
                    "job_id": j.id, "target": j.target_ref, "dn": j.target_dn, "state": j.state,
                    "outcome": j.outcome, "message": j.message,
                })
            })
            .collect();
    }
    out
}
