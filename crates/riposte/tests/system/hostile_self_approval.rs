//! Hostile: approving your own request through another front end or another
//! credential. A second person is a different human: `SUDO_USER`/`USER` are
//! not credentials, a second token of the requester is still the requester,
//! the requester signed in to the portal is still the requester, and a
//! service token never approves. Each attempt is refused and nothing is
//! written; a different person approves fine.

use std::time::{Duration, Instant};

use crate::harness::Serve;
use riposte_testlab::{Lab, Login, TestUser};
use serde_json::{Value, json};

struct People {
    server: Serve,
    alice: String,
    alice_again: String,
    bob: String,
    service: String,
}

fn server(lab: &Lab, protected: &[&TestUser]) -> Serve {
    let refs: Vec<String> = protected
        .iter()
        .map(|u| format!("{:?}", u.reference()))
        .collect();
    let server = Serve::start(
        lab,
        None,
        &format!("\n[safeguards]\nprotected = [{}]\n", refs.join(", ")),
    );
    server.person("alice", "responder");
    server.person("bob", "responder");
    server
}

fn people(lab: &Lab, protected: &[&TestUser]) -> People {
    with_tokens(server(lab, protected))
}

/// Two tokens of alice's, one of bob's, one service token.
fn with_tokens(server: Serve) -> People {
    People {
        alice: server.token("alice-laptop", "responder", &["--owner", "alice"]),
        alice_again: server.token("alice-soar", "responder", &["--owner", "alice"]),
        bob: server.token("bob-laptop", "responder", &["--owner", "bob"]),
        service: server.token("soar", "responder", &[]),
        server,
    }
}

fn job(server: &Serve, token: &str, id: &str) -> Value {
    server
        .api(token, "GET", &format!("/api/v1/jobs/{id}"), None)
        .json()
}

