//! PostgreSQL, for several `riposte serve` nodes sharing one database.
//!
//! What differs from SQLite, and why:
//!
//! - **claim_next** is one statement in one transaction: the oldest
//!   claimable job is picked with `FOR UPDATE SKIP LOCKED`, so nodes asking
//!   at once each lock a different row instead of queueing behind (or both
//!   taking) the same one; the `UPDATE` re-checks `state = 'queued'`.
//! - **The audit chain** is appended under `pg_advisory_xact_lock` taken
//!   first in the transaction (the head may not exist yet, so a row lock
//!   cannot serialise the first append); the lock ends with the transaction.
//!   `seq` is the primary key, so a chain fork would fail rather than land.
//! - **A bulk's row** is read `FOR UPDATE`: the row lock orders concurrent
//!   changes from several nodes.
//! - **Idempotency keys** are `UNIQUE` per caller and inserted with `ON
//!   CONFLICT DO NOTHING`: a concurrent second request waits for the first
//!   to commit and then returns that job.
//! - **Leadership** is `pg_try_advisory_lock` on a dedicated connection held
//!   by the guard (see `leader`).
//! - **Job changes** reach other nodes by `NOTIFY riposte_jobs, '<job id>'`
//!   in the transaction that records the job event (delivered at commit,
//!   never for a rolled-back write), heard by a listener per node on its own
//!   connection (see `listen`).
//! - **Migrations** run in one transaction under an advisory lock, so nodes
//!   starting together apply them once.
//! - Nodes' clocks must agree to well within a lease (NTP).

mod leader;
mod listen;
mod migrate;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;
mod url;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use riposte_store::{Leadership, StoreError};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, Postgres, Row as _, Transaction};
use uuid::Uuid;

use crate::SqlStore;
use crate::dialect::{Dialect, On, Query, Row, Value};

pub use url::redact_url;

/// The ledger on a PostgreSQL server.
pub type PostgresStore = SqlStore<PostgresDialect>;

/// The first key of every advisory lock riposte takes ("RIPO"), so its
/// locks never meet another application's in the same database.
const LOCK_CLASS: i32 = 0x5249_504f;
const LOCK_MIGRATIONS: i32 = 1;
const LOCK_AUDIT: i32 = 2;

/// How long opening the ledger waits for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresDialect {
    pool: PgPool,
    options: PgConnectOptions,
    /// The URL without its password: what errors and logs name.
    location: String,
    password: Option<String>,
}

impl SqlStore<PostgresDialect> {
    /// Connects to `postgres://user:password@host:port/database` and
    /// applies migrations. Errors name the server, never the password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let location = redact_url(url);
        let password = url::password_of(url);
        let scrub = |message: String| match &password {
            Some(p) => message.replace(p.as_str(), "***"),
            None => message,
        };
        let open_error = |message: String| StoreError::Open {
            location: location.clone(),
            message,
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            open_error(scrub(format!(
                "not a usable PostgreSQL URL ({e}); write it as postgres://user:password@host:port/database"
            )))
        })?;
        transport::check_transport(url, &options).map_err(open_error)?;
        let where_ = format!("{}:{}", options.get_host(), options.get_port());
        // One direct connection first: its error says why (refused, unknown
        // host, authentication), where a pool would only time out.
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                open_error(format!(
                    "no answer from the PostgreSQL server at {where_} within {}s; is it running and reachable?",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| {
                open_error(scrub(format!(
                    "cannot connect to the PostgreSQL server at {where_}: {e}; check that it runs, and the user, password and database in the URL"
                )))
            })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options.clone());
        let dialect = PostgresDialect {
            pool,
            options,
            location,
            password,
        };
        migrate::migrate(&dialect.pool, LOCK_CLASS, LOCK_MIGRATIONS)
            .await
            .map_err(|e| dialect.error(e))?;
        Ok(SqlStore::new(dialect))
    }
}

