//! How jobs and accounts look to the outside (CLI --json, the API): one
//! shape, built in one place.

use riposte_core::account::AccountState;
use riposte_core::outcome::{self, Assessment};
use riposte_core::{Action, ActionOptions, rights, time as adtime, uac};
use riposte_store::{Job, JobEvent};
use serde_json::{Value, json};

/// What each action would do to this account now, judged from its state.
pub fn action_preview(account: &AccountState) -> Vec<(Action, &'static str, String)> {
    Action::ALL
        .into_iter()
        .map(|action| {
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
            (action, word, why)
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

/// An account's state, what each action would do now, and (for a signed-in
/// principal) which actions they may request.
pub fn account(account: &AccountState, permitted: Option<&[Action]>) -> Value {
    let preview = action_preview(account);
    let mut value = json!({
            "reference": account.reference(),
            "kind": "ad-only",
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
            "actions": preview.iter().map(|(a, word, why)| json!({"action": a.as_str(), "expected": word, "why": why})).collect::<Vec<_>>(),
    });
    if let Some(permitted) = permitted {
        value["permitted_actions"] = json!(permitted);
    }
    value
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
        "message": job.message,
        "reason": job.reason,
        "requested_by": job.requested_by,
        "source": job.source,
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
