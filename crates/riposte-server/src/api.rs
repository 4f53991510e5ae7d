//! REST API v1 handlers.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use riposte_core::policy::{self, Principal};
use riposte_core::{Action, ActionOptions, Outcome};
use riposte_jobs::{ActionRequest, Enqueued, view};
use riposte_store::{Job, JobFilter, JobState};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::authorised::{Authorised, permit};
use crate::error::ApiError;

pub(crate) const MAX_PAGE: u32 = 500;

/// Where a job's request came from (`?source=`); the OpenAPI document lists the same.
pub(crate) const JOB_SOURCES: [&str; 4] = ["cli", "api", "portal", "automation"];

/// A `limit` query parameter: `default` when absent, 400 outside 1..=`max` (as the OpenAPI
/// document says), never silently changed.
pub(crate) fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "malformed_query",
            format!("limit={n} is outside 1 to {max}; page with offset instead"),
        )),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// text in the account's names
    #[param(min_length = 1, max_length = 256)]
    q: String,
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// GET /api/v1/identities?q=TEXT: accounts whose names contain TEXT, in every forest.
#[utoipa::path(get, path = "/api/v1/identities", summary = "Search every forest",
    params(SearchQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "matches", body = crate::openapi::IdentitySearch),
        (status = 400, description = "malformed query", body = crate::openapi::ErrorBody)))]
pub async fn search_identities(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadIdentities>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::bad_request("malformed_query", format!("{e}; expected ?q=TEXT")))?;
    let text = query.q.trim();
    if text.is_empty() || text.chars().count() > 256 || text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "malformed_query",
            "q must be 1 to 256 printable characters",
        ));
    }
    let found = state
        .runner
        .directory()
        .search(text, page_limit(query.limit, 25, 200)?)
        .await;
    let identities: Vec<Value> = found
        .matches
        .iter()
        .map(|a| {
            json!({
                "reference": a.reference(), "forest": a.forest, "dn": a.dn, "display_name": a.display_name,
                "user_principal_name": a.user_principal_name, "enabled": a.enabled(), "locked": a.locked(),
                "protected": a.admin_count,
            })
        })
        .collect();
    let unreachable: Vec<Value> = found
        .unreachable
        .iter()
        .map(|(forest, e)| json!({ "forest": forest, "error": e.to_string() }))
        .collect();
    Ok(Json(
        json!({ "identities": identities, "searched": found.searched, "unreachable": unreachable }),
    ))
}

/// GET /api/v1/identities/{reference}: one account's current state, read now.
#[utoipa::path(get, path = "/api/v1/identities/{reference}",
    summary = "One account's state now, and the actions the caller may request",
    params(("reference" = String, Path, max_length = 1024,
        description = "corp:bert, bert@corp.example.test, a DN, a SID or an objectGUID")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the account", body = Object),
        (status = 400, description = "invalid reference or unknown forest", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such identity", body = crate::openapi::ErrorBody),
        (status = 409, description = "the reference matches several accounts; details.candidates lists them", body = crate::openapi::ErrorBody)))]
pub async fn get_identity(
    State(state): State<AppState>,
    caller: Authorised<permit::ReadIdentities>,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let identity = state.runner.find_identity(&reference).await?;
    let permitted = view::permitted_actions(&caller.0, &identity);
    Ok(Json(view::identity(&identity, Some(&permitted))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ActionRequest)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// corp:bert, a UPN, a DN, a SID or an objectGUID.
    #[schema(min_length = 1, max_length = 1024)]
    target: String,
    #[schema(value_type = crate::openapi::ActionName)]
    action: Action,
    #[schema(min_length = 1)]
    reason: String,
    #[serde(default)]
    #[schema(default = false)]
    clear_blocking_flags: bool,
    /// Entra ID forced reset: also require MFA.
    #[serde(default)]
    #[schema(default = false)]
    with_mfa: bool,
}

/// POST /api/v1/actions: queue an action; 202 with the job id.
#[utoipa::path(post, path = "/api/v1/actions", summary = "Request an action; it runs as a job",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
        description = "a second request with the same key, from the same caller, returns the first job"),
        crate::job_wait::WaitQuery),
    request_body = ActionBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "finished within ?wait: the job, as GET /api/v1/jobs/{id} shows it", body = crate::openapi::Job,
            headers(("Location" = String, description = "the job"))),
        (status = 202, description = "queued (or, for an idempotency key this caller sent before, its earlier job: keys are per caller)",
            body = crate::openapi::Queued, headers(("Location" = String, description = "the job"))),
        (status = 400, description = "malformed request or ?wait, invalid reference, unknown forest or missing reason", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such identity", body = crate::openapi::ErrorBody),
        (status = 409, description = "ambiguous reference", body = crate::openapi::ErrorBody),
        (status = 503, description = "the job ledger cannot be written", body = crate::openapi::ErrorBody)))]
