//! The audit trail through the binary: `riposte audit verify` and
//! `riposte audit export`, on a private ledger, then against the lab.

use std::path::{Path, PathBuf};

use crate::harness::{riposte_config, start_paused};
use riposte_store::{AuditLog, NewAuditRecord};
use riposte_store_sql::SqliteStore;
use serde_json::{Value, json};
use sqlx::Connection;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A config that parses but names no reachable DC: the audit commands
/// need only the ledger. (The bind password comes from PATH, which is
/// always set: it is never used.)
fn offline_config(dir: &Path) -> PathBuf {
    let path = dir.join("riposte.toml");
    std::fs::write(
        &path,
        "data_dir = \"data\"\n\n[[forest]]\nname = \"corp\"\ndomain = \"corp.example.test\"\n\
         base_dn = \"DC=corp,DC=example,DC=test\"\ndcs = [\"ldaps://127.0.0.99:636\"]\n\
         ca_file = \"/etc/hostname\"\nbind_dn = \"CN=x\"\nbind_password_env = \"PATH\"\n",
    )
    .unwrap();
    path
}

/// Raw SQL on a ledger file, as someone with access to the file could run it.
fn raw_sql(ledger: &Path, sql: &'static str) {
    block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", ledger.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    });
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn verify_exits_1_once_a_record_is_changed_and_export_writes_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let empty = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert_eq!(empty.stdout, "records checked: 0\nintact\n");

    let ledger = dir.path().join("data/riposte.sqlite");
    block_on(async {
        let store = SqliteStore::open(&ledger).await.unwrap();
        for (event, result) in [
            ("sign-in", "success"),
            ("sign-in-failed", "failure"),
            ("token-created", "success"),
        ] {
            store
                .append(NewAuditRecord {
                    actor: "user:alice".into(),
                    source: "api".into(),
                    remote_addr: Some("192.0.2.7".into()),
                    event: event.into(),
                    target: None,
                    job_id: None,
                    result: result.into(),
                    details: json!({ "method": "password" }),
                })
                .await
                .unwrap();
        }
    });

    let intact = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(
        (intact.code, intact.stdout.as_str()),
        (0, "records checked: 3\nintact\n"),
        "{}",
        intact.stderr
    );
    let json = riposte_config(&config, &["--json", "audit", "verify"]).json();
    assert_eq!(
        (json["records"].as_u64(), json["intact"].as_bool()),
        (Some(3), Some(true))
    );

    let ocsf = lines(&riposte_config(&config, &["audit", "export"]).stdout);
    let classes: Vec<_> = ocsf
        .iter()
        .map(|e| {
            (
                e["class_uid"].as_u64().unwrap(),
                e["status_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(classes, vec![(3002, 1), (3002, 2), (6003, 1)]);
    assert_eq!(ocsf[0]["src_endpoint"]["ip"], "192.0.2.7");
    let raw = lines(&riposte_config(&config, &["audit", "export", "--format", "raw"]).stdout);
    assert_eq!(
        raw.iter()
            .map(|r| r["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(raw[1]["prev_hash"], raw[0]["hash"]);
    assert_eq!(
        lines(&riposte_config(&config, &["audit", "export", "--since", "1h"]).stdout).len(),
        3
    );
    let future = riposte_config(
        &config,
        &["audit", "export", "--since", "2099-01-01T00:00:00Z"],
    );
    assert_eq!((future.code, future.stdout.as_str()), (0, ""));
    assert_eq!(
        riposte_config(&config, &["audit", "export", "--since", "soon"]).code,
        2
    );

    // Someone with the file drops the trigger and rewrites a result.
    raw_sql(
        &ledger,
        "DROP TRIGGER audit_log_append_only_update; UPDATE audit_log SET result = 'success' WHERE seq = 2",
    );
    let broken = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(broken.code, 1, "{}\n{}", broken.stdout, broken.stderr);
    assert!(
        broken
            .stdout
            .starts_with("records checked: 3\nbroken at seq 2 (changed): "),
        "{}",
        broken.stdout
    );
    let json = riposte_config(&config, &["--json", "audit", "verify"]);
    assert_eq!(json.code, 1);
    assert_eq!(json.json()["first_break"]["kind"], "changed");
}

/// The outcome records of a job in an OCSF export.
fn outcomes_of(events: &[Value], job_id: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| {
            e["metadata"]["correlation_uid"] == job_id && e["unmapped"]["event"] == "action-outcome"
        })
        .cloned()
        .collect()
}

#[test]
fn actions_on_the_lab_are_exported_as_ocsf_account_changes_without_secrets() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "aud", 0);

    let disabled = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: audit",
        ],
    );
    assert_eq!(disabled.code, 0, "{}\n{}", disabled.stdout, disabled.stderr);
    let job = disabled.json();
    assert_eq!(job["outcome"], "verified");
    let job_id = job["job_id"].as_str().unwrap();
    let requester = job["requested_by"].as_str().unwrap();

    let reset = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "set-password",
            &user.reference(),
            "--reason",
            "test: audit pw",
        ],
    );
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    let password = reset.json()["new_password"]
        .as_str()
        .expect("the new password")
        .to_string();

    let export = riposte_config(&config, &["audit", "export"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let events = lines(&export.stdout);
    let outcome = outcomes_of(&events, job_id);
    assert_eq!(
        outcome.len(),
        1,
        "one outcome for the disable: {}",
        export.stdout
    );
    let change = &outcome[0];
    assert_eq!(change["class_uid"], 3001);
    assert_eq!(change["category_uid"], 3);
    assert_eq!(change["activity_id"], 5, "Disable");
    assert_eq!(change["status_id"], 1);
    assert_eq!(change["status"], "Success");
    assert_eq!(change["status_detail"], "verified");
    assert_eq!(change["user"]["name"], user.reference().as_str());
    assert_eq!(change["actor"]["user"]["name"], requester);
    assert_eq!(change["metadata"]["product"]["name"], "riposte");
    assert!(change["time"].as_i64().unwrap() > 0);
    let requested: Vec<_> = events
        .iter()
        .filter(|e| {
            e["metadata"]["correlation_uid"] == job_id
                && e["unmapped"]["event"] == "action-requested"
        })
        .collect();
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["actor"]["user"]["name"], requester);
    assert_eq!(requested[0]["unmapped"]["details"]["reason"], "test: audit");
    assert!(
        requested[0]["unmapped"]["seq"].as_i64() < change["unmapped"]["seq"].as_i64(),
        "the request is recorded before its outcome"
    );
    let reset_change = outcomes_of(&events, reset.json()["job_id"].as_str().unwrap());
    assert_eq!(
        (
            reset_change[0]["class_uid"].as_u64(),
            reset_change[0]["activity_id"].as_u64()
        ),
        (Some(3001), Some(4))
    );

    let raw = riposte_config(&config, &["audit", "export", "--format", "raw"]);
    for text in [&export.stdout, &raw.stdout] {
        assert!(
            !text.contains(&password),
            "the new password reached the audit trail"
        );
    }
    let verify = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(
        (verify.code, verify.stdout.lines().last()),
        (0, Some("intact")),
        "{}",
        verify.stdout
    );
}

#[test]
fn a_job_finished_by_recovery_is_audited_as_the_system() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "aur", 0);
    let mut child = start_paused(
        &config,
        "after-write",
        60_000,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: audit crash",
        ],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Any command starts recovery first.
    let list = riposte_config(&config, &["--json", "actions", "list"]);
    let job_id = list.json()["jobs"][0]["job_id"]
        .as_str()
        .unwrap()
        .to_string();

    let events = lines(&riposte_config(&config, &["audit", "export"]).stdout);
    let outcome = outcomes_of(&events, &job_id);
    assert_eq!(outcome.len(), 1, "{events:?}");
    assert_eq!(outcome[0]["actor"]["user"]["name"], "system");
    assert_eq!(outcome[0]["status_detail"], "verified");
    assert!(
        outcome[0]["unmapped"]["details"]["recovered_from"].is_string(),
        "{}",
        outcome[0]
    );
    assert_eq!(riposte_config(&config, &["audit", "verify"]).code, 0);
}

#[test]
fn no_action_is_taken_when_its_request_cannot_be_audited() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "aun", 0);
    let uac = user.uac();
    assert_eq!(riposte_config(&config, &["audit", "verify"]).code, 0);
    raw_sql(
        &dir.path().join("data/riposte.sqlite"),
        "CREATE TRIGGER test_audit_unwritable BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'test: the audit trail is unwritable'); END;",
    );
    let run = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: unaudited",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the audit trail is unwritable"),
        "{}",
        run.stderr
    );
    assert_eq!(
        user.uac(),
        uac,
        "the directory was written without an audit record"
    );
    // The job and its request record are written in one transaction: neither is kept.
    let jobs = riposte_config(&config, &["--json", "actions", "list"]).json();
    assert_eq!(
        jobs["jobs"],
        json!([]),
        "a job was kept without its request record"
    );
}
