//! The web portal: server-rendered pages (askama) for people who sign in.
//!
//! Every page is built from the same pieces as the API: accounts through
//! `Runner::find_account`, rights through `riposte-core::policy`, what an
//! action would do through `riposte-core::outcome`, jobs through
//! `api::queue_action` and `Runner::decide`. Nothing here decides a
//! permission or an outcome. Assets are compiled in; no page loads anything
//! from elsewhere (the Content-Security-Policy says so to the browser).

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use riposte_core::containment::{self, Identity};
use riposte_core::outcome::{self, Assessment};
use riposte_core::policy::{self, Permission, Principal};
use riposte_core::{Action, ActionOptions, Outcome, secret_token};
use riposte_jobs::view;
use riposte_store::{Job, JobFilter, JobState};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::AppState;
use crate::api::{NewAction, parse_job_id, queue_action};
use crate::auth::{self, SESSION_COOKIE, SESSION_HOURS, SignedIn};
use crate::error::ApiError;
use crate::sign_in_guard::{Refusal, SignInGuard};

/// The sign-in form's CSRF cookie (see [`sign_in_form`]).
const SIGN_IN_COOKIE: &str = "riposte_sign_in";

const CSS: &str = include_str!("../assets/portal.css");
const JS: &str = include_str!("../assets/portal.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/ui", get(home))
        .route("/ui/assets/portal.css", get(css))
        .route("/ui/assets/portal.js", get(js))
        .route("/ui/sign-in", get(sign_in_form).post(sign_in))
        .route("/ui/sign-out", axum::routing::post(sign_out))
        .route("/ui/search", get(search))
        .route("/ui/identities/{reference}", get(identity))
        .route(
            "/ui/identities/{reference}/confirm",
            get(confirm_form).post(confirm),
        )
        .route("/ui/jobs/{id}", get(job_page))
        .route("/ui/jobs/{id}/approve", axum::routing::post(approve))
        .route("/ui/jobs/{id}/reject", axum::routing::post(reject))
        .route("/ui/actions", get(action_center))
        .route("/ui/alerts", get(alerts_page))
        .route("/ui/readiness", get(readiness_page))
        .route(
            "/ui/readiness/refresh",
            axum::routing::post(readiness_refresh),
        )
        .route("/ui/bulk", get(bulk_list))
        .route("/ui/bulk/{id}", get(bulk_page))
        .route("/ui/bulk/{id}/{control}", axum::routing::post(bulk_post))
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
}

impl Me {
    fn of(signed: &SignedIn) -> Me {
        Me {
            name: signed.principal.name.clone(),
            role: signed.principal.role.to_string(),
            csrf: signed.session.csrf_token.clone(),
        }
    }
}

/// A page saying what went wrong: refusals name the missing right, unknown
/// identities and jobs say what was looked for.
pub struct PortalError(ApiError);

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

fn csrf_refused() -> PortalError {
    PortalError(ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_token_required",
        "this form was not sent from riposte's own page in this session (its CSRF token is missing or wrong); go back, reload the page and send it again",
    ))
}

/// Every form a signed-in person posts carries the session's CSRF token.
fn check_csrf(signed: &SignedIn, sent: &str) -> Result<(), PortalError> {
    if auth::same_secret(sent, &signed.session.csrf_token) {
        Ok(())
    } else {
        Err(csrf_refused())
    }
}

fn form<T>(form: Result<Form<T>, FormRejection>) -> Result<T, PortalError> {
    form.map(|Form(f)| f).map_err(|e| {
        PortalError(ApiError::bad_request(
            "malformed_form",
            format!("the form could not be read: {}", e.body_text()),
        ))
    })
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        JS,
    )
        .into_response()
}

/// `/`: the search page for someone signed in, the sign-in page otherwise.
async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match auth::session(&headers, &state).await {
        Ok(Some(_)) => Redirect::to("/ui/search").into_response(),
        _ => Redirect::to("/ui/sign-in").into_response(),
    }
}

// ---------------------------------------------------------------- sign-in

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    csrf: String,
    next: String,
    name: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only a path of this site, so sign-in cannot be used to send someone elsewhere.
