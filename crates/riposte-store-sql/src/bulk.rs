//! Bulk operations ([`BulkStore`]): a bulk and its children, each state
//! change and its audit record, in one write transaction.

use std::time::Duration;

use async_trait::async_trait;
use riposte_store::{
    BulkCounts, BulkOperation, BulkState, BulkStore, Job, JobState, NewAuditRecord, NewBulk,
    NewJob, StoreError,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Dialect, Fields, Value, query};
use crate::{SqlStore, Write, lease_until, now, rows};

/// Claims a bulk worker tries before leaving what is left to the others.
const CLAIM_ROUNDS: usize = 50;

/// A bulk's state, action and approval, read under the transaction's lock.
pub(crate) struct Current {
    pub state: String,
    pub action: riposte_core::Action,
    pub approval: Option<String>,
}

impl<D: Dialect> SqlStore<D> {
    /// A bulk's children counted by state and outcome, and when the last
    /// finished; read in `tx` when given (to see what it sees).
    pub(crate) async fn bulk_counts(
        &self,
        tx: Option<&mut Write<D>>,
        id: Uuid,
    ) -> Result<(BulkCounts, Option<OffsetDateTime>), StoreError> {
        let counts = query(
            "SELECT state, outcome, COUNT(*) AS n, MAX(finished_at) AS last FROM jobs \
             WHERE bulk_id = ? GROUP BY state, outcome",
        )
        .bind(id);
        let rows = match tx {
            Some(tx) => self.rows_in(tx, counts).await?,
            None => self.rows(counts).await?,
        };
        let groups = rows
            .iter()
            .map(|row| {
                let f = Fields::new(row, "bulk counts");
                Ok((
                    f.text("state")?,
                    f.opt_text("outcome")?,
                    f.int("n")?,
                    f.opt_int("last")?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        BulkCounts::from_groups(groups)
    }

    /// The bulk's state, action and approval, read (and, where the dialect
    /// needs it, row-locked) inside `tx`.
    pub(crate) async fn current_bulk(
        &self,
        tx: &mut Write<D>,
        id: Uuid,
    ) -> Result<Current, StoreError> {
        let sql = format!(
            "SELECT state, action, approval FROM bulk_operations WHERE id = ?{}",
            D::FOR_UPDATE
        );
        let Some(row) = self.row_in(tx, query(sql).bind(id)).await? else {
            return Err(StoreError::Conflict(format!(
                "no bulk operation has the id {id}"
            )));
        };
        let f = Fields::new(&row, format!("bulk operation {id}"));
        Ok(Current {
            state: f.text("state")?,
            action: f.parse("action")?,
            approval: f.opt_text("approval")?,
        })
    }

    /// Describes the bulk's change in `record` with the counts `tx` sees and
    /// appends it in `tx`.
    pub(crate) async fn append_bulk_record(
        &self,
        tx: &mut Write<D>,
        mut record: NewAuditRecord,
        id: Uuid,
        action: riposte_core::Action,
        to: BulkState,
    ) -> Result<(), StoreError> {
        let (counts, _) = self.bulk_counts(Some(&mut *tx), id).await?;
        riposte_store::describe_bulk(&mut record, id, action, to, &counts);
        self.append_in(tx, record).await?;
        Ok(())
    }

    async fn bulks(&self, rows: Vec<D::Row>) -> Result<Vec<BulkOperation>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = Fields::new(row, "bulk operation").uuid("id")?;
            out.push(rows::bulk(row, self.bulk_counts(None, id).await?)?);
        }
        Ok(out)
    }

    /// A bulk's state change, and its record when given, in one transaction.
    async fn set_bulk_state_with(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
        record: Option<NewAuditRecord>,
    ) -> Result<BulkOperation, StoreError> {
        let mut tx = self.begin(record.is_some()).await?;
        let current = self.current_bulk(&mut tx, id).await?;
        let state: BulkState = current.state.parse()?;
        if !from.contains(&state) {
            return Err(StoreError::Conflict(format!(
                "bulk operation {id} is {state}, so it cannot become {to}"
            )));
        }
        if to == BulkState::Running && current.approval.as_deref() == Some("pending") {
            return Err(StoreError::Conflict(riposte_store::bulk_pending_message(
                id,
            )));
        }
        if to == BulkState::Finished {
            let active =
                query("SELECT COUNT(*) AS n FROM jobs WHERE bulk_id = ? AND state <> 'finished'")
                    .bind(id);
            let active = match self.row_in(&mut tx, active).await? {
                Some(row) => Fields::new(&row, "bulk operation").int("n")?,
                None => 0,
            };
            if active > 0 {
                return Err(StoreError::Conflict(format!(
                    "bulk operation {id} still has {active} unfinished job(s)"
                )));
            }
        }
        let update = query("UPDATE bulk_operations SET state = ?, updated_at = ? WHERE id = ?")
            .bind(to.as_str())
            .bind(now())
            .bind(id);
        self.exec_in(&mut tx, update).await?;
        if let Some(record) = record {
            // Under the lock the transaction took first: the counts are the
            // ones the change saw, and no state change stands without its
            // record.
            self.append_bulk_record(&mut tx, record, id, current.action, to)
                .await?;
        }
        self.commit(tx).await?;
        self.fetch_bulk(id).await
    }

    pub(crate) async fn fetch_bulk(&self, id: Uuid) -> Result<BulkOperation, StoreError> {
        self.get_bulk(id)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("no bulk operation has the id {id}")))
    }
}

