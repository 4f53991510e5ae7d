//! API errors: JSON with a stable code and a sentence a person understands.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use riposte_jobs::RunnerError;
use riposte_store::StoreError;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable: clients branch on this, never on the message.
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(details) = self.details {
            body["error"]["details"] = details;
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"riposte\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unwritable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger_unwritable",
                e.to_string(),
            ),
            StoreError::NoSuchJob(_) => Self::not_found("job_not_found", e.to_string()),
            StoreError::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ledger_error",
                e.to_string(),
            ),
        }
    }
}

impl From<RunnerError> for ApiError {
    fn from(e: RunnerError) -> Self {
        let message = e.to_string();
        match e {
            RunnerError::MissingReason => Self::bad_request("reason_required", message),
            RunnerError::BadReference(_) => Self::bad_request("invalid_reference", message),
            RunnerError::UnknownForest(_) => Self::bad_request("unknown_forest", message),
            RunnerError::NotFound { .. } => Self::not_found("identity_not_found", message),
            RunnerError::Ambiguous { candidates, .. } => Self::new(
                StatusCode::CONFLICT,
                "ambiguous_reference",
                message,
            )
            .with_details(
                json!({ "candidates": candidates.iter().map(|c| c.trim()).collect::<Vec<_>>() }),
            ),
            RunnerError::Refused(refusal) => forbidden(&refusal),
            RunnerError::NotApplicable(_) => Self::bad_request("not_applicable", message),
            RunnerError::ProtectedFromAutomation(_) => {
                Self::new(StatusCode::FORBIDDEN, "protected_identity", message)
            }
            RunnerError::NotAwaitingApproval(_) => {
                Self::new(StatusCode::CONFLICT, "not_awaiting_approval", message)
            }
            RunnerError::NoSuchJob(_) => Self::not_found("job_not_found", message),
            RunnerError::BadSelector(_) => Self::bad_request("invalid_selector", message),
            RunnerError::SetUnavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "directory_unavailable",
                message,
            ),
            RunnerError::NoSuchBulk(_) => Self::not_found("bulk_not_found", message),
            RunnerError::BulkConflict(_) => {
                Self::new(StatusCode::CONFLICT, "bulk_conflict", message)
            }
            RunnerError::Store(e) => e.into(),
        }
    }
}

/// 403 naming the missing right, from the policy's refusal.
pub fn forbidden(refusal: &riposte_core::policy::Refusal) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", refusal.to_string())
        .with_details(json!({ "missing_right": refusal.missing, "role": refusal.role }))
}
