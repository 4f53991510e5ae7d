//! riposte against the real Samba AD lab (`scripts/lab up`). Every effective
//! outcome is proven with a real Kerberos login, not only by attributes.

use crate::harness::{
    metadata_version, riposte, riposte_config, start_paused, version_step_of_one_disable,
};
use riposte_testlab::Login;

const ACCOUNTDISABLE: u32 = 0x2;
const NORMAL_ACCOUNT: u32 = 0x200;
const DONT_EXPIRE_PASSWORD: u32 = 0x10000;
const SMARTCARD_REQUIRED: u32 = 0x40000;
const NOT_DELEGATED: u32 = 0x100000;

#[test]
fn disable_is_verified_and_kerberos_refuses_the_account() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "dis", 0);
    assert_eq!(user.kinit(), Login::Succeeded);

    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: contain",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let job = run.json();
    assert_eq!(job["outcome"], "verified");
    assert_eq!(job["action"], "disable");
    assert_eq!(job["reason"], "test: contain");
    assert_eq!(job["target"]["dn"], user.dn.as_str());
    assert!(job["job_id"].is_string());
    let requester = job["requested_by"].as_str().unwrap();
    assert!(
        requester.starts_with("cli:") && !requester.contains("unknown"),
        "{requester}"
    );
    let evidence = &job["evidence"];
    assert_eq!(evidence["before"]["userAccountControl"], NORMAL_ACCOUNT);
    assert_eq!(
        evidence["after"]["userAccountControl"],
        NORMAL_ACCOUNT | ACCOUNTDISABLE
    );
    let meta = &evidence["written_metadata"][0];
    assert_eq!(meta["attribute"], "userAccountControl");
    assert!(meta["version"].as_u64().unwrap() >= 2, "{meta}");

    assert!(
        matches!(user.kinit(), Login::Revoked(_)),
        "kinit after disable: {:?}",
        user.kinit()
    );
    assert_eq!(user.uac(), NORMAL_ACCOUNT | ACCOUNTDISABLE);

    let again = riposte(
        &lab,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: again",
        ],
    );
    assert_eq!(
        (again.code, again.outcome().as_str()),
        (0, "already"),
        "{}",
        again.stderr
    );
    assert!(
        again.json()["evidence"]["writes"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let undo = riposte(
        &lab,
        &[
            "--json",
            "user",
            "enable",
            &user.reference(),
            "--reason",
            "test: undo",
        ],
    );
    assert_eq!(
        (undo.code, undo.outcome().as_str()),
        (0, "verified"),
        "{}",
        undo.stderr
    );
    assert_eq!(user.kinit(), Login::Succeeded);
}

#[test]
fn disable_keeps_every_other_uac_bit() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "bits", NOT_DELEGATED | DONT_EXPIRE_PASSWORD);
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: bits",
        ],
    );
    assert_eq!(run.outcome(), "verified", "{}", run.stderr);
    assert_eq!(
        user.uac(),
        NORMAL_ACCOUNT | NOT_DELEGATED | DONT_EXPIRE_PASSWORD | ACCOUNTDISABLE
    );
}

