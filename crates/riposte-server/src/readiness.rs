//! The readiness report in the service: computed at start-up and then
//! periodically (and on demand by a responder), kept in memory, and served
//! as JSON, CSV and a portal page. One assessment runs at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use riposte_core::readiness::{self, GapReason, ReadinessReport, ReadinessSource};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, RwLock, watch};
use tracing::{info, warn};

use crate::authorised::{Authorised, permit};
use crate::{ApiError, AppState};

/// Accounts per group in the report itself; the rest are paged.
pub const INLINE_ACCOUNTS: usize = 20;
const MAX_PER_PAGE: usize = 1000;

pub struct ReadinessService {
    sources: Vec<Arc<dyn ReadinessSource>>,
    latest: RwLock<Option<Arc<ReadinessReport>>>,
    running: Mutex<()>,
    /// Users judged so far by the assessment in progress.
    progress: Arc<AtomicU64>,
    /// Time between assessments; `None`: only at start-up and on demand.
    pub interval: Option<Duration>,
}

impl ReadinessService {
    pub fn new(sources: Vec<Arc<dyn ReadinessSource>>, interval: Option<Duration>) -> Self {
        ReadinessService {
            sources,
            latest: RwLock::new(None),
            running: Mutex::new(()),
            progress: Arc::new(AtomicU64::new(0)),
            interval,
        }
    }

    /// Users judged so far by the running (or last) assessment's current source.
    pub fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    pub async fn latest(&self) -> Option<Arc<ReadinessReport>> {
        self.latest.read().await.clone()
    }

    /// Runs an assessment (or waits for the one in progress and returns its report).
    pub async fn refresh(&self) -> Arc<ReadinessReport> {
        let before = self.latest().await.map(|r| r.generated_at.clone());
        let _only_one = self.running.lock().await;
        if let Some(report) = self.latest().await
            && Some(&report.generated_at) != before.as_ref()
        {
            return report;
        }
        self.progress.store(0, Ordering::Relaxed);
        let counter = self.progress.clone();
        let sources: Vec<&dyn ReadinessSource> = self.sources.iter().map(|s| s.as_ref()).collect();
        let report = Arc::new(
            readiness::assess(&sources, &move |_, n| {
                counter.fetch_max(n, Ordering::Relaxed);
            })
            .await,
        );
        info!(
            duration_ms = report.duration_ms,
            forests = report.forests.len(),
            tenants = report.tenants.len(),
            "readiness assessed"
        );
        *self.latest.write().await = Some(report.clone());
        report
    }

    /// Assesses at start (every node, so each has a report to serve) and
    /// then every `interval`, but a periodic round runs only on the node
    /// that takes the [`READINESS_TASK`] lock: several nodes never load the
    /// DCs at once.
    pub fn start(
        self: &Arc<Self>,
        leader: Arc<dyn riposte_store::LeaderLock>,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = service.refresh() => {}
                _ = stop.changed() => return,
            }
            let Some(interval) = service.interval else {
                return;
            };
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => return,
                }
                match leader.try_lead(READINESS_TASK).await {
                    Ok(Some(lead)) => {
                        tokio::select! {
                            _ = service.refresh() => {}
                            _ = stop.changed() => return,
                        }
                        lead.release().await;
                    }
                    Ok(None) => info!("another node is assessing readiness; skipping this round"),
                    Err(e) => {
                        warn!(error = %e, "cannot take the readiness lock; skipping this round")
                    }
                }
            }
        })
    }
}

/// The leader lock's task name for periodic readiness assessments.
pub const READINESS_TASK: &str = "readiness-refresh";

/// The report with each group cut to its first accounts (the rest are paged).
pub fn summary(report: &ReadinessReport) -> Value {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    for part in ["forests", "tenants"] {
        for scope in value[part].as_array_mut().into_iter().flatten() {
            for coverage in scope["coverage"].as_array_mut().into_iter().flatten() {
                for group in coverage["groups"].as_array_mut().into_iter().flatten() {
                    if let Some(accounts) = group["accounts"].as_array_mut() {
                        let more = accounts.len() > INLINE_ACCOUNTS;
                        accounts.truncate(INLINE_ACCOUNTS);
                        group["accounts_truncated"] = json!(more);
                    }
                }
            }
        }
    }
    value
}

