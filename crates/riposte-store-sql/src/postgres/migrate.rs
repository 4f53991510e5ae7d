//! PostgreSQL's migrations, in order, in one transaction under an advisory
//! lock, so nodes starting together apply them once. Append only: a
//! released migration never changes.

use sqlx::{PgPool, Postgres};

use crate::migrations::{Migration, all_applied, apply_once};

const BOOKKEEPING: [&str; 2] = [
    "SELECT version FROM schema_migrations WHERE version = $1",
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
];

const MIGRATIONS: &[Migration] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "bulk_operations",
        include_str!("../../migrations/postgres/0002_bulk_operations.sql"),
    ),
    (
        3,
        "idempotency_per_caller",
        include_str!("../../migrations/postgres/0003_idempotency_per_caller.sql"),
    ),
    (
        4,
        "people_and_bulk_approval",
        include_str!("../../migrations/postgres/0004_people_and_bulk_approval.sql"),
    ),
    (
        5,
        "alert_retention",
        include_str!("../../migrations/postgres/0005_alert_retention.sql"),
    ),
    (
        6,
        "evidence_sources",
        include_str!("../../migrations/postgres/0006_evidence_sources.sql"),
    ),
    (
        7,
        "forwarder_role",
        include_str!("../../migrations/postgres/0007_forwarder_role.sql"),
    ),
    (
        8,
        "sign_in",
        include_str!("../../migrations/postgres/0008_sign_in.sql"),
    ),
];

pub(super) async fn migrate(pool: &PgPool, class: i32, key: i32) -> Result<(), sqlx::Error> {
    // A current ledger is told by one read, outside any transaction (so a
    // missing table fails only this read); otherwise the locked path below
    // checks each migration again under the advisory lock.
    let applied: Result<Vec<i64>, _> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await;
    if applied.is_ok_and(|applied| all_applied(&applied, MIGRATIONS)) {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(class)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    for migration in MIGRATIONS {
        apply_once::<Postgres>(&mut tx, migration, BOOKKEEPING).await?;
    }
    tx.commit().await
}
