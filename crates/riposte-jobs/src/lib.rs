//! Actions as jobs. The [`Runner`] is the one path from a request to a
//! recorded outcome, for every front end: it resolves the target, writes
//! the job to the ledger, claims it, runs the executor with each phase
//! recorded before it happens, and stores the outcome. At start it takes
//! over jobs whose worker died and re-verifies them.
#![forbid(unsafe_code)]

mod owner;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use riposte_core::account::AccountState;
use riposte_core::directory::Directory;
use riposte_core::evidence::Evidence;
use riposte_core::executor::{self, Phase, ProgressSink};
use riposte_core::identity::{IdentityRef, IdentityRefError};
use riposte_core::policy::{self, Permission, Principal};
use riposte_core::safeguards::{self, Protection};
use riposte_core::{Action, ActionOptions, Outcome};
use riposte_store::{Created, Finish, Job, JobState, JobStore, NewJob, Progress, StoreError};
use secrecy::SecretString;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

pub use owner::{WorkerId, owner_is_gone};

/// How long a worker holds a job between two records of progress.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

/// What someone asks for.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub reference: String,
    pub action: Action,
    pub options: ActionOptions,
    pub reason: String,
    pub requested_by: String,
    pub source: String,
    pub idempotency_key: Option<String>,
}

