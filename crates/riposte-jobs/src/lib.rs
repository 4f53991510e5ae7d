//! Actions as jobs. The [`Runner`] is the one path from a request to a
//! recorded outcome, for every front end: it resolves the target, writes
//! the job to the ledger, claims it, runs the executor with each phase
//! recorded before it happens, and stores the outcome. At start it takes
//! over jobs whose worker died and re-verifies them. Each request and each
//! outcome is also appended to the audit trail.
#![forbid(unsafe_code)]

mod approval;
pub mod bulk;
mod bulk_control;
mod owner;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use riposte_core::account::AccountState;
use riposte_core::cloud::{CloudAccount, CloudDirectory};
use riposte_core::containment::{self, Identity, NotApplicable, Step};
use riposte_core::directory::Directory;
use riposte_core::evidence::Evidence;
use riposte_core::evidence::StepRecord;
use riposte_core::executor::{self, Phase, ProgressSink};
use riposte_core::identity::{IdentityRef, IdentityRefError};
use riposte_core::policy::{self, Permission, Principal};
use riposte_core::safeguards::{self, Protection};
use riposte_core::{Action, ActionOptions, Outcome};
use riposte_store::{
    Created, Finish, Job, JobState, JobStore, Ledger, NewAuditRecord, NewJob, Progress, StoreError,
};
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use tracing::{error, info, warn};
use uuid::Uuid;

pub use bulk::{BulkLimits, BulkPlan, BulkRequest, BulkRun, Selector};
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
    NotApplicable(NotApplicable),
    #[error(transparent)]
    Refused(#[from] riposte_core::policy::Refusal),
    /// Automation never acts on a protected identity (nothing is recorded but the refusal).
    #[error(
        "{0}; protected identities are never acted on automatically: a person acts on it alone, and a second person approves"
    )]
    ProtectedFromAutomation(String),
    #[error("job {0} is not waiting for an approval (it may have been decided already)")]
    NotAwaitingApproval(Uuid),
    #[error("no job has the id {0}")]
    NoSuchJob(Uuid),
    /// A bulk request's selector is wrong (bad OU, unknown group, empty list...): nothing was recorded.
    #[error("{0}")]
    BadSelector(String),
    /// The directory could not list a bulk request's accounts: nothing was recorded.
    #[error("{0}")]
    SetUnavailable(String),
    #[error("no bulk operation has the id {0:?}; `riposte bulk list` shows the recent ones")]
    NoSuchBulk(String),
    /// The bulk operation is not in a state that allows this.
    #[error("{0}")]
    BulkConflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunnerError {
    /// The requester's input was wrong (as opposed to the system failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, RunnerError::Store(_) | RunnerError::SetUnavailable(_))
    }
}

/// What a request's reference resolved to.
#[derive(Debug, Clone)]
pub enum Target {
    Identity(Box<Identity>),
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
    Identity(Box<Identity>),
    /// The directory could not be searched: the job is recorded as failed.
    Unreachable {
        forest: Option<String>,
        message: String,
    },
}

/// The source of automatic requests (riposte-response::automation).
const AUTOMATION: &str = "automation";

/// The actor and source of outcomes that recovery brings about.
const SYSTEM: &str = "system";

pub struct Runner {
    store: Arc<dyn Ledger>,
    directory: Arc<dyn Directory>,
    worker: WorkerId,
    lease: Duration,
    queued: Option<Arc<tokio::sync::Notify>>,
    protection: Protection,
    cloud: Option<Arc<dyn CloudDirectory>>,
    breaker: safeguards::CircuitBreaker,
    bulk_limits: bulk::BulkLimits,
    /// Jobs this worker holds but left because the ledger refused to record
    /// their next phase or their end (a full or read-only disk): the sweep
    /// resumes them as soon as the ledger takes writes again, without
    /// waiting for their lease to run out.
    left: Arc<std::sync::Mutex<std::collections::HashSet<Uuid>>>,
}

impl Runner {
    pub fn new(store: Arc<dyn Ledger>, directory: Arc<dyn Directory>) -> Self {
        Runner {
            store,
            directory,
            worker: WorkerId::current(),
            lease: DEFAULT_LEASE,
            queued: None,
            protection: Protection::default(),
            cloud: None,
            breaker: safeguards::CircuitBreaker::default(),
            bulk_limits: bulk::BulkLimits::default(),
            left: Arc::default(),
        }
    }

