//! Alert retention on PostgreSQL: the cut moves forward and the old alerts
//! go in one transaction with their `alerts-expired` record (under the audit
//! lock, as every append). The triggers of migration 0003 refuse any other
//! deletion.

use riposte_store::{StoreError, expiry_record, to_millis};
use time::OffsetDateTime;

use crate::PostgresStore;

impl PostgresStore {
    pub(crate) async fn expire_alerts_before(
        &self,
        before: OffsetDateTime,
        max: u32,
    ) -> Result<u64, StoreError> {
        let cut = to_millis(before);
        let refused = |e: sqlx::Error| {
            if e.to_string().contains("retention cut") {
                StoreError::Conflict(e.to_string())
            } else {
                self.error(e)
            }
        };
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        self.lock_audit(&mut tx).await?;
        sqlx::query("UPDATE alert_retention SET cut = $1 WHERE id = 1 AND cut < $1")
            .bind(cut)
            .execute(&mut *tx)
            .await
            .map_err(refused)?;
        let deleted = sqlx::query(
            "DELETE FROM alerts WHERE id IN \
             (SELECT id FROM alerts WHERE raised_at < $1 ORDER BY raised_at LIMIT $2)",
        )
        .bind(cut)
        .bind(i64::from(max))
        .execute(&mut *tx)
        .await
        .map_err(refused)?
        .rows_affected();
        if deleted > 0 {
            self.append_in(&mut tx, expiry_record(deleted, before))
                .await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(deleted)
    }
}