#[test]
fn forced_reset_on_an_ordinary_user_expires_the_password() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "rst", 0);
    assert_eq!(user.kinit(), Login::Succeeded);
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "force-password-reset",
            &user.reference(),
            "--reason",
            "test: reset",
        ],
    );
    assert_eq!(
        (run.code, run.outcome().as_str()),
        (0, "verified"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let after = &run.json()["evidence"]["after"];
    assert_eq!(after["pwdLastSet"], 0);
    assert!(
        after["msDS-User-Account-Control-ComputedFlags"]
            .to_string()
            .contains("PASSWORD_EXPIRED")
    );
    assert!(
        matches!(user.kinit(), Login::PasswordExpired(_)),
        "kinit after reset: {:?}",
        user.kinit()
    );
}

/// The failure the product exists to catch: AD accepts pwdLastSet=0 on an
/// account whose password never expires, and nothing changes.
#[test]
fn forced_reset_on_bert_is_ineffective_until_the_flag_is_cleared() {
    // Alone: it rewrites the seeded bert, whom other tests read.
    let lab = crate::harness::lab_alone();
    let corp = lab.forest("corp").clone();
    let bert_dn = format!("CN=bert,{}", corp.staff_ou);
    let restore_bert = || {
        lab.modify(
            &corp,
            &format!(
                "dn: {bert_dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: {}\n-\nreplace: pwdLastSet\npwdLastSet: -1\n",
                NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
            ),
        )
    };
    restore_bert();
    let password = std::fs::read_to_string(&corp.users_password_file).unwrap();
    let password = password.trim_end();
    assert_eq!(lab.kinit(&corp, "bert", password), Login::Succeeded);
    let pwd_version = metadata_version(&lab, "corp:bert", "pwdLastSet");

    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "force-password-reset",
            "corp:bert",
            "--reason",
            "test: bert",
        ],
    );
    assert_eq!(
        run.code, 3,
        "exit status for ineffective\n{}\n{}",
        run.stdout, run.stderr
    );
    let job = run.json();
    assert_eq!(job["outcome"], "ineffective");
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .contains("DONT_EXPIRE_PASSWORD"),
        "{}",
        job["message"]
    );
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .contains("--clear-blocking-flags")
    );
    assert_eq!(
        metadata_version(&lab, "corp:bert", "pwdLastSet"),
        pwd_version,
        "nothing may be written"
    );
    assert_eq!(
        lab.kinit(&corp, "bert", password),
        Login::Succeeded,
        "bert still logs in"
    );

    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "force-password-reset",
            "corp:bert",
            "--reason",
            "test: bert",
            "--clear-blocking-flags",
        ],
    );
    assert_eq!(
        (run.code, run.outcome().as_str()),
        (0, "verified"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let evidence = &run.json()["evidence"];
    assert_eq!(evidence["cleared_flags"][0], "DONT_EXPIRE_PASSWORD");
    assert_eq!(evidence["after"]["userAccountControl"], NORMAL_ACCOUNT);
    assert!(matches!(
        lab.kinit(&corp, "bert", password),
        Login::PasswordExpired(_)
    ));
    restore_bert();
    assert_eq!(lab.kinit(&corp, "bert", password), Login::Succeeded);
}

#[test]
fn forced_reset_on_a_smart_card_user_is_ineffective() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "sc", SMARTCARD_REQUIRED);
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "force-password-reset",
            &user.reference(),
            "--reason",
            "test: sc",
        ],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.json()["message"]
            .as_str()
            .unwrap()
            .contains("SMARTCARD_REQUIRED")
    );
}

#[test]
fn the_tier0_admin_is_denied_with_the_delegation_that_would_allow_it() {
    let lab = crate::harness::lab();
    let corp = lab.forest("corp").clone();
    let admin_dn = format!("CN=tier0admin,{}", corp.tier0_ou);
    let uac_before = lab.read_u32(&corp, &admin_dn, "userAccountControl");
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "disable",
            "corp:tier0admin",
            "--reason",
            "test: tier0",
        ],
    );
    assert_eq!(
        run.code, 4,
        "exit status for denied\n{}\n{}",
        run.stdout, run.stderr
    );
    let job = run.json();
    assert_eq!(job["outcome"], "denied");
    let message = job["message"].as_str().unwrap();
    assert!(
        message.contains("riposte-action") && message.contains("tier0admin"),
        "{message}"
    );
    assert!(message.contains("userAccountControl"), "{message}");
    let delegation = &job["evidence"]["delegation"];
    assert!(
        delegation["samba_tool"][0]
            .as_str()
            .unwrap()
            .contains("samba-tool dsacl set")
    );
    assert!(
        delegation["samba_tool"][0]
            .as_str()
            .unwrap()
            .contains("bf967a68-0de6-11d0-a285-00aa003049e2")
    );
    assert!(
        delegation["container"]
            .as_str()
            .unwrap()
            .starts_with("CN=AdminSDHolder")
    );
    assert_eq!(
        lab.read_u32(&corp, &admin_dn, "userAccountControl"),
        uac_before,
        "nothing may be written"
    );
    let human = riposte(
        &lab,
        &[
            "user",
            "disable",
            "corp:tier0admin",
            "--reason",
            "test: tier0 text",
        ],
    );
    assert_eq!(human.code, 4);
    assert!(human.stdout.contains("dsacls"), "{}", human.stdout);
}

