//! Execute: a claimed job, run here to its final outcome. Each step of the
//! job's plan runs against its directory (AD through
//! riposte-core::executor: phase recorded, compare-and-swap write, read-back
//! by riposte-core::outcome; Entra through the cloud directory), each phase
//! recorded in the ledger before it happens, the lease renewed while a step
//! takes long. The job's outcome is the weakest of its steps', finished
//! with its `action-outcome` record in one transaction. A job the ledger
//! cannot record is left to recovery (crate::recover), never failed.

mod lease;

use std::time::Duration;

use riposte_core::Outcome;
use riposte_core::cloud::CloudAction;
use riposte_core::containment::Step;
use riposte_core::evidence::{Evidence, StepRecord};
use riposte_core::executor::{self, Phase, ProgressSink};
use riposte_store::{Finish, Job, NewAuditRecord, StoreError};
use secrecy::SecretString;
use serde_json::json;
use tracing::{error, info};
use uuid::Uuid;

use crate::{Runner, RunnerError, SYSTEM};
use lease::{LeaseHeartbeat, LedgerSink};

/// A finished job, and the new password for set-password (shown once).
#[derive(Debug)]
pub struct Completed {
    pub job: Job,
    pub new_password: Option<SecretString>,
    /// The idempotency key matched an earlier job: nothing new was done.
    pub replayed: bool,
}

impl Runner {
    /// Claims one queued job and runs it here; if another worker holds it,
    /// reports it as it stands.
    pub async fn run_job(&self, id: Uuid) -> Result<Completed, RunnerError> {
        self.claim_and_run(id, None).await
    }

    /// Claims the oldest queued job and runs it; `None` when the queue is empty.
    pub async fn run_next(&self) -> Result<Option<Completed>, RunnerError> {
        match self
            .store
            .claim_next(self.worker.as_str(), self.lease)
            .await?
        {
            Some(job) => self.run_claimed(job, None, false, None).await.map(Some),
            None => Ok(None),
        }
    }

    /// Claims job `id` and runs it here; if another worker holds it, reports
    /// it as it stands. `known` is the job as last seen, reported if the
    /// ledger no longer gives it back.
    pub(crate) async fn claim_and_run(
        &self,
        id: Uuid,
        known: Option<Job>,
    ) -> Result<Completed, RunnerError> {
        let claimed = self
            .store
            .claim(id, self.worker.as_str(), self.lease)
            .await?;
        let job = match (self.store.get(id).await?, known) {
            (Some(job), _) | (None, Some(job)) => job,
            (None, None) => return Err(RunnerError::NoSuchJob(id)),
        };
        if !claimed {
            // Another worker took it: report the job as it stands.
            return Ok(Completed {
                job,
                new_password: None,
                replayed: false,
            });
        }
        self.run_claimed(job, None, false, None).await
    }

