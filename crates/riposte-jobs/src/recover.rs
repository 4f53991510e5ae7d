//! Recover: jobs left behind. A worker that died (its process is gone, or
//! its lease ran out) leaves its running jobs to whoever sweeps next; a job
//! this worker left because the ledger refused a write is resumed as soon as
//! the ledger takes writes again. Each is taken over in the ledger (only one
//! worker wins) and run again from where it stood: the executor re-reads
//! the account first, so a write that may have been sent is verified, not
//! repeated, and the outcome is recorded as the system's.

use riposte_store::{Job, StoreError};
use time::OffsetDateTime;
use tracing::warn;
use uuid::Uuid;

use crate::{Runner, RunnerError, owner_is_gone};

impl Runner {
    /// Leaves a job this worker holds because the ledger cannot be written,
    /// for the sweep to resume ([`Runner::recover_interrupted`]).
    pub(crate) fn leave(&self, id: Uuid, refused: StoreError) -> RunnerError {
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
}
