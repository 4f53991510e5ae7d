//! Secrets never leave: a realistic session against the lab (`riposte serve` and the CLI with
//! `RIPOSTE_LOG=debug`, tokens, a disable, a set-password, an Entra action through the Graph
//! double, a portal sign-in, a failed bind, audit export), then every byte riposte wrote -- each
//! process's stdout and stderr, the whole data directory, the audit export, the job list -- is
//! searched for every secret, as text, UTF-16LE, base64 at every alignment and JSON-escaped.
//! The search is first proven on control files that do hold secrets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{BIN, Serve};
use riposte_testlab::base64;
use riposte_testlab::http::{Response, request};
use serde_json::{Value, json};

/// A secret the session used, and what it is (only the name is ever printed).
struct Secret {
    name: String,
    value: String,
}

/// Every byte form a secret could take in what riposte writes.
fn forms(secret: &str) -> Vec<(&'static str, Vec<u8>)> {
    let utf8 = secret.as_bytes().to_vec();
    let utf16: Vec<u8> = secret.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut out = vec![("text", utf8.clone()), ("utf-16le", utf16.clone())];
    let escaped = serde_json::to_string(secret).unwrap();
    let escaped = escaped.as_bytes()[1..escaped.len() - 1].to_vec();
    if escaped != utf8 {
        out.push(("json-escaped", escaped));
    }
    let encoded: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if encoded.as_bytes() != utf8.as_slice() {
        out.push(("url-encoded", encoded.into_bytes()));
    }
    for (label, bytes) in [("base64", &utf8), ("base64 of utf-16le", &utf16)] {
        for fragment in base64_fragments(bytes) {
            out.push((label, fragment.into_bytes()));
        }
    }
    out
}

/// The base64 characters that depend only on `data`, for each of the three alignments `data`
/// can have inside a longer base64 text.
fn base64_fragments(data: &[u8]) -> Vec<String> {
    (0..3usize)
        .map(|prefix| {
            let mut padded = vec![0u8; prefix];
            padded.extend_from_slice(data);
            let text = base64(&padded);
            let text = text.trim_end_matches('=');
            let start = [0, 2, 3][prefix];
            // The last character mixes in bits of whatever follows unless the input ends on a
            // three-byte boundary.
            let end = if padded.len() % 3 == 0 {
                text.len()
            } else {
                text.len() - 1
            };
            text[start..end].to_string()
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// "file: secret (form)" for every form of every secret found in `files`, except that the one
/// secret a file is allowed to show (a token or password printed once to its requester) must be
/// there exactly once, as text.
fn findings(files: &[(PathBuf, Option<&str>)], secrets: &[Secret]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, shown) in files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for secret in secrets {
            if Some(secret.name.as_str()) == *shown {
                let n = count(&bytes, secret.value.as_bytes());
                if n != 1 {
                    found.push(format!(
                        "{}: {} shown {n} times, not once",
                        path.display(),
                        secret.name
                    ));
                }
                continue;
            }
            for (form, needle) in forms(&secret.value) {
                if contains(&bytes, &needle) {
                    found.push(format!("{}: {} ({form})", path.display(), secret.name));
                }
            }
        }
    }
    found
}

/// Records each process's output in files under `logs`.
struct Session {
    logs: PathBuf,
    n: usize,
    /// Files that may show one secret once: (stdout file, secret name).
    shown: Vec<(PathBuf, String)>,
}

impl Session {
    fn files(&mut self, label: &str) -> (PathBuf, PathBuf) {
        self.n += 1;
        let base = self.logs.join(format!("{:02}-{label}", self.n));
        (base.with_extension("stdout"), base.with_extension("stderr"))
    }

    /// Runs riposte to the end with debug logging; returns its stdout.
    fn run(&mut self, config: &Path, label: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let (out, err) = self.files(label);
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(args)
            .env("RIPOSTE_LOG", "debug")
            .env_remove("RIPOSTE_FAILPOINTS")
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("riposte runs");
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            writeln!(pipe, "{text}").unwrap();
        }
        drop(pipe);
        let status = child.wait().unwrap();
        Output {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out).unwrap(),
            stderr: std::fs::read_to_string(&err).unwrap(),
            path: out,
        }
    }

    /// A run that prints `secret_name` once on stdout; returns the JSON it printed.
    fn run_showing(&mut self, config: &Path, label: &str, args: &[&str], secret: &str) -> Value {
        let out = self.run(config, label, args, None);
        assert_eq!(out.code, 0, "{label}: {}", out.stderr);
        self.shown.push((out.path.clone(), secret.to_string()));
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{label}: {e}"))
    }
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
    path: PathBuf,
}

