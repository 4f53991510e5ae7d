//! The job ledger: every action is a job, and the jobs table is the ledger.
//!
//! [`JobStore`] is the one storage trait; each backend (one crate,
//! riposte-store-sql: SQLite, PostgreSQL) passes [`conformance`]. A job moves
//! queued -> running -> finished exactly once; a finished job never changes
//! again, and each state change is also kept as a [`JobEvent`].
//!
//! The same ledger keeps the [`audit`] trail ([`AuditLog`]); a backend
//! implements both, and [`Ledger`] names the pair.
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use riposte_core::evidence::Evidence;
use riposte_core::{Action, ActionOptions, Outcome};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

mod alerts;
pub mod audit;
mod bulk;
pub mod changes;
#[cfg(feature = "conformance")]
pub mod conformance;
mod leader;
mod pending;
mod people;
mod second_factor;
mod tokens;

pub use alerts::{
    AlertEntities, AlertFilter, AlertStore, MIN_RETENTION, NewAlert, StoredAlert, expiry_record,
};
pub use bulk::{
    BulkCounts, BulkOperation, BulkState, BulkStore, NewBulk, bulk_awaiting_approval,
    bulk_pending_message, describe_bulk, name_children,
};
pub use changes::{JobChanges, JobWatch};
pub use leader::{LeaderGuard, LeaderLock, Leadership};
pub use pending::{PendingKind, PendingSignIn, PendingSignInStore, Taken};
pub use people::{NO_PASSWORD, NewSession, PeopleStore, Person, Session, SignInMethod, SsoPerson};
pub use second_factor::{SecondFactorStore, TotpSecret};
pub use tokens::{ApiToken, TokenStore};

pub use audit::checkpoint::{
    AuditSigner, CHECKPOINT_EVENT, CheckpointKeys, CheckpointReport, DEFAULT_CHECKPOINT_EVERY,
    checkpoint_now, verify_checkpoints,
};
pub use audit::{
    AuditLog, AuditRecord, BreakKind, ChainBreak, ChainReport, GENESIS_HASH, NewAuditRecord,
    record_hash, to_ocsf, verify_chain,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Finished,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Finished => "finished",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "queued" => Ok(JobState::Queued),
            "running" => Ok(JobState::Running),
            "finished" => Ok(JobState::Finished),
            other => Err(StoreError::Corrupt(format!("unknown job state {other:?}"))),
        }
    }
}

/// A job as requested, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub requested_by: String,
    /// The person behind the requester's credential, if any (the approval
    /// rule compares people, not credential names).
    pub requester_person: Option<String>,
    /// Where the request came from: cli, api, automation.
    pub source: String,
    pub reason: String,
    pub action: Action,
    pub options: ActionOptions,
    /// The reference as the requester gave it.
    pub target_ref: String,
    pub forest: Option<String>,
    pub target_dn: Option<String>,
    pub target_sid: Option<String>,
    /// A second request with the same key returns the first job.
    pub idempotency_key: Option<String>,
    /// Why a second person must approve before the job may run (a protected identity).
    pub approval_required: Option<String>,
    /// What the job will do in each directory.
    pub steps: Vec<riposte_core::containment::Step>,
    /// For an automatic job: the input of the alert it answers (`tail:corp`,
    /// `api:token:fwd`), so that whoever fed the events cannot approve it.
    pub evidence_input: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    Pending,
    Approved,
    Rejected,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Pending => "pending",
            Approval::Approved => "approved",
            Approval::Rejected => "rejected",
        }
    }
}

