//! Mass containment against the real lab: a bulk disable of an OU is verified
//! account by account and proven with kinit; undo re-enables exactly what it
//! disabled; the dry run changes nothing; pause, resume and cancel leave every
//! child in a true, final state; the API refuses readers and hostile selectors.
//! Each test makes its own OU under OU=Staff (where riposte-action is
//! delegated) and deletes it afterwards.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Serve, riposte_config, start_paused};
use riposte_testlab::{Lab, LabForest, Login, base64};
use serde_json::{Value, json};

const DISABLED: u32 = 0x2;

/// An OU under OU=Staff with users in it, made as the forest's Administrator;
/// deleted (users first) when dropped.
struct TestOu {
    lab: Lab,
    forest: LabForest,
    dn: String,
    users: Vec<(String, String)>,
}

impl TestOu {
    fn new(lab: &Lab, tag: &str, count: usize) -> TestOu {
        let forest = lab.forest("corp").clone();
        let unique = format!("{tag}{}", std::process::id() % 100_000);
        let dn = format!("OU=bulk-{unique},{}", forest.staff_ou);
        let mut ldif = format!("dn: {dn}\nchangetype: add\nobjectClass: organizationalUnit\n\n");
        let mut users = Vec::new();
        for i in 0..count {
            let name = format!("{unique}u{i}");
            assert!(name.len() <= 20, "{name} is too long");
            let password = format!("Bk-{unique}-{i}x!Q9");
            let quoted: Vec<u8> = format!("\"{password}\"")
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect();
            ldif.push_str(&format!(
                "dn: CN={name},{dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: {name}\n\
                 userPrincipalName: {name}@{}\nunicodePwd:: {}\nuserAccountControl: 512\n\n",
                forest.domain,
                base64(&quoted)
            ));
            users.push((name, password));
        }
        lab.modify(&forest, &ldif);
        TestOu {
            lab: lab.clone(),
            forest,
            dn,
            users,
        }
    }

    fn user_dn(&self, i: usize) -> String {
        format!("CN={},{}", self.users[i].0, self.dn)
    }

    fn reference(&self, i: usize) -> String {
        format!("corp:{}", self.users[i].0)
    }

    fn uac(&self, i: usize) -> u32 {
        self.lab
            .read_u32(&self.forest, &self.user_dn(i), "userAccountControl")
    }

    fn kinit(&self, i: usize) -> Login {
        self.lab
            .kinit(&self.forest, &self.users[i].0, &self.users[i].1)
    }
}

impl Drop for TestOu {
    fn drop(&mut self) {
        let mut ldif = String::new();
        for i in 0..self.users.len() {
            ldif.push_str(&format!("dn: {}\nchangetype: delete\n\n", self.user_dn(i)));
        }
        ldif.push_str(&format!("dn: {}\nchangetype: delete\n", self.dn));
        let mut cmd = Command::new("ldapmodify");
        cmd.env("LDAPTLS_CACERT", &self.lab.ca_file)
            .args([
                "-c",
                "-H",
                &self.forest.ldaps_url,
                "-x",
                "-D",
                &self.forest.admin_dn,
                "-y",
            ])
            .arg(&self.forest.admin_password_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Ok(mut child) = cmd.spawn() {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(ldif.as_bytes());
            }
            let _ = child.wait();
        }
    }
}

fn bulk(config: &std::path::Path, args: &[&str]) -> crate::harness::Run {
    let mut all = vec!["--json", "bulk"];
    all.extend_from_slice(args);
    riposte_config(config, &all)
}