    /// Waits until a job changed in the ledger since the last wait (see
    /// [`Runner::with_queue_notifications`]), or `poll` passes: the safety
    /// net for a lost signal, or processes that share a SQLite file.
    pub async fn wait_for_work(&self, poll: Duration) {
        match (&self.queued, &self.changes) {
            (Some(notify), Some(changes)) => {
                let mut changes = changes.lock().await;
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = changes.changed(None, poll) => {}
                }
                // The caller looks at the ledger next: it shows these.
                changes.skip_pending();
            }
            (Some(notify), None) => {
                let _ = tokio::time::timeout(poll, notify.notified()).await;
            }
            _ => tokio::time::sleep(poll).await,
        }
    }

    /// Tells a worker waiting in [`Runner::wait_for_work`] that a job may be
    /// claimed (queued, approved, or its bulk resumed).
    pub(crate) fn wake_workers(&self) {
        if let Some(notify) = &self.queued {
            notify.notify_one();
        }
    }

    /// Runs a job this worker holds, to its final outcome.
    pub(crate) async fn run_claimed(
        &self,
        job: Job,
        preferred_dc: Option<String>,
        resumed_after_write: bool,
        recovered_from: Option<&str>,
    ) -> Result<Completed, RunnerError> {
        // Jobs from before steps were recorded name one AD account.
        let steps = match (&job.steps[..], &job.forest, &job.target_dn) {
            ([], Some(forest), Some(dn)) => vec![Step::Ad {
                forest: forest.clone(),
                dn: dn.clone(),
                action: job.action,
            }],
            _ => job.steps.clone(),
        };
        let sink = LedgerSink::new(
            self.store.as_ref(),
            job.id,
            self.worker.as_str(),
            self.lease,
        );
        // Renews the lease while a step takes long (a slow DC, a failpoint);
        // stops when this function returns, however it returns.
        let _heartbeat = LeaseHeartbeat::start(
            self.store.clone(),
            job.id,
            self.worker.as_str().to_string(),
            self.lease,
        );
        let mut records: Vec<StepRecord> = Vec::new();
        let mut ad_report: Option<executor::Report> = None;
        for step in &steps {
            let record = match step {
                Step::Ad { forest, dn, action } => {
                    let request = executor::Request {
                        forest: forest.clone(),
                        dn: dn.clone(),
                        action: *action,
                        options: job.options,
                        preferred_dc: preferred_dc.clone(),
                        resumed_after_write,
                    };
                    let report = executor::execute(self.directory.as_ref(), &request, &sink).await;
                    let record = StepRecord {
                        step: step.clone(),
                        outcome: report.outcome,
                        message: report.message.clone(),
                        details: json!(report.evidence),
                    };
                    ad_report = Some(report);
                    record
                }
                Step::Cloud {
                    tenant,
                    id,
                    upn,
                    action,
                } => {
                    let (outcome, message, details) = self
                        .run_cloud_step(tenant, id, upn, *action, job.options.with_mfa, &sink)
                        .await;
                    StepRecord {
                        step: step.clone(),
                        outcome,
                        message,
                        details,
                    }
                }
                Step::Unresolved { what, error } => StepRecord {
                    step: step.clone(),
                    outcome: Outcome::Failed,
                    message: format!(
                        "{what} could not be checked, so containment may be incomplete: {error}"
                    ),
                    details: json!(null),
                },
            };
            records.push(record);
            if let Some(refused) = sink.take_unwritable() {
                // The ledger leads: the phase was not recorded, so its step
                // was not taken, and a job that merely could not be recorded
                // is not failed. It stays running under this worker, and the
                // sweep resumes it once the ledger takes writes again.
                return Err(self.leave(job.id, refused));
            }
        }
        let JobResult {
            outcome,
            message,
            evidence,
            new_password,
        } = job_result(records, ad_report);
        riposte_core::failpoint::hit("before-finish-job").await;
        info!(job = %job.id, action = %job.action, outcome = %outcome, "job finished");
        let finish = Finish {
            outcome,
            message: &message,
            evidence: &evidence,
        };
        // The outcome and its record in one transaction: a kill between
        // two left finished jobs with no outcome in the trail (the SIGKILL
        // loop, crates/riposte/tests/crash_loop.rs).
        let record = outcome_record(&job, &finish, recovered_from);
        let finished = match self
            .store
            .finish_recorded(job.id, Some(self.worker.as_str()), finish, record)
            .await
        {
            Ok(finished) => finished,
            // The outcome was read back but cannot be kept: the sweep
            // re-verifies the job once the ledger takes writes again.
            Err(e @ StoreError::Unwritable { .. }) => return Err(self.leave(job.id, e)),
            Err(e) => return Err(e.into()),
        };
        riposte_core::failpoint::hit("after-finish-job").await;
        Ok(Completed {
            job: finished,
            new_password,
            replayed: false,
        })
    }

    /// One Entra step: its phase recorded first (nothing is sent if it
    /// cannot be), then the Graph call and its read-back by the cloud
    /// directory. Returns the step's outcome, message and details.
    async fn run_cloud_step(
        &self,
        tenant: &str,
        id: &str,
        upn: &str,
        action: CloudAction,
        with_mfa: bool,
        sink: &LedgerSink<'_>,
    ) -> (Outcome, String, serde_json::Value) {
        let dc = format!("graph:{tenant}");
        if let Err(e) = sink
            .progress(Phase::Writing, &dc, &format!("{action} {upn}"))
            .await
        {
            return (
                Outcome::Failed,
                format!("could not record progress in the job ledger, so nothing was sent: {e}"),
                json!(null),
            );
        }
        match &self.cloud {
            Some(cloud) => {
                let report = cloud.execute(tenant, id, action, with_mfa).await;
                (report.outcome, report.message.clone(), json!(report))
            }
            None => (
                Outcome::Failed,
                format!("no Entra tenant is configured here, so {tenant} cannot be reached"),
                json!(null),
            ),
        }
    }

    /// Ends a job that never ran (its directory could not be searched, or
    /// its bulk was cancelled or rejected before it started) as failed with
    /// `message`, with its outcome record, in one transaction.
    pub(crate) async fn finish_unrun(&self, job: &Job, message: &str) -> Result<Job, StoreError> {
        let evidence = Evidence::default();
        let finish = Finish {
            outcome: Outcome::Failed,
            message,
            evidence: &evidence,
        };
        let record = outcome_record(job, &finish, None);
        self.store
            .finish_recorded(job.id, None, finish, record)
            .await
    }

    /// Appends a finished job's outcome to the audit trail (for a job the
    /// store finished itself, such as a rejected approval), as the
    /// requester's, or as the system's when recovery (taking the job over
    /// from the worker `recovered_from`) finished it. The outcome is already
    /// in the job ledger and may carry a password shown only once, so a
    /// failure here is logged, not returned.
    pub(crate) async fn audit_outcome(&self, job: &Job, recovered_from: Option<&str>) {
        let (Some(outcome), Some(record)) =
            (job.outcome, finished_outcome_record(job, recovered_from))
        else {
            return;
        };
        if let Err(e) = self.store.append(record).await {
            error!(job = %job.id, outcome = %outcome, error = %e, "the outcome could not be written to the audit trail");
        }
    }
}