/// Waits (bounded) for the job to finish; returns it.
fn finished(server: &Serve, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job(server, token, id);
        if j["state"] == "finished" || Instant::now() > deadline {
            return j;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pending(server: &Serve, token: &str, id: &str) {
    let j = job(server, token, id);
    assert_eq!(
        (j["state"].as_str(), j["approval"].as_str()),
        (Some("queued"), Some("pending")),
        "{j}"
    );
}

fn request_by_api(server: &Serve, token: &str, user: &TestUser) -> String {
    let body = json!({ "target": user.reference(), "action": "disable", "reason": "hostile test" });
    let r = server.api(token, "POST", "/api/v1/actions", Some(&body.to_string()));
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["awaiting_approval"], true, "{}", r.body);
    r.json()["job_id"].as_str().unwrap().to_string()
}

#[test]
fn on_the_cli_sudo_user_and_a_second_token_of_the_requester_do_not_approve() {
    let lab = crate::harness::lab();
    let by_os = lab.create_user("corp", "hsa", 0);
    let by_token = lab.create_user("corp", "hsa", 0);
    let server = server(&lab, &[&by_os, &by_token]);
    let s = &server;

    // Requested on the CLI as "alice" (the environment says so), approved as "bob" (it says so too).
    let alice_env = [
        ("SUDO_USER", "alice"),
        ("USER", "alice"),
        ("LOGNAME", "alice"),
    ];
    let bob_env = [("SUDO_USER", "bob"), ("USER", "bob"), ("LOGNAME", "bob")];
    let asked = s.cli(
        &alice_env,
        &[
            "--json",
            "user",
            "disable",
            &by_os.reference(),
            "--reason",
            "hostile",
        ],
    );
    assert_eq!(asked.code, 5, "{}\n{}", asked.stdout, asked.stderr);
    let first = asked.json()["job_id"].as_str().unwrap().to_string();
    let forged = s.cli(&bob_env, &["actions", "approve", &first]);
    assert_eq!(
        forged.code, 2,
        "SUDO_USER=bob approved:\n{}\n{}",
        forged.stdout, forged.stderr
    );
    assert!(forged.stderr.contains("second person"), "{}", forged.stderr);
    assert_eq!(
        by_os.kinit(),
        Login::Succeeded,
        "written without a second person"
    );
    let p = with_tokens(server);
    let s = &p.server;
    pending(s, &p.bob, &first);

    // Requested with one of alice's tokens, approved with another of hers (and bob's name in the env).
    let mut env = vec![("RIPOSTE_TOKEN", p.alice.as_str())];
    let asked = s.cli(
        &env,
        &[
            "--json",
            "user",
            "disable",
            &by_token.reference(),
            "--reason",
            "hostile",
        ],
    );
    assert_eq!(asked.code, 5, "{}\n{}", asked.stdout, asked.stderr);
    assert_eq!(asked.json()["requested_by"], "token:alice-laptop");
    let second = asked.json()["job_id"].as_str().unwrap().to_string();
    env = vec![("RIPOSTE_TOKEN", p.alice_again.as_str())];
    env.extend(bob_env);
    let own = s.cli(&env, &["actions", "approve", &second]);
    assert_eq!(own.code, 2, "{}\n{}", own.stdout, own.stderr);
    assert!(own.stderr.contains("second person"), "{}", own.stderr);
    // A service token is nobody: it never approves.
    let service = s.cli(
        &[("RIPOSTE_TOKEN", &p.service)],
        &["actions", "approve", &second],
    );
    assert_eq!(service.code, 2, "{}", service.stderr);
    assert!(
        service.stderr.contains("never approve"),
        "{}",
        service.stderr
    );
    pending(s, &p.bob, &second);
    assert_eq!(
        by_token.kinit(),
        Login::Succeeded,
        "written without a second person"
    );

    // Bob, with his own credential (here from a file), is a second person.
    let token_file = s.config.with_file_name("bob.token");
    std::fs::write(&token_file, format!("{}\n", p.bob)).unwrap();
    let approved = s.cli(
        &[],
        &[
            "--json",
            "--token-file",
            token_file.to_str().unwrap(),
            "actions",
            "approve",
            &second,
            "--comment",
            "confirmed",
        ],
    );
    assert_eq!(approved.code, 0, "{}\n{}", approved.stdout, approved.stderr);
    assert_eq!(approved.json()["outcome"], "verified");
    assert_eq!(approved.json()["decided_by"], "token:bob-laptop");
    assert!(matches!(by_token.kinit(), Login::Revoked(_)));
    let rejected = s.cli(
        &[("RIPOSTE_TOKEN", &p.bob)],
        &["actions", "reject", &first, "--comment", "not needed"],
    );
    assert_eq!(rejected.code, 4, "{}\n{}", rejected.stdout, rejected.stderr);
    assert_eq!(by_os.kinit(), Login::Succeeded);
}

#[test]
fn on_the_api_a_second_token_of_the_requester_does_not_approve() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "hsa", 0);
    let p = people(&lab, &[&user]);
    let s = &p.server;
    let id = request_by_api(s, &p.alice, &user);
    let approve = |token: &str| {
        s.api(
            token,
            "POST",
            &format!("/api/v1/jobs/{id}/approve"),
            Some(r#"{"comment":"ok"}"#),
        )
    };
    let own = approve(&p.alice_again);
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(
        own.json()["error"]["details"]["missing_right"]
            .as_str()
            .unwrap()
            .contains("second person"),
        "{}",
        own.body
    );
    let service = approve(&p.service);
    assert_eq!(service.status, 403, "{}", service.body);
    assert!(service.body.contains("never approve"), "{}", service.body);
    pending(s, &p.bob, &id);
    assert_eq!(
        user.kinit(),
        Login::Succeeded,
        "written without a second person"
    );
    let approved = approve(&p.bob);
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(finished(s, &p.bob, &id)["outcome"], "verified");
    assert!(matches!(user.kinit(), Login::Revoked(_)));
}

#[test]
fn in_the_portal_the_requester_signed_in_does_not_approve_what_their_token_asked() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "hsa", 0);
    let p = people(&lab, &[&user]);
    let s = &p.server;
    let id = request_by_api(s, &p.alice, &user);
    let (alice, alice_csrf) = s.session("alice");
    let page = s.portal("GET", &format!("/ui/jobs/{id}"), &[&alice], None);
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(&format!("/ui/jobs/{id}/approve")),
        "the requester is offered the approve form"
    );
    let own = s.portal(
        "POST",
        &format!("/ui/jobs/{id}/approve"),
        &[&alice],
        Some(&format!("csrf={alice_csrf}&comment=mine")),
    );
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(own.body.contains("second person"), "{}", own.body);
    pending(s, &p.bob, &id);
    assert_eq!(
        user.kinit(),
        Login::Succeeded,
        "written without a second person"
    );

    let (bob, bob_csrf) = s.session("bob");
    let approved = s.portal(
        "POST",
        &format!("/ui/jobs/{id}/approve"),
        &[&bob],
        Some(&format!("csrf={bob_csrf}&comment=ok")),
    );
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(finished(s, &p.bob, &id)["outcome"], "verified");
    assert!(matches!(user.kinit(), Login::Revoked(_)));
}
