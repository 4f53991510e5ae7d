//! Hostile: an insider who can write the ledger (SQLite file or PostgreSQL
//! database) but not read the checkpoint key rewrites a record and
//! recomputes the whole unkeyed chain and its head row, with riposte's own
//! `record_hash`. `audit verify` alone still says intact (as on every
//! version before signed checkpoints); `audit verify --public-key` names
//! the first checkpoint that no longer matches. Through the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{BIN, Run, Serve, riposte_config, run};
use riposte_store::{AuditLog, AuditRecord, GENESIS_HASH, record_hash, to_millis};
use riposte_store_sql::PostgresStore;
use riposte_store_sql::SqliteStore;
use riposte_store_sql::testing::TestDatabase;
use serde_json::Value;
use sqlx::Connection;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A config that names no reachable DC (the commands used here need only
/// the ledger), with `extra` appended.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("riposte.toml");
    let ca = dir.join("cert.pem");
    if !ca.exists() {
        crate::harness::self_signed_cert(dir);
    }
    std::fs::write(
        &path,
        format!(
            "data_dir = \"data\"\n{extra}\n[[forest]]\nname = \"corp\"\ndomain = \"corp.example.test\"\n\
             base_dn = \"DC=corp,DC=example,DC=test\"\ndcs = [\"ldaps://127.0.0.99:636\"]\n\
             ca_file = \"cert.pem\"\nbind_dn = \"CN=x\"\nbind_password_env = \"PATH\"\n"
        ),
    )
    .unwrap();
    path
}

fn keygen(out: &Path) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "keygen", "--out"]).arg(out);
    run(cmd)
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The ledger behind a config, as an insider reaches it.
enum Ledger {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Ledger {
    async fn records(&self) -> Vec<AuditRecord> {
        let log: Box<dyn AuditLog> = match self {
            Ledger::Sqlite(path) => Box::new(SqliteStore::open(path).await.unwrap()),
            Ledger::Postgres(url) => Box::new(PostgresStore::connect(url).await.unwrap()),
        };
        log.audit_records(0, 10_000).await.unwrap()
    }

