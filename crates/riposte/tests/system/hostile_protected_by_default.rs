//! Hostile: turning riposte against its own means of response. The action
//! account (each forest's bind account) and break-glass accounts are
//! protected by default: by hand they wait for a second person (exit 5),
//! and a bulk leaves them out with the reason, writing nothing to them.
//! (Automation refusing them: tests/automation_lab.rs.)

use crate::harness::Serve;
use riposte_testlab::{Lab, Login, TestUser};

/// The config lines of a second forest entry on corp's DC whose action
/// account (bind DN) is `stand_in`: a lab user, so the real action account
/// is never put at risk.
fn stand_in_forest(lab: &Lab, stand_in: &TestUser, dir: &std::path::Path) -> String {
    let corp = lab.forest("corp");
    let secret = dir.join("stand-in.secret");
    std::fs::write(&secret, &stand_in.password).unwrap();
    format!(
        "\n[[forest]]\nname = \"corpalt\"\ndomain = {:?}\nbase_dn = {:?}\ndcs = [{:?}]\ntls = \"ldaps\"\nca_file = {:?}\nbind_dn = {:?}\nbind_password_file = {:?}\n",
        corp.domain,
        corp.base_dn,
        corp.ldaps_url,
        lab.ca_file.display().to_string(),
        stand_in.dn,
        secret.display().to_string(),
    )
}

/// By hand: exit 5, waiting for a second person, nothing written.
fn waits_by_hand(s: &Serve, user: &TestUser, why: &str) {
    let asked = s.cli(
        &[],
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "hostile test",
        ],
    );
    assert_eq!(asked.code, 5, "{}\n{}", asked.stdout, asked.stderr);
    assert!(
        asked.json()["approval_reason"]
            .as_str()
            .unwrap_or_default()
            .contains(why),
        "{}",
        asked.stdout
    );
    assert_eq!(user.kinit(), Login::Succeeded, "{why} written by hand");
}

/// In bulk: left out as protected with the reason; only `ordinary` is written.
fn bulk_skips(
    s: &Serve,
    dir: &std::path::Path,
    protected: &[(&TestUser, &str)],
    ordinary: &TestUser,
) {
    let list = dir.join("accounts.txt");
    let mut text: String = protected
        .iter()
        .map(|(u, _)| u.reference() + "\n")
        .collect();
    text += &(ordinary.reference() + "\n");
    std::fs::write(&list, text).unwrap();
    let bulk = s.cli(
        &[],
        &[
            "--json",
            "bulk",
            "disable",
            "--from-file",
            list.to_str().unwrap(),
            "--reason",
            "hostile test",
        ],
    );
    assert_eq!(bulk.code, 0, "{}\n{}", bulk.stdout, bulk.stderr);
    let shown = bulk.json();
    assert_eq!(shown["counts"]["total"], 1, "{shown}");
    let left_out = shown["left_out"]["protected"].to_string();
    for (user, why) in protected {
        assert!(
            left_out.contains(&user.name) && left_out.contains(why),
            "{left_out}"
        );
        assert_eq!(
            user.kinit(),
            Login::Succeeded,
            "the bulk wrote a protected account ({why})"
        );
    }
    assert!(matches!(ordinary.kinit(), Login::Revoked(_)));
}

#[test]
fn the_action_account_waits_for_a_second_person_and_bulk_skips_it() {
    let lab = crate::harness::lab();
    let stand_in = lab.create_user("corp", "hpa", 0);
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(&lab, None, &stand_in_forest(&lab, &stand_in, dir.path()));
    waits_by_hand(&s, &stand_in, "action account");
    let ordinary = lab.create_user("corp", "hpo", 0);
    bulk_skips(&s, dir.path(), &[(&stand_in, "action account")], &ordinary);
}

#[test]
fn break_glass_accounts_wait_for_a_second_person_and_bulk_skips_them() {
    let lab = crate::harness::lab();
    let glass = lab.create_user("corp", "hpg", 0);
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(
        &lab,
        None,
        &format!("\n[safeguards]\nbreak_glass = [{:?}]\n", glass.reference()),
    );
    waits_by_hand(&s, &glass, "break-glass");
    let ordinary = lab.create_user("corp", "hpo", 0);
    bulk_skips(&s, dir.path(), &[(&glass, "break-glass")], &ordinary);
}
