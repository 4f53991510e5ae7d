//! Conformance: one identity per person (token owners, the person behind a
//! request) and bulk operations that wait for a second person.

use riposte_core::policy::{Role, Scope};
use riposte_core::{Action, Outcome};
use serde_json::json;

use super::{LEASE, bulk_record, new_bulk, new_job};
use crate::{Approval, BulkState, Ledger, NewAuditRecord, StoreError, TokenStore};

/// A token names the person it belongs to; a service token names nobody.
pub async fn tokens_belong_to_their_owner(store: &dyn TokenStore) {
    let owned = store
        .create_token(
            "conf-alice-laptop",
            Role::Responder,
            &Scope::default(),
            Some("alice"),
            "user:admin",
            "hash-owned",
        )
        .await
        .unwrap();
    assert_eq!(owned.owner.as_deref(), Some("alice"));
    let found = store
        .token_by_hash("hash-owned")
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(found.principal().person.as_deref(), Some("alice"));
    let service = store
        .create_token(
            "conf-soar",
            Role::Responder,
            &Scope::default(),
            None,
            "user:admin",
            "hash-service",
        )
        .await
        .unwrap();
    assert_eq!(service.principal().person, None);
}

/// Jobs and bulk operations read back the person behind their request.
pub async fn jobs_and_bulks_keep_the_person_behind_their_request(store: &dyn Ledger) {
    let mut job = new_job("conf-person", Action::Disable);
    job.requested_by = "token:alice-laptop".into();
    job.requester_person = Some("alice".into());
    let stored = super::create(store, job).await;
    assert_eq!(stored.requester_person.as_deref(), Some("alice"));
    let mut bulk = new_bulk("references");
    bulk.requester_person = Some("alice".into());
    let mut child = new_job("conf-person-child", Action::Disable);
    child.requester_person = Some("alice".into());
    let bulk = store
        .create_bulk(bulk, vec![child], bulk_record("conf-person-bulk"))
        .await
        .unwrap();
    assert_eq!(bulk.requester_person.as_deref(), Some("alice"));
    assert_eq!(bulk.approval, None);
    let children = store.bulk_jobs(bulk.id).await.unwrap();
    assert_eq!(children[0].requester_person.as_deref(), Some("alice"));
    store
        .set_bulk_state(bulk.id, &[BulkState::Running], BulkState::Cancelled)
        .await
        .unwrap();
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
