//! Alert retention on SQLite: the cut moves forward and the old alerts go in
//! one write transaction with their `alerts-expired` record. The triggers of
//! migration 0010 refuse any other deletion.

use riposte_store::{StoreError, expiry_record, to_millis};
use time::OffsetDateTime;

use crate::SqliteStore;

impl SqliteStore {
    pub(crate) async fn expire_alerts_before(
        &self,
        before: OffsetDateTime,
        max: u32,
    ) -> Result<u64, StoreError> {
        let cut = to_millis(before);
        let refused = |e: sqlx::Error| {
            if e.to_string().contains("retention cut") {
                StoreError::Conflict(format!("{}: {e}", self.location))
            } else {
                self.error(e)
            }
        };
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        sqlx::query("UPDATE alert_retention SET cut = ? WHERE id = 1 AND cut < ?")
            .bind(cut)
            .bind(cut)
            .execute(&mut *tx)
            .await
            .map_err(refused)?;
        let deleted = sqlx::query(
            "DELETE FROM alerts WHERE id IN \
             (SELECT id FROM alerts WHERE raised_at < ? ORDER BY raised_at LIMIT ?)",
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