impl FromStr for Approval {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(Approval::Pending),
            "approved" => Ok(Approval::Approved),
            "rejected" => Ok(Approval::Rejected),
            other => Err(StoreError::Corrupt(format!(
                "unknown approval state {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub requested_by: String,
    /// The person behind the requester's credential, if any.
    pub requester_person: Option<String>,
    pub source: String,
    pub reason: String,
    pub action: Action,
    pub options: ActionOptions,
    pub target_ref: String,
    pub forest: Option<String>,
    pub target_dn: Option<String>,
    pub target_sid: Option<String>,
    pub state: JobState,
    /// The executor phase last recorded (preflight, writing, ...).
    pub phase: Option<String>,
    /// The DC the job last worked with.
    pub dc: Option<String>,
    /// The worker holding the job while it runs.
    pub owner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    /// The action's write may have reached the directory.
    pub write_sent: bool,
    pub outcome: Option<Outcome>,
    pub message: Option<String>,
    pub evidence: Option<Evidence>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub idempotency_key: Option<String>,
    /// Second-person approval: `None` when not needed.
    pub approval: Option<Approval>,
    pub approval_reason: Option<String>,
    pub decided_by: Option<String>,
    /// What the job does in each directory (empty for jobs that never resolved a target).
    pub steps: Vec<riposte_core::containment::Step>,
    /// The bulk operation this job is a child of.
    pub bulk_id: Option<Uuid>,
    /// For an automatic job: the input of the alert it answers (see `NewJob`).
    #[serde(default)]
    pub evidence_input: Option<String>,
}

impl Job {
    /// Whether this job changed something (`riposte_core::outcome::changed_something`).
    pub fn changed_something(&self) -> bool {
        riposte_core::outcome::changed_something(self.outcome, self.evidence.as_ref())
    }

    /// Waiting for a second person: queued, but no worker may claim it.
    pub fn awaiting_approval(&self) -> bool {
        self.state == JobState::Queued && self.approval == Some(Approval::Pending)
    }
}

/// One state change of a job, as kept in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEvent {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub state: JobState,
    pub phase: Option<String>,
    pub message: String,
}

/// Filters for listing jobs; every field narrows the list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Matches the reference as typed, the DN or the SID (case-insensitive substring).
    pub target: Option<String>,
    pub action: Option<Action>,
    pub outcome: Option<Outcome>,
    pub requested_by: Option<String>,
    pub source: Option<String>,
    pub state: Option<JobState>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Only the children of this bulk operation.
    pub bulk_id: Option<Uuid>,
    /// At most this many, newest first (default 100).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A progress record; written before the step it names is taken.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub phase: &'a str,
    pub dc: &'a str,
    pub write_sent: bool,
    pub message: &'a str,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    pub outcome: Outcome,
    pub message: &'a str,
    pub evidence: &'a Evidence,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(Job),
    /// The idempotency key was used before: this is that job.
    Existing(Job),
}

impl Created {
    pub fn job(&self) -> &Job {
        match self {
            Created::New(j) | Created::Existing(j) => j,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the job ledger at {location}: {message}")]
    Open { location: String, message: String },
    #[error(
        "the job ledger at {location} cannot be written ({message}): free space on its disk or make it writable again; until then no new work is accepted, and jobs already accepted wait in the ledger"
    )]
    Unwritable { location: String, message: String },
    #[error("job {0} does not exist")]
    NoSuchJob(Uuid),
    #[error(
        "job {id} is held by {holder}, not {owner}: the lease was lost, so this worker must stop"
    )]
    LeaseLost {
        id: Uuid,
        owner: String,
        holder: String,
    },
    #[error("job {id} is already {state}; a job changes state only forward")]
    WrongState { id: Uuid, state: JobState },
    #[error("{0}")]
    Conflict(String),
    #[error("the job ledger holds an unreadable record: {0}")]
    Corrupt(String),
    #[error("the job ledger failed: {0}")]
    Backend(String),
    /// An audit checkpoint was not signed (no key, or the ledger no longer
    /// matches its last checkpoint); see `audit::checkpoint::seal`.
    #[error("audit checkpoint refused: {0}")]
    CheckpointRefused(String),
}