    /// How long a claim holds a job without renewal (default [`DEFAULT_LEASE`]).
    /// While a job runs, its worker renews the lease every third of it, so
    /// only a worker that stopped (died, or lost the ledger) lets it run out.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// This worker's id (`host:pid:start-time`), as it holds jobs in the ledger.
    pub fn worker_id(&self) -> &str {
        self.worker.as_str()
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

    /// The rate above which automatic actions wait for a person.
    pub fn with_circuit_breaker(mut self, breaker: safeguards::CircuitBreaker) -> Self {
        self.breaker = breaker;
        self
    }

    /// Entra ID tenants: identities are then linked across directories.
    pub fn with_cloud(mut self, cloud: Arc<dyn CloudDirectory>) -> Self {
        self.cloud = Some(cloud);
        self
    }

    /// The ledger: jobs and the audit trail.
    pub fn store(&self) -> &Arc<dyn Ledger> {
        &self.store
    }

    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    /// Finds the one identity a reference names, with all its accounts.
    pub async fn find_identity(&self, reference: &str) -> Result<Identity, RunnerError> {
        match self
            .resolve(reference, &IdentityRef::parse(reference)?)
            .await?
        {
            Resolved::Identity(identity) => Ok(*identity),
            Resolved::Unreachable { message, .. } => Err(RunnerError::NotFound {
                kind: "reference",
                value: reference.to_string(),
                searched: message,
            }),
        }
    }

    fn tenant_named(&self, name: &str) -> bool {
        self.cloud.as_ref().is_some_and(|c| {
            c.tenant_names()
                .iter()
                .any(|t| t.eq_ignore_ascii_case(name))
        })
    }

    async fn resolve(&self, raw: &str, reference: &IdentityRef) -> Result<Resolved, RunnerError> {
        let raw = raw.trim();
        // A tenant prefix names a cloud identity: `contoso:bigbird@contoso.example`.
        if let Some(prefix) = &reference.forest
            && self.tenant_named(prefix)
        {
            let key = raw.split_once(':').map(|(_, k)| k).unwrap_or(raw);
            return self.resolve_cloud(Some(prefix), key).await;
        }
        let lookup = self.directory.lookup(reference).await;
        if let Some((_, e @ riposte_core::directory::DirectoryError::UnknownForest { .. })) =
            lookup.unreachable.first()
        {
            return Err(RunnerError::UnknownForest(e.to_string()));
        }
        match lookup.matches.len() {
            1 => {
                let ad = lookup.matches.into_iter().next().expect("one match");
                let (linked, cloud_error) = self.linked_accounts(&ad).await;
                Ok(Resolved::Identity(Box::new(Identity::from_ad(
                    ad,
                    linked,
                    cloud_error,
                ))))
            }
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
                if self.cloud.is_some() && reference.forest.is_none() {
                    match self.resolve_cloud(None, raw).await {
                        Err(RunnerError::NotFound { .. }) => {}
                        other => return other,
                    }
                }
                let mut searched: Vec<String> = lookup
                    .searched
                    .iter()
                    .map(|f| format!("forest {f}"))
                    .collect();
                if reference.forest.is_none()
                    && let Some(cloud) = &self.cloud
                {
                    searched.extend(cloud.tenant_names().iter().map(|t| format!("tenant {t}")));
                }
                let searched = if searched.is_empty() {
                    match &reference.key {
                        riposte_core::LookupKey::DistinguishedName(_) => format!(
                            "any configured forest (the DN is under none of: {})",
                            self.directory.forest_names().join(", ")
                        ),
                        _ => "no forest".to_string(),
                    }
                } else {
                    searched.join(", ")
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

    /// Entra accounts synced from this AD account; an error is kept, not
    /// hidden: containment of a possibly hybrid identity is then incomplete.
    async fn linked_accounts(&self, ad: &AccountState) -> (Vec<CloudAccount>, Option<String>) {
        match (&self.cloud, &ad.sid) {
            (Some(cloud), Some(sid)) => match cloud.linked_to(&sid.to_string()).await {
                Ok(linked) => (linked, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            },
            _ => (Vec::new(), None),
        }
    }

    async fn resolve_cloud(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Resolved, RunnerError> {
        let Some(cloud) = &self.cloud else {
            return Err(RunnerError::NotFound {
                kind: "Entra user",
                value: key.to_string(),
                searched: "no tenant".into(),
            });
        };
        match cloud.find(tenant, key).await {
            Err(e) => Ok(Resolved::Unreachable {
                forest: Some(e.tenant.clone()),
                message: e.to_string(),
            }),
            Ok(mut found) => match found.len() {
                1 => Ok(Resolved::Identity(Box::new(Identity::from_cloud(
                    found.remove(0),
                )))),
                0 => Err(RunnerError::NotFound {
                    kind: "Entra user",
                    value: key.to_string(),
                    searched: match tenant {
                        Some(t) => format!("tenant {t}"),
                        None => format!("tenant {}", cloud.tenant_names().join(", ")),
                    },
                }),
                _ => Err(RunnerError::Ambiguous {
                    reference: key.to_string(),
                    candidates: found
                        .iter()
                        .map(|c| format!("  {}  ({})", c.reference(), c.id))
                        .collect(),
                }),
            },
        }
    }

    /// Resolves a reference to the one account an action would target, or
    /// says that the directory could not be searched (the job then fails
    /// honestly). Bad references are errors: nothing is recorded for them.
    pub async fn resolve_target(&self, reference: &str) -> Result<Target, RunnerError> {
        Ok(
            match self
                .resolve(reference, &IdentityRef::parse(reference)?)
                .await?
            {
                Resolved::Identity(identity) => Target::Identity(identity),
                Resolved::Unreachable { forest, message } => {
                    Target::Unreachable { forest, message }
                }
            },
        )
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
        let (forest, dn, sid, steps) = match target {
            Target::Identity(identity) => {
                let mut steps = containment::plan(identity, request.action)
                    .map_err(RunnerError::NotApplicable)?;
                if let Some(error) = &identity.cloud_error {
                    steps.push(Step::Unresolved {
                        what: "Entra ID accounts linked to this AD account".into(),
                        error: error.clone(),
                    });
                }
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
            self.breaker.reason(recent.len())
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
            let evidence = Evidence::default();
            let finish = Finish {
                outcome: Outcome::Failed,
                message: &message,
                evidence: &evidence,
            };
            let record = outcome_record(&job, &finish, None);
            let job = self
                .store
                .finish_recorded(job.id, None, finish, record)
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
        self.run_claimed(job, None, false, None).await
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
        let record = NewAuditRecord {
            actor: principal.name.clone(),
            source: request.source.clone(),
            remote_addr: request.remote_addr.clone(),
            event: "request-refused".into(),
            target: Some(request.reference.clone()),
            job_id: None,
            result: "denied".into(),
            details: json!({ "action": request.action, "role": principal.role, "missing_right": refusal.missing, "reason": request.reason }),
        };
        self.store.append(record).await?;
        Err(refusal.into())
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
        self.run_claimed(job, None, false, None).await
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
        let sink = LedgerSink {
            store: self.store.as_ref(),
            job: job.id,
            owner: self.worker.as_str(),
            lease: self.lease,
            unwritable: std::sync::Mutex::new(None),
        };
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
                    let dc = format!("graph:{tenant}");
                    if let Err(e) = sink
                        .progress(Phase::Writing, &dc, &format!("{action} {upn}"))
                        .await
                    {
                        StepRecord {
                            step: step.clone(),
                            outcome: Outcome::Failed,
                            message: format!(
                                "could not record progress in the job ledger, so nothing was sent: {e}"
                            ),
                            details: json!(null),
                        }
                    } else {
                        match &self.cloud {
                            Some(cloud) => {
                                let report = cloud
                                    .execute(tenant, id, *action, job.options.with_mfa)
                                    .await;
                                StepRecord {
                                    step: step.clone(),
                                    outcome: report.outcome,
                                    message: report.message.clone(),
                                    details: json!(report),
                                }
                            }
                            None => StepRecord {
                                step: step.clone(),
                                outcome: Outcome::Failed,
                                message: format!(
                                    "no Entra tenant is configured here, so {tenant} cannot be reached"
                                ),
                                details: json!(null),
                            },
                        }
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
        let (outcome, message, evidence, new_password) = match (records.len(), ad_report) {
            (0, _) => (
                Outcome::Failed,
                "the job names no resolved target".to_string(),
                Evidence::default(),
                None,
            ),
            // One AD step: its outcome and evidence are the job's, as they always were.
            (1, Some(report)) => (
                report.outcome,
                report.message,
                report.evidence,
                report.new_password,
            ),
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
                (
                    weakest,
                    format!(
                        "{} step(s), the weakest {weakest}: {summary}",
                        evidence.steps.len()
                    ),
                    evidence,
                    password,
                )
            }
        };
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

    /// Leaves a job this worker holds because the ledger cannot be written,
    /// for the sweep to resume ([`Runner::recover_interrupted`]).
    fn leave(&self, id: Uuid, refused: StoreError) -> RunnerError {
        warn!(job = %id, error = %refused, "the ledger cannot be written: the job is left running, and resumes when it can");
        self.left
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id);
        RunnerError::Store(refused)
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
            let left_here = previous == self.worker.as_str()
                && self
                    .left
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .contains(&job.id);
            if previous == self.worker.as_str() && !left_here {
                continue;
            }
            let expired = job.lease_expires_at.is_some_and(|t| t < now);
            if !left_here && !expired && !owner_is_gone(&previous) {
                continue;
            }
            if !self
                .store
                .take_over(job.id, &previous, self.worker.as_str(), self.lease)
                .await?
            {
                continue;
            }
            self.left
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&job.id);
            warn!(job = %job.id, %previous, phase = ?job.phase, write_sent = job.write_sent, "recovering an interrupted job");
            let done = self
                .run_claimed(job.clone(), job.dc.clone(), job.write_sent, Some(&previous))
                .await?;
            recovered.push(done.job);
        }
        Ok(recovered)
    }

    /// Appends a finished job's outcome to the audit trail (for a job the
    /// store finished itself, such as a rejected approval), as the
    /// requester's, or as the system's when recovery (taking the job over
    /// from the worker `recovered_from`) finished it. The outcome is already
    /// in the job ledger and may carry a password shown only once, so a
    /// failure here is logged, not returned.
    async fn audit_outcome(&self, job: &Job, recovered_from: Option<&str>) {
        let Some(outcome) = job.outcome else {
            return;
        };
        let mut details = json!({
            "action": job.action,
            "message": job.message,
            "dc": job.evidence.as_ref().and_then(|e| e.dc.clone()).or_else(|| job.dc.clone()),
        });
        let (actor, source) = match recovered_from {
            Some(previous) => {
                details["recovered_from"] = json!(previous);
                (SYSTEM.to_string(), SYSTEM.to_string())
            }
            None => (job.requested_by.clone(), job.source.clone()),
        };
        let record = NewAuditRecord {
            actor,
            source,
            remote_addr: None,
            event: "action-outcome".into(),
            target: Some(job.target_ref.clone()),
            job_id: Some(job.id),
            result: outcome.as_str().into(),
            details,
        };
        if let Err(e) = self.store.append(record).await {
            error!(job = %job.id, outcome = %outcome, error = %e, "the outcome could not be written to the audit trail");
        }
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

/// Renews a running job's lease every third of it until dropped. When the
/// lease is lost (another worker took the job over), it stops renewing; the
/// executor then finds out at its next recorded phase, before any write.
struct LeaseHeartbeat(tokio::task::JoinHandle<()>);

impl LeaseHeartbeat {
    fn start(store: Arc<dyn Ledger>, job: Uuid, owner: String, lease: Duration) -> Self {
        let every = (lease / 3).max(Duration::from_millis(100));
        LeaseHeartbeat(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store.renew_lease(job, &owner, lease).await {
                    Ok(()) => {}
                    Err(e @ (StoreError::LeaseLost { .. } | StoreError::WrongState { .. })) => {
                        warn!(job = %job, error = %e, "lease no longer held; renewal stops");
                        break;
                    }
                    Err(e) => {
                        warn!(job = %job, error = %e, "could not renew the lease; trying again")
                    }
                }
            }
        }))
    }
}

impl Drop for LeaseHeartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records each executor phase in the ledger before the step is taken.
struct LedgerSink<'a> {
    store: &'a dyn JobStore,
    job: Uuid,
    owner: &'a str,
    lease: Duration,
    /// The ledger refused a phase because it cannot be written.
    unwritable: std::sync::Mutex<Option<StoreError>>,
}

impl LedgerSink<'_> {
    fn take_unwritable(&self) -> Option<StoreError> {
        self.unwritable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
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
        match self
            .store
            .record_progress(self.job, self.owner, progress, self.lease)
            .await
        {
            Ok(()) => Ok(()),
            Err(e @ StoreError::Unwritable { .. }) => {
                let message = e.to_string();
                *self
                    .unwritable
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                Err(message)
            }
            Err(e) => Err(e.to_string()),
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
    let mut details = json!({
        "action": job.action,
        "message": finish.message,
        "dc": finish.evidence.dc.clone().or_else(|| job.dc.clone()),
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
        result: finish.outcome.as_str().into(),
        details,
    }
}
