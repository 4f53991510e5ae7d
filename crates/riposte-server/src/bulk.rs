//! Mass containment over the API: `POST /api/v1/bulk` (with a dry run),
//! `GET /api/v1/bulk[/{id}]`, and pause / resume / cancel / undo. Every
//! decision goes through `riposte-jobs::Runner` (policy, safeguards, plan);
//! the service's worker runs the children (see `supervise_bulks`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use riposte_core::policy::Principal;
use riposte_core::{Action, ActionOptions};
use riposte_jobs::{BulkPlan, BulkRequest, Runner, RunnerError, Selector, view};
use riposte_store::{BulkOperation, BulkState};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{error, info};
use uuid::Uuid;

use crate::AppState;
use crate::authorised::{Authorised, permit};
use crate::error::ApiError;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(
    tag = "kind",
    content = "value",
    rename_all = "lowercase",
    deny_unknown_fields
)]
pub enum SelectorBody {
    #[schema(value_type = crate::openapi::ReferenceList)]
    References(Vec<String>),
    /// an OU DN inside a configured forest; users in its subtree
    Ou(String),
    /// forest:sAMAccountName or the group's DN; its direct user members
    Group(String),
    /// forest:sAMAccountName or the group's DN; its user members and those of
    /// its nested groups, at any depth
    #[serde(rename = "nested-group")]
    NestedGroup(String),
    /// a stored alert; its user entities
    Alert(Uuid),
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = BulkRequest)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    #[schema(value_type = crate::openapi::ActionName)]
    action: Action,
    selector: SelectorBody,
    #[schema(min_length = 1)]
    reason: String,
    #[serde(default)]
    #[schema(default = false)]
    dry_run: bool,
    #[serde(default)]
    #[schema(default = false)]
    clear_blocking_flags: bool,
    #[serde(default)]
    #[schema(default = false)]
    with_mfa: bool,
}

/// The selector, with an alert's users read from the alert store.
pub(crate) async fn selector(state: &AppState, body: SelectorBody) -> Result<Selector, ApiError> {
    Ok(match body {
        SelectorBody::References(r) => Selector::References(r),
        SelectorBody::Ou(dn) => Selector::Ou(dn),
        SelectorBody::Group(group) => Selector::Group {
            group,
            nested: false,
        },
        SelectorBody::NestedGroup(group) => Selector::Group {
            group,
            nested: true,
        },
        SelectorBody::Alert(id) => {
            let alert = state
                .pipeline
                .alert_store()
                .get_alert(id)
                .await?
                .ok_or_else(|| ApiError::not_found("alert_not_found", format!("no alert {id}")))?;
            Selector::Alert {
                id,
                users: alert.alert.entities.users,
            }
        }
    })
}

pub(crate) fn plan_json(plan: &BulkPlan) -> Value {
    json!({ "dry_run": true, "plan": plan })
}

/// POST /api/v1/bulk: one action on many accounts; `dry_run` shows what would happen.
#[utoipa::path(post, path = "/api/v1/bulk",
    summary = "Mass containment: one action on many accounts (a list, an OU, a group's members, an alert's users). Needs RequestBulk (responder or admin) and RequestAction on each account; protected and out-of-scope accounts are skipped and listed. With dry_run: the count, the accounts, the protected ones and the unresolvable references; nothing is changed",
    request_body = BulkBody, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "dry run: the plan", body = crate::openapi::DryRun),
        (status = 202, description = "recorded; the service runs the children (Location: the bulk)", body = crate::openapi::Bulk,
            headers(("Location" = String, description = "the bulk operation"))),
        (status = 400, description = "malformed request, bad selector (OU outside every forest, hostile DN, unknown group, empty list) or missing reason; nothing recorded", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such alert", body = crate::openapi::ErrorBody),
        (status = 503, description = "the directory could not list the accounts; nothing recorded", body = crate::openapi::ErrorBody)))]
