//! The behaviour every [`Ledger`] backend must show, as a job store and as
//! an audit log. Each backend's tests call [`run_all`] on a fresh store;
//! checks use their own targets, so they can share one store.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use riposte_core::evidence::Evidence;
use riposte_core::{Action, ActionOptions, Outcome};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    AuditLog, Created, Finish, GENESIS_HASH, JobFilter, JobState, JobStore, Ledger, NewAuditRecord,
    NewJob, Progress, StoreError, record_hash, to_millis, verify_chain,
};

mod checkpoints;
pub use checkpoints::checkpoints_follow_every_append_path;
mod people;
pub use people::tokens_belong_to_their_owner;
mod retention;
pub use retention::{OLD_ALERT_DAYS, retention_removes_only_alerts_before_the_cut};

pub(crate) const LEASE: Duration = Duration::from_secs(30);

pub async fn run_all(store: &dyn Ledger) {
    // First, while the audit log is still empty.
    the_first_audit_record_links_to_genesis(store).await;
    audit_records_read_back_as_appended(store).await;
    audit_records_chain_and_page(store).await;
    concurrent_appends_form_one_chain(store).await;
    create_and_read_back(store).await;
    idempotency_key_returns_the_first_job(store).await;
    idempotency_keys_belong_to_their_caller(store).await;
    only_one_worker_claims_a_job(store).await;
    only_the_owner_records_progress(store).await;
    a_finished_job_never_changes(store).await;
    a_job_that_never_started_can_finish(store).await;
    list_filters_and_pages(store).await;
    take_over_is_exclusive(store).await;
    short_ids_find_jobs(store).await;
    claim_next_takes_the_oldest_queued_job_once(store).await;
    a_job_awaiting_approval_is_never_claimed_until_approved(store).await;
    a_rejected_job_is_finished_as_denied(store).await;
    only_the_owner_renews_a_lease(store).await;
    bulk_children_are_created_together_and_counted(store).await;
    bulk_children_run_only_while_their_bulk_runs(store).await;
    a_job_and_its_request_record_are_written_together(store).await;
    a_job_and_its_outcome_record_are_finished_together(store).await;
    a_bulk_and_its_state_record_change_together(store).await;
    people::jobs_and_bulks_keep_the_person_behind_their_request(store).await;
    people::a_bulk_awaiting_approval_never_runs_until_a_second_person_decides(store).await;
}

/// The checks that need two stores on one database, as two nodes have:
/// `a` and `b` must be opened separately on the same ledger.
pub async fn run_multi_node(a: &dyn crate::Store, b: &dyn crate::Store) {
    concurrent_claim_next_hands_each_job_to_one_owner(a, b).await;
    an_expired_lease_is_taken_over_and_the_old_owner_stops(a, b).await;
    leader_lock_is_exclusive_until_released(a, b).await;
    concurrent_appends_from_two_nodes_form_one_chain(a, b).await;
    concurrent_idempotent_requests_make_one_job(a, b).await;
}

pub fn new_job(target: &str, action: Action) -> NewJob {
    NewJob {
        requested_by: "cli:alice".into(),
        requester_person: None,
        source: "cli".into(),
        reason: "incident 42".into(),
        action,
        options: ActionOptions::default(),
        target_ref: target.into(),
        forest: Some("corp".into()),
        target_dn: Some(format!("CN={target},OU=Staff,DC=corp,DC=example,DC=test")),
        target_sid: Some("S-1-5-21-1-2-3-1105".into()),
        idempotency_key: None,
        approval_required: None,
        steps: vec![riposte_core::containment::Step::Ad {
            forest: "corp".into(),
            dn: format!("CN={target},OU=Staff,DC=corp,DC=example,DC=test"),
            action,
        }],
        evidence_input: None,
    }
}

pub async fn create(store: &dyn JobStore, job: NewJob) -> crate::Job {
    let request = request_record(&job);
    match store.create_job(job, request).await.expect("create") {
        Created::New(j) => j,
        Created::Existing(j) => panic!("a job without idempotency key matched {}", j.id),
    }
}

/// The `action-requested` record the Runner writes with a job (`job_id` is the store's to set).
pub fn request_record(job: &NewJob) -> NewAuditRecord {
    NewAuditRecord {
        actor: job.requested_by.clone(),
        source: job.source.clone(),
        remote_addr: Some("192.0.2.7".into()),
        event: "action-requested".into(),
        target: Some(job.target_ref.clone()),
        job_id: None,
        result: "success".into(),
        details: json!({ "action": job.action, "reason": job.reason, "dn": job.target_dn }),
    }
}

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

