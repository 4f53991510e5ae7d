//! Bulk operations: a bulk and its children stored together, counted from
//! the children, and run only while the bulk runs.

use riposte_core::evidence::Evidence;
use riposte_core::{Action, Outcome};
use serde_json::json;
use uuid::Uuid;

use super::support::*;
use crate::{Finish, JobFilter, JobState, Ledger, NewJob};

/// The `bulk-requested` records of one bulk.
async fn bulk_records(store: &dyn Ledger, bulk: Uuid) -> Vec<crate::AuditRecord> {
    let mut found = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_records(after, 500).await.unwrap();
        let Some(last) = page.last() else {
            return found;
        };
        after = last.seq;
        found.extend(
            page.into_iter()
                .filter(|r| r.event == "bulk-requested" && r.details["bulk_id"] == json!(bulk)),
        );
    }
}

/// A bulk and its children are stored in one go, children keep their link,
/// counts come from the children, and the job list filters by bulk.
pub async fn bulk_children_are_created_together_and_counted(store: &dyn Ledger) {
    // A job outside the bulk, for the filter by bulk to leave out.
    create(store, new_job("conf-bulk-count-outside", Action::Disable)).await;
    let children: Vec<NewJob> = (0..3)
        .map(|i| new_job(&format!("conf-bulk-count-{i}"), Action::Disable))
        .collect();
    let bulk = store
        .create_bulk(new_bulk("ou"), children, bulk_record("conf-bulk-count"))
        .await
        .expect("create bulk");
    assert_eq!(bulk.state, crate::BulkState::Running);
    assert_eq!(bulk.counts.total, 3);
    assert_eq!(bulk.counts.queued, 3);
    assert_eq!(bulk.finished_at, None);
    assert_eq!(bulk.skipped[0]["reference"], "corp:tier0admin");
    let jobs = store.bulk_jobs(bulk.id).await.unwrap();
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.bulk_id == Some(bulk.id)));
    assert_eq!(jobs[0].target_ref, "conf-bulk-count-0");
    // Its request record was written with it and names every child.
    let record = bulk_records(store, bulk.id).await;
    assert_eq!(record.len(), 1, "one bulk-requested record: {record:?}");
    assert_eq!(record[0].details["count"], 3);
    assert_eq!(
        record[0].details["reason"], "incident 42",
        "the caller's details are kept"
    );
    let named: Vec<String> = record[0].details["jobs"]
        .as_array()
        .expect("the record lists the children")
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        named,
        jobs.iter().map(|j| j.id.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(record[0].details["jobs"][1]["target"], "conf-bulk-count-1");
    let listed = store
        .list(&JobFilter {
            bulk_id: Some(bulk.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    // Children are finished one by one; counts follow.
    let first = store
        .claim_next_in_bulk(bulk.id, Some("corp"), "w1", LEASE)
        .await
        .unwrap()
        .expect("a child to claim");
    assert_eq!(first.id, jobs[0].id);
    store
        .finish(
            first.id,
            Some("w1"),
            Finish {
                outcome: Outcome::Verified,
                message: "read back",
                evidence: &Evidence::default(),
            },
        )
        .await
        .unwrap();
    let counted = store.get_bulk(bulk.id).await.unwrap().unwrap();
    assert_eq!(counted.counts.verified, 1);
    assert_eq!(counted.counts.finished, 1);
    assert_eq!(counted.counts.queued, 2);
    // Not finished while children are left.
    assert!(
        store
            .set_bulk_state(
                bulk.id,
                &[crate::BulkState::Running],
                crate::BulkState::Finished
            )
            .await
            .is_err()
    );
    for job in &jobs[1..] {
        store
            .finish(
                job.id,
                None,
                Finish {
                    outcome: Outcome::Failed,
                    message: "cancelled before it started",
                    evidence: &Evidence::default(),
                },
            )
            .await
            .unwrap();
    }
    let done = store
        .set_bulk_state(
            bulk.id,
            &[crate::BulkState::Running],
            crate::BulkState::Finished,
        )
        .await
        .unwrap();
    assert_eq!(done.state, crate::BulkState::Finished);
    assert_eq!(done.counts.failed, 2);
    assert!(done.finished_at.is_some());
    // Finished is final.
    assert!(
        store
            .set_bulk_state(
                bulk.id,
                &[crate::BulkState::Finished],
                crate::BulkState::Running
            )
            .await
            .is_err()
    );
    let listed = store
        .list_bulks(Some(crate::BulkState::Finished), 100, 0)
        .await
        .unwrap();
    assert!(listed.iter().any(|b| b.id == bulk.id));
}

/// Children of a paused or cancelled bulk are never claimed, by any path,
/// and claim_next never takes a bulk child.
pub async fn bulk_children_run_only_while_their_bulk_runs(store: &dyn Ledger) {
    let children: Vec<NewJob> = (0..2)
        .map(|i| new_job(&format!("conf-bulk-pause-{i}"), Action::Disable))
        .collect();
    let bulk = store
        .create_bulk(
            new_bulk("references"),
            children,
            bulk_record("conf-bulk-run"),
        )
        .await
        .unwrap();
    let jobs = store.bulk_jobs(bulk.id).await.unwrap();
    // The general queue never hands out bulk children.
    while let Some(job) = store.claim_next("conf-general", LEASE).await.unwrap() {
        assert_eq!(job.bulk_id, None, "claim_next took a bulk child");
        store
            .finish(
                job.id,
                Some("conf-general"),
                Finish {
                    outcome: Outcome::Failed,
                    message: "conformance drain",
                    evidence: &Evidence::default(),
                },
            )
            .await
            .unwrap();
    }
    let paused = store
        .set_bulk_state(
            bulk.id,
            &[crate::BulkState::Running],
            crate::BulkState::Paused,
        )
        .await
        .unwrap();
    assert_eq!(paused.state, crate::BulkState::Paused);
    assert!(!store.claim(jobs[0].id, "w1", LEASE).await.unwrap());
    assert!(
        store
            .claim_next_in_bulk(bulk.id, None, "w1", LEASE)
            .await
            .unwrap()
            .is_none()
    );
    // Pausing twice is refused, naming the state.
    let again = store
        .set_bulk_state(
            bulk.id,
            &[crate::BulkState::Running],
            crate::BulkState::Paused,
        )
        .await
        .unwrap_err();
    assert!(again.to_string().contains("paused"), "{again}");
    store
        .set_bulk_state(
            bulk.id,
            &[crate::BulkState::Paused],
            crate::BulkState::Running,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_next_in_bulk(bulk.id, Some("fabrikam"), "w1", LEASE)
            .await
            .unwrap()
            .is_none(),
        "a child of another forest was claimed"
    );
    let running = store
        .claim_next_in_bulk(bulk.id, Some("corp"), "w1", LEASE)
        .await
        .unwrap()
        .expect("claimable again after resume");
    assert_eq!(running.state, JobState::Running);
    let cancelled = store
        .set_bulk_state(
            bulk.id,
            &[crate::BulkState::Running, crate::BulkState::Paused],
            crate::BulkState::Cancelled,
        )
        .await
        .unwrap();
    assert_eq!(cancelled.state, crate::BulkState::Cancelled);
    assert!(!store.claim(jobs[1].id, "w1", LEASE).await.unwrap());
    // Cancelled is final.
    assert!(
        store
            .set_bulk_state(
                bulk.id,
                &[crate::BulkState::Cancelled],
                crate::BulkState::Running
            )
            .await
            .is_err()
    );
    // The running child still finishes normally.
    store
        .finish(
            running.id,
            Some("w1"),
            Finish {
                outcome: Outcome::Verified,
                message: "read back",
                evidence: &Evidence::default(),
            },
        )
        .await
        .unwrap();
}
