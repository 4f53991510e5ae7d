//! Hostile: a responder scoped to another forest controls an admin's bulk
//! operation. Pause, resume and cancel are refused (API 403, CLI exit 2
//! with the reason) and change nothing; a responder whose scope holds every
//! child may control it.

use crate::harness::Serve;
use riposte_testlab::Login;
use serde_json::{Value, json};

fn state(s: &Serve, token: &str, id: &str) -> Value {
    s.api(token, "GET", &format!("/api/v1/bulk/{id}"), None)
        .json()
}

#[test]
fn a_responder_scoped_to_another_forest_cannot_pause_resume_or_cancel_a_corp_bulk() {
    let lab = crate::harness::lab();
    let users: Vec<_> = (0..3).map(|_| lab.create_user("corp", "hbc", 0)).collect();
    // The bulk's driver waits at its start: the bulk stays recorded and
    // running, nothing written, while the others try to control it.
    let s = Serve::start(&lab, Some("bulk-driver=sleep:120000"), "");
    let admin = s.token("ops-admin", "admin", &[]);
    let fabrikam = s.token("fab-responder", "responder", &["--forest", "fabrikam"]);
    let corp = s.token("corp-responder", "responder", &["--forest", "corp"]);
    let body = json!({
        "action": "disable",
        "selector": { "kind": "references", "value": users.iter().map(|u| u.reference()).collect::<Vec<_>>() },
        "reason": "hostile test: an admin's bulk",
    });
    let created = s.api(&admin, "POST", "/api/v1/bulk", Some(&body.to_string()));
    assert_eq!(created.status, 202, "{}", created.body);
    let id = created.json()["bulk_id"].as_str().unwrap().to_string();

    let foreign = |verb: &str, expected_state: &str| {
        let api = s.api(
            &fabrikam,
            "POST",
            &format!("/api/v1/bulk/{id}/{verb}"),
            None,
        );
        assert_eq!(api.status, 403, "API {verb}: {}", api.body);
        assert!(
            api.json()["error"]["details"]["missing_right"]
                .as_str()
                .unwrap()
                .contains("forest corp"),
            "{}",
            api.body
        );
        let cli = s.cli(&[("RIPOSTE_TOKEN", &fabrikam)], &["bulk", verb, &id]);
        assert!(
            cli.code == 2 || cli.code == 4,
            "CLI {verb} exit {}:\n{}\n{}",
            cli.code,
            cli.stdout,
            cli.stderr
        );
        assert!(cli.stderr.contains("forest corp"), "{}", cli.stderr);
        assert_eq!(
            state(&s, &admin, &id)["state"],
            expected_state,
            "{verb} changed the bulk"
        );
    };
    foreign("pause", "running");
    foreign("cancel", "running");
    let paused = s.api(&admin, "POST", &format!("/api/v1/bulk/{id}/pause"), None);
    assert_eq!(paused.status, 200, "{}", paused.body);
    foreign("resume", "paused");
    foreign("cancel", "paused");
    let audit = s.cli(&[], &["audit", "export", "--format", "raw"]);
    let refusals = audit
        .stdout
        .lines()
        .filter(|l| l.contains("request-refused") && l.contains("token:fab-responder"))
        .count();
    assert_eq!(refusals, 8, "every refused attempt is in the audit trail");

    // A responder whose scope holds every child may control it.
    let cancelled = s.api(&corp, "POST", &format!("/api/v1/bulk/{id}/cancel"), None);
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let bulk = state(&s, &admin, &id);
    assert_eq!(bulk["state"], "cancelled", "{bulk}");
    assert_eq!(bulk["counts"]["verified"], 0, "{bulk}");
    for u in &users {
        assert_eq!(u.kinit(), Login::Succeeded, "{} was written", u.name);
    }
}
