//! Bulk Entra work in a Graph storm (issue #8): `riposte serve` runs a bulk
//! disable of 60 cloud-only users against a Graph TEST DOUBLE of this test's
//! own (never the lab's shared one) that answers most calls with 429 (a
//! Retry-After of 0-2 s, or none), 503 (some as a gateway's HTML), slow
//! answers, and a few answers held past riposte's timeout after the write
//! was done. Every reference ends planned or unresolved with a reason; every
//! child job ends once, `verified` only where the double shows the effect
//! with exactly one write, `failed` saying what is true otherwise; nothing
//! is left running; the audit chain is intact.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::harness::{Serve, riposte_config, start_graph_double};
use riposte_graph_double::{Shared, Stats, Storm, User};
use riposte_testlab::Lab;
use riposte_testlab::http::request;
use serde_json::{Value, json};

const USERS: usize = 60;
const LOST_ANSWERS: u32 = 3;

fn users() -> Vec<User> {
    (0..USERS)
        .map(|i| {
            User::member(
                format!("00000000-0000-0000-0000-00000005{i:04}"),
                format!("gale{i}@contoso.example"),
                format!("Gale {i}"),
            )
        })
        .collect()
}

/// The test's own double ([`start_graph_double`]) with this test's users.
fn start_double(lab: &Lab) -> (String, Shared) {
    let (address, state) = start_graph_double(lab, users());
    state.lock().unwrap().page_size = 20;
    (address, state)
}

/// The harness's `riposte serve`, with the API calls of these tests.
struct Server(Serve);

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.0
    }
}

impl Server {
    fn call(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.0.api_json(token, method, path, body)
    }

    fn token(&self, name: &str, role: &str) -> String {
        self.0.token(name, role, &[])
    }
}

/// `riposte serve` on the lab's forests and this test's double: 6 attempts,
/// waits of at most 2 s, a 1 s timeout, 16 children at once per tenant (and
/// 16 lookups at once while planning: `per_dc` bounds those too).
fn start_server(lab: &Lab, double: &str) -> Server {
    start_server_with(lab, double, None)
}

/// The same, with a failpoint; its stderr is kept line by line.
fn start_server_with(lab: &Lab, double: &str, failpoint: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let double = double.to_string();
    let config = lab.private_config(dir.path(), move |t| {
        assert!(t.contains("127.0.0.1:8441"), "the lab config names no Graph double");
        let t = t.replace("127.0.0.1:8441", &double);
        let t = t.replace(
            &format!("graph_url = \"http://{double}/v1.0\""),
            &format!(
                "graph_url = \"http://{double}/v1.0\"\nmax_attempts = 6\nmax_backoff_secs = 2\ntimeout_secs = 1"
            ),
        );
        format!("{t}\n[bulk]\nper_dc = 16\nper_tenant = 16\n# The storm is the test, not the second person's approval.\napproval_above = 1000\n")
    });
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("max_attempts = 6"), "{text}");
    let serve = Serve::on_config(&config)
        .env("RIPOSTE_LOG", "error")
        .failpoints(failpoint)
        .stderr_lines()
        .keep_dir(dir)
        .start();
    Server(serve)
}

fn figures(s: &Stats) -> String {
    format!(
        "{} requests ({} tokens), injected {} x 429 ({} without Retry-After), {} x 503 ({} HTML), {} slowed ({} ms), {} stalled past the timeout; {} writes applied to {} users",
        s.requests,
        s.tokens,
        s.throttled,
        s.throttled_without_retry_after,
        s.unavailable,
        s.unavailable_html,
        s.slowed,
        s.delay_ms_total,
        s.stalled,
        s.writes_applied.values().sum::<u32>(),
        s.writes_applied.len()
    )
}

