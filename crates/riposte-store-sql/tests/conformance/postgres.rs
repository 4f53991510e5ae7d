//! The shared store conformance suite on a real PostgreSQL server: one test
//! per check (`riposte_store::conformance_tests!`), each in its own fresh
//! database (see `riposte_store_sql::testing`).

use riposte_store_sql::PostgresStore;
use riposte_store_sql::testing::TestDatabase;

async fn fresh(label: &str) -> (TestDatabase, PostgresStore) {
    let db = TestDatabase::create(label).await;
    let store = PostgresStore::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("opening {}: {e}", db.name));
    (db, store)
}

/// A fresh database for one check, named after it (`TestDatabase::create`
/// keeps the first 30 characters of the label, then the process id and a
/// counter, well inside PostgreSQL's 63-byte names).
async fn open(label: &'static str) -> (TestDatabase, PostgresStore) {
    fresh(label).await
}

/// A second node: its own pool on the same database.
async fn open_second(db: &TestDatabase) -> PostgresStore {
    PostgresStore::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("opening {} again: {e}", db.name))
}

async fn close(db: TestDatabase) {
    db.remove().await;
}

riposte_store::conformance_tests! {
    open: open,
    open_second: open_second,
    close: close,
}

#[tokio::test]
async fn a_job_change_on_one_node_is_signalled_on_the_other() {
    let (db, a) = fresh("signal_nodes").await;
    let b = open_second(&db).await;
    riposte_store::conformance::a_job_change_on_one_node_is_signalled_on_the_other(&a, &b).await;
    drop((a, b));
    db.remove().await;
}

#[tokio::test]
async fn nodes_starting_together_apply_the_migrations_once() {
    use riposte_store::JobStore;
    let db = TestDatabase::create("migrate").await;
    let stores: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut opened = Vec::new();
    for s in stores {
        opened.push(s.await.unwrap().expect("every node opens the ledger"));
    }
    riposte_store::conformance::create_and_read_back(&opened[0]).await;
    let before = opened[0].list(&Default::default()).await.unwrap();
    drop(opened);
    let again = PostgresStore::connect(&db.url).await.unwrap();
    assert_eq!(again.list(&Default::default()).await.unwrap(), before);
    drop(again);
    db.remove().await;
}