pub async fn create_bulk(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    caller: Authorised<permit::Respond>,
    body: Result<Json<BulkBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!(
                "{}; expected JSON {{\"action\", \"selector\": {{\"kind\": \"references\"|\"ou\"|\"group\"|\"alert\", \"value\"}}, \"reason\", optional \"dry_run\"}}",
                e.body_text()
            ),
        )
    })?;
    let request = BulkRequest {
        selector: selector(&state, body.selector).await?,
        action: body.action,
        options: ActionOptions {
            clear_blocking_flags: body.clear_blocking_flags,
            with_mfa: body.with_mfa,
        },
        reason: body.reason,
        requested_by: caller.0.name.clone(),
        requester_person: caller.0.person.clone(),
        source: "api".into(),
        remote_addr: Some(remote.ip().to_string()),
    };
    if body.dry_run {
        let plan = state.runner.dry_run_bulk(&caller.0, &request).await?;
        return Ok(Json(plan_json(&plan)).into_response());
    }
    // Recording the bulk, its children and its request record are several steps, after a
    // plan that may take long (Graph throttling every lookup): a caller that hangs up drops
    // this future, and children recorded without their request record would still run
    // (found by tests/graph_storm.rs). On its own task, it finishes whoever still listens.
    let runner = state.runner.clone();
    let principal = caller.0.clone();
    let (bulk, _) =
        on_own_task(async move { runner.start_bulk(&principal, &request).await }).await?;
    let mut response = (StatusCode::ACCEPTED, Json(view::bulk(&bulk, None))).into_response();
    if let Ok(location) = format!("/api/v1/bulk/{}", bulk.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Runs a recording step on a task of its own, so that a caller who hangs up
/// cannot stop it half-way.
pub(crate) async fn on_own_task<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, RunnerError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!(
                    "recording the bulk operation stopped: {e}; list the bulk operations before asking again"
                ),
            )
        })?
        .map_err(ApiError::from)
}

fn parse_bulk_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::bad_request(
            "malformed_bulk_id",
            format!("{id:?} is not a bulk operation id (a UUID)"),
        )
    })
}

pub(crate) async fn load(state: &AppState, id: Uuid) -> Result<BulkOperation, ApiError> {
    state
        .runner
        .store()
        .get_bulk(id)
        .await?
        .ok_or_else(|| ApiError::not_found("bulk_not_found", format!("no bulk operation {id}")))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    /// Include every child job in short.
    #[serde(default)]
    jobs: bool,
}

/// GET /api/v1/bulk/{id}[?jobs=true]: state, counts, what was left out.
#[utoipa::path(get, path = "/api/v1/bulk/{id}",
    summary = "One bulk operation: state, counts (from its child jobs), progress, what was left out",
    params(("id" = Uuid, Path, description = "the bulk operation's id"), ShowQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the bulk operation", body = crate::openapi::Bulk),
        (status = 400, description = "malformed id", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such bulk operation", body = crate::openapi::ErrorBody)))]
pub async fn get_bulk(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadJobs>,
    Path(id): Path<String>,
    query: Result<Query<ShowQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let bulk = load(&state, parse_bulk_id(&id)?).await?;
    let jobs = if query.jobs {
        Some(state.runner.store().bulk_jobs(bulk.id).await?)
    } else {
        None
    };
    Ok(Json(view::bulk(&bulk, jobs.as_deref())))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[param(value_type = Option<crate::openapi::BulkStateName>)]
    state: Option<BulkState>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    offset: Option<u32>,
}

/// GET /api/v1/bulk: bulk operations, newest first.
#[utoipa::path(get, path = "/api/v1/bulk", summary = "Bulk operations, newest first",
    params(ListQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "a page", body = crate::openapi::BulkPage),
        (status = 400, description = "malformed query", body = crate::openapi::ErrorBody)))]
pub async fn list_bulks(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadJobs>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let limit = crate::api::page_limit(q.limit, 50, crate::api::MAX_PAGE)?;
    let offset = q.offset.unwrap_or(0);
    let all = state
        .runner
        .store()
        .list_bulks(q.state, limit, offset)
        .await?;
    let next = (all.len() as u32 == limit).then(|| offset + limit);
    Ok(Json(json!({
        "bulk": all.iter().map(|b| view::bulk(b, None)).collect::<Vec<_>>(),
        "limit": limit, "offset": offset, "next_offset": next,
    })))
}

