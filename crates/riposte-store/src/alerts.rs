//! Detection alerts, stored append-only: what the live pipeline (riposte-server's `ingest`)
//! raised, for the API, the portal and automatic response. The one removal is retention:
//! [`AlertStore::expire_alerts`] deletes alerts raised before the retention cut, which the
//! ledger itself keeps moving forward only and at least [`MIN_RETENTION`] in the past.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// Who and what an alert is about (the detector's entities).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEntities {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub actors: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub dcs: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
}

/// An alert as raised, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewAlert {
    pub rule_id: String,
    pub title: String,
    pub technique: Option<String>,
    /// low, medium, high, critical.
    pub severity: String,
    pub description: String,
    pub entities: AlertEntities,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_seen: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    pub event_count: u64,
    /// References to the events behind the alert (file/record/line, event id, time, user,
    /// source), as the detector gives them.
    pub events: serde_json::Value,
    /// Where the events came from: `tail:<forest>` (a DC log riposte tails itself),
    /// `api:<caller>` (`POST /api/v1/events`), `file:<user>` (`riposte ingest`).
    pub input: String,
    /// The credential that posted the events (its name, role and scope when they were
    /// sent); `None` for a DC log tailed by riposte itself. Automation never acts beyond
    /// this scope on the alert's behalf.
    #[serde(default)]
    pub fed_by: Option<riposte_core::policy::Principal>,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAlert {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
    #[serde(flatten)]
    pub alert: NewAlert,
}

/// Filters for listing alerts; every field narrows the list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Exact ATT&CK technique (case-insensitive), e.g. `T1110.003`.
    pub technique: Option<String>,
    /// A user entity containing this text (case-insensitive).
    pub user: Option<String>,
    /// Raised at or after.
    pub since: Option<OffsetDateTime>,
    /// At most this many, newest first (default 100).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// The newest alerts the ledger lets retention remove are this old (its
/// triggers refuse a retention cut any closer to now).
pub const MIN_RETENTION: time::Duration = time::Duration::days(1);

/// The alert store. Alerts are never changed; they are deleted only by retention.
#[async_trait]
pub trait AlertStore: Send + Sync {
    async fn append_alert(&self, alert: NewAlert) -> Result<StoredAlert, StoreError>;
    async fn get_alert(&self, id: Uuid) -> Result<Option<StoredAlert>, StoreError>;
    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError>;
    /// Moves the retention cut forward to `before` (never back; `before`
    /// must be at least [`MIN_RETENTION`] ago, else `Conflict`) and deletes
    /// at most `max` alerts raised before the cut, oldest first, with one
    /// `alerts-expired` audit record naming the count, in one transaction.
    /// Returns how many were deleted (0 writes no record).
    async fn expire_alerts(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError>;
}

/// The audit record of one retention pass that deleted `count` alerts raised before `cut`.
pub fn expiry_record(count: u64, cut: OffsetDateTime) -> crate::NewAuditRecord {
    let cut = cut
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    crate::NewAuditRecord {
        actor: "riposte:retention".into(),
        source: "retention".into(),
        remote_addr: None,
        event: "alerts-expired".into(),
        target: None,
        job_id: None,
        result: "success".into(),
        details: serde_json::json!({ "count": count, "raised_before": cut }),
    }
}
