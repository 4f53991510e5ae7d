//! A change and its audit record commit together, or neither does: a job
//! with its request, a finish with its outcome, a bulk with its state change.

use std::future::Future;
use std::task::Poll;

use riposte_core::evidence::Evidence;
use riposte_core::{Action, Outcome};
use serde_json::json;
use uuid::Uuid;

use super::support::*;
use crate::{Created, Finish, JobFilter, JobState, Ledger, NewJob, StoreError, verify_chain};

/// The target whose request record a backend's test makes the ledger refuse
/// (a trigger of its own), for [`a_job_is_not_stored_when_its_request_record_is_not`].
pub const REFUSED_RECORD_TARGET: &str = "conf-record-refused";

/// Every audit record of one job, oldest first.
async fn records_of(store: &dyn Ledger, id: Uuid) -> Vec<crate::AuditRecord> {
    let mut found = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_records(after, 500).await.unwrap();
        let Some(last) = page.last() else {
            return found;
        };
        after = last.seq;
        found.extend(page.into_iter().filter(|r| r.job_id == Some(id)));
    }
}

/// A new job and its request record commit together: the record names the
/// job, sits on the chain, and a replayed idempotency key appends nothing;
/// concurrent requests each get exactly one record and the chain holds.
pub async fn a_job_and_its_request_record_are_written_together(store: &dyn Ledger) {
    let mut fed = new_job("conf-with-record", Action::Disable);
    fed.evidence_input = Some("api:token:conf-fwd".into());
    let job = create(store, fed).await;
    assert_eq!(
        store
            .get(job.id)
            .await
            .unwrap()
            .unwrap()
            .evidence_input
            .as_deref(),
        Some("api:token:conf-fwd"),
        "who fed an automatic job's evidence is kept with it"
    );
    let records = records_of(store, job.id).await;
    assert_eq!(records.len(), 1, "one request record per job: {records:?}");
    let record = &records[0];
    assert_eq!(record.event, "action-requested");
    assert_eq!(record.job_id, Some(job.id), "the store sets the job id");
    assert_eq!(record.target.as_deref(), Some("conf-with-record"));
    assert_eq!(record.remote_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(record.details["dn"], json!(job.target_dn));
    // The record was written before anyone could claim the job.
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());

    let mut keyed = new_job("conf-with-record-key", Action::Disable);
    keyed.idempotency_key = Some("conf-record-key".into());
    let first = store
        .create_job(keyed.clone(), request_record(&keyed))
        .await
        .unwrap();
    let head = store.audit_head().await.unwrap();
    let again = store
        .create_job(keyed.clone(), request_record(&keyed))
        .await
        .unwrap();
    assert!(matches!(again, Created::Existing(_)));
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "a replayed request appends no second record"
    );
    assert_eq!(records_of(store, first.job().id).await.len(), 1);

    let creates: Vec<_> = (0..12)
        .map(|n| {
            let job = new_job(&format!("conf-with-record-{n}"), Action::Disable);
            let request = request_record(&job);
            store.create_job(job, request)
        })
        .collect();
    let appends: Vec<_> = (0..6)
        .map(|n| store.append(audit_record("conf-with-record-append", n)))
        .collect();
    let (created, appended) = futures_join(join_all(creates), join_all(appends)).await;
    assert!(appended.iter().all(Result::is_ok), "{appended:?}");
    for created in created {
        let job = created.expect("every concurrent request is recorded");
        let records = records_of(store, job.job().id).await;
        assert_eq!(records.len(), 1, "{records:?}");
    }
    let report = verify_chain(store).await.unwrap();
    assert_eq!(
        report.first_break, None,
        "jobs with records broke the chain"
    );
}

/// A job is finished and its outcome record appended together
/// (`finish_recorded`): the record names the job and sits on the chain; a
/// finish refused (not the owner, already finished) appends nothing.
pub async fn a_job_and_its_outcome_record_are_finished_together(store: &dyn Ledger) {
    let evidence = Evidence::default();
    let finish = |message| Finish {
        outcome: Outcome::Verified,
        message,
        evidence: &evidence,
    };
    let job = create(store, new_job("conf-with-outcome", Action::Disable)).await;
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());
    let head = store.audit_head().await.unwrap();
    let refused = store
        .finish_recorded(
            job.id,
            Some("node-b"),
            finish("not mine"),
            outcome_record("conf-with-outcome", Outcome::Verified),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "a refused finish appended its record"
    );
    let finished = store
        .finish_recorded(
            job.id,
            Some("node-a"),
            finish("done"),
            outcome_record("conf-with-outcome", Outcome::Verified),
        )
        .await
        .unwrap();
    assert_eq!(finished.state, JobState::Finished);
    let records = records_of(store, job.id).await;
    let events: Vec<&str> = records.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        ["action-requested", "action-outcome"],
        "{records:?}"
    );
    assert_eq!(records[1].job_id, Some(job.id), "the store sets the job id");
    assert_eq!(records[1].result, "verified");
    let head = store.audit_head().await.unwrap();
    let again = store
        .finish_recorded(
            job.id,
            Some("node-a"),
            finish("twice"),
            outcome_record("conf-with-outcome", Outcome::Verified),
        )
        .await;
    assert!(again.is_err(), "a finished job finished again: {again:?}");
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "a second outcome record"
    );
    // A job that never started (cancelled, unreachable) finishes the same way.
    let queued = create(store, new_job("conf-with-outcome-queued", Action::Disable)).await;
    store
        .finish_recorded(
            queued.id,
            None,
            finish("cancelled"),
            outcome_record("conf-with-outcome-queued", Outcome::Failed),
        )
        .await
        .unwrap();
    assert_eq!(records_of(store, queued.id).await.len(), 2);
    let report = verify_chain(store).await.unwrap();
    assert_eq!(report.first_break, None, "outcome records broke the chain");
}

