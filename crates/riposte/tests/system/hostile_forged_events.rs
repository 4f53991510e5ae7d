//! Issue 14, attack 1: forged events drive automation outside the sender's rights.
//!
//! A token that may only unlock in fabrikam (and a forwarder token) posts five 4625
//! failures for five corp users from one IpAddress, and a forged 4728 ("mallory added a
//! corp user to Domain Admins"), to `POST /api/v1/events`. Automation rules would disable
//! the users of spray (T1110.003) and account-manipulation (T1098) alerts. Nothing may be
//! disabled (read back over LDAP): events from the API are not trusted by default, and
//! where a rule trusts them, never beyond the sender's scope; each refusal is in the audit
//! trail. The plain spray rule of the issue (no `act_on_attacked`) stops the start.

use crate::harness::{Serve, config_without_tailing, now_rfc3339};
use riposte_testlab::TestUser;
use serde_json::Value;

const ACCOUNTDISABLE: u32 = 0x2;

fn failure(user: &str) -> String {
    let event = serde_json::json!({"Event": {
        "System": {"EventID": 4625, "Computer": "dc1.corp.example.test",
                   "TimeCreated": {"#attributes": {"SystemTime": now_rfc3339()}}},
        "EventData": {"TargetUserName": user, "TargetDomainName": "CORP", "IpAddress": "10.99.14.1",
                      "Status": "0xC000006D", "SubStatus": "0xC000006A", "LogonType": "3"}}});
    event.to_string()
}

fn added_to_domain_admins(user: &TestUser) -> String {
    let event = serde_json::json!({"Event": {
        "System": {"EventID": 4728, "Computer": "dc1.corp.example.test",
                   "TimeCreated": {"#attributes": {"SystemTime": now_rfc3339()}}},
        "EventData": {"SubjectUserName": "mallory", "SubjectDomainName": "CORP",
                      "MemberName": user.dn, "TargetUserName": "Domain Admins",
                      "TargetDomainName": "CORP", "TargetSid": "S-1-5-21-1-2-3-512"}}});
    event.to_string()
}

const RULES: &str = r#"
[automation]
mode = "enforce"

# The issue's rule, with the only opt-ins that let it start: it acts on attacked accounts
# on purpose, and trusts the scoped token's events.
[[automation.rule]]
name = "spray-disable"
technique = "T1110.003"
action = "disable"
on = "users"
act_on_attacked = true
inputs = ["api:token:fwd-scoped"]

# The same, trusting the DC logs only (the default).
[[automation.rule]]
name = "spray-disable-dc-logs"
technique = "T1110.003"
action = "disable"
on = "users"
act_on_attacked = true

[[automation.rule]]
name = "group-disable"
technique = "T1098"
action = "disable"
on = "users"
"#;

fn refusals(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["event"] == "automation-refused")
        .collect()
}

