//! Leadership ([`LeaderLock`]): each dialect's own lock (an OS file lock
//! beside a SQLite ledger, a session advisory lock on PostgreSQL).

use async_trait::async_trait;
use riposte_store::{LeaderLock, Leadership, StoreError};

use crate::SqlStore;
use crate::dialect::Dialect;

#[async_trait]
impl<D: Dialect> LeaderLock for SqlStore<D> {
    async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError> {
        self.dialect.try_lead(task).await
    }
}
