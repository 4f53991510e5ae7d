//! The REST API against the real lab: every endpoint, each role, 401/403,
//! idempotency, live events, CSV, metrics, graceful shutdown.

use crate::harness::{Serve, riposte_config};
use riposte_testlab::http::{Response, request};
use riposte_testlab::{Lab, Login};
use serde_json::{Value, json};

/// A `riposte serve` on a free port with its own ledger (the harness's), and the API calls of
/// these tests.
struct Server(Serve);

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Serve {
        &mut self.0
    }
}

impl Server {
    fn start(lab: &Lab, failpoints: Option<&str>) -> Server {
        Self::start_with(lab, failpoints, "")
    }

    /// `extra` is appended to the config (e.g. a [safeguards] table).
    fn start_with(lab: &Lab, failpoints: Option<&str>, extra: &str) -> Server {
        Server(Serve::start(lab, failpoints, extra))
    }

    /// A person with no portal password (`riposte person add` without one).
    fn person_without_password(&self, name: &str, role: &str) {
        let out = riposte_config(
            &self.config,
            &["person", "add", "--name", name, "--role", role],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
    }

    fn get(&self, token: Option<&str>, path: &str) -> Response {
        request(&self.addr, "GET", path, &auth(token), None)
    }

    fn post_action(&self, token: Option<&str>, body: &Value, key: Option<&str>) -> Response {
        let mut headers = auth(token);
        if let Some(k) = key {
            headers.push(format!("Idempotency-Key: {k}"));
        }
        request(
            &self.addr,
            "POST",
            "/api/v1/actions",
            &headers,
            Some(&body.to_string()),
        )
    }

    /// Follows the job's server-sent events to its end; returns the final job.
    fn follow(&self, token: &str, job_id: &str) -> Value {
        let events = self.get(Some(token), &format!("/api/v1/jobs/{job_id}/events"));
        assert_eq!(events.status, 200);
        assert!(events.body.contains("event: queued"), "{}", events.body);
        let last = events
            .body
            .split("event: finished")
            .nth(1)
            .expect("a finished event");
        let data = last
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("data");
        serde_json::from_str::<Value>(data).unwrap()["job"].clone()
    }
}

fn auth(token: Option<&str>) -> Vec<String> {
    token
        .map(|t| vec![format!("Authorization: Bearer {t}")])
        .unwrap_or_default()
}

fn action(target: &str, action: &str) -> Value {
    json!({ "target": target, "action": action, "reason": "api test" })
}

#[test]
fn no_data_without_credentials_and_revoked_tokens_stop_working() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    assert_eq!(server.get(None, "/healthz").status, 200);
    assert_eq!(server.get(None, "/readyz").status, 200);
    let openapi = server.get(None, "/api/v1/openapi.json");
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.json()["openapi"], "3.1.0");
    assert!(openapi.json()["paths"]["/api/v1/actions"]["post"].is_object());
    let data_routes = [
        "/api/v1/whoami",
        "/api/v1/identities?q=ernie",
        "/api/v1/identities/corp:ernie",
        "/api/v1/jobs",
        "/api/v1/jobs/export.csv",
        "/api/v1/jobs/01a21926-855c-753d-a360-75d831e6da64",
        "/api/v1/jobs/01a21926-855c-753d-a360-75d831e6da64/events",
        "/metrics",
    ];
    for route in data_routes {
        let r = server.get(None, route);
        assert_eq!(r.status, 401, "{route}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "unauthenticated", "{route}");
        assert!(!r.body.contains("ernie"), "{route} leaked data: {}", r.body);
        assert_eq!(
            server.get(Some("rpt_not-a-token"), route).status,
            401,
            "{route}"
        );
    }
    assert_eq!(
        server
            .post_action(None, &action("corp:ernie", "disable"), None)
            .status,
        401
    );

    let token = server.token("revoke-me", "reader", &[]);
    assert_eq!(
        server.get(Some(&token), "/api/v1/whoami").json()["principal"],
        "token:revoke-me"
    );
    let listed = riposte_config(&server.config, &["--json", "token", "list"]).json();
    let id = listed["tokens"][0]["id"].as_str().unwrap().to_string();
    assert!(
        !listed.to_string().contains(&token),
        "token list shows a secret"
    );
    assert_eq!(
        riposte_config(&server.config, &["token", "revoke", &id]).code,
        0
    );
    assert_eq!(server.get(Some(&token), "/api/v1/whoami").status, 401);
    let audit = riposte_config(&server.config, &["audit", "export", "--format", "raw"]).stdout;
    assert!(
        audit.contains("\"token-created\"") && audit.contains("\"token-revoked\""),
        "{audit}"
    );
    assert!(
        !audit.contains(&token),
        "a token secret reached the audit trail"
    );
}

