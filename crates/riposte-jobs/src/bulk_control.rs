//! Control of a bulk operation once recorded: pause, resume, cancel, and the
//! second person's decision on a bulk that waits for approval. Every path
//! (CLI, API, portal) comes here, and here the caller's scope is checked
//! against the bulk's children ([`policy::authorize_bulk_control`]): a
//! responder scoped to one forest cannot stop, restart or approve another
//! forest's response.

use riposte_core::policy::{self, BulkControl, Principal};
use riposte_core::safeguards;
use riposte_store::{BulkOperation, BulkState, JobState, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::bulk::bulk_record;
use crate::{Runner, RunnerError};

impl Runner {
    /// Whether `principal` may control `bulk` (`verb`: pause, resume, ...):
    /// the role, then the scope against every child, unless they requested
    /// it. A refusal is audited.
    pub(crate) async fn check_bulk_control(
        &self,
        principal: &Principal,
        bulk: &BulkOperation,
        verb: &str,
        source: &str,
    ) -> Result<(), RunnerError> {
        let children: Vec<(String, String)> = self
            .store
            .bulk_jobs(bulk.id)
            .await?
            .into_iter()
            .map(|j| {
                (
                    j.forest.unwrap_or_default(),
                    j.target_dn.unwrap_or_default(),
                )
            })
            .collect();
        let wanted = BulkControl {
            action: bulk.action,
            requested_by: &bulk.requested_by,
            requester_person: bulk.requester_person.as_deref(),
            children: &children,
        };
        let what = format!("{verb} bulk operation {}", bulk.id);
        let Err(refusal) = policy::authorize_bulk_control(principal, &wanted, &what) else {
            return Ok(());
        };
        self.refused(principal, bulk.id, verb, source, &refusal.missing)
            .await?;
        Err(refusal.into())
    }

    /// Appends the audit record of a refused bulk control.
    async fn refused(
        &self,
        principal: &Principal,
        id: Uuid,
        verb: &str,
        source: &str,
        missing: &str,
    ) -> Result<(), RunnerError> {
        self.audit_refusal(
            principal,
            source,
            None,
            &format!("bulk:{id}"),
            json!({ "bulk": true, "control": verb, "role": principal.role, "missing_right": missing }),
        )
        .await
    }

    async fn load_bulk(&self, id: Uuid) -> Result<BulkOperation, RunnerError> {
        self.store
            .get_bulk(id)
            .await?
            .ok_or(RunnerError::NoSuchBulk(id.to_string()))
    }

    /// Pause: no new child starts (here or in any process); running ones finish.
    pub async fn pause_bulk(
        &self,
        principal: &Principal,
        id: Uuid,
        source: &str,
    ) -> Result<BulkOperation, RunnerError> {
        self.control_bulk(
            principal,
            id,
            source,
            &[BulkState::Running],
            BulkState::Paused,
            "bulk-paused",
        )
        .await
    }

    /// Resume a paused bulk: its queued children may be claimed again. A
    /// bulk waiting for approval is not resumed: it must be approved.
    pub async fn resume_bulk(
        &self,
        principal: &Principal,
        id: Uuid,
        source: &str,
    ) -> Result<BulkOperation, RunnerError> {
        let bulk = self
            .control_bulk(
                principal,
                id,
                source,
                &[BulkState::Paused],
                BulkState::Running,
                "bulk-resumed",
            )
            .await?;
        self.wake_workers();
        Ok(bulk)
    }

    /// Cancel: no new child starts; queued children end now as failed
    /// ("cancelled before it started"); running ones finish normally.
    pub async fn cancel_bulk(
        &self,
        principal: &Principal,
        id: Uuid,
        source: &str,
    ) -> Result<BulkOperation, RunnerError> {
        let bulk = self
            .control_bulk(
                principal,
                id,
                source,
                &[BulkState::Running, BulkState::Paused],
                BulkState::Cancelled,
                "bulk-cancelled",
            )
            .await?;
        let message = format!(
            "cancelled before it started: bulk operation {id} was cancelled by {}; nothing was written",
            principal.name
        );
        self.finish_queued_children(id, &message).await?;
        Ok(self.store.get_bulk(id).await?.unwrap_or(bulk))
    }

    /// A second person's decision on a bulk waiting for approval: approved,
    /// it runs (the worker starts its children); rejected, it ends like a
    /// cancel, with nothing written. The approver must be a person other
    /// than its requester ([`safeguards::second_person`]) and may control
    /// every child (their scope).
    pub async fn decide_bulk(
        &self,
        principal: &Principal,
        id: Uuid,
        approve: bool,
        comment: &str,
        source: &str,
    ) -> Result<BulkOperation, RunnerError> {
        let verb = if approve { "approve" } else { "reject" };
        let bulk = self.load_bulk(id).await?;
        self.check_bulk_control(principal, &bulk, verb, source)
            .await?;
        if let Err(missing) = safeguards::second_person(
            principal,
            &bulk.requested_by,
            bulk.requester_person.as_deref(),
        ) {
            self.refused(principal, id, verb, source, &missing).await?;
            return Err(policy::Refusal {
                principal: principal.name.clone(),
                role: principal.role,
                wanted: format!("{verb} bulk operation {id}"),
                missing,
            }
            .into());
        }
        let mut record = bulk_record(
            id,
            &principal.name,
            source,
            if approve {
                "bulk-approved"
            } else {
                "bulk-rejected"
            },
        );
        record.details = json!({ "comment": comment, "requested_by": bulk.requested_by });
        let decided = self
            .store
            .decide_bulk_approval(id, &principal.name, approve, record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => RunnerError::BulkConflict(m),
                other => other.into(),
            })?;
        if approve {
            self.wake_workers();
            return Ok(decided);
        }
        let message = format!(
            "rejected before it started: bulk operation {id} was rejected by {}; nothing was written",
            principal.name
        );
        self.finish_queued_children(id, &message).await?;
        Ok(self.store.get_bulk(id).await?.unwrap_or(decided))
    }

    /// Ends every queued child of a stopped bulk as failed, with `message`.
    async fn finish_queued_children(&self, id: Uuid, message: &str) -> Result<(), RunnerError> {
        for job in self.store.bulk_jobs(id).await? {
            if job.state != JobState::Queued {
                continue;
            }
            match self.finish_unrun(&job, message).await {
                Ok(_) => {}
                // Claimed just before the cancel: it finishes normally.
                Err(StoreError::WrongState { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn control_bulk(
        &self,
        principal: &Principal,
        id: Uuid,
        source: &str,
        from: &[BulkState],
        to: BulkState,
        event: &str,
    ) -> Result<BulkOperation, RunnerError> {
        let bulk = self.load_bulk(id).await?;
        let verb = match to {
            BulkState::Paused => "pause",
            BulkState::Running => "resume",
            _ => "cancel",
        };
        self.check_bulk_control(principal, &bulk, verb, source)
            .await?;
        // The change and its record in one transaction: if the record
        // cannot be written, the bulk keeps its state and the caller hears.
        let record = bulk_record(id, &principal.name, source, event);
        let bulk = self
            .store
            .set_bulk_state_recorded(id, from, to, record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => RunnerError::BulkConflict(m),
                other => other.into(),
            })?;
        Ok(bulk)
    }
}
