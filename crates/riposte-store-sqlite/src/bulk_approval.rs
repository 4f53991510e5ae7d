//! A second person's decision on a bulk operation waiting for approval:
//! the approval, the new state (running, or cancelled) and the decision's
//! audit record in one transaction.

use riposte_store::{BulkOperation, BulkState, NewAuditRecord, StoreError};
use uuid::Uuid;

use crate::{SqliteStore, now};

impl SqliteStore {
    pub(crate) async fn decide_bulk(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        mut record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let current: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT state, action, approval FROM bulk_operations WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
        let Some((state, action, approval)) = current else {
            return Err(StoreError::Conflict(format!(
                "no bulk operation has the id {id}"
            )));
        };
        if state != "paused" || approval.as_deref() != Some("pending") {
            return Err(StoreError::Conflict(format!(
                "bulk operation {id} is not waiting for an approval (it is {state}, approval {})",
                approval.as_deref().unwrap_or("not needed")
            )));
        }
        let (to, decision) = if approve {
            (BulkState::Running, "approved")
        } else {
            (BulkState::Cancelled, "rejected")
        };
        // The approval first, then the state: the trigger refuses `running`
        // while the approval is still pending.
        sqlx::query(
            "UPDATE bulk_operations SET approval = ?, decided_by = ?, decided_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(decision)
        .bind(decided_by)
        .bind(now())
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        sqlx::query("UPDATE bulk_operations SET state = ? WHERE id = ?")
            .bind(to.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        let action = action
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("bulk operation {id}: action: {e}")))?;
        let (counts, _) = self.bulk_counts_in(&mut *tx, id).await?;
        riposte_store::describe_bulk(&mut record, id, action, to, &counts);
        self.append_in(&mut tx, record).await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        self.fetch_bulk(id).await
    }
}
