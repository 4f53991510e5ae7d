//! Running the real `riposte` binary (one command, to its end) against the lab or a config.

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
