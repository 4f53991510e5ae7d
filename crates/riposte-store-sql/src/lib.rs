//! The job ledger on SQL: SQLite, the embedded default (one file under the
//! data directory, WAL mode), or PostgreSQL, for several `riposte serve`
//! nodes sharing one database. Both keep the jobs and the audit trail
//! (hash-chained, see [`riposte_store::audit`]) and pass
//! `riposte_store::conformance`.
//!
//! Every workflow (create a job with its request record, decide, claim,
//! finish with its outcome record, bulk operations, retention, the audit
//! append...) is written once, in one file per store trait, over
//! [`SqlStore`]'s few primitives (begin a write transaction, run a
//! statement, read rows). A [`dialect::Dialect`] keeps only what differs:
//! connecting and locking, the claim query, leader locks, how values are
//! encoded and rows decoded, migrations, and PostgreSQL's TLS rule.
//!
//! Why the transactions are as they are:
//!
//! - **Writes lock first.** SQLite's write transactions start with `BEGIN
//!   IMMEDIATE` (a deferred one that reads first and writes later cannot wait
//!   for the lock when another connection is writing); PostgreSQL's that
//!   append to the audit chain take `pg_advisory_xact_lock` before anything
//!   else (the head may not exist yet, so a row lock cannot serialise the
//!   first append). Either way the head is read under the lock, and a job or
//!   bulk change commits together with its record.
//! - **claim, progress, renew, finish, take_over** are conditional `UPDATE`s
//!   (`WHERE state = .. AND owner = ..`), so a lease lost to another node is
//!   seen as `LeaseLost`, never overwritten.
//! - **Times** are Unix milliseconds from the node's clock, as the trait
//!   describes them (the audit hash covers that value).
#![forbid(unsafe_code)]

mod alerts;
mod audit;
mod bulk;
mod bulk_approval;
pub mod dialect;
mod jobs;
mod leader;
mod migrations;
mod pending;
mod people;
#[cfg(feature = "postgres")]
pub mod postgres;
mod retention;
mod rows;
mod second_factor;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use riposte_store::{AuditSigner, JobChanges, StoreError, to_millis};
use time::OffsetDateTime;
use uuid::Uuid;

use dialect::{Dialect, On, Query};

#[cfg(feature = "testing")]
pub use postgres::testing;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, redact_url};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// A ledger on the SQL database `D` speaks to. Use it as
/// [`SqliteStore`] or [`PostgresStore`].
pub struct SqlStore<D: Dialect> {
    dialect: D,
    /// Signs the audit checkpoints (`[audit] signing_key`); None: none are made.
    signer: Option<Arc<AuditSigner>>,
    /// Signalled after each commit that recorded job events (see [`Write`]).
    changes: JobChanges,
    /// Other nodes' changes are relayed from the first subscription on.
    relaying: std::sync::Once,
}

/// A write transaction, and the jobs whose events it recorded: they are
/// signalled once it commits, the one place every job change announces
/// itself (a waiter woken before the commit would read the old state).
pub(crate) struct Write<D: Dialect> {
    tx: D::Tx,
    changed_jobs: Vec<Uuid>,
}

impl<D: Dialect> SqlStore<D> {
    fn new(dialect: D) -> Self {
        SqlStore {
            dialect,
            signer: None,
            changes: JobChanges::default(),
            relaying: std::sync::Once::new(),
        }
    }

    /// Appends signed checkpoints with `signer` (see [`riposte_store::audit::checkpoint`]).
    pub fn with_audit_signer(mut self, signer: Arc<AuditSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// What errors and logs name: the ledger file, or the URL without its password.
    pub fn location(&self) -> &str {
        self.dialect.location()
    }

    fn error(&self, e: sqlx::Error) -> StoreError {
        self.dialect.error(e)
    }

    /// A write transaction; `appends_audit`: it will append to the audit chain.
    async fn begin(&self, appends_audit: bool) -> Result<Write<D>, StoreError> {
        let tx = self
            .dialect
            .begin(appends_audit)
            .await
            .map_err(|e| self.error(e))?;
        Ok(Write {
            tx,
            changed_jobs: Vec::new(),
        })
    }

    /// Commits, then tells waiters in this process which jobs changed
    /// (other nodes learn it from the dialect's notification, see
    /// [`Dialect::NOTIFY_JOB`]).
    async fn commit(&self, write: Write<D>) -> Result<(), StoreError> {
        self.dialect
            .commit(write.tx)
            .await
            .map_err(|e| self.error(e))?;
        for job in write.changed_jobs {
            self.changes.signal(job);
        }
        Ok(())
    }

    /// Job changes: this process's, and other nodes' once relaying started.
    pub(crate) fn job_changes_relayed(&self) -> JobChanges {
        self.relaying
            .call_once(|| self.dialect.relay_job_changes(self.changes.clone()));
        self.changes.clone()
    }

    /// Runs `query` on the pool; the count of rows it changed.
    async fn exec(&self, query: Query) -> Result<u64, StoreError> {
        self.dialect
            .execute(On::Pool, &query)
            .await
            .map_err(|e| self.error(e))
    }

    /// Runs `query` in `tx`; the count of rows it changed.
    async fn exec_in(&self, tx: &mut Write<D>, query: Query) -> Result<u64, StoreError> {
        self.dialect
            .execute(On::Tx(&mut tx.tx), &query)
            .await
            .map_err(|e| self.error(e))
    }

    /// The rows `query` returns, read on the pool.
    async fn rows(&self, query: Query) -> Result<Vec<D::Row>, StoreError> {
        self.dialect
            .fetch(On::Pool, &query)
            .await
            .map_err(|e| self.error(e))
    }

    /// The rows `query` returns, read in `tx` (what it sees).
    async fn rows_in(&self, tx: &mut Write<D>, query: Query) -> Result<Vec<D::Row>, StoreError> {
        self.dialect
            .fetch(On::Tx(&mut tx.tx), &query)
            .await
            .map_err(|e| self.error(e))
    }

    /// The first row `query` returns, if any.
    async fn row(&self, query: Query) -> Result<Option<D::Row>, StoreError> {
        Ok(self.rows(query).await?.into_iter().next())
    }

    async fn row_in(&self, tx: &mut Write<D>, query: Query) -> Result<Option<D::Row>, StoreError> {
        Ok(self.rows_in(tx, query).await?.into_iter().next())
    }
}

fn now() -> i64 {
    to_millis(OffsetDateTime::now_utc())
}

fn lease_until(lease: Duration) -> i64 {
    now() + lease.as_millis() as i64
}

/// A value that cannot be encoded for the ledger.
fn encode_error(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("cannot encode a record as JSON: {e}"))
}