pub async fn request_action(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    caller: Authorised<permit::Respond>,
    headers: HeaderMap,
    wait: Result<Query<crate::job_wait::WaitQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Query(wait) = wait.map_err(|e| {
        ApiError::bad_request("malformed_query", format!("{e}; expected ?wait=SECONDS"))
    })?;
    let within = wait.within()?;
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!("{}; expected JSON {{\"target\", \"action\", \"reason\", optional \"clear_blocking_flags\"}}", e.body_text()),
        )
    })?;
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "malformed_request",
                        "Idempotency-Key must be 1 to 200 visible ASCII characters",
                    )
                })?
                .to_string(),
        ),
        None => None,
    };
    let enqueued = queue_action(
        &state,
        &caller.0,
        NewAction {
            target: body.target,
            action: body.action,
            options: ActionOptions {
                clear_blocking_flags: body.clear_blocking_flags,
                with_mfa: body.with_mfa,
            },
            reason: body.reason,
            source: "api",
            idempotency_key,
            remote_addr: Some(remote.ip().to_string()),
        },
    )
    .await?;
    let location = format!("/api/v1/jobs/{}", enqueued.job.id);
    // The finished job, to a caller who may read jobs, when it ends in time.
    let may_read = policy::authorize(&caller.0, &policy::Permission::ReadJobs).is_ok();
    let mut job = enqueued.job;
    if !within.is_zero() && may_read {
        let store = state.runner.store().as_ref();
        if let Some(job) =
            crate::job_wait::until_finished(store, job.id, within, state.safety_net).await
        {
            let events = store.events(job.id).await?;
            let mut response = Json(view::job(&job, &events)).into_response();
            if let Ok(location) = location.parse() {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return Ok(response);
        }
        // Not finished in time: the 202 shows the job as it stands now.
        if let Some(now) = store.get(job.id).await? {
            job = now;
        }
    }
    let job = &job;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({
            "job_id": job.id,
            "state": job.state,
            "outcome": job.outcome,
            "replayed": enqueued.replayed,
            "awaiting_approval": job.awaiting_approval(),
            "approval_reason": job.approval_reason,
            "links": { "job": format!("/api/v1/jobs/{}", job.id), "events": format!("/api/v1/jobs/{}/events", job.id) },
        })),
    )
        .into_response();
    if let Ok(location) = format!("/api/v1/jobs/{}", job.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// An action someone asks for, from the API or the portal.
pub(crate) struct NewAction {
    pub target: String,
    pub action: Action,
    pub options: ActionOptions,
    pub reason: String,
    /// "api" or "portal", as the ledger records it.
    pub source: &'static str,
    pub idempotency_key: Option<String>,
    /// The caller's address, for the audit trail.
    pub remote_addr: Option<String>,
}

/// The one path from a front end's request to a job: resolve the target,
/// ask the policy (a refusal is audited), and record the job through the runner.
pub(crate) async fn queue_action(
    state: &AppState,
    principal: &Principal,
    request: NewAction,
) -> Result<Enqueued, ApiError> {
    let target = state.runner.resolve_target(&request.target).await?;
    let request = ActionRequest {
        reference: request.target,
        action: request.action,
        options: request.options,
        reason: request.reason,
        requested_by: principal.name.clone(),
        requester_person: principal.person.clone(),
        source: request.source.into(),
        idempotency_key: request.idempotency_key,
        remote_addr: request.remote_addr,
        evidence_input: None,
    };
    state
        .runner
        .check_request(principal, &request, &target)
        .await?;
    // Recording the job and its request record are two steps; a caller that hangs up drops this
    // future, and a job recorded without its request record would still run (found by
    // scripts/load-test). On its own task, the enqueue finishes whoever is still listening.
    let runner = state.runner.clone();
    tokio::spawn(async move { runner.enqueue(&request, &target).await })
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("recording the job stopped: {e}; look the job up before asking again"),
            )
        })?
        .map_err(ApiError::from)
}