/// The `action-outcome` record the Runner finishes a job with (`job_id` is the store's to set).
pub fn outcome_record(target: &str, outcome: Outcome) -> NewAuditRecord {
    NewAuditRecord {
        actor: "conformance".into(),
        source: "cli".into(),
        remote_addr: None,
        event: "action-outcome".into(),
        target: Some(target.into()),
        job_id: None,
        result: outcome.as_str().into(),
        details: json!({ "message": "conformance" }),
    }
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

/// A bulk's state-change record (`bulk-paused`, `bulk-finished`, ...), as
/// the Runner writes it; the store adds the bulk's details.
pub fn bulk_state_record(target: &str, event: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "cli:alice".into(),
        source: "cli".into(),
        remote_addr: None,
        event: event.into(),
        target: Some(target.into()),
        job_id: None,
        result: "success".into(),
        details: json!({}),
    }
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

/// The target whose request record a backend's test makes the ledger refuse
/// (a trigger of its own), for [`a_job_is_not_stored_when_its_request_record_is_not`].
pub const REFUSED_RECORD_TARGET: &str = "conf-record-refused";

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

pub async fn create_and_read_back(store: &dyn JobStore) {
    let mut request = new_job("conf-create", Action::ForcePasswordReset);
    request.options.clear_blocking_flags = true;
    let job = create(store, request.clone()).await;
    assert_eq!(job.state, JobState::Queued);
    let read = store.get(job.id).await.unwrap().expect("stored job");
    assert_eq!(read.requested_by, request.requested_by);
    assert_eq!(read.reason, request.reason);
    assert_eq!(read.action, Action::ForcePasswordReset);
    assert!(read.options.clear_blocking_flags);
    assert_eq!(read.target_dn, request.target_dn);
    assert_eq!(read.steps, request.steps, "the planned steps round-trip");
    assert_eq!(read.outcome, None);
    let events = store.events(job.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].state, JobState::Queued);
    assert!(store.get(Uuid::new_v4()).await.unwrap().is_none());
}

pub async fn idempotency_key_returns_the_first_job(store: &dyn JobStore) {
    let mut request = new_job("conf-idem", Action::Disable);
    request.idempotency_key = Some("conf-key-1".into());
    let first = store
        .create_job(request.clone(), request_record(&request))
        .await
        .unwrap();
    let second = store
        .create_job(request.clone(), request_record(&request))
        .await
        .unwrap();
    assert!(matches!(first, Created::New(_)));
    match second {
        Created::Existing(j) => assert_eq!(j.id, first.job().id),
        Created::New(_) => panic!("the idempotency key was ignored"),
    }
}

/// A key registered first by someone else does not answer the caller's own request with
/// that other job: keys are scoped to the caller (`requested_by`).
pub async fn idempotency_keys_belong_to_their_caller(store: &dyn JobStore) {
    let mut attacker = new_job("conf-idem-victim", Action::Enable);
    attacker.requested_by = "token:mallory".into();
    attacker.idempotency_key = Some("soar-disable-conf-idem-victim".into());
    let mut soar = new_job("conf-idem-victim", Action::Disable);
    soar.requested_by = "token:soar".into();
    soar.idempotency_key = attacker.idempotency_key.clone();
    let squatted = store
        .create_job(attacker.clone(), request_record(&attacker))
        .await
        .unwrap();
    assert!(matches!(squatted, Created::New(_)));
    let first = store
        .create_job(soar.clone(), request_record(&soar))
        .await
        .unwrap();
    let Created::New(own) = &first else {
        panic!("another caller's key answered token:soar with its job");
    };
    assert_ne!(own.id, squatted.job().id);
    assert_eq!(own.requested_by, "token:soar");
    assert_eq!(own.action, Action::Disable);
    assert_eq!(own.idempotency_key, soar.idempotency_key);
    // The caller's own retry is still a replay, of its own job.
    match store
        .create_job(soar.clone(), request_record(&soar))
        .await
        .unwrap()
    {
        Created::Existing(j) => assert_eq!(j.id, own.id),
        Created::New(j) => panic!("a retry with the same key made a second job {}", j.id),
    }
    match store
        .create_job(attacker.clone(), request_record(&attacker))
        .await
        .unwrap()
    {
        Created::Existing(j) => assert_eq!(j.id, squatted.job().id),
        Created::New(j) => panic!("a retry with the same key made a second job {}", j.id),
    }
}