#[test]
fn filter_injection_matches_nothing_and_records_nothing() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let config = lab.private_config(dir.path(), |t| t);
    for hostile in [
        "*)(sAMAccountName=*",
        "corp:*",
        "*",
        "corp:ernie)(|(objectClass=*",
        "ern*",
    ] {
        let show = riposte_config(&config, &["user", "show", hostile]);
        assert_eq!(show.code, 2, "{hostile}: {}", show.stdout);
        assert!(
            show.stderr.contains("no user matches"),
            "{hostile}: {}",
            show.stderr
        );
        let act = riposte_config(
            &config,
            &["user", "disable", hostile, "--reason", "test: injection"],
        );
        assert_eq!(act.code, 2, "{hostile}: {}", act.stdout);
    }
    let list = riposte_config(&config, &["--json", "actions", "list"]);
    assert_eq!(
        list.json()["jobs"].as_array().unwrap().len(),
        0,
        "bad input recorded a job"
    );
}

#[test]
fn references_by_upn_sid_and_dn_find_the_same_account() {
    let lab = crate::harness::lab();
    let by_name = riposte(&lab, &["--json", "user", "show", "corp:ernie"]).json();
    let sid = by_name["sid"].as_str().unwrap().to_string();
    let dn = by_name["dn"].as_str().unwrap().to_string();
    for reference in ["ernie@corp.example.test", sid.as_str(), dn.as_str()] {
        let shown = riposte(&lab, &["--json", "user", "show", reference]);
        assert_eq!(shown.code, 0, "{reference}: {}", shown.stderr);
        assert_eq!(shown.json()["dn"], dn.as_str(), "{reference}");
    }
}

#[test]
fn an_ambiguous_or_unknown_reference_is_bad_input() {
    let lab = crate::harness::lab();
    let ambiguous = riposte(&lab, &["user", "show", "ernie"]);
    assert_eq!(ambiguous.code, 2);
    assert!(
        ambiguous.stderr.contains("corp:ernie") && ambiguous.stderr.contains("fabrikam:ernie"),
        "{}",
        ambiguous.stderr
    );
    let unknown = riposte(&lab, &["user", "show", "nobody-here"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("corp") && unknown.stderr.contains("fabrikam"),
        "{}",
        unknown.stderr
    );
    let no_reason = riposte(&lab, &["user", "disable", "corp:ernie", "--reason", " "]);
    assert_eq!(no_reason.code, 2);
    assert!(no_reason.stderr.contains("reason"), "{}", no_reason.stderr);
}

#[test]
fn an_unreachable_dc_gives_failed_and_the_job_is_recorded() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let config = lab.private_config(dir.path(), |t| {
        t.replace("ldaps://127.0.0.11:636", "ldaps://127.0.0.99:636")
    });
    let run = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "disable",
            "corp:ernie",
            "--reason",
            "test: dead dc",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let job = run.json();
    assert_eq!(job["outcome"], "failed");
    assert!(
        job["message"].as_str().unwrap().contains("127.0.0.99"),
        "{}",
        job["message"]
    );
    let list = riposte_config(
        &config,
        &["--json", "actions", "list", "--outcome", "failed"],
    )
    .json();
    assert_eq!(list["jobs"][0]["job_id"], job["job_id"]);
}

