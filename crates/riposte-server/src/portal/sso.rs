//! Single sign-on with an OpenID Provider (`[oidc]`): `GET /ui/sign-in/oidc`
//! starts the authorization code flow, `GET /ui/sign-in/oidc/callback`
//! finishes it. The protocol (discovery, PKCE, the code exchange, the ID
//! token's checks, groups to a role) is `riposte_oidc`'s; this module keeps
//! the sign-in under way (the store's `PendingSignInStore`, kind Oidc, taken
//! once), binds it to the browser that started it, and turns every refusal
//! into a page and an audit record that change nothing else.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use riposte_core::secret_token;
use riposte_oidc::{OidcClient, OidcError, SignedInIdentity, oauth_error_code};
use riposte_store::{PendingKind, SignInMethod, SsoPerson, Taken};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::render;
use super::sign_in::safe_next;
use crate::AppState;
use crate::auth;
use crate::session::{Proof, SignInRecord, audit_sign_in, start_session};

/// The browser's half of a sign-in under way: the `state` it was sent off
/// with. SameSite=Lax, because the provider sends the browser back with a
/// cross-site navigation, which a Strict cookie would not come with.
const BINDING_COOKIE: &str = "riposte_oidc";
const BINDING_PATH: &str = "/ui/sign-in/oidc";
const CALLBACK_PATH: &str = "/ui/sign-in/oidc/callback";
/// How long a sign-in at the provider may take.
const PENDING_MINUTES: i64 = 10;
/// Longer `state` or `code` values are not ours: refused without a look-up.
const MAX_PARAM: usize = 2048;

/// Single sign-on, as `riposte serve` was configured.
pub struct Sso {
    pub client: OidcClient,
    /// riposte serves HTTPS itself: the callback URL is https.
    pub https: bool,
}

impl Sso {
    pub fn display_name(&self) -> &str {
        &self.client.settings().display_name
    }

    /// The callback URL: `[oidc] redirect_url`, else this request's Host
    /// (http only on a loopback address without TLS: behind a proxy, https).
    /// The provider only accepts the URLs registered for riposte, so a
    /// forged Host gets the sign-in refused there.
    fn redirect_uri(&self, headers: &HeaderMap) -> Option<String> {
        if let Some(url) = &self.client.settings().redirect_url {
            return Some(url.clone());
        }
        let host = headers.get(header::HOST)?.to_str().ok()?;
        let plain_host = !host.is_empty()
            && host.len() <= 255
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if !plain_host {
            return None;
        }
        let name = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name);
        let loopback = name == "localhost"
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let scheme = if !self.https && loopback {
            "http"
        } else {
            "https"
        };
        Some(format!("{scheme}://{host}{CALLBACK_PATH}"))
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(BINDING_PATH, get(begin))
        .route(CALLBACK_PATH, get(callback))
}

#[derive(Template)]
#[template(path = "sso_refused.html")]
struct RefusedPage {
    status: u16,
    title: &'static str,
    message: String,
    hint: String,
    why: &'static str,
}

#[derive(Template)]
#[template(path = "sso_continue.html")]
struct ContinuePage {
    name: String,
    role: String,
    provider: String,
    mfa: bool,
    next: String,
}

/// What a sign-in under way keeps until its callback (in the store, found by
/// the SHA-256 of its `state`).
#[derive(serde::Serialize, Deserialize)]
struct Pending {
    nonce: String,
    pkce_verifier: String,
    redirect_uri: String,
    next: String,
}

/// A refusal: the page, and the reason for the audit trail.
struct Refusal {
    status: StatusCode,
    why: &'static str,
    /// Who, when the provider already said (a person whose groups give no access).
    name: Option<String>,
    title: &'static str,
    message: String,
    hint: String,
}

