//! riposte's Microsoft Entra ID connector (Microsoft Graph v1.0).
//!
//! Client credentials with a cached token renewed before expiry (and once
//! more on a 401); 429 and 503 honour Retry-After with exponential back-off
//! up to a bound; bulk work goes through `$batch` (20 per call) retrying
//! only the throttled sub-requests. Every action is read back and classified
//! by `riposte-core::outcome`, like AD's.
//!
//! Tested against `riposte-graph-double`, a test double owned by this
//! project: there is no Entra tenant where riposte is built.
#![forbid(unsafe_code)]

pub mod config;
mod origin;
mod readiness;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use riposte_core::cloud::{CloudAccount, CloudAction, CloudDirectory, CloudError, CloudReport};
use riposte_core::outcome::{self, Outcome, Verdict};
use riposte_core::sid::Sid;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use origin::{origin_of, same_origin};

pub use config::{TenantConfig, TenantConfigError, TenantSettings};

/// The properties riposte reads of a user.
const SELECT: &str = "id,userPrincipalName,mail,displayName,userType,accountEnabled,onPremisesSyncEnabled,\
onPremisesSecurityIdentifier,onPremisesImmutableId,signInSessionsValidFromDateTime,passwordProfile";

pub const BATCH_LIMIT: usize = 20;
/// The most pages of a user list riposte follows (a runaway nextLink chain stops here).
pub(crate) const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntraError {
    #[error("tenant {tenant}: the token endpoint refused the client credentials: {message}")]
    Auth { tenant: String, message: String },
    #[error("tenant {tenant}: Graph could not be reached: {message}")]
    Unavailable { tenant: String, message: String },
    #[error(
        "tenant {tenant}: Graph kept throttling or failing ({status}) after {attempts} attempts; try again later"
    )]
    Exhausted {
        tenant: String,
        status: u16,
        attempts: u32,
    },
    #[error(
        "tenant {tenant}: Graph answered {status} and asked to wait {retry_after_secs} s before trying again, longer than max_backoff_secs ({max_backoff_secs} s) allows; try again later"
    )]
    WaitTooLong {
        tenant: String,
        status: u16,
        retry_after_secs: u64,
        max_backoff_secs: u64,
    },
    #[error("tenant {tenant}: Graph answered {status} {code}: {message}")]
    Graph {
        tenant: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("tenant {tenant}: Graph's answer could not be understood: {message}")]
    Malformed { tenant: String, message: String },
    /// A link (an `@odata.nextLink`) to anywhere but the configured Graph
    /// origin: not followed, so the access token never goes there.
    #[error(
        "tenant {tenant}: Graph's answer links to {origin}, not to the configured Graph origin {expected}; riposte did not follow it, so the access token was not sent there (check graph_url, or whatever between riposte and Graph rewrites its answers)"
    )]
    ForeignLink {
        tenant: String,
        /// Scheme, host and port of the link (never its path, query or user info).
        origin: String,
        expected: String,
    },
}

impl EntraError {
    /// Whether a write that ended with this error may have been applied all
    /// the same: no answer (a timeout, a dropped connection), an answer that
    /// could not be read, or a 503 (which a gateway may send after the work
    /// was done). A 429 or a 4xx says the write was not done.
    pub fn may_have_applied(&self) -> bool {
        match self {
            EntraError::Unavailable { .. } | EntraError::Malformed { .. } => true,
            EntraError::Exhausted { status, .. } | EntraError::WaitTooLong { status, .. } => {
                *status != 429
            }
            EntraError::Auth { .. } | EntraError::Graph { .. } | EntraError::ForeignLink { .. } => {
                false
            }
        }
    }

    /// Graph refused the write for a reason the requester must fix (rights,
    /// an on-premises mastered user): `denied`, not `failed`.
    pub fn is_refusal(&self) -> bool {
        matches!(self, EntraError::Graph { status, message, .. }
            if *status == 403 || (*status == 400 && message.contains("on-premises mastered")) || message.contains("guest"))
    }
}

