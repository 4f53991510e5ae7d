//! A second person's decision on a bulk operation waiting for approval:
//! the approval, the new state (running, or cancelled) and the decision's
//! audit record in one transaction.

use riposte_store::{BulkOperation, BulkState, NewAuditRecord, StoreError};
use uuid::Uuid;

use crate::{PostgresStore, now};

impl PostgresStore {
    pub(crate) async fn decide_bulk(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        mut record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        // The audit lock first, as every append takes it; then the row lock.
        self.lock_audit(&mut tx).await?;
        let current: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT state, action, approval FROM bulk_operations WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
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
        sqlx::query(
            "UPDATE bulk_operations SET approval = $1, decided_by = $2, decided_at = $3, updated_at = $3, state = $4 WHERE id = $5",
        )
        .bind(decision)
        .bind(decided_by)
        .bind(now())
        .bind(to.as_str())
        .bind(id)
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
