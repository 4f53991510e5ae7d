//! Job changes are signalled once committed, whatever write made them (see
//! [`crate::changes`]): the worker and every event stream rely on it
//! instead of re-reading the ledger on a timer.

use std::time::Duration;

use riposte_core::evidence::Evidence;
use riposte_core::{Action, Outcome};
use uuid::Uuid;

use super::support::*;
use crate::{Finish, JobStore, JobWatch, Progress};

const LEASE: Duration = Duration::from_secs(60);

/// How long a check waits for a signal: far beyond a commit, and the
/// safety net given to `changed` is longer still, so only the signal can
/// end the wait in time.
const SIGNALLED_WITHIN: Duration = Duration::from_secs(20);

/// Waits for `job`'s signal; panics naming `what` if none comes.
async fn signalled(watch: &mut JobWatch, job: Uuid, what: &str) {
    tokio::time::timeout(
        SIGNALLED_WITHIN,
        watch.changed(Some(job), Duration::from_secs(3600)),
    )
    .await
    .unwrap_or_else(|_| panic!("no job change was signalled for {what}"));
    watch.skip_pending();
}

pub async fn every_job_change_is_signalled_once_committed(store: &dyn JobStore) {
    let mut watch = store.job_changes().subscribe();
    let job = create(store, new_job("conf-signal", Action::Disable)).await;
    signalled(&mut watch, job.id, "a queued job").await;
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());
    signalled(&mut watch, job.id, "a claim").await;
    let progress = Progress {
        phase: "writing",
        dc: "ldaps://dc1",
        write_sent: true,
        message: "disable",
    };
    store
        .record_progress(job.id, "node-a", progress, LEASE)
        .await
        .unwrap();
    signalled(&mut watch, job.id, "recorded progress").await;
    assert!(
        store
            .take_over(job.id, "node-a", "node-b", LEASE)
            .await
            .unwrap()
    );
    signalled(&mut watch, job.id, "a take-over").await;
    let evidence = Evidence::default();
    store
        .finish(
            job.id,
            Some("node-b"),
            Finish {
                outcome: Outcome::Verified,
                message: "ACCOUNTDISABLE is set",
                evidence: &evidence,
            },
        )
        .await
        .unwrap();
    signalled(&mut watch, job.id, "a finished job").await;

    let mut protected = new_job("conf-signal-approval", Action::Disable);
    protected.approval_required = Some("adminCount=1".into());
    let protected = create(store, protected).await;
    signalled(&mut watch, protected.id, "a job awaiting approval").await;
    store
        .decide_approval(protected.id, "user:bob", true, "confirmed")
        .await
        .unwrap();
    signalled(&mut watch, protected.id, "an approval").await;
    let next = store.claim_next("node-a", LEASE).await.unwrap();
    assert_eq!(next.map(|j| j.id), Some(protected.id));
    signalled(&mut watch, protected.id, "claim_next").await;
}

/// A store shared by several nodes (PostgreSQL): one node's change is
/// signalled on the other. Not in [`conformance_tests!`](crate::conformance_tests):
/// processes sharing a SQLite file only see each other's changes by the
/// waiters' safety net.
pub async fn a_job_change_on_one_node_is_signalled_on_the_other(
    a: &dyn JobStore,
    b: &dyn JobStore,
) {
    let mut on_b = b.job_changes().subscribe();
    // b listens from its first subscription: wait until its listener runs
    // (it then tells every waiter to look again), so the change below is
    // not made before anyone listens.
    tokio::time::timeout(
        SIGNALLED_WITHIN,
        on_b.changed(None, Duration::from_secs(3600)),
    )
    .await
    .expect("the second node starts listening");
    on_b.skip_pending();
    let job = create(a, new_job("conf-signal-nodes", Action::Disable)).await;
    signalled(&mut on_b, job.id, "a job queued on the other node").await;
    assert!(a.claim(job.id, "node-a", LEASE).await.unwrap());
    signalled(&mut on_b, job.id, "a claim on the other node").await;
}