    /// Changes the actor of record `seq`, then re-chains every record from
    /// there and moves the head row to the new hash, with the triggers that
    /// would refuse it switched off: what someone with write access to the
    /// database, and the source code, can do.
    async fn rewrite_and_rechain(&self, seq: i64, actor: &str) {
        let mut records = self.records().await;
        let mut prev = GENESIS_HASH.to_string();
        for r in records.iter_mut() {
            if r.seq == seq {
                r.actor = actor.to_string();
            }
            r.prev_hash = prev;
            r.hash = record_hash(&r.prev_hash, r.seq, to_millis(r.at), &r.to_new());
            prev = r.hash.clone();
        }
        let head = records.last().expect("records").clone();
        match self {
            Ledger::Sqlite(path) => {
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                sqlx::raw_sql(
                    "DROP TRIGGER audit_log_append_only_update; DROP TRIGGER audit_head_moves_forward",
                )
                .execute(&mut c)
                .await
                .unwrap();
                for r in &records {
                    sqlx::query(
                        "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    )
                    .bind(&r.actor)
                    .bind(&r.prev_hash)
                    .bind(&r.hash)
                    .bind(r.seq)
                    .execute(&mut c)
                    .await
                    .unwrap();
                }
                sqlx::query("UPDATE audit_head SET hash = ? WHERE id = 1")
                    .bind(&head.hash)
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            Ledger::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(
                    "ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE audit_head DISABLE TRIGGER USER",
                )
                .execute(&mut c)
                .await
                .unwrap();
                for r in &records {
                    sqlx::query(
                        "UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
                    )
                    .bind(&r.actor)
                    .bind(&r.prev_hash)
                    .bind(&r.hash)
                    .bind(r.seq)
                    .execute(&mut c)
                    .await
                    .unwrap();
                }
                sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                    .bind(&head.hash)
                    .execute(&mut c)
                    .await
                    .unwrap();
                // Covering the tracks: the triggers are back.
                sqlx::raw_sql(
                    "ALTER TABLE audit_log ENABLE TRIGGER USER; ALTER TABLE audit_head ENABLE TRIGGER USER",
                )
                .execute(&mut c)
                .await
                .unwrap();
            }
        }
    }
}

/// Twelve `token create` commands with checkpoints every 5 records, then
/// the insider's rewrite of record 3; checks what each verify says.
fn rewritten_ledger_is_caught_by_the_checkpoint_key(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let made = keygen(&keys.join("audit.key"));
    assert_eq!(made.code, 0, "{}", made.stderr);
    let public = keys.join("audit.key.pub");
    let database = database_url
        .map(|u| format!("database_url = \"{u}\"\n"))
        .unwrap_or_default();
    let config = write_config(
        dir.path(),
        &format!("{database}[audit]\nsigning_key = \"keys/audit.key\"\ncheckpoint_every = 5\n"),
    );
    let ledger = match database_url {
        Some(url) => Ledger::Postgres(url.to_string()),
        None => Ledger::Sqlite(dir.path().join("data/riposte.sqlite")),
    };
    for n in 1..=12 {
        let name = format!("t{n}");
        let made = riposte_config(
            &config,
            &["token", "create", "--name", &name, "--role", "reader"],
        );
        assert_eq!(made.code, 0, "{}", made.stderr);
    }
    let public_arg = public.to_str().unwrap();
    // Records 1-5, checkpoint 6, records 7-10, checkpoint 11, records 12-14.
    let signed = riposte_config(&config, &["audit", "verify", "--public-key", public_arg]);
    assert_eq!(signed.code, 0, "{}\n{}", signed.stdout, signed.stderr);
    assert_eq!(
        signed.stdout,
        "records checked: 14\nintact\ncheckpoints: 2 valid, the newest at seq 11\n\
         warning: 3 records after the last checkpoint (seq 11) are not yet covered by a signature\n"
    );
    // The checkpoints travel in both export formats.
    let raw = lines(&riposte_config(&config, &["audit", "export", "--format", "raw"]).stdout);
    let checkpoints: Vec<&Value> = raw
        .iter()
        .filter(|r| r["event"] == "audit-checkpoint")
        .collect();
    assert_eq!(
        checkpoints
            .iter()
            .map(|r| r["seq"].as_i64())
            .collect::<Vec<_>>(),
        vec![Some(6), Some(11)]
    );
    assert_eq!(checkpoints[0]["details"]["covers_seq"], 5);
    assert_eq!(checkpoints[0]["details"]["covers_hash"], raw[4]["hash"]);
    assert_eq!(
        checkpoints[0]["details"]["signature"]
            .as_str()
            .unwrap()
            .len(),
        128
    );
    let ocsf = lines(&riposte_config(&config, &["audit", "export"]).stdout);
    assert_eq!(
        ocsf.iter()
            .filter(|e| e["unmapped"]["event"] == "audit-checkpoint")
            .count(),
        2
    );

    block_on(ledger.rewrite_and_rechain(3, "cli:somebody-else@host"));
    let records = block_on(ledger.records());
    assert_eq!(records[2].actor, "cli:somebody-else@host");

    // The unkeyed chain cannot tell: this is all earlier versions had.
    let unkeyed = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(
        (unkeyed.code, unkeyed.stdout.as_str()),
        (0, "records checked: 14\nintact\n"),
        "{}",
        unkeyed.stderr
    );
    assert!(
        unkeyed.stderr.contains("checkpoints not checked"),
        "{}",
        unkeyed.stderr
    );
    let caught = riposte_config(&config, &["audit", "verify", "--public-key", public_arg]);
    assert_eq!(caught.code, 1, "{}\n{}", caught.stdout, caught.stderr);
    assert!(
        caught.stdout.contains(
            "checkpoint broken: checkpoint at seq 6: the ledger up to record 5 now hashes to"
        ) && caught.stdout.contains("re-chained"),
        "{}",
        caught.stdout
    );
    let json = riposte_config(
        &config,
        &["--json", "audit", "verify", "--public-key", public_arg],
    );
    assert_eq!(json.code, 1);
    let json = json.json();
    assert_eq!(
        (
            &json["intact"],
            &json["verified"],
            &json["checkpoints"]["first_break"]["seq"]
        ),
        (&Value::Bool(true), &Value::Bool(false), &Value::from(6))
    );

    // riposte goes on working, but never signs over the rewritten ledger:
    // record 15 is due a checkpoint, and the one at 11 no longer matches.
    let made = riposte_config(
        &config,
        &["token", "create", "--name", "t13", "--role", "reader"],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(
        made.stderr.contains("audit checkpoint not signed")
            && made
                .stderr
                .contains("the last checkpoint (seq 11) no longer matches"),
        "{}",
        made.stderr
    );
    let records = block_on(ledger.records());
    assert_eq!(
        (
            records.len(),
            records
                .iter()
                .filter(|r| r.event == "audit-checkpoint")
                .count()
        ),
        (15, 2)
    );

    // Another key's public half does not vouch for these checkpoints.
    let other = keygen(&keys.join("other.key"));
    assert_eq!(other.code, 0, "{}", other.stderr);
    let wrong = riposte_config(
        &config,
        &[
            "audit",
            "verify",
            "--public-key",
            keys.join("other.key.pub").to_str().unwrap(),
        ],
    );
    assert_eq!(wrong.code, 1);
    assert!(
        wrong
            .stdout
            .contains("checkpoint at seq 6: its signature over (seq 5"),
        "{}",
        wrong.stdout
    );
}

#[test]
fn a_rewritten_sqlite_ledger_is_caught_by_the_checkpoint_key() {
    rewritten_ledger_is_caught_by_the_checkpoint_key(None);
}

#[test]
fn a_rewritten_postgres_ledger_is_caught_by_the_checkpoint_key() {
    let db = block_on(TestDatabase::create("checkpoints"));
    rewritten_ledger_is_caught_by_the_checkpoint_key(Some(&db.url));
    block_on(db.remove());
}

#[test]
fn removing_every_checkpoint_leaves_a_tail_the_key_does_not_cover() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    assert_eq!(keygen(&keys.join("audit.key")).code, 0);
    let config = write_config(
        dir.path(),
        "[audit]\nsigning_key = \"keys/audit.key\"\ncheckpoint_every = 3\n",
    );
    for n in 1..=6 {
        let name = format!("t{n}");
        let made = riposte_config(
            &config,
            &["token", "create", "--name", &name, "--role", "reader"],
        );
        assert_eq!(made.code, 0, "{}", made.stderr);
    }
    // The insider deletes the checkpoint records and renumbers and
    // re-chains the rest.
    let path = dir.path().join("data/riposte.sqlite");
    block_on(async {
        let kept: Vec<AuditRecord> = Ledger::Sqlite(path.clone())
            .records()
            .await
            .into_iter()
            .filter(|r| r.event != "audit-checkpoint")
            .collect();
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::raw_sql(
            "DROP TRIGGER audit_log_append_only_delete; DROP TRIGGER audit_head_moves_forward; DELETE FROM audit_log",
        )
        .execute(&mut c)
        .await
        .unwrap();
        let mut prev = GENESIS_HASH.to_string();
        for (i, r) in kept.iter().enumerate() {
            let seq = i as i64 + 1;
            let hash = record_hash(&prev, seq, to_millis(r.at), &r.to_new());
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, source, remote_addr, event, target, job_id, result, details, prev_hash, hash) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(to_millis(r.at))
            .bind(&r.actor)
            .bind(&r.source)
            .bind(&r.remote_addr)
            .bind(&r.event)
            .bind(&r.target)
            .bind(r.job_id.map(|j| j.to_string()))
            .bind(&r.result)
            .bind(r.details.to_string())
            .bind(&prev)
            .bind(&hash)
            .execute(&mut c)
            .await
            .unwrap();
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")
            .bind(kept.len() as i64)
            .bind(&prev)
            .execute(&mut c)
            .await
            .unwrap();
    });
    let public = keys.join("audit.key.pub");
    let unkeyed = riposte_config(&config, &["audit", "verify"]);
    assert_eq!(unkeyed.code, 0, "{}", unkeyed.stdout);
    let caught = riposte_config(
        &config,
        &["audit", "verify", "--public-key", public.to_str().unwrap()],
    );
    assert_eq!(caught.code, 1, "{}", caught.stdout);
    assert!(
        caught.stdout.contains("checkpoints: none")
            && caught
                .stdout
                .contains("checkpoints missing: 6 records after the start"),
        "{}",
        caught.stdout
    );
    // riposte goes on working but never signs over the stripped ledger.
    for n in 7..=9 {
        let name = format!("t{n}");
        let made = riposte_config(
            &config,
            &["token", "create", "--name", &name, "--role", "reader"],
        );
        assert_eq!(made.code, 0, "{}", made.stderr);
    }
    let still = riposte_config(
        &config,
        &["audit", "verify", "--public-key", public.to_str().unwrap()],
    );
    assert_eq!(still.code, 1, "{}", still.stdout);
    assert!(
        still
            .stdout
            .contains("checkpoints missing: 9 records after the start"),
        "{}",
        still.stdout
    );
    // Until an operator, having looked, signs the ledger as it is.
    let certified = riposte_config(&config, &["audit", "checkpoint"]);
    assert_eq!(certified.code, 0, "{}", certified.stderr);
    assert!(
        certified
            .stdout
            .starts_with("signed checkpoint at seq 10: records 1 to 9"),
        "{}",
        certified.stdout
    );
    let signed = riposte_config(
        &config,
        &["audit", "verify", "--public-key", public.to_str().unwrap()],
    );
    assert_eq!(signed.code, 0, "{}", signed.stdout);
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let made = keygen(&key);
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(
        made.stdout.contains("[audit] signing_key"),
        "{}",
        made.stdout
    );
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    // The key never reaches the terminal.
    let body: String = private.lines().nth(1).unwrap().to_string();
    assert!(!made.stdout.contains(&body) && !made.stderr.contains(&body));
    assert!(
        std::fs::read_to_string(dir.path().join("audit.key.pub"))
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    let again = keygen(&key);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private);
}

#[test]
fn a_key_beside_the_ledger_or_readable_by_others_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    assert_eq!(keygen(&dir.path().join("data/audit.key")).code, 0);
    let inside = write_config(dir.path(), "[audit]\nsigning_key = \"data/audit.key\"\n");
    let refused = riposte_config(&inside, &["token", "list"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("beside the ledger it protects"),
        "{}",
        refused.stderr
    );
    assert!(
        !dir.path().join("data/riposte.sqlite").exists(),
        "nothing may be written before the key is accepted"
    );

    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let key = dir.path().join("keys/audit.key");
    assert_eq!(keygen(&key).code, 0);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let readable = write_config(dir.path(), "[audit]\nsigning_key = \"keys/audit.key\"\n");
    let refused = riposte_config(&readable, &["token", "list"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("mode 640") && refused.stderr.contains("chmod 600"),
        "{}",
        refused.stderr
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(riposte_config(&readable, &["token", "list"]).code, 0);
}

#[test]
fn a_clean_shutdown_of_serve_signs_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    assert_eq!(keygen(&dir.path().join("keys/audit.key")).code, 0);
    let config = write_config(
        dir.path(),
        "[audit]\nsigning_key = \"keys/audit.key\"\ncheckpoint_every = 1000\n",
    );
    let made = riposte_config(
        &config,
        &["token", "create", "--name", "before", "--role", "reader"],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let mut serve = Serve::on_config(&config).stderr_null().start();
    assert!(
        serve.first_line.contains("listening on http://127.0.0.1:"),
        "{}",
        serve.first_line
    );
    let status = serve.terminate();
    assert!(status.success(), "{status}");
    let raw = lines(&riposte_config(&config, &["audit", "export", "--format", "raw"]).stdout);
    let last = raw.last().expect("records");
    assert_eq!(last["event"], "audit-checkpoint", "{raw:?}");
    assert_eq!(last["details"]["covers_seq"], raw[raw.len() - 2]["seq"]);
    let verified = riposte_config(
        &config,
        &[
            "audit",
            "verify",
            "--public-key",
            dir.path().join("keys/audit.key.pub").to_str().unwrap(),
        ],
    );
    assert_eq!(verified.code, 0, "{}", verified.stdout);
    assert!(
        !verified.stdout.contains("warning"),
        "everything is covered after a clean shutdown: {}",
        verified.stdout
    );
}
