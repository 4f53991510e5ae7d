//! The web portal: server-rendered pages (askama) for people who sign in, one
//! module per page; this one holds the routes and what every page shares.
//!
//! Every page is built from the same pieces as the API: accounts through
//! `Runner::find_account`, rights through `riposte-core::policy` (a page names
//! the permission it needs in its signature: [`crate::authorised::Authorised`]),
//! what an action would do through `riposte-core::outcome`, jobs through
//! `api::queue_action` and `Runner::decide`. Nothing here decides a
//! permission or an outcome. Assets are compiled in; no page loads anything
//! from elsewhere (the Content-Security-Policy says so to the browser).

mod account;
mod action_center;
mod admin;
mod admin_reset;
mod alerts;
mod assets;
mod bulk;
mod confirm;
mod csrf;
mod errors;
mod identity;
mod job;
mod readiness;
mod search;
mod second_factor;
mod sign_in;
mod sign_in_second_factor;
mod sso;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use riposte_core::Action;
use riposte_core::policy::{self, Permission};
use riposte_store::{Session, SignInMethod};
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::SignedIn;
use crate::error::ApiError;

pub use errors::PortalError;
pub use sso::Sso;

/// Every page's routes; each page module owns its own.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(sign_in::routes())
        .merge(sso::routes())
        .merge(assets::routes())
        .merge(search::routes())
        .merge(identity::routes())
        .merge(confirm::routes())
        .merge(job::routes())
        .merge(action_center::routes())
        .merge(alerts::routes())
        .merge(readiness::routes())
        .merge(bulk::routes())
        .merge(account::routes())
        .merge(second_factor::routes())
        .merge(sign_in_second_factor::routes())
        .merge(admin::routes())
        .merge(admin_reset::routes())
}

/// Percent-encodes everything but RFC 3986's unreserved characters: for
/// references (DNs, UPNs) in paths and filter values in query strings.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Headers every page carries: nothing from elsewhere, no framing, no caching
/// of account state.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => PortalError::from(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "render_failed",
            format!("the page could not be rendered: {e}"),
        ))
        .into_response(),
    }
}

/// Who is signed in, as every page's header shows them.
pub struct Me {
    pub name: String,
    pub role: String,
    pub csrf: String,
    /// How they signed in: see [`how_signed_in`].
    pub how: &'static str,
    /// The header links the admin page.
    pub admin: bool,
}

impl Me {
    pub(super) fn of(signed: &SignedIn) -> Me {
        Me {
            name: signed.principal.name.clone(),
            role: signed.principal.role.to_string(),
            csrf: signed.session.csrf_token.clone(),
            how: how_signed_in(&signed.session),
            admin: policy::authorize(&signed.principal, &Permission::Administer).is_ok(),
        }
    }
}

/// How a session was started, as the header and the admin page say it:
/// single sign-on or a local password, and the second factor.
fn how_signed_in(session: &Session) -> &'static str {
    match session.method {
        SignInMethod::Oidc if session.mfa => "SSO, MFA by provider",
        SignInMethod::Oidc => "SSO",
        SignInMethod::PasswordTotp => "local + TOTP",
        SignInMethod::PasswordRecoveryCode => "local + recovery code",
        SignInMethod::Password => "local, no second factor",
    }
}

/// What a page calls an action (buttons, headings).
fn label(action: Action) -> &'static str {
    match action {
        Action::Disable => "Disable",
        Action::Enable => "Enable",
        Action::ForcePasswordReset => "Force password reset",
        Action::Unlock => "Unlock",
        Action::SetPassword => "Set new password",
        Action::RevokeSessions => "Revoke sessions",
        Action::ConfirmCompromised => "Confirm compromised",
    }
}

fn confirm_href(reference: &str, action: Action) -> String {
    format!(
        "/ui/identities/{}/confirm?action={}",
        encode(reference),
        action.as_str()
    )
}

/// A time as every page shows it.
fn when(t: OffsetDateTime) -> String {
    riposte_core::time::rfc3339(t)
}
