//! Job changes as they commit: the one signal that wakes the worker and
//! every stream following a job, instead of each of them re-reading the
//! ledger on a timer. Each store signals it after every write that records
//! a job event (queued, approval, claim, progress, finish, take-over),
//! whatever path made it; a store shared by several nodes also relays
//! other nodes' changes (PostgreSQL `LISTEN/NOTIFY`). A waiter still looks
//! again after a slow safety-net interval: a lost signal delays, never
//! strands.

use std::time::Duration;

use tokio::sync::broadcast;
use uuid::Uuid;

/// Signals buffered per waiter before it is told it lagged (and looks again).
const BUFFER: usize = 1024;

/// The channel PostgreSQL nodes notify each other on; the payload is the job id.
pub const CHANNEL: &str = "riposte_jobs";

/// The sender side: clone it freely, every clone signals the same waiters.
#[derive(Clone)]
pub struct JobChanges {
    sender: broadcast::Sender<Uuid>,
}

impl Default for JobChanges {
    fn default() -> Self {
        JobChanges {
            sender: broadcast::channel(BUFFER).0,
        }
    }
}

impl JobChanges {
    /// `job` changed (committed). Nobody waiting is fine.
    pub fn signal(&self, job: Uuid) {
        let _ = self.sender.send(job);
    }

    /// Any job may have changed (signals may have been lost, e.g. a
    /// reconnect): every waiter looks again.
    pub fn signal_all(&self) {
        let _ = self.sender.send(Uuid::nil());
    }

    /// A waiter. Subscribe BEFORE reading the state you wait to see change:
    /// a change committed after that is then never missed.
    pub fn subscribe(&self) -> JobWatch {
        JobWatch {
            receiver: self.sender.subscribe(),
        }
    }
}

/// One waiter's view of [`JobChanges`].
pub struct JobWatch {
    receiver: broadcast::Receiver<Uuid>,
}

impl JobWatch {
    /// Returns when `job` (None: any job) may have changed since the last
    /// call, or after `safety_net` at the latest: then look at the ledger.
    pub async fn changed(&mut self, job: Option<Uuid>, safety_net: Duration) {
        let wait = async {
            loop {
                match self.receiver.recv().await {
                    Ok(id) if job.is_none() || id.is_nil() || Some(id) == job => return,
                    Ok(_) => continue,
                    // Missed some: any of them may be ours.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    // No store signals any more: only the safety net is left.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        let _ = tokio::time::timeout(safety_net, wait).await;
    }

    /// Forgets the signals received so far: call it right before looking at
    /// the ledger, which shows what they announced.
    pub fn skip_pending(&mut self) {
        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = self.receiver.try_recv()
        {
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_sees_its_job_and_a_signal_to_all_and_not_other_jobs() {
        let changes = JobChanges::default();
        let (mine, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut watch = changes.subscribe();
        changes.signal(other);
        changes.signal(mine);
        // Sent before the wait began: still seen (no lost wake-up).
        tokio::time::timeout(
            Duration::from_secs(30),
            watch.changed(Some(mine), Duration::from_secs(3600)),
        )
        .await
        .expect("the job's own signal wakes its waiter");
        changes.signal_all();
        tokio::time::timeout(
            Duration::from_secs(30),
            watch.changed(Some(mine), Duration::from_secs(3600)),
        )
        .await
        .expect("a signal to all wakes every waiter");
        changes.signal(other);
        let woke = tokio::time::timeout(
            Duration::from_millis(50),
            watch.changed(Some(mine), Duration::from_secs(3600)),
        )
        .await;
        assert!(
            woke.is_err(),
            "another job's change does not wake this waiter"
        );
    }
}