/// A finished job, and the new password for set-password (shown once).
#[derive(Debug)]
pub struct Completed {
    pub job: Job,
    pub new_password: Option<SecretString>,
    /// The idempotency key matched an earlier job: nothing new was done.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("a reason is required: say why this action is taken (it is kept in the job ledger)")]
    MissingReason,
    #[error(transparent)]
    BadReference(#[from] IdentityRefError),
    #[error("{0}")]
    UnknownForest(String),
    #[error("no user matches {kind} {value:?} in {searched}")]
    NotFound {
        kind: &'static str,
        value: String,
        searched: String,
    },
    #[error("{reference:?} matches {} accounts; name one of them:\n{}", candidates.len(), candidates.join("\n"))]
    Ambiguous {
        reference: String,
        candidates: Vec<String>,
    },
    #[error(transparent)]
    Refused(#[from] riposte_core::policy::Refusal),
    #[error("job {0} is not waiting for an approval (it may have been decided already)")]
    NotAwaitingApproval(Uuid),
    #[error("no job has the id {0}")]
    NoSuchJob(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunnerError {
    /// The requester's input was wrong (as opposed to the system failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, RunnerError::Store(_))
    }
}

/// What a request's reference resolved to.
#[derive(Debug, Clone)]
pub enum Target {
    Account(Box<AccountState>),
    /// The directory could not be searched: a job is recorded, and fails.
    Unreachable {
        forest: Option<String>,
        message: String,
    },
}

/// A request as recorded in the ledger.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub job: Job,
    /// The idempotency key matched an earlier job: this is that job.
    pub replayed: bool,
}

/// The outcome of a resolution: the account, or why the job must fail.
enum Resolved {
    Account(Box<AccountState>),
    /// The directory could not be searched: the job is recorded as failed.
    Unreachable {
        forest: Option<String>,
        message: String,
    },
}

pub struct Runner {
    store: Arc<dyn JobStore>,
    directory: Arc<dyn Directory>,
    worker: WorkerId,
    lease: Duration,
    queued: Option<Arc<tokio::sync::Notify>>,
    protection: Protection,
}

impl Runner {
    pub fn new(store: Arc<dyn JobStore>, directory: Arc<dyn Directory>) -> Self {
        Runner {
            store,
            directory,
            worker: WorkerId::current(),
            lease: DEFAULT_LEASE,
            queued: None,
            protection: Protection::default(),
        }
    }

    /// Identities that need a second person's approval, besides adminCount=1 accounts.
    pub fn with_protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

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

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    /// Finds the one account a reference names.
    pub async fn find_account(&self, reference: &str) -> Result<AccountState, RunnerError> {
        match self.resolve(&IdentityRef::parse(reference)?).await? {
            Resolved::Account(account) => Ok(*account),
            Resolved::Unreachable { message, .. } => Err(RunnerError::NotFound {
                kind: "reference",
                value: reference.to_string(),
                searched: message,
            }),
        }
    }

    async fn resolve(&self, reference: &IdentityRef) -> Result<Resolved, RunnerError> {
        let lookup = self.directory.lookup(reference).await;
        if let Some((_, e @ riposte_core::directory::DirectoryError::UnknownForest { .. })) =
            lookup.unreachable.first()
        {
            return Err(RunnerError::UnknownForest(e.to_string()));
        }
        match lookup.matches.len() {
            1 => Ok(Resolved::Account(Box::new(
                lookup.matches.into_iter().next().expect("one match"),
            ))),
            0 if !lookup.unreachable.is_empty() => {
                let message = lookup
                    .unreachable
                    .iter()
                    .map(|(forest, e)| format!("forest {forest}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let forest = if lookup.unreachable.len() == 1 && lookup.searched.is_empty() {
                    Some(lookup.unreachable[0].0.clone())
                } else {
                    None
                };
                Ok(Resolved::Unreachable { forest, message })
            }
            0 => {
                let searched = if lookup.searched.is_empty() {
                    match &reference.key {
                        riposte_core::LookupKey::DistinguishedName(_) => {
                            format!(
                                "any configured forest (the DN is under none of: {})",
                                self.directory.forest_names().join(", ")
                            )
                        }
                        _ => "no forest".to_string(),
                    }
                } else {
                    format!("forest {}", lookup.searched.join(", "))
                };
                Err(RunnerError::NotFound {
                    kind: reference.key.kind(),
                    value: reference.to_string(),
                    searched,
                })
            }
            _ => Err(RunnerError::Ambiguous {
                reference: reference.to_string(),
                candidates: lookup
                    .matches
                    .iter()
                    .map(|a| format!("  {}  ({})", a.reference(), a.dn))
                    .collect(),
            }),
        }
    }

    /// Resolves a reference to the one account an action would target, or
    /// says that the directory could not be searched (the job then fails
    /// honestly). Bad references are errors: nothing is recorded for them.
    pub async fn resolve_target(&self, reference: &str) -> Result<Target, RunnerError> {
        Ok(match self.resolve(&IdentityRef::parse(reference)?).await? {
            Resolved::Account(account) => Target::Account(account),
            Resolved::Unreachable { forest, message } => Target::Unreachable { forest, message },
        })
    }

    /// Records a request in the ledger as a queued job (or, when the
    /// directory could not be searched, as a failed one).
    pub async fn enqueue(
        &self,
        request: &ActionRequest,
        target: &Target,
    ) -> Result<Enqueued, RunnerError> {
        if request.reason.trim().is_empty() {
            return Err(RunnerError::MissingReason);
        }
        let (forest, dn, sid) = match target {
            Target::Account(a) => (
                Some(a.forest.clone()),
                Some(a.dn.clone()),
                a.sid.as_ref().map(|s| s.to_string()),
            ),
            Target::Unreachable { forest, .. } => (forest.clone(), None, None),
        };
        let created = self
            .store
            .create_job(NewJob {
                requested_by: request.requested_by.clone(),
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
                    Target::Account(a) => safeguards::approval_needed(
                        &self.protection,
                        a,
                        request.action,
                        request.options,
                    ),
                    Target::Unreachable { .. } => None,
                },
            })
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
        if let Target::Unreachable { message, .. } = target {
            let message = format!(
                "could not look up {} because the directory is unreachable: {message}",
                request.reference
            );
            let job = self
                .store
                .finish(
                    job.id,
                    None,
                    Finish {
                        outcome: Outcome::Failed,
                        message: &message,
                        evidence: &Evidence::default(),
                    },
                )
                .await?;
            return Ok(Enqueued {
                job,
                replayed: false,
            });
        }
        if let Some(notify) = &self.queued {
            notify.notify_one();
        }
        Ok(Enqueued {
            job,
            replayed: false,
        })
    }

    /// Resolves, records, runs and finishes one action, here and now (the CLI's path).
    pub async fn submit(&self, request: ActionRequest) -> Result<Completed, RunnerError> {
        let target = self.resolve_target(&request.reference).await?;
        let enqueued = self.enqueue(&request, &target).await?;
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
        if !self
            .store
            .claim(enqueued.job.id, self.worker.as_str(), self.lease)
            .await?
        {
            // Another worker took it: report the job as it stands.
            let job = self
                .store
                .get(enqueued.job.id)
                .await?
                .unwrap_or(enqueued.job);
            return Ok(Completed {
                job,
                new_password: None,
                replayed: false,
            });
        }
        let job = self
            .store
            .get(enqueued.job.id)
            .await?
            .unwrap_or(enqueued.job);
        self.run_claimed(job, None, false).await
    }

    /// A second person's decision on a job awaiting approval, checked by the
    /// policy (responder or admin, in scope, not the requester).
    pub async fn decide(
        &self,
        id: Uuid,
        approver: &Principal,
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
            },
        )?;
        let decided = self
            .store
            .decide_approval(id, &approver.name, approve, comment)
            .await?;
        if approve && let Some(notify) = &self.queued {
            notify.notify_one();
        }
        Ok(decided)
    }

    /// Claims one queued job and runs it here; if another worker holds it,
    /// reports it as it stands.
    pub async fn run_job(&self, id: Uuid) -> Result<Completed, RunnerError> {
        if !self
            .store
            .claim(id, self.worker.as_str(), self.lease)
            .await?
        {
            let job = self
                .store
                .get(id)
                .await?
                .ok_or(RunnerError::NoSuchJob(id))?;
            return Ok(Completed {
                job,
                new_password: None,
                replayed: false,
            });
        }
        let job = self
            .store
            .get(id)
            .await?
            .ok_or(RunnerError::NoSuchJob(id))?;
        self.run_claimed(job, None, false).await
    }

