//! The checks that need two stores on one ledger, as two nodes have: `a`
//! and `b` are opened separately on the same database.

use std::time::Duration;

use riposte_core::evidence::Evidence;
use riposte_core::{Action, Outcome};
use time::OffsetDateTime;
use uuid::Uuid;

use super::support::*;
use crate::{AuditLog, Created, Finish, JobState, JobStore, Progress, StoreError, verify_chain};

async fn drain(store: &dyn JobStore) {
    while let Some(job) = store.claim_next("drain", LEASE).await.unwrap() {
        store
            .finish(
                job.id,
                Some("drain"),
                Finish {
                    outcome: Outcome::Failed,
                    message: "drained by the conformance suite",
                    evidence: &Evidence::default(),
                },
            )
            .await
            .unwrap();
    }
}

/// Two nodes asking for work at the same time never get the same job, and
/// every queued job is handed out exactly once.
pub async fn concurrent_claim_next_hands_each_job_to_one_owner(a: &dyn JobStore, b: &dyn JobStore) {
    drain(a).await;
    const JOBS: usize = 24;
    let mut created = Vec::new();
    for n in 0..JOBS {
        created.push(
            create(a, new_job(&format!("conf-multi-{n}"), Action::Disable))
                .await
                .id,
        );
    }
    // More claimers than jobs, half on each node, all polled together.
    let owners: Vec<String> = (0..JOBS + 8)
        .map(|n| format!("node-{}-w{n}", n % 2))
        .collect();
    let claims: Vec<_> = owners
        .iter()
        .enumerate()
        .map(|(n, owner)| {
            let store = if n % 2 == 0 { a } else { b };
            store.claim_next(owner, LEASE)
        })
        .collect();
    let results = join_all(claims).await;
    let mut claimed: Vec<(Uuid, String)> = Vec::new();
    for (owner, result) in owners.iter().zip(results) {
        if let Some(job) = result.expect("claim_next") {
            assert_eq!(job.owner.as_deref(), Some(owner.as_str()));
            claimed.push((job.id, owner.clone()));
        }
    }
    // A claimer that found the queue empty at its moment may leave jobs: take them now.
    while let Some(job) = b.claim_next("node-late", LEASE).await.unwrap() {
        claimed.push((job.id, "node-late".into()));
    }
    let mut ids: Vec<Uuid> = claimed.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(
        before,
        ids.len(),
        "a job was handed to two owners: {claimed:?}"
    );
    let mut expected = created.clone();
    expected.sort_unstable();
    assert_eq!(ids, expected, "every queued job is claimed exactly once");
    for (id, owner) in &claimed {
        let job = b.get(*id).await.unwrap().unwrap();
        assert_eq!(job.owner.as_deref(), Some(owner.as_str()), "job {id}");
        let claims = a
            .events(*id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.state == JobState::Running)
            .count();
        assert_eq!(claims, 1, "job {id} was claimed {claims} times");
    }
}

/// A node that stops renewing its lease loses the job: another node takes it
/// over, and the first can neither record progress nor finish it.
pub async fn an_expired_lease_is_taken_over_and_the_old_owner_stops(
    a: &dyn JobStore,
    b: &dyn JobStore,
) {
    drain(a).await;
    let job = create(a, new_job("conf-expire", Action::Disable)).await;
    let claimed = a
        .claim_next("node-a", Duration::from_millis(1))
        .await
        .unwrap()
        .expect("the queued job");
    assert_eq!(claimed.id, job.id);
    // Wait (not a timing assertion) until node b sees the lease as run out.
    let expired = loop {
        let seen = b
            .running_jobs()
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.id == job.id)
            .expect("running job seen by the other node");
        if seen
            .lease_expires_at
            .is_some_and(|t| t < OffsetDateTime::now_utc())
        {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(expired.owner.as_deref(), Some("node-a"));
    assert!(
        b.take_over(job.id, "node-a", "node-b", LEASE)
            .await
            .unwrap()
    );
    assert!(
        !a.take_over(job.id, "node-a", "node-a2", LEASE)
            .await
            .unwrap(),
        "taken over twice"
    );
    let progress = Progress {
        phase: "writing",
        dc: "ldaps://dc1",
        write_sent: true,
        message: "disable",
    };
    let err = a
        .record_progress(job.id, "node-a", progress, LEASE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::LeaseLost { ref holder, .. } if holder == "node-b"),
        "{err}"
    );
    assert!(matches!(
        a.renew_lease(job.id, "node-a", LEASE).await,
        Err(StoreError::LeaseLost { .. })
    ));
    let evidence = Evidence::default();
    let finish = |message| Finish {
        outcome: Outcome::Verified,
        message,
        evidence: &evidence,
    };
    let err = a
        .finish(job.id, Some("node-a"), finish("from the old owner"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    let done = b
        .finish(job.id, Some("node-b"), finish("re-verified by node-b"))
        .await
        .unwrap();
    assert_eq!(done.message.as_deref(), Some("re-verified by node-b"));
    let events = a.events(job.id).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.state == JobState::Finished)
            .count(),
        1
    );
    assert!(
        events
            .iter()
            .any(|e| e.phase.as_deref() == Some("recovery"))
    );
}