/// The harness's `riposte serve` with debug logging into the session's files; stopped with
/// SIGTERM.
struct Server(Serve);

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.0
    }
}

impl Server {
    fn start(session: &mut Session, config: &Path) -> Server {
        let (out, err) = session.files("serve");
        Server(
            Serve::on_config(config)
                .env("RIPOSTE_LOG", "debug")
                .output_files(&out, &err)
                .start(),
        )
    }

    fn call(&self, method: &str, path: &str, headers: &[String], body: Option<&str>) -> Response {
        request(&self.0.addr, method, path, headers, body)
    }

    fn stop(mut self) {
        self.0.terminate();
    }
}

fn bearer(token: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {token}")]
}

fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// application/x-www-form-urlencoded, as a browser sends it (and as `forms` searches for it).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Follows a job's server-sent events to its end; returns the final job.
fn follow(server: &Server, token: &str, job_id: &str) -> Value {
    let events = server.call(
        "GET",
        &format!("/api/v1/jobs/{job_id}/events"),
        &bearer(token),
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
    serde_json::from_str::<Value>(data).unwrap()["job"].clone()
}

fn read_secret(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim_end_matches(['\r', '\n'])
        .to_string()
}

#[test]
fn the_search_finds_secrets_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = vec![
        Secret {
            name: "control".into(),
            value: "Control-Pa$$w0rd\"x".into(),
        },
        Secret {
            name: "absent".into(),
            value: "never-written-anywhere-42".into(),
        },
    ];
    let value = secrets[0].value.as_str();
    let utf16_quoted = riposte_testlab::utf16_quoted(value);
    let controls: Vec<(&str, Vec<u8>)> = vec![
        (
            "text",
            format!("log line password={value} end").into_bytes(),
        ),
        ("utf16", {
            let mut b = b"\x00\x01binary".to_vec();
            b.extend(value.encode_utf16().flat_map(u16::to_le_bytes));
            b
        }),
        (
            "ldif",
            format!("unicodePwd:: {}\n", base64(&utf16_quoted)).into_bytes(),
        ),
        (
            "base64-offset",
            base64(format!("xy{value}z").as_bytes()).into_bytes(),
        ),
        ("json", json!({ "p": value }).to_string().into_bytes()),
        (
            "form",
            format!("password={}", url_encode(value)).into_bytes(),
        ),
        ("clean", b"nothing to see here".to_vec()),
    ];
    let mut files = Vec::new();
    for (name, bytes) in &controls {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        files.push((path, None));
    }
    let found = findings(&files, &secrets);
    for (name, _) in &controls {
        let hit = found
            .iter()
            .any(|f| f.contains(&format!("/{name}: control")));
        assert_eq!(hit, *name != "clean", "{name}: {found:#?}");
    }
    assert!(
        !found.iter().any(|f| f.contains("absent")),
        "a secret that is nowhere was found: {found:#?}"
    );
    // A file allowed to show a secret must show it exactly once.
    let shown = dir.path().join("shown");
    std::fs::write(&shown, format!("{value}\n{value}")).unwrap();
    let found = findings(&[(shown, Some("control"))], &secrets);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("shown 2 times"), "{found:#?}");
}

