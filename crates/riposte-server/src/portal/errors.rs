//! The portal's error page: what went wrong, as a page rather than the API's JSON.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::html;
use crate::error::ApiError;

/// A page saying what went wrong: refusals name the missing right, unknown
/// identities and jobs say what was looked for.
pub struct PortalError(pub(super) ApiError);

impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        PortalError(e)
    }
}

impl From<riposte_jobs::RunnerError> for PortalError {
    fn from(e: riposte_jobs::RunnerError) -> Self {
        PortalError(e.into())
    }
}

impl From<riposte_store::StoreError> for PortalError {
    fn from(e: riposte_store::StoreError) -> Self {
        PortalError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    message: String,
    missing_right: Option<String>,
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let e = self.0;
        let title = match (e.status, e.code) {
            (StatusCode::FORBIDDEN, "forbidden") => "Not permitted",
            (StatusCode::FORBIDDEN, _) => "Refused",
            (_, "identity_not_found") => "No such identity",
            (_, "job_not_found") => "No such job",
            (StatusCode::NOT_FOUND, _) => "Not found",
            (StatusCode::CONFLICT, _) => "Conflict",
            (s, _) if s.is_client_error() => "Cannot do that",
            _ => "Something failed",
        };
        let missing_right = e
            .details
            .as_ref()
            .and_then(|d| d["missing_right"].as_str())
            .map(String::from);
        let page = ErrorPage {
            status: e.status.as_u16(),
            title: title.into(),
            message: e.message,
            missing_right,
        };
        match page.render() {
            Ok(body) => html(e.status, body),
            Err(_) => (e.status, "riposte: the error page could not be rendered").into_response(),
        }
    }
}