#[test]
fn a_reader_sees_but_cannot_act() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let reader = server.token("reader", "reader", &[]);
    let found = server
        .get(Some(&reader), "/api/v1/identities?q=ernie")
        .json();
    let refs: Vec<&str> = found["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert!(
        refs.contains(&"corp:ernie") && refs.contains(&"fabrikam:ernie"),
        "{refs:?}"
    );
    let ernie = server
        .get(Some(&reader), "/api/v1/identities/corp:ernie")
        .json();
    assert_eq!(ernie["dn"], "CN=ernie,OU=Staff,DC=corp,DC=example,DC=test");
    assert_eq!(
        ernie["permitted_actions"],
        json!([]),
        "a reader is offered no action"
    );
    let refused = server.post_action(Some(&reader), &action("corp:ernie", "disable"), None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "forbidden");
    assert!(
        refused.json()["error"]["details"]["missing_right"]
            .as_str()
            .unwrap()
            .contains("responder")
    );
    // The role is checked before the request is read: whatever a reader sends, it is refused
    // the same way (found by scripts/api-fuzz: these were 400 and 404).
    let unknown = action("corp:no-such-account-here", "disable").to_string();
    for (path, body) in [
        ("/api/v1/actions", "{not json"),
        ("/api/v1/actions", unknown.as_str()),
        ("/api/v1/jobs/not-a-job-id/approve", "{}"),
        (
            "/api/v1/jobs/01a21926-855c-753d-a360-75d831e6da64/reject",
            "{",
        ),
        ("/api/v1/bulk", "{}"),
        (
            "/api/v1/bulk/01a21926-855c-753d-a360-75d831e6da64/cancel",
            "",
        ),
        ("/api/v1/bulk/not-a-bulk-id/undo", "{}"),
    ] {
        let r = request(&server.addr, "POST", path, &auth(Some(&reader)), Some(body));
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "forbidden", "{path}");
    }
    let jobs = server.get(Some(&reader), "/api/v1/jobs").json();
    assert!(
        jobs["jobs"].as_array().unwrap().is_empty(),
        "a refused request must not become a job"
    );
    // Query values outside what the OpenAPI document allows are refused, never silently changed.
    let long_target = format!("/api/v1/jobs?target={}", "x".repeat(1025));
    for path in [
        "/api/v1/jobs?limit=501",
        "/api/v1/jobs?limit=0",
        "/api/v1/jobs/export.csv?limit=501",
        "/api/v1/jobs?source=carrier-pigeon",
        long_target.as_str(),
        "/api/v1/alerts?limit=501",
        "/api/v1/bulk?limit=501",
        "/api/v1/identities?q=ernie&limit=201",
    ] {
        let r = server.get(Some(&reader), path);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "malformed_query", "{path}");
    }
    assert_eq!(
        server.get(Some(&reader), "/api/v1/jobs?limit=500").status,
        200
    );
    // A name whose fifth byte is inside a character is a name, not a crash (found by
    // scripts/api-fuzz: the connection was dropped by a panic).
    let r = server.get(Some(&reader), "/api/v1/identities/u%C3%80%C3%B4%C2%BF");
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn a_scoped_responder_is_refused_outside_the_scope_with_the_missing_right() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let fabrikam_only = server.token("fab", "responder", &["--forest", "fabrikam"]);
    let r = server.post_action(Some(&fabrikam_only), &action("corp:ernie", "disable"), None);
    assert_eq!(r.status, 403);
    assert!(
        r.json()["error"]["details"]["missing_right"]
            .as_str()
            .unwrap()
            .contains("forest corp"),
        "{}",
        r.body
    );
    let disable_only = server.token("dis", "responder", &["--action", "disable"]);
    let r = server.post_action(
        Some(&disable_only),
        &action("corp:ernie", "force-password-reset"),
        None,
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("force-password-reset"), "{}", r.body);
    let ernie = server
        .get(Some(&disable_only), "/api/v1/identities/corp:ernie")
        .json();
    assert_eq!(ernie["permitted_actions"], json!(["disable"]));
}

