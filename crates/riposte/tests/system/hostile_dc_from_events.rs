//! Issue 14, detection-state poisoning: a forged 4768 "logged by" host X taught the
//! detector that X is a domain controller, so X's DCSync (4662 replication by X$) raised
//! nothing. Live detection now takes DCs from the directory (the forests' DC computer
//! objects), never from the events: X's replication is DCSync, the real DC's is not.

use crate::harness::{Serve, config_without_tailing, now_rfc3339};

fn event(id: u32, computer: &str, data: serde_json::Value) -> String {
    serde_json::json!({"Event": {
        "System": {"EventID": id, "Computer": computer,
                   "TimeCreated": {"#attributes": {"SystemTime": now_rfc3339()}}},
        "EventData": data}})
    .to_string()
        + "\n"
}

fn replication_by(account: &str, computer: &str) -> String {
    event(
        4662,
        computer,
        serde_json::json!({"SubjectUserName": account, "SubjectDomainName": "CORP",
            "ObjectServer": "DS", "AccessMask": "0x100",
            "Properties": "%%7688 {1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}"}),
    )
}

#[test]
fn a_forged_kdc_event_does_not_make_a_host_a_dc_and_the_directory_does() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let config = config_without_tailing(&lab, dir.path(), "");
    let server = Serve::on_config(&config).stderr_lines().start();
    let fwd = server.token("dc-fwd", "responder", &[]);
    let evil = "ws-evil.corp.example.test";
    let body = event(
        4768,
        evil,
        serde_json::json!({"TargetUserName": "ernie", "Status": "0x0", "PreAuthType": "2",
            "IpAddress": "10.97.0.1"}),
    ) + &replication_by("WS-EVIL$", evil);
    let r = server.api(&fwd, "POST", "/api/v1/events", Some(&body));
    assert_eq!(r.status, 202, "{}", r.body);
    let v = r.json();
    assert_eq!(v["alerts_raised"], 1, "the DCSync was hidden: {v}");
    assert_eq!(v["alerts"][0]["technique"], "T1003.006", "{v}");

    // The lab's DC, as the directory lists it, replicates unremarked.
    let r = server.api(
        &fwd,
        "POST",
        "/api/v1/events",
        Some(&replication_by("DC1$", "dc1.corp.example.test")),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["alerts_raised"], 0, "{}", r.body);
}
