//! Issue 14, attack 2: a real attack is enough. A password spray against the lab's KDC
//! (kinit with a wrong password for several accounts, one attempt each, under the lockout
//! threshold) makes every victim "attacked"; one account's password was right and it
//! logs on from the same source. `riposte serve` tails the lab's Samba audit log:
//! every victim stays enabled, and the account that logged on is contained (disabled,
//! proven with kinit refused), through the built-in `riposte.compromised_after_spray`.
//!
//! In the lab every client is this host, and Samba logs the KDC's peer as 127.0.0.11 (the
//! DC's own address): riposte's own LDAP binds come from the same "attacking source". The
//! rule is therefore limited to an OU this test creates, so nothing it does can reach
//! another test's accounts.

use std::time::{Duration, Instant};

use crate::harness::Serve;
use riposte_testlab::{Login, TestUser};
use serde_json::Value;

const ACCOUNTDISABLE: u32 = 0x2;

#[test]
fn a_real_spray_leaves_its_victims_enabled_and_contains_the_account_whose_password_was_right() {
    // Alone: its spray at the KDC would feed other tests that tail the DC logs.
    let lab = crate::harness::lab_alone();
    let corp = lab.forest("corp").clone();
    let ou = lab.create_ou("corp", "hspray");
    let victims: Vec<TestUser> = (0..5)
        .map(|_| lab.create_user_in("corp", &ou.dn, "hsv", 0))
        .collect();
    let found = lab.create_user_in("corp", &ou.dn, "hsfound", 0);
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        "\n[automation]\nmode = \"enforce\"\n\n[[automation.rule]]\nname = \"contain-compromised\"\nrule_id = \"riposte.compromised_after_spray\"\naction = \"disable\"\non = \"users\"\nous = [{:?}]\n",
        ou.dn
    );
    let config = lab.private_config(dir.path(), |t| t + &rules);
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("[[ingest]]"),
        "the lab config tails the audit logs"
    );
    let server = Serve::on_config(&config).stderr_lines().start();
    // The tailer starts at the end of the log: give it a moment to open it.
    std::thread::sleep(Duration::from_secs(2));

    // The spray: one wrong password per account (the lockout threshold is 5), then the
    // account whose password the attacker "guessed" logs on from the same host.
    for user in &victims {
        let login = lab.kinit(&corp, &user.name, "Spring2026!-wrong");
        assert!(!matches!(login, Login::Succeeded), "{login:?}");
    }
    assert_eq!(found.kinit(), Login::Succeeded);

    let deadline = Instant::now() + Duration::from_secs(90);
    let job = loop {
        let jobs = server.jobs();
        if let Some(job) = jobs.iter().find(|j| {
            j["target"]["reference"]
                .as_str()
                .is_some_and(|r| r.ends_with(&found.name))
                && j["state"] == "finished"
        }) {
            break job.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the compromised account was not contained within 90 s: {jobs:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(job["outcome"], "verified", "{job:#}");
    assert_eq!(job["requested_by"], "automation:contain-compromised");
    assert_eq!(job["evidence_input"], "tail:corp", "{job:#}");
    assert!(job["reason"].as_str().unwrap().contains("T1078"), "{job:#}");
    assert!(
        matches!(found.kinit(), Login::Revoked(_)),
        "the compromised account still logs on"
    );
    assert_ne!(found.uac() & ACCOUNTDISABLE, 0);

    // Every victim is enabled, read back over LDAP (a kinit would be a logon from the
    // attacking source, which is exactly what this rule contains), and no job names one.
    let jobs = server.jobs();
    for user in &victims {
        assert_eq!(user.uac() & ACCOUNTDISABLE, 0, "{} was disabled", user.name);
        assert!(
            !jobs.iter().any(|j: &Value| j["target"]["reference"]
                .as_str()
                .is_some_and(|r| r.ends_with(&user.name))),
            "a job names the victim {}: {jobs:#?}",
            user.name
        );
    }
    drop(server);
    let audit = crate::harness::riposte_config(&config, &["audit", "verify"]);
    assert_eq!(audit.code, 0, "{}", audit.stdout);
}
