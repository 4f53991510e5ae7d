//! The confirm page: what an action would do to one identity, and the form that asks for it.

use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use riposte_core::containment::{self, Identity};
use riposte_core::outcome::{self, Assessment};
use riposte_core::policy::{self, Permission, Principal};
use riposte_core::{Action, ActionOptions};
use serde::Deserialize;

use super::csrf::{check_csrf, form};
use super::{Me, PortalError, encode, label, render};
use crate::AppState;
use crate::api::{NewAction, queue_action};
use crate::auth::SignedIn;
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/ui/identities/{reference}/confirm",
        get(confirm_form).post(confirm),
    )
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    me: Me,
    reference: String,
    post_href: String,
    identity_href: String,
    display_name: String,
    dn: String,
    action: String,
    label: String,
    describe: String,
    /// "write", "already" or "ineffective".
    assessment: String,
    blocking_flags: String,
    offer_clear: bool,
    clear_checked: bool,
    approval: Option<String>,
    approval_if_cleared: Option<String>,
    /// set-password from the portal: the worker sets it, nobody sees it.
    password_unseen: bool,
    reason: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct ConfirmQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    clear_blocking_flags: Option<String>,
}

pub(super) fn parse_action(text: &str) -> Result<Action, PortalError> {
    text.parse()
        .map_err(|e: riposte_core::action::UnknownAction| {
            PortalError(ApiError::bad_request("unknown_action", e.to_string()))
        })
}

/// The identity, and the refusal if this person may not request `action` on
/// it (or the action does not apply to its kind).
async fn permitted_identity(
    state: &AppState,
    principal: &Principal,
    reference: &str,
    action: Action,
) -> Result<Identity, PortalError> {
    let identity = state.runner.find_identity(reference).await?;
    let (forest, dn) = identity.location();
    policy::authorize(
        principal,
        &Permission::RequestAction {
            action,
            forest: &forest,
            dn: &dn,
        },
    )
    .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    containment::plan(&identity, action)
        .map_err(|e| PortalError(ApiError::bad_request("not_applicable", e.to_string())))?;
    Ok(identity)
}

fn confirm_page(
    state: &AppState,
    signed: &SignedIn,
    identity: &Identity,
    action: Action,
    clear: bool,
    reason: String,
    error: Option<String>,
) -> ConfirmPage {
    let options = ActionOptions {
        clear_blocking_flags: clear,
        ..ActionOptions::default()
    };
    let cleared = ActionOptions {
        clear_blocking_flags: true,
        ..ActionOptions::default()
    };
    let reference = identity.reference();
    let (assessment, blocking_flags, offer_clear, approval, approval_if_cleared, dn, display_name) =
        match &identity.ad {
            Some(account) => {
                let (assessment, flags) = match outcome::assess_before(action, options, account) {
                    Assessment::AlreadyInForce => ("already", String::new()),
                    Assessment::WouldBeIneffective { flags } => ("ineffective", flags.join(", ")),
                    Assessment::NeedsWrite { .. } => ("write", String::new()),
                };
                // The flags that make AD ignore a forced reset, whether or not the box is ticked.
                let blockers = account.forced_reset_blockers().join(", ");
                let offer_clear = action == Action::ForcePasswordReset && !blockers.is_empty();
                (
                    assessment,
                    if flags.is_empty() { blockers } else { flags },
                    offer_clear,
                    state.runner.approval_needed(account, action, options),
                    (offer_clear && !clear)
                        .then(|| state.runner.approval_needed(account, action, cleared))
                        .flatten(),
                    account.dn.clone(),
                    account.display_name.clone().unwrap_or_default(),
                )
            }
            None => {
                let cloud = identity.cloud.first();
                let verdict = cloud
                    .zip(action.in_cloud())
                    .and_then(|(c, a)| outcome::assess_cloud_before(a, c));
                let assessment = match verdict.as_ref().map(|v| v.outcome) {
                    Some(riposte_core::Outcome::Already) => "already",
                    Some(_) => "ineffective",
                    None => "write",
                };
                (
                    assessment,
                    verdict.map(|v| v.message).unwrap_or_default(),
                    false,
                    None,
                    None,
                    cloud
                        .map(|c| format!("Entra ID object {}", c.id))
                        .unwrap_or_default(),
                    cloud
                        .and_then(|c| c.display_name.clone())
                        .unwrap_or_default(),
                )
            }
        };
    ConfirmPage {
        me: Me::of(signed),
        reference: reference.clone(),
        post_href: format!("/ui/identities/{}/confirm", encode(&reference)),
        identity_href: format!("/ui/identities/{}", encode(&reference)),
        display_name,
        dn,
        action: action.as_str().into(),
        label: label(action).into(),
        describe: action.describe().into(),
        assessment: assessment.into(),
        blocking_flags,
        offer_clear,
        clear_checked: clear,
        approval,
        approval_if_cleared,
        password_unseen: action == Action::SetPassword,
        reason,
        error,
    }
}

async fn confirm_form(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(reference): Path<String>,
    query: Result<Query<ConfirmQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    let query = query.ok().map(|Query(q)| q).unwrap_or_default();
    let action = parse_action(&query.action)?;
    let identity = permitted_identity(&state, &signed.principal, &reference, action).await?;
    let clear = query.clear_blocking_flags.is_some_and(|v| v != "false");
    let page = confirm_page(
        &state,
        &signed,
        &identity,
        action,
        clear,
        String::new(),
        None,
    );
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    clear_blocking_flags: Option<String>,
}

/// POST /ui/identities/{reference}/confirm: the job, exactly as the API would make it.
async fn confirm(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: SignedIn,
    Path(reference): Path<String>,
    body: Result<Form<ConfirmForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    let action = parse_action(&body.action)?;
    let clear = body.clear_blocking_flags.is_some();
    if body.reason.trim().is_empty() {
        let identity = permitted_identity(&state, &signed.principal, &reference, action).await?;
        let page = confirm_page(
            &state,
            &signed,
            &identity,
            action,
            clear,
            String::new(),
            Some("Say why: a reason is required and is kept in the job ledger.".into()),
        );
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    let enqueued = queue_action(
        &state,
        &signed.principal,
        NewAction {
            target: reference,
            action,
            options: ActionOptions {
                clear_blocking_flags: clear,
                ..ActionOptions::default()
            },
            reason: body.reason.trim().to_string(),
            source: "portal",
            remote_addr: Some(remote.ip().to_string()),
            idempotency_key: None,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/ui/jobs/{}", enqueued.job.id)).into_response())
}
