//! A DC stopped in the middle of a bulk action: CORP is configured with its
//! second DC (dc2) first, a bulk disable runs through it, and dc2's Samba is
//! stopped while children are in flight. Work moves to dc1; every child ends
//! in one final outcome (verified, read back on the DC that answered, or an
//! honest failed); nothing is left running; the audit chain verifies. dc2 is
//! started again afterwards, whatever happens.
//!
//! dc2 goes away, not dc1, so that the lab's first DC (which every other test
//! and the lab's own tools use) is never taken down. It holds the lab alone
//! (`harness::lab_alone`), so no other test of this binary sees dc2 stopped.
//!
//! Needs the Samba lab with CORP's second DC (`scripts/lab up`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, riposte_config};
use riposte_testlab::{Lab, Login, TestUser};
use serde_json::Value;

const USERS: usize = 16;

/// Starts dc2 again when dropped, so a failing test leaves the lab whole.
struct Restart<'a> {
    lab: &'a Lab,
    key: &'static str,
}

impl Drop for Restart<'_> {
    fn drop(&mut self) {
        self.lab.start_dc(self.key);
        self.lab.replicate(self.key);
    }
}

fn show_bulk(config: &std::path::Path, id: &str) -> Value {
    let out = riposte_config(config, &["--json", "bulk", "show", id, "--jobs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()
}

#[test]
fn a_dc_stopped_mid_bulk_moves_the_work_to_the_other_dc_and_leaves_nothing_running() {
    // Alone: it stops dc2 (see above).
    let lab = crate::harness::lab_alone();
    let dc1 = lab.dc("corp", "corp");
    let dc2 = lab.dc("corp", "corp2");
    let users: Vec<TestUser> = (0..USERS)
        .map(|_| lab.create_user("corp", "dcl", 0))
        .collect();
    lab.replicate("corp2");

    let dir = tempfile::tempdir().unwrap();
    let line = format!("dcs = [{:?}]", dc1.ldaps_url);
    let dcs = format!(
        "dcs = [{:?}, {:?}]\nconnect_timeout_secs = 2\noperation_timeout_secs = 3",
        dc2.ldaps_url, dc1.ldaps_url
    );
    let config = lab.private_config(dir.path(), |t| {
        assert!(t.contains(&line));
        t.replacen(&line, &dcs, 1) + "\n[bulk]\nper_dc = 2\n"
    });
    let references: Vec<String> = users.iter().map(|u| u.reference()).collect();
    let list = dir.path().join("targets.txt");
    std::fs::write(&list, references.join("\n") + "\n").unwrap();

    // Each child pauses on both sides of its write, so several are in flight
    // (some written, some not) when dc2 stops.
    let mut bulk = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["--json", "bulk", "disable", "--from-file"])
        .arg(&list)
        .args(["--reason", "test: DC lost mid-bulk", "--quiet"])
        .env(
            "RIPOSTE_FAILPOINTS",
            "before-write=sleep:400,after-write=sleep:400",
        )
        .env("RIPOSTE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("riposte bulk starts");
    let stderr = bulk.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Stop dc2 once a few writes have landed there.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut landed = 0;
    while landed < 3 {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains("failpoint after-write") => landed += 1,
            Ok(_) => {}
            Err(_) => panic!("the bulk never wrote through dc2 ({landed} writes seen)"),
        }
    }
    let restart = Restart {
        lab: &lab,
        key: "corp2",
    };
    lab.stop_dc("corp2");

    let status = bulk.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut bulk.stdout.take().unwrap(), &mut stdout).unwrap();
    let done: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bulk output is not JSON ({e}): {stdout}"));
    let id = done["bulk_id"].as_str().expect("bulk_id").to_string();
    assert_eq!(done["state"], "finished", "{done}");

    let shown = show_bulk(&config, &id);
    let jobs = shown["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), USERS, "{shown}");
    let (mut on_dc1, mut on_dc2, mut failed) = (0, 0, 0);
    for job in &jobs {
        let job_id = job["job_id"].as_str().unwrap();
        assert_eq!(job["state"], "finished", "left unfinished: {job}");
        let full = riposte_config(&config, &["--json", "actions", "show", job_id]).json();
        let finished = full["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["state"] == "finished")
            .count();
        assert_eq!(finished, 1, "{full}");
        let user = users
            .iter()
            .find(|u| job["target"] == u.reference())
            .expect("a child per user");
        match job["outcome"].as_str() {
            Some("verified") => {
                let dc = full["evidence"]["dc"].as_str().unwrap_or_default();
                if dc == dc1.ldaps_url {
                    on_dc1 += 1;
                    // Read back on dc1, so in force there now.
                    assert_ne!(user.uac() & 0x2, 0, "{full}");
                    assert!(matches!(user.kinit(), Login::Revoked(_)), "{full}");
                } else {
                    assert_eq!(dc, dc2.ldaps_url, "{full}");
                    on_dc2 += 1;
                }
            }
            Some("failed") => {
                failed += 1;
                let message = job["message"].as_str().unwrap_or_default();
                assert!(!message.is_empty(), "{full}");
            }
            other => panic!("outcome {other:?}: {full}"),
        }
    }
    assert!(on_dc2 >= 1, "nothing was verified on dc2 before it stopped");
    assert!(on_dc1 >= 1, "no work moved to dc1 after dc2 stopped");
    assert_eq!(
        done["counts"]["verified"].as_u64().unwrap() as usize,
        on_dc1 + on_dc2,
        "{done}"
    );
    assert_eq!(
        done["counts"]["failed"].as_u64().unwrap_or(0) as usize,
        failed,
        "{done}"
    );
    assert!(
        status.code() == Some(0) || failed > 0,
        "exit {status:?} with every child verified"
    );

    // dc2 back: what it verified before it stopped reaches dc1, and is in force.
    drop(restart);
    for job in &jobs {
        if job["outcome"] == "verified" {
            let user = users
                .iter()
                .find(|u| job["target"] == u.reference())
                .unwrap();
            assert_ne!(
                user.uac() & 0x2,
                0,
                "{} not disabled after replication",
                user.name
            );
        }
    }
    let verify = riposte_config(&config, &["--json", "audit", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    println!(
        "FIGURES dc stopped mid-bulk: {USERS} children, {on_dc2} verified on dc2 before it stopped, {on_dc1} verified on dc1 after, {failed} failed, 0 left running"
    );
}
