//! One job's page: its outcome, evidence and timeline; approve, reject and undo.

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use riposte_core::Action;
use riposte_core::policy::{self, Permission, Principal};
use riposte_store::{Job, JobState};
use serde::Deserialize;

use super::csrf::{check_csrf, form};
use super::{Me, PortalError, confirm_href, encode, label, render, when};
use crate::AppState;
use crate::api::parse_job_id;
use crate::auth::SignedIn;
use crate::authorised::{Authorised, permit};
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/jobs/{id}", get(job_page))
        .route("/ui/jobs/{id}/approve", post(approve))
        .route("/ui/jobs/{id}/reject", post(reject))
}

struct EventRow {
    at: String,
    state: String,
    phase: String,
    message: String,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    me: Me,
    id: String,
    action: String,
    describe: String,
    target: String,
    target_href: String,
    dn: String,
    state: String,
    outcome: String,
    message: String,
    reason: String,
    requested_by: String,
    source: String,
    created_at: String,
    finished_at: String,
    clear_blocking_flags: bool,
    awaiting_approval: bool,
    approval: String,
    approval_reason: String,
    decided_by: String,
    can_decide: bool,
    decide_refusal: String,
    undo_href: Option<String>,
    undo_label: String,
    evidence: String,
    events: Vec<EventRow>,
    finished: bool,
}

/// Whether this person may approve or reject the job now, or why not.
pub(super) fn may_decide(principal: &Principal, job: &Job) -> Result<(), String> {
    policy::authorize(
        principal,
        &Permission::Approve {
            action: job.action,
            forest: job.forest.as_deref().unwrap_or_default(),
            dn: job.target_dn.as_deref().unwrap_or_default(),
            requested_by: &job.requested_by,
            requester_person: job.requester_person.as_deref(),
        },
    )
    .map_err(|r| r.missing)
}

/// Where "undo" goes: the confirm page of the reverse action, for a job that
/// changed something and has one, when this person may request it.
pub(super) fn undo_href(principal: &Principal, job: &Job) -> Option<(String, Action)> {
    let undo = job.action.undo()?;
    if !job.changed_something() {
        return None;
    }
    let (forest, dn) = (job.forest.as_deref()?, job.target_dn.as_deref()?);
    policy::authorize(
        principal,
        &Permission::RequestAction {
            action: undo,
            forest,
            dn,
        },
    )
    .ok()?;
    Some((confirm_href(&job.target_ref, undo), undo))
}

async fn job_page(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadJobs, SignedIn>,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let id = parse_job_id(&id)?;
    let job =
        state.runner.store().get(id).await?.ok_or_else(|| {
            PortalError(ApiError::not_found("job_not_found", format!("no job {id}")))
        })?;
    let events = state.runner.store().events(id).await?;
    let decide = may_decide(&signed.principal, &job);
    let undo = undo_href(&signed.principal, &job);
    let page = JobPage {
        me: Me::of(&signed),
        id: job.id.to_string(),
        action: job.action.as_str().into(),
        describe: job.action.describe().into(),
        target: job.target_ref.clone(),
        target_href: format!("/ui/identities/{}", encode(&job.target_ref)),
        dn: job.target_dn.clone().unwrap_or_default(),
        state: job.state.as_str().into(),
        outcome: job.outcome.map(|o| o.as_str()).unwrap_or("").into(),
        message: job.message.clone().unwrap_or_default(),
        reason: job.reason.clone(),
        requested_by: job.requested_by.clone(),
        source: job.source.clone(),
        created_at: when(job.created_at),
        finished_at: job.finished_at.map(when).unwrap_or_default(),
        clear_blocking_flags: job.options.clear_blocking_flags,
        awaiting_approval: job.awaiting_approval(),
        approval: job.approval.map(|a| a.as_str()).unwrap_or("").into(),
        approval_reason: job.approval_reason.clone().unwrap_or_default(),
        decided_by: job.decided_by.clone().unwrap_or_default(),
        can_decide: job.awaiting_approval() && decide.is_ok(),
        decide_refusal: decide.err().unwrap_or_default(),
        undo_label: undo
            .as_ref()
            .map(|(_, a)| label(*a).to_string())
            .unwrap_or_default(),
        undo_href: undo.map(|(h, _)| h),
        evidence: job
            .evidence
            .as_ref()
            .and_then(|e| serde_json::to_string_pretty(e).ok())
            .unwrap_or_default(),
        events: events
            .iter()
            .map(|e| EventRow {
                at: when(e.at),
                state: e.state.as_str().into(),
                phase: e.phase.clone().unwrap_or_default(),
                message: e.message.clone(),
            })
            .collect(),
        finished: job.state == JobState::Finished,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    comment: String,
}

async fn decide(
    state: AppState,
    signed: SignedIn,
    id: String,
    approve: bool,
    body: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    let id = parse_job_id(&id)?;
    state
        .runner
        .decide(
            id,
            &signed.principal,
            "portal",
            approve,
            body.comment.trim(),
        )
        .await?;
    Ok(Redirect::to(&format!("/ui/jobs/{id}")).into_response())
}

async fn approve(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, PortalError> {
    decide(state, signed, id, true, body).await
}

async fn reject(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, PortalError> {
    decide(state, signed, id, false, body).await
}