fn show(config: &std::path::Path, id: &str) -> Value {
    let out = bulk(config, &["show", id, "--jobs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()
}

#[test]
fn bulk_disable_of_an_ou_is_verified_per_account_and_undo_reenables_only_what_it_disabled() {
    let lab = crate::harness::lab();
    let ou = TestOu::new(&lab, "a", 22);
    // User 0 is protected by configuration, user 1 is already disabled.
    let dir = tempfile::tempdir().unwrap();
    let protected = ou.reference(0);
    let config = lab.private_config(dir.path(), |t| {
        t + &format!("\n[safeguards]\nprotected = [{protected:?}]\n")
    });
    lab.modify(
        &ou.forest,
        &format!(
            "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n",
            ou.user_dn(1)
        ),
    );
    let before: Vec<u32> = (0..ou.users.len()).map(|i| ou.uac(i)).collect();

    // The dry run counts, lists the protected account, and changes nothing.
    let dry = bulk(
        &config,
        &[
            "disable",
            "--ou",
            &ou.dn,
            "--reason",
            "test: bulk dry run",
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan = &dry.json()["plan"];
    assert_eq!(plan["count"], 21, "{plan}");
    assert_eq!(plan["protected"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["protected"][0]["reference"], protected);
    let after: Vec<u32> = (0..ou.users.len()).map(|i| ou.uac(i)).collect();
    assert_eq!(before, after, "the dry run changed an account");
    let listed = bulk(&config, &["list"]);
    assert_eq!(listed.json()["bulk"].as_array().unwrap().len(), 0);

    // The real run: every account verified or already, each read back.
    let run = bulk(
        &config,
        &["disable", "--ou", &ou.dn, "--reason", "test: bulk disable"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let done = run.json();
    let id = done["bulk_id"].as_str().unwrap().to_string();
    assert_eq!(done["state"], "finished");
    assert_eq!(done["counts"]["total"], 21);
    assert_eq!(done["counts"]["verified"], 20);
    assert_eq!(done["counts"]["already"], 1);
    assert_eq!(done["left_out"]["protected"][0]["reference"], protected);
    for i in 1..ou.users.len() {
        assert_ne!(ou.uac(i) & DISABLED, 0, "user {i} is not disabled");
    }
    assert_eq!(
        ou.uac(0) & DISABLED,
        0,
        "the protected account was acted on"
    );
    for i in [2, 11, 21] {
        assert!(
            matches!(ou.kinit(i), Login::Revoked(_)),
            "user {i} can still log in"
        );
    }
    let jobs = show(&config, &id)["jobs"].as_array().unwrap().clone();
    let already = jobs.iter().find(|j| j["outcome"] == "already").unwrap();
    assert_eq!(already["dn"], ou.user_dn(1));

    // Undo re-enables the 20 it disabled, and leaves the already-disabled one alone.
    let undo = bulk(&config, &["undo", &id, "--reason", "test: false positive"]);
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    let undone = undo.json();
    assert_eq!(undone["undo_of"], id.as_str());
    assert_eq!(undone["counts"]["total"], 20);
    assert_eq!(undone["counts"]["verified"], 20);
    assert_ne!(
        ou.uac(1) & DISABLED,
        0,
        "undo enabled an account it never disabled"
    );
    for i in 2..ou.users.len() {
        assert_eq!(ou.uac(i) & DISABLED, 0, "user {i} is still disabled");
    }
    assert_eq!(ou.kinit(2), Login::Succeeded);
    assert_eq!(ou.kinit(21), Login::Succeeded);
}

/// Adds an ACE of its own to user `i`: nobody may write its userAccountControl.
fn deny_uac_writes(lab: &riposte_testlab::Lab, ou: &TestOu, i: usize) {
    let lab_dir = lab.config.parent().expect("the lab config is in .lab");
    let password = std::fs::read_to_string(&ou.forest.admin_password_file).unwrap();
    let out = Command::new("samba-tool")
        .args([
            "dsacl",
            "set",
            "-H",
            &format!("ldap://{}", ou.forest.address),
        ])
        .args(["-U", "Administrator", "-s"])
        .arg(lab_dir.join(&ou.forest.name).join("etc/smb.conf"))
        .arg(format!("--objectdn={}", ou.user_dn(i)))
        .arg(format!("--trusteedn={}", ou.forest.action_dn))
        .arg("--sddl=(OD;;WP;bf967a68-0de6-11d0-a285-00aa003049e2;;WD)")
        .env("PASSWD", password.trim_end())
        .output()
        .expect("samba-tool runs");
    assert!(
        out.status.success(),
        "samba-tool dsacl set failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rights_are_read_once_per_ou_and_an_account_of_its_own_mind_is_denied_by_the_directory() {
    let lab = crate::harness::lab();
    let ou = TestOu::new(&lab, "r", 6);
    deny_uac_writes(&lab, &ou, 3);
    let dir = tempfile::tempdir().unwrap();
    // One child at a time, so later children find the OU's rights read.
    let config = lab.private_config(dir.path(), |t| t + "\n[bulk]\nper_dc = 1\n");
    let run = bulk(
        &config,
        &["disable", "--ou", &ou.dn, "--reason", "test: rights per OU"],
    );
    let done = run.json();
    assert_eq!(done["counts"]["total"], 6, "{done}");
    assert_eq!(done["counts"]["verified"], 5, "{done}");
    assert_eq!(done["counts"]["denied"], 1, "{done}");
    for i in (0..6).filter(|i| *i != 3) {
        assert_ne!(ou.uac(i) & DISABLED, 0, "user {i} is not disabled");
    }
    assert_eq!(ou.uac(3) & DISABLED, 0, "the refusing account changed");
    let id = done["bulk_id"].as_str().unwrap();
    let jobs = show(&config, id)["jobs"].as_array().unwrap().clone();
    let denied = jobs.iter().find(|j| j["outcome"] == "denied").unwrap();
    assert_eq!(denied["dn"], ou.user_dn(3));
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("userAccountControl"),
        "{denied}"
    );
    // Whatever order the children ran in, most found the OU's rights already read.
    let from_ou = jobs
        .iter()
        .map(|j| {
            let one = riposte_config(
                &config,
                &["--json", "actions", "show", j["job_id"].as_str().unwrap()],
            );
            assert_eq!(one.code, 0, "{}", one.stderr);
            one.json()
        })
        .filter(|j| {
            j["evidence"]["notes"].as_array().is_some_and(|n| {
                n.iter().any(|n| {
                    n.as_str()
                        .unwrap()
                        .contains("read once for this account's OU")
                })
            })
        })
        .count();
    assert!(
        from_ou >= 3,
        "{from_ou} children used the OU's rights: {jobs:?}"
    );
}

/// The id of the newest bulk operation in this ledger, once there is one.
fn newest_bulk(config: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = bulk(config, &["list"]).json();
        if let Some(id) = listed["bulk"][0]["bulk_id"].as_str() {
            return id.to_string();
        }
        assert!(Instant::now() < deadline, "no bulk operation was recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pause_stops_new_children_and_resume_finishes_them_cancel_leaves_none_queued() {
    let lab = crate::harness::lab();
    let ou = TestOu::new(&lab, "p", 8);
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t + "\n[bulk]\nper_dc = 2\n");
    // Each child sleeps before its write: pause lands while the first two run.
    let mut child = start_paused(
        &config,
        "before-write",
        1500,
        &[
            "--json",
            "bulk",
            "disable",
            "--ou",
            &ou.dn,
            "--reason",
            "test: pause",
            "--quiet",
        ],
    );
    let id = newest_bulk(&config);
    let paused = bulk(&config, &["pause", &id]);
    assert_eq!(paused.code, 0, "{}", paused.stderr);
    assert_eq!(paused.json()["state"], "paused");
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(5),
        "a paused bulk exits 5 (waiting for a person)"
    );
    let after_pause = show(&config, &id);
    let counts = &after_pause["counts"];
    assert_eq!(counts["running"], 0, "{after_pause}");
    assert!(
        counts["queued"].as_u64().unwrap() > 0,
        "pause came too late: {after_pause}"
    );
    assert!(
        counts["finished"].as_u64().unwrap() <= 4,
        "children kept starting after the pause: {after_pause}"
    );
    let finished = counts["finished"].as_u64().unwrap() as usize;
    let disabled = (0..8).filter(|i| ou.uac(*i) & DISABLED != 0).count();
    assert_eq!(
        disabled, finished,
        "an account changed without a finished job"
    );

    let resumed = bulk(&config, &["resume", &id, "--quiet"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let resumed = resumed.json();
    assert_eq!(resumed["state"], "finished");
    assert_eq!(resumed["counts"]["verified"], 8);
    for i in 0..8 {
        assert_ne!(ou.uac(i) & DISABLED, 0);
    }

    // Cancel: enabling them again, slowly, then cancelled mid-way.
    let mut child = start_paused(
        &config,
        "before-write",
        1500,
        &[
            "--json",
            "bulk",
            "enable",
            "--ou",
            &ou.dn,
            "--reason",
            "test: cancel",
            "--quiet",
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let listed = bulk(&config, &["list"]).json();
    let cancel_id = listed["bulk"][0]["bulk_id"].as_str().unwrap().to_string();
    assert_ne!(cancel_id, id);
    let cancelled = bulk(&config, &["cancel", &cancel_id]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.stderr);
    let _ = child.wait().unwrap();
    let view = show(&config, &cancel_id);
    assert_eq!(view["state"], "cancelled");
    assert_eq!(view["counts"]["queued"], 0, "{view}");
    assert_eq!(view["counts"]["running"], 0, "{view}");
    let jobs = view["jobs"].as_array().unwrap();
    let never_started: Vec<&Value> = jobs
        .iter()
        .filter(|j| {
            j["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("cancelled before it started")
        })
        .collect();
    assert!(!never_started.is_empty(), "{view}");
    for j in jobs {
        assert_eq!(j["state"], "finished", "{j}");
        let dn = j["dn"].as_str().unwrap();
        let i = (0..8).find(|i| ou.user_dn(*i) == dn).unwrap();
        let enabled = ou.uac(i) & DISABLED == 0;
        // Exactly the verified ones were enabled; the cancelled ones were never touched.
        assert_eq!(enabled, j["outcome"] == "verified", "{j}");
    }
}

#[test]
fn hostile_selectors_are_refused_and_nothing_is_recorded() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t);
    let staff = &lab.forest("corp").staff_ou;
    for ou in [
        format!("OU=x\\,{}", lab.forest("corp").base_dn),
        format!("OU=*)(objectClass=*,{staff}"),
        "OU=Staff,DC=elsewhere,DC=test".to_string(),
        "not a dn".to_string(),
    ] {
        let out = bulk(
            &config,
            &["disable", "--ou", &ou, "--reason", "test: hostile"],
        );
        assert_eq!(out.code, 2, "{ou:?}: {}", out.stderr);
    }
    for group in [
        "corp:*",
        "corp:*)(objectClass=*",
        "CN=Domain Admins,CN=Users,DC=x,DC=y",
    ] {
        let out = bulk(
            &config,
            &["disable", "--group", group, "--reason", "test: hostile"],
        );
        assert_eq!(out.code, 2, "{group:?}: {}", out.stderr);
        assert!(out.stderr.contains("group"), "{}", out.stderr);
    }
    assert_eq!(
        bulk(&config, &["list"]).json()["bulk"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let jobs = riposte_config(&config, &["--json", "actions", "list"]);
    assert_eq!(
        jobs.json()["jobs"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "{}",
        jobs.stdout
    );
}

/// `riposte serve` on a free port with its own ledger (the harness's), and the API calls of
/// these tests.
struct Server(Serve);

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.0
    }
}

impl Server {
    fn start(lab: &Lab) -> Server {
        Server(Serve::on_lab(lab, "").start())
    }

    fn token(&self, name: &str, role: &str) -> String {
        self.0.token(name, role, &[])
    }

    fn call(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.0.api_json(token, method, path, body)
    }
}

#[test]
fn the_api_runs_bulk_in_the_service_and_refuses_readers_and_hostile_input() {
    let lab = crate::harness::lab();
    let ou = TestOu::new(&lab, "s", 4);
    let server = Server::start(&lab);
    let reader = server.token("bulk-reader", "reader");
    let responder = server.token("bulk-responder", "responder");
    let body = json!({ "action": "disable", "reason": "test: api bulk",
        "selector": { "kind": "ou", "value": ou.dn } });

    let (status, refused) = server.call(&reader, "POST", "/api/v1/bulk", Some(&body));
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden");
    let hostile = json!({ "action": "disable", "reason": "test: hostile",
        "selector": { "kind": "ou", "value": format!("OU=*)(cn=*,{}", ou.dn) } });
    let (status, bad) = server.call(&responder, "POST", "/api/v1/bulk", Some(&hostile));
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["code"], "invalid_selector");
    let (_, listed) = server.call(&reader, "GET", "/api/v1/bulk", None);
    assert_eq!(listed["bulk"].as_array().unwrap().len(), 0, "{listed}");

    let mut dry = body.clone();
    dry["dry_run"] = json!(true);
    let (status, plan) = server.call(&responder, "POST", "/api/v1/bulk", Some(&dry));
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["plan"]["count"], 4);
    assert_eq!(ou.uac(0) & DISABLED, 0);

    let (status, created) = server.call(&responder, "POST", "/api/v1/bulk", Some(&body));
    assert_eq!(status, 202, "{created}");
    let id = created["bulk_id"].as_str().unwrap().to_string();
    // A reader may watch, not steer.
    let (status, _) = server.call(&reader, "POST", &format!("/api/v1/bulk/{id}/pause"), None);
    assert_eq!(status, 403);
    let deadline = Instant::now() + Duration::from_secs(120);
    let finished = loop {
        let (status, view) = server.call(&reader, "GET", &format!("/api/v1/bulk/{id}"), None);
        assert_eq!(status, 200, "{view}");
        if view["state"] == "finished" {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the service never finished the bulk: {view}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(finished["counts"]["verified"], 4, "{finished}");
    for i in 0..4 {
        assert!(matches!(ou.kinit(i), Login::Revoked(_)));
    }
    let (status, jobs) = server.call(&reader, "GET", &format!("/api/v1/jobs?bulk={id}"), None);
    assert_eq!(status, 200);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 4);
}