/// One node at a time leads a task; others lead other tasks; the lock is
/// free again once released, or once its holder is dropped.
pub async fn leader_lock_is_exclusive_until_released(
    a: &dyn crate::LeaderLock,
    b: &dyn crate::LeaderLock,
) {
    let mut lead = a
        .try_lead("conf-tail")
        .await
        .unwrap()
        .expect("the first node leads a free task");
    assert_eq!(lead.task(), "conf-tail");
    assert!(lead.still_leading().await);
    assert!(
        b.try_lead("conf-tail").await.unwrap().is_none(),
        "two leaders"
    );
    assert!(
        a.try_lead("conf-tail").await.unwrap().is_none(),
        "a second leader inside the same node"
    );
    let other = b
        .try_lead("conf-sweep")
        .await
        .unwrap()
        .expect("another task is free");
    lead.release().await;
    let mut lead_b = b
        .try_lead("conf-tail")
        .await
        .unwrap()
        .expect("free once released");
    assert!(lead_b.still_leading().await);
    // Dropped without release (as when a node dies): free again, once the
    // backend notices (a database sees the connection close a moment later).
    drop(lead_b);
    let mut tries = 0;
    let lead_a = loop {
        if let Some(l) = a.try_lead("conf-tail").await.unwrap() {
            break l;
        }
        tries += 1;
        assert!(tries < 1000, "a dropped leadership was never released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    drop(lead_a);
    other.release().await;
}

/// Two nodes appending at once still make one chain.
pub async fn concurrent_appends_from_two_nodes_form_one_chain(a: &dyn AuditLog, b: &dyn AuditLog) {
    let start = a.audit_head().await.unwrap().map_or(0, |(seq, _)| seq);
    let appends: Vec<_> = (0..30)
        .map(|n| {
            let log = if n % 2 == 0 { a } else { b };
            log.append(audit_record("conf-two-nodes", n))
        })
        .collect();
    let kept: Vec<_> = join_all(appends)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every concurrent append succeeds");
    let mut seqs: Vec<i64> = kept.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (start + 1..=start + 30).collect::<Vec<_>>());
    for log in [a, b] {
        let report = verify_chain(log).await.unwrap();
        assert_eq!(report.first_break, None, "two nodes broke the chain");
        assert_eq!(report.records, (start + 30) as u64);
    }
}

/// The same idempotency key sent to two nodes at once makes one job.
pub async fn concurrent_idempotent_requests_make_one_job(a: &dyn JobStore, b: &dyn JobStore) {
    let mut request = new_job("conf-idem-multi", Action::Disable);
    request.idempotency_key = Some("conf-multi-key".into());
    let creates: Vec<_> = (0..10)
        .map(|n| {
            let store = if n % 2 == 0 { a } else { b };
            store.create_job(request.clone(), request_record(&request))
        })
        .collect();
    let results: Vec<Created> = join_all(creates)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every request is answered");
    let new = results
        .iter()
        .filter(|c| matches!(c, Created::New(_)))
        .count();
    assert_eq!(new, 1, "{new} jobs for one idempotency key");
    let id = results[0].job().id;
    assert!(results.iter().all(|c| c.job().id == id));
}
