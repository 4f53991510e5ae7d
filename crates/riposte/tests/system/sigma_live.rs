//! Sigma rules live (issue 18): `[detect] rules` run in `riposte ingest` and `riposte serve`
//! beside the pack; their alerts are stored with their input and drive automation under the
//! same trust rules as the pack's (a DC log tailed by riposte is trusted by default, a
//! forwarder's batch is not); a rule that does not parse stops the start naming its file and
//! line; `riposte detect --check-rules` checks a folder; `/metrics` counts what was ingested.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{BIN, Serve, config_without_tailing, now_rfc3339, riposte_config, run};
use riposte_testlab::TestUser;
use serde_json::Value;

const ACCOUNTDISABLE: u32 = 0x2;
const RULE_ID: &str = "riposte-test-sigma-live";

/// A Sigma rule on "a user account was changed" for this test's accounts only (other tests
/// share the lab and the pack's own rules).
fn rule(prefix: &str) -> String {
    format!(
        "title: Account changed by the test's helpdesk\nid: {RULE_ID}\nstatus: test\nlogsource:\n    product: windows\n    service: security\ndetection:\n    selection:\n        EventID: 4738\n        TargetUserName|startswith: '{prefix}'\n    condition: selection\nlevel: high\ntags:\n    - attack.persistence\n    - attack.t1098\n"
    )
}

/// A 4738 for `user`, changed by `helpdesk`, dated now.
fn changed(user: &TestUser) -> String {
    serde_json::json!({"Event": {
        "System": {"EventID": 4738, "Computer": "dc1.corp.example.test",
                   "TimeCreated": {"#attributes": {"SystemTime": now_rfc3339()}}},
        "EventData": {"SubjectUserName": "helpdesk1", "SubjectDomainName": "CORP",
                      "TargetUserName": user.name, "TargetDomainName": "CORP",
                      "TargetSid": "S-1-5-21-1-2-3-4444"}}})
    .to_string()
}

fn rules_dir(dir: &Path, prefix: &str) -> std::path::PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(rules.join("nested")).unwrap();
    std::fs::write(rules.join("nested/account_changed.yml"), rule(prefix)).unwrap();
    rules
}

#[test]
fn a_sigma_rule_loaded_by_ingest_raises_a_stored_alert_naming_the_changed_account() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let user = lab.create_user("corp", "sgi", 0);
    rules_dir(dir.path(), &user.name);
    // Relative to the config file's directory.
    let config = config_without_tailing(&lab, dir.path(), "\n[detect]\nrules = [\"rules\"]\n");
    let events = dir.path().join("events.json");
    std::fs::write(&events, changed(&user) + "\n").unwrap();
    let out = riposte_config(&config, &["--json", "ingest", events.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("1 Sigma rule(s) from 1 file(s)"),
        "{}",
        out.stderr
    );
    let alert: Value = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|a| a["rule_id"] == RULE_ID)
        .unwrap_or_else(|| panic!("no Sigma alert: {}", out.stdout));
    assert_eq!(alert["technique"], "T1098", "{alert:#}");
    assert_eq!(
        alert["entities"]["users"],
        serde_json::json!([format!("CORP\\{}", user.name)]),
        "{alert:#}"
    );
    assert_eq!(
        alert["entities"]["actors"],
        serde_json::json!(["CORP\\helpdesk1"]),
        "{alert:#}"
    );
    assert!(
        alert["input"].as_str().unwrap().starts_with("file:"),
        "{alert:#}"
    );
}

