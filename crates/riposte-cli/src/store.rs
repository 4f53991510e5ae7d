//! The one place that knows which backend keeps the ledger: everything else
//! gets an `Arc<dyn Store>`.

use std::sync::Arc;

use riposte_store::{Store, StoreError};
use riposte_store_postgres::PostgresStore;
use riposte_store_sqlite::SqliteStore;

use crate::config::Database;

/// Opens the ledger the database URL names (SQLite file or PostgreSQL
/// server), applying its migrations. Errors name the file or the server,
/// never a password.
pub async fn open_store(database: &Database) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match database {
        Database::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Database::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
    })
}
