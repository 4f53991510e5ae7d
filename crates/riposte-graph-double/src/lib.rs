//! A TEST DOUBLE of Microsoft Graph v1.0, owned by this project and labelled
//! as such on every response (`x-riposte-test-double: true`). There is no
//! Entra tenant on the machines riposte is built and tested on; this server
//! implements the documented request and response shapes of the endpoints
//! riposte uses, with state, so the Entra connector can be tested end to end:
//!
//! - `POST /{tenant}/oauth2/v2.0/token` (client credentials; tokens expire)
//! - `GET /v1.0/users` (`$filter` eq on userPrincipalName, mail,
//!   onPremisesSecurityIdentifier; `$select`; paging with `@odata.nextLink`)
//! - `GET|PATCH /v1.0/users/{id or UPN}`, `POST /v1.0/users/{id}/revokeSignInSessions`,
//!   `POST .../riskyUsers/confirmCompromised`, `GET .../riskyUsers/{id}` (identityProtection)
//! - `POST /v1.0/$batch` (at most 20 requests; each may be throttled on its own)
//!
//! Synced (hybrid) users refuse writes to accountEnabled and passwordProfile
//! with Graph's message; guests refuse password changes. `/_double/*` seeds
//! users and injects faults: counted ones (`/_double/faults`: 429 with
//! Retry-After, 503, slow answers) and a seeded random storm
//! (`/_double/storm`, see [`Storm`]); `/_double/stats` counts what the double
//! received, what it injected, and the writes it applied per user.
#![forbid(unsafe_code)]
mod batch;
mod storm;
mod user;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub use storm::{Stats, Storm, StormFault};
pub use user::User;

pub const LABEL_HEADER: &str = "x-riposte-test-double";
pub const SYNCED_REFUSAL: &str = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.";

/// Faults to inject, counted down per request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Answer this many Graph requests (or $batch sub-requests) with 429.
    pub throttle: u32,
    /// Retry-After seconds sent with a 429 (0: no header).
    pub retry_after: u32,
    /// Answer this many Graph requests with 503.
    pub unavailable: u32,
    /// Delay every Graph answer by this much.
    pub delay_ms: u64,
    /// Answer this many Graph requests with 200 and a body that is not JSON.
    pub malformed: u32,
    /// Answer this many `$batch` sub-requests (not whole requests) with 429.
    pub throttle_sub_requests: u32,
    /// Apply this many writes, then hold their answer back `lost_answer_ms`:
    /// past a client's timeout, a write done whose answer never arrives (in
    /// a `$batch`, the whole `$batch`'s answer is held back).
    pub lose_write_answers: u32,
    /// The same for this many reads of one user (`GET /v1.0/users/{id}`).
    pub lose_read_answers: u32,
    pub lost_answer_ms: u64,
    /// Apply this many writes sent in a `$batch`, then leave their answers
    /// out of the `$batch`'s answer (the others in it are answered).
    pub drop_batched_write_answers: u32,
    /// An absolute `@odata.nextLink` with this prefix (e.g. `https://graph.microsoft.com.evil.net`).
    pub next_link_prefix: Option<String>,
}

/// An answer to hold back this many milliseconds (a response extension the
/// `slow` layer reads).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HoldAnswer(pub(crate) u64);

#[derive(Debug)]
pub struct Double {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub users: Vec<User>,
    pub faults: Faults,
    /// Lifetime of issued tokens (short in tests of renewal).
    pub token_lifetime: Duration,
    tokens: HashMap<String, OffsetDateTime>,
    pub page_size: usize,
    /// Requests seen, by "METHOD path" (for tests).
    pub seen: Vec<String>,
    pub tokens_issued: u32,
    /// Application permissions granted to the app (the token's `roles` claim).
    pub app_roles: Vec<String>,
    storm: Option<storm::Running>,
    /// What was received, injected and applied (see [`Stats`]).
    pub stats: Stats,
}

/// What riposte's app registration is granted unless a test says otherwise.
pub const DEFAULT_APP_ROLES: [&str; 5] = [
    "User.Read.All",
    "User.EnableDisableAccount.All",
    "User.RevokeSessions.All",
    "User-PasswordProfile.ReadWrite.All",
    "IdentityRiskyUser.ReadWrite.All",
];

pub type Shared = Arc<Mutex<Double>>;

impl Double {
    pub fn new(tenant: &str, client_id: &str, client_secret: &str, users: Vec<User>) -> Shared {
        Arc::new(Mutex::new(Double {
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            users,
            faults: Faults::default(),
            token_lifetime: Duration::from_secs(3600),
            tokens: HashMap::new(),
            page_size: 2,
            seen: Vec::new(),
            tokens_issued: 0,
            app_roles: DEFAULT_APP_ROLES.iter().map(|r| r.to_string()).collect(),
            storm: None,
            stats: Stats::default(),
        }))
    }

