//! `riposte serve`: the REST API, the portal and the job worker, with the
//! live detection pipeline and automatic response beside them; a clean stop
//! signs the audit trail up to its last record.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use riposte_core::readiness::ReadinessSource;
use riposte_jobs::Runner;
use riposte_response::TailSource;
use riposte_server::readiness::ReadinessService;
use riposte_store::{AlertStore, LeaderLock, Store};

use crate::config::Config;
use crate::{exit, live};

/// Runs the service until SIGTERM or SIGINT. `runner` is the one Runner of
/// the process (with queue notifications, for its worker); `readiness`
/// assesses the same directories it acts on.
pub async fn run(
    config: Config,
    store: Arc<dyn Store>,
    runner: Arc<Runner>,
    readiness: Vec<Arc<dyn ReadinessSource>>,
) -> anyhow::Result<u8> {
    let leader: Arc<dyn LeaderLock> = store.clone();
    let alerts: Arc<dyn AlertStore> = store.clone();
    let accounts = riposte_server::Accounts {
        tokens: store.clone(),
        people: store.clone(),
        second_factors: store.clone(),
        pending: store.clone(),
    };
    let pipeline = Arc::new(live::pipeline(&config, runner.directory(), alerts).await?);
    let options = riposte_server::ServeOptions {
        listen: config.listen,
        poll: config.job_poll,
        worker: config.job_worker,
        tail: config
            .ingest
            .iter()
            .map(|(forest, path)| TailSource {
                name: forest.clone(),
                path: path.clone(),
                offset_file: Some(
                    config
                        .data_dir
                        .join("ingest")
                        .join(format!("{forest}.offset")),
                ),
            })
            .collect(),
        readiness: Arc::new(ReadinessService::new(readiness, config.readiness_refresh)),
        leader,
        // Often enough that a dead node's jobs wait about one lease.
        sweep: (config.job_lease / 3).clamp(Duration::from_secs(1), Duration::from_secs(60)),
        tls: config.tls.clone(),
        insecure_http: config.insecure_http,
        limits: config.limits.clone(),
        alert_retention: config.alerts.clone(),
        portal: config.portal.clone(),
        oidc: config.oidc.clone(),
    };
    live::respond_to_alerts(&config, &runner, &pipeline)?;
    riposte_server::serve(options, runner, accounts, pipeline, shutdown_signal()).await?;
    if config.audit.signing_key.is_some() {
        // A clean shutdown signs the trail up to its last record.
        riposte_store::checkpoint_now(store.as_ref())
            .await
            .context("signing the audit checkpoint at shutdown")?;
    }
    Ok(exit::OK)
}

/// Resolves at SIGTERM or SIGINT: the service then drains and stops. The
/// handlers are installed when this is called, not when first polled: a
/// signal that arrives while the service is still starting then stops it
/// cleanly (and its audit checkpoint is signed) instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(term) => {}
            _ = wait(interrupt) => {}
        }
        eprintln!(
            "riposte: stopping: no new requests; the running job finishes, queued jobs stay queued"
        );
    }
}