#[test]
fn a_sigma_alert_from_the_tailed_dc_log_disables_but_the_same_from_a_forwarder_does_not() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let ou = lab.create_ou("corp", "sgo");
    let tailed = lab.create_user_in("corp", &ou.dn, "sgt", 0);
    let forged = lab.create_user_in("corp", &ou.dn, "sgt", 0);
    let prefix = format!("sgt{}", std::process::id() % 100_000);
    let rules = rules_dir(dir.path(), &prefix);
    let log = dir.path().join("dc.log");
    std::fs::write(&log, "").unwrap();
    let extra = format!(
        "\n[detect]\nrules = [{rules:?}]\n\n[automation]\nmode = \"enforce\"\n\n[[automation.rule]]\nname = \"sigma-disable\"\nrule_id = \"{RULE_ID}\"\naction = \"disable\"\non = \"users\"\nous = [{ou:?}]\n\n[[ingest]]\nforest = \"corp\"\nsamba_audit_log = {log:?}\n",
        ou = ou.dn
    );
    let config = config_without_tailing(&lab, dir.path(), &extra);
    let server = Serve::on_config(&config).stderr_lines().start();
    let forwarder = server.token("sgfwd", "forwarder", &[]);

    // Forged through the API: stored, but the rule trusts the DC logs only.
    let r = server.api(
        &forwarder,
        "POST",
        "/api/v1/events",
        Some(&(changed(&forged) + "\n")),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.json()["alerts_raised"].as_u64() >= Some(1), "{}", r.body);
    server.wait_for_audit("the refusal of the forwarder's alert", |records| {
        records.iter().any(|r| {
            r["event"] == "automation-refused"
                && r["details"]["input"] == "api:token:sgfwd"
                && r["actor"] == "automation:sigma-disable"
        })
    });

    // The DC log riposte tails: trusted, and the account is disabled (read back over LDAP).
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "{}", changed(&tailed)).unwrap();
    drop(f);
    let deadline = Instant::now() + Duration::from_secs(90);
    while tailed.uac() & ACCOUNTDISABLE == 0 {
        assert!(
            Instant::now() < deadline,
            "the tailed Sigma alert disabled nobody: {:#?}\n{}",
            server.jobs(),
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let jobs = server.jobs();
    assert!(
        jobs.iter()
            .all(|j| j["requested_by"] == "automation:sigma-disable"),
        "{jobs:#?}"
    );
    assert_eq!(jobs.len(), 1, "only the tailed account: {jobs:#?}");
    assert_eq!(
        forged.uac() & ACCOUNTDISABLE,
        0,
        "the forwarder's event disabled {}",
        forged.name
    );

    // /metrics counts what came in, by input and rule, and the tailer's position.
    let admin = server.token("sgmetrics", "admin", &[]);
    let metrics = server.api(&admin, "GET", "/metrics", None);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    let m = metrics.body;
    for line in [
        "riposte_ingest_events_total{input=\"api:token:sgfwd\"} 1",
        "riposte_ingest_events_total{input=\"tail:corp\"} 1",
        "riposte_ingest_unparsed_total{input=\"tail:corp\"} 0",
        &format!("riposte_alerts_total{{rule=\"{RULE_ID}\"}} 2"),
        "riposte_tail_bytes_behind{input=\"tail:corp\"} 0",
    ] {
        assert!(m.lines().any(|l| l == line), "no {line:?} in:\n{m}");
    }
    assert!(
        m.lines()
            .any(|l| l.starts_with("riposte_tail_lag_seconds{input=\"tail:corp\"} ")),
        "{m}"
    );
    assert!(m.contains("riposte_detector_windows_held "), "{m}");
    // An unreadable line moves the unparsed counter.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "  {{\"timestamp\": broken").unwrap();
    drop(f);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = server.api(&admin, "GET", "/metrics", None).body;
        if m.lines()
            .any(|l| l == "riposte_ingest_unparsed_total{input=\"tail:corp\"} 1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "unparsed not counted:\n{m}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_broken_rule_stops_serve_and_ingest_naming_its_file_and_line() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path(), "nobody-at-all");
    std::fs::write(
        rules.join("broken.yml"),
        "title: broken\nid: b\nlogsource: {product: windows}\ndetection:\n    selection:\n        TargetUserName|nosuchmodifier: x\n    condition: selection\n",
    )
    .unwrap();
    let config = config_without_tailing(&lab, dir.path(), "\n[detect]\nrules = [\"rules\"]\n");
    match Serve::on_config(&config).try_start() {
        Ok(_) => panic!("riposte serve started with a broken Sigma rule"),
        Err(said) => {
            assert!(said.contains("broken.yml line 6"), "{said}");
            assert!(said.contains("--check-rules"), "{said}");
        }
    }
    let events = dir.path().join("events.json");
    std::fs::write(&events, "").unwrap();
    let out = riposte_config(&config, &["ingest", events.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("broken.yml line 6"), "{}", out.stderr);
    assert!(out.stderr.contains("[detect] rules"), "{}", out.stderr);
}

#[test]
fn check_rules_counts_a_good_folder_and_names_each_bad_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path(), "x");
    let check = |dir: &Path| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["detect", "--check-rules"]).arg(dir);
        run(cmd)
    };
    let good = check(&rules);
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(
        good.stderr.contains("1 Sigma rule(s) in 1 file(s)"),
        "{}",
        good.stderr
    );
    std::fs::write(rules.join("a_yaml.yml"), "title: x\ndetection: [1, 2\n").unwrap();
    std::fs::write(
        rules.join("b_condition.yaml"),
        "title: c\nlogsource: {product: windows}\ndetection:\n    sel:\n        EventID: 1\n    condition: sel and nothere\n",
    )
    .unwrap();
    let bad = check(&rules);
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    assert!(bad.stdout.contains("a_yaml.yml line 3"), "{}", bad.stdout);
    assert!(
        bad.stdout.contains("b_condition.yaml line 6"),
        "{}",
        bad.stdout
    );
    assert!(
        bad.stderr.contains("2 bad Sigma rule file(s)"),
        "{}",
        bad.stderr
    );
}