/// Misuse: registering a SOAR's predictable Idempotency-Key first used to make its later
/// disable return `replayed: true` with the squatter's job, and nothing was disabled.
#[test]
fn an_idempotency_key_belongs_to_its_caller() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let soar = server.token("soar", "responder", &[]);
    let mallory = server.token("mallory", "responder", &[]);
    let victim = lab.create_user("corp", "idk", 0);
    let decoy = lab.create_user("corp", "idd", 0);
    let key = format!("soar-disable-{}", victim.name);

    let squat = server.post_action(
        Some(&mallory),
        &action(&decoy.reference(), "unlock"),
        Some(&key),
    );
    assert_eq!(squat.status, 202, "{}", squat.body);
    let squat_id = squat.json()["job_id"].as_str().unwrap().to_string();

    let real = server.post_action(
        Some(&soar),
        &action(&victim.reference(), "disable"),
        Some(&key),
    );
    assert_eq!(real.status, 202, "{}", real.body);
    assert_eq!(real.json()["replayed"], false, "{}", real.body);
    let real_id = real.json()["job_id"].as_str().unwrap().to_string();
    assert_ne!(real_id, squat_id);
    let finished = server.follow(&soar, &real_id);
    assert_eq!(finished["outcome"], "verified", "{finished}");
    // The one rule behind undo, as the API shows it.
    assert_eq!(finished["changed_something"], true, "{finished}");
    assert_eq!(finished["requested_by"], "token:soar");
    let squatted = server.follow(&mallory, &squat_id);
    assert_eq!(squatted["outcome"], "already", "{squatted}");
    assert_eq!(squatted["changed_something"], false, "{squatted}");
    assert!(matches!(victim.kinit(), Login::Revoked(_)));

    // Each caller's retry replays its own job.
    for (token, body, id) in [
        (&soar, action(&victim.reference(), "disable"), &real_id),
        (&mallory, action(&decoy.reference(), "unlock"), &squat_id),
    ] {
        let again = server.post_action(Some(token), &body, Some(&key));
        assert_eq!(again.status, 202, "{}", again.body);
        assert_eq!(again.json()["replayed"], true);
        assert_eq!(again.json()["job_id"], id.as_str());
    }
}

#[test]
fn a_responder_disables_through_the_api_and_follows_it_to_verified() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let responder = server.token("responder", "responder", &[]);
    let user = lab.create_user("corp", "api", 0);
    let r = server.post_action(
        Some(&responder),
        &action(&user.reference(), "disable"),
        Some("incident-7-disable"),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/jobs/{job_id}").as_str())
    );

    let finished = server.follow(&responder, &job_id);
    assert_eq!(finished["outcome"], "verified", "{finished}");
    assert_eq!(finished["requested_by"], "token:responder");
    assert_eq!(finished["source"], "api");
    assert!(matches!(user.kinit(), Login::Revoked(_)));

    // The same idempotency key returns the same job and does nothing new.
    let again = server.post_action(
        Some(&responder),
        &action(&user.reference(), "disable"),
        Some("incident-7-disable"),
    );
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["job_id"], job_id.as_str());
    assert_eq!(again.json()["replayed"], true);

    let job = server
        .get(Some(&responder), &format!("/api/v1/jobs/{job_id}"))
        .json();
    assert_eq!(job["evidence"]["after"]["userAccountControl"], 0x202);
    let listed = server
        .get(
            Some(&responder),
            &format!("/api/v1/jobs?target={}&outcome=verified", user.name),
        )
        .json();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    let none = server
        .get(
            Some(&responder),
            &format!("/api/v1/jobs?target={}&outcome=failed", user.name),
        )
        .json();
    assert!(none["jobs"].as_array().unwrap().is_empty());
    let csv = server.get(
        Some(&responder),
        &format!("/api/v1/jobs/export.csv?target={}", user.name),
    );
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(csv.body.lines().count(), 2, "{}", csv.body);
    assert!(csv.body.contains(&job_id) && csv.body.contains("verified"));
    let metrics = server.get(Some(&responder), "/metrics").body;
    assert!(
        metrics.contains("riposte_jobs_total{action=\"disable\",outcome=\"verified\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("riposte_http_requests_total{method=\"POST\",route=\"/api/v1/actions\",status=\"202\"} 2"), "{metrics}");
}