impl Refusal {
    fn new(status: StatusCode, why: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            why,
            name: None,
            title: "Sign-in refused",
            message: message.into(),
            hint: "Start again from the sign-in page. If it happens again, tell your riposte administrator: the audit trail says why.".into(),
        }
    }

    fn from_oidc(e: &OidcError) -> Refusal {
        let status = match e {
            OidcError::IdToken(_)
            | OidcError::TokenExchange { .. }
            | OidcError::NoIdToken { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_GATEWAY,
        };
        Refusal::new(status, e.why(), sentence(&e.to_string()))
    }
}

/// An error's text as a sentence on a page.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    let mut out = format!("{}{}", first.unwrap_or_default(), chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The refusal page, with its audit record (event "sign-in", result
/// "refused", method "oidc", why). The browser's binding cookie is cleared.
async fn refuse(state: &AppState, remote: SocketAddr, refusal: Refusal) -> Response {
    let name = refusal.name.as_deref().unwrap_or("unknown");
    tracing::info!(why = refusal.why, "single sign-on refused");
    state.sign_in.single_sign_on_refused(remote.ip());
    audit_sign_in(
        state,
        SignInRecord {
            event: "sign-in",
            name,
            remote,
            result: "refused",
            method: SignInMethod::Oidc.as_str(),
            why: refusal.why,
        },
    )
    .await;
    let page = RefusedPage {
        status: refusal.status.as_u16(),
        title: refusal.title,
        message: refusal.message,
        hint: refusal.hint,
        why: refusal.why,
    };
    let mut response = render(refusal.status, &page);
    clear_binding(&mut response);
    response
}

/// Too many refused answers from this address in the sign-in window: a page
/// with Retry-After, and no audit record of its own (the window's summary
/// counts these).
fn throttled(retry_after: u64) -> Response {
    let page = RefusedPage {
        status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
        title: "Sign-in refused",
        message: "Too many refused sign-ins came from your address.".into(),
        hint: format!("Wait {retry_after} seconds, then start again from the sign-in page."),
        why: "throttled",
    };
    let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    clear_binding(&mut response);
    response
}

