//! From domain-controller events to automatic containment, end to end on the
//! lab: a real password spray against the lab's KDC (kinit with wrong
//! passwords over many accounts) produces Samba audit events; `riposte serve`
//! tails them, detects the spray and, per its automation rule, forces a
//! password reset on the sprayed accounts; a protected account waits for
//! approval instead. Acting on sprayed (attacked) accounts must be asked for
//! explicitly (`act_on_attacked = true`); see hostile_spray.rs for the default.

use std::time::{Duration, Instant};

use crate::harness::{Serve, riposte_config};
use riposte_testlab::Login;
use serde_json::Value;

#[test]
fn a_real_spray_is_detected_and_the_sprayed_accounts_are_contained() {
    // Alone: its spray at the KDC, and its automation acting on every sprayed account, would
    // reach other tests' users.
    let lab = crate::harness::lab_alone();
    let corp = lab.forest("corp").clone();
    // Five accounts fail from one source: the spray rule's threshold. The
    // protected one fails first, so it is among the accounts the alert names.
    let victims: Vec<_> = (0..4).map(|_| lab.create_user("corp", "spr", 0)).collect();
    let vip = lab.create_user("corp", "sprvip", 0);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[safeguards]\nprotected = [{:?}]\n\n[automation]\nmode = \"enforce\"\n\n[[automation.rule]]\nname = \"spray-reset\"\ntechnique = \"T1110.003\"\naction = \"force-password-reset\"\non = \"users\"\nact_on_attacked = true\n",
        vip.reference()
    );
    let config = lab.private_config(dir.path(), |t| t + &extra);
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("[[ingest]]"),
        "the lab config tails the audit logs"
    );

    // Killed when dropped, whatever happens below.
    let server = Serve::on_config(&config).start();
    assert!(
        server.first_line.contains("listening"),
        "{}",
        server.first_line
    );
    // The tailer starts at the end of the log: give it a moment to open it.
    std::thread::sleep(Duration::from_secs(2));

    // The spray: one wrong password per account, from this host, against the real KDC.
    for user in std::iter::once(&vip).chain(victims.iter()) {
        let login = lab.kinit(&corp, &user.name, "Spring2026!-wrong");
        assert!(!matches!(login, Login::Succeeded));
    }

    // Wait (bounded) for the automatic jobs to reach their states.
    let deadline = Instant::now() + Duration::from_secs(90);
    let jobs = loop {
        let listed = riposte_config(&config, &["--json", "actions", "list"]);
        let jobs: Vec<Value> = listed.json()["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let finished = jobs.iter().filter(|j| j["state"] == "finished").count();
        let refused = riposte_config(&config, &["audit", "export", "--format", "raw"])
            .stdout
            .lines()
            .any(|l| l.contains("automation-refused") && l.contains(&vip.name));
        if finished >= victims.len() && refused {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "no automatic containment within 90 s: {jobs:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    for user in &victims {
        let job = jobs
            .iter()
            .find(|j| {
                j["target"]["reference"]
                    .as_str()
                    .is_some_and(|r| r.ends_with(&user.name))
            })
            .unwrap_or_else(|| panic!("no job for {}: {jobs:#?}", user.name));
        assert_eq!(job["source"], "automation");
        assert_eq!(job["requested_by"], "automation:spray-reset");
        assert_eq!(job["action"], "force-password-reset");
        assert_eq!(job["outcome"], "verified", "{job:#}");
        assert!(job["reason"].as_str().unwrap().contains("T1110.003"));
        assert!(
            matches!(user.kinit(), Login::PasswordExpired(_)),
            "{} still logs in",
            user.name
        );
    }
    // Automation never acts on a protected account: no job, a refusal in the trail.
    assert!(
        !jobs.iter().any(|j| j["target"]["reference"]
            .as_str()
            .is_some_and(|r| r.ends_with(&vip.name))),
        "a job for the protected account: {jobs:#?}"
    );
    assert_eq!(
        vip.kinit(),
        Login::Succeeded,
        "the protected account was written without approval"
    );

    // The alert is stored and visible, and the audit chain holds.
    let audit = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(audit.code, 0, "{}", audit.stdout);
}
