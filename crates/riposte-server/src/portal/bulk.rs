//! Bulk operations: the list, one operation's progress, and its controls.

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use riposte_core::policy::Permission;
use serde::Deserialize;

use super::csrf::{check_csrf, form};
use super::{Me, PortalError, render, when};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authenticated, Authorised, permit};
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/bulk", get(bulk_list))
        .route("/ui/bulk/{id}", get(bulk_page))
        .route("/ui/bulk/{id}/{control}", post(bulk_post))
}

struct BulkRow {
    href: String,
    short_id: String,
    created_at: String,
    action: String,
    selector: String,
    state: String,
    done: u64,
    total: u64,
    requested_by: String,
}

#[derive(Template)]
#[template(path = "bulk_list.html")]
struct BulkListPage {
    me: Me,
    rows: Vec<BulkRow>,
}

async fn bulk_list(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadJobs, SignedIn>,
) -> Result<Response, PortalError> {
    let all = state.runner.store().list_bulks(None, 100, 0).await?;
    let rows = all
        .iter()
        .map(|b| BulkRow {
            href: format!("/ui/bulk/{}", b.id),
            short_id: b.id.to_string()[..8].to_string(),
            created_at: when(b.created_at),
            action: b.action.as_str().into(),
            selector: format!(
                "{}: {}",
                b.selector_kind,
                b.selector_value.lines().next().unwrap_or("")
            ),
            state: b.state.as_str().into(),
            done: b.counts.finished,
            total: b.counts.total,
            requested_by: b.requested_by.clone(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &BulkListPage {
            me: Me::of(&signed),
            rows,
        },
    ))
}

struct LeftOutRow {
    reference: String,
    kind: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "bulk.html")]
struct BulkPage {
    me: Me,
    id: String,
    action: String,
    selector: String,
    reason: String,
    requested_by: String,
    created_at: String,
    state: String,
    live: bool,
    total: u64,
    done: u64,
    percent: u64,
    counts: riposte_store::BulkCounts,
    undo_of: String,
    left_out: Vec<LeftOutRow>,
    /// Buttons only for what this person may do now.
    can_pause: bool,
    can_resume: bool,
    can_cancel: bool,
    can_undo: bool,
    /// Waiting for a second person, and this person may decide.
    can_decide: bool,
    approval_reason: String,
    decide_refusal: String,
}

async fn bulk_page(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadJobs, SignedIn>,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let id = parse_bulk_id(&id)?;
    let b = crate::bulk::load(&state, id).await?;
    let control = signed.permits(&Permission::ControlBulk);
    let awaiting = riposte_store::bulk_awaiting_approval(&b);
    let decide = riposte_core::safeguards::second_person(
        &signed.principal,
        &b.requested_by,
        b.requester_person.as_deref(),
    );
    let undo = b
        .action
        .undo()
        .is_some_and(|reverse| signed.permits(&Permission::RequestBulk { action: reverse }));
    let left_out = b
        .skipped
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, list)| list.as_array().cloned().unwrap_or_default())
        .map(|s| LeftOutRow {
            reference: s["reference"].as_str().unwrap_or("").into(),
            kind: s["kind"].as_str().unwrap_or("").into(),
            reason: s["reason"].as_str().unwrap_or("").into(),
        })
        .collect();
    let page = BulkPage {
        me: Me::of(&signed),
        id: b.id.to_string(),
        action: b.action.as_str().into(),
        selector: format!(
            "{}: {}",
            b.selector_kind,
            b.selector_value.lines().next().unwrap_or("")
        ),
        reason: b.reason.clone(),
        requested_by: b.requested_by.clone(),
        created_at: when(b.created_at),
        state: b.state.as_str().into(),
        live: !b.state.is_final(),
        total: b.counts.total,
        done: b.counts.finished,
        percent: (b.counts.finished * 100)
            .checked_div(b.counts.total)
            .unwrap_or(100),
        counts: b.counts,
        undo_of: b.undo_of.map(|u| u.to_string()).unwrap_or_default(),
        left_out,
        can_pause: control && b.state == riposte_store::BulkState::Running,
        can_resume: control && b.state == riposte_store::BulkState::Paused && !awaiting,
        can_decide: control && awaiting && decide.is_ok(),
        approval_reason: if awaiting {
            b.approval_reason.clone().unwrap_or_default()
        } else {
            String::new()
        },
        decide_refusal: if awaiting {
            decide.err().unwrap_or_default()
        } else {
            String::new()
        },
        can_cancel: control && !b.state.is_final(),
        can_undo: undo && b.state.is_final() && b.counts.verified > 0 && b.counts.running == 0,
    };
    Ok(render(StatusCode::OK, &page))
}

fn parse_bulk_id(id: &str) -> Result<uuid::Uuid, PortalError> {
    uuid::Uuid::parse_str(id).map_err(|_| {
        PortalError(ApiError::bad_request(
            "malformed_bulk_id",
            format!("{id:?} is not a bulk operation id"),
        ))
    })
}

#[derive(Deserialize, Default)]
struct BulkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    comment: String,
}

async fn bulk_control(
    state: AppState,
    signed: SignedIn,
    id: String,
    what: &str,
    body: Result<Form<BulkForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    let id = parse_bulk_id(&id)?;
    crate::bulk::load(&state, id).await?;
    use crate::bulk::Control;
    let target = match what {
        "pause" => {
            crate::bulk::control(&state, &signed.principal, id, Control::Pause, "portal").await?;
            id
        }
        "resume" => {
            crate::bulk::control(&state, &signed.principal, id, Control::Resume, "portal").await?;
            id
        }
        "cancel" => {
            crate::bulk::control(&state, &signed.principal, id, Control::Cancel, "portal").await?;
            id
        }
        "approve" | "reject" => {
            let comment = body.comment.trim();
            let decision = if what == "approve" {
                Control::Approve(comment)
            } else {
                Control::Reject(comment)
            };
            crate::bulk::control(&state, &signed.principal, id, decision, "portal").await?;
            id
        }
        _ => {
            // On its own task, like the API's: a browser that gives up cannot stop it half-way.
            let runner = state.runner.clone();
            let principal = signed.principal.clone();
            let reason = body.reason.trim().to_string();
            let (undo, _) = crate::bulk::on_own_task(async move {
                runner
                    .undo_bulk(&principal, id, &reason, "portal", None)
                    .await
            })
            .await?;
            undo.id
        }
    };
    Ok(Redirect::to(&format!("/ui/bulk/{target}")).into_response())
}

async fn bulk_post(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((id, what)): Path<(String, String)>,
    body: Result<Form<BulkForm>, FormRejection>,
) -> Result<Response, PortalError> {
    if !matches!(
        what.as_str(),
        "pause" | "resume" | "cancel" | "undo" | "approve" | "reject"
    ) {
        return Err(PortalError(ApiError::not_found(
            "no_such_route",
            "no such bulk operation control",
        )));
    }
    bulk_control(state, signed, id, &what, body).await
}
