//! Intake: a request, checked and written to the ledger as a job. The
//! reason is required; the policy's word on the requester is asked (and a
//! refusal audited); the containment plan, the safeguards (protected
//! identities, automation's circuit breaker) and a second person's approval
//! gate are decided here, once, for a single request and for each child of a
//! bulk one (crate::bulk). The job goes in with its request record in one
//! transaction, and an idempotency key that matches an earlier job gives
//! that job back.

use riposte_core::account::AccountState;
use riposte_core::containment::{self, Identity, NotApplicable, Step};
use riposte_core::policy::{self, Permission, Principal};
use riposte_core::safeguards;
use riposte_core::{Action, ActionOptions};
use riposte_store::{Created, Job, JobState, NewAuditRecord, NewJob};
use serde_json::json;
use time::OffsetDateTime;

use crate::execute::Completed;
use crate::{AUTOMATION, Runner, RunnerError, Target};

/// What someone asks for.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub reference: String,
    pub action: Action,
    pub options: ActionOptions,
    pub reason: String,
    pub requested_by: String,
    /// The person behind the requester's credential (`Principal::person`):
    /// what the second-person rule compares.
    pub requester_person: Option<String>,
    pub source: String,
    pub idempotency_key: Option<String>,
    /// Where the request came from on the network, for the audit trail.
    pub remote_addr: Option<String>,
    /// For automation: the input of the alert behind the request (`tail:corp`,
    /// `api:token:fwd`); kept with the job so whoever fed the events cannot approve it.
    pub evidence_input: Option<String>,
}

/// A request as recorded in the ledger.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub job: Job,
    /// The idempotency key matched an earlier job: this is that job.
    pub replayed: bool,
}

/// Every action says why it is taken (the reason is kept in the ledger).
pub(crate) fn require_reason(reason: &str) -> Result<(), RunnerError> {
    if reason.trim().is_empty() {
        return Err(RunnerError::MissingReason);
    }
    Ok(())
}

/// The steps `action` takes on `identity` (riposte-core::containment), and a
/// failed step for linked Entra accounts that could not be looked up, so
/// that an incomplete containment says so.
pub(crate) fn planned_steps(
    identity: &Identity,
    action: Action,
) -> Result<Vec<Step>, NotApplicable> {
    let mut steps = containment::plan(identity, action)?;
    if let Some(error) = &identity.cloud_error {
        steps.push(Step::Unresolved {
            what: "Entra ID accounts linked to this AD account".into(),
            error: error.clone(),
        });
    }
    Ok(steps)
}

impl Runner {
    /// Why a second person would have to approve this action on this
    /// account before anything is written, if they would: what a front end
    /// tells the requester before they confirm.
    pub fn approval_needed(
        &self,
        account: &AccountState,
        action: Action,
        options: ActionOptions,
    ) -> Option<String> {
        safeguards::approval_needed(&self.protection, account, action, options)
    }

    /// Why writes to this account need a second person, if they do.
    pub fn protection_reason(&self, account: &AccountState) -> Option<String> {
        self.protection.reason(account)
    }

    /// Why `identity` is protected (its AD account, or its Entra account
    /// when it has none), if it is.
    pub(crate) fn identity_protection(&self, identity: &Identity) -> Option<String> {
        match &identity.ad {
            Some(a) => self.protection.reason(a),
            None => self.protection.cloud_reason(&identity.reference()),
        }
    }

    /// Whether `principal` may make `request` on `target`, through the one
    /// policy; a refusal is itself written to the audit trail.
    pub async fn check_request(
        &self,
        principal: &Principal,
        request: &ActionRequest,
        target: &Target,
    ) -> Result<(), RunnerError> {
        let (forest, dn) = match target {
            Target::Identity(identity) => identity.location(),
            // Unresolved: only forest- and action-wide rights can be judged.
            Target::Unreachable { forest, .. } => {
                (forest.clone().unwrap_or_default(), String::new())
            }
        };
        let wanted = Permission::RequestAction {
            action: request.action,
            forest: &forest,
            dn: &dn,
        };
        let Err(refusal) = policy::authorize(principal, &wanted) else {
            return Ok(());
        };
        self.audit_refusal(
            principal,
            &request.source,
            request.remote_addr.clone(),
            &request.reference,
            json!({ "action": request.action, "role": principal.role, "missing_right": refusal.missing, "reason": request.reason }),
        )
        .await?;
        Err(refusal.into())
    }

    /// Appends the `request-refused` record of a refusal by the policy
    /// (of a request, a bulk request, or a bulk control) on `target`.
    pub(crate) async fn audit_refusal(
        &self,
        principal: &Principal,
        source: &str,
        remote_addr: Option<String>,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), RunnerError> {
        let record = NewAuditRecord {
            actor: principal.name.clone(),
            source: source.to_string(),
            remote_addr,
            event: "request-refused".into(),
            target: Some(target.to_string()),
            job_id: None,
            result: "denied".into(),
            details,
        };
        self.store.append(record).await?;
        Ok(())
    }

