//! Bulk operations (mass containment): one parent record for one request on
//! many accounts, and ordinary child jobs linked to it by `bulk_id`. Each
//! child keeps its own verified outcome; the parent only adds what the
//! children cannot say alone: the selector, pause / resume / cancel, undo.
//!
//! The store's rules, which every backend keeps (see [`crate::conformance`]):
//! - a child of a bulk that is not `running` is never claimed
//!   ([`crate::JobStore::claim`], [`BulkStore::claim_next_in_bulk`]), and
//!   [`crate::JobStore::claim_next`] never takes bulk children: they run only
//!   through their bulk, so one big bulk cannot starve single requests;
//! - `cancelled` and `finished` are final;
//! - counts are always computed from the children, never kept.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use riposte_core::{Action, ActionOptions};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Job, NewAuditRecord, NewJob, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BulkState {
    /// Its queued children may be claimed.
    Running,
    /// No new child starts; running ones finish.
    Paused,
    /// Final: queued children were finished as failed ("cancelled before it started").
    Cancelled,
    /// Final: every child finished.
    Finished,
}

impl BulkState {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkState::Running => "running",
            BulkState::Paused => "paused",
            BulkState::Cancelled => "cancelled",
            BulkState::Finished => "finished",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, BulkState::Cancelled | BulkState::Finished)
    }
}

impl fmt::Display for BulkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BulkState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "running" => Ok(BulkState::Running),
            "paused" => Ok(BulkState::Paused),
            "cancelled" => Ok(BulkState::Cancelled),
            "finished" => Ok(BulkState::Finished),
            other => Err(StoreError::Corrupt(format!("unknown bulk state {other:?}"))),
        }
    }
}

/// A bulk request as recorded, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBulk {
    pub action: Action,
    pub options: ActionOptions,
    /// `references`, `ou`, `group`, `alert` or `undo`.
    pub selector_kind: String,
    /// The OU DN, group reference, alert id, undone bulk id, or the references (one per line).
    pub selector_value: String,
    pub requested_by: String,
    /// The person behind the requester's credential, if any.
    pub requester_person: Option<String>,
    pub source: String,
    pub reason: String,
    /// The bulk this one reverses.
    pub undo_of: Option<Uuid>,
    /// Why a second person must approve before the first child runs: the
    /// bulk is then stored `paused` with approval `pending`.
    pub approval_required: Option<String>,
    /// Accounts left out and why (protected, out of scope, unresolvable): JSON, kept as given.
    pub skipped: serde_json::Value,
}

/// Children by state and outcome, computed from the jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BulkCounts {
    pub total: u64,
    pub queued: u64,
    pub running: u64,
    pub finished: u64,
    pub verified: u64,
    pub already: u64,
    pub ineffective: u64,
    pub denied: u64,
    pub failed: u64,
}

