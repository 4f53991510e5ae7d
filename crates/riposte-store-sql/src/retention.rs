//! Alert retention: the cut moves forward and the old alerts go in one
//! write transaction with their `alerts-expired` record (under the audit
//! lock, as every append). The triggers (SQLite 0012, PostgreSQL 0005)
//! refuse any other deletion.

use riposte_store::{StoreError, expiry_record, to_millis};
use time::OffsetDateTime;

use crate::SqlStore;
use crate::dialect::{Dialect, On, query};

impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn expire_alerts_before(
        &self,
        before: OffsetDateTime,
        max: u32,
    ) -> Result<u64, StoreError> {
        let cut = to_millis(before);
        let refused = |e: sqlx::Error| {
            if e.to_string().contains("retention cut") {
                StoreError::Conflict(format!("{}: {e}", self.location()))
            } else {
                self.error(e)
            }
        };
        let mut tx = self.begin(true).await?;
        let move_cut = query("UPDATE alert_retention SET cut = ? WHERE id = 1 AND cut < ?")
            .bind(cut)
            .bind(cut);
        self.dialect
            .execute(On::Tx(&mut tx.tx), &move_cut)
            .await
            .map_err(refused)?;
        let delete = query(
            "DELETE FROM alerts WHERE id IN \
             (SELECT id FROM alerts WHERE raised_at < ? ORDER BY raised_at LIMIT ?)",
        )
        .bind(cut)
        .bind(i64::from(max));
        let deleted = self
            .dialect
            .execute(On::Tx(&mut tx.tx), &delete)
            .await
            .map_err(refused)?;
        if deleted > 0 {
            self.append_in(&mut tx, expiry_record(deleted, before))
                .await?;
        }
        self.commit(tx).await?;
        Ok(deleted)
    }
}