pub(crate) fn parse_job_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::bad_request(
            "malformed_job_id",
            format!("{id:?} is not a job id (a UUID)"),
        )
    })
}

/// GET /api/v1/jobs/{id}: one job with its evidence and timeline.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", summary = "One job with evidence and timeline",
    params(("id" = Uuid, Path, description = "the job's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the job", body = crate::openapi::Job),
        (status = 400, description = "malformed id", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such job", body = crate::openapi::ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadJobs>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_job_id(&id)?;
    let job = state
        .runner
        .store()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("job_not_found", format!("no job {id}")))?;
    let events = state.runner.store().events(id).await?;
    Ok(Json(view::job(&job, &events)))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// reference, DN or SID (substring)
    #[param(max_length = 1024)]
    target: Option<String>,
    #[param(value_type = Option<crate::openapi::ActionName>)]
    action: Option<Action>,
    #[param(value_type = Option<crate::openapi::OutcomeName>)]
    outcome: Option<Outcome>,
    /// who asked, e.g. token:soar or user:alice
    requester: Option<String>,
    /// where the request came from
    #[param(value_type = Option<crate::openapi::JobSourceName>)]
    source: Option<String>,
    #[param(value_type = Option<crate::openapi::JobStateName>)]
    state: Option<JobState>,
    /// RFC 3339.
    #[param(format = DateTime)]
    since: Option<String>,
    /// created before (RFC 3339)
    #[param(format = DateTime)]
    until: Option<String>,
    /// Only the children of this bulk operation.
    bulk: Option<Uuid>,
    /// page size (default 50)
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// page start
    offset: Option<u32>,
}

fn parse_time(name: &str, text: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    text.map(|t| {
        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).map_err(|_| {
            ApiError::bad_request(
                "malformed_query",
                format!("{name}={t:?} is not an RFC 3339 time"),
            )
        })
    })
    .transpose()
}

async fn list(state: &AppState, query: ListQuery) -> Result<(Vec<Job>, u32, u32), ApiError> {
    let limit = page_limit(query.limit, 50, MAX_PAGE)?;
    if query
        .target
        .as_ref()
        .is_some_and(|t| t.chars().count() > 1024)
    {
        return Err(ApiError::bad_request(
            "malformed_query",
            "target is at most 1024 characters",
        ));
    }
    if let Some(source) = query.source.as_deref()
        && !JOB_SOURCES.contains(&source)
    {
        return Err(ApiError::bad_request(
            "malformed_query",
            format!("source={source:?} is none of {}", JOB_SOURCES.join(", ")),
        ));
    }
    let offset = query.offset.unwrap_or(0);
    let filter = JobFilter {
        target: query.target,
        action: query.action,
        outcome: query.outcome,
        requested_by: query.requester,
        source: query.source,
        state: query.state,
        since: parse_time("since", query.since.as_deref())?,
        until: parse_time("until", query.until.as_deref())?,
        bulk_id: query.bulk,
        limit: Some(limit),
        offset: Some(offset),
    };
    Ok((state.runner.store().list(&filter).await?, limit, offset))
}

type ListParams = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

fn list_query(query: ListParams) -> Result<ListQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))
}

