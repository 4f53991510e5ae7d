//! `riposte serve` as a child process: the one place that starts it, reads the address from its
//! first line ("listening on http://ADDR"), keeps its stderr when asked, and stops it (SIGKILL
//! when dropped, SIGTERM on `terminate`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use riposte_testlab::Lab;

use super::cli::{BIN, Run, run};
use super::lab::config_without_tailing;

/// How long `serve` may take to say where it listens.
const START_WITHIN: Duration = Duration::from_secs(120);

/// Where `serve`'s stderr goes.
#[derive(Clone)]
enum Stderr {
    /// The test process's own stderr (what cargo test shows for a failed test's children).
    Inherit,
    Null,
    /// Kept line by line: see [`Serve::wait_for_line`], [`Serve::stderr_lines`].
    Lines,
    /// stdout and stderr written to these files (for tests that read every byte riposte wrote).
    Files {
        stdout: PathBuf,
        stderr: PathBuf,
    },
}

/// What is needed to start (and restart) the same `serve`.
#[derive(Clone)]
struct Launch {
    config: PathBuf,
    /// In order; `None` removes the variable.
    env: Vec<(String, Option<String>)>,
    stderr: Stderr,
}

/// How to start one `riposte serve`: a config, then options, then [`Options::start`].
pub struct Options {
    launch: Launch,
    dir: Option<tempfile::TempDir>,
}

/// A running `riposte serve`; killed (SIGKILL) and reaped when dropped.
pub struct Serve {
    pub child: Child,
    /// `HOST:PORT` from the first line.
    pub addr: String,
    /// The first line `serve` printed, as printed.
    pub first_line: String,
    pub config: PathBuf,
    log: Option<Log>,
    launch: Launch,
    _dir: Option<tempfile::TempDir>,
}