#[test]
fn failover_reaches_the_next_dc() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let config = lab.private_config(dir.path(), |t| {
        t.replace(
            "dcs = [\"ldaps://127.0.0.11:636\"]",
            "dcs = [\"ldaps://127.0.0.99:636\", \"ldaps://127.0.0.11:636\"]",
        )
    });
    let user = lab.create_user("corp", "fo", 0);
    let run = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: failover",
        ],
    );
    assert_eq!(run.outcome(), "verified", "{}", run.stderr);
    assert_eq!(run.json()["evidence"]["dc"], "ldaps://127.0.0.11:636");
}

#[test]
fn starttls_works_and_plaintext_binds_are_refused() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let starttls = lab.private_config(dir.path(), |t| {
        t.replace("ldaps://127.0.0.11:636", "ldap://127.0.0.11:389")
            .replacen("tls = \"ldaps\"", "tls = \"starttls\"", 1)
    });
    let shown = riposte_config(&starttls, &["user", "show", "corp:ernie"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let plain = lab.private_config(dir.path(), |t| {
        t.replace("ldaps://127.0.0.11:636", "ldap://127.0.0.11:389")
            .replacen("tls = \"ldaps\"", "tls = \"none\"", 1)
    });
    let refused = riposte_config(&plain, &["user", "show", "corp:ernie"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("insecure = true"),
        "{}",
        refused.stderr
    );
}

#[test]
fn unlock_clears_a_real_lockout() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "lck", 0);
    for _ in 0..8 {
        let _ = lab.kinit(&user.forest, &user.name, "wrong-password-1A!");
    }
    let shown = riposte(&lab, &["--json", "user", "show", &user.reference()]).json();
    assert_eq!(
        shown["locked"], true,
        "the lab's lockout policy did not lock the user: {shown}"
    );
    assert!(
        matches!(user.kinit(), Login::Revoked(_)),
        "a locked user cannot log in"
    );
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "unlock",
            &user.reference(),
            "--reason",
            "test: unlock",
        ],
    );
    assert_eq!(
        (run.code, run.outcome().as_str()),
        (0, "verified"),
        "{}",
        run.stderr
    );
    assert_eq!(user.kinit(), Login::Succeeded);
}

#[test]
fn set_password_is_shown_once_works_and_is_never_stored() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "pw", 0);
    let run = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "set-password",
            &user.reference(),
            "--reason",
            "test: pw",
        ],
    );
    assert_eq!(
        (run.code, run.outcome().as_str()),
        (0, "verified"),
        "{}",
        run.stderr
    );
    let password = run.json()["new_password"]
        .as_str()
        .expect("the new password is shown")
        .to_string();
    assert_eq!(
        lab.kinit(&user.forest, &user.name, &password),
        Login::Succeeded
    );
    assert!(
        !matches!(user.kinit(), Login::Succeeded),
        "the old password still works"
    );
    let shown = riposte_config(
        &config,
        &[
            "--json",
            "actions",
            "show",
            run.json()["job_id"].as_str().unwrap(),
        ],
    );
    assert!(
        !shown.stdout.contains(&password),
        "the password reached the ledger"
    );
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "the password is in the data directory"
        );
    }
}

#[test]
fn a_concurrent_uac_change_during_disable_is_not_lost() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "cas", 0);
    let child = start_paused(
        &config,
        "before-write",
        3_000,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: cas",
        ],
    );
    // Someone else changes the account between riposte's read and its write.
    user.set_uac(NORMAL_ACCOUNT | NOT_DELEGATED);
    let out = child.wait_with_output().unwrap();
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["outcome"], "verified", "{job}");
    assert_eq!(
        user.uac(),
        NORMAL_ACCOUNT | NOT_DELEGATED | ACCOUNTDISABLE,
        "the concurrent change was lost"
    );
    assert!(
        job["evidence"]["notes"]
            .to_string()
            .contains("changed concurrently"),
        "{job}"
    );
}