#[test]
fn no_secret_reaches_logs_errors_the_ledger_or_the_audit_trail() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let private = dir.path().join("private");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::create_dir_all(&private).unwrap();
    let config = lab.private_config(dir.path(), |t| t);
    let mut s = Session {
        logs: logs.clone(),
        n: 0,
        shown: Vec::new(),
    };
    let mut secrets = Vec::new();
    for f in &lab.forests {
        secrets.push(Secret {
            name: format!("{} action account password", f.name),
            value: read_secret(&f.action_password_file),
        });
    }
    secrets.push(Secret {
        name: "Graph client secret".into(),
        value: read_secret(&lab.repo.join(".lab/graph/client.secret")),
    });

    // Tokens, each shown once to whoever created it.
    let mut tokens = std::collections::HashMap::new();
    for role in ["reader", "responder", "admin"] {
        let name = format!("{role} token");
        let created = s.run_showing(
            &config,
            &format!("token-{role}"),
            &["--json", "token", "create", "--name", role, "--role", role],
            &name,
        );
        let token = created["token"].as_str().expect("a token").to_string();
        secrets.push(Secret {
            name,
            value: token.clone(),
        });
        tokens.insert(role, token);
    }
    let wrong_token = "rpt_secret-test-wrong-token-0123456789abcdef";
    secrets.push(Secret {
        name: "a wrong token".into(),
        value: wrong_token.into(),
    });

    let server = Server::start(&mut s, &config);
    let (reader, responder, admin) = (&tokens["reader"], &tokens["responder"], &tokens["admin"]);
    assert_eq!(
        server
            .call("GET", "/api/v1/whoami", &bearer(wrong_token), None)
            .status,
        401
    );
    assert_eq!(
        server
            .call("GET", "/api/v1/identities?q=ernie", &bearer(reader), None)
            .status,
        200
    );
    let r = server.call(
        "GET",
        "/ui/search?q=ernie",
        &[format!("Cookie: riposte_session={wrong_token}")],
        None,
    );
    assert_ne!(r.status, 200, "a made-up session cookie was accepted");

    // A disable through the API.
    let victim = lab.create_user("corp", "sec", 0);
    let r = server.call(
        "POST",
        "/api/v1/actions",
        &[
            bearer(responder).remove(0),
            "Idempotency-Key: secrets-disable".into(),
        ],
        Some(
            &json!({"target": victim.reference(), "action": "disable", "reason": "secrets test"})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let job = follow(&server, responder, r.json()["job_id"].as_str().unwrap());
    assert_eq!(job["outcome"], "verified", "{job}");
    // A refused one, from a reader.
    let r = server.call(
        "POST",
        "/api/v1/actions",
        &bearer(reader),
        Some(
            &json!({"target": victim.reference(), "action": "enable", "reason": "secrets test"})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // An Entra action through the Graph double, by the server (client credentials).
    let guest = "contoso:google.guest_gmail.com#EXT#@contoso.example";
    let r = server.call(
        "POST",
        "/api/v1/actions",
        &bearer(admin),
        Some(
            &json!({"target": guest, "action": "revoke-sessions", "reason": "secrets test"})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let job = follow(&server, admin, r.json()["job_id"].as_str().unwrap());
    assert_eq!(job["outcome"], "verified", "{job}");

    // A set-password from the CLI: the new password is shown once, to the requester.
    let target = lab.create_user("corp", "secpw", 0);
    let set = s.run_showing(
        &config,
        "set-password",
        &[
            "--json",
            "user",
            "set-password",
            &target.reference(),
            "--reason",
            "secrets test",
        ],
        "set password",
    );
    assert_eq!(set["outcome"], "verified", "{set}");
    secrets.push(Secret {
        name: "set password".into(),
        value: set["new_password"]
            .as_str()
            .expect("the new password")
            .into(),
    });

    // A person with a generated password signs in to the portal; a wrong password is refused.
    let added = s.run_showing(
        &config,
        "person-add",
        &[
            "--json",
            "person",
            "add",
            "--name",
            "sam",
            "--role",
            "responder",
        ],
        "portal password",
    );
    let password = added["password"].as_str().expect("a password").to_string();
    secrets.push(Secret {
        name: "portal password".into(),
        value: password.clone(),
    });
    let wrong_password = "Wrong-portal-Passw0rd-77";
    secrets.push(Secret {
        name: "a wrong portal password".into(),
        value: wrong_password.into(),
    });
    let mut session_cookie = None;
    for attempt in [wrong_password, password.as_str()] {
        let form = server.call("GET", "/ui/sign-in", &[], None);
        let csrf = set_cookie(&form, "riposte_sign_in").expect("a sign-in CSRF cookie");
        let r = request_form(
            &server,
            "/ui/sign-in",
            &format!("riposte_sign_in={csrf}"),
            &format!(
                "name=sam&password={}&csrf={csrf}&next=%2Fui%2Fsearch",
                url_encode(attempt)
            ),
        );
        session_cookie = set_cookie(&r, "riposte_session");
        assert_eq!(
            r.status == 303,
            attempt == password,
            "{}: {}",
            r.status,
            r.body
        );
    }
    let session_cookie = session_cookie.expect("a session cookie");
    let page = server.call(
        "GET",
        &format!("/ui/identities/{}", victim.reference()),
        &[format!("Cookie: riposte_session={session_cookie}")],
        None,
    );
    assert!(page.status < 500, "{}", page.status);
    secrets.push(Secret {
        name: "portal session".into(),
        value: session_cookie,
    });

    // Action Center reads.
    for path in ["/api/v1/jobs", "/api/v1/jobs/export.csv", "/metrics"] {
        let r = server.call("GET", path, &bearer(admin), None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    server.stop();

    // A bind with a wrong password fails and says so, without the password.
    let wrong_bind = "Wrong-bind-Passw0rd-5150";
    let wrong_file = private.join("wrong.secret");
    std::fs::write(&wrong_file, format!("{wrong_bind}\n")).unwrap();
    secrets.push(Secret {
        name: "a wrong bind password".into(),
        value: wrong_bind.into(),
    });
    let bad_dir = dir.path().join("bad-bind");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let corp_file = lab
        .forest("corp")
        .action_password_file
        .display()
        .to_string();
    let bad_config = lab.private_config(&bad_dir, |t| {
        t.replace(&corp_file, &wrong_file.display().to_string())
    });
    let failed = s.run(
        &bad_config,
        "failed-bind",
        &["--json", "user", "show", "corp:ernie"],
        None,
    );
    assert_ne!(failed.code, 0, "a wrong bind password was accepted");
    assert!(
        failed.stderr.to_lowercase().contains("bind")
            || failed.stdout.to_lowercase().contains("bind"),
        "the failure does not say it was the bind: {}{}",
        failed.stdout,
        failed.stderr
    );

    // What riposte keeps and exports.
    let raw = s.run(
        &config,
        "audit-raw",
        &["audit", "export", "--format", "raw"],
        None,
    );
    assert_eq!(raw.code, 0, "{}", raw.stderr);
    for kind in [
        "token-created",
        "sign-in-failed",
        "verified",
        "set-password",
        "revoke-sessions",
    ] {
        assert!(raw.stdout.contains(kind), "no {kind} in the audit trail");
    }
    let ocsf = s.run(&config, "audit-ocsf", &["audit", "export"], None);
    assert_eq!(ocsf.code, 0, "{}", ocsf.stderr);
    let verify = s.run(&config, "audit-verify", &["audit", "verify"], None);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let listed = s.run(
        &config,
        "actions-list",
        &["--json", "actions", "list", "--limit", "100"],
        None,
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains(&target.name), "{}", listed.stdout);
    for job in serde_json::from_str::<Value>(&listed.stdout).unwrap()["jobs"]
        .as_array()
        .expect("jobs")
    {
        let id = job["id"].as_str().or(job["job_id"].as_str()).unwrap();
        let shown = s.run(
            &config,
            "actions-show",
            &["--json", "actions", "show", id],
            None,
        );
        assert_eq!(shown.code, 0, "{}", shown.stderr);
    }
    let tokens_listed = s.run(&config, "token-list", &["--json", "token", "list"], None);
    assert_eq!(tokens_listed.code, 0, "{}", tokens_listed.stderr);

    // Every byte riposte wrote: logs and outputs, and both data directories.
    let mut files: Vec<(PathBuf, Option<&str>)> = Vec::new();
    for path in files_under(&logs)
        .into_iter()
        .chain(files_under(&dir.path().join("data")))
        .chain(if bad_dir.join("data").is_dir() {
            files_under(&bad_dir.join("data"))
        } else {
            Vec::new()
        })
    {
        let shown = s
            .shown
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, name)| name.as_str());
        files.push((path, shown));
    }
    assert!(
        files
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "stderr")
                && std::fs::metadata(p).unwrap().len() > 0),
        "debug logging wrote nothing"
    );
    let data_bytes: u64 = files
        .iter()
        .filter(|(p, _)| p.starts_with(dir.path().join("data")))
        .map(|(p, _)| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(data_bytes > 0, "the ledger is empty");
    let found = findings(&files, &secrets);
    let total: u64 = files
        .iter()
        .map(|(p, _)| std::fs::metadata(p).unwrap().len())
        .sum();
    eprintln!(
        "searched {} files ({total} bytes, ledger {data_bytes} bytes) for {} secrets, each in up to {} forms",
        files.len(),
        secrets.len(),
        forms("a b\"").len()
    );
    for (p, _) in &files {
        eprintln!(
            "  {} {}",
            std::fs::metadata(p).unwrap().len(),
            p.strip_prefix(dir.path()).unwrap().display()
        );
    }
    assert!(
        found.is_empty(),
        "secrets left riposte ({} files, {} secrets searched):\n{}",
        files.len(),
        secrets.len(),
        found.join("\n")
    );
}

fn request_form(server: &Server, path: &str, cookie: &str, body: &str) -> Response {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        body: body.to_string(),
    }
}