#[async_trait]
impl<D: Dialect> BulkStore for SqlStore<D> {
    async fn create_bulk(
        &self,
        bulk: NewBulk,
        children: Vec<NewJob>,
        mut request: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        let mut tx = self.begin(true).await?;
        let id = Uuid::now_v7();
        let at = now();
        let state = if bulk.approval_required.is_some() {
            BulkState::Paused
        } else {
            BulkState::Running
        };
        let insert = query(
            "INSERT INTO bulk_operations (id, created_at, updated_at, action, options, selector_kind, selector_value, \
             requested_by, requester_person, source, reason, state, undo_of, skipped, approval, approval_reason) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(at)
        .bind(at)
        .bind(bulk.action.as_str())
        .bind(Value::json(&bulk.options)?)
        .bind(&bulk.selector_kind)
        .bind(&bulk.selector_value)
        .bind(&bulk.requested_by)
        .bind(&bulk.requester_person)
        .bind(&bulk.source)
        .bind(&bulk.reason)
        .bind(state.as_str())
        .bind(bulk.undo_of)
        .bind(bulk.skipped.to_string())
        .bind(bulk.approval_required.as_ref().map(|_| "pending"))
        .bind(&bulk.approval_required);
        self.exec_in(&mut tx, insert).await?;
        let mut ids = Vec::with_capacity(children.len());
        for child in &children {
            // A child whose key was used before is not inserted (PostgreSQL),
            // or fails the whole bulk (SQLite), as before.
            let (child_id, _inserted) = self.insert_job(&mut tx, child, Some(id)).await?;
            ids.push((child_id, child));
        }
        // The children's request record, under the lock the transaction
        // took first: no child exists without it.
        riposte_store::name_children(&mut request, id, &ids);
        self.append_in(&mut tx, request).await?;
        self.commit(tx).await?;
        self.fetch_bulk(id).await
    }

    async fn get_bulk(&self, id: Uuid) -> Result<Option<BulkOperation>, StoreError> {
        let rows = self
            .rows(query("SELECT * FROM bulk_operations WHERE id = ?").bind(id))
            .await?;
        Ok(self.bulks(rows).await?.into_iter().next())
    }

    async fn list_bulks(
        &self,
        state: Option<BulkState>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<BulkOperation>, StoreError> {
        let mut q = query("SELECT * FROM bulk_operations WHERE 1 = 1");
        if let Some(state) = state {
            q.push(" AND state = ").push_bind(state.as_str());
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit.min(10_000)))
            .push(" OFFSET ")
            .push_bind(i64::from(offset));
        let rows = self.rows(q).await?;
        self.bulks(rows).await
    }

    async fn set_bulk_state(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
    ) -> Result<BulkOperation, StoreError> {
        self.set_bulk_state_with(id, from, to, None).await
    }

    async fn set_bulk_state_recorded(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
        record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        self.set_bulk_state_with(id, from, to, Some(record)).await
    }

    async fn decide_bulk_approval(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        self.decide_bulk(id, decided_by, approve, record).await
    }

    async fn claim_next_in_bulk(
        &self,
        id: Uuid,
        forest: Option<&str>,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        // The oldest claimable child, picked and claimed in one statement:
        // the bulk's workers (here and on other nodes) never race for one.
        let pick = |q: &mut crate::dialect::Query| {
            q.push(
                "SELECT j.id FROM jobs j JOIN bulk_operations b ON b.id = j.bulk_id \
                 WHERE b.state = 'running' AND j.state = 'queued' \
                 AND COALESCE(j.approval, 'approved') = 'approved' AND j.bulk_id = ",
            );
            q.push_bind(id);
            if let Some(forest) = forest {
                q.push(" AND j.forest = ").push_bind(forest);
            }
            q.push(" ORDER BY j.created_at, j.id LIMIT 1");
        };
        for _ in 0..CLAIM_ROUNDS {
            let at = now();
            let mut claim = query("UPDATE jobs SET state = 'running', owner = ");
            claim
                .push_bind(owner)
                .push(", lease_expires_at = ")
                .push_bind(lease_until(lease))
                .push(", updated_at = ")
                .push_bind(at)
                .push(" WHERE state = 'queued' AND id = (");
            pick(&mut claim);
            claim.push(D::SKIP_CLAIMED).push(") RETURNING *");
            let mut tx = self.begin(false).await?;
            if let Some(row) = self.row_in(&mut tx, claim).await? {
                let job = rows::job::<D>(&row)?;
                let message = format!("claimed by {owner}");
                self.event(&mut tx, job.id, at, JobState::Running, None, &message)
                    .await?;
                self.commit(tx).await?;
                return Ok(Some(job));
            }
            drop(tx);
            // Nothing claimed: none left, or (PostgreSQL) each left is being
            // claimed by another worker right now; look again if any is left.
            let mut left = query("");
            pick(&mut left);
            if self.row(left).await?.is_none() {
                return Ok(None);
            }
        }
        Ok(None)
    }

    async fn bulk_jobs(&self, id: Uuid) -> Result<Vec<Job>, StoreError> {
        self.jobs(query("SELECT * FROM jobs WHERE bulk_id = ? ORDER BY created_at, id").bind(id))
            .await
    }
}