#[test]
fn a_bulk_disable_in_a_graph_storm_ends_every_child_honestly_and_loses_nothing() {
    let lab = crate::harness::lab();
    let (double, state) = start_double(&lab);
    let server = start_server(&lab, &double);
    let responder = server.token("storm-responder", "responder");
    let reader = server.token("storm-reader", "reader");
    // The storm starts once riposte is up (its start-up readiness scan included).
    let storm = Storm {
        seed: 8,
        stall_percent: 2,
        stall_ms: 1500,
        ..Storm::default()
    };
    let r = request(
        &double,
        "POST",
        "/_double/storm",
        &[],
        Some(&serde_json::to_string(&storm).unwrap()),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    // And, whatever the storm draws, three writes are applied and their answers
    // held past riposte's timeout: a write done whose answer never arrives.
    let faults = json!({ "lose_write_answers": LOST_ANSWERS, "lost_answer_ms": 1500 });
    let r = request(
        &double,
        "POST",
        "/_double/faults",
        &[],
        Some(&faults.to_string()),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = request(&double, "DELETE", "/_double/stats", &[], None);
    assert_eq!(r.status, 204);

    let started = Instant::now();
    let references: Vec<String> = users()
        .iter()
        .map(|u| format!("contoso:{}", u.user_principal_name))
        .collect();
    let body = json!({ "action": "disable", "reason": "test: graph storm",
        "selector": { "kind": "references", "value": references } });
    // Planning resolves every reference through the storm before the answer.
    let (status, created) = server.call(&responder, "POST", "/api/v1/bulk", Some(&body));
    assert_eq!(status, 202, "{created}");
    let planning = started.elapsed();
    let id = created["bulk_id"].as_str().unwrap().to_string();
    let left_out = &created["left_out"];
    // Every reference is planned or unresolved with its reason: none dropped.
    let unresolved: Vec<String> = left_out["unresolved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert!(
                u["reason"].as_str().unwrap().contains("tenant contoso"),
                "{u}"
            );
            u["reference"].as_str().unwrap().to_string()
        })
        .collect();
    let planned = created["counts"]["total"].as_u64().unwrap() as usize;
    assert_eq!(
        planned + unresolved.len(),
        USERS,
        "a reference went missing from the plan: {created}"
    );
    for kind in ["protected", "skipped"] {
        assert_eq!(
            left_out[kind].as_array().map(Vec::len),
            Some(0),
            "{created}"
        );
    }

    // The bound: 6 attempts of at most 1 s + 5 waits of at most 2 s = 16 s per
    // request, 3 requests a child (48 s), 16 children at once, at most 60
    // children: 4 rounds, 192 s.
    let deadline = Instant::now() + Duration::from_secs(200);
    let finished = loop {
        let (status, view) = server.call(&reader, "GET", &format!("/api/v1/bulk/{id}"), None);
        assert_eq!(status, 200, "{view}");
        if view["state"] == "finished" {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the bulk did not end within its bound: {view}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let elapsed = started.elapsed();
    let stats = state.lock().unwrap().stats.clone();
    let now: HashMap<String, User> = state
        .lock()
        .unwrap()
        .users
        .iter()
        .map(|u| (u.user_principal_name.clone(), u.clone()))
        .collect();
    let counts = &finished["counts"];
    assert_eq!(counts["total"], planned as u64, "{finished}");
    assert_eq!(
        (counts["queued"].as_u64(), counts["running"].as_u64()),
        (Some(0), Some(0)),
        "{finished}"
    );

    let (status, jobs) = server.call(
        &reader,
        "GET",
        &format!("/api/v1/jobs?bulk={id}&limit=500"),
        None,
    );
    assert_eq!(status, 200, "{jobs}");
    let jobs = jobs["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), planned);
    let mut tally: HashMap<String, usize> = HashMap::new();
    let mut acted_on = HashSet::new();
    let (mut lost_answers, mut settled) = (0, 0);
    for job in &jobs {
        assert_eq!(job["state"], "finished", "{job}");
        let outcome = job["outcome"].as_str().unwrap().to_string();
        let steps = job["evidence"]["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 1, "{job}");
        let upn = steps[0]["step"]["upn"].as_str().expect("the step's UPN");
        assert!(acted_on.insert(upn.to_string()), "{upn} in two jobs");
        let user = &now[upn];
        let applied = stats
            .writes_applied
            .get(&user.id)
            .copied()
            .unwrap_or_default();
        let message = steps[0]["message"].as_str().unwrap_or_default();
        assert!(applied <= 1, "{upn} was disabled {applied} times");
        assert_eq!(
            !user.account_enabled,
            applied == 1,
            "{upn}: the double's state and counter disagree"
        );
        if message.contains("answer to the write was lost")
            || message.contains("may have been applied")
        {
            settled += 1;
        }
        match outcome.as_str() {
            "verified" => {
                assert!(!user.account_enabled, "{upn} verified but enabled: {job}");
                if message.contains("answer to the write was lost") {
                    lost_answers += 1;
                }
            }
            "failed" if !user.account_enabled => assert!(
                message.contains("read-back failed") || message.contains("may have been applied"),
                "{upn} is disabled in the double, yet riposte says: {message}"
            ),
            "failed" => assert!(
                message.contains("tenant contoso"),
                "{upn}: a failure without its reason: {message}"
            ),
            other => panic!("{upn}: {other}: {job}"),
        }
        let sent = steps[0]["details"]["writes"]
            .as_array()
            .is_some_and(|w| !w.is_empty());
        let kind = match (outcome.as_str(), sent, applied) {
            ("failed", false, _) => "failed before any write (the read ran out of attempts)",
            ("failed", true, 0) => "failed, write not applied (throttled or 503 to the end)",
            ("failed", true, _) => "failed, write applied but not confirmed by a read (said so)",
            _ => "verified",
        };
        *tally.entry(kind.to_string()).or_default() += 1;
    }
    for reference in &unresolved {
        let upn = reference.trim_start_matches("contoso:");
        assert!(now[upn].account_enabled, "{upn} unresolved, yet disabled");
        assert!(!stats.writes_applied.contains_key(&now[upn].id));
    }
    assert_eq!(
        stats.writes_applied.values().sum::<u32>() as usize,
        now.values().filter(|u| !u.account_enabled).count()
    );
    assert!(
        stats.throttled > 0 && stats.unavailable > 0,
        "no storm: {stats:?}"
    );
    assert!(tally.get("verified").copied().unwrap_or(0) > 0, "{tally:?}");
    assert!(
        settled >= LOST_ANSWERS as usize,
        "{settled} jobs say a write's answer was lost; {LOST_ANSWERS} were held back"
    );

    // The trail: the request names every child; each has exactly one outcome record.
    let audit = riposte_config(&server.config, &["audit", "export", "--format", "raw"]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    let records: Vec<Value> = audit
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requested = records
        .iter()
        .find(|r| r["event"] == "bulk-requested" && r["details"]["bulk_id"] == id.as_str())
        .expect("the bulk's request record");
    assert_eq!(
        requested["details"]["jobs"].as_array().unwrap().len(),
        planned
    );
    for job in &jobs {
        let outcomes = records
            .iter()
            .filter(|r| r["event"] == "action-outcome" && r["job_id"] == job["job_id"])
            .count();
        assert_eq!(
            outcomes, 1,
            "job {}: {outcomes} outcome records",
            job["job_id"]
        );
    }
    let verify = riposte_config(&server.config, &["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    eprintln!(
        "graph storm figures: {USERS} users, {planned} planned, {} unresolved; outcomes {tally:?} ({settled} settled by a read-back after a lost answer, {lost_answers} of them verified); double: {}; planning {:.1} s, in all {:.1} s",
        unresolved.len(),
        figures(&stats),
        planning.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}

/// Under a storm, planning a bulk (every reference looked up in Graph) takes
/// long before the answer; a caller that gives up and hangs up must not leave
/// children that run without the request record that names them.
#[test]
fn a_caller_that_hangs_up_while_a_bulk_is_recorded_leaves_no_child_without_its_request() {
    use std::io::Write;
    let lab = crate::harness::lab();
    let (double, state) = start_double(&lab);
    let server = start_server_with(&lab, &double, Some("after-create-bulk=sleep:3000"));
    let responder = server.token("hangup-responder", "responder");
    let reader = server.token("hangup-reader", "reader");
    let body = json!({ "action": "revoke-sessions", "reason": "test: caller hangs up",
        "selector": { "kind": "references", "value": ["contoso:gale1@contoso.example", "contoso:gale2@contoso.example"] } })
    .to_string();
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "POST /api/v1/bulk HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {responder}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.stderr_lines().recv_timeout(left) {
            Ok(line) if line.contains("failpoint after-create-bulk") => break,
            Ok(_) => continue,
            Err(_) => panic!("riposte serve never reached the failpoint after-create-bulk"),
        }
    }
    // The bulk, its children and their request record are recorded; the caller hangs up.
    drop(stream);
    let finished = loop {
        let (status, list) = server.call(&reader, "GET", "/api/v1/bulk", None);
        assert_eq!(status, 200, "{list}");
        let bulks = list["bulk"].as_array().unwrap().clone();
        if let Some(b) = bulks.first()
            && b["state"] == "finished"
        {
            break b.clone();
        }
        assert!(Instant::now() < deadline, "the bulk never finished: {list}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let id = finished["bulk_id"].as_str().unwrap().to_string();
    assert_eq!(finished["counts"]["verified"], 2, "{finished}");
    // The children and their request record are written in one transaction,
    // so the record is there however early the worker ran them.
    let requested = loop {
        let audit = riposte_config(&server.config, &["audit", "export", "--format", "raw"]);
        let found = audit
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|r| r["event"] == "bulk-requested" && r["details"]["bulk_id"] == id.as_str());
        if let Some(r) = found {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the children ran without the request record naming them"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(requested["details"]["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(state.lock().unwrap().stats.writes_applied.len(), 2);
}
