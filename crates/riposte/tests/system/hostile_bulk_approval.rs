//! Hostile: one request that disables many accounts. A bulk above
//! `[bulk] approval_above` waits, paused, for a second person before its
//! first child runs: nothing is written until then, resuming is not
//! approving, the requester's other credentials do not approve, and a
//! reject ends it with nothing written. A whole naming context (what an
//! unscoped responder could ask) is above the default threshold of 25.

use std::time::{Duration, Instant};

use crate::harness::Serve;
use riposte_testlab::Login;
use serde_json::{Value, json};

fn bulk(s: &Serve, token: &str, id: &str) -> Value {
    s.api(token, "GET", &format!("/api/v1/bulk/{id}"), None)
        .json()
}

#[test]
fn a_bulk_above_approval_above_waits_for_a_second_person() {
    let lab = crate::harness::lab();
    let users: Vec<_> = (0..3).map(|_| lab.create_user("corp", "hba", 0)).collect();
    let s = Serve::start(&lab, None, "\n[bulk]\napproval_above = 2\n");
    s.person("alice", "responder");
    s.person("bob", "responder");
    let alice = s.token("alice-laptop", "responder", &["--owner", "alice"]);
    let alice_again = s.token("alice-soar", "responder", &["--owner", "alice"]);
    let bob = s.token("bob-laptop", "responder", &["--owner", "bob"]);
    let body = json!({
        "action": "disable",
        "selector": { "kind": "references", "value": users.iter().map(|u| u.reference()).collect::<Vec<_>>() },
        "reason": "hostile test: three accounts at once",
    });
    let created = s.api(&alice, "POST", "/api/v1/bulk", Some(&body.to_string()));
    assert_eq!(created.status, 202, "{}", created.body);
    let created = created.json();
    let id = created["bulk_id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            created["state"].as_str(),
            created["awaiting_approval"].as_bool()
        ),
        (Some("paused"), Some(true)),
        "{created}"
    );
    assert!(
        created["approval_reason"]
            .as_str()
            .unwrap()
            .contains("approval_above = 2")
    );
    // The service's worker is running: it must not start any child.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(bulk(&s, &alice, &id)["counts"]["queued"], 3);

    let resumed = s.api(&alice, "POST", &format!("/api/v1/bulk/{id}/resume"), None);
    assert_eq!(
        resumed.status, 409,
        "resuming is not approving: {}",
        resumed.body
    );
    let own = s.api(
        &alice_again,
        "POST",
        &format!("/api/v1/bulk/{id}/approve"),
        None,
    );
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(own.body.contains("second person"), "{}", own.body);
    let forged = s.cli(
        &[("SUDO_USER", "bob"), ("USER", "bob")],
        &["bulk", "approve", &id],
    );
    assert_eq!(forged.code, 2, "{}\n{}", forged.stdout, forged.stderr);
    let own_cli = s.cli(
        &[("RIPOSTE_TOKEN", &alice_again)],
        &["bulk", "approve", &id],
    );
    assert_eq!(own_cli.code, 2, "{}\n{}", own_cli.stdout, own_cli.stderr);
    // The portal offers the decision to bob, not to alice.
    let (alice_portal, alice_csrf) = s.session("alice");
    let (bob_portal, _) = s.session("bob");
    let form = format!("/ui/bulk/{id}/approve");
    assert!(
        !s.portal("GET", &format!("/ui/bulk/{id}"), &[&alice_portal], None)
            .body
            .contains(&form)
    );
    assert!(
        s.portal("GET", &format!("/ui/bulk/{id}"), &[&bob_portal], None)
            .body
            .contains(&form)
    );
    // Posted by hand, her own approval is refused all the same.
    let own_portal = s.portal(
        "POST",
        &form,
        &[&alice_portal],
        Some(&format!("csrf={alice_csrf}&comment=mine")),
    );
    assert_eq!(own_portal.status, 403, "{}", own_portal.body);
    assert!(
        own_portal.body.contains("second person"),
        "{}",
        own_portal.body
    );
    let waiting = bulk(&s, &alice, &id);
    assert_eq!(
        (
            waiting["state"].as_str(),
            waiting["counts"]["queued"].as_u64()
        ),
        (Some("paused"), Some(3)),
        "{waiting}"
    );
    for u in &users {
        assert_eq!(
            u.kinit(),
            Login::Succeeded,
            "{} written before approval",
            u.name
        );
    }

    let approved = s.api(
        &bob,
        "POST",
        &format!("/api/v1/bulk/{id}/approve"),
        Some(r#"{"comment":"confirmed with the incident lead"}"#),
    );
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.json()["decided_by"], "token:bob-laptop");
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let b = bulk(&s, &bob, &id);
        if b["state"] == "finished" || Instant::now() > deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(done["counts"]["verified"], 3, "{done}");
    for u in &users {
        assert!(matches!(u.kinit(), Login::Revoked(_)), "{}", u.name);
    }
}

