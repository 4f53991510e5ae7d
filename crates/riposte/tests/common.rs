//! Running the real `riposte` binary against the lab.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use riposte_testlab::Lab;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_riposte");

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    pub fn outcome(&self) -> String {
        self.json()["outcome"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("riposte runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn riposte(lab: &Lab, args: &[&str]) -> Run {
    let mut cmd = lab.riposte(BIN);
    cmd.args(args);
    run(cmd)
}

pub fn riposte_config(config: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RIPOSTE_FAILPOINTS");
    run(cmd)
}

/// Starts riposte with a failpoint that sleeps `millis`, and returns once it sleeps there.
pub fn start_paused(config: &Path, failpoint: &str, millis: u64, args: &[&str]) -> Child {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RIPOSTE_FAILPOINTS", format!("{failpoint}=sleep:{millis}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("riposte starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let marker = format!("failpoint {failpoint}");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(&marker) => return child,
            Ok(_) => continue,
            Err(_) => {
                let _ = child.kill();
                panic!("riposte never reached failpoint {failpoint}");
            }
        }
    }
}

/// The replication metadata version of `attribute` on an account, as riposte reads it.
pub fn metadata_version(lab: &Lab, reference: &str, attribute: &str) -> u64 {
    let shown = riposte(lab, &["--json", "user", "show", reference]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    shown.json()["replication_metadata"]
        .as_array()
        .expect("replication_metadata")
        .iter()
        .find(|m| m["attribute"] == attribute)
        .and_then(|m| m["version"].as_u64())
        .unwrap_or(0)
}

/// How much one riposte disable raises userAccountControl's metadata version
/// on this DC (Samba counts a delete+add modify as more than one change), so a
/// test can tell one write from two.
pub fn version_step_of_one_disable(lab: &Lab) -> u64 {
    let control = lab.create_user("corp", "ctl", 0);
    let before = metadata_version(lab, &control.reference(), "userAccountControl");
    let run = riposte(
        lab,
        &[
            "--json",
            "user",
            "disable",
            &control.reference(),
            "--reason",
            "test: control",
        ],
    );
    assert_eq!(run.outcome(), "verified", "{}", run.stderr);
    let step = metadata_version(lab, &control.reference(), "userAccountControl") - before;
    assert!(step > 0);
    step
}

/// A Samba `auth_json_audit` record exactly as the lab's DCs write it: a header line, then
/// the JSON record indented on its own line.
pub fn samba_failure(account: &str, remote: &str, n: u32) -> String {
    let now = time::OffsetDateTime::now_utc();
    let ts = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    );
    format!(
        "[{}/{:02}/{:02} {:02}:{:02}:{:02}.{:06},  2] ../../auth/auth_log.c:635(log_authentication_event_json)\n  {{\"timestamp\": \"{ts}\", \"type\": \"Authentication\", \"Authentication\": {{\"version\": {{\"major\": 1, \"minor\": 2}}, \"eventId\": 4625, \"logonId\": \"aaaaf37259c44a{n:02}\", \"logonType\": 3, \"status\": \"NT_STATUS_WRONG_PASSWORD\", \"localAddress\": null, \"remoteAddress\": \"ipv4:{remote}:5589{n}\", \"serviceDescription\": \"Kerberos KDC\", \"authDescription\": \"ENC-TS Pre-authentication\", \"clientDomain\": null, \"clientAccount\": \"{account}@CORP.EXAMPLE.TEST\", \"workstation\": null, \"becameAccount\": \"{account}\", \"becameDomain\": \"CORP\", \"becameSid\": \"S-1-5-21-1331024846-3291293027-3750222647-15{n:02}\", \"mappedAccount\": \"{account}\", \"mappedDomain\": \"CORP\", \"netlogonComputer\": null, \"netlogonTrustAccount\": null, \"netlogonNegotiateFlags\": \"0x00000000\", \"netlogonSecureChannelType\": 0, \"netlogonTrustAccountSid\": null, \"passwordType\": \"aes256-cts-hmac-sha1-96\", \"duration\": 3692}}}}\n",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

pub const SPRAYED: [&str; 7] = ["ernie", "bert", "grover", "elmo", "oscar", "cookie", "zoe"];

pub fn spray(remote: &str) -> String {
    SPRAYED
        .iter()
        .enumerate()
        .map(|(i, u)| samba_failure(u, remote, i as u32))
        .collect()
}

/// A self-signed certificate for 127.0.0.1 and localhost, made by openssl
/// in `dir`: (certificate PEM, private key PEM).
pub fn self_signed_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=riposte-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            // A server certificate that is its own trust anchor, not a CA
            // (rustls refuses a CA certificate as a server's).
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
