//! Actions as jobs. The [`Runner`] is the one path from a request to a
//! recorded outcome, for every front end: it resolves the target, writes
//! the job to the ledger, claims it, runs the executor with each phase
//! recorded before it happens, and stores the outcome. At start it takes
//! over jobs whose worker died and re-verifies them. Each request and each
//! outcome is also appended to the audit trail.
//!
//! The Runner is one struct; its work is split by phase, each phase a module
//! adding its part of `impl Runner`:
//! - `resolve`: a reference to the one identity it names (forests, tenants);
//! - `intake`: checks, safeguards, the policy, and the job with its request record;
//! - `approval`: a second person's decision; automation's refusal of protected identities;
//! - `execute`: claim, run each step, read back, finish with the outcome record
//!   (`execute::lease`: the lease heartbeat, each phase recorded before its step);
//! - `recover`: take over jobs whose worker is gone, resume jobs left unrecorded;
//! - [`bulk`] and `bulk_control`: one request on many accounts, through the same phases;
//! - `find` and [`view`]: jobs by id or prefix, and their one JSON shape.
#![forbid(unsafe_code)]

mod approval;
pub mod bulk;
mod bulk_control;
mod error;
mod execute;
mod find;
mod intake;
mod owner;
mod recover;
mod resolve;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use riposte_core::cloud::CloudDirectory;
use riposte_core::directory::Directory;
use riposte_core::safeguards::{self, Protection};
use riposte_store::Ledger;
use uuid::Uuid;

pub use bulk::{BulkLimits, BulkPlan, BulkRequest, BulkRun, Selector};
pub use error::RunnerError;
pub use execute::Completed;
pub use find::FindJobError;
pub use intake::{ActionRequest, Enqueued};
pub use owner::{WorkerId, owner_is_gone};
pub use resolve::Target;

/// How long a worker holds a job between two records of progress.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

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
    /// The worker's subscription to the ledger's job changes (any node's),
    /// kept across waits so a change between two looks is never missed.
    changes: Option<tokio::sync::Mutex<riposte_store::JobWatch>>,
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
            changes: None,
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

    /// Wakes a worker waiting in [`Runner::wait_for_work`] whenever a job
    /// changes in the ledger (queued, decided, claimed, finished; on this
    /// node or, on a shared ledger, another) or a bulk here is resumed.
    /// Call it inside the tokio runtime.
    pub fn with_queue_notifications(mut self) -> Self {
        self.queued = Some(Arc::new(tokio::sync::Notify::new()));
        self.changes = Some(tokio::sync::Mutex::new(
            self.store.job_changes().subscribe(),
        ));
        self
    }
}
