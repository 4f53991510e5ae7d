//! Denial of service, by the unauthenticated and the authenticated, against a
//! real `riposte serve` on the lab: password guessing (throttled per address
//! and per name, no hashing and no oracle while locked, aggregated in the
//! audit trail), the password-hashing bound, event streams per caller and
//! their idle end, slow clients, and alert retention.
//!
//! Clients connect from chosen loopback addresses (127.0.0.2, 127.0.0.3, ...)
//! so one test can be several client addresses.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::harness::Serve;
use riposte_testlab::Lab;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const PASSWORD: &str = "dos-test-password-1";
/// How long any one read may wait before the test calls it hung.
const GUARD: Duration = Duration::from_secs(60);

/// The harness's `riposte serve` (stderr kept) and the directory of its config and ledger.
struct Server {
    serve: Serve,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.serve
    }
}

impl Server {
    /// `extra` is appended to the lab's config; `failpoints` set RIPOSTE_FAILPOINTS.
    fn start(lab: &Lab, extra: &str, failpoints: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = lab.private_config(dir.path(), |t| t + extra);
        Self::start_at(dir, config, failpoints)
    }

    fn start_at(dir: tempfile::TempDir, config: PathBuf, failpoints: Option<&str>) -> Server {
        let serve = Serve::on_config(&config)
            .failpoints(failpoints)
            .stderr_lines()
            .start();
        Server { serve, dir }
    }

    /// A person whose portal password is [`PASSWORD`].
    fn person(&self, name: &str, role: &str) {
        self.serve.person_with_password(name, role, PASSWORD);
    }

    fn token(&self, name: &str, role: &str) -> String {
        self.serve.token(name, role, &[])
    }

    /// Signs `name` in with `password` from the client address `from`.
    async fn sign_in(&self, from: &str, name: &str, password: &str) -> Reply {
        let form = send(&self.addr, from, "GET", "/ui/sign-in", &[], None).await;
        assert_eq!(form.status, 200);
        let token = form
            .cookie("riposte_sign_in")
            .expect("a sign-in CSRF cookie");
        send(
            &self.addr,
            from,
            "POST",
            "/ui/sign-in",
            &[
                format!("Cookie: riposte_sign_in={token}"),
                "Content-Type: application/x-www-form-urlencoded".into(),
            ],
            Some(&format!(
                "name={name}&password={password}&csrf={token}&next=%2Fui%2Fsearch"
            )),
        )
        .await
    }

    /// The audit trail's records of `event`, as exported.
    fn audit(&self, event: &str) -> Vec<Value> {
        self.serve
            .audit()
            .into_iter()
            .filter(|r| r["event"] == event)
            .collect()
    }

    async fn password_checks(&self, token: &str) -> u64 {
        let metrics = send(
            &self.addr,
            "127.0.0.1",
            "GET",
            "/metrics",
            &[format!("Authorization: Bearer {token}")],
            None,
        )
        .await;
        assert_eq!(metrics.status, 200, "{}", metrics.body);
        metrics
            .body
            .lines()
            .find_map(|l| l.strip_prefix("riposte_password_checks_total "))
            .expect("the password check counter")
            .trim()
            .parse()
            .unwrap()
    }

    /// Stops the server as a service manager would (SIGTERM), so it writes
    /// what it owes the audit trail.
    fn stop(&mut self) {
        let status = self.serve.terminate();
        assert!(status.success(), "riposte serve ended with {status}");
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next()?.split_once('='))
            .find(|(k, v)| *k == name && !v.is_empty())
            .map(|(_, v)| v.to_string())
    }
    fn retry_after(&self) -> u64 {
        self.header("retry-after")
            .unwrap_or_else(|| panic!("no Retry-After on {} {}", self.status, self.body))
            .parse()
            .unwrap()
    }
}

/// A connection from the client address `from` (any 127.x.y.z).
async fn connect(addr: &str, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

fn head(method: &str, path: &str, addr: &str, headers: &[String], body: Option<&str>) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head
}

fn parse(raw: &[u8]) -> Reply {
    let raw = String::from_utf8_lossy(raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_else(|| panic!("no status line in {raw:?}"))
        .parse()
        .unwrap();
    Reply {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect(),
        body: body.to_string(),
    }
}

async fn send(
    addr: &str,
    from: &str,
    method: &str,
    path: &str,
    headers: &[String],
    body: Option<&str>,
) -> Reply {
    let mut stream = connect(addr, from).await;
    stream
        .write_all(head(method, path, addr, headers, body).as_bytes())
        .await
        .unwrap();
    if let Some(body) = body {
        stream.write_all(body.as_bytes()).await.unwrap();
    }
    let mut raw = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut raw))
        .await
        .expect("an answer")
        .unwrap();
    parse(&raw)
}

