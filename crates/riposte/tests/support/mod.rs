//! A private `riposte serve` on the lab for the hostile tests: people,
//! tokens (each a person's, or a service's), the API with a bearer token,
//! the portal with a signed-in session, and the CLI with a credential.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use riposte_testlab::Lab;
use riposte_testlab::http::{Response, request};

pub const BIN: &str = env!("CARGO_BIN_EXE_riposte");
pub const PASSWORD: &str = "hostile-test-password-1";

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

pub struct Server {
    child: Child,
    pub addr: String,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `extra` is appended to the lab's config; `failpoints` as RIPOSTE_FAILPOINTS.
    pub fn start(lab: &Lab, failpoints: Option<&str>, extra: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = lab.private_config(dir.path(), |t| t + extra);
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&config)
            .arg("serve")
            .env("RIPOSTE_LISTEN", "127.0.0.1:0")
            .env_remove("RIPOSTE_TOKEN")
            .stdout(Stdio::piped());
        match failpoints {
            Some(f) => cmd.env("RIPOSTE_FAILPOINTS", f),
            None => cmd.env_remove("RIPOSTE_FAILPOINTS"),
        };
        let mut child = cmd.spawn().expect("riposte serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{line:?}");
        Server {
            child,
            addr,
            config,
            _dir: dir,
        }
    }

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
        let out = cmd.output().expect("riposte runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `riposte person add`, the password on stdin.
    pub fn person(&self, name: &str, role: &str) {
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
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
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

    pub fn api(&self, token: &str, method: &str, path: &str, body: Option<&str>) -> Response {
        request(
            &self.addr,
            method,
            path,
            &[format!("Authorization: Bearer {token}")],
            body,
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

    /// Signs `name` in to the portal: the session cookie and its CSRF token.
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
}

pub struct Portal {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Portal {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}
