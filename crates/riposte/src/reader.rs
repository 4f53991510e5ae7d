//! What a read-only command gets: lookups through the Runner (the same
//! reference resolution and job lookup as everywhere else), and no way to
//! submit, decide or control anything.

use riposte_core::containment::Identity;
use riposte_jobs::{FindJobError, Runner, RunnerError};
use riposte_store::{BulkOperation, Job, JobEvent, JobFilter, StoreError};
use uuid::Uuid;

#[derive(Clone, Copy)]
pub struct Reader<'a>(&'a Runner);

impl<'a> Reader<'a> {
    pub fn new(runner: &'a Runner) -> Self {
        Reader(runner)
    }

    /// The one identity a reference names, read from the directories.
    pub async fn find_identity(&self, reference: &str) -> Result<Identity, RunnerError> {
        self.0.find_identity(reference).await
    }

    /// A job by full id or unique prefix.
    pub async fn find_job(&self, id_or_prefix: &str) -> Result<Job, FindJobError> {
        self.0.find_job(id_or_prefix).await
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        self.0.store().list(filter).await
    }

    /// A job's timeline.
    pub async fn events(&self, job: Uuid) -> Result<Vec<JobEvent>, StoreError> {
        self.0.store().events(job).await
    }

    /// A bulk operation by full id or unique prefix.
    pub async fn find_bulk(&self, id_or_prefix: &str) -> Result<BulkOperation, RunnerError> {
        self.0.find_bulk(id_or_prefix).await
    }

    /// Recent bulk operations, newest first.
    pub async fn bulks(&self, limit: u32) -> Result<Vec<BulkOperation>, StoreError> {
        self.0.store().list_bulks(None, limit, 0).await
    }

    /// A bulk operation's child jobs.
    pub async fn bulk_jobs(&self, bulk: Uuid) -> Result<Vec<Job>, StoreError> {
        self.0.store().bulk_jobs(bulk).await
    }
}