async fn latest_or_404(state: &AppState) -> Result<Arc<ReadinessReport>, ApiError> {
    state.readiness.latest().await.ok_or_else(|| {
        ApiError::not_found(
            "no_readiness_report",
            "no readiness report yet: the first assessment runs at start-up; wait for it or POST /api/v1/readiness/refresh",
        )
    })
}

/// GET /api/v1/readiness: the last report (groups cut to their first accounts).
pub async fn get_report(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadReadiness>,
) -> Result<Json<Value>, ApiError> {
    let report = latest_or_404(&state).await?;
    Ok(Json(summary(&report)))
}

/// POST /api/v1/readiness/refresh: assess now and return the new report.
pub async fn refresh(
    State(state): State<AppState>,
    _caller: Authorised<permit::RefreshReadiness>,
) -> Result<Json<Value>, ApiError> {
    let report = state.readiness.refresh().await;
    Ok(Json(summary(&report)))
}

#[derive(Debug, Deserialize)]
pub struct GroupQuery {
    /// Forest or tenant name.
    pub scope: String,
    pub action: String,
    pub reason: String,
    pub page: Option<usize>,
    pub per_page: Option<usize>,
}

fn group_of<'r>(
    report: &'r ReadinessReport,
    q: &GroupQuery,
) -> Result<Option<&'r readiness::GapGroup>, ApiError> {
    let reason = GapReason::parse(&q.reason).ok_or_else(|| {
        ApiError::bad_request(
            "unknown_reason",
            format!(
                "{:?} is not a gap reason; use one of {}",
                q.reason,
                GapReason::ALL.map(|r| r.as_str()).join(", ")
            ),
        )
    })?;
    Ok(report.group(&q.scope, &q.action, reason))
}

fn parse_group_query(
    query: Result<Query<GroupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<GroupQuery, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        ApiError::bad_request(
            "malformed_query",
            format!("{e}; expected scope (forest or tenant), action, reason, page, per_page"),
        )
    })
}

/// GET /api/v1/readiness/accounts: one gap group's accounts, a page at a time.
pub async fn group_accounts(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadReadiness>,
    query: Result<Query<GroupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = parse_group_query(query)?;
    let report = latest_or_404(&state).await?;
    let group = group_of(&report, &q)?;
    // Outside the documented ranges is a 400, never silently changed; the products saturate so a
    // huge page is an empty one, not an overflow (found by scripts/api-fuzz).
    let per_page = match q.per_page {
        None => 100,
        Some(n) if (1..=MAX_PER_PAGE).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::bad_request(
                "malformed_query",
                format!("per_page={n} is outside 1 to {MAX_PER_PAGE}"),
            ));
        }
    };
    let page = match q.page {
        None => 1,
        Some(0) => {
            return Err(ApiError::bad_request(
                "malformed_query",
                "page counts from 1",
            ));
        }
        Some(n) => n,
    };
    let (count, accounts) = match group {
        Some(g) => (
            g.count,
            g.accounts
                .iter()
                .skip((page - 1).saturating_mul(per_page))
                .take(per_page)
                .collect(),
        ),
        None => (0, Vec::new()),
    };
    let next = (page.saturating_mul(per_page) < count as usize).then(|| page.saturating_add(1));
    Ok(Json(json!({
        "scope": q.scope, "action": q.action, "reason": q.reason, "count": count,
        "page": page, "per_page": per_page, "next_page": next, "accounts": accounts,
        "generated_at": report.generated_at,
    })))
}

/// GET /api/v1/readiness/accounts.csv: one gap group, whole, as CSV.
pub async fn group_csv(
    State(state): State<AppState>,
    _caller: Authorised<permit::ReadReadiness>,
    query: Result<Query<GroupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = parse_group_query(query)?;
    let report = latest_or_404(&state).await?;
    let body = match group_of(&report, &q)? {
        Some(g) => readiness::group_csv(g),
        None => "account,sam_account_name,reason,detail\r\n".to_string(),
    };
    let file = format!(
        "attachment; filename=\"readiness-{}-{}-{}.csv\"",
        safe_file_part(&q.scope),
        safe_file_part(&q.action),
        safe_file_part(&q.reason)
    );
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, file),
        ],
        body,
    )
        .into_response())
}

fn safe_file_part(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect()
}

/// Logs, without failing start-up, when no source is configured.
pub fn warn_if_empty(service: &ReadinessService) {
    if service.sources.is_empty() {
        warn!("readiness has nothing to assess: no forest or tenant is configured");
    }
}