/// GET /api/v1/jobs: jobs, newest first, filtered and paged.
#[utoipa::path(get, path = "/api/v1/jobs", summary = "The Action Center: jobs, newest first",
    params(ListQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "a page of jobs", body = crate::openapi::JobPage),
        (status = 400, description = "malformed query", body = crate::openapi::ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadJobs>,
    query: ListParams,
) -> Result<Json<Value>, ApiError> {
    let (jobs, limit, offset) = list(&state, list_query(query)?).await?;
    let next = (jobs.len() as u32 == limit).then(|| offset + limit);
    Ok(Json(json!({
        "jobs": jobs.iter().map(|j| view::job(j, &[])).collect::<Vec<_>>(),
        "limit": limit, "offset": offset, "next_offset": next,
    })))
}

/// GET /api/v1/jobs/export.csv: the same list as CSV.
#[utoipa::path(get, path = "/api/v1/jobs/export.csv", summary = "The same list as CSV",
    params(ListQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "CSV", body = String, content_type = "text/csv"),
        (status = 400, description = "malformed query", body = crate::openapi::ErrorBody)))]
pub async fn export_jobs_csv(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadJobs>,
    query: ListParams,
) -> Result<Response, ApiError> {
    let (jobs, _, _) = list(&state, list_query(query)?).await?;
    let mut out = String::from(
        "job_id,created_at,requested_by,source,action,target,forest,dn,state,outcome,message,reason\n",
    );
    for j in &jobs {
        let cells = [
            j.id.to_string(),
            riposte_core::time::rfc3339(j.created_at),
            j.requested_by.clone(),
            j.source.clone(),
            j.action.to_string(),
            j.target_ref.clone(),
            j.forest.clone().unwrap_or_default(),
            j.target_dn.clone().unwrap_or_default(),
            j.state.to_string(),
            j.outcome.map(|o| o.to_string()).unwrap_or_default(),
            j.message.clone().unwrap_or_default(),
            j.reason.clone(),
        ];
        out.push_str(
            &cells
                .iter()
                .map(|c| riposte_core::csv::cell(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"riposte-jobs.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// GET /api/v1/jobs/{id}/events: every state change as server-sent events,
/// ending after the job's final outcome, or with an `idle` event after
/// `[limits] event_stream_idle_seconds` without one. A caller holds at most
/// `[limits] event_streams_per_caller` streams at once (429 beyond).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events",
    summary = "Server-sent events for every state change, until the outcome, or an `idle` event after [limits] event_stream_idle_seconds without one",
    params(("id" = Uuid, Path, description = "the job's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "text/event-stream", body = String, content_type = "text/event-stream"),
        (status = 400, description = "malformed id", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such job", body = crate::openapi::ErrorBody),
        (status = 429, description = "the caller already holds [limits] event_streams_per_caller streams (too_many_streams, with Retry-After)", body = crate::openapi::ErrorBody,
            headers(("Retry-After" = u32, description = "seconds")))))]
pub async fn job_events(
    State(state): State<AppState>,
    caller: Authorised<permit::ReadJobs>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_job_id(&id)?;
    if state.runner.store().get(id).await?.is_none() {
        return Err(ApiError::not_found("job_not_found", format!("no job {id}")));
    }
    let Some(slot) = state.streams.open(&caller.0.name) else {
        let mut refused = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!(
                "{} already holds {} event streams, the bound ([limits] event_streams_per_caller): close one first",
                caller.0.name,
                state.streams.per_caller()
            ),
        )
        .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(5u32));
        return Ok(refused);
    };
    let idle = state.limits.event_stream_idle();
    let safety_net = state.safety_net;
    // Subscribed before the first read, so no change after it is missed.
    let changes = state.runner.store().job_changes().subscribe();
    // (the slot, events already sent, finished?, when the last event went)
    let stream = stream::unfold(
        (
            state,
            slot,
            0usize,
            false,
            tokio::time::Instant::now(),
            changes,
        ),
        move |(state, slot, sent, done, last, mut changes)| async move {
            if done {
                return None;
            }
            loop {
                // What was signalled so far, this read shows.
                changes.skip_pending();
                let store = state.runner.store();
                let (events, job) = match (store.events(id).await, store.get(id).await) {
                    (Ok(events), Ok(Some(job))) => (events, job),
                    _ => {
                        let event = Event::default()
                            .event("error")
                            .data("the job ledger could not be read");
                        return Some((Ok(event), (state, slot, sent, true, last, changes)));
                    }
                };
                if let Some(next) = events.get(sent) {
                    let finished = next.state == JobState::Finished;
                    let mut data = serde_json::to_value(next).unwrap_or(Value::Null);
                    if finished {
                        data["job"] = view::job(&job, &[]);
                    }
                    let event = Event::default()
                        .event(next.state.as_str())
                        .id(sent.to_string())
                        .data(data.to_string());
                    let now = tokio::time::Instant::now();
                    return Some((Ok(event), (state, slot, sent + 1, finished, now, changes)));
                }
                if last.elapsed() >= idle {
                    let event = Event::default().event("idle").data(format!(
                        "nothing new for {} s: this stream ends; open it again to keep following the job",
                        idle.as_secs()
                    ));
                    return Some((Ok(event), (state, slot, sent, true, last, changes)));
                }
                // Woken by the job's next change; the idle bound still holds.
                let until_idle = idle.saturating_sub(last.elapsed());
                changes.changed(Some(id), until_idle.min(safety_net)).await;
            }
        },
    );
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(stream);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = Decision)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[serde(default)]
    comment: String,
}

async fn decide(
    state: AppState,
    caller: Authorised<permit::Respond>,
    id: String,
    approve: bool,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!("{}; expected JSON {{\"comment\"}}", e.body_text()),
        )
    })?;
    let id = parse_job_id(&id)?;
    let job = state
        .runner
        .decide(id, &caller.0, "api", approve, body.comment.trim())
        .await?;
    Ok(Json(view::job(
        &job,
        &state.runner.store().events(id).await?,
    )))
}

