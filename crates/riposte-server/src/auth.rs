//! Who is calling: API tokens (`Authorization: Bearer rpt_...`). Every data
//! route takes an [`Caller`]; without one the request never reaches a handler.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use riposte_core::policy::{self, Permission, Principal};
use riposte_core::secret_token;

use crate::AppState;
use crate::error::ApiError;

/// An authenticated caller.
pub struct Caller(pub Principal);

impl Caller {
    /// Checks a permission through the one policy module; a refusal names the missing right.
    pub fn may(&self, wanted: &Permission<'_>) -> Result<(), ApiError> {
        policy::authorize(&self.0, wanted).map_err(|refusal| crate::error::forbidden(&refusal))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "credentials required: send Authorization: Bearer <API token>",
                )
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be `Bearer <API token>`")
            })?;
        let found = state
            .tokens
            .token_by_hash(&secret_token::hash(token))
            .await?;
        match found {
            Some(token) => Ok(Caller(token.principal())),
            None => Err(ApiError::unauthenticated(
                "this API token is unknown or revoked",
            )),
        }
    }
}