/// A job's final outcome, message, evidence and (set-password) new password.
struct JobResult {
    outcome: Outcome,
    message: String,
    evidence: Evidence,
    new_password: Option<SecretString>,
}

/// The job's result from its steps' records: one AD step's report is the
/// job's, as it always was; several steps give the weakest outcome among
/// them (riposte-core::outcome's order), each step in the evidence.
fn job_result(records: Vec<StepRecord>, ad_report: Option<executor::Report>) -> JobResult {
    match (records.len(), ad_report) {
        (0, _) => JobResult {
            outcome: Outcome::Failed,
            message: "the job names no resolved target".to_string(),
            evidence: Evidence::default(),
            new_password: None,
        },
        // One AD step: its outcome and evidence are the job's, as they always were.
        (1, Some(report)) => JobResult {
            outcome: report.outcome,
            message: report.message,
            evidence: report.evidence,
            new_password: report.new_password,
        },
        (_, ad) => {
            let weakest = records
                .iter()
                .map(|r| r.outcome)
                .max_by_key(|o| o.weakness())
                .unwrap_or(Outcome::Failed);
            let summary = records
                .iter()
                .map(|r| format!("{}: {} ({})", r.step.describe(), r.outcome, r.message))
                .collect::<Vec<_>>()
                .join("; ");
            let (mut evidence, password) = match ad {
                Some(report) => (report.evidence, report.new_password),
                None => (Evidence::default(), None),
            };
            evidence.steps = records;
            JobResult {
                outcome: weakest,
                message: format!(
                    "{} step(s), the weakest {weakest}: {summary}",
                    evidence.steps.len()
                ),
                evidence,
                new_password: password,
            }
        }
    }
}

/// The `action-outcome` audit record of `job`, about to be finished with
/// `finish`: the requester's, or the system's when recovery (taking the job
/// over from the worker `recovered_from`) finishes it. The store appends it
/// in the transaction that finishes the job (`JobStore::finish_recorded`).
pub(crate) fn outcome_record(
    job: &Job,
    finish: &Finish<'_>,
    recovered_from: Option<&str>,
) -> NewAuditRecord {
    action_outcome_record(
        job,
        finish.outcome,
        Some(finish.message),
        finish.evidence.dc.clone(),
        recovered_from,
    )
}

/// The `action-outcome` audit record of a job already finished (by the
/// store itself, such as a rejected approval); `None` while it has no outcome.
fn finished_outcome_record(job: &Job, recovered_from: Option<&str>) -> Option<NewAuditRecord> {
    let outcome = job.outcome?;
    let dc = job.evidence.as_ref().and_then(|e| e.dc.clone());
    Some(action_outcome_record(
        job,
        outcome,
        job.message.as_deref(),
        dc,
        recovered_from,
    ))
}

