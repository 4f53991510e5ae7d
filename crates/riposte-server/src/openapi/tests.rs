//! The described response bodies hold against bodies the code really builds:
//! a key a view adds, drops or changes the type of fails here.

use axum::response::IntoResponse;
use riposte_core::{Action, ActionOptions, Outcome};
use riposte_store::{
    AlertEntities, Approval, BulkCounts, BulkOperation, BulkState, Job, JobEvent, JobState,
    NewAlert, StoredAlert,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::document;
use crate::error::ApiError;

/// Checks `value` against the document's `schema`: types, enums, required keys,
/// and (where the schema lists properties) that every key is described.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let mut schema = schema;
    while let Some(name) = schema.get("$ref").and_then(Value::as_str) {
        let name = name.trim_start_matches("#/components/schemas/");
        schema = &doc["components"]["schemas"][name];
        assert!(!schema.is_null(), "{at}: no schema {name}");
    }
    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = alternatives.iter().any(|alternative| {
            std::panic::catch_unwind(|| check(doc, alternative, value, at)).is_ok()
        });
        assert!(fits, "{at}: {value} fits none of {schema}");
        return;
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::Array(all) => all.iter().filter_map(Value::as_str).collect(),
            one => one.as_str().into_iter().collect(),
        };
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
        assert!(fits, "{at}: {value} is {kind}, described as {types:?}");
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        assert!(
            values.contains(value),
            "{at}: {value} is none of {values:?}"
        );
    }
    match value {
        Value::Object(object) => {
            for key in schema["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                assert!(object.contains_key(key), "{at}: required {key} is missing");
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, item) in object {
                    let described = properties.get(key);
                    assert!(described.is_some(), "{at}: {key} is not described");
                    check(
                        doc,
                        described.unwrap_or(&Value::Null),
                        item,
                        &format!("{at}.{key}"),
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(doc, item_schema, item, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

fn check_named(name: &str, value: &Value) {
    let doc = document();
    check(
        &doc,
        &json!({ "$ref": format!("#/components/schemas/{name}") }),
        value,
        name,
    );
}

fn a_job(finished: bool) -> Job {
    let now = OffsetDateTime::now_utc();
    Job {
        id: Uuid::now_v7(),
        created_at: now,
        updated_at: now,
        requested_by: "token:soar".into(),
        requester_person: finished.then(|| "alice".into()),
        source: "api".into(),
        reason: "phished".into(),
        action: Action::Disable,
        options: ActionOptions::default(),
        target_ref: "corp:bert".into(),
        forest: finished.then(|| "corp".into()),
        target_dn: finished.then(|| "CN=bert,DC=corp".into()),
        target_sid: None,
        state: if finished {
            JobState::Finished
        } else {
            JobState::Queued
        },
        phase: None,
        dc: None,
        owner: None,
        lease_expires_at: None,
        write_sent: finished,
        outcome: finished.then_some(Outcome::Verified),
        message: finished.then(|| "disabled".into()),
        evidence: finished.then(Default::default),
        finished_at: finished.then_some(now),
        idempotency_key: None,
        approval: finished.then_some(Approval::Approved),
        approval_reason: finished.then(|| "protected".into()),
        decided_by: finished.then(|| "user:carol".into()),
        steps: Vec::new(),
        bulk_id: None,
        evidence_input: finished.then(|| "tail:corp".into()),
    }
}

#[test]
fn the_job_schema_describes_the_job_view() {
    let events = [JobEvent {
        at: OffsetDateTime::now_utc(),
        state: JobState::Finished,
        phase: Some("verify".into()),
        message: "read back".into(),
    }];
    for finished in [false, true] {
        check_named("Job", &riposte_jobs::view::job(&a_job(finished), &events));
    }
}

#[test]
fn the_bulk_schema_describes_the_bulk_view() {
    let now = OffsetDateTime::now_utc();
    let bulk = BulkOperation {
        id: Uuid::now_v7(),
        created_at: now,
        updated_at: now,
        finished_at: Some(now),
        action: Action::Disable,
        options: ActionOptions::default(),
        selector_kind: "ou".into(),
        selector_value: "OU=Staff,DC=corp".into(),
        requested_by: "user:alice".into(),
        requester_person: Some("alice".into()),
        source: "api".into(),
        reason: "spray".into(),
        state: BulkState::Finished,
        undo_of: Some(Uuid::now_v7()),
        skipped: json!({ "protected": [], "skipped": [], "unresolved": [] }),
        counts: BulkCounts::default(),
        approval: Some(Approval::Pending),
        approval_reason: Some("more than 50 accounts".into()),
        decided_by: None,
    };
    check_named("Bulk", &riposte_jobs::view::bulk(&bulk, None));
    let children = [a_job(true), a_job(false)];
    check_named("Bulk", &riposte_jobs::view::bulk(&bulk, Some(&children)));
}

#[test]
fn the_alert_schema_describes_a_stored_alert() {
    let alert = StoredAlert {
        id: Uuid::now_v7(),
        raised_at: OffsetDateTime::now_utc(),
        alert: NewAlert {
            rule_id: "password-spray".into(),
            title: "Password spray".into(),
            technique: Some("T1110.003".into()),
            severity: "high".into(),
            description: "one source, many accounts".into(),
            entities: AlertEntities {
                users: vec!["corp\\bert".into()],
                ..Default::default()
            },
            first_seen: Some(OffsetDateTime::now_utc()),
            last_seen: None,
            event_count: 12,
            events: json!([{ "event_id": 4625 }]),
            input: "api:token:fwd".into(),
            fed_by: None,
        },
    };
    check_named("Alert", &json!(alert));
}

#[tokio::test]
async fn the_error_schema_describes_every_refusal() {
    let refusals = [
        ApiError::bad_request("malformed_query", "limit=0 is outside 1 to 500"),
        ApiError::unauthenticated("no token").with_details(json!({ "missing_right": "Respond" })),
    ];
    for refusal in refusals {
        let body = axum::body::to_bytes(refusal.into_response().into_body(), 1 << 20)
            .await
            .expect("the body is read");
        let body: Value = serde_json::from_slice(&body).expect("the body is JSON");
        check_named("Error", &body);
    }
}

#[test]
fn a_body_the_schema_does_not_describe_is_caught() {
    let mut job = riposte_jobs::view::job(&a_job(true), &[]);
    job["surprise"] = json!(1);
    let caught = std::panic::catch_unwind(|| check_named("Job", &job));
    assert!(caught.is_err(), "an undescribed key must fail the check");
}

#[test]
fn enumerations_come_from_the_types() {
    let doc = document();
    let names = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
    assert_eq!(
        names("Action"),
        json!(Action::ALL.map(|a| a.as_str())),
        "every action the core knows"
    );
    assert_eq!(names("Outcome"), json!(Outcome::ALL.map(|o| o.as_str())));
    assert_eq!(names("JobSource"), json!(crate::api::JOB_SOURCES));
    for path in ["/api/v1/jobs", "/api/v1/alerts", "/api/v1/bulk"] {
        let limit = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "limit"))
            .map(|p| p["schema"]["maximum"].clone());
        assert_eq!(limit, Some(json!(crate::api::MAX_PAGE)), "{path}: limit");
        // A u32 offset past int32's range is a page, not an error: its format must say so
        // (found by schemathesis' negative_data_rejection when utoipa wrote int32).
        let offset = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "offset"))
            .map(|p| p["schema"]["format"].clone());
        assert_eq!(offset, Some(json!("uint32")), "{path}: offset");
    }
    let references = &doc["components"]["schemas"]["ReferenceList"];
    assert_eq!(
        references["maxItems"],
        json!(riposte_jobs::bulk::MAX_REFERENCES)
    );
}

#[test]
fn every_reference_in_the_document_resolves() {
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(r)) = object.get("$ref") {
                    out.push(r);
                }
                object.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} names no schema"
        );
    }
}

#[test]
fn the_wait_of_a_request_is_documented_with_its_bound() {
    let doc = document();
    let post = &doc["paths"]["/api/v1/actions"]["post"];
    let wait = post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wait")
        .expect("?wait is documented");
    assert_eq!(wait["in"], "query");
    assert_eq!(
        wait["schema"]["maximum"],
        json!(crate::job_wait::MAX_WAIT_SECS)
    );
    assert!(post["responses"]["200"].is_object(), "the finished job");
    assert!(post["responses"]["202"].is_object(), "queued, as before");
}