#[test]
fn bad_requests_get_a_stable_code_and_change_nothing() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let admin = server.token("admin", "admin", &[]);
    let post_raw = |body: &str| {
        request(
            &server.addr,
            "POST",
            "/api/v1/actions",
            &auth(Some(&admin)),
            Some(body),
        )
    };
    let cases: Vec<(Response, u16, &str)> = vec![
        (post_raw("{not json"), 400, "malformed_request"),
        (
            post_raw(r#"{"target":"corp:ernie","action":"explode","reason":"x"}"#),
            400,
            "malformed_request",
        ),
        (
            post_raw(r#"{"target":"corp:ernie","action":"disable"}"#),
            400,
            "malformed_request",
        ),
        (
            server.post_action(
                Some(&admin),
                &json!({"target":"corp:ernie","action":"disable","reason":"  "}),
                None,
            ),
            400,
            "reason_required",
        ),
        (
            server.post_action(Some(&admin), &action("corp:nobody-here", "disable"), None),
            404,
            "identity_not_found",
        ),
        (
            server.post_action(
                Some(&admin),
                &action("*)(sAMAccountName=*", "disable"),
                None,
            ),
            404,
            "identity_not_found",
        ),
        (
            server.post_action(Some(&admin), &action("ernie", "disable"), None),
            409,
            "ambiguous_reference",
        ),
        (
            server.post_action(Some(&admin), &action("nowhere:ernie", "disable"), None),
            400,
            "unknown_forest",
        ),
        (
            server.get(Some(&admin), "/api/v1/jobs/not-a-uuid"),
            400,
            "malformed_job_id",
        ),
        (
            server.get(
                Some(&admin),
                "/api/v1/jobs/01a21926-855c-753d-a360-75d831e6da64",
            ),
            404,
            "job_not_found",
        ),
        (
            server.get(Some(&admin), "/api/v1/jobs?since=yesterday"),
            400,
            "malformed_query",
        ),
        (
            server.get(Some(&admin), "/api/v1/jobs?bogus=1"),
            400,
            "malformed_query",
        ),
        (
            server.get(Some(&admin), "/api/v1/nothing"),
            404,
            "no_such_route",
        ),
    ];
    for (i, (r, status, code)) in cases.iter().enumerate() {
        assert_eq!(r.status, *status, "case {i}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], *code, "case {i}: {}", r.body);
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    assert!(
        cases[6].0.body.contains("fabrikam:ernie"),
        "the candidates are listed"
    );
    let jobs = server.get(Some(&admin), "/api/v1/jobs").json();
    assert!(
        jobs["jobs"].as_array().unwrap().is_empty(),
        "bad input became a job: {jobs}"
    );
}

#[test]
fn csv_cells_never_become_spreadsheet_formulas() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let admin = server.token("admin", "admin", &[]);
    let user = lab.create_user("corp", "csv", 0);
    let body = json!({ "target": user.reference(), "action": "unlock", "reason": "=HYPERLINK(\"http://evil\")" });
    let job_id = server.post_action(Some(&admin), &body, None).json()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    server.follow(&admin, &job_id);
    let csv = server
        .get(
            Some(&admin),
            &format!("/api/v1/jobs/export.csv?target={}", user.name),
        )
        .body;
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{csv}"
    );
}

#[test]
fn stopping_the_service_lets_the_running_job_finish() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, Some("after-write=sleep:2000"));
    let admin = server.token("admin", "admin", &[]);
    let user = lab.create_user("corp", "drn", 0);
    let r = server.post_action(Some(&admin), &action(&user.reference(), "disable"), None);
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    // Wait until the worker is inside the job, past its write.
    for _ in 0..100 {
        if server
            .get(Some(&admin), &format!("/api/v1/jobs/{job_id}"))
            .json()["phase"]
            == "writing"
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut server = server;
    let exit = server.terminate();
    assert!(exit.success(), "riposte serve exited with {exit}");
    let shown = riposte_config(&server.config, &["--json", "actions", "show", &job_id]).json();
    assert_eq!(shown["state"], "finished");
    assert_eq!(shown["outcome"], "verified", "{shown}");
    assert!(
        !shown["events"].to_string().contains("taken over"),
        "the job was not finished by the service itself"
    );
    assert!(matches!(user.kinit(), Login::Revoked(_)));
}

