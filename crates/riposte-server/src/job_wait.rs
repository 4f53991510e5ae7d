//! Waiting for a job without polling: the worker and every event stream
//! wake on the ledger's job changes (`riposte_store::changes`, signalled
//! by every write path of this node and relayed from the others), looking
//! again after the safety net (`[server] job_poll_secs`) only in case a
//! signal was lost.
//! `POST /api/v1/actions?wait=SECONDS` waits here for the job's end.

use std::time::Duration;

use riposte_store::{Job, JobState, Ledger};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;

/// The longest `?wait=` a caller may ask for, in seconds.
pub(crate) const MAX_WAIT_SECS: u64 = 30;

/// `POST /api/v1/actions?wait=SECONDS`.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait up to this many seconds (0 to 30) for the job to finish: 200
    /// with the finished job if it did, else 202 as without it. Default 0.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 30)]
    wait: Option<String>,
}

impl WaitQuery {
    /// The wait asked for; a clear 400 for anything but 0 to 30 seconds.
    pub(crate) fn within(&self) -> Result<Duration, ApiError> {
        let Some(text) = &self.wait else {
            return Ok(Duration::ZERO);
        };
        match text.parse::<u64>() {
            Ok(secs) if secs <= MAX_WAIT_SECS => Ok(Duration::from_secs(secs)),
            _ => Err(ApiError::bad_request(
                "malformed_query",
                format!(
                    "wait={text:?} is not a whole number of seconds from 0 to {MAX_WAIT_SECS}; \
                     follow the job's events for longer waits"
                ),
            )),
        }
    }
}

/// The job once finished, if it finishes within `within`; None otherwise
/// (or if it cannot be read: the caller then answers as without waiting).
/// `safety_net`: how long it trusts the signal before it reads the ledger
/// anyway (a lost notification delays, never strands).
pub(crate) async fn until_finished(
    store: &dyn Ledger,
    id: Uuid,
    within: Duration,
    safety_net: Duration,
) -> Option<Job> {
    let deadline = tokio::time::Instant::now() + within;
    // Subscribed before the first read: a change after it is never missed.
    let mut changes = store.job_changes().subscribe();
    loop {
        changes.skip_pending();
        let job = store.get(id).await.ok()??;
        if job.state == JobState::Finished {
            return Some(job);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        changes.changed(Some(id), left.min(safety_net)).await;
    }
}
