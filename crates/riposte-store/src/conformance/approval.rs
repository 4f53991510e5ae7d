//! Jobs and bulk operations that wait for a second person's decision.

use riposte_core::{Action, Outcome};
use serde_json::json;

use super::support::*;
use crate::{Approval, BulkState, JobState, JobStore, Ledger, NewAuditRecord, StoreError};

pub async fn a_job_awaiting_approval_is_never_claimed_until_approved(store: &dyn JobStore) {
    while store.claim_next("drain", LEASE).await.unwrap().is_some() {}
    let mut request = new_job("conf-approval", Action::Disable);
    request.approval_required = Some("adminCount=1".into());
    let job = create(store, request).await;
    assert!(job.awaiting_approval());
    assert_eq!(job.approval_reason.as_deref(), Some("adminCount=1"));
    assert!(
        !store.claim(job.id, "worker", LEASE).await.unwrap(),
        "claimed a job awaiting approval"
    );
    assert!(store.claim_next("worker", LEASE).await.unwrap().is_none());
    let approved = store
        .decide_approval(job.id, "user:bob", true, "confirmed with the SOC lead")
        .await
        .unwrap();
    assert_eq!(approved.approval, Some(crate::Approval::Approved));
    assert_eq!(approved.decided_by.as_deref(), Some("user:bob"));
    assert!(
        store
            .decide_approval(job.id, "user:carol", false, "late")
            .await
            .is_err(),
        "decided twice"
    );
    assert_eq!(
        store
            .claim_next("worker", LEASE)
            .await
            .unwrap()
            .map(|j| j.id),
        Some(job.id)
    );
}

pub async fn a_rejected_job_is_finished_as_denied(store: &dyn JobStore) {
    let mut request = new_job("conf-reject", Action::Disable);
    request.approval_required = Some("configured as protected".into());
    let job = create(store, request).await;
    let done = store
        .decide_approval(job.id, "user:bob", false, "not this one")
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Finished);
    assert_eq!(done.outcome, Some(Outcome::Denied));
    assert!(done.message.unwrap().contains("rejected by user:bob"));
    let plain = create(store, new_job("conf-reject-plain", Action::Disable)).await;
    assert!(
        store
            .decide_approval(plain.id, "user:bob", true, "x")
            .await
            .is_err(),
        "a job needing no approval was approved"
    );
}

fn decision(event: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "user:bob".into(),
        source: "cli".into(),
        remote_addr: None,
        event: event.into(),
        target: None,
        job_id: None,
        result: "success".into(),
        details: json!({}),
    }
}

/// A bulk stored with an approval requirement is paused and pending: none
/// of its children is claimed and it cannot be resumed; only a decision
/// starts it (approved: running) or ends it (rejected: cancelled), with the
/// decision's record in the same transaction.
pub async fn a_bulk_awaiting_approval_never_runs_until_a_second_person_decides(store: &dyn Ledger) {
    for approve in [true, false] {
        let mut bulk = new_bulk("ou");
        bulk.approval_required = Some("30 accounts, above approval_above = 25".into());
        let children = (0..2)
            .map(|i| {
                new_job(
                    &format!("conf-bulk-approval-{approve}-{i}"),
                    Action::Disable,
                )
            })
            .collect();
        let bulk = store
            .create_bulk(bulk, children, bulk_record("conf-bulk-approval"))
            .await
            .unwrap();
        assert_eq!(
            (bulk.state, bulk.approval),
            (BulkState::Paused, Some(Approval::Pending))
        );
        assert!(crate::bulk_awaiting_approval(&bulk));
        let jobs = store.bulk_jobs(bulk.id).await.unwrap();
        assert!(!store.claim(jobs[0].id, "w1", LEASE).await.unwrap());
        assert!(
            store
                .claim_next_in_bulk(bulk.id, None, "w1", LEASE)
                .await
                .unwrap()
                .is_none()
        );
        // Resuming is not approving.
        let resumed = store
            .set_bulk_state(bulk.id, &[BulkState::Paused], BulkState::Running)
            .await
            .unwrap_err();
        assert!(
            matches!(&resumed, StoreError::Conflict(m) if m.contains("approval")),
            "{resumed}"
        );
        let event = if approve {
            "bulk-approved"
        } else {
            "bulk-rejected"
        };
        let decided = store
            .decide_bulk_approval(bulk.id, "user:bob", approve, decision(event))
            .await
            .unwrap();
        assert_eq!(decided.decided_by.as_deref(), Some("user:bob"));
        if approve {
            assert_eq!(
                (decided.state, decided.approval),
                (BulkState::Running, Some(Approval::Approved))
            );
            let claimed = store
                .claim_next_in_bulk(bulk.id, None, "w1", LEASE)
                .await
                .unwrap()
                .expect("claimable once approved");
            store
                .finish(
                    claimed.id,
                    Some("w1"),
                    crate::Finish {
                        outcome: Outcome::Failed,
                        message: "conformance",
                        evidence: &Default::default(),
                    },
                )
                .await
                .unwrap();
        } else {
            assert_eq!(
                (decided.state, decided.approval),
                (BulkState::Cancelled, Some(Approval::Rejected))
            );
            assert!(!store.claim(jobs[1].id, "w1", LEASE).await.unwrap());
        }
        // Decided once.
        assert!(matches!(
            store
                .decide_bulk_approval(bulk.id, "user:carol", true, decision("bulk-approved"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        let mut after = 0;
        let mut recorded = Vec::new();
        loop {
            let page = store.audit_records(after, 500).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            recorded.extend(
                page.into_iter()
                    .filter(|r| r.event == event && r.details["bulk_id"] == json!(bulk.id)),
            );
        }
        assert_eq!(recorded.len(), 1, "one {event} record");
        if approve {
            store
                .set_bulk_state(bulk.id, &[BulkState::Running], BulkState::Cancelled)
                .await
                .unwrap();
        }
    }
}
