//! Audit records as OCSF 1.1 events, for a SIEM.
//!
//! Action outcomes are "Account Change" (3001): the change was made or
//! refused on the account. Sign-ins and sign-outs are "Authentication"
//! (3002). Everything else (requests, approvals, refusals, tokens, people) is
//! "API Activity" (6003). An action request is not an account change: only its
//! outcome says whether the account changed, so a SIEM counts each change once.
//! Fields OCSF has no place for go under `unmapped`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use riposte_core::Action;
use serde_json::{Map, Value, json};

use super::AuditRecord;
use crate::to_millis;

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.1.0";

const CATEGORY_IAM: (u32, &str) = (3, "Identity & Access Management");
const CATEGORY_APPLICATION: (u32, &str) = (6, "Application Activity");

struct Class {
    category: (u32, &'static str),
    uid: u32,
    name: &'static str,
    activity_id: u32,
    activity_name: String,
}

/// Account Change activity for an action (OCSF 1.1 `account_change`
/// activity_id: 2 Enable, 4 Password Reset, 5 Disable). OCSF has no unlock
/// activity, so unlock is 99 Other, named.
fn account_change_activity(action: Action) -> (u32, &'static str) {
    match action {
        Action::Disable => (5, "Disable"),
        Action::Enable => (2, "Enable"),
        Action::ForcePasswordReset | Action::SetPassword => (4, "Password Reset"),
        Action::Unlock => (99, "Unlock"),
        Action::RevokeSessions => (99, "Revoke Sessions"),
        Action::ConfirmCompromised => (99, "Confirm Compromised"),
    }
}

fn classify(r: &AuditRecord) -> Class {
    let iam = |uid, name, (activity_id, activity_name): (u32, &str)| Class {
        category: CATEGORY_IAM,
        uid,
        name,
        activity_id,
        activity_name: activity_name.to_string(),
    };
    match r.event.as_str() {
        "action-outcome" => {
            let action = r.details.get("action").and_then(Value::as_str);
            let activity = match action.map(Action::from_str) {
                Some(Ok(action)) => account_change_activity(action),
                _ => (0, "Unknown"),
            };
            iam(3001, "Account Change", activity)
        }
        // sign-in-throttled: logons refused unchecked while an address or name was locked.
        "sign-in" | "sign-in-failed" | "sign-in-throttled" => {
            iam(3002, "Authentication", (1, "Logon"))
        }
        "sign-out" => iam(3002, "Authentication", (2, "Logoff")),
        event => {
            // API Activity 1 Create, 3 Update, 4 Delete, by what the event did.
            let (activity_id, activity_name) = if event.ends_with("-created")
                || event.ends_with("-requested")
            {
                (1, "Create".to_string())
            } else if event == "approved" || event == "rejected" || event.ends_with("-updated") {
                (3, "Update".to_string())
            } else if event.ends_with("-revoked")
                || event.ends_with("-deleted")
                || event.ends_with("-expired")
            {
                (4, "Delete".to_string())
            } else {
                (99, event.to_string())
            };
            Class {
                category: CATEGORY_APPLICATION,
                uid: 6003,
                name: "API Activity",
                activity_id,
                activity_name,
            }
        }
    }
}

/// OCSF status_id and status from a result word.
fn status(result: &str) -> (u32, &str) {
    match result {
        "success" | "verified" | "already" => (1, "Success"),
        "failure" | "failed" | "denied" | "ineffective" => (2, "Failure"),
        // 99 Other: status then carries the source's own word.
        other => (99, other),
    }
}

/// The client's address: an IP (with or without port) goes to `ip`
/// (and `port`), anything else is kept as the endpoint's name.
fn src_endpoint(remote_addr: &str) -> Value {
    if let Ok(ip) = IpAddr::from_str(remote_addr) {
        json!({ "ip": ip.to_string() })
    } else if let Ok(addr) = SocketAddr::from_str(remote_addr) {
        json!({ "ip": addr.ip().to_string(), "port": addr.port() })
    } else {
        json!({ "name": remote_addr })
    }
}

/// One audit record as an OCSF 1.1 event (one JSON object, one line).
pub fn to_ocsf(r: &AuditRecord) -> Value {
    let class = classify(r);
    let (status_id, status) = status(&r.result);
    // A failure or refusal is worth a person's look; the rest is informational.
    let (severity_id, severity) = if status_id == 2 {
        (3, "Medium")
    } else {
        (1, "Informational")
    };
    let message = match &r.target {
        Some(target) => format!("{} {} on {target}: {}", r.actor, r.event, r.result),
        None => format!("{} {}: {}", r.actor, r.event, r.result),
    };
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "product": {
            "name": "riposte",
            "vendor_name": "riposte",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "log_name": "audit",
        "uid": r.hash,
        "sequence": r.seq,
    });
    if let Some(job) = r.job_id {
        // Ties a job's request and outcome together in the SIEM.
        metadata["correlation_uid"] = json!(job.to_string());
    }
    let mut event = Map::new();
    event.insert("category_uid".into(), json!(class.category.0));
    event.insert("category_name".into(), json!(class.category.1));
    event.insert("class_uid".into(), json!(class.uid));
    event.insert("class_name".into(), json!(class.name));
    event.insert("activity_id".into(), json!(class.activity_id));
    event.insert("activity_name".into(), json!(class.activity_name));
    event.insert(
        "type_uid".into(),
        json!(u64::from(class.uid) * 100 + u64::from(class.activity_id)),
    );
    event.insert(
        "type_name".into(),
        json!(format!("{}: {}", class.name, class.activity_name)),
    );
    event.insert("time".into(), json!(to_millis(r.at)));
    event.insert("severity_id".into(), json!(severity_id));
    event.insert("severity".into(), json!(severity));
    event.insert("status_id".into(), json!(status_id));
    event.insert("status".into(), json!(status));
    event.insert("status_detail".into(), json!(r.result));
    event.insert("message".into(), json!(message));
    event.insert("actor".into(), json!({ "user": { "name": r.actor } }));
    event.insert("metadata".into(), metadata);
    match (&r.remote_addr, class.uid) {
        (Some(addr), _) => {
            event.insert("src_endpoint".into(), src_endpoint(addr));
        }
        // API Activity requires a source; without an address, the front end.
        (None, 6003) => {
            event.insert("src_endpoint".into(), json!({ "name": r.source }));
        }
        (None, _) => {}
    }
    match class.uid {
        3001 => {
            event.insert(
                "user".into(),
                json!({ "name": r.target.as_deref().unwrap_or(&r.actor) }),
            );
        }
        3002 => {
            // The subject signing in is the target when one is named, else the actor.
            event.insert(
                "user".into(),
                json!({ "name": r.target.as_deref().unwrap_or(&r.actor) }),
            );
            event.insert("service".into(), json!({ "name": "riposte" }));
        }
        _ => {
            event.insert("api".into(), json!({ "operation": r.event }));
            if let Some(target) = &r.target {
                event.insert("resources".into(), json!([{ "name": target }]));
            }
        }
    }
    event.insert(
        "unmapped".into(),
        json!({
            "seq": r.seq,
            "event": r.event,
            "source": r.source,
            "target": r.target,
            "job_id": r.job_id,
            "details": r.details,
            "prev_hash": r.prev_hash,
            "hash": r.hash,
        }),
    );
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;
    use crate::audit::GENESIS_HASH;