#[test]
fn a_rejected_bulk_ends_with_nothing_written() {
    let lab = crate::harness::lab();
    let users: Vec<_> = (0..3).map(|_| lab.create_user("corp", "hbr", 0)).collect();
    let s = Serve::start(&lab, None, "\n[bulk]\napproval_above = 2\n");
    s.person("alice", "responder");
    s.person("bob", "responder");
    let alice = s.token("alice-laptop", "responder", &["--owner", "alice"]);
    let bob = s.token("bob-laptop", "responder", &["--owner", "bob"]);
    let list = s.config.with_file_name("accounts.txt");
    std::fs::write(
        &list,
        users
            .iter()
            .map(|u| u.reference() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let asked = s.cli(
        &[("RIPOSTE_TOKEN", &alice)],
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
    assert_eq!(
        asked.code, 5,
        "waits for approval:\n{}\n{}",
        asked.stdout, asked.stderr
    );
    let id = asked.json()["bulk_id"].as_str().unwrap().to_string();
    let rejected = s.cli(
        &[("RIPOSTE_TOKEN", &bob)],
        &[
            "--json",
            "bulk",
            "reject",
            &id,
            "--comment",
            "not these three",
        ],
    );
    assert_eq!(rejected.code, 0, "{}\n{}", rejected.stdout, rejected.stderr);
    let b = bulk(&s, &bob, &id);
    assert_eq!(
        (b["state"].as_str(), b["approval"].as_str()),
        (Some("cancelled"), Some("rejected")),
        "{b}"
    );
    assert_eq!(
        (
            b["counts"]["failed"].as_u64(),
            b["counts"]["verified"].as_u64()
        ),
        (Some(3), Some(0)),
        "{b}"
    );
    for u in &users {
        assert_eq!(
            u.kinit(),
            Login::Succeeded,
            "{} written after a reject",
            u.name
        );
    }
}

#[test]
fn an_unscoped_responder_cannot_disable_a_whole_naming_context_without_approval() {
    let lab = crate::harness::lab();
    // More users than the default threshold (25) in the naming context.
    let users: Vec<_> = (0..26).map(|_| lab.create_user("corp", "hbn", 0)).collect();
    let s = Serve::start(&lab, None, "");
    let responder = s.token("unscoped", "responder", &[]);
    // A dry run writes nothing, and says a second person would have to approve.
    let out = s.cli(
        &[("RIPOSTE_TOKEN", &responder)],
        &[
            "--json",
            "bulk",
            "disable",
            "--ou",
            "DC=corp,DC=example,DC=test",
            "--reason",
            "hostile test: the whole forest",
            "--dry-run",
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let plan = &out.json()["plan"];
    assert!(plan["count"].as_u64().unwrap() > 25, "{plan}");
    assert!(
        plan["approval_required"]
            .as_str()
            .is_some_and(|r| r.contains("approval_above = 25")),
        "{}",
        plan["approval_required"]
    );
    for u in &users {
        assert_eq!(u.kinit(), Login::Succeeded);
    }
}