    /// Why automation must wait for a person: more automatic actions in the
    /// breaker's window than it allows.
    async fn circuit_breaker_reason(&self) -> Result<Option<String>, RunnerError> {
        let since = OffsetDateTime::now_utc()
            - time::Duration::minutes(i64::from(self.breaker.window_minutes));
        let recent = self
            .store
            .list(&riposte_store::JobFilter {
                source: Some(AUTOMATION.into()),
                since: Some(since),
                limit: Some(self.breaker.max_actions.saturating_add(1)),
                ..Default::default()
            })
            .await?;
        Ok(self.breaker.reason(recent.len()))
    }

    /// Records a request in the ledger as a queued job (or, when the
    /// directory could not be searched, as a failed one).
    pub async fn enqueue(
        &self,
        request: &ActionRequest,
        target: &Target,
    ) -> Result<Enqueued, RunnerError> {
        require_reason(&request.reason)?;
        let (forest, dn, sid, steps) = match target {
            Target::Identity(identity) => {
                let steps =
                    planned_steps(identity, request.action).map_err(RunnerError::NotApplicable)?;
                match (&identity.ad, identity.cloud.first()) {
                    (Some(a), _) => (
                        Some(a.forest.clone()),
                        Some(a.dn.clone()),
                        a.sid.as_ref().map(|s| s.to_string()),
                        steps,
                    ),
                    (None, Some(c)) => (Some(c.tenant.clone()), None, None, steps),
                    (None, None) => (None, None, None, steps),
                }
            }
            Target::Unreachable { forest, .. } => (forest.clone(), None, None, Vec::new()),
        };
        if request.source == AUTOMATION
            && let Target::Identity(identity) = target
        {
            self.refuse_protected_automatically(request, identity)
                .await?;
        }
        let breaker = if request.source == AUTOMATION {
            self.circuit_breaker_reason().await?
        } else {
            None
        };
        // The request record goes in with the job, in one transaction (the
        // store sets its job_id): no job is ever in the ledger without it.
        let requested = NewAuditRecord {
            actor: request.requested_by.clone(),
            source: request.source.clone(),
            remote_addr: request.remote_addr.clone(),
            event: "action-requested".into(),
            target: Some(request.reference.clone()),
            job_id: None,
            result: "success".into(),
            details: json!({
                "action": request.action,
                "reason": request.reason,
                "dn": dn,
            }),
        };
        let created = self
            .store
            .create_job(
                NewJob {
                    requested_by: request.requested_by.clone(),
                    requester_person: request.requester_person.clone(),
                    source: request.source.clone(),
                    reason: request.reason.clone(),
                    action: request.action,
                    options: request.options,
                    target_ref: request.reference.clone(),
                    forest,
                    target_dn: dn,
                    target_sid: sid,
                    idempotency_key: request.idempotency_key.clone(),
                    approval_required: match target {
                        Target::Identity(identity) => match &identity.ad {
                            Some(a) => safeguards::approval_needed(
                                &self.protection,
                                a,
                                request.action,
                                request.options,
                            ),
                            None => self.protection.cloud_reason(&identity.reference()),
                        }
                        .or(breaker),
                        Target::Unreachable { .. } => None,
                    },
                    steps,
                    evidence_input: request.evidence_input.clone(),
                },
                requested,
            )
            .await?;
        let job = match created {
            Created::Existing(job) => {
                return Ok(Enqueued {
                    job,
                    replayed: true,
                });
            }
            Created::New(job) => job,
        };
        riposte_core::failpoint::hit("after-create-job").await;
        if let Target::Unreachable { message, .. } = target {
            let message = format!(
                "could not look up {} because the directory is unreachable: {message}",
                request.reference
            );
            let job = self.finish_unrun(&job, &message).await?;
            return Ok(Enqueued {
                job,
                replayed: false,
            });
        }
        self.wake_workers();
        Ok(Enqueued {
            job,
            replayed: false,
        })
    }

    /// Resolves, records, runs and finishes one action, here and now.
    pub async fn submit(&self, request: ActionRequest) -> Result<Completed, RunnerError> {
        let target = self.resolve_target(&request.reference).await?;
        self.submit_target(request, &target).await
    }

    /// [`submit`](Runner::submit) after the policy's word on `principal` (the
    /// CLI's path: a token's role and scope hold on the CLI as on the API).
    pub async fn submit_as(
        &self,
        principal: &Principal,
        request: ActionRequest,
    ) -> Result<Completed, RunnerError> {
        let target = self.resolve_target(&request.reference).await?;
        self.check_request(principal, &request, &target).await?;
        self.submit_target(request, &target).await
    }

    async fn submit_target(
        &self,
        request: ActionRequest,
        target: &Target,
    ) -> Result<Completed, RunnerError> {
        let enqueued = self.enqueue(&request, target).await?;
        if enqueued.replayed
            || enqueued.job.state != JobState::Queued
            || enqueued.job.awaiting_approval()
        {
            return Ok(Completed {
                job: enqueued.job,
                new_password: None,
                replayed: enqueued.replayed,
            });
        }
        self.claim_and_run(enqueued.job.id, Some(enqueued.job))
            .await
    }
}