    /// Starts a storm (its random sequence from its seed), or ends it with `None`.
    pub fn set_storm(&mut self, storm: Option<Storm>) {
        self.storm = storm.map(storm::Running::new);
    }

    pub fn storm(&self) -> Option<&Storm> {
        self.storm.as_ref().map(|r| &r.storm)
    }

    /// Counts a write that reached user `i`: applied when Graph's answer is a
    /// success, refused when it is a 4xx.
    fn count_write(&mut self, i: usize, answer: &mut Response) {
        let id = self.users[i].id.clone();
        if answer.status().is_success() && self.faults.lose_write_answers > 0 {
            self.faults.lose_write_answers -= 1;
            answer
                .extensions_mut()
                .insert(HoldAnswer(self.faults.lost_answer_ms));
        }
        let counter = if answer.status().is_success() {
            &mut self.stats.writes_applied
        } else {
            &mut self.stats.writes_refused
        };
        *counter.entry(id).or_default() += 1;
    }

    /// Every issued token stops working at once (tests of renewal on 401).
    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
    }

    fn find(&self, key: &str) -> Option<usize> {
        let key = key.to_ascii_lowercase();
        self.users
            .iter()
            .position(|u| u.id == key || u.user_principal_name.to_ascii_lowercase() == key)
    }
}

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "error": { "code": code, "message": message, "innerError": { "date": now_text() } } }))).into_response()
}

/// The Graph routes and the double's control routes.
pub fn app(state: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/users", get(list_users))
        .route("/v1.0/users/{key}", get(get_user).patch(patch_user))
        .route("/v1.0/users/{key}/revokeSignInSessions", post(revoke))
        .route(
            "/v1.0/identityProtection/riskyUsers/confirmCompromised",
            post(confirm),
        )
        .route("/v1.0/identityProtection/riskyUsers/{id}", get(risky_user))
        .route("/v1.0/$batch", post(batch::batch))
        .route("/_double/users", get(dump_users).post(seed_users))
        .route("/_double/faults", post(set_faults))
        .route("/_double/storm", get(get_storm).post(set_storm))
        .route("/_double/stats", get(get_stats).delete(reset_stats))
        .route("/_double/token-lifetime", post(set_token_lifetime))
        .route("/_double/app-roles", post(set_app_roles))
        .layer(axum::middleware::from_fn_with_state(state.clone(), slow))
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut()
                    .insert(LABEL_HEADER, HeaderValue::from_static("true"));
                r
            },
        ))
        .with_state(state)
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

async fn token(State(s): State<Shared>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: TokenForm = match serde_urlencoded_lite(&body) {
        Some(f) => f,
        None => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "AADSTS900144: The request body must be form-encoded.",
            );
        }
    };
    let mut d = s.lock().expect("double");
    if tenant != d.tenant {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            "AADSTS90002: Tenant not found.",
        );
    }
    if form.grant_type.as_deref() != Some("client_credentials") {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if form.scope.as_deref() != Some("https://graph.microsoft.com/.default") {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    }
    if form.client_id.as_deref() != Some(&d.client_id)
        || form.client_secret.as_deref() != Some(&d.client_secret)
    {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    // Shaped like Entra's: a JWT whose payload carries the app's roles. Not
    // signed (the signature part says so): riposte only reads its claims.
    let claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{}/", d.tenant),
        "tid": d.tenant,
        "appid": d.client_id,
        "roles": d.app_roles,
        "wids": ["88d8e3e3-8f55-4a1e-953a-9b9898b8876b"],
        "jti": uuid::Uuid::new_v4().simple().to_string(),
    });
    let access = format!(
        "{}.{}.graph-double-unsigned",
        base64url(br#"{"typ":"JWT","alg":"none"}"#),
        base64url(claims.to_string().as_bytes())
    );
    let lifetime = d.token_lifetime;
    d.tokens
        .insert(access.clone(), OffsetDateTime::now_utc() + lifetime);
    d.tokens_issued += 1;
    d.stats.tokens += 1;
    axum::Json(json!({ "token_type": "Bearer", "expires_in": lifetime.as_secs(), "ext_expires_in": lifetime.as_secs(), "access_token": access }))
        .into_response()
}

fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({ "error": error, "error_description": description, "error_codes": [], "timestamp": now_text() }))).into_response()
}

