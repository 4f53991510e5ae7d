//! The one place that knows which backend keeps the ledger: everything else
//! gets an `Arc<dyn Store>`.

use std::sync::Arc;

use riposte_store::{AuditSigner, Store, StoreError};
use riposte_store_sql::{PostgresStore, SqliteStore};

use crate::config::Database;

/// Opens the ledger the database URL names (SQLite file or PostgreSQL
/// server), applying its migrations. Errors name the file or the server,
/// never a password. With `signer`, appends sign audit checkpoints.
pub async fn open_store(
    database: &Database,
    signer: Option<Arc<AuditSigner>>,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match (database, signer) {
        (Database::Sqlite(path), None) => Arc::new(SqliteStore::open(path).await?),
        (Database::Sqlite(path), Some(s)) => {
            Arc::new(SqliteStore::open(path).await?.with_audit_signer(s))
        }
        (Database::Postgres(url), None) => Arc::new(PostgresStore::connect(url).await?),
        (Database::Postgres(url), Some(s)) => {
            Arc::new(PostgresStore::connect(url).await?.with_audit_signer(s))
        }
    })
}