impl BulkCounts {
    /// Folds `SELECT state, outcome, COUNT(*), MAX(finished_at) ... GROUP BY
    /// state, outcome` rows (the same query on every backend) into counts and
    /// the time the last child finished, once none is queued or running.
    pub fn from_groups(
        rows: impl IntoIterator<Item = (String, Option<String>, i64, Option<i64>)>,
    ) -> Result<(BulkCounts, Option<OffsetDateTime>), crate::StoreError> {
        let mut counts = BulkCounts::default();
        let mut last = None::<i64>;
        for (state, outcome, n, finished) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            counts.total += n;
            match state.parse::<crate::JobState>()? {
                crate::JobState::Queued => counts.queued += n,
                crate::JobState::Running => counts.running += n,
                crate::JobState::Finished => counts.finished += n,
            }
            match outcome.as_deref() {
                Some("verified") => counts.verified += n,
                Some("already") => counts.already += n,
                Some("ineffective") => counts.ineffective += n,
                Some("denied") => counts.denied += n,
                Some("failed") => counts.failed += n,
                _ => {}
            }
            last = last.max(finished);
        }
        let finished_at = (counts.queued == 0 && counts.running == 0)
            .then_some(last)
            .flatten()
            .map(crate::from_millis);
        Ok((counts, finished_at))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkOperation {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the last child finished, once none is queued or running (computed).
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub action: Action,
    pub options: ActionOptions,
    pub selector_kind: String,
    pub selector_value: String,
    pub requested_by: String,
    /// The person behind the requester's credential, if any.
    pub requester_person: Option<String>,
    pub source: String,
    pub reason: String,
    pub state: BulkState,
    pub undo_of: Option<Uuid>,
    pub skipped: serde_json::Value,
    pub counts: BulkCounts,
    /// Second-person approval: `None` when not needed. While `pending` the
    /// bulk is `paused` and cannot be resumed, only approved, rejected or
    /// cancelled.
    pub approval: Option<crate::Approval>,
    pub approval_reason: Option<String>,
    pub decided_by: Option<String>,
}

/// What a store says when asked to run a bulk whose approval is pending.
pub fn bulk_pending_message(id: Uuid) -> String {
    format!(
        "bulk operation {id} is waiting for a second person's approval; `riposte bulk approve {id}` (by someone other than its requester) starts it"
    )
}

/// Waiting for a second person before its first child runs.
pub fn bulk_awaiting_approval(bulk: &BulkOperation) -> bool {
    bulk.state == BulkState::Paused && bulk.approval == Some(crate::Approval::Pending)
}

/// The bulk ledger. Every implementation passes [`crate::conformance`].
#[async_trait]
pub trait BulkStore: Send + Sync {
    /// Stores the bulk (state `running`) and its children (queued, linked by
    /// `bulk_id`) and appends `request`, their `bulk-requested` audit record,
    /// in one transaction: all of them or none, so no child can be claimed
    /// before its request is in the trail. The store completes the record
    /// with what only it knows, by [`name_children`].
    async fn create_bulk(
        &self,
        bulk: NewBulk,
        children: Vec<NewJob>,
        request: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError>;

    /// The bulk with its counts.
    async fn get_bulk(&self, id: Uuid) -> Result<Option<BulkOperation>, StoreError>;

    /// Newest first; `state` narrows the list.
    async fn list_bulks(
        &self,
        state: Option<BulkState>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<BulkOperation>, StoreError>;

    /// Moves the bulk to `to` if it is in one of `from`; `Conflict` naming the
    /// current state otherwise. Moving to `finished` also needs every child
    /// finished (`Conflict` otherwise); moving to `running` a bulk whose
    /// approval is pending is a `Conflict` (only [`BulkStore::decide_bulk_approval`] starts it).
    async fn set_bulk_state(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
    ) -> Result<BulkOperation, StoreError>;

    /// [`set_bulk_state`](BulkStore::set_bulk_state), with `record` (the
    /// bulk's `bulk-finished`, `bulk-paused`, ... audit record) appended in
    /// the same transaction: the bulk changes state with its record in the
    /// trail, or keeps its state and no record is written, whenever the
    /// process dies. A refused change appends nothing. The store completes
    /// the record with the bulk as that transaction sees it, by
    /// [`describe_bulk`].
    async fn set_bulk_state_recorded(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
        record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError>;

    /// Records a second person's decision on a bulk awaiting approval, with
    /// `record` (`bulk-approved` / `bulk-rejected`, completed by
    /// [`describe_bulk`]) in the same transaction: approved, it becomes
    /// `running`; rejected, `cancelled` (its queued children are then
    /// finished by the caller, as for a cancel). `Conflict` unless it is
    /// paused with approval pending.
    async fn decide_bulk_approval(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError>;

    /// Claims the oldest queued child of a running bulk whose `forest` (forest
    /// or tenant name, as in [`Job::forest`]) is `forest`, or any if `None`.
    async fn claim_next_in_bulk(
        &self,
        id: Uuid,
        forest: Option<&str>,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError>;

    /// The children of a bulk, oldest first.
    async fn bulk_jobs(&self, id: Uuid) -> Result<Vec<Job>, StoreError>;
}

/// Completes a bulk's request record: its `job_id` stays empty, its details
/// gain `bulk_id`, `count` and `jobs` (each child's `job_id`, `target`, `dn`).
pub fn name_children(record: &mut NewAuditRecord, bulk: Uuid, children: &[(Uuid, &NewJob)]) {
    if !record.details.is_object() {
        record.details = serde_json::json!({});
    }
    record.details["bulk_id"] = serde_json::json!(bulk);
    record.details["count"] = serde_json::json!(children.len());
    record.details["jobs"] = children
        .iter()
        .map(|(id, job)| serde_json::json!({ "job_id": id, "target": job.target_ref, "dn": job.target_dn }))
        .collect();
}

/// Completes a bulk's state-change record: its `job_id` stays empty, its
/// details gain `bulk_id`, `action`, `state` (the new one) and `counts`
/// (the children as the state change saw them).
pub fn describe_bulk(
    record: &mut NewAuditRecord,
    bulk: Uuid,
    action: Action,
    state: BulkState,
    counts: &BulkCounts,
) {
    if !record.details.is_object() {
        record.details = serde_json::json!({});
    }
    record.details["bulk_id"] = serde_json::json!(bulk);
    record.details["action"] = serde_json::json!(action);
    record.details["state"] = serde_json::json!(state);
    record.details["counts"] = serde_json::json!(counts);
}
