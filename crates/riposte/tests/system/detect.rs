//! `riposte detect`: offline hunting needs no config file, prints one JSON alert per line with
//! --json, and a summary with unreadable records' locations on stderr.

use std::collections::BTreeMap;
use std::process::Command;

use crate::harness::{BIN, run};

// The datasets live in ../shared beside the repository (CI lays them out so).
const DEV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/datasets/evtx-dev"
);

fn detect(args: &[&str]) -> crate::harness::Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("detect")
        .args(args)
        // No config anywhere: the command must not look for one.
        .env("RIPOSTE_CONFIG", "/nonexistent/riposte.toml")
        .current_dir(std::env::temp_dir());
    run(cmd)
}

#[test]
fn every_dev_recording_gives_its_technique_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, "{\"EventID\": 4625}\n{\"EventID\": oops}\n").unwrap();
    let files: Vec<String> = [
        "kerberos-password-spray-4771.evtx",
        "bruteforce-4625.evtx",
        "kerberoast-rc4-4769.evtx",
        "dcsync-4662.evtx",
        "password-never-expires-set-4738.evtx",
        "dcshadow-spn-4742.evtx",
        "constrained-delegation-kerberos-4742-5136.evtx",
        "constrained-delegation-protocol-transition-4742-5136.evtx",
        "fake-computer-account-4720.evtx",
        "user-created-deleted-4720-4726.evtx",
        "computer-created-deleted-4742-4743.evtx",
        "user-renamed-admin-like-4781.evtx",
        "exchange-admin-group-add-4756.evtx",
        "samr-password-reset-mimikatz-4724.evtx",
        "pass-the-hash-local-4624.evtx",
    ]
    .iter()
    .map(|f| format!("{DEV}/{f}"))
    .chain([bad.display().to_string()])
    .collect();
    let mut args = vec!["--json"];
    args.extend(files.iter().map(String::as_str));
    let r = detect(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut by_file: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in r.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON alert per line");
        let file = v["events"][0]["origin"]["file"].as_str().unwrap();
        let name = file.rsplit('/').next().unwrap().to_string();
        *by_file
            .entry((name, v["technique"].as_str().unwrap().to_string()))
            .or_default() += 1;
    }
    let techniques: Vec<(&str, &str)> = by_file
        .keys()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        techniques,
        vec![
            ("bruteforce-4625.evtx", "T1110.001"),
            ("computer-created-deleted-4742-4743.evtx", "T1136"),
            ("constrained-delegation-kerberos-4742-5136.evtx", "T1098"),
            (
                "constrained-delegation-protocol-transition-4742-5136.evtx",
                "T1098"
            ),
            ("dcshadow-spn-4742.evtx", "T1207"),
            ("dcsync-4662.evtx", "T1003.006"),
            ("exchange-admin-group-add-4756.evtx", "T1098"),
            ("fake-computer-account-4720.evtx", "T1136"),
            ("kerberoast-rc4-4769.evtx", "T1558.003"),
            // The recording has a TGT issued to `normal` from the spraying source.
            ("kerberos-password-spray-4771.evtx", "T1078"),
            ("kerberos-password-spray-4771.evtx", "T1110.003"),
            ("pass-the-hash-local-4624.evtx", "T1550.002"),
            ("password-never-expires-set-4738.evtx", "T1098"),
            // The DC's own machine password reset through SAMR after Zerologon.
            ("samr-password-reset-mimikatz-4724.evtx", "T1098"),
            ("user-created-deleted-4720-4726.evtx", "T1136"),
            ("user-renamed-admin-like-4781.evtx", "T1098"),
        ]
    );
    assert!(r.stderr.contains("broken.json line 2"), "{}", r.stderr);
    assert!(r.stderr.contains("1 unreadable"), "{}", r.stderr);
}

#[test]
fn a_bad_rules_directory_is_named_and_exits_2() {
    let r = detect(&[
        "--rules",
        "/nonexistent/rules",
        &format!("{DEV}/dcsync-4662.evtx"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent/rules"), "{}", r.stderr);
}
