//! Signing in and out. Sign-in is rate-limited per address and per name
//! ([`SignInGuard`]) and written to the audit trail, never with the password.

use axum::Router;
use axum::routing::{get, post};
use std::net::SocketAddr;

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use riposte_core::secret_token;
use serde::Deserialize;

use super::csrf::{CsrfForm, check_csrf, csrf_refused, form};
use super::{PortalError, render};
use crate::AppState;
use crate::auth::{self, SESSION_COOKIE, SignedIn};
use crate::error::ApiError;
use crate::session::{Proof, SignInRecord, audit_sign_in, start_session};
use crate::sign_in_guard::{Refusal, SignInGuard};
use riposte_store::SignInMethod;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/ui", get(home))
        .route("/ui/sign-in", get(sign_in_form).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
}

/// The sign-in form's CSRF cookie (see [`sign_in_form`]).
pub(super) const SIGN_IN_COOKIE: &str = "riposte_sign_in";

/// `/`: the search page for someone signed in, the sign-in page otherwise.
async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match auth::session(&headers, &state).await {
        Ok(Some(_)) => Redirect::to("/ui/search").into_response(),
        _ => Redirect::to("/ui/sign-in").into_response(),
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    csrf: String,
    next: String,
    name: String,
    error: Option<String>,
    /// "Sign in with <display name>" when single sign-on is configured.
    sso: Option<String>,
}

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only a path of this site, so sign-in cannot be used to send someone elsewhere.
pub(super) fn safe_next(next: &str) -> String {
    if next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/ui/search".into()
    }
}

/// GET /ui/sign-in. There is no session yet to hold a CSRF token, so the
/// form uses a double-submit token: a random value in an HttpOnly,
/// SameSite=Strict cookie scoped to this path, repeated in a hidden field.
/// Another site can neither read the cookie nor make the browser send it
/// (SameSite=Strict), so it cannot forge a matching pair; the POST also
/// refuses a foreign Origin. This keeps another site from signing a victim's
/// browser in under the attacker's account (login CSRF).
async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<NextQuery>, QueryRejection>,
) -> Response {
    let next = query.ok().map(|Query(q)| q.next).unwrap_or_default();
    let (token, fresh) = match auth::cookie(&headers, SIGN_IN_COOKIE) {
        Some(t) if t.len() >= 32 => (t, false),
        _ => match secret_token::generate() {
            Ok(t) => (t, true),
            Err(e) => {
                return PortalError(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "random_failed",
                    format!("no random token could be made: {e}"),
                ))
                .into_response();
            }
        },
    };
    let page = SignInPage {
        csrf: token.clone(),
        next: safe_next(&next),
        name: String::new(),
        error: None,
        sso: sso_name(&state),
    };
    let mut response = render(StatusCode::OK, &page);
    if fresh && let Ok(v) = auth::set_cookie(SIGN_IN_COOKIE, &token, "/ui/sign-in", 3600).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

fn sso_name(state: &AppState) -> Option<String> {
    state.sso.as_ref().map(|s| s.display_name().to_string())
}

#[derive(Deserialize, Default)]
struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The request comes from this site: no Origin (older browsers, tools) or
/// one naming the host it was sent to.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Form<SignInForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    let cookie = auth::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !auth::same_secret(&body.csrf, &cookie) || !same_origin(&headers) {
        return Err(csrf_refused());
    }
    let person = match SignInGuard::check(&state, remote.ip(), &body.name, body.password).await {
        Ok(person) => person,
        Err(refusal) => {
            let (status, retry_after, error) = match refusal {
                Refusal::Throttled { retry_after } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(retry_after),
                    "Too many failed sign-ins: wait and try again later.",
                ),
                Refusal::Busy { retry_after } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(retry_after),
                    "Sign-in is busy: try again in a moment.",
                ),
                Refusal::Wrong => (
                    StatusCode::UNAUTHORIZED,
                    None,
                    "Wrong name or password, or this person may no longer sign in.",
                ),
            };
            let page = SignInPage {
                csrf: cookie,
                next: safe_next(&body.next),
                name: body.name,
                error: Some(error.into()),
                sso: sso_name(&state),
            };
            let mut response = render(status, &page);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return Ok(response);
        }
    };
    if person.totp_enabled {
        // No session yet: the code comes first.
        return super::sign_in_second_factor::begin(&state, &person, &body.next).await;
    }
    let started = start_session(
        &state,
        &person,
        Proof {
            method: SignInMethod::Password,
            mfa: false,
        },
        remote,
    )
    .await?;
    let to = super::sign_in_second_factor::after_sign_in(&person, &body.next);
    let mut response = Redirect::to(&to).into_response();
    let cookies = [
        started.set_cookie,
        auth::set_cookie(SIGN_IN_COOKIE, "", "/ui/sign-in", 0),
    ];
    for c in cookies {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

/// POST /ui/sign-out: the session is revoked in the store, not only forgotten by the browser.
async fn sign_out(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: SignedIn,
    headers: HeaderMap,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    check_csrf(&signed, &form(body)?.csrf)?;
    if let Some(secret) = auth::cookie(&headers, SESSION_COOKIE) {
        state
            .people
            .revoke_session(&secret_token::hash(&secret))
            .await?;
    }
    let name = signed
        .principal
        .name
        .trim_start_matches("user:")
        .to_string();
    audit_sign_in(
        &state,
        SignInRecord {
            event: "sign-out",
            name: &name,
            remote,
            result: "success",
            method: signed.session.method.as_str(),
            why: "signed out",
        },
    )
    .await;
    let mut response = Redirect::to("/ui/sign-in").into_response();
    if let Ok(v) = auth::set_cookie(SESSION_COOKIE, "", "/", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::encode;

    #[test]
    fn references_are_encoded_and_sign_in_only_returns_to_this_site() {
        assert_eq!(encode("CN=a b,OU=Staff"), "CN%3Da%20b%2COU%3DStaff");
        assert_eq!(encode("corp:ernie"), "corp%3Aernie");
        assert_eq!(safe_next("/ui/actions?target=x"), "/ui/actions?target=x");
        for outside in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/api/v1/jobs",
            "/ui\\evil",
            "",
        ] {
            assert_eq!(safe_next(outside), "/ui/search", "{outside}");
        }
    }
}
