//! Other nodes' job changes: `LISTEN riposte_jobs` on a connection of its
//! own, each notification (a job id) relayed to this process's waiters.
//! A lost connection is opened again and listened on again; whatever was
//! notified meanwhile is lost, so every waiter is then told to look again.

use std::time::Duration;

use riposte_store::JobChanges;
use riposte_store::changes::CHANNEL;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tracing::{debug, warn};
use uuid::Uuid;

/// How long to wait before listening again after the server refused.
const RETRY: Duration = Duration::from_secs(2);

/// Spawns the listener task (on the current tokio runtime; none: nothing,
/// the waiters' safety net still finds other nodes' changes).
pub(super) fn spawn(options: PgConnectOptions, changes: JobChanges) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        // A pool of one, so the listener never takes a connection the
        // ledger's own pool needs.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(e) => {
                    warn!(error = %e, "cannot listen for other nodes' job changes; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                warn!(error = %e, "cannot LISTEN for other nodes' job changes; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
            // Changes made while nobody listened: look again.
            changes.signal_all();
            loop {
                match listener.try_recv().await {
                    Ok(Some(note)) => match Uuid::parse_str(note.payload()) {
                        Ok(job) => changes.signal(job),
                        Err(_) => debug!("ignored a job notification that names no job"),
                    },
                    // The connection was lost and opened again (listening
                    // again): notifications in between are lost.
                    Ok(None) => changes.signal_all(),
                    Err(e) => {
                        warn!(error = %e, "lost the job-change listener; listening again");
                        tokio::time::sleep(RETRY).await;
                        break;
                    }
                }
            }
        }
    });
}