/// `?` placeholders numbered as PostgreSQL wants them (`$1`, `$2`...),
/// outside quoted text.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let (mut n, mut quote) = (0, None);
    for c in sql.chars() {
        match (c, quote) {
            ('?', None) => {
                n += 1;
                out.push_str(&format!("${n}"));
                continue;
            }
            ('\'' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// `query` with its values in PostgreSQL's own types (uuid, jsonb, boolean).
fn bound(query: &Query) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    let statement = sqlx::query(AssertSqlSafe(numbered(&query.sql)));
    query.args.iter().fold(statement, |q, value| match value {
        Value::Text(v) => q.bind(v.clone()),
        Value::Int(v) => q.bind(*v),
        Value::Bool(v) => q.bind(*v),
        Value::Uuid(v) => q.bind(*v),
        Value::Json(v) => q.bind(v.clone().map(Json)),
    })
}

#[async_trait]
impl Dialect for PostgresDialect {
    type Row = PgRow;
    type Tx = Transaction<'static, Postgres>;

    const KEY_COLUMN: &'static str = "idempotency_key";
    const KEY_MATCH: &'static str = "idempotency_key = ?";
    const ON_KEY_CONFLICT: &'static str = " ON CONFLICT (requested_by, idempotency_key) DO NOTHING";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_CLAIMED: &'static str = " FOR UPDATE OF j SKIP LOCKED";
    const NOTIFY_JOB: Option<&'static str> = Some("SELECT pg_notify('riposte_jobs', ?)");
    const CLAIM_NEXT: Option<&'static str> = Some(
        "WITH next AS ( \
             SELECT id FROM jobs \
             WHERE state = 'queued' AND COALESCE(approval, 'approved') = 'approved' AND bulk_id IS NULL \
             ORDER BY created_at, id LIMIT 1 \
             FOR UPDATE SKIP LOCKED) \
         UPDATE jobs SET state = 'running', owner = ?, lease_expires_at = ?, updated_at = ? \
         FROM next WHERE jobs.id = next.id AND jobs.state = 'queued' \
         RETURNING jobs.*",
    );

    fn fold_case(text: &str) -> String {
        text.to_lowercase()
    }

    /// Takes the audit chain's lock first when the transaction appends:
    /// every node's appends queue here, before the head is read.
    async fn begin(&self, appends_audit: bool) -> Result<Self::Tx, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if appends_audit {
            sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(LOCK_AUDIT)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    async fn commit(&self, tx: Self::Tx) -> Result<(), sqlx::Error> {
        tx.commit().await
    }

    async fn execute(&self, on: On<'_, Self::Tx>, query: &Query) -> Result<u64, sqlx::Error> {
        let done = match on {
            On::Pool => bound(query).execute(&self.pool).await?,
            On::Tx(tx) => bound(query).execute(&mut **tx).await?,
        };
        Ok(done.rows_affected())
    }

    async fn fetch(&self, on: On<'_, Self::Tx>, query: &Query) -> Result<Vec<PgRow>, sqlx::Error> {
        match on {
            On::Pool => bound(query).fetch_all(&self.pool).await,
            On::Tx(tx) => bound(query).fetch_all(&mut **tx).await,
        }
    }

    /// 25006 read-only transaction (a standby), 53100 out of disk.
    fn unwritable(&self, e: &sqlx::Error) -> bool {
        let code = e.as_database_error().and_then(|d| d.code());
        matches!(code.as_deref(), Some("25006" | "53100"))
    }

    fn scrub(&self, message: String) -> String {
        match &self.password {
            Some(p) => message.replace(p.as_str(), "***"),
            None => message,
        }
    }

    fn location(&self) -> &str {
        &self.location
    }

    /// A read-only server or database (a standby, or
    /// default_transaction_read_only) says so without a write.
    fn relay_job_changes(&self, changes: riposte_store::JobChanges) {
        listen::spawn(self.options.clone(), changes);
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        let read_only: String =
            sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        if read_only == "on" {
            return Err(StoreError::Unwritable {
                location: self.location.clone(),
                message: "the database is read-only (transaction_read_only is on)".into(),
            });
        }
        Ok(())
    }

    async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError> {
        leader::try_lead(self, task).await
    }
}

/// PostgreSQL keeps ids as uuid, JSON as jsonb and flags as boolean.
impl Row for PgRow {
    fn text(&self, col: &str) -> Result<Option<String>, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }

    fn int(&self, col: &str) -> Result<Option<i64>, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }

    fn flag(&self, col: &str) -> Result<bool, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }

    fn uuid(&self, col: &str) -> Result<Option<Uuid>, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }

    fn json(&self, col: &str) -> Result<Option<serde_json::Value>, String> {
        let value: Option<Json<serde_json::Value>> =
            self.try_get(col).map_err(|e| e.to_string())?;
        Ok(value.map(|j| j.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT '?' , \"a?\" FROM t WHERE a = ? AND b LIKE ? ESCAPE '\\'"),
            "SELECT '?' , \"a?\" FROM t WHERE a = $1 AND b LIKE $2 ESCAPE '\\'"
        );
    }
}