#[test]
fn a_protected_identity_waits_for_a_second_person() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "prot", 0);
    let other = lab.create_user("corp", "prot", 0);
    let extra = format!(
        "\n[safeguards]\nprotected = [{:?}, {:?}]\n",
        user.reference(),
        other.dn
    );
    let server = Server::start_with(&lab, None, &extra);
    // A second person is another person: each token belongs to one.
    server.person_without_password("alice", "responder");
    server.person_without_password("bob", "responder");
    let alice = server.token("alice", "responder", &["--owner", "alice"]);
    let bob = server.token("bob", "responder", &["--owner", "bob"]);
    let reader = server.token("reader", "reader", &[]);

    let r = server.post_action(Some(&alice), &action(&user.reference(), "disable"), None);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["awaiting_approval"], true);
    assert!(
        r.json()["approval_reason"]
            .as_str()
            .unwrap()
            .contains("listed as protected")
    );
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let waiting = server
        .get(Some(&alice), &format!("/api/v1/jobs/{job_id}"))
        .json();
    assert_eq!(
        (waiting["state"].as_str(), waiting["approval"].as_str()),
        (Some("queued"), Some("pending")),
        "{waiting}"
    );
    assert_eq!(
        user.kinit(),
        Login::Succeeded,
        "a protected account was written before approval"
    );

    let approve = |token: &str| {
        request(
            &server.addr,
            "POST",
            &format!("/api/v1/jobs/{job_id}/approve"),
            &auth(Some(token)),
            Some(r#"{"comment":"ok"}"#),
        )
    };
    let own = approve(&alice);
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(
        own.json()["error"]["details"]["missing_right"]
            .as_str()
            .unwrap()
            .contains("second person")
    );
    assert_eq!(approve(&reader).status, 403);
    let approved = approve(&bob);
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.json()["decided_by"], "token:bob");
    let finished = server.follow(&alice, &job_id);
    assert_eq!(finished["outcome"], "verified", "{finished}");
    assert!(matches!(user.kinit(), Login::Revoked(_)));
    assert_eq!(
        approve(&bob).json()["error"]["code"],
        "not_awaiting_approval"
    );

    // A rejected request ends denied and writes nothing.
    let r = server.post_action(Some(&alice), &action(&other.reference(), "disable"), None);
    let rejected_id = r.json()["job_id"].as_str().unwrap().to_string();
    let rejected = request(
        &server.addr,
        "POST",
        &format!("/api/v1/jobs/{rejected_id}/reject"),
        &auth(Some(&bob)),
        Some(r#"{"comment":"wrong person"}"#),
    );
    assert_eq!(rejected.status, 200, "{}", rejected.body);
    assert_eq!(rejected.json()["outcome"], "denied");
    assert!(
        rejected.json()["message"]
            .as_str()
            .unwrap()
            .contains("rejected by token:bob")
    );
    assert_eq!(other.kinit(), Login::Succeeded);
}

#[test]
fn an_admin_count_account_without_delegation_is_denied_without_waiting_for_approval() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let admin = server.token("admin", "admin", &[]);
    let r = server.post_action(Some(&admin), &action("corp:tier0admin", "disable"), None);
    assert_eq!(r.json()["awaiting_approval"], false, "{}", r.body);
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(server.follow(&admin, &job_id)["outcome"], "denied");
}