fn binding_cookie(value: &str, max_age: i64) -> String {
    format!(
        "{BINDING_COOKIE}={value}; Path={BINDING_PATH}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    )
}

fn clear_binding(response: &mut Response) {
    if let Ok(v) = HeaderValue::from_str(&binding_cookie("", 0)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Without `[oidc]` there is no sign-in to refuse: a page, and no audit record.
fn not_configured() -> Response {
    render(
        StatusCode::NOT_FOUND,
        &RefusedPage {
            status: 404,
            title: "Not found",
            message: "Single sign-on is not configured on this riposte.".into(),
            hint: "Sign in with your riposte name and password, or ask your administrator to set up [oidc].".into(),
            why: "not-configured",
        },
    )
}

#[derive(Deserialize, Default)]
struct BeginQuery {
    #[serde(default)]
    next: String,
}

/// GET /ui/sign-in/oidc: a new sign-in at the provider (state, nonce and
/// PKCE verifier kept in the store for 10 minutes), bound to this browser.
async fn begin(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<BeginQuery>, QueryRejection>,
) -> Response {
    let Some(sso) = state.sso.clone() else {
        return not_configured();
    };
    let next = safe_next(&query.ok().map(|Query(q)| q.next).unwrap_or_default());
    let Some(redirect_uri) = sso.redirect_uri(&headers) else {
        return refuse(
            &state,
            remote,
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "no-redirect-url",
                "This request names no usable host, so riposte cannot tell the provider where to send you back.",
            ),
        )
        .await;
    };
    let request = match sso.client.begin(&redirect_uri).await {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "single sign-on cannot start");
            return refuse(&state, remote, Refusal::from_oidc(&e)).await;
        }
    };
    let pending = Pending {
        nonce: request.nonce.clone(),
        pkce_verifier: request.pkce_verifier.clone(),
        redirect_uri,
        next,
    };
    let stored = state
        .pending
        .begin_pending(
            PendingKind::Oidc,
            &secret_token::hash(&request.state),
            None,
            &json!(pending),
            OffsetDateTime::now_utc() + time::Duration::minutes(PENDING_MINUTES),
        )
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "a sign-in under way could not be stored");
        return refuse(
            &state,
            remote,
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "riposte cannot keep track of the sign-in right now.",
            ),
        )
        .await;
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, request.url.as_str())],
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&binding_cookie(&request.state, PENDING_MINUTES * 60)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// GET /ui/sign-in/oidc/callback: the provider's answer. The sign-in under
/// way is taken (once) before anything else, so a replayed URL is refused.
async fn callback(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let Some(sso) = state.sso.clone() else {
        return not_configured();
    };
    if let Err(crate::sign_in_guard::Refusal::Throttled { retry_after }) =
        state.sign_in.single_sign_on_allowed(remote.ip())
    {
        return throttled(retry_after);
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    match finish(&state, &sso, remote, &headers, query).await {
        Ok(response) => response,
        Err(refusal) => refuse(&state, remote, refusal).await,
    }
}

async fn finish(
    state: &AppState,
    sso: &Sso,
    remote: SocketAddr,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> Result<Response, Refusal> {
    let bounded = |v: Option<String>| v.filter(|v| !v.is_empty() && v.len() <= MAX_PARAM);
    let (code, sent_state) = (bounded(query.code), bounded(query.state));
    let Some(sent_state) = sent_state else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "missing-state",
            "The provider's answer does not say which sign-in it belongs to (no state).",
        ));
    };
    let taken = state
        .pending
        .take_pending(
            PendingKind::Oidc,
            &secret_token::hash(&sent_state),
            OffsetDateTime::now_utc(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a sign-in under way could not be read");
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "riposte cannot read the sign-in under way right now.",
            )
        })?;
    let pending = match taken {
        Taken::Fresh(p) => p,
        Taken::AlreadyUsed => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "replayed-state",
                "This sign-in answer was already used: each one works once.",
            ));
        }
        Taken::Expired => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "expired-state",
                format!("The sign-in took longer than {PENDING_MINUTES} minutes."),
            ));
        }
        Taken::Unknown => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "unknown-state",
                "riposte did not start this sign-in.",
            ));
        }
    };
    // The browser that comes back must be the one that left: another
    // browser's callback URL (a login CSRF, a stolen link) is refused.
    let binding = auth::cookie(headers, BINDING_COOKIE).unwrap_or_default();
    if !auth::same_secret(&binding, &sent_state) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "browser-mismatch",
            "This sign-in was started in another browser (or its cookie was lost).",
        ));
    }
    if let Some(error) = query.error {
        let code = oauth_error_code(&error).unwrap_or_else(|| "an error".into());
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "provider-error",
            format!("The provider ended the sign-in with {code}."),
        ));
    }
    let Some(code) = code else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "missing-code",
            "The provider's answer carries no authorization code.",
        ));
    };
    let kept: Pending = serde_json::from_value(pending.data).map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "unknown-state",
            "riposte cannot read what it kept of this sign-in.",
        )
    })?;
    let who = sso
        .client
        .finish(&code, &kept.redirect_uri, &kept.pkce_verifier, &kept.nonce)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "an ID token or code exchange was refused");
            Refusal::from_oidc(&e)
        })?;
    sign_in_person(state, sso, remote, &who, &kept.next).await
}

