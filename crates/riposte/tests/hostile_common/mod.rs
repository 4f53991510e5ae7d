//! A private `riposte serve` for the hostile tests (issue 14): started on a copy of the lab
//! config, killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use riposte_testlab::http::{Response, request};
use serde_json::Value;

use crate::common::{BIN, riposte_config};

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub config: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `riposte serve` on `config`, or returns what it said when it refused to start.
pub fn serve(config: &Path) -> Result<Server, String> {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("RIPOSTE_LISTEN", "127.0.0.1:0")
        .env_remove("RIPOSTE_FAILPOINTS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("riposte serve starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if !line.contains("listening") {
        let _ = child.wait();
        let said: Vec<String> = rx.try_iter().collect();
        return Err(said.join("\n"));
    }
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    Ok(Server {
        child,
        addr,
        config: config.to_path_buf(),
    })
}

/// The lab config without its `[[ingest]]` tables (so no DC log is tailed), plus `extra`.
pub fn config_without_tailing(lab: &riposte_testlab::Lab, dir: &Path, extra: &str) -> PathBuf {
    lab.private_config(dir, |t| {
        let mut out = String::new();
        let mut skipping = false;
        for line in t.lines() {
            if line.trim() == "[[ingest]]" {
                skipping = true;
            } else if line.trim().starts_with('[') || line.trim().is_empty() {
                skipping = false;
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out + extra
    })
}

impl Server {
    /// A person (`riposte person add`), so that tokens can belong to them (`--owner`).
    #[allow(dead_code)] // not every hostile test file needs people
    pub fn person(&self, name: &str, role: &str) {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args([
                "person",
                "add",
                "--name",
                name,
                "--role",
                role,
                "--password-stdin",
            ])
            .env_remove("RIPOSTE_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("riposte person add");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"Hostile-Test-Passw0rd\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "person add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn token(&self, name: &str, args: &[&str]) -> String {
        let mut all = vec!["--json", "token", "create", "--name", name];
        all.extend_from_slice(args);
        let out = riposte_config(&self.config, &all);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["token"].as_str().unwrap().to_string()
    }

    pub fn call(&self, token: &str, method: &str, path: &str, body: Option<&str>) -> Response {
        request(
            &self.addr,
            method,
            path,
            &[format!("Authorization: Bearer {token}")],
            body,
        )
    }

    /// The audit trail's records, oldest first.
    pub fn audit(&self) -> Vec<Value> {
        let out = riposte_config(&self.config, &["audit", "export", "--format", "raw"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (bounded: 90 s) until `done` holds for the audit trail.
    pub fn wait_for_audit(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let records = self.audit();
            if done(&records) {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not in the audit trail within 90 s: {records:#?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub fn jobs(&self) -> Vec<Value> {
        let listed = riposte_config(&self.config, &["--json", "actions", "list"]);
        listed.json()["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Now, as Windows writes `TimeCreated/@SystemTime`.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
