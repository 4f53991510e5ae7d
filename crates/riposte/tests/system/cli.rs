//! Command-line behaviour that needs no directory: usage, config errors.

use std::process::Command;

use crate::harness::{BIN, run};

fn riposte(args: &[&str]) -> crate::harness::Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RIPOSTE_CONFIG")
        .current_dir(std::env::temp_dir());
    run(cmd)
}

#[test]
fn a_missing_config_file_is_named_and_exits_2() {
    let r = riposte(&[
        "--config",
        "/nonexistent/riposte.toml",
        "user",
        "show",
        "corp:bert",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("/nonexistent/riposte.toml"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_malformed_config_names_the_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("riposte.toml");
    std::fs::write(&path, "[[forest]]\nname = \"corp\"\ndomain = \"corp.example.test\"\nbase_dn = \"DC=corp\"\ndcs = [\"ldaps://x:636\"]\nbind_dn = \"x\"\nbogus_key = 1\n").unwrap();
    let r = riposte(&[
        "--config",
        path.to_str().unwrap(),
        "user",
        "show",
        "corp:bert",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bogus_key"), "{}", r.stderr);
    std::fs::write(&path, "[[forest]]\nname = \"corp\"\ndomain = \"corp.example.test\"\nbase_dn = \"DC=corp\"\ndcs = [\"ldaps://x:636\"]\nbind_dn = \"x\"\nbind_password_file = \"missing.secret\"\nca_file = \"/etc/hostname\"\n").unwrap();
    let r = riposte(&[
        "--config",
        path.to_str().unwrap(),
        "user",
        "show",
        "corp:bert",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bind_password_file") && r.stderr.contains("missing.secret"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    assert_eq!(
        riposte(&["user", "disable", "corp:bert"]).code,
        2,
        "--reason is required"
    );
    assert_eq!(riposte(&["frobnicate"]).code, 2);
    let help = riposte(&["user", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("force-password-reset"));
}
