//! The second step of a local sign-in, for people with TOTP: after a right
//! password, `POST /ui/sign-in` holds no session yet, only a pending sign-in
//! (kind SecondFactor, [`PENDING_MINUTES`]) named by the
//! `riposte_second_factor` cookie. This page takes a 6-digit code or a
//! recovery code; wrong ones count in the sign-in throttle
//! ([`SignInGuard::check_second_factor`]).

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use riposte_core::secret_token;
use riposte_store::{PendingKind, PendingSignIn, Person, SignInMethod, Taken};
use serde::Deserialize;
use time::OffsetDateTime;

use super::csrf::{csrf_refused, form};
use super::sign_in::{SIGN_IN_COOKIE, safe_next, same_origin};
use super::{PortalError, render};
use crate::AppState;
use crate::auth::{self, MUST_CHANGE_PAGE};
use crate::error::ApiError;
use crate::second_factor;
use crate::session::{Proof, SignInRecord, audit_sign_in, start_session};
use crate::sign_in_guard::{Refusal, SignInGuard};

/// The cookie naming the pending second step (its secret; the store keeps the SHA-256).
pub(super) const SECOND_FACTOR_COOKIE: &str = "riposte_second_factor";
const PATH: &str = "/ui/sign-in/second-factor";
/// How long the code may take after the password.
pub(super) const PENDING_MINUTES: i64 = 5;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(code_page).post(code_sent))
}

#[derive(Template)]
#[template(path = "sign_in_second_factor.html")]
struct CodePage {
    csrf: String,
    error: Option<String>,
}

fn random(what: &str) -> Result<String, PortalError> {
    secret_token::generate().map_err(|e| {
        PortalError(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "random_failed",
            format!("no random {what} could be made: {e}"),
        ))
    })
}

/// Where a person goes once signed in: to choose a new password first if an
/// admin reset theirs, else where they were going.
pub(super) fn after_sign_in(person: &Person, next: &str) -> String {
    if person.must_change_password {
        MUST_CHANGE_PAGE.into()
    } else {
        safe_next(next)
    }
}

/// After a right password for `person`: the pending second step, and the
/// answer that sends the browser to it (303, with its cookie). No session.
pub(super) async fn begin(
    state: &AppState,
    person: &Person,
    next: &str,
) -> Result<Response, PortalError> {
    let secret = random("second-factor secret")?;
    let csrf = random("CSRF token")?;
    let expires = OffsetDateTime::now_utc() + time::Duration::minutes(PENDING_MINUTES);
    state
        .pending
        .begin_pending(
            PendingKind::SecondFactor,
            &secret_token::hash(&secret),
            Some(person.id),
            &serde_json::json!({ "name": person.name, "next": safe_next(next), "csrf": csrf }),
            expires,
        )
        .await?;
    let mut response = Redirect::to(PATH).into_response();
    let cookies = [
        auth::set_cookie(SECOND_FACTOR_COOKIE, &secret, PATH, PENDING_MINUTES * 60),
        auth::set_cookie(SIGN_IN_COOKIE, "", "/ui/sign-in", 0),
    ];
    for c in cookies {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

fn data<'p>(pending: &'p PendingSignIn, key: &str) -> &'p str {
    pending.data[key].as_str().unwrap_or_default()
}

/// The pending second step this browser's cookie names, if it is live.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, PendingSignIn)>, PortalError> {
    let Some(secret) = auth::cookie(headers, SECOND_FACTOR_COOKIE) else {
        return Ok(None);
    };
    let hash = secret_token::hash(&secret);
    let found = state
        .pending
        .peek_pending(PendingKind::SecondFactor, &hash, OffsetDateTime::now_utc())
        .await?;
    Ok(found.map(|p| (hash, p)))
}

fn start_again() -> Response {
    Redirect::to("/ui/sign-in").into_response()
}

async fn code_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PortalError> {
    let Some((_, pending)) = pending(&state, &headers).await? else {
        return Ok(start_again());
    };
    let page = CodePage {
        csrf: data(&pending, "csrf").to_string(),
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// Which second factor `typed` is for `person`, if it is right and unused
/// (spending it is part of checking it: `second_factor::spend_code`).
async fn verify(
    state: &AppState,
    person: &Person,
    typed: &str,
) -> Result<Option<SignInMethod>, Refusal> {
    second_factor::spend_code(
        state.second_factors.as_ref(),
        person.id,
        typed,
        second_factor::now_unix(),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "a second factor could not be checked");
        Refusal::Busy { retry_after: 5 }
    })
}

async fn code_sent(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Form<CodeForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    let Some((hash, pending)) = pending(&state, &headers).await? else {
        return Ok(start_again());
    };
    let csrf = data(&pending, "csrf").to_string();
    if csrf.is_empty() || !auth::same_secret(&body.csrf, &csrf) || !same_origin(&headers) {
        return Err(csrf_refused());
    }
    let name = data(&pending, "name").to_string();
    let person = match state.people.person_by_name(&name).await? {
        Some(p) if Some(p.id) == pending.person && !p.disabled && p.totp_enabled => p,
        // Disabled, renamed or reset meanwhile: sign in again.
        _ => return Ok(start_again()),
    };
    let mut method = None;
    let checked = SignInGuard::check_second_factor(&state, remote.ip(), &name, async {
        method = verify(&state, &person, &body.code).await?;
        Ok(method.is_some())
    })
    .await;
    let refused = |status: StatusCode, error: &str| {
        render(
            status,
            &CodePage {
                csrf: csrf.clone(),
                error: Some(error.into()),
            },
        )
    };
    match checked {
        Ok(()) => {}
        Err(Refusal::Throttled { retry_after }) => {
            // This pending sign-in ends: the next try starts with the password,
            // whose check is throttled too, so these records stay bounded.
            let _ = state
                .pending
                .take_pending(PendingKind::SecondFactor, &hash, OffsetDateTime::now_utc())
                .await;
            audit_sign_in(
                &state,
                SignInRecord {
                    event: "sign-in",
                    name: &name,
                    remote,
                    result: "throttled",
                    method: "password+totp",
                    why: "too many failed sign-ins: the second step ended",
                },
            )
            .await;
            let mut response = refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins: wait and try again later.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
        Err(Refusal::Busy { retry_after }) => {
            let mut response = refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is busy: try again in a moment.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
        Err(Refusal::Wrong) => {
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "That code is wrong or was already used: type the code your app shows now, or an unused recovery code.",
            ));
        }
    }
    let Some(method) = method else {
        return Ok(start_again());
    };
    // Exactly one request gets to turn this pending sign-in into a session.
    match state
        .pending
        .take_pending(PendingKind::SecondFactor, &hash, OffsetDateTime::now_utc())
        .await?
    {
        Taken::Fresh(_) => {}
        _ => return Ok(start_again()),
    }
    let started = start_session(&state, &person, Proof { method, mfa: true }, remote).await?;
    let mut response =
        Redirect::to(&after_sign_in(&person, data(&pending, "next"))).into_response();
    for c in [
        started.set_cookie,
        auth::set_cookie(SECOND_FACTOR_COOKIE, "", PATH, 0),
    ] {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}
