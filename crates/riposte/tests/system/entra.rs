//! Entra ID and hybrid identities on the lab: the Samba forests plus
//! riposte's Graph TEST DOUBLE that `scripts/lab up` runs (no real tenant
//! exists here). One test, in order: the double's state is shared.

use crate::harness::riposte;
use riposte_testlab::http::request;
use riposte_testlab::{Lab, Login};
use serde_json::Value;

const DOUBLE: &str = "127.0.0.1:8441";

fn double_users() -> Vec<Value> {
    let r = request(DOUBLE, "GET", "/_double/users", &[], None);
    assert_eq!(
        r.status, 200,
        "the lab's Graph double is not running: scripts/lab up"
    );
    assert_eq!(r.header("x-riposte-test-double"), Some("true"));
    r.json()["users"].as_array().unwrap().clone()
}

fn double_user(upn: &str) -> Value {
    double_users()
        .into_iter()
        .find(|u| u["userPrincipalName"] == upn)
        .unwrap_or_else(|| panic!("no {upn} in the double"))
}

/// Puts the double back to the lab's seed, so the test can run again.
fn reset_double(lab: &Lab) {
    let seed = std::fs::read_to_string(lab.repo.join(".lab/graph/users.json")).unwrap();
    let r = request(DOUBLE, "POST", "/_double/users", &[], Some(&seed));
    assert_eq!(r.status, 204, "{}", r.body);
}

#[test]
fn each_kind_of_identity_is_contained_the_right_way() {
    // Alone: it resets the lab's Graph double and rewrites the seeded bert.
    let lab = crate::harness::lab_alone();
    reset_double(&lab);
    let corp = lab.forest("corp").clone();
    let bert_dn = format!("CN=bert,{}", corp.staff_ou);
    let restore_bert = || {
        lab.modify(&corp, &format!("dn: {bert_dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: {}\n", 0x10200))
    };
    restore_bert();
    let seed_password = std::fs::read_to_string(&corp.users_password_file).unwrap();

    // Kinds, as `riposte user show` classifies them.
    for (reference, kind) in [
        ("corp:ernie", "ad-only"),
        ("bert@corp.example.test", "hybrid"),
        ("contoso:bigbird@contoso.example", "cloud-only"),
        (
            "contoso:google.guest_gmail.com#EXT#@contoso.example",
            "guest",
        ),
    ] {
        let shown = riposte(&lab, &["--json", "user", "show", reference]);
        assert_eq!(shown.code, 0, "{reference}: {}", shown.stderr);
        assert_eq!(shown.json()["kind"], kind, "{reference}");
    }
    let bert = riposte(&lab, &["--json", "user", "show", "corp:bert"]).json();
    assert_eq!(
        bert["entra"][0]["on_premises_sid"], bert["sid"],
        "linked by objectSid"
    );

    // A hybrid disable: AD (the source of authority) and the cloud sessions, in one job.
    let sessions_before =
        double_user("bert@corp.example.test")["signInSessionsValidFromDateTime"].clone();
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "disable",
            "bert@corp.example.test",
            "--reason",
            "test: hybrid containment",
        ],
    );
    assert_eq!(
        (run.code, run.outcome().as_str()),
        (0, "verified"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let steps = run.json()["evidence"]["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(
        (
            steps[0]["step"]["directory"].as_str(),
            steps[0]["outcome"].as_str()
        ),
        (Some("ad"), Some("verified"))
    );
    assert_eq!(
        (
            steps[1]["step"]["directory"].as_str(),
            steps[1]["outcome"].as_str()
        ),
        (Some("cloud"), Some("verified"))
    );
    assert_eq!(steps[1]["step"]["action"], "revoke-sessions");
    assert!(
        matches!(
            lab.kinit(&corp, "bert", seed_password.trim_end()),
            Login::Revoked(_)
        ),
        "AD still lets bert in"
    );
    let sessions_after =
        double_user("bert@corp.example.test")["signInSessionsValidFromDateTime"].clone();
    assert!(
        sessions_after.as_str() > sessions_before.as_str(),
        "{sessions_before} -> {sessions_after}"
    );
    assert_eq!(
        double_user("bert@corp.example.test")["accountEnabled"],
        true,
        "a synced account is not written in Entra"
    );
    restore_bert();

    // Cloud-only: through Graph, forced reset included.
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "force-password-reset",
            "contoso:bigbird@contoso.example",
            "--with-mfa",
            "--reason",
            "test: cloud",
        ],
    );
    assert_eq!(
        (run.code, run.outcome().as_str()),
        (0, "verified"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        double_user("bigbird@contoso.example")["forceChangePasswordNextSignIn"],
        true
    );
    assert_eq!(
        double_user("bigbird@contoso.example")["forceChangePasswordNextSignInWithMfa"],
        true
    );
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "disable",
            "contoso:bigbird@contoso.example",
            "--reason",
            "test: cloud",
        ],
    );
    assert_eq!(run.outcome(), "verified", "{}", run.stderr);
    assert_eq!(
        double_user("bigbird@contoso.example")["accountEnabled"],
        false
    );

    // A guest: disabled in the tenant; a forced reset is refused with the reason.
    let guest = "contoso:google.guest_gmail.com#EXT#@contoso.example";
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "force-password-reset",
            guest,
            "--reason",
            "test: guest",
        ],
    );
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.json()["message"].as_str().unwrap().contains("guest"));
    let run = riposte(
        &lab,
        &[
            "--json",
            "user",
            "revoke-sessions",
            guest,
            "--reason",
            "test: guest",
        ],
    );
    assert_eq!(run.outcome(), "verified", "{}", run.stderr);

    // AD-only: no cloud sessions to revoke; that is bad input, and nothing is recorded.
    let run = riposte(
        &lab,
        &[
            "user",
            "revoke-sessions",
            "corp:ernie",
            "--reason",
            "test: ad-only",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no Entra ID account"), "{}", run.stderr);

    // Graph down: a hybrid-looking disable still disables in AD, and says containment may be incomplete.
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t.replace("127.0.0.1:8441", "127.0.0.1:9"));
    let user = lab.create_user("corp", "gdn", 0);
    let run = crate::harness::riposte_config(
        &config,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: graph down",
        ],
    );
    assert_eq!(run.outcome(), "failed", "{}", run.stdout);
    let steps = run.json()["evidence"]["steps"].as_array().unwrap().clone();
    assert_eq!(
        steps[0]["outcome"], "verified",
        "the AD step still ran: {steps:?}"
    );
    assert!(
        steps[1]["message"]
            .as_str()
            .unwrap()
            .contains("containment may be incomplete")
    );
    assert!(matches!(user.kinit(), Login::Revoked(_)));
    reset_double(&lab);
}
