//! The admin page's resets of a local person: a new password (made here,
//! shown to the admin once, to be changed at the person's next sign-in) or
//! the removal of their second factor (a lost authenticator). The workflow
//! and its audit record are `crate::credential_reset`, shared with the CLI.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use secrecy::ExposeSecret;

use super::admin::{PAGE, operator};
use super::csrf::CsrfForm;
use super::{Me, PortalError, render};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authorised, permit};
use crate::credential_reset::{self, ResetBy, ResetError};
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/ui/admin/people/{name}/reset-password",
            post(reset_password),
        )
        .route(
            "/ui/admin/people/{name}/reset-second-factor",
            post(reset_second_factor),
        )
}

#[derive(Template)]
#[template(path = "admin_password_reset.html")]
struct PasswordResetPage {
    me: Me,
    name: String,
    /// Shown once, on this page only; never stored or logged in clear.
    password: String,
}

fn refused(e: ResetError) -> PortalError {
    let message = e.to_string();
    PortalError(match e {
        ResetError::NoSuchPerson(_) => ApiError::not_found("person_not_found", message),
        ResetError::SignsInBySso(_) => ApiError::new(StatusCode::CONFLICT, "sso_person", message),
        ResetError::Password(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "password_not_made",
            message,
        ),
        ResetError::Store(e) => e.into(),
    })
}

async fn reset_password(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: Authorised<permit::Administer, SignedIn>,
    Path(name): Path<String>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let operator = operator(&signed, remote, body)?;
    let password = riposte_core::password::generate(&name).map_err(|e| {
        PortalError(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "random_failed",
            format!("no password could be made: {e}"),
        ))
    })?;
    let shown = password.expose_secret().to_string();
    let by = ResetBy {
        actor: &operator.principal.name,
        source: "portal",
        remote_addr: operator.remote_addr.clone(),
    };
    let person = credential_reset::reset_password(
        state.people.as_ref(),
        state.runner.store().as_ref(),
        &name,
        password,
        &by,
    )
    .await
    .map_err(refused)?;
    let page = PasswordResetPage {
        me: Me::of(&signed),
        name: person.name,
        password: shown,
    };
    let mut response = render(StatusCode::OK, &page);
    // The password is on this page only: no cache keeps it.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

async fn reset_second_factor(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: Authorised<permit::Administer, SignedIn>,
    Path(name): Path<String>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let operator = operator(&signed, remote, body)?;
    let by = ResetBy {
        actor: &operator.principal.name,
        source: "portal",
        remote_addr: operator.remote_addr.clone(),
    };
    credential_reset::reset_second_factor(
        state.people.as_ref(),
        state.second_factors.as_ref(),
        state.runner.store().as_ref(),
        &name,
        &by,
    )
    .await
    .map_err(refused)?;
    Ok(Redirect::to(PAGE).into_response())
}