/// The one shape of an `action-outcome` record: `dc` is where the outcome
/// was read back, else the DC the job last used.
fn action_outcome_record(
    job: &Job,
    outcome: Outcome,
    message: Option<&str>,
    dc: Option<String>,
    recovered_from: Option<&str>,
) -> NewAuditRecord {
    let mut details = json!({
        "action": job.action,
        "message": message,
        "dc": dc.or_else(|| job.dc.clone()),
    });
    let (actor, source) = match recovered_from {
        Some(previous) => {
            details["recovered_from"] = json!(previous);
            (SYSTEM.to_string(), SYSTEM.to_string())
        }
        None => (job.requested_by.clone(), job.source.clone()),
    };
    NewAuditRecord {
        actor,
        source,
        remote_addr: None,
        event: "action-outcome".into(),
        target: Some(job.target_ref.clone()),
        job_id: Some(job.id),
        result: outcome.as_str().into(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use riposte_core::Action;
    use riposte_store::JobState;
    use time::OffsetDateTime;

    use super::*;

    fn ad_step() -> Step {
        Step::Ad {
            forest: "corp".into(),
            dn: "CN=Ernie,OU=Staff,DC=corp,DC=example".into(),
            action: Action::Disable,
        }
    }

    fn record(step: Step, outcome: Outcome) -> StepRecord {
        StepRecord {
            step,
            outcome,
            message: format!("{outcome} here"),
            details: json!(null),
        }
    }

    fn report(outcome: Outcome, dc: &str) -> executor::Report {
        executor::Report {
            outcome,
            message: "read back from the DC".into(),
            evidence: Evidence {
                dc: Some(dc.into()),
                ..Evidence::default()
            },
            new_password: None,
        }
    }

    /// A disable of corp:ernie, finished `verified` with its read-back on dc1.
    fn finished_job() -> Job {
        let now = OffsetDateTime::now_utc();
        Job {
            id: Uuid::new_v4(),
            created_at: now,
            updated_at: now,
            requested_by: "alice".into(),
            requester_person: Some("alice".into()),
            source: "cli".into(),
            reason: "phished".into(),
            action: Action::Disable,
            options: Default::default(),
            target_ref: "corp:ernie".into(),
            forest: Some("corp".into()),
            target_dn: Some("CN=Ernie,OU=Staff,DC=corp,DC=example".into()),
            target_sid: None,
            state: JobState::Finished,
            phase: None,
            dc: Some("dc0".into()),
            owner: None,
            lease_expires_at: None,
            write_sent: true,
            outcome: Some(Outcome::Verified),
            message: Some("disabled, read back".into()),
            evidence: Some(Evidence {
                dc: Some("dc1".into()),
                ..Evidence::default()
            }),
            finished_at: Some(now),
            idempotency_key: None,
            approval: None,
            approval_reason: None,
            decided_by: None,
            steps: vec![ad_step()],
            bulk_id: None,
            evidence_input: None,
        }
    }

    #[test]
    fn one_ad_step_gives_the_job_its_report() {
        let result = job_result(
            vec![record(ad_step(), Outcome::Verified)],
            Some(report(Outcome::Verified, "dc1")),
        );
        assert_eq!(result.outcome, Outcome::Verified);
        assert_eq!(result.message, "read back from the DC");
        assert_eq!(result.evidence.dc.as_deref(), Some("dc1"));
        assert!(result.evidence.steps.is_empty());
    }

    #[test]
    fn a_job_is_as_weak_as_its_weakest_step() {
        let cloud = Step::Cloud {
            tenant: "contoso".into(),
            id: "1".into(),
            upn: "ernie@contoso.example".into(),
            action: CloudAction::RevokeSessions,
        };
        let result = job_result(
            vec![
                record(ad_step(), Outcome::Verified),
                record(cloud, Outcome::Failed),
            ],
            Some(report(Outcome::Verified, "dc1")),
        );
        assert_eq!(result.outcome, Outcome::Failed);
        assert!(
            result.message.starts_with("2 step(s), the weakest failed"),
            "{}",
            result.message
        );
        assert_eq!(result.evidence.steps.len(), 2);
        // The AD step's read-back stays the job's evidence.
        assert_eq!(result.evidence.dc.as_deref(), Some("dc1"));
        let nothing = job_result(Vec::new(), None);
        assert_eq!(nothing.outcome, Outcome::Failed);
    }

    #[test]
    fn a_job_finished_by_the_store_is_audited_as_one_finished_here() {
        let job = finished_job();
        let evidence = job.evidence.clone().unwrap();
        let finish = Finish {
            outcome: Outcome::Verified,
            message: job.message.as_deref().unwrap(),
            evidence: &evidence,
        };
        for recovered_from in [None, Some("host:1:1")] {
            assert_eq!(
                finished_outcome_record(&job, recovered_from),
                Some(outcome_record(&job, &finish, recovered_from))
            );
        }
        let by_requester = outcome_record(&job, &finish, None);
        assert_eq!(by_requester.actor, "alice");
        assert_eq!(by_requester.details["dc"], "dc1");
        let by_recovery = outcome_record(&job, &finish, Some("host:1:1"));
        assert_eq!(
            (by_recovery.actor.as_str(), by_recovery.source.as_str()),
            ("system", "system")
        );
        assert_eq!(by_recovery.details["recovered_from"], "host:1:1");
        let mut running = job;
        running.outcome = None;
        assert_eq!(finished_outcome_record(&running, None), None);
    }
}
