//! Forms a signed-in person posts, and the CSRF token each carries. (The sign-in
//! form, before there is a session, has its own double-submit token: see `sign_in`.)

use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use serde::Deserialize;

use super::PortalError;
use crate::auth::{self, SignedIn};
use crate::error::ApiError;

pub(super) fn csrf_refused() -> PortalError {
    PortalError(ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_token_required",
        "this form was not sent from riposte's own page in this session (its CSRF token is missing or wrong); go back, reload the page and send it again",
    ))
}

/// Every form a signed-in person posts carries the session's CSRF token.
pub(super) fn check_csrf(signed: &SignedIn, sent: &str) -> Result<(), PortalError> {
    if auth::same_secret(sent, &signed.session.csrf_token) {
        Ok(())
    } else {
        Err(csrf_refused())
    }
}

pub(super) fn form<T>(form: Result<Form<T>, FormRejection>) -> Result<T, PortalError> {
    form.map(|Form(f)| f).map_err(|e| {
        PortalError(ApiError::bad_request(
            "malformed_form",
            format!("the form could not be read: {}", e.body_text()),
        ))
    })
}

#[derive(Deserialize, Default)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}