    fn record(event: &str, result: &str, details: Value) -> AuditRecord {
        AuditRecord {
            seq: 7,
            at: datetime!(2026-11-26 10:00:00.250 UTC),
            actor: "cli:alice@host".into(),
            source: "cli".into(),
            remote_addr: None,
            event: event.into(),
            target: Some("corp:ernie".into()),
            job_id: Some(Uuid::nil()),
            result: result.into(),
            details,
            prev_hash: GENESIS_HASH.into(),
            hash: "ab".repeat(32),
        }
    }

    #[test]
    fn throttled_sign_ins_are_failed_logons_and_expired_alerts_deletions() {
        let e = to_ocsf(&record(
            "sign-in-throttled",
            "failure",
            json!({"count": 195}),
        ));
        assert_eq!(
            (e["class_uid"].as_u64(), e["activity_id"].as_u64()),
            (Some(3002), Some(1))
        );
        assert_eq!(e["status_id"], 2);
        let e = to_ocsf(&record("alerts-expired", "success", json!({"count": 3})));
        assert_eq!(e["activity_id"], 4);
    }

    #[test]
    fn outcomes_are_account_changes_with_the_schema_activity() {
        let cases = [
            ("disable", 5),
            ("enable", 2),
            ("force-password-reset", 4),
            ("set-password", 4),
            ("unlock", 99),
        ];
        for (action, activity) in cases {
            let e = to_ocsf(&record(
                "action-outcome",
                "verified",
                json!({"action": action, "message": "m", "dc": "ldaps://dc1"}),
            ));
            assert_eq!(e["class_uid"], 3001, "{action}");
            assert_eq!(e["category_uid"], 3);
            assert_eq!(e["activity_id"], activity, "{action}");
            assert_eq!(e["type_uid"], 300100 + activity, "{action}");
            assert_eq!(e["status_id"], 1);
            assert_eq!(e["status"], "Success");
            assert_eq!(e["user"]["name"], "corp:ernie");
            assert_eq!(e["actor"]["user"]["name"], "cli:alice@host");
        }
        let e = to_ocsf(&record(
            "action-outcome",
            "verified",
            json!({"action": "disable"}),
        ));
        assert_eq!(e["time"], 1_795_687_200_250_i64);
        assert_eq!(e["metadata"]["version"], OCSF_VERSION);
        assert_eq!(e["metadata"]["product"]["name"], "riposte");
        assert_eq!(e["metadata"]["product"]["vendor_name"], "riposte");
        assert_eq!(e["metadata"]["sequence"], 7);
        assert_eq!(
            e["metadata"]["correlation_uid"],
            Uuid::nil().to_string().as_str()
        );
        assert_eq!(e["unmapped"]["details"]["action"], "disable");
        assert_eq!(e["unmapped"]["hash"], "ab".repeat(32).as_str());
        assert!(e.get("src_endpoint").is_none());
    }

