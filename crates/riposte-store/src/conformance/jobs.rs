//! A job's life on one node: created once (per idempotency key and caller),
//! claimed by one worker, changed only by its owner, finished once.

use std::time::Duration;

use riposte_core::evidence::Evidence;
use riposte_core::{Action, Outcome};
use time::OffsetDateTime;
use uuid::Uuid;

use super::support::*;
use crate::{Created, Finish, JobFilter, JobState, JobStore, Progress, StoreError};

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
    // A job of another target, for the filters to leave out (each check has
    // a store of its own, where nothing else would be).
    create(store, new_job("conf-not-listed", Action::Disable)).await;
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
    // Another job, a few milliseconds older (a v7 id starts with its
    // millisecond), for the prefix to leave out.
    create(store, new_job("conf-prefix-other", Action::Disable)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
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
