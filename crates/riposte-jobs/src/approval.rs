//! What only a person may allow: a second person's decision on a job that
//! waits for approval (the one rule: `riposte_core::safeguards::second_person`,
//! through the policy), and automation's refusal to touch protected identities.

use riposte_core::containment::Identity;
use riposte_core::policy::{self, Permission, Principal};
use riposte_store::{Job, NewAuditRecord};
use serde_json::json;
use tracing::{error, warn};
use uuid::Uuid;

use crate::{ActionRequest, Runner, RunnerError};

impl Runner {
    /// Automation never acts on a protected identity (the action account,
    /// adminCount=1, RID 500, break-glass, listed): the refusal is recorded
    /// in the audit trail with its reason, and no job is created.
    pub(crate) async fn refuse_protected_automatically(
        &self,
        request: &ActionRequest,
        identity: &Identity,
    ) -> Result<(), RunnerError> {
        let Some(why) = self.identity_protection(identity) else {
            return Ok(());
        };
        let record = NewAuditRecord {
            actor: request.requested_by.clone(),
            source: request.source.clone(),
            remote_addr: request.remote_addr.clone(),
            event: "automation-refused".into(),
            target: Some(request.reference.clone()),
            job_id: None,
            result: "denied".into(),
            details: json!({ "action": request.action, "protected": why, "reason": request.reason }),
        };
        self.store.append(record).await?;
        warn!(reference = %request.reference, %why, "automation refused on a protected identity");
        Err(RunnerError::ProtectedFromAutomation(why))
    }

    /// A second person's decision on a job awaiting approval, checked by the
    /// policy (responder or admin, in scope, not the requester).
    pub async fn decide(
        &self,
        id: Uuid,
        approver: &Principal,
        source: &str,
        approve: bool,
        comment: &str,
    ) -> Result<Job, RunnerError> {
        let job = self
            .store
            .get(id)
            .await?
            .ok_or(RunnerError::NoSuchJob(id))?;
        if !job.awaiting_approval() {
            return Err(RunnerError::NotAwaitingApproval(id));
        }
        policy::authorize(
            approver,
            &Permission::Approve {
                action: job.action,
                forest: job.forest.as_deref().unwrap_or_default(),
                dn: job.target_dn.as_deref().unwrap_or_default(),
                requested_by: &job.requested_by,
                requester_person: job.requester_person.as_deref(),
            },
        )?;
        // An automatic job raised from events a credential fed cannot be approved
        // by that same credential.
        if riposte_core::safeguards::approver_fed_the_evidence(
            &approver.name,
            job.evidence_input.as_deref(),
        ) {
            return Err(RunnerError::Refused(policy::Refusal {
                principal: approver.name.clone(),
                role: approver.role,
                wanted: format!("approve {} on {}", job.action, job.target_ref),
                missing: format!(
                    "a second person who did not feed the events behind it ({} sent them)",
                    job.evidence_input.as_deref().unwrap_or_default()
                ),
            }));
        }
        let decided = self
            .store
            .decide_approval(id, &approver.name, approve, comment)
            .await?;
        let record = NewAuditRecord {
            actor: approver.name.clone(),
            source: source.to_string(),
            remote_addr: None,
            event: if approve { "approved" } else { "rejected" }.into(),
            target: Some(decided.target_ref.clone()),
            job_id: Some(id),
            result: "success".into(),
            details: json!({ "action": decided.action, "comment": comment, "requested_by": decided.requested_by }),
        };
        if let Err(e) = self.store.append(record).await {
            error!(job = %id, error = %e, "the approval decision could not be written to the audit trail");
        }
        if !approve {
            self.audit_outcome(&decided, None).await;
        }
        if approve {
            self.wake_workers();
        }
        Ok(decided)
    }
}