fn safe_next(next: &str) -> String {
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
    };
    let mut response = render(StatusCode::OK, &page);
    if fresh && let Ok(v) = auth::set_cookie(SIGN_IN_COOKIE, &token, "/ui/sign-in", 3600).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
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
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// Writes a sign-in event to the audit trail; the name as typed, never the password.
async fn audit_sign_in(
    state: &AppState,
    event: &str,
    name: &str,
    remote: SocketAddr,
    result: &str,
    why: &str,
) {
    let record = riposte_store::NewAuditRecord {
        actor: format!("user:{name}"),
        source: "portal".into(),
        remote_addr: Some(remote.ip().to_string()),
        event: event.into(),
        target: Some(format!("user:{name}")),
        job_id: None,
        result: result.into(),
        details: serde_json::json!({ "why": why }),
    };
    if let Err(e) = state.runner.store().append(record).await {
        tracing::error!(error = %e, "a sign-in could not be written to the audit trail");
    }
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
    let random = |what: &str| {
        secret_token::generate().map_err(|e| {
            PortalError(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "random_failed",
                format!("no random {what} could be made: {e}"),
            ))
        })
    };
    let secret = random("session secret")?;
    let csrf = random("CSRF token")?;
    let expires = OffsetDateTime::now_utc() + time::Duration::hours(SESSION_HOURS);
    state
        .people
        .create_session(person.id, &secret_token::hash(&secret), &csrf, expires)
        .await?;
    tracing::info!(person = %person.name, "portal sign-in");
    audit_sign_in(
        &state,
        "sign-in",
        &person.name,
        remote,
        "success",
        "password",
    )
    .await;
    let mut response = Redirect::to(&safe_next(&body.next)).into_response();
    let cookies = [
        auth::set_cookie(SESSION_COOKIE, &secret, "/", SESSION_HOURS * 3600),
        auth::set_cookie(SIGN_IN_COOKIE, "", "/ui/sign-in", 0),
    ];
    for c in cookies {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
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
    audit_sign_in(&state, "sign-out", &name, remote, "success", "signed out").await;
    let mut response = Redirect::to("/ui/sign-in").into_response();
    if let Ok(v) = auth::set_cookie(SESSION_COOKIE, "", "/", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

// ---------------------------------------------------------------- search

struct Found {
    reference: String,
    href: String,
    display_name: String,
    dn: String,
    forest: String,
    enabled: bool,
    locked: bool,
    protected: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    me: Me,
    q: String,
    searched: bool,
    results: Vec<Found>,
    forests: String,
    unreachable: Vec<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    signed: SignedIn,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadIdentities)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let q = query.ok().map(|Query(q)| q.q).unwrap_or_default();
    let text = q.trim().to_string();
    let mut page = SearchPage {
        me: Me::of(&signed),
        q: text.clone(),
        searched: false,
        results: vec![],
        forests: state.runner.directory().forest_names().join(", "),
        unreachable: vec![],
        error: None,
    };
    if text.chars().count() > 256 || text.chars().any(char::is_control) {
        page.error = Some("Search for 1 to 256 printable characters.".into());
    } else if !text.is_empty() {
        let found = state.runner.directory().search(&text, 50).await;
        page.searched = true;
        page.results = found
            .matches
            .iter()
            .map(|a| Found {
                reference: a.reference(),
                href: format!("/ui/identities/{}", encode(&a.reference())),
                display_name: a.display_name.clone().unwrap_or_default(),
                dn: a.dn.clone(),
                forest: a.forest.clone(),
                enabled: a.enabled(),
                locked: a.locked(),
                protected: a.admin_count,
            })
            .collect();
        page.unreachable = found
            .unreachable
            .iter()
            .map(|(forest, e)| format!("{forest}: {e}"))
            .collect();
    }
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------- identity

struct ActionButton {
    label: String,
    href: String,
    expected: String,
    why: String,
    danger: bool,
}

struct Preview {
    action: String,
    expected: String,
    why: String,
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    me: Me,
    reference: String,
    display_name: String,
    dn: String,
    forest: String,
    sid: String,
    upn: String,
    enabled: bool,
    locked: bool,
    must_change_in_force: bool,
    must_change: String,
    blockers: Vec<String>,
    protected: Option<String>,
    uac_flags: String,
    buttons: Vec<ActionButton>,
    preview: Vec<Preview>,
    history_href: String,
    /// ad-only, hybrid, cloud-only or guest.
    kind: String,
    entra: Vec<EntraRow>,
    entra_error: Option<String>,
}

struct EntraRow {
    tenant: String,
    upn: String,
    user_type: String,
    synced: bool,
    enabled: bool,
    sessions_from: String,
}

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

async fn identity(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(reference): Path<String>,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadIdentities)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let identity = state.runner.find_identity(&reference).await?;
    let permitted = view::permitted_actions(&signed.principal, &identity);
    let preview = view::action_preview(&identity);
    let reference = identity.reference();
    let buttons = permitted
        .iter()
        .map(|action| {
            let (_, expected, why) = preview
                .iter()
                .find(|(a, _, _)| a == action)
                .cloned()
                .unwrap_or((*action, "available", String::new()));
            ActionButton {
                label: label(*action).into(),
                href: confirm_href(&reference, *action),
                expected: expected.into(),
                why,
                danger: matches!(action, Action::Disable | Action::SetPassword),
            }
        })
        .collect();
    let cloud = identity.cloud.first();
    let ad = identity.ad.as_ref();
    let page = IdentityPage {
        me: Me::of(&signed),
        reference: reference.clone(),
        display_name: ad
            .and_then(|a| a.display_name.clone())
            .or_else(|| cloud.and_then(|c| c.display_name.clone()))
            .unwrap_or_default(),
        dn: ad
            .map(|a| a.dn.clone())
            .or_else(|| cloud.map(|c| format!("Entra ID object {}", c.id)))
            .unwrap_or_default(),
        forest: identity.location().0,
        sid: ad
            .and_then(|a| a.sid.as_ref())
            .map(|s| s.to_string())
            .unwrap_or_default(),
        upn: ad
            .and_then(|a| a.user_principal_name.clone())
            .or_else(|| cloud.map(|c| c.user_principal_name.clone()))
            .unwrap_or_default(),
        enabled: ad
            .map(|a| a.enabled())
            .or_else(|| cloud.map(|c| c.account_enabled))
            .unwrap_or(false),
        locked: ad.is_some_and(|a| a.locked()),
        must_change_in_force: ad.is_some_and(|a| a.password_change_required()),
        must_change: ad
            .map(view::must_change_text)
            .unwrap_or_else(|| "not in force".into()),
        blockers: ad
            .map(|a| {
                a.forced_reset_blockers()
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            })
            .unwrap_or_default(),
        protected: ad.and_then(|a| state.runner.protection_reason(a)),
        uac_flags: ad
            .map(|a| riposte_core::uac::flag_names(a.user_account_control).join(", "))
            .unwrap_or_default(),
        buttons,
        preview: preview
            .into_iter()
            .map(|(a, expected, why)| Preview {
                action: label(a).into(),
                expected: expected.into(),
                why,
            })
            .collect(),
        history_href: format!("/ui/actions?target={}", encode(&reference)),
        kind: identity.kind.to_string(),
        entra: identity
            .cloud
            .iter()
            .map(|c| EntraRow {
                tenant: c.tenant.clone(),
                upn: c.user_principal_name.clone(),
                user_type: c.user_type.clone(),
                synced: c.synced,
                enabled: c.account_enabled,
                sessions_from: c.sessions_valid_from.clone().unwrap_or_default(),
            })
            .collect(),
        entra_error: identity.cloud_error.clone(),
    };
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------- confirm

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    me: Me,
    reference: String,
    post_href: String,
    identity_href: String,
    display_name: String,
    dn: String,
    action: String,
    label: String,
    describe: String,
    /// "write", "already" or "ineffective".
    assessment: String,
    blocking_flags: String,
    offer_clear: bool,
    clear_checked: bool,
    approval: Option<String>,
    approval_if_cleared: Option<String>,
    /// set-password from the portal: the worker sets it, nobody sees it.
    password_unseen: bool,
    reason: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct ConfirmQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    clear_blocking_flags: Option<String>,
}

fn parse_action(text: &str) -> Result<Action, PortalError> {
    text.parse()
        .map_err(|e: riposte_core::action::UnknownAction| {
            PortalError(ApiError::bad_request("unknown_action", e.to_string()))
        })
}

/// The identity, and the refusal if this person may not request `action` on
/// it (or the action does not apply to its kind).
async fn permitted_identity(
    state: &AppState,
    principal: &Principal,
    reference: &str,
    action: Action,
) -> Result<Identity, PortalError> {
    let identity = state.runner.find_identity(reference).await?;
    let (forest, dn) = identity.location();
    policy::authorize(
        principal,
        &Permission::RequestAction {
            action,
            forest: &forest,
            dn: &dn,
        },
    )
    .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    containment::plan(&identity, action)
        .map_err(|e| PortalError(ApiError::bad_request("not_applicable", e.to_string())))?;
    Ok(identity)
}

fn confirm_page(
    state: &AppState,
    signed: &SignedIn,
    identity: &Identity,
    action: Action,
    clear: bool,
    reason: String,
    error: Option<String>,
) -> ConfirmPage {
    let options = ActionOptions {
        clear_blocking_flags: clear,
        ..ActionOptions::default()
    };
    let cleared = ActionOptions {
        clear_blocking_flags: true,
        ..ActionOptions::default()
    };
    let reference = identity.reference();
    let (assessment, blocking_flags, offer_clear, approval, approval_if_cleared, dn, display_name) =
        match &identity.ad {
            Some(account) => {
                let (assessment, flags) = match outcome::assess_before(action, options, account) {
                    Assessment::AlreadyInForce => ("already", String::new()),
                    Assessment::WouldBeIneffective { flags } => ("ineffective", flags.join(", ")),
                    Assessment::NeedsWrite { .. } => ("write", String::new()),
                };
                // The flags that make AD ignore a forced reset, whether or not the box is ticked.
                let blockers = account.forced_reset_blockers().join(", ");
                let offer_clear = action == Action::ForcePasswordReset && !blockers.is_empty();
                (
                    assessment,
                    if flags.is_empty() { blockers } else { flags },
                    offer_clear,
                    state.runner.approval_needed(account, action, options),
                    (offer_clear && !clear)
                        .then(|| state.runner.approval_needed(account, action, cleared))
                        .flatten(),
                    account.dn.clone(),
                    account.display_name.clone().unwrap_or_default(),
                )
            }
            None => {
                let cloud = identity.cloud.first();
                let verdict = cloud
                    .zip(action.in_cloud())
                    .and_then(|(c, a)| outcome::assess_cloud_before(a, c));
                let assessment = match verdict.as_ref().map(|v| v.outcome) {
                    Some(riposte_core::Outcome::Already) => "already",
                    Some(_) => "ineffective",
                    None => "write",
                };
                (
                    assessment,
                    verdict.map(|v| v.message).unwrap_or_default(),
                    false,
                    None,
                    None,
                    cloud
                        .map(|c| format!("Entra ID object {}", c.id))
                        .unwrap_or_default(),
                    cloud
                        .and_then(|c| c.display_name.clone())
                        .unwrap_or_default(),
                )
            }
        };
    ConfirmPage {
        me: Me::of(signed),
        reference: reference.clone(),
        post_href: format!("/ui/identities/{}/confirm", encode(&reference)),
        identity_href: format!("/ui/identities/{}", encode(&reference)),
        display_name,
        dn,
        action: action.as_str().into(),
        label: label(action).into(),
        describe: action.describe().into(),
        assessment: assessment.into(),
        blocking_flags,
        offer_clear,
        clear_checked: clear,
        approval,
        approval_if_cleared,
        password_unseen: action == Action::SetPassword,
        reason,
        error,
    }
}

async fn confirm_form(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(reference): Path<String>,
    query: Result<Query<ConfirmQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    let query = query.ok().map(|Query(q)| q).unwrap_or_default();
    let action = parse_action(&query.action)?;
    let identity = permitted_identity(&state, &signed.principal, &reference, action).await?;
    let clear = query.clear_blocking_flags.is_some_and(|v| v != "false");
    let page = confirm_page(
        &state,
        &signed,
        &identity,
        action,
        clear,
        String::new(),
        None,
    );
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    clear_blocking_flags: Option<String>,
}

/// POST /ui/identities/{reference}/confirm: the job, exactly as the API would make it.
async fn confirm(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: SignedIn,
    Path(reference): Path<String>,
    body: Result<Form<ConfirmForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    let action = parse_action(&body.action)?;
    let clear = body.clear_blocking_flags.is_some();
    if body.reason.trim().is_empty() {
        let identity = permitted_identity(&state, &signed.principal, &reference, action).await?;
        let page = confirm_page(
            &state,
            &signed,
            &identity,
            action,
            clear,
            String::new(),
            Some("Say why: a reason is required and is kept in the job ledger.".into()),
        );
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    let enqueued = queue_action(
        &state,
        &signed.principal,
        NewAction {
            target: reference,
            action,
            options: ActionOptions {
                clear_blocking_flags: clear,
                ..ActionOptions::default()
            },
            reason: body.reason.trim().to_string(),
            source: "portal",
            remote_addr: Some(remote.ip().to_string()),
            idempotency_key: None,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/ui/jobs/{}", enqueued.job.id)).into_response())
}

// ---------------------------------------------------------------- jobs

struct EventRow {
    at: String,
    state: String,
    phase: String,
    message: String,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    me: Me,
    id: String,
    action: String,
    describe: String,
    target: String,
    target_href: String,
    dn: String,
    state: String,
    outcome: String,
    message: String,
    reason: String,
    requested_by: String,
    source: String,
    created_at: String,
    finished_at: String,
    clear_blocking_flags: bool,
    awaiting_approval: bool,
    approval: String,
    approval_reason: String,
    decided_by: String,
    can_decide: bool,
    decide_refusal: String,
    undo_href: Option<String>,
    undo_label: String,
    evidence: String,
    events: Vec<EventRow>,
    finished: bool,
}

/// Whether this person may approve or reject the job now, or why not.
fn may_decide(principal: &Principal, job: &Job) -> Result<(), String> {
    policy::authorize(
        principal,
        &Permission::Approve {
            action: job.action,
            forest: job.forest.as_deref().unwrap_or_default(),
            dn: job.target_dn.as_deref().unwrap_or_default(),
            requested_by: &job.requested_by,
            requester_person: job.requester_person.as_deref(),
        },
    )
    .map_err(|r| r.missing)
}

/// Where "undo" goes: the confirm page of the reverse action, for a job that
/// changed something and has one, when this person may request it.
fn undo_href(principal: &Principal, job: &Job) -> Option<(String, Action)> {
    let undo = job.action.undo()?;
    if job.outcome != Some(Outcome::Verified) {
        return None;
    }
    let (forest, dn) = (job.forest.as_deref()?, job.target_dn.as_deref()?);
    policy::authorize(
        principal,
        &Permission::RequestAction {
            action: undo,
            forest,
            dn,
        },
    )
    .ok()?;
    Some((confirm_href(&job.target_ref, undo), undo))
}

fn when(t: OffsetDateTime) -> String {
    riposte_core::time::rfc3339(t)
}

async fn job_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadJobs)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let id = parse_job_id(&id)?;
    let job =
        state.runner.store().get(id).await?.ok_or_else(|| {
            PortalError(ApiError::not_found("job_not_found", format!("no job {id}")))
        })?;
    let events = state.runner.store().events(id).await?;
    let decide = may_decide(&signed.principal, &job);
    let undo = undo_href(&signed.principal, &job);
    let page = JobPage {
        me: Me::of(&signed),
        id: job.id.to_string(),
        action: job.action.as_str().into(),
        describe: job.action.describe().into(),
        target: job.target_ref.clone(),
        target_href: format!("/ui/identities/{}", encode(&job.target_ref)),
        dn: job.target_dn.clone().unwrap_or_default(),
        state: job.state.as_str().into(),
        outcome: job.outcome.map(|o| o.as_str()).unwrap_or("").into(),
        message: job.message.clone().unwrap_or_default(),
        reason: job.reason.clone(),
        requested_by: job.requested_by.clone(),
        source: job.source.clone(),
        created_at: when(job.created_at),
        finished_at: job.finished_at.map(when).unwrap_or_default(),
        clear_blocking_flags: job.options.clear_blocking_flags,
        awaiting_approval: job.awaiting_approval(),
        approval: job.approval.map(|a| a.as_str()).unwrap_or("").into(),
        approval_reason: job.approval_reason.clone().unwrap_or_default(),
        decided_by: job.decided_by.clone().unwrap_or_default(),
        can_decide: job.awaiting_approval() && decide.is_ok(),
        decide_refusal: decide.err().unwrap_or_default(),
        undo_label: undo
            .as_ref()
            .map(|(_, a)| label(*a).to_string())
            .unwrap_or_default(),
        undo_href: undo.map(|(h, _)| h),
        evidence: job
            .evidence
            .as_ref()
            .and_then(|e| serde_json::to_string_pretty(e).ok())
            .unwrap_or_default(),
        events: events
            .iter()
            .map(|e| EventRow {
                at: when(e.at),
                state: e.state.as_str().into(),
                phase: e.phase.clone().unwrap_or_default(),
                message: e.message.clone(),
            })
            .collect(),
        finished: job.state == JobState::Finished,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    comment: String,
}

async fn decide(
    state: AppState,
    signed: SignedIn,
    id: String,
    approve: bool,
    body: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    let id = parse_job_id(&id)?;
    state
        .runner
        .decide(
            id,
            &signed.principal,
            "portal",
            approve,
            body.comment.trim(),
        )
        .await?;
    Ok(Redirect::to(&format!("/ui/jobs/{id}")).into_response())
}

async fn approve(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, PortalError> {
    decide(state, signed, id, true, body).await
}

async fn reject(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, PortalError> {
    decide(state, signed, id, false, body).await
}

// ---------------------------------------------------------------- Action Center

struct JobRow {
    id: String,
    short_id: String,
    href: String,
    created_at: String,
    action: String,
    target: String,
    requested_by: String,
    state: String,
    outcome: String,
    message: String,
    awaiting_approval: bool,
    approval_reason: String,
    can_decide: bool,
    undo_href: Option<String>,
    undo_label: String,
}

struct Choice {
    value: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "actions.html")]
struct ActionsPage {
    me: Me,
    target: String,
    requester: String,
    actions: Vec<Choice>,
    outcomes: Vec<Choice>,
    pending: Vec<JobRow>,
    history: Vec<JobRow>,
    csv_href: String,
}

#[derive(Deserialize, Default)]
struct ActionsQuery {
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    requester: String,
}

fn job_row(principal: &Principal, job: &Job) -> JobRow {
    let undo = undo_href(principal, job);
    JobRow {
        id: job.id.to_string(),
        short_id: job.id.to_string().chars().take(8).collect(),
        href: format!("/ui/jobs/{}", job.id),
        created_at: when(job.created_at),
        action: job.action.as_str().into(),
        target: job.target_ref.clone(),
        requested_by: job.requested_by.clone(),
        state: job.state.as_str().into(),
        outcome: job.outcome.map(|o| o.as_str()).unwrap_or("").into(),
        message: job.message.clone().unwrap_or_default(),
        awaiting_approval: job.awaiting_approval(),
        approval_reason: job.approval_reason.clone().unwrap_or_default(),
        can_decide: job.awaiting_approval() && may_decide(principal, job).is_ok(),
        undo_label: undo
            .as_ref()
            .map(|(_, a)| label(*a).to_string())
            .unwrap_or_default(),
        undo_href: undo.map(|(h, _)| h),
    }
}

async fn action_center(
    State(state): State<AppState>,
    signed: SignedIn,
    query: Result<Query<ActionsQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadJobs)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let q = query.ok().map(|Query(q)| q).unwrap_or_default();
    let action = (!q.action.is_empty())
        .then(|| parse_action(&q.action))
        .transpose()?;
    let outcome = (!q.outcome.is_empty())
        .then(|| {
            q.outcome
                .parse::<Outcome>()
                .map_err(|e| PortalError(ApiError::bad_request("unknown_outcome", e.to_string())))
        })
        .transpose()?;
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let filter = |state: Option<JobState>, limit: u32| JobFilter {
        target: nonempty(&q.target),
        action,
        outcome,
        requested_by: nonempty(&q.requester),
        state,
        limit: Some(limit),
        ..JobFilter::default()
    };
    let store = state.runner.store();
    // Pending: not finished yet (an outcome filter matches finished jobs only).
    let mut pending = Vec::new();
    if outcome.is_none() {
        for s in [JobState::Queued, JobState::Running] {
            pending.extend(store.list(&filter(Some(s), 200)).await?);
        }
    }
    let history = store.list(&filter(Some(JobState::Finished), 200)).await?;
    let mut csv: Vec<String> = Vec::new();
    for (key, value) in [
        ("target", nonempty(&q.target)),
        ("action", action.map(|a| a.as_str().to_string())),
        ("outcome", outcome.map(|o| o.as_str().to_string())),
        ("requester", nonempty(&q.requester)),
    ] {
        if let Some(v) = value {
            csv.push(format!("{key}={}", encode(&v)));
        }
    }
    let page = ActionsPage {
        me: Me::of(&signed),
        target: q.target.clone(),
        requester: q.requester.clone(),
        actions: Action::ALL
            .iter()
            .map(|a| Choice {
                value: a.as_str().into(),
                selected: Some(*a) == action,
            })
            .collect(),
        outcomes: Outcome::ALL
            .iter()
            .map(|o| Choice {
                value: o.as_str().into(),
                selected: Some(*o) == outcome,
            })
            .collect(),
        pending: pending
            .iter()
            .map(|j| job_row(&signed.principal, j))
            .collect(),
        history: history
            .iter()
            .map(|j| job_row(&signed.principal, j))
            .collect(),
        csv_href: if csv.is_empty() {
            "/api/v1/jobs/export.csv".into()
        } else {
            format!("/api/v1/jobs/export.csv?{}", csv.join("&"))
        },
    };
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------- alerts

struct AlertRow {
    id: String,
    raised_at: String,
    severity: String,
    technique: String,
    title: String,
    description: String,
    users: String,
    sources: String,
    event_count: u64,
    input: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    me: Me,
    technique: String,
    user: String,
    alerts: Vec<AlertRow>,
}

#[derive(Deserialize, Default)]
struct AlertsQuery {
    #[serde(default)]
    technique: String,
    #[serde(default)]
    user: String,
}

async fn alerts_page(
    State(state): State<AppState>,
    signed: SignedIn,
    query: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadAlerts)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let q = query.ok().map(|Query(q)| q).unwrap_or_default();
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let filter = riposte_store::AlertFilter {
        technique: nonempty(&q.technique),
        user: nonempty(&q.user),
        limit: Some(200),
        ..Default::default()
    };
    let alerts = state.pipeline.alert_store().list_alerts(&filter).await?;
    let page = AlertsPage {
        me: Me::of(&signed),
        technique: q.technique.trim().to_string(),
        user: q.user.trim().to_string(),
        alerts: alerts
            .iter()
            .map(|a| AlertRow {
                id: a.id.to_string(),
                raised_at: when(a.raised_at),
                severity: a.alert.severity.clone(),
                technique: a.alert.technique.clone().unwrap_or_default(),
                title: a.alert.title.clone(),
                description: a.alert.description.clone(),
                users: a.alert.entities.users.join(", "),
                sources: a.alert.entities.sources.join(", "),
                event_count: a.alert.event_count,
                input: a.alert.input.clone(),
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

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

// ---------------------------------------------------------------- Readiness

struct ReadinessBar {
    action: String,
    covered: u64,
    not_covered: u64,
    percent: u32,
    /// Bar widths in the SVG (of 300).
    covered_width: u32,
}

struct ReadinessGroup {
    action: String,
    reason: String,
    label: String,
    count: u64,
    accounts: Vec<riposte_core::readiness::GapAccount>,
    more: u64,
    csv_href: String,
    page_href: String,
}

struct ReadinessScope {
    kind: &'static str,
    name: String,
    subtitle: String,
    facts: Vec<(String, String)>,
    error: String,
    bars: Vec<ReadinessBar>,
    ous: Vec<riposte_core::readiness::OuRights>,
    groups: Vec<ReadinessGroup>,
    fixes: Vec<riposte_core::readiness::Fix>,
}

#[derive(Template)]
#[template(path = "readiness.html")]
struct ReadinessPage {
    me: Me,
    generated_at: String,
    duration: String,
    may_refresh: bool,
    progress: u64,
    scopes: Vec<ReadinessScope>,
}

fn readiness_scope(
    name: &str,
    coverage: &[riposte_core::readiness::ActionCoverage],
) -> (Vec<ReadinessBar>, Vec<ReadinessGroup>) {
    let bars = coverage
        .iter()
        .map(|c| ReadinessBar {
            action: c.action.clone(),
            covered: c.covered,
            not_covered: c.not_covered,
            percent: c.percent(),
            covered_width: c.percent() * 3,
        })
        .collect();
    let groups = coverage
        .iter()
        .flat_map(|c| {
            c.groups.iter().map(move |g| {
                let query = format!(
                    "scope={}&action={}&reason={}",
                    encode(name),
                    encode(&c.action),
                    g.reason.as_str()
                );
                let shown = g.accounts.len().min(crate::readiness::INLINE_ACCOUNTS);
                ReadinessGroup {
                    action: c.action.clone(),
                    reason: g.reason.as_str().to_string(),
                    label: g.label.clone(),
                    count: g.count,
                    accounts: g.accounts[..shown].to_vec(),
                    more: g.count.saturating_sub(shown as u64),
                    csv_href: format!("/api/v1/readiness/accounts.csv?{query}"),
                    page_href: format!("/api/v1/readiness/accounts?{query}&page=2&per_page=20"),
                }
            })
        })
        .collect();
    (bars, groups)
}

async fn readiness_page(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadReadiness)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let report = state.readiness.latest().await;
    let mut scopes = Vec::new();
    for f in report.iter().flat_map(|r| &r.forests) {
        let (bars, groups) = readiness_scope(&f.name, &f.coverage);
        let mut facts = vec![("Bind".to_string(), f.bind_method.clone())];
        if let Some(a) = &f.action_account {
            facts.push((
                "Action account".into(),
                format!("{} ({})", a.dn, a.sid.as_deref().unwrap_or("SID unknown")),
            ));
        }
        for dc in &f.dcs {
            let mut text = vec![if dc.reached {
                "reached".to_string()
            } else {
                "NOT reached".into()
            }];
            if let Some(t) = &dc.tls {
                text.push(format!(
                    "TLS {} verified: {} (issuer {}), expires {} ({} days)",
                    t.mode, t.subject, t.issuer, t.not_after, t.days_left
                ));
            }
            if let Some(s) = dc.clock_skew_secs {
                text.push(format!("clock skew {s:+} s"));
            }
            if let Some(e) = &dc.error {
                text.push(e.clone());
            }
            facts.push((format!("DC {}", dc.url), text.join("; ")));
        }
        facts.push(("Users judged".into(), f.users_scanned.to_string()));
        scopes.push(ReadinessScope {
            kind: "Forest",
            name: f.name.clone(),
            subtitle: f.base_dn.clone(),
            facts,
            error: f.error.clone().unwrap_or_default(),
            bars,
            ous: f.ous.clone(),
            groups,
            fixes: f.fixes.clone(),
        });
    }
    for t in report.iter().flat_map(|r| &r.tenants) {
        let (bars, groups) = readiness_scope(&t.name, &t.coverage);
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        scopes.push(ReadinessScope {
            kind: "Tenant",
            name: t.name.clone(),
            subtitle: t.tenant_id.clone(),
            facts: vec![
                ("Application permissions".into(), list(&t.app_permissions)),
                ("Directory roles".into(), list(&t.directory_roles)),
                ("Users judged".into(), t.users_scanned.to_string()),
            ],
            error: t.error.clone().unwrap_or_default(),
            bars,
            ous: Vec::new(),
            groups,
            fixes: t.fixes.clone(),
        });
    }
    let page = ReadinessPage {
        me: Me::of(&signed),
        generated_at: report
            .as_ref()
            .map(|r| r.generated_at.clone())
            .unwrap_or_default(),
        duration: report
            .as_ref()
            .map(|r| format!("{:.1} s", r.duration_ms as f64 / 1000.0))
            .unwrap_or_default(),
        may_refresh: policy::authorize(&signed.principal, &Permission::RefreshReadiness).is_ok(),
        progress: state.readiness.progress(),
        scopes,
    };
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------- bulk operations

struct BulkRow {
    href: String,
    short_id: String,
    created_at: String,
    action: String,
    selector: String,
    state: String,
    done: u64,
    total: u64,
    requested_by: String,
}

#[derive(Template)]
#[template(path = "bulk_list.html")]
struct BulkListPage {
    me: Me,
    rows: Vec<BulkRow>,
}

async fn bulk_list(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadJobs)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let all = state.runner.store().list_bulks(None, 100, 0).await?;
    let rows = all
        .iter()
        .map(|b| BulkRow {
            href: format!("/ui/bulk/{}", b.id),
            short_id: b.id.to_string()[..8].to_string(),
            created_at: when(b.created_at),
            action: b.action.as_str().into(),
            selector: format!(
                "{}: {}",
                b.selector_kind,
                b.selector_value.lines().next().unwrap_or("")
            ),
            state: b.state.as_str().into(),
            done: b.counts.finished,
            total: b.counts.total,
            requested_by: b.requested_by.clone(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &BulkListPage {
            me: Me::of(&signed),
            rows,
        },
    ))
}

struct LeftOutRow {
    reference: String,
    kind: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "bulk.html")]
struct BulkPage {
    me: Me,
    id: String,
    action: String,
    selector: String,
    reason: String,
    requested_by: String,
    created_at: String,
    state: String,
    live: bool,
    total: u64,
    done: u64,
    percent: u64,
    counts: riposte_store::BulkCounts,
    undo_of: String,
    left_out: Vec<LeftOutRow>,
    /// Buttons only for what this person may do now.
    can_pause: bool,
    can_resume: bool,
    can_cancel: bool,
    can_undo: bool,
    /// Waiting for a second person, and this person may decide.
    can_decide: bool,
    approval_reason: String,
    decide_refusal: String,
}

async fn bulk_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    policy::authorize(&signed.principal, &Permission::ReadJobs)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    let id = parse_bulk_id(&id)?;
    let b = crate::bulk::load(&state, id).await?;
    let control = policy::authorize(&signed.principal, &Permission::ControlBulk).is_ok();
    let awaiting = riposte_store::bulk_awaiting_approval(&b);
    let decide = riposte_core::safeguards::second_person(
        &signed.principal,
        &b.requested_by,
        b.requester_person.as_deref(),
    );
    let undo = b.action.undo().is_some_and(|reverse| {
        policy::authorize(
            &signed.principal,
            &Permission::RequestBulk { action: reverse },
        )
        .is_ok()
    });
    let left_out = b
        .skipped
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, list)| list.as_array().cloned().unwrap_or_default())
        .map(|s| LeftOutRow {
            reference: s["reference"].as_str().unwrap_or("").into(),
            kind: s["kind"].as_str().unwrap_or("").into(),
            reason: s["reason"].as_str().unwrap_or("").into(),
        })
        .collect();
    let page = BulkPage {
        me: Me::of(&signed),
        id: b.id.to_string(),
        action: b.action.as_str().into(),
        selector: format!(
            "{}: {}",
            b.selector_kind,
            b.selector_value.lines().next().unwrap_or("")
        ),
        reason: b.reason.clone(),
        requested_by: b.requested_by.clone(),
        created_at: when(b.created_at),
        state: b.state.as_str().into(),
        live: !b.state.is_final(),
        total: b.counts.total,
        done: b.counts.finished,
        percent: (b.counts.finished * 100)
            .checked_div(b.counts.total)
            .unwrap_or(100),
        counts: b.counts,
        undo_of: b.undo_of.map(|u| u.to_string()).unwrap_or_default(),
        left_out,
        can_pause: control && b.state == riposte_store::BulkState::Running,
        can_resume: control && b.state == riposte_store::BulkState::Paused && !awaiting,
        can_decide: control && awaiting && decide.is_ok(),
        approval_reason: if awaiting {
            b.approval_reason.clone().unwrap_or_default()
        } else {
            String::new()
        },
        decide_refusal: if awaiting {
            decide.err().unwrap_or_default()
        } else {
            String::new()
        },
        can_cancel: control && !b.state.is_final(),
        can_undo: undo && b.state.is_final() && b.counts.verified > 0 && b.counts.running == 0,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn readiness_refresh(
    State(state): State<AppState>,
    signed: SignedIn,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let Ok(Form(form)) = body else {
        return Err(csrf_refused());
    };
    check_csrf(&signed, &form.csrf)?;
    policy::authorize(&signed.principal, &Permission::RefreshReadiness)
        .map_err(|r| PortalError(crate::error::forbidden(&r)))?;
    state.readiness.refresh().await;
    Ok(axum::response::Redirect::to("/ui/readiness").into_response())
}

fn parse_bulk_id(id: &str) -> Result<uuid::Uuid, PortalError> {
    uuid::Uuid::parse_str(id).map_err(|_| {
        PortalError(ApiError::bad_request(
            "malformed_bulk_id",
            format!("{id:?} is not a bulk operation id"),
        ))
    })
}

#[derive(Deserialize, Default)]
struct BulkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    comment: String,
}

async fn bulk_control(
    state: AppState,
    signed: SignedIn,
    id: String,
    what: &str,
    body: Result<Form<BulkForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let body = form(body)?;
    check_csrf(&signed, &body.csrf)?;
    let id = parse_bulk_id(&id)?;
    crate::bulk::load(&state, id).await?;
    use crate::bulk::Control;
    let target = match what {
        "pause" => {
            crate::bulk::control(&state, &signed.principal, id, Control::Pause, "portal").await?;
            id
        }
        "resume" => {
            crate::bulk::control(&state, &signed.principal, id, Control::Resume, "portal").await?;
            id
        }
        "cancel" => {
            crate::bulk::control(&state, &signed.principal, id, Control::Cancel, "portal").await?;
            id
        }
        "approve" | "reject" => {
            let comment = body.comment.trim();
            let decision = if what == "approve" {
                Control::Approve(comment)
            } else {
                Control::Reject(comment)
            };
            crate::bulk::control(&state, &signed.principal, id, decision, "portal").await?;
            id
        }
        _ => {
            // On its own task, like the API's: a browser that gives up cannot stop it half-way.
            let runner = state.runner.clone();
            let principal = signed.principal.clone();
            let reason = body.reason.trim().to_string();
            let (undo, _) = crate::bulk::on_own_task(async move {
                runner
                    .undo_bulk(&principal, id, &reason, "portal", None)
                    .await
            })
            .await?;
            undo.id
        }
    };
    Ok(Redirect::to(&format!("/ui/bulk/{target}")).into_response())
}

async fn bulk_post(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((id, what)): Path<(String, String)>,
    body: Result<Form<BulkForm>, FormRejection>,
) -> Result<Response, PortalError> {
    if !matches!(
        what.as_str(),
        "pause" | "resume" | "cancel" | "undo" | "approve" | "reject"
    ) {
        return Err(PortalError(ApiError::not_found(
            "no_such_route",
            "no such bulk operation control",
        )));
    }
    bulk_control(state, signed, id, &what, body).await
}