#[test]
fn forged_events_from_a_scoped_token_or_a_forwarder_disable_nobody() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();

    // The issue's rule as it was written is refused at start, saying why and what to do.
    let plain = config_without_tailing(
        &lab,
        dir.path(),
        "\n[automation]\nmode = \"enforce\"\n\n[[automation.rule]]\nname = \"spray-disable\"\ntechnique = \"T1110.003\"\naction = \"disable\"\non = \"users\"\n",
    );
    match Serve::on_config(&plain).try_start() {
        Ok(_) => panic!("riposte serve started with a rule that disables sprayed accounts"),
        Err(said) => {
            assert!(said.contains("act_on_attacked"), "{said}");
            assert!(said.contains("compromised_after_spray"), "{said}");
        }
    }

    let victims: Vec<TestUser> = (0..5).map(|_| lab.create_user("corp", "fev", 0)).collect();
    let promoted = lab.create_user("corp", "fevda", 0);
    let config = config_without_tailing(&lab, dir.path(), RULES);
    let server: Serve = Serve::on_config(&config).stderr_lines().start();
    let scoped = server.token(
        "fwd-scoped",
        "responder",
        &["--forest", "fabrikam", "--action", "unlock"],
    );
    let forwarder = server.token("fwd-plain", "forwarder", &[]);

    // A forwarder only sends events.
    for path in [
        "/api/v1/jobs",
        "/api/v1/alerts",
        "/api/v1/identities?q=ernie",
    ] {
        let r = server.api(&forwarder, "GET", path, None);
        assert_eq!(r.status, 403, "a forwarder read {path}: {}", r.body);
    }

    let mut batch: Vec<String> = victims.iter().map(|u| failure(&u.name)).collect();
    batch.push(added_to_domain_admins(&promoted));
    let body = batch.join("\n") + "\n";
    for token in [&scoped, &forwarder] {
        let r = server.api(token, "POST", "/api/v1/events", Some(&body));
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(
            r.json()["alerts_raised"],
            2,
            "spray and group add: {}",
            r.body
        );
    }

    // Scoped token: spray-disable refuses each of the 5 users (beyond the token's scope);
    // spray-disable-dc-logs and group-disable refuse the alerts (API input not trusted).
    // Forwarder: all three rules refuse its alerts (input not trusted).
    let records = server.wait_for_audit("the refusals", |r| refusals(r).len() >= 10);
    let refused = refusals(&records);
    let beyond_scope = refused
        .iter()
        .filter(|r| {
            r["details"]["why"]
                .as_str()
                .is_some_and(|w| w.contains("sent by token:fwd-scoped whose scope lacks"))
        })
        .count();
    assert_eq!(beyond_scope, 5, "{refused:#?}");
    assert!(
        refused
            .iter()
            .any(|r| r["details"]["input"] == "api:token:fwd-plain"
                && r["actor"] == "automation:group-disable"),
        "{refused:#?}"
    );
    assert!(
        refused
            .iter()
            .all(|r| r["result"] == "denied" && r["job_id"].is_null()),
        "{refused:#?}"
    );

    // Nothing was queued, and every account is enabled, read back over LDAP.
    assert!(server.jobs().is_empty(), "{:#?}", server.jobs());
    for user in victims.iter().chain(std::iter::once(&promoted)) {
        assert_eq!(user.uac() & ACCOUNTDISABLE, 0, "{} was disabled", user.name);
    }
    let audit = crate::harness::riposte_config(&config, &["audit", "verify"]);
    assert_eq!(audit.code, 0, "{}", audit.stdout);
}

/// Whoever fed the events cannot approve the automatic job they caused: a token that a
/// rule trusts posts a 4728, the circuit breaker (no automatic action without a person)
/// makes the job wait for a second person, and that token's approval is refused; another
/// responder's is accepted. (A protected account would not do: automation refuses those
/// outright.)
#[test]
fn whoever_fed_the_evidence_cannot_approve_the_automatic_job() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let vip = lab.create_user("corp", "fevvip", 0);
    let extra = "\n[automation]\nmode = \"enforce\"\ncircuit_breaker = { max_actions = 0, window_minutes = 10 }\n\n[[automation.rule]]\nname = \"group-disable\"\ntechnique = \"T1098\"\naction = \"disable\"\non = \"users\"\ninputs = [\"api:token:soar\"]\n";
    let config = config_without_tailing(&lab, dir.path(), extra);
    let server = Serve::on_config(&config).stderr_lines().start();
    // Tokens of two different people: approval is a person's, never a service token's.
    server.person("sam", "responder");
    server.person("cora", "responder");
    let soar = server.token("soar", "responder", &["--owner", "sam"]);
    let colleague = server.token("colleague", "responder", &["--owner", "cora"]);
    let r = server.api(
        &soar,
        "POST",
        "/api/v1/events",
        Some(&(added_to_domain_admins(&vip) + "\n")),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let job = loop {
        if let Some(j) = server
            .jobs()
            .into_iter()
            .find(|j| j["approval"] == "pending")
        {
            break j;
        }
        assert!(std::time::Instant::now() < deadline, "no pending job");
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert_eq!(job["evidence_input"], "api:token:soar", "{job:#}");
    let id = job["job_id"].as_str().unwrap();
    let path = format!("/api/v1/jobs/{id}/approve");
    let own = server.api(&soar, "POST", &path, Some(r#"{"comment":"mine"}"#));
    assert_eq!(own.status, 403, "{}", own.body);
    // Whichever refusal speaks first, it names the feeder as the requester's side.
    assert!(
        own.body.contains("did not feed the events") || own.body.contains("second person"),
        "{}",
        own.body
    );
    // The same person through another credential of theirs is refused too.
    let sam_laptop = server.token("sam-laptop", "responder", &["--owner", "sam"]);
    let same_person = server.api(
        &sam_laptop,
        "POST",
        &path,
        Some(r#"{"comment":"also mine"}"#),
    );
    assert_eq!(same_person.status, 403, "{}", same_person.body);
    assert_eq!(vip.uac() & ACCOUNTDISABLE, 0, "written before approval");
    let other = server.api(&colleague, "POST", &path, Some(r#"{"comment":"ok"}"#));
    assert_eq!(other.status, 200, "{}", other.body);
}
