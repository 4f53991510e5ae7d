//! `/ui/account`: who is signed in and how (method, second factor, recovery
//! codes left), and `/ui/account/password`: a local person changes their
//! password (the current one checked through the sign-in throttle; the new
//! one by `person_password::hash_for`); their other sessions end.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use riposte_core::person_password::{self, PersonPasswordError};
use riposte_store::{Session, SignInMethod};
use secrecy::SecretString;
use serde::Deserialize;

use super::csrf::{check_csrf, form};
use super::{Me, PortalError, render};
use crate::AppState;
use crate::auth::SignedIn;
use crate::error::ApiError;
use crate::sign_in_guard::{Refusal, SignInGuard};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/account", get(account_page)).route(
        "/ui/account/password",
        get(password_page).post(password_change),
    )
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    me: Me,
    method: String,
    second_factor: String,
    local: bool,
    totp_enabled: bool,
    recovery_codes_left: usize,
    notice: Option<String>,
}

/// How a session was signed in, as the account page says it.
pub(crate) fn method_label(method: SignInMethod) -> &'static str {
    match method {
        SignInMethod::Password => "password",
        SignInMethod::PasswordTotp => "password and authenticator app (TOTP)",
        SignInMethod::PasswordRecoveryCode => "password and a recovery code",
        SignInMethod::Oidc => "single sign-on",
    }
}

fn second_factor_label(session: &Session) -> &'static str {
    let person = &session.person;
    match (person.is_sso(), session.mfa, person.totp_enabled) {
        (true, true, _) => "by your identity provider",
        (true, false, _) => "none reported by your identity provider",
        (false, _, true) => "TOTP (authenticator app) on",
        (false, _, false) => "none: set up an authenticator app below",
    }
}

#[derive(Deserialize, Default)]
struct AccountQuery {
    #[serde(default)]
    changed: String,
}

async fn account_page(
    State(state): State<AppState>,
    signed: SignedIn,
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    let session = &signed.session;
    let person = &session.person;
    let recovery_codes_left = if person.totp_enabled {
        state.second_factors.recovery_codes_left(person.id).await?
    } else {
        0
    };
    let notice = match query.ok().map(|Query(q)| q.changed).as_deref() {
        Some("password") => Some("Your password was changed; your other sessions ended.".into()),
        _ => None,
    };
    let page = AccountPage {
        me: Me::of(&signed),
        method: method_label(session.method).into(),
        second_factor: second_factor_label(session).into(),
        local: !person.is_sso(),
        totp_enabled: person.totp_enabled,
        recovery_codes_left,
        notice,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "account_password.html")]
struct PasswordPage {
    me: Me,
    name: String,
    must_change: bool,
    min_length: usize,
    error: Option<String>,
}

fn password_view(signed: &SignedIn, status: StatusCode, error: Option<&str>) -> Response {
    let page = PasswordPage {
        me: Me::of(signed),
        name: signed.session.person.name.clone(),
        must_change: signed.session.person.must_change_password,
        min_length: person_password::MIN_LENGTH,
        error: error.map(str::to_string),
    };
    render(status, &page)
}

fn local_only(signed: &SignedIn) -> Result<(), PortalError> {
    if signed.session.person.is_sso() {
        return Err(PortalError(ApiError::new(
            StatusCode::CONFLICT,
            "managed_by_provider",
            "you sign in through your identity provider: change your password there",
        )));
    }
    Ok(())
}

async fn password_page(signed: SignedIn) -> Result<Response, PortalError> {
    local_only(&signed)?;
    Ok(password_view(&signed, StatusCode::OK, None))
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

async fn password_change(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: SignedIn,
    body: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    local_only(&signed)?;
    let name = signed.session.person.name.clone();
    if body.new != body.repeat {
        return Ok(password_view(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("The new password and its repetition differ."),
        ));
    }
    if body.new == body.current {
        return Ok(password_view(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("The new password must differ from the current one."),
        ));
    }
    // The current password is checked like a sign-in: a stolen session
    // cannot guess it faster than a sign-in form could.
    match SignInGuard::check(&state, remote.ip(), &name, body.current).await {
        Ok(_) => {}
        Err(Refusal::Wrong) => {
            return Ok(password_view(
                &signed,
                StatusCode::UNAUTHORIZED,
                Some("The current password is wrong."),
            ));
        }
        Err(Refusal::Throttled { retry_after } | Refusal::Busy { retry_after }) => {
            let mut response = password_view(
                &signed,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Too many failed attempts: wait and try again later."),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
    }
    let new = SecretString::from(body.new);
    let for_name = name.clone();
    let hashed = tokio::task::spawn_blocking(move || person_password::hash_for(&for_name, &new))
        .await
        .unwrap_or_else(|e| Err(PersonPasswordError::Hash(e.to_string())));
    let hash = match hashed {
        Ok(h) => h,
        Err(e @ (PersonPasswordError::TooShort | PersonPasswordError::IsTheName)) => {
            return Ok(password_view(
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&format!("{}.", capitalised(&e.to_string()))),
            ));
        }
        Err(e) => {
            return Err(PortalError(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "password_failed",
                e.to_string(),
            )));
        }
    };
    state
        .people
        .set_password(&name, &hash, false, Some(signed.session.id))
        .await?;
    let record = riposte_store::NewAuditRecord {
        actor: format!("user:{name}"),
        source: "portal".into(),
        remote_addr: Some(remote.ip().to_string()),
        event: "password-changed".into(),
        target: Some(format!("user:{name}")),
        job_id: None,
        result: "success".into(),
        details: serde_json::json!({ "other_sessions_ended": true }),
    };
    state.runner.store().append(record).await?;
    Ok(Redirect::to("/ui/account?changed=password").into_response())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
