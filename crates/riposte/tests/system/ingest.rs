//! Live ingestion against the lab: `riposte serve` tails a Samba JSON audit log (with the
//! lab's real record shape), follows it across rotation, stores the alerts it raises and
//! lists them; forwarders push batches to `POST /api/v1/events`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{SPRAYED, Serve, spray};
use riposte_testlab::Lab;
use riposte_testlab::http::{Response, request};
use serde_json::Value;

/// The harness's `riposte serve` on the lab config without its own `[[ingest]]` tables, with
/// the API calls of these tests.
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

/// The lab config without its own `[[ingest]]` tables, plus `extra`.
fn start(lab: &Lab, extra: &str) -> Server {
    Server(Serve::on_lab_without_tailing(lab, extra).start())
}

impl Server {
    fn token(&self, name: &str, role: &str) -> String {
        self.0.token(name, role, &[])
    }

    fn get(&self, token: &str, path: &str) -> Response {
        request(
            &self.addr,
            "GET",
            path,
            &[format!("Authorization: Bearer {token}")],
            None,
        )
    }

    fn post_events(&self, token: &str, body: &str) -> Response {
        request(
            &self.addr,
            "POST",
            "/api/v1/events",
            &[format!("Authorization: Bearer {token}")],
            Some(body),
        )
    }

    /// Polls the alert list until an alert matches (bounded: 60 s).
    fn wait_for_alert(&self, token: &str, query: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(token, &format!("/api/v1/alerts?{query}"));
            assert_eq!(r.status, 200, "{}", r.body);
            if let Some(a) = r.json()["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| matches(a))
            {
                return a.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no matching alert in time: {}",
                r.body
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn has_source(a: &Value, remote: &str) -> bool {
    a["technique"] == "T1110.003"
        && a["entities"]["sources"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x == remote))
}

#[test]
fn the_tailed_audit_log_raises_a_spray_alert_and_survives_rotation() {
    let lab = crate::harness::lab();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("samba.log");
    // History before riposte starts is not replayed: the tailer starts at the end.
    let real = lab
        .forest("corp")
        .audit_log
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    append(&log, &real);
    append(&log, &spray("10.66.0.1"));
    let server = start(
        &lab,
        &format!(
            "\n[[ingest]]\nforest = \"corp\"\nsamba_audit_log = {:?}\n",
            log.display().to_string()
        ),
    );
    let reader = server.token("alerts-reader", "reader");
    std::thread::sleep(Duration::from_secs(2));
    append(&log, &spray("10.66.0.2"));
    let alert = server.wait_for_alert(&reader, "technique=T1110.003", |a| {
        has_source(a, "10.66.0.2")
    });
    let users = alert["entities"]["users"].as_array().unwrap();
    assert!(users.len() >= 5, "{alert}");
    assert_eq!(alert["input"], "tail:corp");
    let none = server
        .get(&reader, "/api/v1/alerts?technique=T1110.003")
        .json();
    assert!(
        !none["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| has_source(a, "10.66.0.1")),
        "lines written before start were replayed: {none}"
    );
    // One alert with its events' references.
    let one = server.get(
        &reader,
        &format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()),
    );
    assert_eq!(one.status, 200, "{}", one.body);
    let events = one.json()["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    assert_eq!(events[0]["origin"]["file"], log.display().to_string());
    assert!(events[0]["origin"]["line"].as_u64().is_some());
    // Filters: by user.
    let by_user = server.get(&reader, "/api/v1/alerts?user=grover").json();
    assert!(!by_user["alerts"].as_array().unwrap().is_empty());
    let nobody = server
        .get(&reader, "/api/v1/alerts?user=nobody-at-all")
        .json();
    assert!(nobody["alerts"].as_array().unwrap().is_empty());

    // Rotation: rename the file away and start a new one at the path.
    std::fs::rename(&log, logs.path().join("samba.log.1")).unwrap();
    append(&log, &spray("10.66.0.3"));
    server.wait_for_alert(&reader, "technique=T1110.003", |a| {
        has_source(a, "10.66.0.3")
    });

    // Restart: what was written while riposte was down is read from the saved position.
    let mut server = server;
    std::thread::sleep(Duration::from_secs(2));
    server.restart(|| append(&log, &spray("10.66.0.4")));
    server.wait_for_alert(&reader, "technique=T1110.003", |a| {
        has_source(a, "10.66.0.4")
    });
}

#[test]
fn forwarders_post_batches_readers_may_not_and_bad_lines_are_located() {
    let lab = crate::harness::lab();
    let server = start(&lab, "");
    let reader = server.token("fwd-reader", "reader");
    let responder = server.token("fwd-responder", "responder");
    let body = spray("10.77.0.1");
    let refused = server.post_events(&reader, &body);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("responder"), "{}", refused.body);
    // A broken record in the middle of the batch: line 6 (the third record's JSON line).
    let mut lines: Vec<String> = body.lines().map(String::from).collect();
    lines.insert(
        5,
        "  {\"timestamp\": \"2026-11-26T19:23:44\", \"type\": \"Authentica".into(),
    );
    let r = server.post_events(&responder, &(lines.join("\n") + "\n"));
    assert_eq!(r.status, 202, "{}", r.body);
    let v = r.json();
    assert_eq!(v["accepted"], SPRAYED.len(), "{v}");
    assert_eq!(v["unparsed"], 1, "{v}");
    assert_eq!(v["errors"][0]["location"]["line"], 6, "{v}");
    assert_eq!(v["alerts_raised"], 1, "{v}");
    let id = v["alerts"][0]["id"].as_str().unwrap();
    let got = server.get(&reader, &format!("/api/v1/alerts/{id}")).json();
    assert_eq!(got["technique"], "T1110.003");
    assert_eq!(got["input"], "api:token:fwd-responder");
    // A JSON array of Samba lines works the same way.
    let array: Vec<&str> = body.lines().filter(|l| l.contains('{')).collect();
    let r = server.post_events(&responder, &serde_json::to_string(&array).unwrap());
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], SPRAYED.len());
}
