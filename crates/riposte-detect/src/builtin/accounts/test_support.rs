//! Windows events for the tests of accounts.rs and groups.rs.

use riposte_events::{IdentityEvent, Location, parse_json_event};

use crate::{Alert, DetectConfig, Detector};

/// Event `id` logged by dc1 `secs` seconds after 09:00 with these EventData fields.
pub(crate) fn win(id: u32, secs: i64, data: &[(&str, &str)]) -> IdentityEvent {
    let t = time::OffsetDateTime::from_unix_timestamp(1_767_258_000 + secs).unwrap();
    let t = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let json = serde_json::json!({"Event": {
        "System": {"EventID": id, "Computer": "dc1.corp.test",
                   "TimeCreated": {"#attributes": {"SystemTime": t}}},
        "EventData": data}});
    let loc = Location {
        file: "test".into(),
        record: None,
        line: Some(1),
    };
    parse_json_event(json.to_string().as_bytes(), loc)
        .unwrap()
        .unwrap()
}

/// The Subject* fields of a domain account with RID `rid`.
pub(crate) fn subject(name: &str, rid: u32) -> [(&'static str, String); 3] {
    [
        ("SubjectUserName", name.to_string()),
        ("SubjectDomainName", "CORP".to_string()),
        ("SubjectUserSid", format!("S-1-5-21-1-2-3-{rid}")),
    ]
}

/// Builds the EventData of `subject` plus `rest`.
pub(crate) fn ev(
    id: u32,
    secs: i64,
    who: &[(&'static str, String); 3],
    rest: &[(&str, &str)],
) -> IdentityEvent {
    let mut all: Vec<(&str, &str)> = who.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(rest);
    win(id, secs, &all)
}

/// The rule ids raised by the pack (with `cfg`) over `events`.
pub(crate) fn rule_ids(cfg: DetectConfig, events: &[IdentityEvent]) -> Vec<String> {
    alerts(cfg, events).into_iter().map(|a| a.rule_id).collect()
}

pub(crate) fn alerts(cfg: DetectConfig, events: &[IdentityEvent]) -> Vec<Alert> {
    let mut det = Detector::new(cfg, None);
    events.iter().flat_map(|e| det.process(e)).collect()
}