pub async fn only_one_worker_claims_a_job(store: &dyn JobStore) {
    let job = create(store, new_job("conf-claim", Action::Disable)).await;
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());
    assert!(!store.claim(job.id, "node-b", LEASE).await.unwrap());
    let read = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(read.state, JobState::Running);
    assert_eq!(read.owner.as_deref(), Some("node-a"));
    assert!(read.lease_expires_at.unwrap() > OffsetDateTime::now_utc());
}

pub async fn only_the_owner_records_progress(store: &dyn JobStore) {
    let job = create(store, new_job("conf-progress", Action::Disable)).await;
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());
    let writing = Progress {
        phase: "writing",
        dc: "ldaps://dc1",
        write_sent: true,
        message: "disable",
    };
    let err = store
        .record_progress(job.id, "node-b", writing.clone(), LEASE)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    store
        .record_progress(job.id, "node-a", writing, LEASE)
        .await
        .unwrap();
    let read = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(read.phase.as_deref(), Some("writing"));
    assert_eq!(read.dc.as_deref(), Some("ldaps://dc1"));
    assert!(read.write_sent);
}

pub async fn a_finished_job_never_changes(store: &dyn JobStore) {
    let job = create(store, new_job("conf-finish", Action::Disable)).await;
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());
    let evidence = Evidence {
        dc: Some("ldaps://dc1".into()),
        notes: vec!["n".into()],
        ..Evidence::default()
    };
    let done = store
        .finish(
            job.id,
            Some("node-a"),
            Finish {
                outcome: Outcome::Verified,
                message: "ACCOUNTDISABLE is set",
                evidence: &evidence,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Finished);
    assert_eq!(done.outcome, Some(Outcome::Verified));
    assert_eq!(done.evidence.as_ref(), Some(&evidence));
    assert!(done.finished_at.is_some());
    let again = store
        .finish(
            job.id,
            Some("node-a"),
            Finish {
                outcome: Outcome::Failed,
                message: "x",
                evidence: &evidence,
            },
        )
        .await;
    assert!(again.is_err(), "a finished job was finished twice");
    assert!(!store.claim(job.id, "node-b", LEASE).await.unwrap());
    let progress = Progress {
        phase: "writing",
        dc: "x",
        write_sent: true,
        message: "x",
    };
    assert!(
        store
            .record_progress(job.id, "node-a", progress, LEASE)
            .await
            .is_err()
    );
    let read = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(read.outcome, Some(Outcome::Verified));
    let states: Vec<JobState> = store
        .events(job.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.state)
        .collect();
    assert_eq!(
        states,
        vec![JobState::Queued, JobState::Running, JobState::Finished]
    );
}

