//! No false alarms on a normal day: `scripts/benign-day` drives the lab through a short day
//! (good and mistyped Kerberos, NTLM and LDAP logons, an admin resetting and unlocking,
//! helpdesk group changes, a computer joined, DC replication) and the whole built-in pack
//! raises nothing on its audit lines; the same day with one spray added raises the spray,
//! so the harness can tell an alert from none.

use std::process::Command;

use serde_json::Value;

use crate::harness::BIN;

/// A short day (numbers as the script's arguments), plus `extra`; the script's summary.
fn day(extra: &[&str]) -> (i32, Value, String) {
    // The script of this checkout (a worktree's too); it finds the lab through lab.json.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/benign-day");
    let out = Command::new(&script)
        .args([
            "--users",
            "10",
            "--logons",
            "80",
            "--mistype-rate",
            "0.2",
            "--resets",
            "2",
            "--unlocks",
            "1",
            "--group-changes",
            "2",
            "--computers",
            "1",
            "--replications",
            "2",
            "--riposte",
            BIN,
        ])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let summary = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary:\n{stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), summary, stderr)
}

#[test]
fn a_normal_day_raises_nothing_and_the_same_day_with_a_spray_raises_it() {
    // The attack sprays the KDC, which a test tailing the DC log would see: alone.
    let _lab = crate::harness::lab_alone();
    let (code, s, stderr) = day(&[]);
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!(s["alerts"], 0, "{s}\n{stderr}");
    // The day did happen, and its lines were read as events.
    assert_eq!(s["logons"], 80, "{s}");
    assert!(s["mistyped"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["replications"], 2, "{s}");
    assert!(s["lines"].as_u64().unwrap() > 80, "{s}");

    let (code, s, stderr) = day(&["--attack", "spray"]);
    assert_eq!(code, 0, "{s}\n{stderr}");
    assert_eq!(s["techniques"]["T1110.003"], 1, "{s}\n{stderr}");
    assert!(stderr.contains("riposte.password_spray"), "{stderr}");
}