/// When the outcome record cannot be written, the job is not finished either:
/// it stays running for recovery to re-verify. The backend's test must first
/// make its ledger refuse audit records whose target is [`REFUSED_RECORD_TARGET`].
pub async fn a_job_is_not_finished_when_its_outcome_record_is_not(store: &dyn Ledger) {
    let job = create(store, new_job("conf-outcome-refused", Action::Disable)).await;
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());
    let head = store.audit_head().await.unwrap();
    let evidence = Evidence::default();
    let refused = store
        .finish_recorded(
            job.id,
            Some("node-a"),
            Finish {
                outcome: Outcome::Verified,
                message: "done",
                evidence: &evidence,
            },
            outcome_record(REFUSED_RECORD_TARGET, Outcome::Verified),
        )
        .await;
    assert!(refused.is_err(), "the refused record was kept: {refused:?}");
    let job = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(
        job.state,
        JobState::Running,
        "a job finished without its outcome record"
    );
    assert_eq!(store.audit_head().await.unwrap(), head, "the chain moved");
}

/// The state-change records of one bulk (all but its `bulk-requested`), oldest first.
async fn bulk_state_records(store: &dyn Ledger, bulk: Uuid) -> Vec<crate::AuditRecord> {
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
                .filter(|r| r.event != "bulk-requested" && r.details["bulk_id"] == json!(bulk)),
        );
    }
}

/// A bulk changes state and its record is appended together
/// (`set_bulk_state_recorded`): the record names the bulk, its action, new
/// state and the counts the change saw, and sits on the chain; a change
/// refused (wrong state, children left) appends nothing.
pub async fn a_bulk_and_its_state_record_change_together(store: &dyn Ledger) {
    use crate::BulkState::{Cancelled, Finished, Paused, Running};
    let children: Vec<NewJob> = (0..2)
        .map(|i| new_job(&format!("conf-bulk-recorded-{i}"), Action::Disable))
        .collect();
    let bulk = store
        .create_bulk(
            new_bulk("references"),
            children,
            bulk_record("conf-bulk-recorded"),
        )
        .await
        .unwrap();
    let target = format!("bulk:{}", bulk.id);
    let head = store.audit_head().await.unwrap();
    let refused = store
        .set_bulk_state_recorded(
            bulk.id,
            &[Paused],
            Running,
            bulk_state_record(&target, "bulk-resumed"),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "a refused state change appended its record"
    );
    let paused = store
        .set_bulk_state_recorded(
            bulk.id,
            &[Running],
            Paused,
            bulk_state_record(&target, "bulk-paused"),
        )
        .await
        .unwrap();
    assert_eq!(paused.state, Paused);
    store
        .set_bulk_state_recorded(
            bulk.id,
            &[Paused],
            Running,
            bulk_state_record(&target, "bulk-resumed"),
        )
        .await
        .unwrap();
    // Not finished while children are left, and no record.
    let head = store.audit_head().await.unwrap();
    let early = store
        .set_bulk_state_recorded(
            bulk.id,
            &[Running],
            Finished,
            bulk_state_record(&target, "bulk-finished"),
        )
        .await;
    assert!(matches!(early, Err(StoreError::Conflict(_))), "{early:?}");
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "a refused finish appended its record"
    );
    for job in store.bulk_jobs(bulk.id).await.unwrap() {
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
    let finished = store
        .set_bulk_state_recorded(
            bulk.id,
            &[Running],
            Finished,
            bulk_state_record(&target, "bulk-finished"),
        )
        .await
        .unwrap();
    assert_eq!(finished.state, Finished);
    let records = bulk_state_records(store, bulk.id).await;
    let events: Vec<&str> = records.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        ["bulk-paused", "bulk-resumed", "bulk-finished"],
        "{records:?}"
    );
    assert_eq!(records[0].target.as_deref(), Some(target.as_str()));
    assert_eq!(records[0].job_id, None);
    assert_eq!(records[0].details["state"], "paused");
    assert_eq!(records[0].details["action"], "disable");
    assert_eq!(records[0].details["counts"]["queued"], 2);
    let done = &records[2].details;
    assert_eq!(done["state"], "finished");
    assert_eq!(done["counts"]["total"], 2);
    assert_eq!(done["counts"]["finished"], 2, "the counts the finish saw");
    assert_eq!(done["counts"]["failed"], 2);
    assert_eq!(done["counts"]["queued"], 0);
    // Finished is final: a second finish or a cancel writes nothing.
    let head = store.audit_head().await.unwrap();
    for (from, to, event) in [
        (Running, Finished, "bulk-finished"),
        (Running, Cancelled, "bulk-cancelled"),
    ] {
        let again = store
            .set_bulk_state_recorded(bulk.id, &[from], to, bulk_state_record(&target, event))
            .await;
        assert!(again.is_err(), "a finished bulk changed again: {again:?}");
    }
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "a second state record"
    );
    let report = verify_chain(store).await.unwrap();
    assert_eq!(report.first_break, None, "bulk records broke the chain");
}

