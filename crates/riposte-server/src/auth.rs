//! Who is calling: API tokens (`Authorization: Bearer rpt_...`) or a
//! person's portal session (the `riposte_session` cookie). Every data route
//! takes a [`Caller`] (the API) or a [`SignedIn`] (the portal), mostly through
//! [`crate::authorised::Authorised`], which also asks the policy; without one the
//! request never reaches a handler.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use riposte_core::policy::Principal;
use riposte_core::secret_token;
use riposte_store::Session;
use time::OffsetDateTime;

use crate::AppState;
use crate::error::ApiError;

/// The session cookie: its value is the session secret; the store keeps its SHA-256.
pub const SESSION_COOKIE: &str = "riposte_session";
/// Sent with API requests that change something when the caller uses the
/// session cookie (a browser), so another site cannot make the browser send one.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller of the API. A handler that needs a permission takes
/// [`crate::authorised::Authorised`] instead, which holds one of these.
pub struct Caller(pub Principal);

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a cookie only riposte's own pages use. Always `Secure`:
/// browsers treat loopback (http://127.0.0.1, http://localhost) as a secure
/// context and keep Secure cookies there (checked with Debian's Chromium), and
/// anywhere else riposte must be behind TLS anyway. `SameSite=Strict` keeps
/// every other site's pages from making the browser send it.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_seconds: i64) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age_seconds}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// Equal without an early exit, so a guess's timing says nothing about the token.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The live session the request's cookie names, if any.
pub async fn session(headers: &HeaderMap, state: &AppState) -> Result<Option<Session>, ApiError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .people
        .session_by_hash(
            &secret_token::hash(&secret),
            OffsetDateTime::now_utc(),
            state.portal.idle(),
        )
        .await?)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            let Some(session) = session(&parts.headers, state).await? else {
                return Err(ApiError::unauthenticated(
                    "credentials required: send Authorization: Bearer <API token>, or sign in to the portal",
                ));
            };
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !safe && !same_secret(sent, &session.csrf_token) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_token_required",
                    "a change made with the portal's session cookie needs the session's X-CSRF-Token header",
                ));
            }
            return Ok(Caller(session.person.principal()));
        };
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
            .token_by_hash(&secret_token::hash(token), OffsetDateTime::now_utc())
            .await?;
        match found {
            Some(token) => Ok(Caller(token.principal())),
            None => Err(ApiError::unauthenticated(
                "this API token is unknown, revoked or expired, or its owner is disabled; `riposte token list` shows each token's state",
            )),
        }
    }
}

/// A person signed in to the portal. Pages take this; without a live
/// session the browser is sent to the sign-in page and back afterwards.
pub struct SignedIn {
    pub principal: Principal,
    pub session: Session,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match session(&parts.headers, state).await {
            Ok(Some(session)) => Ok(SignedIn {
                principal: session.person.principal(),
                session,
            }),
            Ok(None) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/ui/search");
                let to = format!("/ui/sign-in?next={}", crate::portal::encode(next));
                Err(Redirect::to(&to).into_response())
            }
            Err(e) => Err(crate::portal::PortalError::from(e).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_and_secrets_compared_whole() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "xriposte_session=no; riposte_session=yes; other=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("yes"));
        assert_eq!(cookie(&headers, "missing"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "abc"));
        let set = set_cookie(SESSION_COOKIE, "v", "/", 60);
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(set.contains(attribute), "{set}");
        }
    }
}
