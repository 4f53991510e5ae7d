//! Act on the compromised, not on the attacked: after a spray or brute force, the
//! account that logs on successfully from the attacking source is named by its own
//! rule (T1078); the sprayed accounts are only the spray's. And live detection does
//! not learn who is a DC from the events it is fed.

use riposte_detect::{Alert, DetectConfig, Detector};
use riposte_events::{IdentityEvent, Location, parse_json_event};

fn samba(user: &str, status: &str, event_id: u32, from: &str, second: u32) -> IdentityEvent {
    let line = format!(
        r#"{{"timestamp": "2026-11-26T19:23:{second:02}.000000+0000", "type": "Authentication", "Authentication": {{"version": {{"major": 1, "minor": 2}}, "eventId": {event_id}, "logonType": 3, "status": "{status}", "remoteAddress": "ipv4:{from}:5000", "serviceDescription": "Kerberos KDC", "clientAccount": "{user}@CORP.EXAMPLE.TEST", "becameAccount": "{user}", "becameDomain": "CORP"}}}}"#
    );
    let loc = Location {
        file: "test".into(),
        record: None,
        line: Some(1),
    };
    parse_json_event(line.as_bytes(), loc).unwrap().unwrap()
}

fn wrong(user: &str, from: &str, second: u32) -> IdentityEvent {
    samba(user, "NT_STATUS_WRONG_PASSWORD", 4625, from, second)
}

fn right(user: &str, from: &str, second: u32) -> IdentityEvent {
    samba(user, "NT_STATUS_OK", 4624, from, second)
}

fn compromised(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .filter(|a| a.rule_id == "riposte.compromised_after_spray")
        .flat_map(|a| {
            assert_eq!(a.technique.as_deref(), Some("T1078"));
            a.entities.users.clone()
        })
        .collect()
}

#[test]
fn the_account_that_logs_on_from_the_spraying_source_is_named_not_the_victims() {
    let mut det = Detector::builtin();
    let mut alerts = Vec::new();
    // A success from the source before the spray is recognised is kept for later...
    for (i, u) in ["v1", "v2"].iter().enumerate() {
        alerts.extend(det.process(&wrong(u, "10.6.6.6", i as u32)));
    }
    alerts.extend(det.process(&right("early", "10.6.6.6", 3)));
    for (i, u) in ["v3", "v4", "v5"].iter().enumerate() {
        alerts.extend(det.process(&wrong(u, "10.6.6.6", 4 + i as u32)));
    }
    // ... and one after it is named at once; a success elsewhere is nobody's business.
    alerts.extend(det.process(&right("found", "10.6.6.6", 10)));
    alerts.extend(det.process(&right("bystander", "10.1.1.1", 11)));
    let spray: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.rule_id == "riposte.password_spray")
        .collect();
    assert_eq!(spray.len(), 1, "{alerts:#?}");
    let mut named = compromised(&alerts);
    named.sort();
    assert_eq!(
        named,
        vec!["CORP.EXAMPLE.TEST\\early", "CORP.EXAMPLE.TEST\\found"]
    );
    // The same account logging on again does not raise a second alert.
    assert!(compromised(&det.process(&right("found", "10.6.6.6", 20))).is_empty());
}

#[test]
fn a_success_after_a_brute_force_from_the_same_source_is_named() {
    let mut det = Detector::builtin();
    let mut alerts = Vec::new();
    for i in 0..5 {
        alerts.extend(det.process(&wrong("target", "10.7.7.7", i)));
    }
    assert!(alerts.iter().any(|a| a.rule_id == "riposte.brute_force"));
    alerts.extend(det.process(&right("target", "10.7.7.7", 9)));
    assert_eq!(compromised(&alerts), vec!["CORP.EXAMPLE.TEST\\target"]);
}

#[test]
fn without_failures_a_success_is_no_alert() {
    let mut det = Detector::builtin();
    for i in 0..20 {
        assert!(
            det.process(&right(&format!("u{i}"), "10.2.2.2", i))
                .is_empty()
        );
    }
}

fn repl(who: &str, computer: &str) -> IdentityEvent {
    let s = format!(
        r##"{{"Event":{{"System":{{"EventID":4662,"Computer":"{computer}","TimeCreated":{{"#attributes":{{"SystemTime":"2026-01-01T11:00:00Z"}}}}}},"EventData":{{"SubjectUserName":"{who}","SubjectDomainName":"CORP","ObjectServer":"DS","Properties":"%%7688 {{1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}}","AccessMask":"0x100"}}}}}}"##
    );
    let loc = Location {
        file: "t".into(),
        record: None,
        line: Some(1),
    };
    parse_json_event(s.as_bytes(), loc).unwrap().unwrap()
}

#[test]
fn live_detection_takes_dcs_from_the_directory_not_from_forged_events() {
    let live = DetectConfig {
        learn_dcs_from_events: false,
        domain_controllers: vec!["DC1$".into()],
        ..Default::default()
    };
    let mut det = Detector::new(live, None);
    // A forged KDC event "logged by" ws01 does not make ws01 a DC ...
    let forged = parse_json_event(
        br#"{"winlog":{"event_id":4768,"computer_name":"ws01.corp.test","event_data":{"TargetUserName":"ann","Status":"0x0","PreAuthType":"2","IpAddress":"10.0.0.5"}}}"#,
        Location { file: "t".into(), record: None, line: Some(1) },
    )
    .unwrap()
    .unwrap();
    det.process(&forged);
    let a = det.process(&repl("WS01$", "ws01.corp.test"));
    assert_eq!(a.len(), 1, "a forged event hid a DCSync: {a:?}");
    assert_eq!(a[0].technique.as_deref(), Some("T1003.006"));
    // ... while the directory's DC replicates unremarked.
    assert!(det.process(&repl("DC1$", "dc1.corp.test")).is_empty());
    // Offline hunting over a DC's own logs still learns (the default).
    let mut offline = Detector::builtin();
    offline.process(&forged);
    assert!(offline.process(&repl("WS01$", "ws01.corp.test")).is_empty());
}