    /// Claims the oldest queued job and runs it; `None` when the queue is empty.
    pub async fn run_next(&self) -> Result<Option<Completed>, RunnerError> {
        match self
            .store
            .claim_next(self.worker.as_str(), self.lease)
            .await?
        {
            Some(job) => self.run_claimed(job, None, false).await.map(Some),
            None => Ok(None),
        }
    }

    /// Wakes a worker waiting in [`Runner::wait_for_work`] whenever a job is queued.
    pub fn with_queue_notifications(mut self) -> Self {
        self.queued = Some(Arc::new(tokio::sync::Notify::new()));
        self
    }

    /// Waits until a job is queued here or `poll` passes (jobs queued by other processes).
    pub async fn wait_for_work(&self, poll: Duration) {
        match &self.queued {
            Some(notify) => {
                let _ = tokio::time::timeout(poll, notify.notified()).await;
            }
            None => tokio::time::sleep(poll).await,
        }
    }

    /// Runs a job this worker holds, to its final outcome.
    async fn run_claimed(
        &self,
        job: Job,
        preferred_dc: Option<String>,
        resumed_after_write: bool,
    ) -> Result<Completed, RunnerError> {
        let (Some(forest), Some(dn)) = (job.forest.clone(), job.target_dn.clone()) else {
            let job = self
                .store
                .finish(
                    job.id,
                    Some(self.worker.as_str()),
                    Finish {
                        outcome: Outcome::Failed,
                        message: "the job names no resolved target",
                        evidence: &Evidence::default(),
                    },
                )
                .await?;
            return Ok(Completed {
                job,
                new_password: None,
                replayed: false,
            });
        };
        let request = executor::Request {
            forest,
            dn,
            action: job.action,
            options: job.options,
            preferred_dc,
            resumed_after_write,
        };
        let sink = LedgerSink {
            store: self.store.as_ref(),
            job: job.id,
            owner: self.worker.as_str(),
            lease: self.lease,
        };
        let report = executor::execute(self.directory.as_ref(), &request, &sink).await;
        info!(job = %job.id, action = %job.action, outcome = %report.outcome, "job finished");
        let finished = self
            .store
            .finish(
                job.id,
                Some(self.worker.as_str()),
                Finish {
                    outcome: report.outcome,
                    message: &report.message,
                    evidence: &report.evidence,
                },
            )
            .await?;
        Ok(Completed {
            job: finished,
            new_password: report.new_password,
            replayed: false,
        })
    }

    /// Takes over running jobs whose worker is gone (its process ended, or
    /// its lease ran out) and brings each to a final, re-verified outcome.
    pub async fn recover_interrupted(&self) -> Result<Vec<Job>, RunnerError> {
        let now = OffsetDateTime::now_utc();
        let mut recovered = Vec::new();
        for job in self.store.running_jobs().await? {
            let Some(previous) = job.owner.clone() else {
                continue;
            };
            if previous == self.worker.as_str() {
                continue;
            }
            let expired = job.lease_expires_at.is_some_and(|t| t < now);
            if !expired && !owner_is_gone(&previous) {
                continue;
            }
            if !self
                .store
                .take_over(job.id, &previous, self.worker.as_str(), self.lease)
                .await?
            {
                continue;
            }
            warn!(job = %job.id, %previous, phase = ?job.phase, write_sent = job.write_sent, "recovering an interrupted job");
            let done = self
                .run_claimed(job.clone(), job.dc.clone(), job.write_sent)
                .await?;
            recovered.push(done.job);
        }
        Ok(recovered)
    }

    /// A job by full id or unique prefix.
    pub async fn find_job(&self, id_or_prefix: &str) -> Result<Job, FindJobError> {
        if let Ok(id) = Uuid::parse_str(id_or_prefix) {
            return self
                .store
                .get(id)
                .await?
                .ok_or(FindJobError::NotFound(id_or_prefix.to_string()));
        }
        let mut found = self.store.find_by_prefix(id_or_prefix).await?;
        match found.len() {
            0 => Err(FindJobError::NotFound(id_or_prefix.to_string())),
            1 => Ok(found.remove(0)),
            _ => Err(FindJobError::Ambiguous {
                prefix: id_or_prefix.to_string(),
                ids: found.iter().map(|j| j.id.to_string()).collect(),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FindJobError {
    #[error("no job has the id {0:?}; `riposte actions list` shows the recent ones")]
    NotFound(String),
    #[error("{prefix:?} is the start of several job ids; give more of it: {}", ids.join(", "))]
    Ambiguous { prefix: String, ids: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records each executor phase in the ledger before the step is taken.
struct LedgerSink<'a> {
    store: &'a dyn JobStore,
    job: Uuid,
    owner: &'a str,
    lease: Duration,
}

#[async_trait]
impl ProgressSink for LedgerSink<'_> {
    async fn progress(&self, phase: Phase, dc: &str, message: &str) -> Result<(), String> {
        let progress = Progress {
            phase: phase.as_str(),
            dc,
            write_sent: phase.write_may_have_been_sent(),
            message,
        };
        self.store
            .record_progress(self.job, self.owner, progress, self.lease)
            .await
            .map_err(|e| e.to_string())
    }
}
