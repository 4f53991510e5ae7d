//! The ledger's disk full or read-only under a running `riposte serve` (issue #8): jobs accepted
//! before the fault are kept and each reaches exactly one outcome once the disk is back; requests
//! made during the fault are refused with a clear error (API 503 `ledger_unwritable`, CLI exit 6);
//! nothing is written to the directory for a job whose `writing` phase could not be recorded.
//!
//! Each test mounts its own small file system under its data directory (tmpfs for the full disk,
//! ext4 on a loop device for the read-only one, since tmpfs refuses `remount,ro` while riposte
//! holds the ledger open for writing) and unmounts it on drop. It needs root; when mounting fails
//! it fails, saying why.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Serve, metadata_version, riposte_config, version_step_of_one_disable};
use riposte_testlab::TestUser;
use riposte_testlab::http::{Response, request};
use serde_json::{Value, json};

/// Jobs accepted before the fault.
const ACCEPTED: usize = 4;
/// API requests made during the fault (each must be refused), besides one CLI request.
const REFUSED: usize = 3;
/// Long enough to fill the disk while the first job waits just before its `writing` phase.
const BEFORE_WRITE_MS: u64 = 4000;

/// A file system mounted for one test; unmounted on drop, however the test ends.
struct Mounted {
    dir: PathBuf,
}

impl Mounted {
    fn tmpfs(dir: &Path, size: &str) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        let options = format!("size={size}");
        mount(&["-t", "tmpfs", "-o", &options, "tmpfs"], dir);
        Mounted {
            dir: dir.to_path_buf(),
        }
    }

    /// ext4 without a journal on a loop device over `image`, which goes read-only on demand.
    fn ext4(image: &Path, dir: &Path) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        let made = Command::new("truncate")
            .args(["-s", "32M"])
            .arg(image)
            .status()
            .expect("truncate runs");
        assert!(made.success(), "could not make {}", image.display());
        let out = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-O", "^has_journal"])
            .arg(image)
            .output()
            .expect("mkfs.ext4 runs (e2fsprogs)");
        assert!(
            out.status.success(),
            "mkfs.ext4 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self::ext4_again(image, dir)
    }

    fn ext4_again(image: &Path, dir: &Path) -> Mounted {
        let image = image.to_str().unwrap();
        mount(&["-o", "loop,errors=remount-ro", image], dir);
        Mounted {
            dir: dir.to_path_buf(),
        }
    }

    /// Makes the ext4 file system read-only under everyone holding it open, as the kernel does
    /// when it finds an error (`errors=remount-ro`); only unmounting undoes it.
    fn make_read_only(&self) {
        let source = findmnt_source(&self.dir);
        let device = Path::new(&source)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let trigger = format!("/sys/fs/ext4/{device}/trigger_fs_error");
        std::fs::write(&trigger, "1")
            .unwrap_or_else(|e| panic!("cannot make {source} read-only through {trigger}: {e}"));
        let probe = self.dir.join("probe");
        assert!(
            std::fs::write(&probe, "x").is_err(),
            "{} still takes writes after the error was triggered",
            self.dir.display()
        );
    }
}