/// application/x-www-form-urlencoded, for the token form only.
fn serde_urlencoded_lite(body: &[u8]) -> Option<TokenForm> {
    let text = std::str::from_utf8(body).ok()?;
    let mut map: HashMap<String, String> = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        map.insert(decode(k)?, decode(v)?);
    }
    Some(TokenForm {
        grant_type: map.remove("grant_type"),
        client_id: map.remove("client_id"),
        client_secret: map.remove("client_secret"),
        scope: map.remove("scope"),
    })
}

pub(crate) fn decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Authentication, faults and logging shared by every Graph route.
pub(crate) async fn gate(s: &Shared, headers: &HeaderMap, what: String) -> Result<(), Response> {
    let delay = {
        let mut d = s.lock().expect("double");
        let envelope = what == "POST /v1.0/$batch";
        d.seen.push(what);
        let token = headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        match d.tokens.get(token) {
            Some(expiry) if *expiry > OffsetDateTime::now_utc() => {}
            Some(_) => {
                return Err(graph_error(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthenticationToken",
                    "Lifetime validation failed, the token is expired.",
                ));
            }
            None => {
                return Err(graph_error(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthenticationToken",
                    "Access token is empty or invalid.",
                ));
            }
        }
        d.stats.requests += 1;
        if let Some(r) = take_fault(&mut d) {
            return Err(r);
        }
        if let Some(f) = storm_fault(&mut d, envelope) {
            return Err(fault_response(&mut d, f));
        }
        d.faults.delay_ms
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    Ok(())
}

pub(crate) fn take_fault(d: &mut Double) -> Option<Response> {
    if d.faults.throttle > 0 {
        d.faults.throttle -= 1;
        let after = (d.faults.retry_after > 0).then_some(d.faults.retry_after);
        return Some(fault_response(d, StormFault::Throttle(after)));
    }
    if d.faults.malformed > 0 {
        d.faults.malformed -= 1;
        return Some((StatusCode::OK, "<html>this is not JSON</html>").into_response());
    }
    if d.faults.unavailable > 0 {
        d.faults.unavailable -= 1;
        return Some(fault_response(d, StormFault::Unavailable { html: false }));
    }
    None
}

/// The storm's draw for one call (a `$batch` envelope only at its own rate).
pub(crate) fn storm_fault(d: &mut Double, envelope: bool) -> Option<StormFault> {
    let running = d.storm.as_mut()?;
    if envelope && !running.envelope() {
        return None;
    }
    running.fault()
}

/// A 429 or 503 as Graph (or, for an HTML 503, the gateway before it) sends it; counted.
pub(crate) fn fault_response(d: &mut Double, fault: StormFault) -> Response {
    match fault {
        StormFault::Throttle(after) => {
            d.stats.throttled += 1;
            let mut r = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests.",
            );
            match after {
                Some(secs) => {
                    r.headers_mut()
                        .insert("retry-after", HeaderValue::from(secs));
                }
                None => d.stats.throttled_without_retry_after += 1,
            }
            r
        }
        StormFault::Unavailable { html } => {
            d.stats.unavailable += 1;
            if html {
                d.stats.unavailable_html += 1;
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("content-type", "text/html")],
                    "<html><body><h1>503 Service Unavailable</h1></body></html>",
                )
                    .into_response();
            }
            graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            )
        }
    }
}

/// The storm's slow answers: the work is done, then the answer waits.
async fn slow(
    State(s): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let graph = !request.uri().path().starts_with("/_double/");
    let response = next.run(request).await;
    let held = response.extensions().get::<HoldAnswer>().map(|h| h.0);
    let delay = if graph {
        let mut d = s.lock().expect("double");
        let (delay, stall) = match held {
            Some(ms) => (ms, true),
            None => d.storm.as_mut().map(|r| r.delay_ms()).unwrap_or((0, false)),
        };
        if stall {
            d.stats.stalled += 1;
        } else if delay > 0 {
            d.stats.slowed += 1;
            d.stats.delay_ms_total += delay;
        }
        delay
    } else {
        0
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    response
}

fn select(user: &User, select: Option<&str>) -> Value {
    let full = serde_json::to_value(user).expect("user serializes");
    let mut shown = json!({});
    let wanted: Vec<&str> = match select {
        Some(s) => s.split(',').map(str::trim).collect(),
        // Graph's default set leaves out the on-premises and session properties.
        None => vec![
            "id",
            "userPrincipalName",
            "mail",
            "displayName",
            "accountEnabled",
            "userType",
        ],
    };
    for key in wanted {
        if key == "passwordProfile" {
            shown[key] = json!({ "forceChangePasswordNextSignIn": user.force_change_password_next_sign_in,
                "forceChangePasswordNextSignInWithMfa": user.force_change_password_next_sign_in_with_mfa, "password": null });
        } else if let Some(v) = full.get(key) {
            shown[key] = v.clone();
        }
    }
    shown
}

async fn list_users(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&s, &headers, "GET /v1.0/users".into()).await {
        return r;
    }
    list_page(&s.lock().expect("double"), &q)
}