/// When a bulk's state-change record cannot be written, the bulk keeps its
/// state: a bulk all of whose children are done stays running (its next
/// driver finishes it), a pause does not happen. The backend's test must
/// first make its ledger refuse audit records whose target is
/// [`REFUSED_RECORD_TARGET`].
pub async fn a_bulk_keeps_its_state_when_its_record_is_not(store: &dyn Ledger) {
    use crate::BulkState::{Finished, Paused, Running};
    let children: Vec<NewJob> = (0..2)
        .map(|i| new_job(&format!("conf-bulk-state-refused-{i}"), Action::Disable))
        .collect();
    let bulk = store
        .create_bulk(
            new_bulk("references"),
            children,
            bulk_record("conf-bulk-state-refused"),
        )
        .await
        .unwrap();
    let head = store.audit_head().await.unwrap();
    let refused = store
        .set_bulk_state_recorded(
            bulk.id,
            &[Running],
            Paused,
            bulk_state_record(REFUSED_RECORD_TARGET, "bulk-paused"),
        )
        .await;
    assert!(refused.is_err(), "the refused record was kept: {refused:?}");
    let kept = store.get_bulk(bulk.id).await.unwrap().unwrap();
    assert_eq!(kept.state, Running, "a bulk paused without its record");
    assert_eq!(store.audit_head().await.unwrap(), head, "the chain moved");
    for job in store.bulk_jobs(bulk.id).await.unwrap() {
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
    let head = store.audit_head().await.unwrap();
    let refused = store
        .set_bulk_state_recorded(
            bulk.id,
            &[Running],
            Finished,
            bulk_state_record(REFUSED_RECORD_TARGET, "bulk-finished"),
        )
        .await;
    assert!(refused.is_err(), "the refused record was kept: {refused:?}");
    let kept = store.get_bulk(bulk.id).await.unwrap().unwrap();
    assert_eq!(
        kept.state, Running,
        "a bulk finished without its bulk-finished record"
    );
    assert_eq!(store.audit_head().await.unwrap(), head, "the chain moved");
    assert!(bulk_state_records(store, bulk.id).await.is_empty());
    // Once records can be written again, the next driver finishes it.
    store
        .set_bulk_state_recorded(
            bulk.id,
            &[Running],
            Finished,
            bulk_state_record(&format!("bulk:{}", bulk.id), "bulk-finished"),
        )
        .await
        .unwrap();
    let records = bulk_state_records(store, bulk.id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].details["counts"]["finished"], 2);
}

/// Runs two futures to the end together.
async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.expect("done"), rb.expect("done"))
}

/// When the request record cannot be written, the job is not stored either.
/// The backend's test must first make its ledger refuse audit records whose
/// target is [`REFUSED_RECORD_TARGET`].
pub async fn a_job_is_not_stored_when_its_request_record_is_not(store: &dyn Ledger) {
    let head = store.audit_head().await.unwrap();
    let before = store.list(&JobFilter::default()).await.unwrap().len();
    let job = new_job(REFUSED_RECORD_TARGET, Action::Disable);
    let request = request_record(&job);
    let refused = store.create_job(job, request).await;
    assert!(refused.is_err(), "the refused record was kept: {refused:?}");
    let jobs = store
        .list(&JobFilter {
            target: Some(REFUSED_RECORD_TARGET.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        jobs.is_empty(),
        "a job without its request record: {jobs:?}"
    );
    assert_eq!(
        store.list(&JobFilter::default()).await.unwrap().len(),
        before
    );
    assert_eq!(store.audit_head().await.unwrap(), head, "the chain moved");
    // The same for a bulk: no bulk and no child without the bulk's record.
    let bulks = store.list_bulks(None, 1000, 0).await.unwrap().len();
    let children: Vec<NewJob> = (0..3)
        .map(|i| new_job(&format!("conf-bulk-refused-{i}"), Action::Disable))
        .collect();
    let refused = store
        .create_bulk(new_bulk("ou"), children, bulk_record(REFUSED_RECORD_TARGET))
        .await;
    assert!(
        refused.is_err(),
        "the refused bulk record was kept: {refused:?}"
    );
    assert_eq!(store.list_bulks(None, 1000, 0).await.unwrap().len(), bulks);
    let jobs = store
        .list(&JobFilter {
            target: Some("conf-bulk-refused".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        jobs.is_empty(),
        "bulk children without their record: {jobs:?}"
    );
    assert_eq!(store.audit_head().await.unwrap(), head, "the chain moved");
}