impl Mounted {
    fn try_unmount(&self) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..20 {
            match Command::new("umount").arg(&self.dir).output() {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(last)
    }

    /// Unmounts now, and fails the test if it cannot: mounting the same image again while the
    /// old mount lingers would put two file systems on one disk.
    fn unmount(self) {
        if let Err(e) = self.try_unmount() {
            panic!("cannot unmount {}: {e}", self.dir.display());
        }
        std::mem::forget(self);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.try_unmount().is_err() {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

fn mount(args: &[&str], dir: &Path) {
    let out = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .expect("mount runs");
    assert!(
        out.status.success(),
        "mounting {args:?} on {} failed (these tests need root and mount(8)): {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn findmnt_source(dir: &Path) -> String {
    let out = Command::new("findmnt")
        .args(["-no", "SOURCE"])
        .arg(dir)
        .output()
        .expect("findmnt runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes a filler file until the file system answers ENOSPC; returns the bytes written.
fn fill(dir: &Path) -> u64 {
    let mut file = std::fs::File::create(dir.join("filler")).expect("the filler file");
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0_u64;
    for size in [chunk.len(), 4096, 512, 1] {
        loop {
            match file.write(&chunk[..size]) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", dir.display()),
            }
        }
    }
    let _ = file.sync_all();
    written
}

/// The harness's `riposte serve`, its stderr kept line by line.
struct Server(Serve);

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.0
    }
}

impl Server {
    fn start(config: &Path, failpoints: Option<&str>) -> Server {
        Server(
            Serve::on_config(config)
                // The sweep then runs every second.
                .env("RIPOSTE_JOB_LEASE_SECS", "3")
                .env("RIPOSTE_LOG", "info")
                .failpoints(failpoints)
                .stderr_lines()
                .start(),
        )
    }

    fn assert_alive(&mut self) {
        assert!(
            self.0.child.try_wait().unwrap().is_none(),
            "riposte serve ended during the fault:\n{}",
            self.stderr()
        );
    }

    fn get(&self, token: &str, path: &str) -> Response {
        request(&self.addr, "GET", path, &auth(token), None)
    }

    fn disable(&self, token: &str, user: &TestUser) -> Response {
        let body = json!({ "target": user.reference(), "action": "disable", "reason": "store fault test" });
        request(
            &self.addr,
            "POST",
            "/api/v1/actions",
            &auth(token),
            Some(&body.to_string()),
        )
    }

    fn stop(mut self) {
        self.0.kill();
    }
}

fn auth(token: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {token}")]
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Full,
    ReadOnly,
    /// `default_transaction_read_only` on the PostgreSQL ledger's database, its sessions ended.
    PostgresReadOnly,
}

/// Sets the test database's default read-only mode and ends its sessions, so the pool's next
/// connections come up with it (the server's own admin connection does this).
fn postgres_read_only(rt: &tokio::runtime::Runtime, name: &str, on: bool) {
    use sqlx::Connection;
    rt.block_on(async {
        let server = riposte_store_sql::testing::server_url();
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .expect("the test PostgreSQL server");
        let value = if on { "on" } else { "off" };
        let sql = format!(
            "ALTER DATABASE \"{name}\" SET default_transaction_read_only = {value}; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot set {name} read-only = {value}: {e}"));
        let _ = admin.close().await;
    });
}

#[test]
fn a_full_ledger_disk_refuses_new_work_and_loses_none_accepted() {
    fault_run(Fault::Full);
}

#[test]
fn a_ledger_disk_gone_read_only_refuses_new_work_and_loses_none_accepted() {
    fault_run(Fault::ReadOnly);
}

#[test]
fn a_read_only_postgres_ledger_refuses_new_work_and_loses_none_accepted() {
    fault_run(Fault::PostgresReadOnly);
}

fn fault_run(fault: Fault) {
    let started = Instant::now();
    let lab = crate::harness::lab();
    let step = version_step_of_one_disable(&lab);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let image = dir.path().join("ledger.ext4");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut mounted = match fault {
        Fault::Full => Some(Mounted::tmpfs(&data, "16m")),
        Fault::ReadOnly => Some(Mounted::ext4(&image, &data)),
        Fault::PostgresReadOnly => None,
    };
    let db = (fault == Fault::PostgresReadOnly)
        .then(|| rt.block_on(riposte_store_sql::testing::TestDatabase::create("store_ro")));
    let config = match &db {
        Some(db) => {
            let url = db.url.clone();
            lab.private_config(dir.path(), move |t| format!("database_url = {url:?}\n{t}"))
        }
        None => lab.private_config(dir.path(), |t| t),
    };
    // What a refusal must name, and what it must never show.
    let (ledger_name, secret) = match &db {
        Some(db) => (
            db.name.clone(),
            db.url
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .and_then(|(user, _)| user.split_once(':'))
                .map(|(_, password)| password.to_string()),
        ),
        None => ("riposte.sqlite".to_string(), None),
    };
    let created = riposte_config(
        &config,
        &[
            "--json",
            "token",
            "create",
            "--name",
            "r",
            "--role",
            "responder",
        ],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let token = created.json()["token"].as_str().unwrap().to_string();
    // A token first used during the fault: its last use cannot be recorded, and it must still read.
    let created = riposte_config(
        &config,
        &[
            "--json", "token", "create", "--name", "watcher", "--role", "reader",
        ],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let watcher = created.json()["token"].as_str().unwrap().to_string();
    let tag = match fault {
        Fault::Full => "full",
        Fault::ReadOnly => "ro",
        Fault::PostgresReadOnly => "pgro",
    };
    let users: Vec<TestUser> = (0..ACCEPTED)
        .map(|i| lab.create_user("corp", &format!("{tag}{i}"), 0))
        .collect();
    let refused_users: Vec<TestUser> = (0..=REFUSED)
        .map(|i| lab.create_user("corp", &format!("{tag}x{i}"), 0))
        .collect();
    let before: Vec<u64> = users
        .iter()
        .map(|u| metadata_version(&lab, &u.reference(), "userAccountControl"))
        .collect();

    let mut serve = Server::start(
        &config,
        Some(&format!("before-write=sleep:{BEFORE_WRITE_MS}")),
    );
    assert_eq!(
        request(&serve.addr, "GET", "/readyz", &[], None).status,
        200
    );
    let mut ids = Vec::new();
    for user in &users {
        let accepted = serve.disable(&token, user);
        assert_eq!(accepted.status, 202, "{}", accepted.body);
        ids.push(accepted.json()["job_id"].as_str().unwrap().to_string());
    }
    // The first job waits just before its writing phase; the others are queued.
    serve.wait_for_line("failpoint before-write", Duration::from_secs(60));
    let fault_at = Instant::now();
    let filled = match fault {
        Fault::Full => fill(&data),
        Fault::ReadOnly => {
            mounted.as_ref().unwrap().make_read_only();
            0
        }
        Fault::PostgresReadOnly => {
            postgres_read_only(&rt, &db.as_ref().unwrap().name, true);
            0
        }
    };

    // New work is refused, clearly, and leaves nothing behind.
    for user in &refused_users[..REFUSED] {
        let refused = serve.disable(&token, user);
        assert_eq!(
            refused.status, 503,
            "a request was not refused during the fault: {}",
            refused.body
        );
        let error = &refused.json()["error"];
        assert_eq!(error["code"], "ledger_unwritable", "{}", refused.body);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&ledger_name)
                && message.contains("cannot be written")
                && message.contains("free space on its disk or make it writable again"),
            "the refusal does not name the ledger and what to do: {message}"
        );
        assert!(!message.contains(&token), "the token leaked: {message}");
        if let Some(secret) = &secret {
            assert!(
                !message.contains(secret.as_str()),
                "the database password leaked"
            );
        }
    }
    let cli = riposte_config(
        &config,
        &[
            "user",
            "disable",
            &refused_users[REFUSED].reference(),
            "--reason",
            "store fault test",
        ],
    );
    assert_eq!(
        cli.code, 6,
        "the CLI's refusal has its own exit status\nstdout: {}\nstderr: {}",
        cli.stdout, cli.stderr
    );
    assert!(
        cli.stderr.contains("cannot be written") && cli.stderr.contains("free space"),
        "unclear CLI refusal: {}",
        cli.stderr
    );
    if let Some(secret) = &secret {
        assert!(
            !cli.stderr.contains(secret.as_str()),
            "the database password leaked"
        );
    }
    let readyz = request(&serve.addr, "GET", "/readyz", &[], None);
    assert_eq!(readyz.status, 503, "{}", readyz.body);
    assert_eq!(readyz.json()["error"]["code"], "not_ready");
    // Jobs already accepted can still be read.
    let first = serve.get(&token, &format!("/api/v1/jobs/{}", ids[0]));
    assert_eq!(first.status, 200, "{}", first.body);
    let unrecorded = serve.get(&watcher, &format!("/api/v1/jobs/{}", ids[0]));
    assert_eq!(unrecorded.status, 200, "{}", unrecorded.body);

    // The first job's writing phase is refused: it is left, not failed, and nothing is written.
    serve.wait_for_line("the job is left running", Duration::from_secs(60));
    serve.assert_alive();
    assert_eq!(
        metadata_version(&lab, &users[0].reference(), "userAccountControl"),
        before[0],
        "the directory was written for a job whose writing phase is not in the ledger"
    );
    let left = serve
        .get(&token, &format!("/api/v1/jobs/{}", ids[0]))
        .json();
    assert_eq!(left["state"], "running", "{left}");
    assert_ne!(left["phase"], "writing", "{left}");
    assert_eq!(left["outcome"], Value::Null, "{left}");
    // A second's worth of worker and sweep rounds against the broken ledger.
    std::thread::sleep(Duration::from_secs(1));
    serve.assert_alive();
    let worker_errors = serve.count("could not take a job") + serve.count("could not sweep");
    let fault_secs = fault_at.elapsed().as_secs_f64();

    // The disk comes back.
    let restored_at = Instant::now();
    match fault {
        Fault::Full => std::fs::remove_file(data.join("filler")).unwrap(),
        Fault::ReadOnly => {
            // Only unmounting undoes an error-triggered read-only file system: riposte stops
            // (killed, as a crash would), the disk is checked and mounted again.
            serve.stop();
            mounted.take().unwrap().unmount();
            let _ = Command::new("e2fsck").arg("-fy").arg(&image).output();
            mounted = Some(Mounted::ext4_again(&image, &data));
            serve = Server::start(&config, None);
        }
        Fault::PostgresReadOnly => postgres_read_only(&rt, &db.as_ref().unwrap().name, false),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let jobs: Vec<Value> = loop {
        let jobs: Vec<Value> = ids
            .iter()
            .map(|id| serve.get(&token, &format!("/api/v1/jobs/{id}")).json())
            .collect();
        if jobs.iter().all(|j| j["state"] == "finished") {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "accepted jobs did not finish once the disk was back: {jobs:?}\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let recovered_secs = restored_at.elapsed().as_secs_f64();
    for job in &jobs {
        assert_eq!(job["outcome"], "verified", "{job}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = request(&serve.addr, "GET", "/readyz", &[], None);
        if ready.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still not ready: {}", ready.body);
        std::thread::sleep(Duration::from_millis(250));
    }

    // One write per account, one request and one outcome record per job, an intact chain.
    for ((user, before), id) in users.iter().zip(&before).zip(&ids) {
        let after = metadata_version(&lab, &user.reference(), "userAccountControl");
        assert_eq!(
            after - before,
            step,
            "{} was written {} times for job {id}",
            user.name,
            (after - before) / step
        );
        assert_ne!(user.uac() & 2, 0, "{} is not disabled", user.name);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let audit = loop {
        let export = riposte_config(&config, &["audit", "export", "--format", "raw"]);
        assert_eq!(export.code, 0, "{}", export.stderr);
        let records: Vec<Value> = export
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let complete = ids.iter().all(|id| {
            records
                .iter()
                .any(|r| r["job_id"] == id.as_str() && r["event"] == "action-outcome")
        });
        if complete || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    for id in &ids {
        for event in ["action-requested", "action-outcome"] {
            let n = audit
                .iter()
                .filter(|r| r["job_id"] == id.as_str() && r["event"] == event)
                .count();
            assert_eq!(n, 1, "job {id} has {n} {event} records");
        }
    }
    let verify = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(
        verify.code, 0,
        "audit verify: {}{}",
        verify.stdout, verify.stderr
    );
    // The refused requests left no job.
    for user in &refused_users {
        let listed = serve.get(&token, &format!("/api/v1/jobs?target={}", user.name));
        assert_eq!(listed.json()["jobs"], json!([]), "{}", listed.body);
    }
    let stderr = serve.stderr();
    assert!(
        !stderr.contains("panicked"),
        "riposte serve panicked:\n{stderr}"
    );
    serve.stop();
    drop(mounted);
    if let Some(db) = db {
        rt.block_on(db.remove());
    }
    println!(
        "{}",
        json!({
            "test": format!("store_faults::{tag}"),
            "fault": match fault {
                Fault::Full => "disk full (tmpfs 16 MiB, filler until ENOSPC)",
                Fault::ReadOnly => "read-only (ext4 error, errors=remount-ro)",
                Fault::PostgresReadOnly => "PostgreSQL default_transaction_read_only, sessions ended",
            },
            "filler_bytes": filled,
            "accepted_before": ACCEPTED,
            "refused_during": { "api": REFUSED, "cli": 1 },
            "worker_and_sweep_errors_logged_during_fault": worker_errors,
            "fault_seconds": (fault_secs * 10.0).round() / 10.0,
            "outcomes_after": jobs.iter().map(|j| j["outcome"].clone()).collect::<Vec<_>>(),
            "seconds_to_all_final_after_restore": (recovered_secs * 10.0).round() / 10.0,
            "duration_seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
}