#[test]
fn readiness_is_read_by_everyone_refreshed_by_responders_and_paged() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab, None);
    let reader = server.token("ready-reader", "reader", &[]);
    let responder = server.token("ready-responder", "responder", &[]);
    assert_eq!(server.get(None, "/api/v1/readiness").status, 401);
    let refused = request(
        &server.addr,
        "POST",
        "/api/v1/readiness/refresh",
        &auth(Some(&reader)),
        None,
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("responder"), "{}", refused.body);

    let fresh = request(
        &server.addr,
        "POST",
        "/api/v1/readiness/refresh",
        &auth(Some(&responder)),
        None,
    );
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let generated = fresh.json()["generated_at"].clone();
    let report = server.get(Some(&reader), "/api/v1/readiness");
    assert_eq!(report.status, 200, "{}", report.body);
    let report = report.json();
    assert!(report["generated_at"].is_string());
    assert!(report["generated_at"].as_str() >= generated.as_str());
    let corp = report["forests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "corp")
        .unwrap();
    assert!(corp["users_scanned"].as_u64().unwrap() >= 8, "{corp}");

    let page = server.get(
        Some(&reader),
        "/api/v1/readiness/accounts?scope=corp&action=force-password-reset&reason=forced-reset-ineffective&per_page=1",
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    assert!(page["count"].as_u64().unwrap() >= 2, "{page}");
    assert_eq!(page["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_page"], 2);
    let csv = server.get(
        Some(&reader),
        "/api/v1/readiness/accounts.csv?scope=corp&action=force-password-reset&reason=forced-reset-ineffective",
    );
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.body.contains("\"bert\""), "{}", csv.body);
    let bad = server.get(
        Some(&reader),
        "/api/v1/readiness/accounts?scope=corp&action=disable&reason=%27%29%28x",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let missing = server.get(Some(&reader), "/api/v1/readiness/accounts?scope=corp");
    assert_eq!(missing.status, 400, "{}", missing.body);
    // Paging outside the documented ranges is refused; a huge page is empty, not an overflow.
    let group = "/api/v1/readiness/accounts?scope=corp&action=force-password-reset&reason=forced-reset-ineffective";
    for paging in ["per_page=1001", "per_page=0", "page=0"] {
        let r = server.get(Some(&reader), &format!("{group}&{paging}"));
        assert_eq!(r.status, 400, "{paging}: {}", r.body);
    }
    let far = server.get(
        Some(&reader),
        &format!("{group}&page={}&per_page=1000", usize::MAX),
    );
    assert_eq!(far.status, 200, "{}", far.body);
    assert_eq!(far.json()["accounts"], json!([]));
    assert_eq!(far.json()["next_page"], Value::Null);
}

#[test]
fn a_caller_that_hangs_up_leaves_no_job_without_its_request_record() {
    use std::io::Write;
    use std::net::TcpStream;
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t);
    let created = riposte_config(
        &config,
        &[
            "--json",
            "token",
            "create",
            "--name",
            "r",
            "--role",
            "responder",
        ],
    );
    let token = created.json()["token"].as_str().unwrap().to_string();
    let mut server = Serve::on_config(&config)
        .failpoints(Some("after-create-job=sleep:10000"))
        .stderr_lines()
        .start();
    let addr = server.addr.clone();
    let user = lab.create_user("corp", "hang", 0);
    let body = action(&user.reference(), "disable").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/actions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Hang up while the handler sleeps just after the job was recorded.
    loop {
        match server
            .stderr_lines()
            .recv_timeout(std::time::Duration::from_secs(60))
        {
            Ok(l) if l.contains("failpoint after-create-job") => break,
            Ok(_) => continue,
            Err(_) => panic!("the request never reached after-create-job"),
        }
    }
    // The job and its request record were written in one transaction: the
    // record is in the trail already, before the worker was even told.
    let audited = |id: &str| -> Vec<String> {
        riposte_config(&config, &["audit", "export", "--format", "raw"])
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["job_id"] == id)
            .map(|r| r["event"].as_str().unwrap().to_string())
            .collect()
    };
    let recorded = request(
        &addr,
        "GET",
        &format!("/api/v1/jobs?target={}", user.name),
        &auth(Some(&token)),
        None,
    )
    .json();
    let id = recorded["jobs"][0]["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the job is recorded at after-create-job: {recorded}"))
        .to_string();
    let at_failpoint = audited(&id);
    assert!(
        at_failpoint.iter().any(|e| e == "action-requested"),
        "the job is in the ledger without its request record: {at_failpoint:?}"
    );
    drop(stream);
    // The job still runs to its end, and the trail has its request as well as its outcome.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let job = loop {
        let listed = request(
            &addr,
            "GET",
            &format!("/api/v1/jobs?target={}", user.name),
            &auth(Some(&token)),
            None,
        )
        .json();
        let job = listed["jobs"][0].clone();
        if job["state"] == "finished" {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "{listed}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(job["outcome"], "verified", "{job}");
    assert_eq!(job["job_id"], id.as_str());
    // The outcome record follows the finished job.
    let events = loop {
        let events = audited(&id);
        if events.iter().any(|e| e == "action-outcome") || std::time::Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    server.kill();
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "action-requested" || *e == "action-outcome")
            .count(),
        2,
        "one request and one outcome record: {events:?}"
    );
}
