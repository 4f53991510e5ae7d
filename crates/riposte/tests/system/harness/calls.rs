//! Talking to a running [`Serve`]: the CLI on its ledger, people and tokens, the API with a
//! bearer token, the portal with a signed-in session, and its audit trail.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use riposte_testlab::http::{Response, request};
use serde_json::Value;

use super::cli::{BIN, Run, run};
use super::serve::Serve;

/// The portal password of every person made by [`Serve::person`].
pub const PASSWORD: &str = "hostile-test-password-1";

impl Serve {
    /// The CLI on this server's ledger; `env` adds variables (RIPOSTE_TOKEN,
    /// SUDO_USER, ...). Without RIPOSTE_TOKEN in `env` it runs with none.
    pub fn cli(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RIPOSTE_FAILPOINTS")
            .env_remove("RIPOSTE_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd)
    }

    /// `riposte person add` with [`PASSWORD`] on stdin, so tokens can belong to them
    /// (`--owner`) and they can sign in to the portal.
    pub fn person(&self, name: &str, role: &str) {
        self.person_with_password(name, role, PASSWORD);
    }

    /// `riposte person add`, `password` on stdin; it is never printed.
    pub fn person_with_password(&self, name: &str, role: &str, password: &str) {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(["person", "add", "--name", name, "--role", role])
            .arg("--password-stdin")
            .env_remove("RIPOSTE_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("riposte person add");
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "person add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            !printed.contains(password),
            "a password from stdin is never printed"
        );
    }

    /// A token's secret; `extra` such as `["--owner", "alice", "--forest", "corp"]`.
    pub fn token(&self, name: &str, role: &str, extra: &[&str]) -> String {
        let mut args = vec!["--json", "token", "create", "--name", name, "--role", role];
        args.extend_from_slice(extra);
        let out = self.cli(&[], &args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["token"].as_str().unwrap().to_string()
    }

    /// An API request with a bearer token.
    pub fn api(&self, token: &str, method: &str, path: &str, body: Option<&str>) -> Response {
        request(
            &self.addr,
            method,
            path,
            &[format!("Authorization: Bearer {token}")],
            body,
        )
    }

    /// An API request with a bearer token and a JSON body: the status and the JSON answer
    /// (`Null` when the answer is not JSON).
    pub fn api_json(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let r = self.api(token, method, path, body.as_deref());
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }

    /// A portal request with cookies and an optional form body.
    pub fn portal(&self, method: &str, path: &str, cookies: &[&str], form: Option<&str>) -> Portal {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !cookies.is_empty() {
            head.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
        }
        if let Some(body) = form {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        if let Some(body) = form {
            stream.write_all(body.as_bytes()).unwrap();
        }
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Portal {
            status,
            headers: lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect(),
            body: body.to_string(),
        }
    }

    /// Signs `name` (made by [`Serve::person`]) in to the portal: the session cookie and its
    /// CSRF token.
    pub fn session(&self, name: &str) -> (String, String) {
        let form = self.portal("GET", "/ui/sign-in", &[], None);
        let csrf = form.cookie("riposte_sign_in").expect("a sign-in cookie");
        let cookie = format!("riposte_sign_in={csrf}");
        let signed = self.portal(
            "POST",
            "/ui/sign-in",
            &[&cookie],
            Some(&format!(
                "name={name}&password={PASSWORD}&csrf={csrf}&next=%2Fui%2Fsearch"
            )),
        );
        assert_eq!(signed.status, 303, "{}", signed.body);
        let session = format!(
            "riposte_session={}",
            signed.cookie("riposte_session").expect("a session cookie")
        );
        let page = self.portal("GET", "/ui/search", &[&session], None);
        let csrf = page
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the session's CSRF token")
            .to_string();
        (session, csrf)
    }

    /// The audit trail's records, oldest first.
    pub fn audit(&self) -> Vec<Value> {
        let out = self.cli(&[], &["audit", "export", "--format", "raw"]);
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

    /// The jobs `riposte actions list` shows.
    pub fn jobs(&self) -> Vec<Value> {
        let listed = self.cli(&[], &["--json", "actions", "list"]);
        listed.json()["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A portal response: status, headers (names in lower case), body.
pub struct Portal {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Portal {
    /// The whole Set-Cookie header of cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// A cookie's value from Set-Cookie, unless it is being cleared.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.set_cookie(name)?;
        let value = header.split(';').next()?.split_once('=')?.1;
        (!value.is_empty()).then(|| value.to_string())
    }

    /// The Location header, or "".
    pub fn location(&self) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}
