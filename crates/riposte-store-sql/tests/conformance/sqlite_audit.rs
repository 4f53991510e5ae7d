//! The audit trail on a real SQLite file: the triggers refuse edits, and
//! edits made behind their back (triggers dropped, raw SQL) are found by
//! verify_chain at the right record.

use std::path::{Path, PathBuf};

use riposte_store::{AuditLog, BreakKind, ChainReport, NewAuditRecord, verify_chain};
use riposte_store_sql::SqliteStore;
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

const RECORDS: i64 = 6;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

/// A ledger holding records 1..=RECORDS.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    for n in 1..=RECORDS {
        store
            .append(NewAuditRecord {
                actor: "cli:alice@host".into(),
                source: "cli".into(),
                remote_addr: None,
                event: "action-outcome".into(),
                target: Some(format!("corp:user{n}")),
                job_id: Some(uuid::Uuid::now_v7()),
                result: "verified".into(),
                details: json!({ "action": "disable", "message": "ACCOUNTDISABLE is set" }),
            })
            .await
            .unwrap();
    }
    let intact = verify_chain(&store).await.unwrap();
    assert_eq!((intact.records, intact.first_break), (RECORDS as u64, None));
    Fixture {
        _dir: dir,
        path,
        store,
    }
}

/// Raw SQL on the ledger file, as someone with file access could run it.
async fn raw_sql(path: &Path, sql: &str) -> Result<(), sqlx::Error> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
    // Test-only SQL written by the test itself.
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

fn first_break(report: &ChainReport) -> (i64, BreakKind) {
    let b = report
        .first_break
        .as_ref()
        .unwrap_or_else(|| panic!("tampering went unnoticed: {report:?}"));
    (b.seq, b.kind)
}

#[tokio::test]
async fn the_triggers_refuse_to_change_or_delete_records() {
    let f = fixture().await;
    for sql in [
        "UPDATE audit_log SET result = 'failed' WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
        "UPDATE audit_head SET seq = seq - 1",
        "DELETE FROM audit_head",
    ] {
        let err = raw_sql(&f.path, sql).await.expect_err(sql).to_string();
        assert!(
            err.contains("append-only") || err.contains("audit head"),
            "{sql}: {err}"
        );
    }
    let report = verify_chain(&f.store).await.unwrap();
    assert_eq!((report.records, report.first_break), (RECORDS as u64, None));
}

#[tokio::test]
async fn a_changed_result_is_found_at_its_record() {
    let f = fixture().await;
    raw_sql(
        &f.path,
        "DROP TRIGGER audit_log_append_only_update; UPDATE audit_log SET result = 'failed' WHERE seq = 3",
    )
    .await
    .unwrap();
    let report = verify_chain(&f.store).await.unwrap();
    assert_eq!(first_break(&report), (3, BreakKind::Changed));
    assert_eq!(report.records, RECORDS as u64);
}

#[tokio::test]
async fn a_deleted_middle_record_is_missing_at_its_seq() {
    let f = fixture().await;
    raw_sql(
        &f.path,
        "DROP TRIGGER audit_log_append_only_delete; DELETE FROM audit_log WHERE seq = 3",
    )
    .await
    .unwrap();
    let report = verify_chain(&f.store).await.unwrap();
    assert_eq!(first_break(&report), (3, BreakKind::Missing));
    assert_eq!(report.records, RECORDS as u64 - 1);
}

#[tokio::test]
async fn a_deleted_newest_record_disagrees_with_the_head_even_after_more_appends() {
    let f = fixture().await;
    raw_sql(
        &f.path,
        &format!(
            "DROP TRIGGER audit_log_append_only_delete; DELETE FROM audit_log WHERE seq = {RECORDS}"
        ),
    )
    .await
    .unwrap();
    let report = verify_chain(&f.store).await.unwrap();
    assert_eq!(first_break(&report), (RECORDS, BreakKind::HeadMismatch));

    // The next append continues from the head, so the hole stays visible.
    let next = f
        .store
        .append(NewAuditRecord {
            actor: "system".into(),
            source: "system".into(),
            remote_addr: None,
            event: "action-outcome".into(),
            target: None,
            job_id: None,
            result: "failed".into(),
            details: json!({}),
        })
        .await
        .unwrap();
    assert_eq!(next.seq, RECORDS + 1);
    let report = verify_chain(&f.store).await.unwrap();
    assert_eq!(first_break(&report), (RECORDS, BreakKind::Missing));
}

#[tokio::test]
async fn records_survive_a_reopen() {
    let f = fixture().await;
    let before = f.store.audit_records(0, 100).await.unwrap();
    let head = f.store.audit_head().await.unwrap();
    drop(f.store);
    let again = SqliteStore::open(&f.path).await.unwrap();
    assert_eq!(again.audit_records(0, 100).await.unwrap(), before);
    assert_eq!(again.audit_head().await.unwrap(), head);
    assert!(verify_chain(&again).await.unwrap().intact());
}