/// One sub-request of a `$batch`.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRequest {
    pub id: String,
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    pub body: Value,
    /// How many times this sub-request was sent.
    pub attempts: u32,
}

pub struct EntraTenant {
    pub(crate) settings: TenantSettings,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

struct Answer {
    body: Value,
}

/// One HTTP exchange with Graph.
enum Attempt {
    Answer(Answer),
    /// 429 or 503: may be sent again, after `retry_after` seconds if Graph said.
    Retry {
        status: StatusCode,
        retry_after: Option<u64>,
    },
    /// 401: the token may have expired.
    Unauthorized(EntraError),
}

impl EntraTenant {
    pub fn new(settings: TenantSettings) -> Result<Self, EntraError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("riposte/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EntraError::Unavailable {
                tenant: settings.name.clone(),
                message: e.to_string(),
            })?;
        Ok(EntraTenant {
            settings,
            http,
            token: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> EntraError {
        EntraError::Unavailable {
            tenant: self.settings.name.clone(),
            message: e.to_string(),
        }
    }

    pub(crate) fn malformed(&self, message: impl Into<String>) -> EntraError {
        EntraError::Malformed {
            tenant: self.settings.name.clone(),
            message: message.into(),
        }
    }

    /// A cached access token, renewed a minute before it expires.
    pub(crate) async fn access_token(&self) -> Result<String, EntraError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expiry)) = cached.as_ref()
            && *expiry > Instant::now()
        {
            return Ok(token.clone());
        }
        let s = &self.settings;
        let url = format!("{}/{}/oauth2/v2.0/token", s.authority, s.tenant_id);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", s.client_id.as_str()),
            ("client_secret", s.client_secret.expose_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| self.malformed(format!("token endpoint: {e}")))?;
        if !status.is_success() {
            // AAD's error_description names the problem; it never holds the secret.
            let message = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no description")
                .to_string();
            return Err(EntraError::Auth {
                tenant: s.name.clone(),
                message: format!("{status}: {message}"),
            });
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| self.malformed("token response without access_token"))?;
        let lifetime = body["expires_in"].as_u64().unwrap_or(300);
        let expiry = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
        *cached = Some((token.to_string(), expiry));
        debug!(tenant = %s.name, lifetime, "obtained a Graph token");
        Ok(token.to_string())
    }

    /// An absolute URL for a Graph path, or for a link Graph sent (an
    /// `@odata.nextLink`). Whatever the text, the URL it makes must have the
    /// configured Graph origin, exactly: the bearer token goes with it.
    fn url(&self, path_or_link: &str) -> Result<String, EntraError> {
        let base = &self.settings.graph_url;
        let origin_end = base.find("/v1.0").unwrap_or(base.len());
        let scheme = path_or_link
            .get(..8)
            .unwrap_or(path_or_link)
            .to_ascii_lowercase();
        let candidate = if scheme.starts_with("http://") || scheme.starts_with("https://") {
            path_or_link.to_string()
        } else if path_or_link.starts_with("/v1.0/") {
            format!("{}{path_or_link}", &base[..origin_end])
        } else {
            format!("{base}{path_or_link}")
        };
        same_origin(&candidate, base).map_err(|origin| EntraError::ForeignLink {
            tenant: self.settings.name.clone(),
            origin,
            expected: origin_of(base),
        })?;
        Ok(candidate)
    }

    fn backoff(&self, attempt: u32, retry_after: Option<u64>) -> Duration {
        let exponential = Duration::from_millis(250u64.saturating_mul(1 << attempt.min(10)));
        retry_after
            .map(Duration::from_secs)
            .unwrap_or(exponential)
            .min(self.settings.max_backoff)
    }

    /// The wait before attempt `attempt + 1` after a 429/503, or why there is
    /// none: the attempts are spent, or Graph asks for a longer wait than
    /// `max_backoff` allows (sending sooner than Graph asked only earns
    /// another 429).
    fn retry_wait(
        &self,
        attempt: u32,
        status: StatusCode,
        retry_after: Option<u64>,
    ) -> Result<Duration, EntraError> {
        if attempt >= self.settings.max_attempts {
            return Err(EntraError::Exhausted {
                tenant: self.settings.name.clone(),
                status: status.as_u16(),
                attempts: attempt,
            });
        }
        if let Some(secs) = retry_after
            && Duration::from_secs(secs) > self.settings.max_backoff
        {
            return Err(EntraError::WaitTooLong {
                tenant: self.settings.name.clone(),
                status: status.as_u16(),
                retry_after_secs: secs,
                max_backoff_secs: self.settings.max_backoff.as_secs(),
            });
        }
        Ok(self.backoff(attempt, retry_after))
    }

    /// One request, one answer. A 429 or 503 is told apart before the body
    /// is read as JSON: a gateway's 503 is often HTML, and is still a 503.
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Attempt, EntraError> {
        let token = self.access_token().await?;
        let mut request = self.http.request(method.clone(), url).bearer_auth(&token);
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| self.unavailable(e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = response.text().await.map_err(|e| self.unavailable(e))?;
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            return Ok(Attempt::Retry {
                status,
                retry_after,
            });
        }
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|e| self.malformed(format!("{method} {path} ({status}): {e}")))?
        };
        if !status.is_success() {
            let error = EntraError::Graph {
                tenant: self.settings.name.clone(),
                status: status.as_u16(),
                code: body["error"]["code"].as_str().unwrap_or("").to_string(),
                message: body["error"]["message"]
                    .as_str()
                    .unwrap_or("no message")
                    .to_string(),
            };
            if status == StatusCode::UNAUTHORIZED {
                return Ok(Attempt::Unauthorized(error));
            }
            return Err(error);
        }
        Ok(Attempt::Answer(Answer { body }))
    }

    /// Sends one request: retries 429/503 (honouring Retry-After) at most
    /// `max_attempts` times in all, each wait at most `max_backoff`, and
    /// renews the token once on 401. A read that got no answer is sent again
    /// within the same bound; a write never is (see `settle_unanswered_write`).
    /// Other non-success answers are errors.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, EntraError> {
        let url = self.url(path)?;
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answered = match self.attempt(&method, &url, path, body).await {
                // A read that got no answer (a timeout, a dropped connection) is
                // safe to send again, within the same bound; a write is not.
                Err(e @ EntraError::Unavailable { .. }) if method == Method::GET => {
                    if attempt >= self.settings.max_attempts {
                        return Err(e);
                    }
                    let wait = self.backoff(attempt, None);
                    warn!(tenant = %self.settings.name, attempt, error = %e, wait_ms = wait.as_millis() as u64, "a Graph read got no answer; reading again");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                other => other?,
            };
            match answered {
                Attempt::Answer(answer) => return Ok(answer),
                Attempt::Unauthorized(_) if !renewed => {
                    renewed = true;
                    *self.token.lock().await = None;
                }
                Attempt::Unauthorized(e) => return Err(e),
                Attempt::Retry {
                    status,
                    retry_after,
                } => {
                    let wait = self.retry_wait(attempt, status, retry_after)?;
                    warn!(tenant = %self.settings.name, %status, attempt, wait_ms = wait.as_millis() as u64, "Graph throttled; waiting");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn account(&self, v: &Value) -> Result<CloudAccount, EntraError> {
        let text = |k: &str| v[k].as_str().map(String::from);
        Ok(CloudAccount {
            tenant: self.settings.name.clone(),
            id: text("id").ok_or_else(|| self.malformed("a user without id"))?,
            user_principal_name: text("userPrincipalName")
                .ok_or_else(|| self.malformed("a user without userPrincipalName"))?,
            mail: text("mail"),
            display_name: text("displayName"),
            user_type: text("userType").unwrap_or_else(|| "Member".into()),
            account_enabled: v["accountEnabled"]
                .as_bool()
                .ok_or_else(|| self.malformed("a user without accountEnabled"))?,
            synced: v["onPremisesSyncEnabled"].as_bool().unwrap_or(false),
            on_premises_sid: text("onPremisesSecurityIdentifier"),
            sessions_valid_from: text("signInSessionsValidFromDateTime"),
            force_change_password: v["passwordProfile"]["forceChangePasswordNextSignIn"].as_bool(),
            risk_state: None,
        })
    }

    /// One user by object id or UPN; `None` when Graph has no such user.
    pub async fn user(&self, id_or_upn: &str) -> Result<Option<CloudAccount>, EntraError> {
        let path = format!("/users/{}?$select={SELECT}", encode_path(id_or_upn));
        match self.send(Method::GET, &path, None).await {
            Ok(answer) => self.account(&answer.body).map(Some),
            Err(EntraError::Graph { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Users matching an OData filter, following every `@odata.nextLink`.
    pub async fn users_where(&self, filter: &str) -> Result<Vec<CloudAccount>, EntraError> {
        let mut link = format!("/users?$filter={}&$select={SELECT}", encode_query(filter));
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.send(Method::GET, &link, None).await?;
            let page = answer.body["value"]
                .as_array()
                .ok_or_else(|| self.malformed("a user list without value"))?;
            for v in page {
                out.push(self.account(v)?);
            }
            match answer.body["@odata.nextLink"].as_str() {
                Some(next) => link = next.to_string(),
                None => return Ok(out),
            }
        }
        Err(self.malformed(format!("more than {MAX_PAGES} pages of users for {filter}")))
    }

    /// Users a reference names: an object id, a UPN, a mail address or the
    /// AD objectSid the user is synced from.
    pub async fn find(&self, reference: &str) -> Result<Vec<CloudAccount>, EntraError> {
        if let Ok(sid) = reference.parse::<Sid>() {
            return self
                .users_where(&format!("onPremisesSecurityIdentifier eq '{sid}'"))
                .await;
        }
        if let Some(user) = self.user(reference).await? {
            return Ok(vec![user]);
        }
        if reference.contains('@') {
            return self
                .users_where(&format!("mail eq '{}'", odata_string(reference)))
                .await;
        }
        Ok(Vec::new())
    }

    async fn read_for(
        &self,
        id: &str,
        action: CloudAction,
    ) -> Result<Option<CloudAccount>, EntraError> {
        let Some(mut account) = self.user(id).await? else {
            return Ok(None);
        };
        if action == CloudAction::ConfirmCompromised {
            account.risk_state = match self
                .send(
                    Method::GET,
                    &format!("/identityProtection/riskyUsers/{}", encode_path(id)),
                    None,
                )
                .await
            {
                Ok(answer) => answer.body["riskState"].as_str().map(String::from),
                Err(EntraError::Graph { status: 404, .. }) => Some("none".into()),
                Err(e) => return Err(e),
            };
        }
        Ok(Some(account))
    }

    fn write_for(action: CloudAction, id: &str, with_mfa: bool) -> (Method, String, Option<Value>) {
        let user = format!("/users/{}", encode_path(id));
        match action {
            CloudAction::Disable => (
                Method::PATCH,
                user,
                Some(json!({ "accountEnabled": false })),
            ),
            CloudAction::Enable => (Method::PATCH, user, Some(json!({ "accountEnabled": true }))),
            CloudAction::RevokeSessions => {
                (Method::POST, format!("{user}/revokeSignInSessions"), None)
            }
            CloudAction::ForcePasswordReset => {
                let profile = if with_mfa {
                    json!({ "forceChangePasswordNextSignIn": true, "forceChangePasswordNextSignInWithMfa": true })
                } else {
                    json!({ "forceChangePasswordNextSignIn": true })
                };
                (
                    Method::PATCH,
                    user,
                    Some(json!({ "passwordProfile": profile })),
                )
            }
            CloudAction::ConfirmCompromised => (
                Method::POST,
                "/identityProtection/riskyUsers/confirmCompromised".into(),
                Some(json!({ "userIds": [id] })),
            ),
        }
    }

    /// Runs one action on one user: read, decide, write, read back, classify.
    pub async fn execute(&self, id: &str, action: CloudAction, with_mfa: bool) -> CloudReport {
        let mut report = CloudReport {
            tenant: self.settings.name.clone(),
            user: id.to_string(),
            action,
            outcome: Outcome::Failed,
            message: String::new(),
            before: None,
            after: None,
            writes: Vec::new(),
        };
        let finish = |mut r: CloudReport, v: Verdict| {
            r.outcome = v.outcome;
            r.message = v.message;
            r
        };
        let before = match self.read_for(id, action).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return finish(
                    report,
                    Verdict::new(
                        Outcome::Failed,
                        format!("no user {id} in tenant {}", self.settings.name),
                    ),
                );
            }
            Err(e) => return finish(report, Verdict::new(Outcome::Failed, e.to_string())),
        };
        report.user = before.reference();
        report.before = Some(before.clone());
        if let Some(verdict) = outcome::assess_cloud_before(action, &before) {
            report.after = Some(before);
            return finish(report, verdict);
        }
        let (method, path, body) = Self::write_for(action, &before.id, with_mfa);
        report.writes.push(format!(
            "{method} {path}{}",
            body.as_ref().map(|b| format!(" {b}")).unwrap_or_default()
        ));
        if let Err(e) = self.send(method, &path, body.as_ref()).await {
            if e.may_have_applied() {
                return self
                    .settle_unanswered_write(report, action, &before, e)
                    .await;
            }
            let outcome = if e.is_refusal() {
                Outcome::Denied
            } else {
                Outcome::Failed
            };
            let hint = if outcome == Outcome::Denied {
                format!(" (the app needs {})", action.permission())
            } else {
                String::new()
            };
            return finish(
                report,
                Verdict::new(outcome, format!("{e}{hint}; nothing in force was observed")),
            );
        }
        match self.read_for(&before.id, action).await {
            Ok(Some(after)) => {
                let verdict = outcome::classify_cloud_after(action, &before, &after);
                report.after = Some(after);
                finish(report, verdict)
            }
            Ok(None) => finish(
                report,
                Verdict::new(Outcome::Failed, "the user disappeared before the read-back"),
            ),
            Err(e) => finish(
                report,
                Verdict::new(
                    Outcome::Failed,
                    format!("the write was accepted but the read-back failed: {e}"),
                ),
            ),
        }
    }

    /// A write whose answer never came (or came as a 503): whether it took
    /// effect is read back, never assumed either way.
    async fn settle_unanswered_write(
        &self,
        mut report: CloudReport,
        action: CloudAction,
        before: &CloudAccount,
        error: EntraError,
    ) -> CloudReport {
        let verdict = match self.read_for(&before.id, action).await {
            Ok(Some(after)) => {
                let v = outcome::classify_cloud_after(action, before, &after);
                report.after = Some(after);
                if v.outcome == Outcome::Verified {
                    Verdict::new(
                        Outcome::Verified,
                        format!(
                            "{} (Graph's answer to the write was lost: {error}; the read-back shows it in force)",
                            v.message
                        ),
                    )
                } else {
                    Verdict::new(
                        Outcome::Failed,
                        format!(
                            "{error}; the read-back shows it is not in force: {}",
                            v.message
                        ),
                    )
                }
            }
            Ok(None) => Verdict::new(
                Outcome::Failed,
                format!("{error}; the user disappeared before the read-back"),
            ),
            Err(e) => Verdict::new(
                Outcome::Failed,
                format!(
                    "{error}; the write may have been applied, and the read-back failed too: {e}; check the user"
                ),
            ),
        };
        report.outcome = verdict.outcome;
        report.message = verdict.message;
        report
    }

    /// Sends sub-requests through `$batch`, 20 at a time, retrying only the
    /// throttled (429) or unavailable (503) ones. Each sub-request is sent at
    /// most `max_attempts` times, a throttled or failed `$batch` call counting
    /// as one attempt for each sub-request it carried. Every request gets
    /// exactly one answer: a `$batch` call that fails outright (no answer,
    /// an unreadable one, a refusal) answers each of its sub-requests with
    /// status 0 and the error, so no sub-request is lost and what was done
    /// before is kept.
    pub async fn batch(
        &self,
        requests: Vec<BatchRequest>,
    ) -> Result<Vec<BatchResponse>, EntraError> {
        let url = self.url("/$batch")?;
        let mut done: Vec<BatchResponse> = Vec::with_capacity(requests.len());
        let mut pending: Vec<(BatchRequest, u32)> = requests.into_iter().map(|r| (r, 0)).collect();
        let mut round = 0;
        let mut renewed = false;
        while !pending.is_empty() {
            round += 1;
            let mut retry: Vec<(BatchRequest, u32)> = Vec::new();
            let mut wait: Option<u64> = None;
            let mut last_status = StatusCode::TOO_MANY_REQUESTS;
            for chunk in pending.chunks(BATCH_LIMIT) {
                let body = json!({ "requests": chunk.iter().map(|(r, _)| r).collect::<Vec<_>>() });
                let fail_all = |done: &mut Vec<BatchResponse>, status: u16, e: &EntraError| {
                    for (request, attempts) in chunk {
                        done.push(BatchResponse {
                            id: request.id.clone(),
                            status,
                            body: json!({ "error": { "code": "riposteBatchFailed", "message": e.to_string() } }),
                            attempts: attempts + 1,
                        });
                    }
                };
                let answer = match self
                    .attempt(&Method::POST, &url, "/$batch", Some(&body))
                    .await
                {
                    Ok(Attempt::Answer(a)) => a,
                    Ok(Attempt::Retry {
                        status,
                        retry_after,
                    }) => {
                        // The whole call was throttled: one attempt for each of its sub-requests.
                        last_status = status;
                        wait = wait.max(retry_after);
                        for (request, attempts) in chunk {
                            let attempts = attempts + 1;
                            if attempts < self.settings.max_attempts {
                                retry.push((request.clone(), attempts));
                            } else {
                                let e = EntraError::Exhausted {
                                    tenant: self.settings.name.clone(),
                                    status: status.as_u16(),
                                    attempts,
                                };
                                done.push(BatchResponse {
                                    id: request.id.clone(),
                                    status: status.as_u16(),
                                    body: json!({ "error": { "code": "riposteBatchFailed", "message": e.to_string() } }),
                                    attempts,
                                });
                            }
                        }
                        continue;
                    }
                    Ok(Attempt::Unauthorized(e)) => {
                        if !renewed {
                            renewed = true;
                            *self.token.lock().await = None;
                            retry.extend(chunk.iter().cloned());
                        } else {
                            fail_all(&mut done, 401, &e);
                        }
                        continue;
                    }
                    Err(e) => {
                        fail_all(&mut done, 0, &e);
                        continue;
                    }
                };
                let Some(responses) = answer.body["responses"].as_array() else {
                    fail_all(
                        &mut done,
                        0,
                        &self.malformed("a $batch answer without responses"),
                    );
                    continue;
                };
                for (request, attempts) in chunk {
                    let attempts = attempts + 1;
                    let Some(sub) = responses
                        .iter()
                        .find(|r| r["id"].as_str() == Some(&request.id))
                    else {
                        // Graph's answer left this one out: it may or may not have run.
                        let e = self.malformed(format!("$batch lost sub-request {}", request.id));
                        done.push(BatchResponse {
                            id: request.id.clone(),
                            status: 0,
                            body: json!({ "error": { "code": "riposteBatchFailed", "message": e.to_string() } }),
                            attempts,
                        });
                        continue;
                    };
                    let status = sub["status"].as_u64().unwrap_or(0) as u16;
                    let after = sub["headers"]["Retry-After"]
                        .as_str()
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let too_long = after
                        .is_some_and(|secs| Duration::from_secs(secs) > self.settings.max_backoff);
                    if (status == 429 || status == 503)
                        && attempts < self.settings.max_attempts
                        && !too_long
                    {
                        wait = wait.max(after);
                        retry.push((request.clone(), attempts));
                    } else {
                        done.push(BatchResponse {
                            id: request.id.clone(),
                            status,
                            body: sub["body"].clone(),
                            attempts,
                        });
                    }
                }
            }
            if !retry.is_empty() {
                if wait.is_some_and(|secs| Duration::from_secs(secs) > self.settings.max_backoff) {
                    // Graph asks for a longer wait than allowed: each ends now, honestly.
                    let e = EntraError::WaitTooLong {
                        tenant: self.settings.name.clone(),
                        status: last_status.as_u16(),
                        retry_after_secs: wait.unwrap_or(0),
                        max_backoff_secs: self.settings.max_backoff.as_secs(),
                    };
                    for (request, attempts) in retry {
                        done.push(BatchResponse {
                            id: request.id,
                            status: last_status.as_u16(),
                            body: json!({ "error": { "code": "riposteBatchFailed", "message": e.to_string() } }),
                            attempts,
                        });
                    }
                    break;
                }
                let pause = self.backoff(round, wait);
                warn!(tenant = %self.settings.name, throttled = retry.len(), wait_ms = pause.as_millis() as u64, "retrying throttled $batch sub-requests");
                tokio::time::sleep(pause).await;
            }
            pending = retry;
        }
        Ok(done)
    }

    /// One action on many users: writes through `$batch`, then reads each back.
    pub async fn execute_many(
        &self,
        ids: &[String],
        action: CloudAction,
    ) -> Result<Vec<CloudReport>, EntraError> {
        let mut befores = Vec::new();
        let mut reports = Vec::new();
        let mut requests = Vec::new();
        for id in ids {
            let mut report = CloudReport {
                tenant: self.settings.name.clone(),
                user: id.clone(),
                action,
                outcome: Outcome::Failed,
                message: String::new(),
                before: None,
                after: None,
                writes: Vec::new(),
            };
            match self.read_for(id, action).await {
                Err(e) => {
                    report.message = format!("{e}; the user could not be read, so nothing was sent")
                }
                Ok(None) => {
                    report.message = format!("no user {id} in tenant {}", self.settings.name)
                }
                Ok(Some(before)) => {
                    report.user = before.reference();
                    if let Some(v) = outcome::assess_cloud_before(action, &before) {
                        report.outcome = v.outcome;
                        report.message = v.message;
                        report.after = Some(before.clone());
                    } else {
                        let (method, path, body) = Self::write_for(action, &before.id, false);
                        report.writes.push(format!("$batch {method} {path}"));
                        let headers = body
                            .as_ref()
                            .map(|_| json!({ "Content-Type": "application/json" }));
                        requests.push(BatchRequest {
                            id: requests.len().to_string(),
                            method: method.to_string(),
                            url: path,
                            body,
                            headers,
                        });
                        befores.push((reports.len(), before.clone()));
                    }
                    report.before = Some(before);
                }
            }
            reports.push(report);
        }
        let answers = self.batch(requests).await?;
        for (n, (index, before)) in befores.into_iter().enumerate() {
            let report = &mut reports[index];
            let Some(answer) = answers.iter().find(|a| a.id == n.to_string()) else {
                // `batch` answers every sub-request; this is a bug if it happens.
                let e = self.malformed(format!("no answer for the write on {}", before.id));
                let settled = self
                    .settle_unanswered_write(report.clone(), action, &before, e)
                    .await;
                *report = settled;
                continue;
            };
            if !(200..300).contains(&answer.status) {
                let message = answer.body["error"]["message"]
                    .as_str()
                    .unwrap_or("no message")
                    .to_string();
                let e = match answer.status {
                    0 => self.malformed(message.clone()),
                    status => EntraError::Graph {
                        tenant: self.settings.name.clone(),
                        status,
                        code: answer.body["error"]["code"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                        message: message.clone(),
                    },
                };
                if answer.status == 0 || answer.status == 503 {
                    let settled = self
                        .settle_unanswered_write(report.clone(), action, &before, e)
                        .await;
                    *report = settled;
                    continue;
                }
                let refused = answer.status == 403 || message.contains("on-premises mastered");
                report.outcome = if refused {
                    Outcome::Denied
                } else {
                    Outcome::Failed
                };
                report.message = format!(
                    "Graph answered {} after {} attempts: {message}",
                    answer.status, answer.attempts
                );
                continue;
            }
            match self.read_for(&before.id, action).await {
                Ok(Some(after)) => {
                    let v = outcome::classify_cloud_after(action, &before, &after);
                    report.outcome = v.outcome;
                    report.message = v.message;
                    report.after = Some(after);
                }
                Ok(None) => report.message = "the user disappeared before the read-back".into(),
                Err(e) => {
                    report.message = format!("the write was accepted but the read-back failed: {e}")
                }
            }
        }
        Ok(reports)
    }
}

/// An OData string literal's content: quotes doubled.
fn odata_string(s: &str) -> String {
    s.replace('\'', "''")
}

/// Percent-encodes a path segment (a UPN may hold '#', '/', '?' ...).
fn encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'\'' | b'@' => {
                (b as char).to_string()
            }
            b' ' => "%20".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every configured tenant, as riposte's cloud directory.
pub struct EntraDirectory {
    pub(crate) tenants: Vec<EntraTenant>,
}

impl EntraDirectory {
    pub fn new(settings: Vec<TenantSettings>) -> Result<Self, EntraError> {
        Ok(EntraDirectory {
            tenants: settings
                .into_iter()
                .map(EntraTenant::new)
                .collect::<Result<_, _>>()?,
        })
    }

    fn tenant(&self, name: &str) -> Result<&EntraTenant, CloudError> {
        self.tenants
            .iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| CloudError {
                tenant: name.to_string(),
                message: format!(
                    "no tenant named {name:?} is configured (configured: {})",
                    self.tenants
                        .iter()
                        .map(|t| t.name().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

fn cloud_error(tenant: &EntraTenant, e: EntraError) -> CloudError {
    CloudError {
        tenant: tenant.name().to_string(),
        message: e.to_string(),
    }
}

#[async_trait::async_trait]
impl CloudDirectory for EntraDirectory {
    fn tenant_names(&self) -> Vec<String> {
        self.tenants.iter().map(|t| t.name().to_string()).collect()
    }

    async fn find(
        &self,
        tenant: Option<&str>,
        reference: &str,
    ) -> Result<Vec<CloudAccount>, CloudError> {
        let mut out = Vec::new();
        for t in &self.tenants {
            if tenant.is_some_and(|name| !t.name().eq_ignore_ascii_case(name)) {
                continue;
            }
            out.extend(t.find(reference).await.map_err(|e| cloud_error(t, e))?);
        }
        if let Some(name) = tenant {
            self.tenant(name)?;
        }
        Ok(out)
    }

    async fn linked_to(&self, sid: &str) -> Result<Vec<CloudAccount>, CloudError> {
        let mut out = Vec::new();
        for t in &self.tenants {
            let filter = format!("onPremisesSecurityIdentifier eq '{}'", odata_string(sid));
            out.extend(
                t.users_where(&filter)
                    .await
                    .map_err(|e| cloud_error(t, e))?,
            );
        }
        Ok(out)
    }

    async fn execute(
        &self,
        tenant: &str,
        id: &str,
        action: CloudAction,
        with_mfa: bool,
    ) -> CloudReport {
        match self.tenant(tenant) {
            Ok(t) => t.execute(id, action, with_mfa).await,
            Err(e) => CloudReport {
                tenant: tenant.to_string(),
                user: id.to_string(),
                action,
                outcome: Outcome::Failed,
                message: e.to_string(),
                before: None,
                after: None,
                writes: Vec::new(),
            },
        }
    }
}
