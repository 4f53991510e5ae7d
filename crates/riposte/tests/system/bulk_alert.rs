//! Issue 19, "the gaps": `riposte bulk disable --alert ID` acts on exactly the
//! users a stored alert names. A spray alert stores its users as events name
//! them (`CORP\ernie`); bulk maps them through the same rule as automation
//! (riposte_core::entity), so the dry run plans the five corp users, a user of
//! a domain that names no configured forest is listed as unresolved (never
//! guessed), and the real run disables the five, read back over LDAP.

use crate::harness::{Serve, config_without_tailing, now_rfc3339, riposte_config};
use riposte_testlab::TestUser;
use serde_json::Value;
use std::collections::BTreeSet;

const ACCOUNTDISABLE: u32 = 0x2;

fn failure(user: &str, domain: &str) -> String {
    serde_json::json!({"Event": {
        "System": {"EventID": 4625, "Computer": "dc1.corp.example.test",
                   "TimeCreated": {"#attributes": {"SystemTime": now_rfc3339()}}},
        "EventData": {"TargetUserName": user, "TargetDomainName": domain, "IpAddress": "10.99.19.1",
                      "Status": "0xC000006D", "SubStatus": "0xC000006A", "LogonType": "3"}}})
    .to_string()
}

#[test]
fn bulk_by_alert_plans_and_disables_exactly_the_alerts_corp_users() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let victims: Vec<TestUser> = (0..5).map(|_| lab.create_user("corp", "bal", 0)).collect();
    let config = config_without_tailing(&lab, dir.path(), "");
    let server: Serve = Serve::on_config(&config).start();
    let forwarder = server.token("fwd", "forwarder", &[]);
    let responder = server.token("resp", "responder", &[]);

    // First, a name in a domain riposte does not know: the alert names it with
    // the corp users; bulk lists it as unresolved, never guesses a forest.
    let stranger = format!("{}x", victims[0].name);
    let mut batch = vec![failure(&stranger, "EVIL")];
    batch.extend(victims.iter().map(|u| failure(&u.name, "CORP")));
    let r = server.api(
        &forwarder,
        "POST",
        "/api/v1/events",
        Some(&(batch.join("\n") + "\n")),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let listed = server.api(&responder, "GET", "/api/v1/alerts", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let alerts = listed.json()["alerts"].as_array().cloned().unwrap();
    let alert = alerts
        .iter()
        .find(|a| a["technique"] == "T1110.003")
        .unwrap_or_else(|| panic!("no spray alert: {alerts:#?}"));
    let id = alert["id"].as_str().unwrap().to_string();
    let users = alert["entities"]["users"].to_string();
    let evil = format!("EVIL\\\\{stranger}");
    assert!(users.contains(&evil), "{users}");

    // The users the alert names (the spray rule names the accounts up to its threshold).
    let expected: BTreeSet<String> = victims
        .iter()
        .filter(|u| users.contains(&format!("CORP\\\\{}", u.name)))
        .map(TestUser::reference)
        .collect();
    assert!(expected.len() >= 4, "{users}");
    let dry = riposte_config(
        &config,
        &[
            "--json",
            "bulk",
            "disable",
            "--alert",
            &id,
            "--reason",
            "test: bulk by alert",
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let plan = &dry.json()["plan"];
    assert_eq!(plan["count"], expected.len(), "{plan:#}");
    let planned: BTreeSet<String> = plan["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(planned, expected, "{plan:#}");
    let unresolved = plan["unresolved"].as_array().unwrap();
    assert_eq!(unresolved.len(), 1, "{plan:#}");
    assert!(
        unresolved[0]["reason"]
            .as_str()
            .unwrap()
            .contains("names no configured forest"),
        "{plan:#}"
    );
    for user in &victims {
        assert_eq!(
            user.uac() & ACCOUNTDISABLE,
            0,
            "the dry run disabled {}",
            user.name
        );
    }

    let run = riposte_config(
        &config,
        &[
            "--json",
            "bulk",
            "disable",
            "--alert",
            &id,
            "--reason",
            "test: bulk by alert",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let done: Value = run.json();
    assert_eq!(done["counts"]["total"], expected.len(), "{done:#}");
    assert_eq!(done["counts"]["verified"], expected.len(), "{done:#}");
    for user in victims.iter().filter(|u| expected.contains(&u.reference())) {
        assert_ne!(
            user.uac() & ACCOUNTDISABLE,
            0,
            "{} is not disabled",
            user.name
        );
    }
}