pub async fn a_job_that_never_started_can_finish(store: &dyn JobStore) {
    let job = create(store, new_job("conf-unstarted", Action::Unlock)).await;
    let done = store
        .finish(
            job.id,
            None,
            Finish {
                outcome: Outcome::Failed,
                message: "DC unreachable",
                evidence: &Evidence::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(done.outcome, Some(Outcome::Failed));
    assert_eq!(done.message.as_deref(), Some("DC unreachable"));
}

pub async fn list_filters_and_pages(store: &dyn JobStore) {
    let mut ids = Vec::new();
    for (i, action) in [Action::Disable, Action::Enable, Action::Disable]
        .into_iter()
        .enumerate()
    {
        let mut request = new_job("conf-list-target", action);
        request.requested_by = format!("cli:lister{}", i % 2);
        let job = create(store, request).await;
        ids.push(job.id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let target = Some("conf-list".to_string());
    let all = store
        .list(&JobFilter {
            target: target.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|j| j.id).collect::<Vec<_>>(),
        ids.iter().rev().copied().collect::<Vec<_>>(),
        "newest first"
    );
    let disables = store
        .list(&JobFilter {
            target: target.clone(),
            action: Some(Action::Disable),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(disables.len(), 2);
    let by_requester = store
        .list(&JobFilter {
            target: target.clone(),
            requested_by: Some("cli:lister1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_requester.len(), 1);
    let page = store
        .list(&JobFilter {
            target: target.clone(),
            limit: Some(1),
            offset: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, ids[1]);
    let future = store
        .list(&JobFilter {
            target: target.clone(),
            since: Some(OffsetDateTime::now_utc() + time::Duration::hours(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(future.is_empty());
    let none = store
        .list(&JobFilter {
            target,
            outcome: Some(Outcome::Verified),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    // A filter value is data, never SQL.
    let hostile = store
        .list(&JobFilter {
            target: Some("%' OR 1=1 --".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(hostile.is_empty());
}

pub async fn take_over_is_exclusive(store: &dyn JobStore) {
    let job = create(store, new_job("conf-takeover", Action::Disable)).await;
    assert!(store.claim(job.id, "node-dead", LEASE).await.unwrap());
    assert!(
        store
            .running_jobs()
            .await
            .unwrap()
            .iter()
            .any(|j| j.id == job.id)
    );
    assert!(
        store
            .take_over(job.id, "node-dead", "node-b", LEASE)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_over(job.id, "node-dead", "node-c", LEASE)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get(job.id).await.unwrap().unwrap().owner.as_deref(),
        Some("node-b")
    );
}

pub async fn short_ids_find_jobs(store: &dyn JobStore) {
    let job = create(store, new_job("conf-prefix", Action::Disable)).await;
    let text = job.id.simple().to_string();
    let found = store.find_by_prefix(&text[..12]).await.unwrap();
    assert_eq!(found.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job.id]);
    let dashed = job.id.to_string();
    assert_eq!(store.find_by_prefix(&dashed[..13]).await.unwrap().len(), 1);
    assert!(store.find_by_prefix("zz%").await.unwrap().is_empty());
}

pub async fn claim_next_takes_the_oldest_queued_job_once(store: &dyn JobStore) {
    // Drain what earlier checks left queued, so the order below is this check's own.
    while store.claim_next("drain", LEASE).await.unwrap().is_some() {}
    let first = create(store, new_job("conf-next-1", Action::Disable)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = create(store, new_job("conf-next-2", Action::Disable)).await;
    let got = store
        .claim_next("worker-a", LEASE)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(got.id, first.id);
    assert_eq!(got.state, JobState::Running);
    assert_eq!(got.owner.as_deref(), Some("worker-a"));
    let got = store
        .claim_next("worker-b", LEASE)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(got.id, second.id);
    assert!(store.claim_next("worker-c", LEASE).await.unwrap().is_none());
}

/// API tokens: found by hash while live, never after revocation.
pub async fn tokens_are_found_by_hash_until_revoked(store: &dyn crate::TokenStore) {
    use riposte_core::policy::{Role, Scope};
    let scope = Scope {
        forests: vec!["corp".into()],
        ous: vec![],
        actions: vec![Action::Disable],
    };
    let token = store
        .create_token(
            "conf-bot",
            Role::Responder,
            &scope,
            None,
            "user:admin",
            "hash-1",
        )
        .await
        .unwrap();
    let found = store
        .token_by_hash("hash-1")
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(found.id, token.id);
    assert_eq!(found.scope, scope);
    assert_eq!(found.principal().name, "token:conf-bot");
    assert!(store.token_by_hash("hash-2").await.unwrap().is_none());
    // A forwarder token keeps its role and scope (the scope bounds what its events may cause).
    store
        .create_token(
            "conf-fwd",
            Role::Forwarder,
            &scope,
            None,
            "user:admin",
            "hash-fwd",
        )
        .await
        .unwrap();
    let fwd = store
        .token_by_hash("hash-fwd")
        .await
        .unwrap()
        .expect("live forwarder token");
    assert_eq!((fwd.role, fwd.scope), (Role::Forwarder, scope.clone()));
    let duplicate = store
        .create_token(
            "conf-bot",
            Role::Reader,
            &Scope::default(),
            None,
            "user:admin",
            "hash-3",
        )
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    assert!(store.revoke_token(token.id).await.unwrap());
    assert!(!store.revoke_token(token.id).await.unwrap());
    assert!(store.token_by_hash("hash-1").await.unwrap().is_none());
    // The name is free again once revoked.
    store
        .create_token(
            "conf-bot",
            Role::Reader,
            &Scope::default(),
            None,
            "user:admin",
            "hash-4",
        )
        .await
        .unwrap();
    // conf-bot revoked, conf-bot again, conf-fwd.
    assert_eq!(store.list_tokens().await.unwrap().len(), 3);
}

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

fn audit_record(event: &str, n: usize) -> NewAuditRecord {
    NewAuditRecord {
        actor: "cli:alice@host".into(),
        source: "cli".into(),
        remote_addr: None,
        event: event.into(),
        target: Some(format!("corp:conf-audit-{n}")),
        job_id: None,
        result: "success".into(),
        details: json!({ "n": n }),
    }
}

pub async fn the_first_audit_record_links_to_genesis(store: &dyn AuditLog) {
    assert_eq!(
        store.audit_head().await.unwrap(),
        None,
        "run the audit checks on a fresh store"
    );
    assert!(store.audit_records(0, 10).await.unwrap().is_empty());
    let empty = verify_chain(store).await.unwrap();
    assert_eq!((empty.records, empty.first_break), (0, None));
    let first = store.append(audit_record("conf-genesis", 0)).await.unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((1, first.hash.clone()))
    );
}

pub async fn audit_records_read_back_as_appended(store: &dyn AuditLog) {
    let head = store.audit_head().await.unwrap();
    let (after, prev) = head.unwrap_or((0, GENESIS_HASH.to_string()));
    let request = NewAuditRecord {
        actor: "user:alice".into(),
        source: "api".into(),
        remote_addr: Some("192.0.2.10".into()),
        event: "action-requested".into(),
        target: Some("corp:conf-audit-read".into()),
        job_id: Some(Uuid::now_v7()),
        result: "success".into(),
        details: json!({
            "action": "disable",
            "reason": "incident 42: \"quoted\", ünïcode",
            "nested": { "z": [1, 2.5, null, true], "a": "x" },
        }),
    };
    let before = to_millis(OffsetDateTime::now_utc());
    let kept = store.append(request.clone()).await.unwrap();
    let after_append = to_millis(OffsetDateTime::now_utc());
    assert_eq!(kept.seq, after + 1);
    assert_eq!(kept.prev_hash, prev);
    assert_eq!(kept.to_new(), request);
    let at = to_millis(kept.at);
    assert!(
        (before..=after_append).contains(&at),
        "{at} not in {before}..={after_append}"
    );
    assert_eq!(kept.hash, record_hash(&prev, kept.seq, at, &request));
    let read = store.audit_records(after, 10).await.unwrap();
    assert_eq!(read, vec![kept.clone()], "read back differs from appended");
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((kept.seq, kept.hash))
    );

    // Absent optional fields stay absent.
    let bare = NewAuditRecord {
        remote_addr: None,
        target: None,
        job_id: None,
        details: json!(null),
        ..audit_record("conf-bare", 0)
    };
    let kept = store.append(bare.clone()).await.unwrap();
    let read = store.audit_records(kept.seq - 1, 1).await.unwrap();
    assert_eq!(read[0].to_new(), bare);
    assert_eq!(read[0].recompute_hash(), read[0].hash);
}

pub async fn audit_records_chain_and_page(store: &dyn AuditLog) {
    let start = store.audit_head().await.unwrap().map_or(0, |(seq, _)| seq);
    let mut appended = Vec::new();
    for n in 0..5 {
        appended.push(store.append(audit_record("conf-chain", n)).await.unwrap());
    }
    for pair in appended.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "record {} is not linked",
            pair[1].seq
        );
    }
    let page = store.audit_records(start, 2).await.unwrap();
    assert_eq!(page, appended[..2].to_vec(), "limit and after_seq");
    let rest = store.audit_records(page[1].seq, 100).await.unwrap();
    assert_eq!(rest, appended[2..].to_vec(), "ascending from after_seq");
    assert!(
        store
            .audit_records(appended[4].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let report = verify_chain(store).await.unwrap();
    assert_eq!(report.first_break, None);
    assert_eq!(report.records, appended[4].seq as u64);
}

pub async fn concurrent_appends_form_one_chain(store: &dyn AuditLog) {
    let start = store.audit_head().await.unwrap().map_or(0, |(seq, _)| seq);
    let appends: Vec<_> = (0..20)
        .map(|n| store.append(audit_record("conf-concurrent", n)))
        .collect();
    let kept: Vec<_> = join_all(appends)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every concurrent append succeeds");
    let mut seqs: Vec<i64> = kept.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (start + 1..=start + 20).collect::<Vec<_>>());
    let report = verify_chain(store).await.unwrap();
    assert_eq!(
        report.first_break, None,
        "concurrent appends broke the chain"
    );
    assert_eq!(report.records, (start + 20) as u64);
    assert_eq!(
        store.audit_head().await.unwrap().map(|(seq, _)| seq),
        Some(start + 20)
    );
}

/// Polls every future until all are done, so their awaits interleave.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("polled to completion"))
        .collect()
}

/// People and their sessions: names are unique, a session is found by the
/// hash of its secret until it expires, is revoked, or its person is disabled.
pub async fn people_sessions_live_until_expiry_revocation_or_disabling(
    store: &dyn crate::PeopleStore,
) {
    use riposte_core::policy::{Role, Scope};
    let scope = Scope {
        forests: vec!["corp".into()],
        ous: vec![],
        actions: vec![Action::Disable, Action::Enable],
    };
    let alice = store
        .create_person(
            "conf-alice",
            Role::Responder,
            &scope,
            "$argon2id$x",
            "cli:root",
        )
        .await
        .unwrap();
    assert_eq!(alice.principal().name, "user:conf-alice");
    let read = store
        .person_by_name("conf-alice")
        .await
        .unwrap()
        .expect("stored person");
    assert_eq!(read, alice);
    assert_eq!(read.scope, scope);
    assert_eq!(read.password_hash, "$argon2id$x");
    assert!(!read.disabled);
    assert!(store.person_by_name("conf-nobody").await.unwrap().is_none());
    let duplicate = store
        .create_person(
            "conf-alice",
            Role::Reader,
            &Scope::default(),
            "h",
            "cli:root",
        )
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));

    let now = OffsetDateTime::now_utc();
    let hours = time::Duration::hours(8);
    let session = store
        .create_session(alice.id, "session-hash-1", "csrf-1", now + hours)
        .await
        .unwrap();
    assert_eq!(session.person.id, alice.id);
    assert_eq!(session.csrf_token, "csrf-1");
    let found = store
        .session_by_hash("session-hash-1", now)
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(found.id, session.id);
    assert_eq!(found.person.name, "conf-alice");
    assert!(
        store
            .session_by_hash("session-hash-2", now)
            .await
            .unwrap()
            .is_none()
    );
    // Expired: not found after its expiry.
    assert!(
        store
            .session_by_hash("session-hash-1", now + hours + time::Duration::minutes(1))
            .await
            .unwrap()
            .is_none()
    );
    // A disabled person's sessions stop at once, and come back only if re-enabled.
    assert!(store.set_person_disabled("conf-alice", true).await.unwrap());
    assert!(
        store
            .session_by_hash("session-hash-1", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .person_by_name("conf-alice")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        store
            .set_person_disabled("conf-alice", false)
            .await
            .unwrap()
    );
    assert!(
        store
            .session_by_hash("session-hash-1", now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !store
            .set_person_disabled("conf-nobody", true)
            .await
            .unwrap()
    );
    // Sign-out: revoked once, never found again.
    assert!(store.revoke_session("session-hash-1").await.unwrap());
    assert!(!store.revoke_session("session-hash-1").await.unwrap());
    assert!(
        store
            .session_by_hash("session-hash-1", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_people()
            .await
            .unwrap()
            .iter()
            .any(|p| p.name == "conf-alice")
    );
}

fn new_alert(technique: &str, user: &str) -> crate::NewAlert {
    crate::NewAlert {
        rule_id: format!("conf-{technique}"),
        title: format!("conformance {technique}"),
        technique: Some(technique.into()),
        severity: "high".into(),
        description: format!("{user} attacked"),
        entities: crate::AlertEntities {
            users: vec![format!("CORP\\{user}")],
            actors: vec![],
            sources: vec!["10.9.9.9".into()],
            dcs: vec!["dc1".into()],
            services: vec![],
        },
        first_seen: Some(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()),
        last_seen: Some(OffsetDateTime::from_unix_timestamp(1_700_000_060).unwrap()),
        event_count: 6,
        events: json!([{"origin": {"file": "samba.log", "line": 7}, "event_id": 4625}]),
        input: "api:token:conf-fwd".into(),
        // Who sent the events, with the scope they had: read back as written.
        fed_by: Some(riposte_core::policy::Principal {
            name: "token:conf-fwd".into(),
            role: riposte_core::policy::Role::Forwarder,
            scope: riposte_core::policy::Scope {
                forests: vec!["fabrikam".into()],
                ous: vec![],
                actions: vec![Action::Unlock],
            },
            person: None,
        }),
    }
}

/// Alerts: read back as appended, filtered by technique, user and time, paged newest first.
pub async fn alerts_append_filter_and_page(store: &dyn crate::AlertStore) {
    use crate::AlertFilter;
    let before = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let a = store
        .append_alert(new_alert("T1110.003", "ernie"))
        .await
        .unwrap();
    assert_eq!(a.alert, new_alert("T1110.003", "ernie"));
    let got = store.get_alert(a.id).await.unwrap().expect("stored alert");
    assert_eq!(got, a);
    assert!(store.get_alert(Uuid::now_v7()).await.unwrap().is_none());
    let b = store
        .append_alert(new_alert("T1558.003", "bert"))
        .await
        .unwrap();
    let c = store
        .append_alert(new_alert("T1110.003", "grover"))
        .await
        .unwrap();
    let ids = |v: Vec<crate::StoredAlert>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let all = ids(store.list_alerts(&AlertFilter::default()).await.unwrap());
    assert_eq!(all, vec![c.id, b.id, a.id], "newest first");
    let spray = AlertFilter {
        technique: Some("t1110.003".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_alerts(&spray).await.unwrap()),
        vec![c.id, a.id]
    );
    let bert = AlertFilter {
        user: Some("BERT".into()),
        ..Default::default()
    };
    assert_eq!(ids(store.list_alerts(&bert).await.unwrap()), vec![b.id]);
    let page = AlertFilter {
        limit: Some(1),
        offset: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(store.list_alerts(&page).await.unwrap()), vec![b.id]);
    let since = AlertFilter {
        since: Some(before),
        ..Default::default()
    };
    assert_eq!(store.list_alerts(&since).await.unwrap().len(), 3);
    let later = AlertFilter {
        since: Some(OffsetDateTime::now_utc() + Duration::from_secs(3600)),
        ..Default::default()
    };
    assert!(store.list_alerts(&later).await.unwrap().is_empty());
}

pub async fn only_the_owner_renews_a_lease(store: &dyn JobStore) {
    let job = create(store, new_job("conf-renew", Action::Disable)).await;
    let short = Duration::from_secs(1);
    assert!(store.claim(job.id, "node-a", short).await.unwrap());
    let before = store.get(job.id).await.unwrap().unwrap().lease_expires_at;
    store.renew_lease(job.id, "node-a", LEASE).await.unwrap();
    let after = store.get(job.id).await.unwrap().unwrap().lease_expires_at;
    assert!(
        after > before,
        "the lease was not extended: {before:?} -> {after:?}"
    );
    let err = store
        .renew_lease(job.id, "node-b", LEASE)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    store
        .finish(
            job.id,
            Some("node-a"),
            Finish {
                outcome: Outcome::Verified,
                message: "done",
                evidence: &Evidence::default(),
            },
        )
        .await
        .unwrap();
    let err = store
        .renew_lease(job.id, "node-a", LEASE)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongState { .. }), "{err}");
    let missing = store.renew_lease(Uuid::now_v7(), "node-a", LEASE).await;
    assert!(
        matches!(missing, Err(StoreError::NoSuchJob(_))),
        "{missing:?}"
    );
}

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

/// The `bulk-requested` record the Runner writes with a bulk (the store names the children).
pub fn bulk_record(target: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "cli:alice".into(),
        source: "cli".into(),
        remote_addr: None,
        event: "bulk-requested".into(),
        target: Some(target.into()),
        job_id: None,
        result: "success".into(),
        details: json!({ "action": "disable", "reason": "incident 42" }),
    }
}

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

pub(crate) fn new_bulk(kind: &str) -> crate::NewBulk {
    crate::NewBulk {
        action: Action::Disable,
        options: ActionOptions::default(),
        selector_kind: kind.into(),
        selector_value: "OU=Conf,OU=Staff,DC=corp,DC=example,DC=test".into(),
        requested_by: "cli:alice".into(),
        requester_person: None,
        source: "cli".into(),
        reason: "incident 42".into(),
        undo_of: None,
        approval_required: None,
        skipped: json!([{ "reference": "corp:tier0admin", "reason": "protected" }]),
    }
}

/// A bulk and its children are stored in one go, children keep their link,
/// counts come from the children, and the job list filters by bulk.
pub async fn bulk_children_are_created_together_and_counted(store: &dyn Ledger) {
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