/// Opens an event stream: its status and head, and the connection to read on.
async fn open_stream(addr: &str, token: &str, job: &str) -> (Reply, TcpStream) {
    let mut stream = connect(addr, "127.0.0.1").await;
    let path = format!("/api/v1/jobs/{job}/events");
    stream
        .write_all(
            head(
                "GET",
                &path,
                addr,
                &[format!("Authorization: Bearer {token}")],
                None,
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("a response head")
            .unwrap();
        assert!(n > 0, "closed before a response head: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    }
    (parse(&raw), stream)
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(GUARD, stream.read_to_end(&mut raw))
        .await
        .expect("the server to close the connection");
    String::from_utf8_lossy(&raw).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_throttled_per_address_and_per_name_without_an_oracle_and_recovers() {
    let lab = crate::harness::lab();
    let mut server = Server::start(
        &lab,
        "\n[limits]\nsign_in_failures_per_address = 4\nsign_in_failures_per_name = 3\nsign_in_window_seconds = 4\n",
        None,
    );
    server.person("alice", "reader");
    server.person("bob", "reader");
    let metrics = server.token("metrics", "reader");

    // Per name: three wrong passwords for alice, then her right one, from
    // another address, is refused too, before any hashing (no oracle).
    for _ in 0..3 {
        let wrong = server
            .sign_in("127.0.0.2", "alice", "wrong-password-123")
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
    }
    let checks_before = server.password_checks(&metrics).await;
    let locked = server.sign_in("127.0.0.3", "alice", PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.cookie("riposte_session").is_none());
    assert!(
        (1..=4).contains(&locked.retry_after()),
        "{:?}",
        locked.headers
    );
    assert_eq!(
        server.password_checks(&metrics).await,
        checks_before,
        "a refused attempt ran the password hash"
    );

    // Per address: four wrong names from 127.0.0.4, then bob's right
    // password from there is refused; from elsewhere it works.
    for i in 0..4 {
        let wrong = server
            .sign_in("127.0.0.4", &format!("nobody{i}"), PASSWORD)
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
    }
    let locked_address = server.sign_in("127.0.0.4", "bob", PASSWORD).await;
    assert_eq!(locked_address.status, 429, "{}", locked_address.body);
    let elsewhere = server.sign_in("127.0.0.5", "bob", PASSWORD).await;
    assert_eq!(elsewhere.status, 303, "{}", elsewhere.body);

    // After the window, alice signs in with her password again.
    tokio::time::sleep(
        Duration::from_secs(locked_address.retry_after()) + Duration::from_millis(300),
    )
    .await;
    let recovered = server.sign_in("127.0.0.3", "alice", PASSWORD).await;
    assert_eq!(recovered.status, 303, "{}", recovered.body);

    // The audit trail: the first failure of each (address, name) at once,
    // one summary with the count for alice's three, one summary of the
    // refusals per locked address and per locked name.
    server.stop();
    let failed = server.audit("sign-in-failed");
    let firsts = failed
        .iter()
        .filter(|r| r["details"]["first_in_window"] == true)
        .count();
    assert_eq!(firsts, 5, "{failed:#?}");
    let summaries: Vec<_> = failed
        .iter()
        .filter(|r| r["details"]["summary"] == true)
        .map(|r| {
            (
                r["actor"].as_str().unwrap(),
                r["details"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(summaries, vec![("user:alice", 3)], "{failed:#?}");
    let throttled: Vec<_> = server
        .audit("sign-in-throttled")
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["remote_addr"].as_str().unwrap_or("").to_string(),
                r["details"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    assert!(
        throttled.contains(&("user:alice".into(), String::new(), 1)),
        "{throttled:?}"
    );
    assert!(
        throttled.contains(&("anonymous".into(), "127.0.0.4".into(), 1)),
        "{throttled:?}"
    );
}

/// The figure in RELIABILITY.md: a flood of guesses at one name costs a
/// bounded number of password hashes and audit records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_guesses_costs_bounded_hashes_and_audit_records() {
    const SENT: usize = 200;
    let lab = crate::harness::lab();
    let mut server = Server::start(
        &lab,
        "\n[limits]\nsign_in_failures_per_address = 20\nsign_in_failures_per_name = 5\n",
        None,
    );
    server.person("carol", "reader");
    let metrics = server.token("metrics", "reader");
    let before = server.password_checks(&metrics).await;
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..SENT {
        let reply = server
            .sign_in("127.0.0.6", "carol", &format!("guess-{i:05}-abcdef"))
            .await;
        *statuses.entry(reply.status).or_insert(0usize) += 1;
    }
    let hashed = server.password_checks(&metrics).await - before;
    println!("figure: {SENT} guesses at one name: answers {statuses:?}, {hashed} password hashes");
    assert_eq!(statuses.get(&401), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&(SENT - 5)), "{statuses:?}");
    assert_eq!(hashed, 5);
    server.stop();
    let failed = server.audit("sign-in-failed");
    let throttled = server.audit("sign-in-throttled");
    println!(
        "figure: audit records: {} sign-in-failed, {} sign-in-throttled",
        failed.len(),
        throttled.len()
    );
    assert_eq!(
        failed.len(),
        2,
        "the first failure and the window's summary: {failed:#?}"
    );
    assert_eq!(throttled.len(), 1, "{throttled:#?}");
    assert_eq!(throttled[0]["details"]["count"], (SENT - 5) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_beyond_the_hashing_bound_is_told_to_come_back() {
    let lab = crate::harness::lab();
    let server = Server::start(
        &lab,
        "\n[limits]\npassword_hashing_concurrency = 1\n",
        Some("sign-in-hashing=sleep:4000"),
    );
    server.person("dave", "reader");
    server.person("erin", "reader");
    let addr = server.addr.clone();
    let first = tokio::spawn({
        let form = send(&addr, "127.0.0.7", "GET", "/ui/sign-in", &[], None).await;
        let token = form.cookie("riposte_sign_in").unwrap();
        let addr = addr.clone();
        async move {
            send(
                &addr,
                "127.0.0.7",
                "POST",
                "/ui/sign-in",
                &[
                    format!("Cookie: riposte_sign_in={token}"),
                    "Content-Type: application/x-www-form-urlencoded".into(),
                ],
                Some(&format!(
                    "name=dave&password={PASSWORD}&csrf={token}&next=%2Fui%2Fsearch"
                )),
            )
            .await
        }
    });
    // Once the first sign-in holds the one hashing slot...
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let line = server
            .stderr_lines()
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the first sign-in reaches the password check");
        if line.contains("failpoint sign-in-hashing") {
            break;
        }
    }
    // ...a second one is answered at once, not queued.
    let busy = server.sign_in("127.0.0.8", "erin", PASSWORD).await;
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert!(busy.retry_after() >= 1);
    assert!(busy.cookie("riposte_session").is_none());
    let first = first.await.unwrap();
    assert_eq!(first.status, 303, "{}", first.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_bounded_per_caller_and_end_when_idle() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "sse", 0);
    let extra = format!(
        "\n[safeguards]\nprotected = [{:?}]\n[limits]\nevent_streams_per_caller = 2\nevent_stream_idle_seconds = 2\nheader_read_timeout_seconds = 1\nrequest_timeout_seconds = 1\n",
        user.reference()
    );
    let server = Server::start(&lab, &extra, None);
    let alice = server.token("alice", "responder");
    let bob = server.token("bob", "reader");
    // A job that stays queued: it waits for a second person.
    let body = json!({ "target": user.reference(), "action": "disable", "reason": "dos test" })
        .to_string();
    let queued = send(
        &server.addr,
        "127.0.0.1",
        "POST",
        "/api/v1/actions",
        &[
            format!("Authorization: Bearer {alice}"),
            "Content-Type: application/json".into(),
        ],
        Some(&body),
    )
    .await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let job: Value = serde_json::from_str(&queued.body).unwrap();
    let job = job["job_id"].as_str().unwrap().to_string();

    let (first, mut first_stream) = open_stream(&server.addr, &alice, &job).await;
    assert_eq!(first.status, 200);
    let (second, mut second_stream) = open_stream(&server.addr, &alice, &job).await;
    assert_eq!(second.status, 200);
    let (third, _) = open_stream(&server.addr, &alice, &job).await;
    assert_eq!(third.status, 429, "{third:?}");
    assert!(third.header("retry-after").is_some());
    // The bound is per caller.
    let (other, mut other_stream) = open_stream(&server.addr, &bob, &job).await;
    assert_eq!(other.status, 200);

    // A stream with nothing new ends by itself (after the 2 s idle bound,
    // not cut by the 1 s header and request timeouts), and frees its place.
    // What arrived with a response head is part of the stream too.
    for (head, stream) in [
        (&first, &mut first_stream),
        (&second, &mut second_stream),
        (&other, &mut other_stream),
    ] {
        let sent = format!("{}{}", head.body, until_closed(stream).await);
        assert!(sent.contains("event: queued"), "{sent}");
        assert!(sent.contains("event: idle"), "{sent}");
    }
    let (again, _) = open_stream(&server.addr, &alice, &job).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(user.kinit(), riposte_testlab::Login::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let lab = crate::harness::lab();
    let server = Server::start(
        &lab,
        "\n[limits]\nheader_read_timeout_seconds = 1\nrequest_timeout_seconds = 1\n",
        None,
    );
    // A request head that never ends: the connection is closed.
    let mut slow_head = connect(&server.addr, "127.0.0.9").await;
    slow_head
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ", server.addr).as_bytes())
        .await
        .unwrap();
    until_closed(&mut slow_head).await;
    // A connection that sends nothing at all: closed too.
    let mut silent = connect(&server.addr, "127.0.0.9").await;
    until_closed(&mut silent).await;
    // A body that never arrives: answered 503 request_timeout.
    let mut slow_body = connect(&server.addr, "127.0.0.9").await;
    slow_body
        .write_all(
            format!(
                "POST /ui/sign-in HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=a",
                server.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = parse(until_closed(&mut slow_body).await.as_bytes());
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.body.contains("request_timeout"), "{}", answer.body);
    // Ordinary requests are still served.
    let health = send(&server.addr, "127.0.0.9", "GET", "/healthz", &[], None).await;
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_only_old_alerts() {
    use riposte_store::AlertStore;
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t + "\n[alerts]\nretention_days = 2\n");
    // The ledger, with one alert raised five days ago (only raw SQL can age
    // one) and one raised now, before the server starts.
    let ledger = dir.path().join("data").join("riposte.sqlite");
    let store = riposte_store_sql::SqliteStore::open(&ledger).await.unwrap();
    let alert = |title: &str| riposte_store::NewAlert {
        rule_id: "dos-test".into(),
        title: title.into(),
        technique: None,
        severity: "low".into(),
        description: title.into(),
        entities: Default::default(),
        first_seen: None,
        last_seen: None,
        event_count: 1,
        events: json!([]),
        input: "test".into(),
        fed_by: None,
    };
    let fresh = store.append_alert(alert("fresh")).await.unwrap();
    let recent = store.append_alert(alert("recent")).await.unwrap();
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        ledger.display()
    ))
    .await
    .unwrap();
    let old = uuid::Uuid::now_v7();
    let five_days_ago =
        (time::OffsetDateTime::now_utc() - time::Duration::days(5)).unix_timestamp() * 1000;
    sqlx::query(
        "INSERT INTO alerts (id, raised_at, rule_id, title, technique, severity, description, entities, users, \
         first_seen, last_seen, event_count, events, input) \
         VALUES (?, ?, 'dos-test', 'old', NULL, 'low', 'old', '{}', '', NULL, NULL, 1, '[]', 'test')",
    )
    .bind(old.to_string())
    .bind(five_days_ago)
    .execute(&mut raw)
    .await
    .unwrap();
    drop(raw);
    drop(store);
    let server = Server::start_at(dir, config, None);
    let reader = server.token("reader", "reader");
    let get = |id: uuid::Uuid| {
        let addr = server.addr.clone();
        let reader = reader.clone();
        async move {
            send(
                &addr,
                "127.0.0.1",
                "GET",
                &format!("/api/v1/alerts/{id}"),
                &[format!("Authorization: Bearer {reader}")],
                None,
            )
            .await
            .status
        }
    };
    let deadline = std::time::Instant::now() + GUARD;
    while get(old).await != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the old alert was never removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(fresh.id).await, 200);
    assert_eq!(get(recent.id).await, 200);
    let expired = server.audit("alerts-expired");
    assert_eq!(expired.len(), 1, "{expired:#?}");
    assert_eq!(expired[0]["details"]["count"], 1);
    // Behind the server, a fresh alert still cannot be deleted.
    let refused = Command::new("sqlite3")
        .arg(server.dir.path().join("data").join("riposte.sqlite"))
        .arg(format!("DELETE FROM alerts WHERE id = '{}'", fresh.id))
        .output();
    if let Ok(out) = refused {
        assert!(!out.status.success(), "a fresh alert was deleted");
    }
}
