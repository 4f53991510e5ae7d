//! The shared job-store conformance suite, on a real SQLite file.

use riposte_store_sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ledger.sqlite"))
        .await
        .unwrap();
    riposte_store::conformance::run_all(&store).await;
    riposte_store::conformance::tokens_are_found_by_hash_until_revoked(&store).await;
    riposte_store::conformance::tokens_belong_to_their_owner(&store).await;
    riposte_store::conformance::people_sessions_live_until_expiry_revocation_or_disabling(&store)
        .await;
    riposte_store::conformance::alerts_append_filter_and_page(&store).await;
}

#[tokio::test]
async fn two_nodes_on_one_sqlite_file_pass_the_multi_node_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    riposte_store::conformance::run_multi_node(&a, &b).await;
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

#[tokio::test]
async fn a_job_is_not_stored_when_its_request_record_cannot_be() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    riposte_store::conformance::create_and_read_back(&store).await;
    // The ledger refuses that one target's audit records, as a full disk
    // would refuse the second insert of the transaction.
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
    riposte_store::conformance::a_job_is_not_stored_when_its_request_record_is_not(&store).await;
    riposte_store::conformance::a_job_is_not_finished_when_its_outcome_record_is_not(&store).await;
    riposte_store::conformance::a_bulk_keeps_its_state_when_its_record_is_not(&store).await;
}