/// A page of users (`$filter` eq, `$select`, `$skiptoken`), plainly or in a `$batch`.
pub(crate) fn list_page(d: &Double, q: &HashMap<String, String>) -> Response {
    let matches: Vec<&User> = match q.get("$filter") {
        None => d.users.iter().collect(),
        Some(f) => {
            let Some((field, value)) = f.split_once(" eq ") else {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "Unsupported Query.",
                );
            };
            let value = value
                .trim()
                .trim_matches('\'')
                .replace("''", "'")
                .to_ascii_lowercase();
            let pick = |u: &User| -> Option<String> {
                match field.trim() {
                    "userPrincipalName" => Some(u.user_principal_name.clone()),
                    "mail" => u.mail.clone(),
                    "onPremisesSecurityIdentifier" => u.on_premises_security_identifier.clone(),
                    "id" => Some(u.id.clone()),
                    _ => None,
                }
            };
            if ![
                "userPrincipalName",
                "mail",
                "onPremisesSecurityIdentifier",
                "id",
            ]
            .contains(&field.trim())
            {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "Unsupported or invalid query filter clause specified.",
                );
            }
            d.users
                .iter()
                .filter(|u| pick(u).is_some_and(|v| v.to_ascii_lowercase() == value))
                .collect()
        }
    };
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = matches
        .iter()
        .skip(skip)
        .take(d.page_size)
        .map(|u| select(u, q.get("$select").map(String::as_str)))
        .collect();
    let mut body = json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": page });
    if skip + d.page_size < matches.len() {
        let mut next = format!("/v1.0/users?$skiptoken={}", skip + d.page_size);
        for key in ["$filter", "$select"] {
            if let Some(v) = q.get(key) {
                next.push_str(&format!("&{key}={}", encode(v)));
            }
        }
        if let Some(prefix) = &d.faults.next_link_prefix {
            next = format!("{prefix}{next}");
        }
        body["@odata.nextLink"] = json!(next);
    }
    axum::Json(body).into_response()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn get_user(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&s, &headers, format!("GET /v1.0/users/{key}")).await {
        return r;
    }
    let mut d = s.lock().expect("double");
    let mut answer = user_answer(&d, &key, q.get("$select").map(String::as_str));
    if d.faults.lose_read_answers > 0 {
        d.faults.lose_read_answers -= 1;
        answer
            .extensions_mut()
            .insert(HoldAnswer(d.faults.lost_answer_ms));
    }
    answer
}

/// One user (`$select`), plainly or in a `$batch`.
pub(crate) fn user_answer(d: &Double, key: &str, wanted: Option<&str>) -> Response {
    match d.find(key) {
        Some(i) => axum::Json(select(&d.users[i], wanted)).into_response(),
        None => not_found(key),
    }
}

fn not_found(key: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(crate) fn apply_patch(d: &mut Double, key: &str, body: &Value) -> Response {
    let Some(i) = d.find(key) else {
        return not_found(key);
    };
    let mut answer = patch_fields(d, i, body);
    d.count_write(i, &mut answer);
    answer
}

fn patch_fields(d: &mut Double, i: usize, body: &Value) -> Response {
    let Some(fields) = body.as_object() else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload.",
        );
    };
    let user = &mut d.users[i];
    let synced = user.on_premises_sync_enabled == Some(true);
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("accountEnabled", Value::Bool(enabled)) => {
                if synced {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "Request_BadRequest",
                        SYNCED_REFUSAL,
                    );
                }
                user.account_enabled = *enabled;
            }
            ("passwordProfile", Value::Object(p)) => {
                if synced {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "Request_BadRequest",
                        SYNCED_REFUSAL,
                    );
                }
                if user.user_type == "Guest" {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "Request_BadRequest",
                        "The password of a guest user is managed by their home organisation and cannot be changed here.",
                    );
                }
                user.force_change_password_next_sign_in = p
                    .get("forceChangePasswordNextSignIn")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                user.force_change_password_next_sign_in_with_mfa = p
                    .get("forceChangePasswordNextSignInWithMfa")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            }
            _ => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    &format!("Property '{k}' is not supported by this test double."),
                );
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn patch_user(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&s, &headers, format!("PATCH /v1.0/users/{key}")).await {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload.",
        );
    };
    apply_patch(&mut s.lock().expect("double"), &key, &body)
}