    #[test]
    fn failed_outcomes_are_failures_worth_a_look() {
        for result in ["ineffective", "denied", "failed"] {
            let e = to_ocsf(&record(
                "action-outcome",
                result,
                json!({"action": "force-password-reset"}),
            ));
            assert_eq!(
                (e["status_id"].as_u64(), e["status_detail"].as_str()),
                (Some(2), Some(result))
            );
            assert_eq!(e["severity_id"], 3);
        }
        let already = to_ocsf(&record(
            "action-outcome",
            "already",
            json!({"action": "disable"}),
        ));
        assert_eq!(already["status_id"], 1);
        assert_eq!(already["severity_id"], 1);
    }

    #[test]
    fn sign_ins_are_authentication_with_the_client_address() {
        let mut r = record("sign-in", "success", json!({}));
        r.actor = "user:alice".into();
        r.target = None;
        r.remote_addr = Some("192.0.2.10:51234".into());
        let e = to_ocsf(&r);
        assert_eq!(
            (e["class_uid"].as_u64(), e["activity_id"].as_u64()),
            (Some(3002), Some(1))
        );
        assert_eq!(e["user"]["name"], "user:alice");
        assert_eq!(e["src_endpoint"]["ip"], "192.0.2.10");
        assert_eq!(e["src_endpoint"]["port"], 51234);
        r.event = "sign-in-failed".into();
        r.result = "failure".into();
        r.remote_addr = Some("2001:db8::1".into());
        let e = to_ocsf(&r);
        assert_eq!(
            (e["activity_id"].as_u64(), e["status_id"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(e["src_endpoint"]["ip"], "2001:db8::1");
        r.event = "sign-out".into();
        r.result = "success".into();
        assert_eq!(to_ocsf(&r)["activity_id"], 2);
    }

    #[test]
    fn other_events_are_api_activity() {
        let cases = [
            ("action-requested", 1),
            ("token-created", 1),
            ("approved", 3),
            ("token-revoked", 4),
            ("request-refused", 99),
        ];
        for (event, activity) in cases {
            let e = to_ocsf(&record(event, "success", json!({})));
            assert_eq!(
                (e["class_uid"].as_u64(), e["activity_id"].as_u64()),
                (Some(6003), Some(activity)),
                "{event}"
            );
            assert_eq!(e["category_uid"], 6);
            assert_eq!(e["api"]["operation"], event);
            assert_eq!(e["src_endpoint"]["name"], "cli");
            assert_eq!(e["resources"][0]["name"], "corp:ernie");
        }
        let refused = to_ocsf(&record("request-refused", "denied", json!({})));
        assert_eq!(refused["activity_name"], "request-refused");
        assert_eq!(refused["status_id"], 2);
        let odd = to_ocsf(&record("person-created", "pending", json!({})));
        assert_eq!(
            (odd["status_id"].as_u64(), odd["status"].as_str()),
            (Some(99), Some("pending"))
        );
    }
}
