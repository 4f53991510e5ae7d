//! The shared job-store conformance suite, on a real SQLite file: one test
//! per check (`riposte_store::conformance_tests!`), each on its own file.

use riposte_store_sql::SqliteStore;

/// A fresh ledger file in its own directory (the label is not needed: the
/// directory is new).
async fn open(_label: &'static str) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ledger.sqlite"))
        .await
        .unwrap();
    (dir, store)
}

/// A second node on the same file.
async fn open_second(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("ledger.sqlite"))
        .await
        .unwrap()
}

async fn close(dir: tempfile::TempDir) {
    dir.close().unwrap();
}

riposte_store::conformance_tests! {
    open: open,
    open_second: open_second,
    close: close,
}

#[tokio::test]
async fn migrations_apply_once_and_reopen_keeps_jobs() {
    use riposte_store::JobStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let first = SqliteStore::open(&path).await.unwrap();
    riposte_store::conformance::create_and_read_back(&first).await;
    let before = first.list(&Default::default()).await.unwrap();
    drop(first);
    let again = SqliteStore::open(&path).await.unwrap();
    assert_eq!(again.list(&Default::default()).await.unwrap(), before);
}

#[tokio::test]
async fn alerts_cannot_be_changed_or_deleted() {
    use riposte_store::{AlertFilter, AlertStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    riposte_store::conformance::alerts_append_filter_and_page(&store).await;
    drop(store);
    for sql in [
        "UPDATE alerts SET title = 'nothing to see'",
        "DELETE FROM alerts",
    ] {
        let out = std::process::Command::new("sqlite3")
            .arg(&path)
            .arg(sql)
            .output();
        if let Ok(out) = out {
            assert!(!out.status.success(), "{sql} was allowed");
        }
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .unwrap()
            .len(),
        3
    );
}

/// A ledger (with one job) that refuses the audit records of
/// `REFUSED_RECORD_TARGET`, as a full disk would refuse the second insert of
/// the transaction.
async fn refusing_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    riposte_store::conformance::create_and_read_back(&store).await;
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    assert_eq!(
        riposte_store::conformance::REFUSED_RECORD_TARGET,
        "conf-record-refused"
    );
    sqlx::raw_sql(
        "CREATE TRIGGER conformance_refuses_a_record BEFORE INSERT ON audit_log \
         WHEN NEW.target = 'conf-record-refused' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    (dir, store)
}

#[tokio::test]
async fn a_job_is_not_stored_when_its_request_record_cannot_be() {
    let (_dir, store) = refusing_store().await;
    riposte_store::conformance::a_job_is_not_stored_when_its_request_record_is_not(&store).await;
}

#[tokio::test]
async fn a_job_is_not_finished_when_its_outcome_record_cannot_be() {
    let (_dir, store) = refusing_store().await;
    riposte_store::conformance::a_job_is_not_finished_when_its_outcome_record_is_not(&store).await;
}

#[tokio::test]
async fn a_bulk_keeps_its_state_when_its_record_cannot_be() {
    let (_dir, store) = refusing_store().await;
    riposte_store::conformance::a_bulk_keeps_its_state_when_its_record_is_not(&store).await;
}

/// A job keyed before migration 0010 (its key in the old, globally unique column) is
/// still its own caller's replay, and nobody else's.
#[tokio::test]
async fn a_key_from_before_migration_0010_replays_for_its_caller_only() {
    use riposte_store::{Created, JobStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    let job = riposte_store::conformance::create(
        &store,
        riposte_store::conformance::new_job("legacy", riposte_core::action::Action::Disable),
    )
    .await;
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE jobs SET idempotency_key = 'legacy-key', caller_idempotency_key = NULL WHERE id = ?")
        .bind(job.id.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    let mut again =
        riposte_store::conformance::new_job("legacy", riposte_core::action::Action::Disable);
    again.requested_by = job.requested_by.clone();
    again.idempotency_key = Some("legacy-key".into());
    let record = riposte_store::conformance::request_record(&again);
    match store
        .create_job(again.clone(), record.clone())
        .await
        .unwrap()
    {
        Created::Existing(j) => {
            assert_eq!(j.id, job.id);
            assert_eq!(j.idempotency_key.as_deref(), Some("legacy-key"));
        }
        Created::New(j) => panic!("the caller's old key made a new job {}", j.id),
    }
    again.requested_by = "token:someone-else".into();
    assert!(matches!(
        store.create_job(again, record).await.unwrap(),
        Created::New(_)
    ));
}

#[tokio::test]
async fn checkpoints_are_signed_in_every_append_path() {
    use riposte_store::audit::checkpoint::{AuditSigner, CheckpointKeys, generate_key};
    let (private, public) = generate_key().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ledger.sqlite"))
        .await
        .unwrap()
        .with_audit_signer(std::sync::Arc::new(
            AuditSigner::from_pkcs8(&private, 3).unwrap(),
        ));
    let keys = CheckpointKeys::from_spki_ders(&[public]).unwrap();
    riposte_store::conformance::checkpoints_follow_every_append_path(&store, &keys).await;
}

/// Inserts an alert raised `days` ago behind the store's back: the only way to age one.
async fn old_alert(conn: &mut sqlx::SqliteConnection, days: i64) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    let raised =
        (time::OffsetDateTime::now_utc() - time::Duration::days(days)).unix_timestamp() * 1000;
    sqlx::query(
        "INSERT INTO alerts (id, raised_at, rule_id, title, technique, severity, description, entities, users, \
         first_seen, last_seen, event_count, events, input) \
         VALUES (?, ?, 'old', 'old alert', 'T1110.003', 'low', 'old', '{}', '', NULL, NULL, 1, '[]', 'test')",
    )
    .bind(id.to_string())
    .bind(raised)
    .execute(conn)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn retention_removes_only_old_alerts_and_nothing_else_can_delete_one() {
    use riposte_store::AlertStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    let mut old = Vec::new();
    for _ in 0..3 {
        old.push(old_alert(&mut conn, riposte_store::conformance::OLD_ALERT_DAYS).await);
    }
    let fresh = store
        .append_alert(riposte_store::NewAlert {
            rule_id: "fresh".into(),
            title: "fresh".into(),
            technique: None,
            severity: "low".into(),
            description: "fresh".into(),
            entities: Default::default(),
            first_seen: None,
            last_seen: None,
            event_count: 1,
            events: serde_json::json!([]),
            input: "test".into(),
            fed_by: None,
        })
        .await
        .unwrap();
    // Behind the store: a fresh alert cannot be deleted, none changed, and the
    // cut cannot be pulled up to now or removed.
    for sql in [
        format!("DELETE FROM alerts WHERE id = '{}'", fresh.id),
        "DELETE FROM alerts".to_string(),
        "UPDATE alerts SET title = 'nothing to see'".to_string(),
        format!(
            "UPDATE alert_retention SET cut = {}",
            time::OffsetDateTime::now_utc().unix_timestamp() * 1000
        ),
        "DELETE FROM alert_retention".to_string(),
    ] {
        let refused = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut conn)
            .await;
        assert!(refused.is_err(), "{sql} was allowed");
    }
    drop(conn);
    riposte_store::conformance::retention_removes_only_alerts_before_the_cut(&store, &old).await;
    assert!(store.get_alert(fresh.id).await.unwrap().is_some());
}
