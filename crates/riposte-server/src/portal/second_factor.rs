//! `/ui/account/second-factor`: a local person sets up an authenticator app
//! (TOTP). The page shows a new secret once (QR code and base32); a right
//! code from the app turns it on and shows the recovery codes once. The
//! rules are `crate::second_factor`'s.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use qrcodegen::{QrCode, QrCodeEcc};
use serde::Deserialize;

use super::csrf::{check_csrf, form};
use super::{Me, PortalError, render};
use crate::AppState;
use crate::auth::SignedIn;
use crate::error::ApiError;
use crate::second_factor::{self, Code, SecondFactorError};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/ui/account/second-factor",
        get(enrol_page).post(enrol_confirm),
    )
}

#[derive(Template)]
#[template(path = "second_factor_enrol.html")]
struct EnrolPage {
    me: Me,
    secret: String,
    qr_svg: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "second_factor_codes.html")]
struct CodesPage {
    me: Me,
    codes: Vec<String>,
}

fn failed(e: SecondFactorError) -> PortalError {
    PortalError(ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "second_factor_failed",
        e.to_string(),
    ))
}

/// Only local people have a riposte second factor; SSO people's is the provider's.
fn local_only(signed: &SignedIn) -> Result<(), PortalError> {
    if signed.session.person.is_sso() {
        return Err(PortalError(ApiError::new(
            StatusCode::CONFLICT,
            "managed_by_provider",
            "you sign in through your identity provider: your second factor is set up there",
        )));
    }
    Ok(())
}

/// The QR code of `text` as inline SVG (one path of dark modules, a quiet
/// zone of four): nothing loaded from elsewhere, no image crate.
pub(crate) fn qr_svg(text: &str) -> Result<String, PortalError> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).map_err(|e| {
        PortalError(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "qr_failed",
            format!("the QR code could not be made: {e}"),
        ))
    })?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"240\" height=\"240\" role=\"img\" aria-label=\"QR code for your authenticator app\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

fn enrol_view(
    me: Me,
    name: &str,
    secret: String,
    error: Option<String>,
) -> Result<Response, PortalError> {
    let url = second_factor::otpauth_url(&secret, name).map_err(failed)?;
    let page = EnrolPage {
        me,
        qr_svg: qr_svg(&url)?,
        secret,
        error: error.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(status, &page))
}

/// GET: a new secret, stored not yet enabled (replacing one not confirmed),
/// and shown on this page only.
async fn enrol_page(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Response, PortalError> {
    local_only(&signed)?;
    let person = &signed.session.person;
    if person.totp_enabled {
        return Ok(Redirect::to("/ui/account").into_response());
    }
    let secret = second_factor::new_secret().map_err(failed)?;
    state.second_factors.begin_totp(person.id, &secret).await?;
    enrol_view(Me::of(&signed), &person.name, secret, None)
}

#[derive(Deserialize, Default)]
struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// POST: the app's code proves it holds the secret; then TOTP is on and the
/// recovery codes are shown once.
async fn enrol_confirm(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: SignedIn,
    body: Result<Form<ConfirmForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    local_only(&signed)?;
    let person = &signed.session.person;
    let pending = state.second_factors.totp_secret(person.id).await?;
    let secret = match pending {
        Some(s) if !s.enabled => s.secret_base32,
        // Already on, or no secret begun: start from the page.
        _ => return Ok(Redirect::to("/ui/account/second-factor").into_response()),
    };
    let accepted = match Code::parse(&body.code) {
        Some(Code::Totp(code)) => second_factor::spend_totp(
            state.second_factors.as_ref(),
            person.id,
            &secret,
            &code,
            second_factor::now_unix(),
        )
        .await
        .map_err(failed)?,
        _ => false,
    };
    if !accepted {
        return enrol_view(
            Me::of(&signed),
            &person.name,
            secret,
            Some("That code is not the one your app shows now: check the app's clock and try the next code.".into()),
        );
    }
    let codes = second_factor::new_recovery_codes().map_err(failed)?;
    state
        .second_factors
        .confirm_totp(person.id, &codes.hashes)
        .await?;
    let record = riposte_store::NewAuditRecord {
        actor: format!("user:{}", person.name),
        source: "portal".into(),
        remote_addr: Some(remote.ip().to_string()),
        event: "second-factor-enrolled".into(),
        target: Some(format!("user:{}", person.name)),
        job_id: None,
        result: "success".into(),
        details: serde_json::json!({ "kind": "totp", "recovery_codes": codes.hashes.len() }),
    };
    state.runner.store().append(record).await?;
    Ok(render(
        StatusCode::OK,
        &CodesPage {
            me: Me::of(&signed),
            codes: codes.shown,
        },
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_is_inline_svg_with_a_dark_module_path() {
        let Ok(svg) = super::qr_svg("otpauth://totp/riposte:ada?secret=ABC&issuer=riposte") else {
            panic!("no QR code");
        };
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.contains("<path d=\"M"), "{svg}");
        assert!(!svg.contains("<script") && !svg.contains("href"), "{svg}");
    }
}
