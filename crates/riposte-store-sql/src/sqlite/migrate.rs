//! SQLite's migrations, in order, each in its own write transaction.
//! Append only: a released migration never changes.

use sqlx::{Connection, Sqlite, SqliteConnection};

use crate::migrations::{Migration, all_applied, apply_once};

const BOOKKEEPING: [&str; 2] = [
    "SELECT version FROM schema_migrations WHERE version = ?",
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
];

const MIGRATIONS: &[Migration] = &[
    (
        1,
        "jobs",
        include_str!("../../migrations/sqlite/0001_jobs.sql"),
    ),
    (
        2,
        "audit",
        include_str!("../../migrations/sqlite/0002_audit.sql"),
    ),
    (
        3,
        "api_tokens",
        include_str!("../../migrations/sqlite/0003_api_tokens.sql"),
    ),
    (
        4,
        "approvals",
        include_str!("../../migrations/sqlite/0004_approvals.sql"),
    ),
    (
        5,
        "people",
        include_str!("../../migrations/sqlite/0005_people.sql"),
    ),
    (
        6,
        "job_steps",
        include_str!("../../migrations/sqlite/0006_job_steps.sql"),
    ),
    (
        7,
        "alerts",
        include_str!("../../migrations/sqlite/0007_alerts.sql"),
    ),
    (
        8,
        "bulk_operations",
        include_str!("../../migrations/sqlite/0008_bulk_operations.sql"),
    ),
    (
        9,
        "write_probe",
        include_str!("../../migrations/sqlite/0009_write_probe.sql"),
    ),
    (
        10,
        "idempotency_per_caller",
        include_str!("../../migrations/sqlite/0010_idempotency_per_caller.sql"),
    ),
    (
        11,
        "people_and_bulk_approval",
        include_str!("../../migrations/sqlite/0011_people_and_bulk_approval.sql"),
    ),
    (
        12,
        "alert_retention",
        include_str!("../../migrations/sqlite/0012_alert_retention.sql"),
    ),
    (
        13,
        "evidence_sources",
        include_str!("../../migrations/sqlite/0013_evidence_sources.sql"),
    ),
    (
        14,
        "forwarder_role",
        include_str!("../../migrations/sqlite/0014_forwarder_role.sql"),
    ),
    (
        15,
        "sign_in",
        include_str!("../../migrations/sqlite/0015_sign_in.sql"),
    ),
];

/// Applies every migration not yet applied, each in its own write transaction.
pub(super) async fn migrate(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    // A current ledger (the usual case at every CLI start) is told by one
    // read; a new or older one (or none yet: the read fails) takes the
    // locked path below, which checks each migration again under the lock.
    let applied: Result<Vec<i64>, _> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await;
    if applied.is_ok_and(|applied| all_applied(&applied, MIGRATIONS)) {
        return Ok(());
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    for migration in MIGRATIONS {
        // Under the write lock: a node opening the file at the same moment
        // waits, then finds the migration applied.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        apply_once::<Sqlite>(&mut tx, migration, BOOKKEEPING).await?;
        tx.commit().await?;
    }
    Ok(())
}