pub(crate) fn apply_revoke(d: &mut Double, key: &str) -> Response {
    let Some(i) = d.find(key) else {
        return not_found(key);
    };
    d.users[i].sign_in_sessions_valid_from_date_time = now_text();
    let mut answer = axum::Json(json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": true })).into_response();
    d.count_write(i, &mut answer);
    answer
}

async fn revoke(State(s): State<Shared>, headers: HeaderMap, Path(key): Path<String>) -> Response {
    if let Err(r) = gate(
        &s,
        &headers,
        format!("POST /v1.0/users/{key}/revokeSignInSessions"),
    )
    .await
    {
        return r;
    }
    apply_revoke(&mut s.lock().expect("double"), &key)
}

pub(crate) fn apply_confirm(d: &mut Double, body: &Value) -> Response {
    let Some(ids) = body.get("userIds").and_then(Value::as_array) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "userIds is required.",
        );
    };
    let mut found = Vec::new();
    for id in ids {
        let Some(i) = id.as_str().and_then(|id| d.find(id)) else {
            return not_found(&id.to_string());
        };
        found.push(i);
    }
    let mut answer = StatusCode::NO_CONTENT.into_response();
    for i in found {
        d.users[i].risk_state = "confirmedCompromised".into();
        d.count_write(i, &mut answer);
    }
    answer
}

async fn confirm(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = gate(
        &s,
        &headers,
        "POST /v1.0/identityProtection/riskyUsers/confirmCompromised".into(),
    )
    .await
    {
        return r;
    }
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    apply_confirm(&mut s.lock().expect("double"), &body)
}

async fn risky_user(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = gate(
        &s,
        &headers,
        format!("GET /v1.0/identityProtection/riskyUsers/{id}"),
    )
    .await
    {
        return r;
    }
    risky_answer(&s.lock().expect("double"), &id)
}

/// One user's risk, plainly or in a `$batch`.
pub(crate) fn risky_answer(d: &Double, id: &str) -> Response {
    match d.find(id) {
        Some(i) => {
            let u = &d.users[i];
            let level = if u.risk_state == "none" {
                "none"
            } else {
                "high"
            };
            axum::Json(json!({ "id": u.id, "userPrincipalName": u.user_principal_name, "riskState": u.risk_state, "riskLevel": level })).into_response()
        }
        None => not_found(id),
    }
}

async fn dump_users(State(s): State<Shared>) -> Response {
    axum::Json(json!({ "users": s.lock().expect("double").users })).into_response()
}

async fn seed_users(State(s): State<Shared>, axum::Json(users): axum::Json<Vec<User>>) -> Response {
    s.lock().expect("double").users = users;
    StatusCode::NO_CONTENT.into_response()
}

async fn set_faults(State(s): State<Shared>, axum::Json(faults): axum::Json<Faults>) -> Response {
    s.lock().expect("double").faults = faults;
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_double/storm` with a [`Storm`] (fields left out take the
/// defaults) starts one; `null` ends it.
async fn set_storm(
    State(s): State<Shared>,
    axum::Json(storm): axum::Json<Option<Storm>>,
) -> Response {
    s.lock().expect("double").set_storm(storm);
    StatusCode::NO_CONTENT.into_response()
}

async fn get_storm(State(s): State<Shared>) -> Response {
    axum::Json(json!({ "storm": s.lock().expect("double").storm() })).into_response()
}

async fn get_stats(State(s): State<Shared>) -> Response {
    axum::Json(s.lock().expect("double").stats.clone()).into_response()
}

async fn reset_stats(State(s): State<Shared>) -> Response {
    s.lock().expect("double").stats = Stats::default();
    StatusCode::NO_CONTENT.into_response()
}

async fn set_token_lifetime(
    State(s): State<Shared>,
    axum::Json(secs): axum::Json<u64>,
) -> Response {
    s.lock().expect("double").token_lifetime = Duration::from_secs(secs);
    StatusCode::NO_CONTENT.into_response()
}

/// Sets the application permissions later tokens carry.
async fn set_app_roles(
    State(s): State<Shared>,
    axum::Json(roles): axum::Json<Vec<String>>,
) -> Response {
    s.lock().expect("double").app_roles = roles;
    StatusCode::NO_CONTENT.into_response()
}

/// Unpadded base64url (RFC 4648 section 5), as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Serves the double on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: Shared) -> std::io::Result<()> {
    axum::serve(listener, app(state)).await
}
