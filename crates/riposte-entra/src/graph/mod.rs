//! The Microsoft Graph v1.0 client: one tenant's HTTP exchanges with Graph.
//!
//! Client credentials with a cached token renewed before expiry (and once
//! more on a 401: `token`); 429 and 503 honour Retry-After with exponential
//! back-off up to a bound; a read that got no answer is sent again, a write
//! never is; links are followed only to the configured Graph origin
//! (`origin`); lists are paged (`for_each_page`); concurrent requests of one
//! tenant go together through `$batch` (`coalesce`), and so can a caller's
//! own list of sub-requests (`batch`); answers are read up to
//! [`MAX_ANSWER_BYTES`]. It knows Graph's protocol and nothing of riposte's
//! actions or outcomes: the adapter (`crate::tenant`, `crate::actions`)
//! maps those onto it, and reaches Graph only through [`GraphClient`].

mod batch;
mod coalesce;
mod error;
mod origin;
mod token;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::warn;

use crate::TenantSettings;
use origin::{origin_of, same_origin};

pub use batch::{BATCH_LIMIT, BatchRequest, BatchResponse};
pub use error::EntraError;
/// The HTTP method of a Graph request (the adapter names it, the client sends it).
pub(crate) use reqwest::Method;

/// The most pages of a user list riposte follows (a runaway nextLink chain stops here).
pub(crate) const MAX_PAGES: usize = 1000;

/// The largest answer riposte reads from Graph (a page of 999 users, or a
/// `$batch` of 20, is far below it); a longer one is not understood.
pub(crate) const MAX_ANSWER_BYTES: usize = 16 << 20;

/// One tenant's Graph client: its settings, one HTTP client, one cached token.
pub(crate) struct GraphClient {
    settings: TenantSettings,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
    /// The tenant's requests waiting to go, alone or together (`coalesce`).
    coalescer: coalesce::Coalescer,
}

/// One HTTP exchange with Graph.
enum Attempt {
    /// A success, its body (`null` when empty).
    Answer(Value),
    /// 429 or 503: may be sent again, after `retry_after` seconds if Graph said.
    Retry {
        status: StatusCode,
        retry_after: Option<u64>,
    },
    /// 401: the token may have expired.
    Unauthorized(EntraError),
}

impl GraphClient {
    pub(crate) fn new(settings: TenantSettings) -> Result<Self, EntraError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("riposte/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EntraError::Unavailable {
                tenant: settings.name.clone(),
                message: e.to_string(),
            })?;
        Ok(GraphClient {
            settings,
            http,
            token: Mutex::new(None),
            coalescer: coalesce::Coalescer::default(),
        })
    }

    /// The tenant's name in riposte.toml.
    pub(crate) fn name(&self) -> &str {
        &self.settings.name
    }

    pub(crate) fn settings(&self) -> &TenantSettings {
        &self.settings
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
        let mut response = request.send().await.map_err(|e| self.unavailable(e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unavailable(e))? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(self.malformed(format!(
                    "{method} {path} ({status}): an answer longer than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&bytes);
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
        Ok(Attempt::Answer(body))
    }

    /// Sends one request and returns Graph's answer (`null` when empty): retries 429/503 (honouring Retry-After) at most
    /// `max_attempts` times in all, each wait at most `max_backoff`, and
    /// renews the token once on 401. A read that got no answer is sent again
    /// within the same bound; a write never is (see `settle_unanswered_write`).
    /// Other non-success answers are errors.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, EntraError> {
        let url = self.url(path)?;
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answered = match self.exchange(&method, &url, path, body).await {
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
                    self.forget_token().await;
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

    /// Reads `first` and every page its `@odata.nextLink`s lead to (each
    /// link checked like any URL: only to the configured Graph origin),
    /// handing each answer to `each`, at most `max_pages` pages. `true` when
    /// the last page was read, `false` when `max_pages` ran out first.
    pub(crate) async fn for_each_page(
        &self,
        first: String,
        max_pages: usize,
        mut each: impl FnMut(&Value) -> Result<(), EntraError>,
    ) -> Result<bool, EntraError> {
        let mut link = first;
        for _ in 0..max_pages {
            let answer = self.send(Method::GET, &link, None).await?;
            each(&answer)?;
            match answer["@odata.nextLink"].as_str() {
                Some(next) => link = next.to_string(),
                None => return Ok(true),
            }
        }
        Ok(false)
    }
}

/// An OData string literal's content: quotes doubled.
pub(crate) fn odata_string(s: &str) -> String {
    s.replace('\'', "''")
}

/// Percent-encodes a path segment (a UPN may hold '#', '/', '?' ...).
pub(crate) fn encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn encode_query(s: &str) -> String {
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
