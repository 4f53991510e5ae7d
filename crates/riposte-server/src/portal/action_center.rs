//! The Action Center: jobs waiting and done, filtered, with what this person may do to each.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use riposte_core::policy::Principal;
use riposte_core::{Action, Outcome};
use riposte_store::{Job, JobFilter, JobState};
use serde::Deserialize;

use super::confirm::parse_action;
use super::job::{may_decide, undo_href};
use super::{Me, PortalError, encode, label, render, when};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authorised, permit};
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/actions", get(action_center))
}

struct JobRow {
    id: String,
    short_id: String,
    href: String,
    created_at: String,
    action: String,
    target: String,
    requested_by: String,
    state: String,
    outcome: String,
    message: String,
    awaiting_approval: bool,
    approval_reason: String,
    can_decide: bool,
    undo_href: Option<String>,
    undo_label: String,
}

struct Choice {
    value: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "actions.html")]
struct ActionsPage {
    me: Me,
    target: String,
    requester: String,
    actions: Vec<Choice>,
    outcomes: Vec<Choice>,
    pending: Vec<JobRow>,
    history: Vec<JobRow>,
    csv_href: String,
}

#[derive(Deserialize, Default)]
struct ActionsQuery {
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    requester: String,
}

fn job_row(principal: &Principal, job: &Job) -> JobRow {
    let undo = undo_href(principal, job);
    JobRow {
        id: job.id.to_string(),
        short_id: job.id.to_string().chars().take(8).collect(),
        href: format!("/ui/jobs/{}", job.id),
        created_at: when(job.created_at),
        action: job.action.as_str().into(),
        target: job.target_ref.clone(),
        requested_by: job.requested_by.clone(),
        state: job.state.as_str().into(),
        outcome: job.outcome.map(|o| o.as_str()).unwrap_or("").into(),
        message: job.message.clone().unwrap_or_default(),
        awaiting_approval: job.awaiting_approval(),
        approval_reason: job.approval_reason.clone().unwrap_or_default(),
        can_decide: job.awaiting_approval() && may_decide(principal, job).is_ok(),
        undo_label: undo
            .as_ref()
            .map(|(_, a)| label(*a).to_string())
            .unwrap_or_default(),
        undo_href: undo.map(|(h, _)| h),
    }
}

async fn action_center(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadJobs, SignedIn>,
    query: Result<Query<ActionsQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    let q = query.ok().map(|Query(q)| q).unwrap_or_default();
    let action = (!q.action.is_empty())
        .then(|| parse_action(&q.action))
        .transpose()?;
    let outcome = (!q.outcome.is_empty())
        .then(|| {
            q.outcome
                .parse::<Outcome>()
                .map_err(|e| PortalError(ApiError::bad_request("unknown_outcome", e.to_string())))
        })
        .transpose()?;
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let filter = |state: Option<JobState>, limit: u32| JobFilter {
        target: nonempty(&q.target),
        action,
        outcome,
        requested_by: nonempty(&q.requester),
        state,
        limit: Some(limit),
        ..JobFilter::default()
    };
    let store = state.runner.store();
    // Pending: not finished yet (an outcome filter matches finished jobs only).
    let mut pending = Vec::new();
    if outcome.is_none() {
        for s in [JobState::Queued, JobState::Running] {
            pending.extend(store.list(&filter(Some(s), 200)).await?);
        }
    }
    let history = store.list(&filter(Some(JobState::Finished), 200)).await?;
    let mut csv: Vec<String> = Vec::new();
    for (key, value) in [
        ("target", nonempty(&q.target)),
        ("action", action.map(|a| a.as_str().to_string())),
        ("outcome", outcome.map(|o| o.as_str().to_string())),
        ("requester", nonempty(&q.requester)),
    ] {
        if let Some(v) = value {
            csv.push(format!("{key}={}", encode(&v)));
        }
    }
    let page = ActionsPage {
        me: Me::of(&signed),
        target: q.target.clone(),
        requester: q.requester.clone(),
        actions: Action::ALL
            .iter()
            .map(|a| Choice {
                value: a.as_str().into(),
                selected: Some(*a) == action,
            })
            .collect(),
        outcomes: Outcome::ALL
            .iter()
            .map(|o| Choice {
                value: o.as_str().into(),
                selected: Some(*o) == outcome,
            })
            .collect(),
        pending: pending
            .iter()
            .map(|j| job_row(&signed.principal, j))
            .collect(),
        history: history
            .iter()
            .map(|j| job_row(&signed.principal, j))
            .collect(),
        csv_href: if csv.is_empty() {
            "/api/v1/jobs/export.csv".into()
        } else {
            format!("/api/v1/jobs/export.csv?{}", csv.join("&"))
        },
    };
    Ok(render(StatusCode::OK, &page))
}
