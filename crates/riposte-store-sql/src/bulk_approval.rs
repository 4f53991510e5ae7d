//! A second person's decision on a bulk operation waiting for approval:
//! the approval, the new state (running, or cancelled) and the decision's
//! audit record in one transaction.

use riposte_store::{BulkOperation, BulkState, NewAuditRecord, StoreError};
use uuid::Uuid;

use crate::dialect::{Dialect, query};
use crate::{SqlStore, now};

impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn decide_bulk(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        // The audit lock first, as every append takes it; then the row.
        let mut tx = self.begin(true).await?;
        let current = self.current_bulk(&mut tx, id).await?;
        let approval = current.approval.as_deref();
        if current.state != "paused" || approval != Some("pending") {
            return Err(StoreError::Conflict(format!(
                "bulk operation {id} is not waiting for an approval (it is {}, approval {})",
                current.state,
                approval.unwrap_or("not needed")
            )));
        }
        let (to, decision) = if approve {
            (BulkState::Running, "approved")
        } else {
            (BulkState::Cancelled, "rejected")
        };
        // The approval first, then the state: the trigger refuses `running`
        // while the approval is still pending.
        let at = now();
        let decide = query(
            "UPDATE bulk_operations SET approval = ?, decided_by = ?, decided_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(decision)
        .bind(decided_by)
        .bind(at)
        .bind(at)
        .bind(id);
        self.exec_in(&mut tx, decide).await?;
        let state = query("UPDATE bulk_operations SET state = ? WHERE id = ?")
            .bind(to.as_str())
            .bind(id);
        self.exec_in(&mut tx, state).await?;
        self.append_bulk_record(&mut tx, record, id, current.action, to)
            .await?;
        self.commit(tx).await?;
        self.fetch_bulk(id).await
    }
}
