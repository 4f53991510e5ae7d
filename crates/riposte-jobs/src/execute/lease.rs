//! Leases and progress while a job runs: the heartbeat that renews this
//! worker's lease, and the sink that records each executor phase in the
//! ledger before its step is taken (and notices when the ledger cannot be
//! written, so the job is left to recovery instead of failed).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use riposte_core::executor::{Phase, ProgressSink};
use riposte_store::{JobStore, Ledger, Progress, StoreError};
use tracing::warn;
use uuid::Uuid;

/// Renews a running job's lease every third of it until dropped. When the
/// lease is lost (another worker took the job over), it stops renewing; the
/// executor then finds out at its next recorded phase, before any write.
pub(super) struct LeaseHeartbeat(tokio::task::JoinHandle<()>);

impl LeaseHeartbeat {
    pub(super) fn start(store: Arc<dyn Ledger>, job: Uuid, owner: String, lease: Duration) -> Self {
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
pub(super) struct LedgerSink<'a> {
    store: &'a dyn JobStore,
    job: Uuid,
    owner: &'a str,
    lease: Duration,
    /// The ledger refused a phase because it cannot be written.
    unwritable: std::sync::Mutex<Option<StoreError>>,
}

impl<'a> LedgerSink<'a> {
    pub(super) fn new(store: &'a dyn JobStore, job: Uuid, owner: &'a str, lease: Duration) -> Self {
        LedgerSink {
            store,
            job,
            owner,
            lease,
            unwritable: std::sync::Mutex::new(None),
        }
    }

    pub(super) fn take_unwritable(&self) -> Option<StoreError> {
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