#[test]
fn a_crash_after_the_write_is_re_verified_at_next_start_never_written_twice() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "crw", 0);
    let version = metadata_version(&lab, &user.reference(), "userAccountControl");
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
            "test: crash",
        ],
    );
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    let running = riposte_config(&config, &["--json", "actions", "list"]);
    let jobs = running.json()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1);
    // `actions list` itself started riposte again, so the job is already recovered.
    assert_eq!(jobs[0]["state"], "finished", "left running: {}", jobs[0]);
    assert_eq!(jobs[0]["outcome"], "verified", "{}", jobs[0]);
    assert!(
        jobs[0]["evidence"]["writes"].as_array().unwrap().is_empty(),
        "written again: {}",
        jobs[0]
    );
    assert_eq!(
        metadata_version(&lab, &user.reference(), "userAccountControl"),
        version + version_step_of_one_disable(&lab),
        "exactly one write"
    );
    assert!(matches!(user.kinit(), Login::Revoked(_)));
    assert!(running.stderr.contains("interrupted"), "{}", running.stderr);
}

#[test]
fn a_crash_before_the_write_is_completed_at_next_start() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "crb", 0);
    let version = metadata_version(&lab, &user.reference(), "userAccountControl");
    let mut child = start_paused(
        &config,
        "before-write",
        60_000,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: crash",
        ],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let job_id =
        riposte_config(&config, &["--json", "actions", "list"]).json()["jobs"][0]["job_id"]
            .as_str()
            .unwrap()
            .to_string();
    let shown = riposte_config(&config, &["--json", "actions", "show", &job_id]).json();
    assert_eq!(shown["outcome"], "verified", "{shown}");
    assert_eq!(
        metadata_version(&lab, &user.reference(), "userAccountControl"),
        version + version_step_of_one_disable(&lab),
        "exactly one write"
    );
    assert!(matches!(user.kinit(), Login::Revoked(_)));
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

#[test]
fn on_the_cli_a_protected_account_needs_another_person_to_approve() {
    let lab = crate::harness::lab();
    let dir = tempdir();
    let user = lab.create_user("corp", "cliap", 0);
    let config = lab.private_config(dir.path(), |t| {
        t + &format!("\n[safeguards]\nprotected = [{:?}]\n", user.reference())
    });
    let admin = |args: &[&str]| riposte_config(&config, args);
    for who in ["alice", "bob"] {
        assert_eq!(
            admin(&["person", "add", "--name", who, "--role", "responder"]).code,
            0
        );
    }
    let token_of = |who: &str| {
        let out = admin(&[
            "--json",
            "token",
            "create",
            "--name",
            &format!("{who}-cli"),
            "--role",
            "responder",
            "--owner",
            who,
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["token"].as_str().unwrap().to_string()
    };
    let (alice, bob) = (token_of("alice"), token_of("bob"));
    // The CLI acts as the person whose token it presents.
    let as_person = |token: &str, args: &[&str]| {
        let mut cmd = std::process::Command::new(crate::harness::BIN);
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("RIPOSTE_TOKEN", token)
            .env_remove("RIPOSTE_FAILPOINTS");
        crate::harness::run(cmd)
    };
    let asked = as_person(
        &alice,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: approval",
        ],
    );
    assert_eq!(
        asked.code, 5,
        "exit status for pending approval\n{}\n{}",
        asked.stdout, asked.stderr
    );
    let job_id = asked.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(user.kinit(), Login::Succeeded);
    let own = as_person(&alice, &["actions", "approve", &job_id]);
    assert_eq!(own.code, 2, "{}", own.stderr);
    assert!(own.stderr.contains("second person"), "{}", own.stderr);
    let approved = as_person(
        &bob,
        &[
            "--json",
            "actions",
            "approve",
            &job_id,
            "--comment",
            "confirmed",
        ],
    );
    assert_eq!(
        (approved.code, approved.outcome().as_str()),
        (0, "verified"),
        "{}\n{}",
        approved.stdout,
        approved.stderr
    );
    assert_eq!(approved.json()["decided_by"], "token:bob-cli");
    assert!(matches!(user.kinit(), Login::Revoked(_)));
}