/// POST /api/v1/jobs/{id}/approve: a second person lets a protected job run.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/approve", summary = "A second person approves a protected job",
    params(("id" = Uuid, Path, description = "the job's id")), request_body = DecisionBody, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the job", body = crate::openapi::Job),
        (status = 400, description = "malformed", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such job", body = crate::openapi::ErrorBody),
        (status = 409, description = "not awaiting approval", body = crate::openapi::ErrorBody)))]
pub async fn approve_job(
    State(state): State<AppState>,
    caller: Authorised<permit::Respond>,
    Path(id): Path<String>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, id, true, body).await
}

/// POST /api/v1/jobs/{id}/reject: a second person refuses it; it ends denied.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/reject", summary = "A second person rejects a protected job; it ends denied",
    params(("id" = Uuid, Path, description = "the job's id")), request_body = DecisionBody, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the job", body = crate::openapi::Job),
        (status = 400, description = "malformed", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such job", body = crate::openapi::ErrorBody),
        (status = 409, description = "not awaiting approval", body = crate::openapi::ErrorBody)))]
pub async fn reject_job(
    State(state): State<AppState>,
    caller: Authorised<permit::Respond>,
    Path(id): Path<String>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, id, false, body).await
}

/// GET /api/v1/whoami: the caller as riposte sees them.
#[utoipa::path(get, path = "/api/v1/whoami", summary = "The caller as riposte sees them",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "principal", body = crate::openapi::Whoami)))]
pub async fn whoami(caller: Caller) -> Json<Value> {
    Json(
        json!({ "principal": caller.0.name, "role": caller.0.role, "scope": caller.0.scope, "person": caller.0.person }),
    )
}

/// Largest `POST /api/v1/events` body: a forwarder sends batches, not archives.
pub const MAX_EVENTS_BODY: usize = 4 << 20;