/// The state changes a person may ask for.
#[derive(Debug, Clone, Copy)]
pub enum Control<'a> {
    Pause,
    Resume,
    Cancel,
    /// A second person's decision on a bulk waiting for approval, with their comment.
    Approve(&'a str),
    Reject(&'a str),
}

pub(crate) async fn control(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    what: Control<'_>,
    source: &str,
) -> Result<BulkOperation, ApiError> {
    let runner = &state.runner;
    Ok(match what {
        Control::Pause => runner.pause_bulk(principal, id, source).await?,
        Control::Resume => runner.resume_bulk(principal, id, source).await?,
        Control::Cancel => runner.cancel_bulk(principal, id, source).await?,
        Control::Approve(comment) => {
            runner
                .decide_bulk(principal, id, true, comment, source)
                .await?
        }
        Control::Reject(comment) => {
            runner
                .decide_bulk(principal, id, false, comment, source)
                .await?
        }
    })
}

async fn control_route(
    state: AppState,
    caller: Authorised<permit::ControlBulk>,
    id: String,
    what: Control<'_>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_bulk_id(&id)?;
    load(&state, id).await?;
    let bulk = control(&state, &caller.0, id, what, "api").await?;
    Ok(Json(view::bulk(&bulk, None)))
}

/// POST /api/v1/bulk/{id}/pause: no new child starts; running ones finish.
#[utoipa::path(post, path = "/api/v1/bulk/{id}/pause",
    summary = "Pause: no new child starts; running ones finish (ControlBulk: responder or admin)",
    params(("id" = Uuid, Path, description = "the bulk operation's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the bulk operation", body = crate::openapi::Bulk),
        (status = 400, description = "malformed id", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such bulk operation", body = crate::openapi::ErrorBody),
        (status = 409, description = "not running", body = crate::openapi::ErrorBody)))]
pub async fn pause_bulk(
    State(state): State<AppState>,
    caller: Authorised<permit::ControlBulk>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    control_route(state, caller, id, Control::Pause).await
}

/// POST /api/v1/bulk/{id}/resume.
#[utoipa::path(post, path = "/api/v1/bulk/{id}/resume",
    summary = "Resume a paused bulk operation",
    params(("id" = Uuid, Path, description = "the bulk operation's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the bulk operation", body = crate::openapi::Bulk),
        (status = 400, description = "malformed id", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such bulk operation", body = crate::openapi::ErrorBody),
        (status = 409, description = "not paused", body = crate::openapi::ErrorBody)))]
pub async fn resume_bulk(
    State(state): State<AppState>,
    caller: Authorised<permit::ControlBulk>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    control_route(state, caller, id, Control::Resume).await
}

/// POST /api/v1/bulk/{id}/cancel: queued children end failed, "cancelled before it started".
#[utoipa::path(post, path = "/api/v1/bulk/{id}/cancel",
    summary = "Cancel: queued children end failed (\"cancelled before it started\"), running ones finish normally",
    params(("id" = Uuid, Path, description = "the bulk operation's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the bulk operation", body = crate::openapi::Bulk),
        (status = 400, description = "malformed id", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such bulk operation", body = crate::openapi::ErrorBody),
        (status = 409, description = "already cancelled or finished", body = crate::openapi::ErrorBody)))]
pub async fn cancel_bulk(
    State(state): State<AppState>,
    caller: Authorised<permit::ControlBulk>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    control_route(state, caller, id, Control::Cancel).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = BulkDecision)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[serde(default)]
    comment: String,
}

fn decision_body(
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<DecisionBody, ApiError> {
    match body {
        Ok(Json(body)) => Ok(body),
        // No body at all: no comment.
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(DecisionBody::default()),
        Err(e) => Err(ApiError::bad_request(
            "malformed_request",
            format!(
                "{}; expected JSON {{\"comment\"}} or no body",
                e.body_text()
            ),
        )),
    }
}

/// POST /api/v1/bulk/{id}/approve: a second person (not its requester, with
/// every child in their scope) lets a bulk waiting for approval run.
#[utoipa::path(post, path = "/api/v1/bulk/{id}/approve",
    summary = "Approve a bulk operation waiting for a second person (more accounts than [bulk] approval_above): a person other than its requester, with every child in their scope; it then runs",
    params(("id" = Uuid, Path, description = "the bulk operation's id")), request_body = Option<DecisionBody>, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the bulk operation", body = crate::openapi::Bulk),
        (status = 400, description = "malformed", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a second person, or a child outside the caller's scope", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such bulk operation", body = crate::openapi::ErrorBody),
        (status = 409, description = "not waiting for an approval", body = crate::openapi::ErrorBody)))]
