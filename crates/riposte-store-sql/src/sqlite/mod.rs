//! SQLite, the embedded default: one file under the data directory, WAL
//! mode. Every write transaction starts with `BEGIN IMMEDIATE`: a deferred
//! one that reads first and writes later cannot wait for the lock when
//! another connection is writing (SQLite answers SQLITE_BUSY at once,
//! without the busy timeout), which the service hits when the worker, the
//! ingest pipeline and automatic response write at the same moment. The
//! write lock is also the audit chain's lock.

mod leader;
mod migrate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use riposte_store::{Leadership, StoreError};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow,
};
use sqlx::{AssertSqlSafe, Connection, Row as _, Sqlite, Transaction};
use uuid::Uuid;

use crate::dialect::{Dialect, On, Query, Row, Value};
use crate::{SqlStore, now};

/// The ledger on a SQLite file.
pub type SqliteStore = SqlStore<SqliteDialect>;

pub struct SqliteDialect {
    pool: SqlitePool,
    location: String,
    path: PathBuf,
    /// A write was refused because the ledger cannot be written; cleared by
    /// the next successful check_writable.
    refused: AtomicBool,
}

/// Whether SQLite's words say the ledger cannot be written (read-only or full).
fn says_unwritable(message: &str, words: &[&str]) -> bool {
    let lower = message.to_ascii_lowercase();
    words.iter().any(|w| lower.contains(w))
}

impl SqlStore<SqliteDialect> {
    /// Opens (creating if needed) the ledger file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        let open_error = |message: String| {
            let words = ["readonly", "read-only", "disk is full", "no space left"];
            let location = location.clone();
            if says_unwritable(&message, &words) {
                StoreError::Unwritable { location, message }
            } else {
                StoreError::Open { location, message }
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_error(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Migrations run on one connection of their own, before the pool
        // opens any: a pooled connection that read the schema between two
        // migrations would prepare `SELECT *` against the old columns, and
        // sqlx then indexes past the row once SQLite re-prepares it.
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| open_error(e.to_string()))?;
        migrate::migrate(&mut conn)
            .await
            .map_err(|e| open_error(format!("applying migrations failed: {e}")))?;
        let _ = conn.close().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A connection whose transaction SQLite rolled back by itself
            // (SQLITE_FULL, SQLITE_IOERR, a read-only disk) keeps sqlx's
            // transaction depth at 1, since the ROLLBACK on drop then fails,
            // and every later BEGIN on it is refused ("non-zero transaction
            // depth"): without this, the pool stays broken after the disk is back.
            .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_with(options)
            .await
            .map_err(|e| open_error(e.to_string()))?;
        Ok(SqlStore::new(SqliteDialect {
            pool,
            location,
            path: path.to_path_buf(),
            refused: AtomicBool::new(false),
        }))
    }
}

/// `query` with its values as SQLite keeps them: ids and JSON as text,
/// flags as integers.
fn bound(query: &Query) -> sqlx::query::Query<'_, Sqlite, SqliteArguments> {
    let statement = sqlx::query(AssertSqlSafe(query.sql.as_ref()));
    query.args.iter().fold(statement, |q, value| match value {
        Value::Text(v) => q.bind(v.clone()),
        Value::Int(v) => q.bind(*v),
        Value::Bool(v) => q.bind(i64::from(*v)),
        Value::Uuid(v) => q.bind(v.map(|u| u.to_string())),
        Value::Json(v) => q.bind(v.as_ref().map(|j| j.to_string())),
    })
}

#[async_trait]
impl Dialect for SqliteDialect {
    type Row = SqliteRow;
    type Tx = Transaction<'static, Sqlite>;

    // SQLite cannot drop 0001's global UNIQUE on idempotency_key: new jobs
    // keep their key in caller_idempotency_key (0010), older ones in the old
    // column, found by their own caller only.
    const KEY_COLUMN: &'static str = "caller_idempotency_key";
    const KEY_MATCH: &'static str = "? IN (caller_idempotency_key, idempotency_key)";
    const ON_KEY_CONFLICT: &'static str = "";
    // BEGIN IMMEDIATE already holds the only write lock.
    const FOR_UPDATE: &'static str = "";
    // One writer at a time: the statement's pick and claim are one step.
    const SKIP_CLAIMED: &'static str = "";
    const CLAIM_NEXT: Option<&'static str> = None;

    fn fold_case(text: &str) -> String {
        // SQLite's lower() folds ASCII only.
        text.to_ascii_lowercase()
    }

    async fn begin(&self, _appends_audit: bool) -> Result<Self::Tx, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
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

    async fn fetch(
        &self,
        on: On<'_, Self::Tx>,
        query: &Query,
    ) -> Result<Vec<SqliteRow>, sqlx::Error> {
        match on {
            On::Pool => bound(query).fetch_all(&self.pool).await,
            On::Tx(tx) => bound(query).fetch_all(&mut **tx).await,
        }
    }

    /// SQLite says so only in words; a refused write is remembered for
    /// [`Dialect::check_writable`].
    fn unwritable(&self, e: &sqlx::Error) -> bool {
        let words = ["readonly", "read-only", "disk is full", "disk i/o"];
        let unwritable = says_unwritable(&e.to_string(), &words);
        if unwritable {
            self.refused.store(true, Ordering::Relaxed);
        }
        unwritable
    }

    fn location(&self) -> &str {
        &self.location
    }

    /// After a refused write, a probe write: the ledger is writable again
    /// only when one commits.
    async fn check_writable(&self) -> Result<(), StoreError> {
        if !self.refused.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut tx = self.begin(false).await.map_err(|e| self.error(e))?;
        let probe = crate::dialect::query(
            "INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(now());
        self.execute(On::Tx(&mut tx), &probe)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        self.refused.store(false, Ordering::Relaxed);
        Ok(())
    }

    async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError> {
        leader::try_lead(&self.path, task)
    }
}

/// SQLite keeps ids and JSON as text and flags as integers.
impl Row for SqliteRow {
    fn text(&self, col: &str) -> Result<Option<String>, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }

    fn int(&self, col: &str) -> Result<Option<i64>, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }

    fn flag(&self, col: &str) -> Result<bool, String> {
        Ok(self.try_get::<i64, _>(col).map_err(|e| e.to_string())? != 0)
    }

    fn uuid(&self, col: &str) -> Result<Option<Uuid>, String> {
        let text = Row::text(self, col)?;
        text.map(|t| Uuid::parse_str(&t).map_err(|e| e.to_string()))
            .transpose()
    }

    fn json(&self, col: &str) -> Result<Option<serde_json::Value>, String> {
        let text = Row::text(self, col)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            .transpose()
    }
}
