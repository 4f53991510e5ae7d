//! `$batch`: up to 20 sub-requests per call, only the throttled or
//! unavailable ones sent again, every sub-request answered exactly once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::warn;

use super::{Attempt, EntraError, GraphClient};

pub const BATCH_LIMIT: usize = 20;

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

impl GraphClient {
    /// Sends sub-requests through `$batch`, 20 at a time, retrying only the
    /// throttled (429) or unavailable (503) ones. Each sub-request is sent at
    /// most `max_attempts` times, a throttled or failed `$batch` call counting
    /// as one attempt for each sub-request it carried. Every request gets
    /// exactly one answer: a `$batch` call that fails outright (no answer,
    /// an unreadable one, a refusal) answers each of its sub-requests with
    /// status 0 and the error, so no sub-request is lost and what was done
    /// before is kept.
    pub(crate) async fn batch(
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
                    Ok(Attempt::Answer(body)) => body,
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
                            self.forget_token().await;
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
                let Some(responses) = answer["responses"].as_array() else {
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
}