/// POST /api/v1/events: a forwarder's batch (NDJSON, or a JSON array of Windows event
/// objects or Samba audit lines) through the detection pipeline. 202 with counts.
#[utoipa::path(post, path = "/api/v1/events",
    summary = "A forwarder's batch of events through the detection pipeline (needs the Ingest permission: responder or admin)",
    request_body(
        description = "at most 4 MiB; an empty batch is accepted (a forwarder's heartbeat) and counts nothing. NDJSON: one Windows event JSON object or Samba audit line per line. JSON: an array of Windows event objects or Samba audit lines, or one event; the body is read like NDJSON otherwise, and whatever is not an event is counted as unparsed, with its location (202, never refused)",
        content((Option<String> = "application/x-ndjson"), (Option<serde_json::Value> = "application/json"))),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "counts: accepted, ignored, unparsed (with errors[].location), alerts_raised, alerts", body = crate::openapi::IngestReport),
        (status = 413, description = "body too large", body = crate::openapi::ErrorBody)))]
pub async fn ingest_events(
    State(state): State<AppState>,
    caller: Authorised<permit::Ingest>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "{}; send at most {} MiB per request, in several batches",
                e.body_text(),
                MAX_EVENTS_BODY >> 20
            ),
        )
    })?;
    // The alert records who sent the events, with the scope they had: automation acts
    // on them only as far as its rules trust this input and within that scope.
    let input = riposte_response::Input::api(&caller.0);
    let report = state
        .pipeline
        .process_batch(&body, "request", &input)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "accepted": report.accepted,
            "ignored": report.ignored,
            "unparsed": report.unparsed.len(),
            "errors": report.unparsed.iter().take(100).collect::<Vec<_>>(),
            "refused_as_evidence": report.refused_as_evidence,
            "alerts_raised": report.alerts.len(),
            "alerts": report.alerts.iter().map(|a| json!({
                "id": a.id, "rule_id": a.alert.rule_id, "technique": a.alert.technique,
                "link": format!("/api/v1/alerts/{}", a.id),
            })).collect::<Vec<_>>(),
        })),
    )
        .into_response())
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// ATT&CK technique, e.g. T1110.003
    technique: Option<String>,
    /// a user entity (substring)
    user: Option<String>,
    /// raised at or after (RFC 3339)
    #[param(format = DateTime)]
    since: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    offset: Option<u32>,
}

/// GET /api/v1/alerts[?technique&user&since&limit&offset]: newest first.
#[utoipa::path(get, path = "/api/v1/alerts", summary = "Detection alerts, newest first",
    params(AlertQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "a page of alerts", body = crate::openapi::AlertPage),
        (status = 400, description = "malformed query", body = crate::openapi::ErrorBody)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadAlerts>,
    query: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "malformed_query",
            format!("{e}; expected technique, user, since (RFC 3339), limit, offset"),
        )
    })?;
    let limit = page_limit(q.limit, 100, MAX_PAGE)?;
    let offset = q.offset.unwrap_or(0);
    let filter = riposte_store::AlertFilter {
        technique: q.technique.filter(|t| !t.is_empty()),
        user: q.user.filter(|u| !u.is_empty()),
        since: parse_time("since", q.since.as_deref())?,
        limit: Some(limit),
        offset: Some(offset),
    };
    let alerts = state.pipeline.alert_store().list_alerts(&filter).await?;
    let next = (alerts.len() as u32 == limit).then(|| offset + limit);
    Ok(Json(json!({
        "alerts": alerts, "limit": limit, "offset": offset, "next_offset": next,
    })))
}

/// GET /api/v1/alerts/{id}: one alert with its events' references.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", summary = "One alert with its events' references",
    params(("id" = Uuid, Path, description = "the alert's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the alert", body = crate::openapi::Alert),
        (status = 400, description = "malformed id", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such alert", body = crate::openapi::ErrorBody)))]
pub async fn get_alert(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadAlerts>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::bad_request("malformed_alert_id", format!("{id:?} is not an alert id"))
    })?;
    let alert = state
        .pipeline
        .alert_store()
        .get_alert(id)
        .await?
        .ok_or_else(|| ApiError::not_found("alert_not_found", format!("no alert {id}")))?;
    Ok(Json(json!(alert)))
}
