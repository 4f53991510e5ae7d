//! Hostile: turning riposte against its own means of response. The action
//! account (each forest's bind account) and break-glass accounts are
//! protected by default: by hand they wait for a second person (exit 5),
//! and a bulk leaves them out with the reason, writing nothing to them.
//! (Automation refusing them: riposte-automation's tests/lab.rs.)

mod support;

use riposte_testlab::{Lab, Login};
use support::Server;

#[test]
fn the_action_account_and_break_glass_wait_for_a_second_person_and_bulk_skips_them() {
    let lab = Lab::load();
    // A stand-in action account: a lab user riposte binds as for a second
    // forest entry on the same DC, so the real one is never put at risk.
    let stand_in = lab.create_user("corp", "hpa", 0);
    let glass = lab.create_user("corp", "hpg", 0);
    let ordinary = lab.create_user("corp", "hpo", 0);
    let corp = lab.forest("corp");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("stand-in.secret");
    std::fs::write(&secret, &stand_in.password).unwrap();
    let extra = format!(
        "\n[[forest]]\nname = \"corpalt\"\ndomain = {:?}\nbase_dn = {:?}\ndcs = [{:?}]\ntls = \"ldaps\"\nca_file = {:?}\nbind_dn = {:?}\nbind_password_file = {:?}\n\n[safeguards]\nbreak_glass = [{:?}]\n",
        corp.domain,
        corp.base_dn,
        corp.ldaps_url,
        lab.ca_file.display().to_string(),
        stand_in.dn,
        secret.display().to_string(),
        glass.reference(),
    );
    let s = Server::start(&lab, None, &extra);
    for (user, why) in [(&stand_in, "action account"), (&glass, "break-glass")] {
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
                .unwrap()
                .contains(why),
            "{}",
            asked.stdout
        );
        assert_eq!(user.kinit(), Login::Succeeded, "{why} written by hand");
    }
    let list = dir.path().join("accounts.txt");
    std::fs::write(
        &list,
        [&stand_in, &glass, &ordinary]
            .iter()
            .map(|u| u.reference() + "\n")
            .collect::<String>(),
    )
    .unwrap();
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
    let protected = shown["left_out"]["protected"].to_string();
    assert!(
        protected.contains(&stand_in.name) && protected.contains("action account"),
        "{protected}"
    );
    assert!(
        protected.contains(&glass.name) && protected.contains("break-glass"),
        "{protected}"
    );
    assert_eq!(
        stand_in.kinit(),
        Login::Succeeded,
        "the bulk wrote the action account"
    );
    assert_eq!(
        glass.kinit(),
        Login::Succeeded,
        "the bulk wrote a break-glass account"
    );
    assert!(matches!(ordinary.kinit(), Login::Revoked(_)));
}