/// `serve`'s stderr, line by line: all of it kept, and each line also sent on `rx`.
struct Log {
    kept: Arc<Mutex<Vec<String>>>,
    rx: Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl Serve {
    /// A private copy of the lab's config (its own ledger, in a directory kept as long as the
    /// server) with `extra` appended.
    pub fn on_lab(lab: &Lab, extra: &str) -> Options {
        let dir = tempfile::tempdir().unwrap();
        let config = lab.private_config(dir.path(), |t| t + extra);
        Serve::on_config(&config).keep_dir(dir)
    }

    /// Like [`Serve::on_lab`], without the lab's `[[ingest]]` tables: no DC log is tailed.
    pub fn on_lab_without_tailing(lab: &Lab, extra: &str) -> Options {
        let dir = tempfile::tempdir().unwrap();
        let config = config_without_tailing(lab, dir.path(), extra);
        Serve::on_config(&config).keep_dir(dir)
    }

    /// `serve` on a config the test wrote.
    pub fn on_config(config: &Path) -> Options {
        Options {
            launch: Launch {
                config: config.to_path_buf(),
                env: vec![
                    ("RIPOSTE_LISTEN".into(), Some("127.0.0.1:0".into())),
                    ("RIPOSTE_FAILPOINTS".into(), None),
                    ("RIPOSTE_TOKEN".into(), None),
                ],
                stderr: Stderr::Inherit,
            },
            dir: None,
        }
    }

    /// The lab's config plus `extra`, failpoints as RIPOSTE_FAILPOINTS: started.
    pub fn start(lab: &Lab, failpoints: Option<&str>, extra: &str) -> Serve {
        Serve::on_lab(lab, extra).failpoints(failpoints).start()
    }
}

impl Options {
    /// RIPOSTE_FAILPOINTS, or none.
    pub fn failpoints(self, failpoints: Option<&str>) -> Options {
        match failpoints {
            Some(f) => self.env("RIPOSTE_FAILPOINTS", f),
            None => self.env_remove("RIPOSTE_FAILPOINTS"),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Options {
        self.launch.env.push((key.into(), Some(value.into())));
        self
    }

    pub fn env_remove(mut self, key: &str) -> Options {
        self.launch.env.push((key.into(), None));
        self
    }

    /// RIPOSTE_LISTEN (127.0.0.1:0 unless told).
    pub fn listen(self, addr: &str) -> Options {
        self.env("RIPOSTE_LISTEN", addr)
    }

    /// Keeps stderr line by line (see [`Serve::wait_for_line`]).
    pub fn stderr_lines(mut self) -> Options {
        self.launch.stderr = Stderr::Lines;
        self
    }

    pub fn stderr_null(mut self) -> Options {
        self.launch.stderr = Stderr::Null;
        self
    }

    /// Writes stdout and stderr to these files.
    pub fn output_files(mut self, stdout: &Path, stderr: &Path) -> Options {
        self.launch.stderr = Stderr::Files {
            stdout: stdout.to_path_buf(),
            stderr: stderr.to_path_buf(),
        };
        self
    }

    /// Keeps `dir` (the config's, say) as long as the server.
    pub fn keep_dir(mut self, dir: tempfile::TempDir) -> Options {
        self.dir = Some(dir);
        self
    }

    /// Starts `serve` and waits until it listens; fails the test, with what it said, if it
    /// does not.
    pub fn start(self) -> Serve {
        let Options { launch, dir } = self;
        match spawn(&launch) {
            Ok(started) => started.into_serve(launch, dir),
            Err(said) => panic!("riposte serve did not start:\n{said}"),
        }
    }

    /// Runs a `serve` that is expected to refuse to start, to its end.
    pub fn run_to_end(self) -> Run {
        run(command(&self.launch))
    }

    /// Starts `serve`, or returns what it said (its stderr) when it refused to start.
    pub fn try_start(self) -> Result<Serve, String> {
        let Options { mut launch, dir } = self;
        if !matches!(launch.stderr, Stderr::Files { .. }) {
            launch.stderr = Stderr::Lines;
        }
        spawn(&launch).map(|started| started.into_serve(launch, dir))
    }
}

/// A child that said where it listens.
struct Started {
    child: Child,
    first_line: String,
    addr: String,
    log: Option<Log>,
}

impl Started {
    fn into_serve(self, launch: Launch, dir: Option<tempfile::TempDir>) -> Serve {
        Serve {
            child: self.child,
            addr: self.addr,
            first_line: self.first_line,
            config: launch.config.clone(),
            log: self.log,
            launch,
            _dir: dir,
        }
    }
}

/// `riposte --config CONFIG serve` with the launch's environment.
fn command(launch: &Launch) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(&launch.config).arg("serve");
    for (key, value) in &launch.env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd
}

/// Spawns `serve` and reads its first line; `Err` with its stderr when it does not listen.
fn spawn(launch: &Launch) -> Result<Started, String> {
    let mut cmd = command(launch);
    match &launch.stderr {
        Stderr::Inherit => cmd.stdout(Stdio::piped()),
        Stderr::Null => cmd.stdout(Stdio::piped()).stderr(Stdio::null()),
        Stderr::Lines => cmd.stdout(Stdio::piped()).stderr(Stdio::piped()),
        Stderr::Files { stdout, stderr } => cmd
            .stdout(std::fs::File::create(stdout).unwrap())
            .stderr(std::fs::File::create(stderr).unwrap()),
    };
    let mut child = cmd.spawn().expect("riposte serve starts");
    let log = child.stderr.take().map(Log::read);
    let first_line = match &launch.stderr {
        Stderr::Files { stdout, .. } => first_line_in_file(stdout),
        _ => first_line_of(&mut child),
    };
    let listening = first_line.contains("listening on ") && first_line.contains("://");
    if !listening {
        let _ = child.kill();
        let _ = child.wait();
        let said = match (log, &launch.stderr) {
            (Some(mut log), _) => {
                log.join();
                log.finish()
            }
            (None, Stderr::Files { stderr, .. }) => {
                std::fs::read_to_string(stderr).unwrap_or_default()
            }
            _ => String::new(),
        };
        return Err(format!("{said}\n(first line: {first_line:?})"));
    }
    let addr = first_line
        .trim()
        .rsplit("://")
        .next()
        .unwrap_or_default()
        .to_string();
    let on_loopback = launch
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "RIPOSTE_LISTEN")
        .is_some_and(|(_, v)| v.as_deref() == Some("127.0.0.1:0"));
    if on_loopback {
        assert!(
            addr.starts_with("127.0.0.1:"),
            "unexpected first line: {first_line:?}"
        );
    }
    Ok(Started {
        child,
        first_line,
        addr,
        log,
    })
}

/// The first line on the child's stdout (bounded by START_WITHIN); the rest is drained so that
/// the child never blocks on a full pipe.
fn first_line_of(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx.recv_timeout(START_WITHIN).unwrap_or_default()
}

/// The first line of the file stdout goes to that says where `serve` listens (bounded).
fn first_line_in_file(path: &Path) -> String {
    let deadline = Instant::now() + START_WITHIN;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("listening on ")) {
            return line.to_string();
        }
        if Instant::now() > deadline {
            return text.lines().next().unwrap_or_default().to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Log {
    fn read(stderr: std::process::ChildStderr) -> Log {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = channel();
        let keep = kept.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Log {
            kept,
            rx,
            reader: Some(reader),
        }
    }

    /// Everything, once the child has ended (its stderr closed).
    fn finish(&self) -> String {
        self.kept.lock().unwrap().join("\n")
    }

    fn join(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Serve {
    fn log(&self) -> &Log {
        self.log
            .as_ref()
            .expect("serve's stderr is kept only when started with stderr_lines()")
    }

    /// Each stderr line, in order, as it arrives.
    pub fn stderr_lines(&self) -> &Receiver<String> {
        &self.log().rx
    }

    /// All stderr lines so far.
    pub fn stderr(&self) -> String {
        self.log().kept.lock().unwrap().join("\n")
    }

    /// How many stderr lines so far.
    pub fn stderr_len(&self) -> usize {
        self.log().kept.lock().unwrap().len()
    }

    /// The stderr lines from the `from`-th on.
    pub fn stderr_since(&self, from: usize) -> Vec<String> {
        let kept = self.log().kept.lock().unwrap();
        kept.get(from..).unwrap_or_default().to_vec()
    }

    /// How many stderr lines so far contain `marker`.
    pub fn count(&self, marker: &str) -> usize {
        self.log()
            .kept
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(marker))
            .count()
    }

    /// Waits for a stderr line containing `marker` (one already kept counts).
    pub fn wait_for_line(&self, marker: &str, within: Duration) {
        let deadline = Instant::now() + within;
        if self.count(marker) > 0 {
            return;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log().rx.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return,
                Ok(_) => continue,
                Err(_) => panic!(
                    "riposte serve never logged {marker:?}; its stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as a service manager stops it; its exit status once it ended.
    pub fn terminate(&mut self) -> ExitStatus {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = self.child.wait().unwrap();
        if let Some(log) = self.log.as_mut() {
            log.join();
        }
        status
    }

    /// Stops it (SIGKILL), runs `meanwhile`, and starts it again on the same config and ledger.
    pub fn restart(&mut self, meanwhile: impl FnOnce()) {
        self.kill();
        meanwhile();
        let started = spawn(&self.launch).unwrap_or_else(|said| {
            panic!("riposte serve did not start again:\n{said}");
        });
        self.child = started.child;
        self.addr = started.addr;
        self.first_line = started.first_line;
        self.log = started.log;
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
