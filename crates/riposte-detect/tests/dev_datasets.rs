//! Each real attack recording in ../shared/datasets/evtx-dev (beside the repository) must give its technique's
//! alert, read from there (never copied into the repo).

use std::collections::BTreeMap;
use std::path::Path;

use riposte_detect::{Alert, Detector, SigmaRules};
use riposte_events::{IdentityEvent, Ingest, Location, parse_json_event};

// The datasets live in ../shared beside the repository (CI lays them out so).
const DEV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/datasets/evtx-dev"
);

fn run(files: &[&str]) -> Vec<Alert> {
    let paths: Vec<_> = files.iter().map(|f| Path::new(DEV).join(f)).collect();
    for p in &paths {
        assert!(p.exists(), "dataset missing: {}", p.display());
    }
    let mut ingest = Ingest::new(paths);
    let mut det = Detector::builtin();
    let mut alerts = Vec::new();
    for item in ingest.by_ref() {
        let ev = item.expect("dev recordings parse without errors");
        alerts.extend(det.process(&ev));
    }
    assert_eq!(ingest.stats().errors, 0);
    alerts
}

fn by_technique(alerts: &[Alert]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        *m.entry(a.technique.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    m
}

#[test]
fn kerberos_spray_gives_t1110_003() {
    let a = run(&["kerberos-password-spray-4771.evtx"]);
    // The recording also has a TGT issued to `normal` from the spraying source: that
    // account, and only it, is named as compromised (T1078).
    assert_eq!(
        by_technique(&a),
        BTreeMap::from([("T1078".into(), 1), ("T1110.003".into(), 1)])
    );
    let compromised = a
        .iter()
        .find(|x| x.technique.as_deref() == Some("T1078"))
        .unwrap();
    assert_eq!(compromised.entities.users, vec!["THREEBEESCO.COM\\normal"]);
    assert_eq!(compromised.entities.sources, vec!["172.16.66.1"]);
    let spray = a
        .iter()
        .find(|x| x.technique.as_deref() == Some("T1110.003"))
        .unwrap();
    assert_eq!(spray.entities.sources, vec!["172.16.66.1"]);
    assert!(spray.entities.users.len() >= 5, "{:?}", spray.entities);
    assert!(spray.events.len() >= 5);
}

#[test]
fn bruteforce_gives_t1110_001_per_account() {
    let a = run(&["bruteforce-4625.evtx"]);
    let t = by_technique(&a);
    assert_eq!(t.keys().collect::<Vec<_>>(), vec!["T1110.001"], "{t:?}");
    assert!(a.iter().any(|x| {
        x.entities
            .users
            .iter()
            .any(|u| u.ends_with("Administrator"))
    }));
}

#[test]
fn kerberoast_gives_t1558_003_for_the_user_service_only() {
    let a = run(&["kerberoast-rc4-4769.evtx"]);
    assert_eq!(by_technique(&a), BTreeMap::from([("T1558.003".into(), 1)]));
    assert_eq!(a[0].entities.services, vec!["Svc-SQL-DB01"]);
}

#[test]
fn dcsync_gives_t1003_006() {
    let a = run(&["dcsync-4662.evtx"]);
    assert_eq!(by_technique(&a), BTreeMap::from([("T1003.006".into(), 1)]));
    assert!(a[0].entities.actors[0].ends_with("Administrator"));
    assert_eq!(a[0].entities.dcs, vec!["DC1.insecurebank.local"]);
}

#[test]
fn password_never_expires_gives_t1098_once() {
    // The file turns the flag on, then off again: only the first is an alert.
    let a = run(&["password-never-expires-set-4738.evtx"]);
    assert_eq!(by_technique(&a), BTreeMap::from([("T1098".into(), 1)]));
    assert!(a[0].description.contains("never expires"));
}

fn json_event(s: &str) -> IdentityEvent {
    let loc = Location {
        file: "test".into(),
        record: None,
        line: Some(1),
    };
    parse_json_event(s.as_bytes(), loc).unwrap().unwrap()
}

fn win(id: u32, t: &str, data: &str) -> IdentityEvent {
    json_event(&format!(
        r##"{{"Event":{{"System":{{"EventID":{id},"Computer":"dc1.corp.test","TimeCreated":{{"#attributes":{{"SystemTime":"{t}"}}}}}},"EventData":{data}}}}}"##
    ))
}

#[test]
fn ordinary_activity_gives_no_alert() {
    let mut det = Detector::builtin();
    let mut evs = Vec::new();
    for (i, u) in ["ann", "bob", "cid", "dee", "eve", "fay"]
        .iter()
        .enumerate()
    {
        evs.push(win(4624, &format!("2026-01-01T09:0{i}:00Z"), &format!(
            r#"{{"TargetUserName":"{u}","TargetDomainName":"CORP","LogonType":3,"IpAddress":"10.0.0.5","Status":"0x0"}}"#
        )));
        // AES service tickets are normal.
        evs.push(win(4769, &format!("2026-01-01T09:0{i}:01Z"), &format!(
            r#"{{"TargetUserName":"{u}@CORP.TEST","ServiceName":"sql-svc","TicketEncryptionType":"0x12","Status":"0x0","IpAddress":"::ffff:10.0.0.5"}}"#
        )));
        // TGTs with pre-authentication (type 2) are normal.
        evs.push(win(4768, &format!("2026-01-01T09:0{i}:02Z"), &format!(
            r#"{{"TargetUserName":"{u}","ServiceName":"krbtgt","TicketEncryptionType":"0x12","PreAuthType":"2","Status":"0x0","IpAddress":"10.0.0.5"}}"#
        )));
    }
    // One mistyped password.
    evs.push(win(4625, "2026-01-01T09:10:00Z",
        r#"{"TargetUserName":"ann","Status":"0xc000006d","SubStatus":"0xc000006a","LogonType":3,"IpAddress":"10.0.0.5"}"#));
    evs.push(win(
        4771,
        "2026-01-01T09:10:01Z",
        r#"{"TargetUserName":"ann","Status":"0x18","PreAuthType":"2","IpAddress":"10.0.0.5"}"#,
    ));
    // RC4 ticket for krbtgt and for a machine account, and by a machine account.
    evs.push(win(4769, "2026-01-01T09:11:00Z",
        r#"{"TargetUserName":"ann@CORP.TEST","ServiceName":"krbtgt","TicketEncryptionType":"0x17","Status":"0x0"}"#));
    evs.push(win(4769, "2026-01-01T09:11:01Z",
        r#"{"TargetUserName":"ann@CORP.TEST","ServiceName":"FS01$","TicketEncryptionType":"0x17","Status":"0x0"}"#));
    evs.push(win(4769, "2026-01-01T09:11:02Z",
        r#"{"TargetUserName":"FS01$@CORP.TEST","ServiceName":"sql-svc","TicketEncryptionType":"0x17","Status":"0x0"}"#));
    // A DC replicating (its own machine account, and another DC's) is not DCSync.
    evs.push(win(4662, "2026-01-01T09:12:00Z",
        r#"{"SubjectUserName":"DC1$","SubjectUserSid":"S-1-5-21-1-2-3-1000","ObjectServer":"DS","Properties":"%%7688 {1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}","AccessMask":"0x100"}"#));
    // A flag turned off, and a user added to an ordinary group.
    evs.push(win(4738, "2026-01-01T09:13:00Z",
        r#"{"SubjectUserName":"admin","TargetUserName":"ann","UserAccountControl":"%%2057","OldUacValue":"0x10210","NewUacValue":"0x210"}"#));
    evs.push(win(4728, "2026-01-01T09:13:01Z",
        r#"{"SubjectUserName":"admin","MemberName":"CN=ann,OU=Staff,DC=corp","TargetUserName":"Sales","TargetSid":"S-1-5-21-1-2-3-1500"}"#));
    // The built-in Administrator resets a password.
    evs.push(win(4724, "2026-01-01T09:14:00Z",
        r#"{"SubjectUserName":"Administrator","SubjectUserSid":"S-1-5-21-1-2-3-500","TargetUserName":"ann","TargetSid":"S-1-5-21-1-2-3-1101"}"#));
    for ev in &evs {
        let a = det.process(ev);
        assert!(a.is_empty(), "benign event {ev:?} gave {a:?}");
    }
}

#[test]
fn the_other_builtin_rules_fire_on_their_events() {
    let mut det = Detector::builtin();
    let mut got = Vec::new();
    got.extend(det.process(&win(4768, "2026-01-01T10:00:00Z",
        r#"{"TargetUserName":"legacy","ServiceName":"krbtgt","TicketEncryptionType":"0x17","PreAuthType":"0","Status":"0x0","IpAddress":"10.9.9.9"}"#)));
    got.extend(det.process(&win(4738, "2026-01-01T10:01:00Z",
        r#"{"SubjectUserName":"mallory","TargetUserName":"legacy","UserAccountControl":"\r\n\t\t%%2096"}"#)));
    got.extend(det.process(&win(4732, "2026-01-01T10:02:00Z",
        r#"{"SubjectUserName":"mallory","MemberName":"-","MemberSid":"S-1-5-21-1-2-3-1200","TargetUserName":"Administrators","TargetSid":"S-1-5-32-544"}"#)));
    got.extend(det.process(&win(4724, "2026-01-01T10:03:00Z",
        r#"{"SubjectUserName":"mallory","SubjectUserSid":"S-1-5-21-1-2-3-1300","TargetUserName":"ceo","TargetSid":"S-1-5-21-1-2-3-1101"}"#)));
    let ids: Vec<&str> = got.iter().map(|a| a.rule_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "riposte.asrep_roasting",
            "riposte.account_weakened",
            "riposte.sensitive_group_add",
            "riposte.password_reset_by_non_admin"
        ]
    );
    assert_eq!(got[0].technique.as_deref(), Some("T1558.004"));
    // A configured helpdesk account may reset passwords.
    let cfg = riposte_detect::DetectConfig {
        admins: vec!["CORP\\mallory".into()],
        ..Default::default()
    };
    let mut det = Detector::new(cfg, None);
    assert!(
        det.process(&win(
            4724,
            "2026-01-01T10:03:00Z",
            r#"{"SubjectUserName":"mallory","TargetUserName":"ceo"}"#
        ))
        .is_empty()
    );
}

#[test]
fn samba_wrong_password_spray_is_detected() {
    let mut det = Detector::builtin();
    let mut got = Vec::new();
    for (i, u) in ["elmo", "bert", "ernie", "grover", "oscar"]
        .iter()
        .enumerate()
    {
        let line = format!(
            r#"{{"timestamp": "2026-11-26T18:19:3{i}.572595+0000", "type": "Authentication", "Authentication": {{"eventId": 4625, "logonType": 3, "status": "NT_STATUS_WRONG_PASSWORD", "remoteAddress": "ipv4:10.1.1.1:5649{i}", "serviceDescription": "Kerberos KDC", "clientAccount": "{u}@CORP.EXAMPLE.TEST"}}}}"#
        );
        got.extend(det.process(&json_event(&line)));
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].technique.as_deref(), Some("T1110.003"));
    assert_eq!(got[0].entities.sources, vec!["10.1.1.1"]);
}

#[test]
fn sigma_detection_and_correlation_rules_run_beside_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lockout.yml"),
        r#"
title: Account Locked Out
id: 0e95725d-7320-415d-80f7-004da920fc11
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4740
    condition: selection
level: medium
tags: [attack.credential_access, attack.t1110]
---
title: Failed logon
id: failed-logon
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4625
    condition: selection
---
title: Many failed logons per workstation
id: many-failed
correlation:
    type: event_count
    rules: [failed-logon]
    group-by: [WorkstationName]
    timespan: 5m
    condition: {gte: 3}
level: high
tags: [attack.t1110.001]
"#,
    )
    .unwrap();
    let rules = SigmaRules::load_dir(dir.path()).unwrap();
    assert_eq!(rules.file_count(), 1);
    let mut det = Detector::new(Default::default(), Some(rules));
    let a = det.process(&win(
        4740,
        "2026-01-01T10:00:00Z",
        r#"{"TargetUserName":"ann"}"#,
    ));
    assert!(
        a.iter()
            .any(|x| x.rule_id == "0e95725d-7320-415d-80f7-004da920fc11"
                && x.technique.as_deref() == Some("T1110"))
    );
    let mut corr = Vec::new();
    for i in 0..3 {
        corr.extend(det.process(&win(
            4625,
            &format!("2026-01-01T10:01:0{i}Z"),
            &format!(
                r#"{{"TargetUserName":"u{i}","WorkstationName":"KIOSK","Status":"0xc0000064"}}"#
            ),
        )));
    }
    assert!(
        corr.iter()
            .any(|x| x.rule_id == "many-failed" && x.technique.as_deref() == Some("T1110.001")),
        "{corr:?}"
    );
    // A broken rule file is refused with its name.
    std::fs::write(
        dir.path().join("broken.yml"),
        "title: x\ndetection: [1, 2\n",
    )
    .unwrap();
    let err = SigmaRules::load_dir(dir.path()).err().unwrap().to_string();
    assert!(err.contains("broken.yml"), "{err}");
}

#[test]
fn samba_uac_changes_are_diffed_against_the_last_value_seen() {
    let mut det = Detector::builtin();
    let rec = |op: &str, uac: u32| {
        json_event(&format!(
            r#"{{"timestamp": "2026-11-26T18:19:29.963802+0000", "type": "dsdbChange", "dsdbChange": {{"operation": "{op}", "status": "Success", "userSid": "S-1-5-21-1-2-3-1109", "dn": "CN=ernie,OU=Staff,DC=corp", "attributes": {{"userAccountControl": {{"actions": [{{"action": "replace", "values": [{{"value": "{uac}"}}]}}]}}}}}}}}"#
        ))
    };
    // Created as a normal account, then disabled: no risky flag turned on.
    assert!(det.process(&rec("Add", 0x200)).is_empty());
    assert!(det.process(&rec("Modify", 0x202)).is_empty());
    // Pre-authentication turned off.
    let a = det.process(&rec("Modify", 0x40_0202));
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].description.contains("pre-authentication disabled"));
    // Still set on the next change (re-enabling): not turned on again.
    assert!(det.process(&rec("Modify", 0x40_0200)).is_empty());
}

#[test]
fn kerberos_2025_layout_and_other_json_shapes_are_read() {
    // The January 2025 4769 layout adds encryption-type fields beside TicketEncryptionType.
    let mut det = Detector::builtin();
    let ev = win(
        4769,
        "2026-01-01T10:00:00Z",
        r#"{"TargetUserName":"eve@CORP.TEST","ServiceName":"svc-web","TicketEncryptionType":"0x17","Status":"0x0","IpAddress":"::ffff:10.2.2.2","AccountSupportedEncryptionTypes":"0x27 (DES, RC4, AES-Sk)","AccountAvailableKeys":"AES-SHA1, RC4","ServiceSupportedEncryptionTypes":"0x1C (RC4, AES128-SHA96, AES256-SHA96)","ServiceAvailableKeys":"RC4","DCSupportedEncryptionTypes":"0x1F","DCAvailableKeys":"AES-SHA1, RC4","ClientAdvertizedEncryptionTypes":"\n\t\tRC4-HMAC-NT","SessionKeyEncryptionType":"0x17"}"#,
    );
    assert_eq!(ev.ticket_encryption, Some(0x17));
    let a = det.process(&ev);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].technique.as_deref(), Some("T1558.003"));

    // Winlogbeat: event_id as a string, event_data values as strings.
    let wlb = json_event(
        r#"{"@timestamp":"2026-01-01T10:00:00.000Z","winlog":{"event_id":"4768","computer_name":"dc2.corp.test","record_id":77,"event_data":{"TargetUserName":"legacy","PreAuthType":"0","Status":"0x0","TicketEncryptionType":"0x17","IpAddress":"::ffff:10.3.3.3"}}}"#,
    );
    assert_eq!(wlb.origin.record, Some(77));
    assert_eq!(wlb.computer.as_deref(), Some("dc2.corp.test"));
    let a = det.process(&wlb);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].technique.as_deref(), Some("T1558.004"));
    assert_eq!(a[0].entities.sources, vec!["10.3.3.3"]);
}

#[test]
fn evtx_dump_pretty_json_output_is_read_with_line_locations() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dump.json");
    let rec = |n: u32, user: &str| {
        format!(
            "Record {n}\n{{\n  \"Event\": {{\n    \"System\": {{\n      \"EventID\": 4771,\n      \"EventRecordID\": {n},\n      \"Computer\": \"dc1\",\n      \"TimeCreated\": {{\n        \"#attributes\": {{\n          \"SystemTime\": \"2026-01-01T10:00:0{n}Z\"\n        }}\n      }}\n    }},\n    \"EventData\": {{\n      \"TargetUserName\": \"{user}\",\n      \"Status\": \"0x18\",\n      \"PreAuthType\": \"2\",\n      \"IpAddress\": \"::ffff:10.4.4.4\"\n    }}\n  }}\n}}\n"
        )
    };
    let mut text = String::new();
    for (n, u) in ["a1", "a2", "a3", "a4", "a5"].iter().enumerate() {
        text.push_str(&rec(n as u32 + 1, u));
    }
    std::fs::write(&p, text).unwrap();
    let mut det = Detector::builtin();
    let mut alerts = Vec::new();
    let mut records = Vec::new();
    for ev in Ingest::new([&p]) {
        let ev = ev.unwrap();
        records.push(ev.origin.record);
        alerts.extend(det.process(&ev));
    }
    assert_eq!(records, vec![Some(1), Some(2), Some(3), Some(4), Some(5)]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].technique.as_deref(), Some("T1110.003"));
}

#[test]
fn window_state_stays_bounded_under_a_flood_of_sources() {
    let cfg = riposte_detect::DetectConfig {
        max_groups: 100,
        ..Default::default()
    };
    let mut det = Detector::new(cfg, None);
    // 10 000 sources each failing once: no alert, and (by construction) at most 100 groups.
    for i in 0..10_000u32 {
        let ev = win(
            4625,
            "2026-01-01T10:00:00Z",
            &format!(
                r#"{{"TargetUserName":"u{i}","Status":"0xc000006d","SubStatus":"0xc000006a","IpAddress":"10.{}.{}.{}"}}"#,
                i / 65536,
                (i / 256) % 256,
                i % 256
            ),
        );
        assert!(det.process(&ev).is_empty());
    }
    // A real spray after the flood is still seen.
    let mut got = Vec::new();
    for u in ["x1", "x2", "x3", "x4", "x5"] {
        got.extend(det.process(&win(4625, "2026-01-01T10:01:00Z", &format!(
            r#"{{"TargetUserName":"{u}","Status":"0xc000006d","SubStatus":"0xc000006a","IpAddress":"192.0.2.1"}}"#
        ))));
    }
    assert_eq!(got.len(), 1);
}

#[test]
fn dcsync_by_a_machine_account_needs_it_to_be_a_known_dc() {
    let repl = |who: &str| {
        win(
            4662,
            "2026-01-01T11:00:00Z",
            &format!(
                r#"{{"SubjectUserName":"{who}","SubjectDomainName":"CORP","ObjectServer":"DS","Properties":"%%7688 {{1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}}","AccessMask":"0x100"}}"#
            ),
        )
    };
    // A workstation's account replicating: DCSync, though it ends in $.
    let mut det = Detector::builtin();
    let a = det.process(&repl("WS01$"));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].technique.as_deref(), Some("T1003.006"));
    // DC2 logged KDC events in this stream: it is a DC, its replication is not DCSync.
    let mut det = Detector::builtin();
    let kdc = json_event(
        r#"{"winlog":{"event_id":4769,"computer_name":"dc2.corp.test","event_data":{"TargetUserName":"ann@CORP.TEST","ServiceName":"cifs","TicketEncryptionType":"0x12","Status":"0x0"}}}"#,
    );
    assert!(det.process(&kdc).is_empty());
    assert!(det.process(&repl("DC2$")).is_empty());
    // Or it is configured.
    let cfg = riposte_detect::DetectConfig {
        domain_controllers: vec!["dc3.corp.test".into()],
        ..Default::default()
    };
    let mut det = Detector::new(cfg, None);
    assert!(det.process(&repl("DC3$")).is_empty());
    assert_eq!(det.process(&repl("WS01$")).len(), 1);
}
