//! No polling on the hot path: a job's changes wake the worker and its
//! event streams at once, on one node and across nodes sharing PostgreSQL
//! (`NOTIFY riposte_jobs`); `POST /api/v1/actions?wait=SECONDS` answers
//! with the finished job.
//!
//! Needs the Samba lab and the test PostgreSQL; fails, never skips, without them.

use std::time::{Duration, Instant};

use crate::harness::{Serve, riposte_config};
use riposte_store_sql::testing::TestDatabase;
use riposte_testlab::http::{Response, request};
use serde_json::{Value, json};

fn post(addr: &str, token: &str, path: &str, body: &Value) -> Response {
    request(
        addr,
        "POST",
        path,
        &[format!("Authorization: Bearer {token}")],
        Some(&body.to_string()),
    )
}

/// The final job from the job's event stream (read to its end).
fn follow(addr: &str, token: &str, job_id: &str) -> (String, Value) {
    let events = request(
        addr,
        "GET",
        &format!("/api/v1/jobs/{job_id}/events"),
        &[format!("Authorization: Bearer {token}")],
        None,
    );
    assert_eq!(events.status, 200, "{}", events.body);
    let last = events
        .body
        .split("event: finished")
        .nth(1)
        .unwrap_or_else(|| panic!("no finished event: {}", events.body));
    let data = last
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data");
    let job = serde_json::from_str::<Value>(data).unwrap()["job"].clone();
    (events.body.clone(), job)
}

#[test]
fn wait_answers_with_the_finished_job_and_refuses_what_is_not_0_to_30_seconds() {
    let lab = crate::harness::lab();
    let server = Serve::start(&lab, None, "");
    let token = server.token("soar", "responder", &[]);
    let first = lab.create_user("corp", "nw", 0);
    let second = lab.create_user("corp", "nw", 0);
    let body = |reference: String| json!({ "target": reference, "action": "disable", "reason": "wait test" });

    for bad in ["31", "x", "-1", "1.5"] {
        let refused = post(
            &server.addr,
            &token,
            &format!("/api/v1/actions?wait={bad}"),
            &body(first.reference()),
        );
        assert_eq!(refused.status, 400, "wait={bad}: {}", refused.body);
        assert!(
            refused.body.contains("0 to 30"),
            "the error says what is allowed: {}",
            refused.body
        );
    }
    let jobs = request(
        &server.addr,
        "GET",
        "/api/v1/jobs",
        &[format!("Authorization: Bearer {token}")],
        None,
    );
    assert!(
        !jobs.body.contains(&first.reference()),
        "a refused wait queues nothing: {}",
        jobs.body
    );

    let at_once = post(
        &server.addr,
        &token,
        "/api/v1/actions?wait=0",
        &body(first.reference()),
    );
    // wait=0 answers at once, 202, without waiting: the worker, woken by the
    // same commit, may already have claimed the job when the answer is made.
    assert_eq!(at_once.status, 202, "{}", at_once.body);
    let state = at_once.json()["state"].clone();
    assert!(
        ["queued", "running", "finished"].contains(&state.as_str().unwrap_or_default()),
        "{}",
        at_once.body
    );

    let waited = post(
        &server.addr,
        &token,
        "/api/v1/actions?wait=30",
        &body(second.reference()),
    );
    assert_eq!(waited.status, 200, "{}", waited.body);
    let job = waited.json();
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(job["outcome"], "verified", "{job}");
    assert!(
        job["events"].is_array() || job["timeline"].is_array(),
        "the job as GET /api/v1/jobs/{{id}} shows it: {job}"
    );

    // A job that outlasts the wait: the usual 202, the job as it stands.
    let slow = Serve::start(&lab, Some("before-write=sleep:4000"), "");
    let token = slow.token("soar", "responder", &[]);
    let third = lab.create_user("corp", "nw", 0);
    let late = post(
        &slow.addr,
        &token,
        "/api/v1/actions?wait=1",
        &body(third.reference()),
    );
    assert_eq!(late.status, 202, "{}", late.body);
    assert!(late.json()["outcome"].is_null(), "{}", late.body);
    assert!(late.json()["links"]["events"].is_string(), "{}", late.body);
}

#[test]
fn a_job_asked_of_one_node_is_claimed_by_another_at_once_and_followed_to_its_end() {
    let lab = crate::harness::lab();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create("notify_nodes"));
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    // Both nodes read the ledger unprompted only every 60 s: the job below
    // can only finish well within that if the NOTIFY woke them.
    let config = lab.private_config(dir.path(), |t| {
        format!("database_url = {url:?}\n{t}\n[server]\njob_poll_secs = 60\n")
    });
    let token = riposte_config(
        &config,
        &[
            "--json", "token", "create", "--name", "notify", "--role", "admin",
        ],
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    let token = token.json()["token"].as_str().unwrap().to_string();

    // Node A takes requests and runs no worker; node B only claims.
    let node_a = Serve::on_config(&config)
        .env("RIPOSTE_WORKER", "false")
        .start();
    let node_b = Serve::on_config(&config).start();
    let user = lab.create_user("corp", "nn", 0);

    let started = Instant::now();
    let queued = post(
        &node_a.addr,
        &token,
        "/api/v1/actions",
        &json!({ "target": user.reference(), "action": "disable", "reason": "cross-node test" }),
    );
    assert_eq!(queued.status, 202, "{}", queued.body);
    let job_id = queued.json()["job_id"].as_str().unwrap().to_string();
    // A's stream: woken by B's changes, relayed by LISTEN on A.
    let (events, job) = follow(&node_a.addr, &token, &job_id);
    let took = started.elapsed();
    assert_eq!(job["outcome"], "verified", "{job}");
    let claimed_by_b = format!(":{}:", node_b.child.id());
    assert!(
        events.contains(&claimed_by_b),
        "node B (pid {}) claimed the job: {events}",
        node_b.child.id()
    );
    // Not a timing measurement: a bound far below the 60 s poll, proof
    // that neither B's worker nor A's stream waited for it.
    assert!(
        took < Duration::from_secs(20),
        "the job took {took:?}: someone waited for the 60 s poll"
    );
    drop(node_a);
    drop(node_b);
}
