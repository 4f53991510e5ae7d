//! What the checks share: the requests and records the Runner would send,
//! and a way to run futures together without an executor of our own.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use riposte_core::{Action, ActionOptions, Outcome};
use serde_json::json;

use crate::{Created, JobStore, NewAuditRecord, NewJob};

pub(crate) const LEASE: Duration = Duration::from_secs(30);

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

pub(super) fn new_bulk(kind: &str) -> crate::NewBulk {
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

pub(super) fn audit_record(event: &str, n: usize) -> NewAuditRecord {
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

/// Polls every future until all are done, so their awaits interleave.
pub(super) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
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