/// The person the provider vouched for: their role from their groups, their
/// riposte person (found by issuer and subject, or created), their session.
async fn sign_in_person(
    state: &AppState,
    sso: &Sso,
    remote: SocketAddr,
    who: &SignedInIdentity,
    next: &str,
) -> Result<Response, Refusal> {
    let name_hint = who.name_hint();
    let Some(rule) = sso.client.settings().role_for(&who.groups) else {
        return Err(Refusal {
            name: Some(name_hint.clone()),
            title: "No access",
            hint: "Ask your administrator to add you to a group that gives access to riposte."
                .into(),
            ..Refusal::new(
                StatusCode::FORBIDDEN,
                "no-role",
                format!(
                    "{} signed you in as {name_hint}, but none of your groups gives access to riposte.",
                    sso.display_name()
                ),
            )
        });
    };
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "a single sign-on person could not be stored");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "riposte cannot record who signed in right now.",
        )
    };
    let person = state
        .people
        .upsert_sso_person(SsoPerson {
            issuer: &who.issuer,
            subject: &who.subject,
            name_hint: &name_hint,
            role: rule.role,
            scope: &rule.scope,
            created_by: "oidc",
        })
        .await
        .map_err(|e| unavailable(&e))?;
    if person.disabled {
        return Err(Refusal {
            name: Some(person.name.clone()),
            ..Refusal::new(
                StatusCode::FORBIDDEN,
                "disabled",
                "Your riposte person is disabled: ask a riposte admin.",
            )
        });
    }
    let mfa = who.mfa();
    let started = start_session(
        state,
        &person,
        Proof {
            method: SignInMethod::Oidc,
            mfa,
        },
        remote,
    )
    .await
    .map_err(|e| unavailable(&e.message))?;
    // A page, not a redirect: the session cookie is SameSite=Strict, and this
    // answer ends a navigation that started at the provider. The page's own
    // navigation to `next` is same-site, so the cookie goes with it.
    let page = ContinuePage {
        name: person.name.clone(),
        role: person.role.to_string(),
        provider: sso.display_name().to_string(),
        mfa,
        next: next.to_string(),
    };
    let mut response = render(StatusCode::OK, &page);
    if let Ok(v) = HeaderValue::from_str(&started.set_cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    clear_binding(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sso(redirect_url: Option<&str>, https: bool) -> Sso {
        let settings = riposte_oidc::OidcSettings {
            issuer: "https://idp.example.com/".into(),
            client_id: "riposte".into(),
            client_secret: "x".to_string().into(),
            extra_roots_pem: None,
            display_name: "IdP".into(),
            scopes: vec![],
            groups_claim: "groups".into(),
            max_clock_skew: std::time::Duration::from_secs(60),
            redirect_url: redirect_url.map(String::from),
            roles: vec![],
            timeout: std::time::Duration::from_secs(5),
        };
        Sso {
            client: OidcClient::new(settings).unwrap(),
            https,
        }
    }

    fn host(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_callback_url_is_https_unless_plain_on_loopback() {
        let plain = sso(None, false);
        assert_eq!(
            plain.redirect_uri(&host("127.0.0.1:8080")).unwrap(),
            "http://127.0.0.1:8080/ui/sign-in/oidc/callback"
        );
        assert_eq!(
            plain.redirect_uri(&host("[::1]:8080")).unwrap(),
            "http://[::1]:8080/ui/sign-in/oidc/callback"
        );
        // Behind a TLS proxy: the Host is the public name.
        assert_eq!(
            plain.redirect_uri(&host("riposte.example.com")).unwrap(),
            "https://riposte.example.com/ui/sign-in/oidc/callback"
        );
        assert_eq!(
            sso(None, true)
                .redirect_uri(&host("127.0.0.1:8443"))
                .unwrap(),
            "https://127.0.0.1:8443/ui/sign-in/oidc/callback"
        );
        for odd in ["evil.example/x?", "a@b", "", "x y"] {
            if let Ok(v) = HeaderValue::from_str(odd) {
                let mut h = HeaderMap::new();
                h.insert(header::HOST, v);
                assert_eq!(plain.redirect_uri(&h), None, "{odd}");
            }
        }
        assert_eq!(plain.redirect_uri(&HeaderMap::new()), None);
        let fixed = sso(Some("https://r.example/ui/sign-in/oidc/callback"), false);
        assert_eq!(
            fixed.redirect_uri(&host("127.0.0.1:1")).unwrap(),
            "https://r.example/ui/sign-in/oidc/callback"
        );
    }

    #[test]
    fn the_binding_cookie_is_lax_http_only_secure_and_scoped() {
        let c = binding_cookie("abc", 600);
        for part in [
            "riposte_oidc=abc",
            "Path=/ui/sign-in/oidc",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Max-Age=600",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert_eq!(sentence("the token expired"), "The token expired.");
    }
}