#[tokio::test]
async fn records_cannot_be_changed_or_deleted_behind_the_store() {
    use sqlx::Connection;
    let (db, store) = fresh("triggers").await;
    riposte_store::conformance::the_first_audit_record_links_to_genesis(&store).await;
    riposte_store::conformance::alerts_append_filter_and_page(&store).await;
    riposte_store::conformance::a_finished_job_never_changes(&store).await;
    let mut raw = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for sql in [
        "UPDATE audit_log SET result = 'failed'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_head SET seq = seq - 1",
        "DELETE FROM audit_head",
        "UPDATE alerts SET title = 'nothing to see'",
        "DELETE FROM alerts",
        "UPDATE jobs SET outcome = 'failed' WHERE state = 'finished'",
        "DELETE FROM jobs",
        "UPDATE job_events SET message = 'x'",
    ] {
        let err = sqlx::raw_sql(sql)
            .execute(&mut raw)
            .await
            .expect_err(sql)
            .to_string();
        assert!(
            err.contains("append-only")
                || err.contains("audit head")
                || err.contains("finished job")
                || err.contains("never deleted"),
            "{sql}: {err}"
        );
    }
    drop(raw);
    drop(store);
    db.remove().await;
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_the_password() {
    let err = PostgresStore::connect("postgres://riposte:hunter2-secret@127.0.0.1:1/riposte")
        .await
        .err()
        .expect("nothing listens on port 1")
        .to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    let err = PostgresStore::connect("postgres://riposte:hunter2-secret@127.0.0.1:notaport/x")
        .await
        .err()
        .expect("a bad URL")
        .to_string();
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    assert!(err.contains("postgres://"), "{err}");
}

/// A fresh database (with one job) that refuses the audit records of
/// `REFUSED_RECORD_TARGET`, as a full disk would refuse the second insert of
/// the transaction.
async fn refusing_store(label: &str) -> (TestDatabase, PostgresStore) {
    use sqlx::Connection;
    let (db, store) = fresh(label).await;
    riposte_store::conformance::create_and_read_back(&store).await;
    let mut raw = sqlx::PgConnection::connect(&db.url).await.unwrap();
    assert_eq!(
        riposte_store::conformance::REFUSED_RECORD_TARGET,
        "conf-record-refused"
    );
    sqlx::raw_sql(
        "CREATE FUNCTION conformance_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
         CREATE TRIGGER conformance_refuses_a_record BEFORE INSERT ON audit_log FOR EACH ROW \
         WHEN (NEW.target = 'conf-record-refused') EXECUTE FUNCTION conformance_refuse();",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    drop(raw);
    (db, store)
}

#[tokio::test]
async fn a_job_is_not_stored_when_its_request_record_cannot_be() {
    let (db, store) = refusing_store("record").await;
    riposte_store::conformance::a_job_is_not_stored_when_its_request_record_is_not(&store).await;
    drop(store);
    db.remove().await;
}

#[tokio::test]
async fn a_job_is_not_finished_when_its_outcome_record_cannot_be() {
    let (db, store) = refusing_store("outcome_record").await;
    riposte_store::conformance::a_job_is_not_finished_when_its_outcome_record_is_not(&store).await;
    drop(store);
    db.remove().await;
}

#[tokio::test]
async fn a_bulk_keeps_its_state_when_its_record_cannot_be() {
    let (db, store) = refusing_store("bulk_record").await;
    riposte_store::conformance::a_bulk_keeps_its_state_when_its_record_is_not(&store).await;
    drop(store);
    db.remove().await;
}

#[tokio::test]
async fn a_remote_server_without_verified_tls_is_refused_before_any_connection() {
    // 192.0.2.1 is TEST-NET-1: nothing is sent, the URL is refused first.
    for url in [
        "postgres://riposte:hunter2-secret@192.0.2.1:5432/riposte",
        "postgres://riposte:hunter2-secret@192.0.2.1:5432/riposte?sslmode=require",
    ] {
        let err = PostgresStore::connect(url)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("not on this host") && err.contains("sslmode=verify-full"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "the password leaked: {err}");
    }
}

#[tokio::test]
async fn checkpoints_are_signed_in_every_append_path() {
    use riposte_store::audit::checkpoint::{AuditSigner, CheckpointKeys, generate_key};
    let (private, public) = generate_key().unwrap();
    let (db, store) = fresh("checkpoints").await;
    let store = store.with_audit_signer(std::sync::Arc::new(
        AuditSigner::from_pkcs8(&private, 3).unwrap(),
    ));
    let keys = CheckpointKeys::from_spki_ders(&[public]).unwrap();
    riposte_store::conformance::checkpoints_follow_every_append_path(&store, &keys).await;
    drop(store);
    db.remove().await;
}

#[tokio::test]
async fn retention_removes_only_old_alerts_and_nothing_else_can_delete_one() {
    use sqlx::Connection;
    let (db, store) = fresh("retention").await;
    let mut raw = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let raised = (time::OffsetDateTime::now_utc()
        - time::Duration::days(riposte_store::conformance::OLD_ALERT_DAYS))
    .unix_timestamp()
        * 1000;
    let mut old = Vec::new();
    for _ in 0..3 {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO alerts (id, raised_at, rule_id, title, technique, severity, description, entities, users, \
             first_seen, last_seen, event_count, events, input) \
             VALUES ($1, $2, 'old', 'old alert', 'T1110.003', 'low', 'old', '{}', '', NULL, NULL, 1, '[]', 'test')",
        )
        .bind(id)
        .bind(raised)
        .execute(&mut raw)
        .await
        .unwrap();
        old.push(id);
    }
    // Behind the store: no fresh alert deleted, none changed, the cut neither
    // pulled up to now nor removed.
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    for sql in [
        "DELETE FROM alerts WHERE raised_at > 0".to_string(),
        "UPDATE alerts SET title = 'nothing to see'".to_string(),
        format!("UPDATE alert_retention SET cut = {now_ms}"),
        "DELETE FROM alert_retention".to_string(),
        "TRUNCATE alert_retention".to_string(),
        "TRUNCATE alerts".to_string(),
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut raw)
            .await
            .expect_err(&sql)
            .to_string();
        assert!(
            err.contains("append-only") || err.contains("retention cut"),
            "{sql}: {err}"
        );
    }
    drop(raw);
    riposte_store::conformance::retention_removes_only_alerts_before_the_cut(&store, &old).await;
    drop(store);
    db.remove().await;
}
