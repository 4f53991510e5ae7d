//! Alert retention: on the node that leads [`RETENTION_TASK`], alerts raised
//! longer ago than `[alerts] retention_days` are removed, a bounded batch at
//! a time, each batch with its `alerts-expired` audit record
//! (`AlertStore::expire_alerts`; the ledger's triggers refuse any other
//! deletion, and any cut less than a day old).

use std::sync::Arc;
use std::time::Duration;

use riposte_store::{AlertStore, LeaderLock};
use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::limits::AlertRetention;

pub const RETENTION_TASK: &str = "alert-retention";

/// Alerts removed per transaction, so one pass never holds the write lock long.
const BATCH: u32 = 1_000;

/// One pass: removes every alert older than `keep`, batch by batch; the count.
pub async fn expire_once(alerts: &dyn AlertStore, keep: Duration) -> u64 {
    let cut = OffsetDateTime::now_utc() - keep;
    let mut removed = 0;
    loop {
        match alerts.expire_alerts(cut, BATCH).await {
            Ok(n) => {
                removed += n;
                if n < u64::from(BATCH) {
                    break;
                }
            }
            Err(e) => {
                error!(error = %e, "could not remove expired alerts; trying again at the next pass");
                break;
            }
        }
    }
    if removed > 0 {
        info!(removed, "removed alerts past their retention");
    }
    removed
}

/// Every `every`, on the leading node only: [`expire_once`].
pub async fn lead_retention(
    leader: Arc<dyn LeaderLock>,
    alerts: Arc<dyn AlertStore>,
    retention: AlertRetention,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match leader.try_lead(RETENTION_TASK).await {
            Ok(Some(mut lead)) => {
                let stopping = loop {
                    expire_once(alerts.as_ref(), retention.keep()).await;
                    if crate::pause(&mut stop, every).await {
                        break true;
                    }
                    if !lead.still_leading().await {
                        warn!("lost the alert retention lock; another node may take over");
                        break false;
                    }
                };
                lead.release().await;
                if stopping {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot take the alert retention lock; trying again"),
        }
        if crate::pause(&mut stop, every).await {
            return;
        }
    }
}
