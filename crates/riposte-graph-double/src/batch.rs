//! `POST /v1.0/$batch`: JSON batching, each sub-request answered (or
//! throttled) on its own, as Graph does. Test double only.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::storm::StormFault;
use crate::{
    Double, HoldAnswer, Shared, apply_confirm, apply_patch, apply_revoke, decode, fault_response,
    gate, graph_error, list_page, risky_answer, storm_fault, take_fault, user_answer,
};

/// JSON batching: each sub-request is answered (or throttled) on its own.
pub(crate) async fn batch(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = gate(&s, &headers, "POST /v1.0/$batch".into()).await {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload.",
        );
    };
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "requests is required.",
        );
    };
    if requests.len() > 20 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The number of batch requests exceeds the limit of 20.",
        );
    }
    // Answer under the lock, then serialise without it (a guard cannot cross an await).
    let mut answers = Vec::new();
    let mut held = None;
    {
        let mut d = s.lock().expect("double");
        d.stats.batches += 1;
        for r in requests {
            let id = r.get("id").cloned().unwrap_or(Value::Null);
            let method = r.get("method").and_then(Value::as_str).unwrap_or("");
            let url = r.get("url").and_then(Value::as_str).unwrap_or("");
            d.seen.push(format!("BATCH {method} {url}"));
            d.stats.sub_requests += 1;
            let sub_throttled = d.faults.throttle_sub_requests > 0;
            if sub_throttled {
                d.faults.throttle_sub_requests -= 1;
            }
            let counted = sub_throttled.then(|| {
                let after = (d.faults.retry_after > 0).then_some(d.faults.retry_after);
                fault_response(&mut d, StormFault::Throttle(after))
            });
            let fault = match counted.or_else(|| take_fault(&mut d)) {
                Some(r) => Some(r),
                None => storm_fault(&mut d, false).map(|f| fault_response(&mut d, f)),
            };
            let answer = match fault {
                Some(fault) => fault,
                None => {
                    let sub_body = r.get("body").cloned().unwrap_or(Value::Null);
                    let answer = sub_answer(&mut d, method, url, &sub_body);
                    // A lost write's answer (see `Faults::lose_write_answers`)
                    // holds back the answer of the whole `$batch`.
                    if let Some(h) = answer.extensions().get::<HoldAnswer>() {
                        held = held.max(Some(h.0));
                    }
                    if method != "GET"
                        && answer.status().is_success()
                        && d.faults.drop_batched_write_answers > 0
                    {
                        d.faults.drop_batched_write_answers -= 1;
                        continue;
                    }
                    answer
                }
            };
            answers.push((id, answer));
        }
    }
    let mut responses = Vec::new();
    for (id, answer) in answers {
        responses.push(sub_response(id, answer).await);
    }
    let mut answer = axum::Json(json!({ "responses": responses })).into_response();
    if let Some(ms) = held {
        answer.extensions_mut().insert(HoldAnswer(ms));
    }
    answer
}

/// One sub-request's answer (the same routes as the plain requests, their
/// path relative to /v1.0 and their query string decoded).
fn sub_answer(d: &mut Double, method: &str, url: &str, body: &Value) -> Response {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let query: HashMap<String, String> = query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((decode(k)?, decode(v)?))
        })
        .collect();
    let parts: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|p| decode(p).unwrap_or_default())
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match (method, parts.as_slice()) {
        ("PATCH", ["users", key]) => apply_patch(d, key, body),
        ("POST", ["users", key, "revokeSignInSessions"]) => apply_revoke(d, key),
        ("GET", ["users"]) => list_page(d, &query),
        ("GET", ["users", key]) => user_answer(d, key, query.get("$select").map(String::as_str)),
        ("GET", ["identityProtection", "riskyUsers", id]) => risky_answer(d, id),
        ("POST", ["identityProtection", "riskyUsers", "confirmCompromised"]) => {
            apply_confirm(d, body)
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("{method} {url} is not supported in a batch by this test double."),
        ),
    }
}

async fn sub_response(id: Value, r: Response) -> Value {
    let status = r.status().as_u16();
    let mut headers = json!({});
    if let Some(v) = r.headers().get("retry-after").and_then(|v| v.to_str().ok()) {
        headers["Retry-After"] = json!(v);
    }
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    json!({ "id": id, "status": status, "headers": headers, "body": body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::User;

    fn double() -> Shared {
        let mut kim = User::member(
            "00000000-0000-0000-0000-000000000001",
            "kim@contoso.example",
            "Kim",
        );
        kim.mail = Some("kim@contoso.example".into());
        Double::new("t", "c", "s", vec![kim])
    }

    async fn body(r: Response) -> Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_batched_read_honours_select_and_decodes_its_path() {
        let s = double();
        let (user, list, missing) = {
            let mut d = s.lock().unwrap();
            (
                sub_answer(
                    &mut d,
                    "GET",
                    "/users/kim%40contoso.example?$select=id,onPremisesSyncEnabled,passwordProfile",
                    &Value::Null,
                ),
                sub_answer(
                    &mut d,
                    "GET",
                    "/users?$filter=mail%20eq%20'kim%40contoso.example'&$select=id",
                    &Value::Null,
                ),
                sub_answer(&mut d, "GET", "/users/nobody", &Value::Null),
            )
        };
        let user = body(user).await;
        assert!(user.get("passwordProfile").is_some(), "{user}");
        assert!(user.get("displayName").is_none(), "{user}");
        let list = body(list).await;
        assert_eq!(list["value"].as_array().map(Vec::len), Some(1), "{list}");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}