pub async fn approve_bulk(
    State(state): State<AppState>,
    caller: Authorised<permit::ControlBulk>,
    Path(id): Path<String>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = decision_body(body)?;
    control_route(state, caller, id, Control::Approve(body.comment.trim())).await
}

/// POST /api/v1/bulk/{id}/reject: ends a bulk waiting for approval; nothing is written.
#[utoipa::path(post, path = "/api/v1/bulk/{id}/reject",
    summary = "Reject a bulk operation waiting for a second person: it ends cancelled, nothing written",
    params(("id" = Uuid, Path, description = "the bulk operation's id")), request_body = Option<DecisionBody>, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the bulk operation", body = crate::openapi::Bulk),
        (status = 400, description = "malformed", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a second person, or a child outside the caller's scope", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such bulk operation", body = crate::openapi::ErrorBody),
        (status = 409, description = "not waiting for an approval", body = crate::openapi::ErrorBody)))]
pub async fn reject_bulk(
    State(state): State<AppState>,
    caller: Authorised<permit::ControlBulk>,
    Path(id): Path<String>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = decision_body(body)?;
    control_route(state, caller, id, Control::Reject(body.comment.trim())).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = BulkUndo)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    #[schema(min_length = 1)]
    reason: String,
}

/// POST /api/v1/bulk/{id}/undo: a new bulk with the reverse action on exactly
/// the accounts this one changed (verified), never those already in the state.
#[utoipa::path(post, path = "/api/v1/bulk/{id}/undo",
    summary = "Undo a finished or cancelled disable/enable bulk: a new bulk with the reverse action on exactly the accounts it changed (verified), not those already in the state",
    params(("id" = Uuid, Path, description = "the bulk operation's id")), request_body = UndoBody, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "the undo bulk operation", body = crate::openapi::Bulk,
            headers(("Location" = String, description = "the undo bulk operation"))),
        (status = 400, description = "malformed", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such bulk operation", body = crate::openapi::ErrorBody),
        (status = 409, description = "still running, not undoable, or nothing to undo", body = crate::openapi::ErrorBody)))]
pub async fn undo_bulk(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    caller: Authorised<permit::Respond>,
    Path(id): Path<String>,
    body: Result<Json<UndoBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!("{}; expected JSON {{\"reason\"}}", e.body_text()),
        )
    })?;
    let id = parse_bulk_id(&id)?;
    load(&state, id).await?;
    let runner = state.runner.clone();
    let principal = caller.0.clone();
    let (bulk, _) = on_own_task(async move {
        runner
            .undo_bulk(
                &principal,
                id,
                &body.reason,
                "api",
                Some(remote.ip().to_string()),
            )
            .await
    })
    .await?;
    let mut response = (StatusCode::ACCEPTED, Json(view::bulk(&bulk, None))).into_response();
    if let Ok(location) = format!("/api/v1/bulk/{}", bulk.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Starts a driver for every running bulk with queued children that no driver
/// here is running yet; each runs its children concurrently (the runner's
/// per-DC and per-tenant limits) until none is left or the bulk is paused.
pub(crate) async fn supervise_bulks(runner: &Arc<Runner>, active: &Arc<Mutex<HashSet<Uuid>>>) {
    let running = match runner
        .store()
        .list_bulks(Some(BulkState::Running), 100, 0)
        .await
    {
        Ok(all) => all,
        Err(e) => {
            error!(error = %e, "the worker could not list bulk operations");
            return;
        }
    };
    for bulk in running {
        if bulk.counts.queued == 0 && bulk.counts.running > 0 {
            // Its last children are running somewhere; a later look finishes it.
            continue;
        }
        {
            let mut set = active.lock().unwrap_or_else(|p| p.into_inner());
            if !set.insert(bulk.id) {
                continue;
            }
        }
        let runner = runner.clone();
        let active = active.clone();
        tokio::spawn(async move {
            info!(bulk = %bulk.id, queued = bulk.counts.queued, "running bulk operation");
            match runner.run_bulk(bulk.id, &|_| {}).await {
                Ok(run) => info!(bulk = %bulk.id, state = %run.bulk.state, "bulk driver stopped"),
                Err(e) => error!(bulk = %bulk.id, error = %e, "bulk driver failed"),
            }
            active
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&bulk.id);
        });
    }
}