/// The job ledger. Every implementation passes [`conformance`].
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a queued job and appends `request`, its `action-requested`
    /// audit record (its `job_id` set to the new job's), in one transaction:
    /// either both are in the ledger or neither, so no worker can claim a job
    /// whose request is not in the trail. A job whose idempotency key was used
    /// before is returned as it is, and nothing is appended.
    async fn create_job(&self, job: NewJob, request: NewAuditRecord)
    -> Result<Created, StoreError>;

    /// `Unwritable` while the ledger cannot take writes (its disk is full or
    /// read-only, or the database is read-only), else `Ok`: what readiness
    /// reports. Cheap while writes succeed; after a refused write, a backend
    /// checks with a real write, so it sees when space or writability returns.
    async fn check_writable(&self) -> Result<(), StoreError>;

    /// Records a second person's decision on a job awaiting approval. An
    /// approved job becomes claimable; a rejected one is finished as denied.
    /// `WrongState` unless the job is queued and pending approval.
    async fn decide_approval(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        comment: &str,
    ) -> Result<Job, StoreError>;

    /// queued -> running, held by `owner` until the lease runs out.
    /// `false` if another worker took it first, or the job awaits approval.
    async fn claim(&self, id: Uuid, owner: &str, lease: Duration) -> Result<bool, StoreError>;

    /// Claims the oldest queued job for `owner`, if there is one. Children of
    /// bulk operations are never taken here (they run through their bulk).
    async fn claim_next(&self, owner: &str, lease: Duration) -> Result<Option<Job>, StoreError>;

    /// Extends the lease of a running job its owner still holds (the
    /// worker's heartbeat while a step takes long). `LeaseLost` when another
    /// worker took it over, `WrongState` when it is no longer running.
    async fn renew_lease(&self, id: Uuid, owner: &str, lease: Duration) -> Result<(), StoreError>;

    /// Records a phase of a running job and renews the lease.
    async fn record_progress(
        &self,
        id: Uuid,
        owner: &str,
        progress: Progress<'_>,
        lease: Duration,
    ) -> Result<(), StoreError>;

    /// running -> finished (or queued -> finished when `owner` is `None`,
    /// for a job that ended before it could start).
    async fn finish(
        &self,
        id: Uuid,
        owner: Option<&str>,
        finish: Finish<'_>,
    ) -> Result<Job, StoreError>;

    /// [`finish`](JobStore::finish), with `outcome` (the job's
    /// `action-outcome` audit record; its `job_id` is set to the job's)
    /// appended in the same transaction: a job is finished with its outcome
    /// in the trail, or not finished and no record written, whenever the
    /// process dies.
    async fn finish_recorded(
        &self,
        id: Uuid,
        owner: Option<&str>,
        finish: Finish<'_>,
        outcome: NewAuditRecord,
    ) -> Result<Job, StoreError>;

    async fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError>;

    /// Jobs whose id starts with `prefix` (hex, with or without dashes), at most 10.
    async fn find_by_prefix(&self, prefix: &str) -> Result<Vec<Job>, StoreError>;

    async fn events(&self, id: Uuid) -> Result<Vec<JobEvent>, StoreError>;

    async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError>;

    /// Every job in the running state, whoever holds it.
    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError>;

    /// Moves a running job from `previous_owner` (dead, or lease expired) to
    /// `owner`. `false` if someone else took it first.
    async fn take_over(
        &self,
        id: Uuid,
        previous_owner: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError>;

    /// Job changes as they commit (see [`changes`]): every write above that
    /// records a job event signals it once committed, from this process and,
    /// for a store several nodes share, from the others.
    fn job_changes(&self) -> JobChanges;
}

/// The job ledger, the audit trail and bulk operations, kept together by one backend.
///
/// An `Arc<dyn Ledger>` (or `&dyn Ledger`) converts to `Arc<dyn JobStore>`
/// or `Arc<dyn AuditLog>` by trait upcasting:
/// `let jobs: Arc<dyn JobStore> = ledger.clone();`
pub trait Ledger: JobStore + AuditLog + BulkStore {}

impl<T: JobStore + AuditLog + BulkStore> Ledger for T {}

/// Everything a backend keeps: what `riposte` opens at start-up (see
/// the app's `store::open_store`), so nothing else needs to know the backend.
/// An `Arc<dyn Store>` converts to any of its parts by trait upcasting.
pub trait Store:
    Ledger + TokenStore + PeopleStore + SecondFactorStore + PendingSignInStore + AlertStore + LeaderLock
{
}

impl<T> Store for T where
    T: Ledger
        + TokenStore
        + PeopleStore
        + SecondFactorStore
        + PendingSignInStore
        + AlertStore
        + LeaderLock
{
}

/// Store backends describe times as Unix milliseconds.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
