//! `riposte readiness` against the real Samba lab: coverage per OU and per
//! action, the protected and ineffective groups, and the delegation it
//! prints, applied for real to a fresh action account.

use std::process::Command;

use crate::harness::{riposte, riposte_config};
use riposte_testlab::{Lab, base64, utf16_quoted};
use serde_json::Value;

fn forest<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["forests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no forest {name} in {report}"))
}

fn ou<'a>(forest: &'a Value, dn: &str) -> Option<&'a Value> {
    forest["ous"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["dn"].as_str().unwrap().eq_ignore_ascii_case(dn))
}

/// Every action is permitted on every user of the OU.
fn covers_every_action(ou: &Value) -> bool {
    let users = ou["users"].as_u64().unwrap();
    let actions = ou["actions"].as_array().unwrap();
    actions.len() == 5
        && actions
            .iter()
            .all(|a| a["permitted"].as_u64() == Some(users))
}

fn group<'a>(scope: &'a Value, action: &str, reason: &str) -> Option<&'a Value> {
    scope["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == action)?["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["reason"] == reason)
}

fn names(group: &Value) -> Vec<String> {
    group["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_lab_report_shows_staff_covered_tier0_protected_and_ineffective_resets() {
    let lab = crate::harness::lab();
    let corp_lab = lab.forest("corp");
    let out = riposte(&lab, &["--json", "readiness"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let corp = forest(&report, "corp");

    // Connection: the DC reached over verified TLS, with its certificate and clock.
    let dc = &corp["dcs"][0];
    assert_eq!(dc["reached"], true, "{dc}");
    assert_eq!(dc["tls"]["verified"], true);
    assert!(
        dc["tls"]["subject"]
            .as_str()
            .unwrap()
            .contains(&corp_lab.dc_host),
        "{dc}"
    );
    assert!(dc["tls"]["days_left"].as_i64().unwrap() > 0);
    assert!(dc["clock_skew_secs"].as_i64().unwrap().abs() < 300);
    assert_eq!(
        corp["action_account"]["dn"].as_str().unwrap(),
        corp_lab.action_dn
    );

    // Rights per OU: Staff covered for every action, Tier0 for none.
    let staff = ou(corp, &corp_lab.staff_ou).expect("OU=Staff in the report");
    assert!(covers_every_action(staff), "{staff}");
    let tier0 = ou(corp, &corp_lab.tier0_ou).expect("OU=Tier0 in the report");
    assert!(
        tier0["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["permitted"] == 0),
        "{tier0}"
    );

    // Coverage: the protected admin listed as protected, never as merely outside delegation.
    let tier0admin = format!("CN=tier0admin,{}", corp_lab.tier0_ou);
    for action in [
        "disable",
        "enable",
        "force-password-reset",
        "unlock",
        "set-password",
    ] {
        let protected = group(corp, action, "protected-adminsdholder").expect("a protected group");
        assert!(
            names(protected).contains(&tier0admin),
            "{action}: {protected}"
        );
    }
    // bert (password never expires) and oscar (smart card) under "forced reset ineffective".
    let ineffective = group(corp, "force-password-reset", "forced-reset-ineffective").unwrap();
    let who = names(ineffective);
    for user in ["bert", "oscar"] {
        assert!(
            who.contains(&format!("CN={user},{}", corp_lab.staff_ou)),
            "{user}: {who:?}"
        );
    }
    assert!(group(corp, "disable", "forced-reset-ineffective").is_none());
    // A disable on bert is covered: the flag only defeats forced resets.
    let disable_gaps: Vec<String> = corp["coverage"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(names)
        .collect();
    assert!(
        !disable_gaps.iter().any(|n| n.starts_with("CN=bert,")),
        "{disable_gaps:?}"
    );

    // Fixes: AdminSDHolder, with its warning; never one for OU=Staff.
    let fixes = corp["fixes"].as_array().unwrap();
    let sdholder = fixes
        .iter()
        .find(|f| f["reason"] == "protected-adminsdholder")
        .expect("a fix for protected accounts");
    assert!(
        sdholder["scope"]
            .as_str()
            .unwrap()
            .starts_with("CN=AdminSDHolder,CN=System,")
    );
    assert!(sdholder["delegation"]["warning"].is_string());
    assert!(
        !fixes
            .iter()
            .any(|f| f["scope"].as_str() == Some(corp_lab.staff_ou.as_str()))
    );

    // The tenant: permissions from the token, hybrid users refused in Entra, the guest.
    let contoso = &report["tenants"][0];
    let permissions: Vec<&str> = contoso["app_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        permissions.contains(&"User.EnableDisableAccount.All"),
        "{contoso}"
    );
    let synced = names(group(contoso, "disable", "synced-from-ad").expect("synced users"));
    assert!(
        synced.contains(&"grover@corp.example.test".to_string()),
        "{synced:?}"
    );
    assert!(group(contoso, "revoke-sessions", "synced-from-ad").is_none());
    assert_eq!(
        group(contoso, "force-password-reset", "guest").unwrap()["count"],
        1
    );

    // The same report for a person, and one group as CSV.
    let human = riposte(&lab, &["readiness", "--quiet"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.contains("forced reset ineffective"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("samba-tool dsacl set -H 'ldap://"));
    let csv = riposte(
        &lab,
        &[
            "readiness",
            "--csv",
            "corp:force-password-reset:forced-reset-ineffective",
        ],
    );
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert!(
        csv.stdout
            .starts_with("account,sam_account_name,reason,detail\r\n")
    );
    assert!(
        csv.stdout.contains("\"bert\",\"forced-reset-ineffective\""),
        "{}",
        csv.stdout
    );
    let bad = riposte(&lab, &["readiness", "--csv", "corp:disable:no-such-reason"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("not a gap reason"), "{}", bad.stderr);
}

/// A fresh OU with two users and a fresh action account without rights;
/// everything is deleted when dropped.
struct ScratchOu<'a> {
    lab: &'a Lab,
    ou: String,
    entries: Vec<String>,
}

impl Drop for ScratchOu<'_> {
    fn drop(&mut self) {
        let corp = self.lab.forest("corp");
        for dn in self.entries.iter().rev().chain(std::iter::once(&self.ou)) {
            let ldif = format!("dn: {dn}\nchangetype: delete\n");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.lab.modify(corp, &ldif)
            }));
        }
    }
}

#[test]
fn the_printed_delegation_makes_a_second_action_account_pass() {
    let lab = crate::harness::lab();
    let corp = lab.forest("corp");
    let tag = std::process::id() % 100_000;
    let ou_dn = format!("OU=Ready{tag},{}", corp.base_dn);
    lab.modify(
        corp,
        &format!("dn: {ou_dn}\nchangetype: add\nobjectClass: organizationalUnit\n"),
    );
    let mut scratch = ScratchOu {
        lab: &lab,
        ou: ou_dn.clone(),
        entries: Vec::new(),
    };
    let password = format!("Rd-{tag}-x!Q9z");
    let mut add_user = |name: &str, uac: u32| {
        let dn = format!("CN={name},{ou_dn}");
        lab.modify(
            corp,
            &format!(
                "dn: {dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: {name}\n\
                 unicodePwd:: {}\nuserAccountControl: {uac}\n",
                base64(&utf16_quoted(&password))
            ),
        );
        scratch.entries.push(dn.clone());
        dn
    };
    let plain = add_user(&format!("rdyu{tag}"), 0x200);
    let never_expires = add_user(&format!("rdyn{tag}"), 0x200 | 0x1_0000);
    let account = add_user(&format!("rdya{tag}"), 0x200 | 0x1_0000);

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("second-action.secret");
    std::fs::write(&secret, &password).unwrap();
    let config = lab.private_config(dir.path(), |text| {
        text.replacen(&corp.action_dn, &account, 1).replacen(
            corp.action_password_file.to_str().unwrap(),
            secret.to_str().unwrap(),
            1,
        )
    });

    // Before: the second account may do nothing in the new OU, and a fix says how.
    let before = riposte_config(&config, &["--json", "readiness"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    let report = before.json();
    let corp_report = forest(&report, "corp");
    assert_eq!(
        corp_report["action_account"]["dn"].as_str().unwrap(),
        account
    );
    let ou_before = ou(corp_report, &ou_dn).expect("the scratch OU");
    assert_eq!(ou_before["users"], 2, "{ou_before}");
    assert!(
        ou_before["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["permitted"] == 0)
    );
    let fix = corp_report["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["scope"].as_str() == Some(ou_dn.as_str()))
        .unwrap_or_else(|| panic!("no fix for {ou_dn}: {}", corp_report["fixes"]));
    let commands: Vec<&str> = fix["delegation"]["samba_tool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(commands.len(), 4, "{commands:?}");

    // Apply exactly what was printed (samba-tool reads the password from PASSWD).
    let admin_password = std::fs::read_to_string(&corp.admin_password_file).unwrap();
    for command in &commands {
        let out = Command::new("sh")
            .args(["-c", command])
            .env("PASSWD", admin_password.trim())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // After: covered for every action; the never-expires user stays "ineffective" for resets.
    let after = riposte_config(&config, &["--json", "readiness"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    let report = after.json();
    let corp_report = forest(&report, "corp");
    let ou_after = ou(corp_report, &ou_dn).unwrap();
    assert!(covers_every_action(ou_after), "{ou_after}");
    assert!(
        !corp_report["fixes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["scope"].as_str() == Some(ou_dn.as_str()))
    );
    let ineffective = group(
        corp_report,
        "force-password-reset",
        "forced-reset-ineffective",
    )
    .unwrap();
    assert!(names(ineffective).contains(&never_expires));

    // And the account really passes: a disable through riposte is verified by read-back.
    let disable = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "disable",
            &format!("corp:rdyu{tag}"),
            "--reason",
            "readiness test",
        ],
    );
    assert_eq!(disable.code, 0, "{}{}", disable.stdout, disable.stderr);
    assert_eq!(disable.outcome(), "verified");
    assert_eq!(lab.read_u32(corp, &plain, "userAccountControl") & 2, 2);
}
