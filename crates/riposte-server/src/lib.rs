//! `riposte serve`: the REST API (v1), the web portal and the job worker in
//! one process.
//!
//! Requests are authenticated with API tokens or a person's portal session,
//! authorised through
//! `riposte-core::policy`, and turned into queued jobs through the same
//! `riposte-jobs::Runner` the CLI uses; the worker claims queued jobs and
//! runs them. On shutdown the HTTP side stops first, the running job
//! finishes, and queued jobs stay queued for the next start.
#![forbid(unsafe_code)]

mod api;
mod auth;
mod authorised;
mod bulk;
pub mod credential_reset;
mod error;
mod http;
mod job_wait;
pub mod lifecycle;
pub mod limits;
mod metrics;
mod openapi;
mod portal;
pub mod readiness;
pub mod retention;
pub mod second_factor;
pub mod session;
mod sign_in_guard;
mod streams;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use riposte_jobs::Runner;
use riposte_response::{Pipeline, TailSource};
use riposte_store::{
    JobFilter, LeaderLock, PendingSignInStore, PeopleStore, SecondFactorStore, TokenStore,
};
use serde_json::json;
use tokio::sync::watch;
use tracing::{error, info, warn};

pub use error::ApiError;
pub use limits::{AlertRetention, Limits};
pub use metrics::Metrics;
pub use session::PortalSettings;
pub use tls::TlsFiles;

#[derive(Clone)]
pub struct AppState {
    runner: Arc<Runner>,
    tokens: Arc<dyn TokenStore>,
    people: Arc<dyn PeopleStore>,
    second_factors: Arc<dyn SecondFactorStore>,
    pending: Arc<dyn PendingSignInStore>,
    /// `[oidc]`: single sign-on, when configured.
    sso: Option<Arc<portal::Sso>>,
    portal: Arc<PortalSettings>,
    metrics: Arc<Metrics>,
    pipeline: Arc<Pipeline>,
    readiness: Arc<readiness::ReadinessService>,
    limits: Arc<Limits>,
    sign_in: Arc<sign_in_guard::SignInGuard>,
    streams: Arc<streams::StreamLimiter>,
    /// How long a waiter for a job change trusts the signal before it reads
    /// the ledger anyway (`[server] job_poll_secs`).
    safety_net: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr}: {source} (is another process using it? set [server] listen or RIPOSTE_LISTEN)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error(
        "refusing to serve plain HTTP on {addr}, beyond this host: API tokens, passwords and session cookies would cross the network in clear. Set [server] tls_cert and tls_key (PEM files) to serve HTTPS, listen on 127.0.0.1 behind a TLS proxy, or set [server] insecure_http = true to accept the risk"
    )]
    PlainBeyondLoopback { addr: SocketAddr },
    #[error("cannot serve HTTPS: {0}")]
    Tls(String),
    #[error("cannot set up single sign-on ([oidc]): {0}")]
    Oidc(riposte_oidc::OidcError),
}

pub struct ServeOptions {
    pub listen: SocketAddr,
    /// How often the worker looks at the ledger anyway: the safety net for
    /// a lost job-change signal, and processes sharing a SQLite file.
    pub poll: Duration,
    /// Run a worker on this node (false: API and portal only, jobs are
    /// claimed by other nodes sharing the ledger).
    pub worker: bool,
    /// Samba JSON audit logs to tail into the detection pipeline.
    pub tail: Vec<TailSource>,
    /// The readiness assessment, run at start-up and then periodically.
    pub readiness: Arc<readiness::ReadinessService>,
    /// Who runs the periodic work that must run on one node at a time: the
    /// tailer and the sweep for jobs whose worker stopped.
    pub leader: Arc<dyn LeaderLock>,
    /// How often the leader sweeps for such jobs, and followers try to lead.
    pub sweep: Duration,
    /// Serve HTTPS with these files; None: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Allow plain HTTP beyond loopback (warned about at start).
    pub insecure_http: bool,
    /// `[limits]`: what one caller may make the server spend.
    pub limits: Limits,
    /// `[alerts]`: how long alerts are kept.
    pub alert_retention: AlertRetention,
    /// `[portal]`: how long portal sessions live.
    pub portal: PortalSettings,
    /// `[oidc]`: single sign-on for the portal (checked), if configured.
    pub oidc: Option<riposte_oidc::OidcSettings>,
}

/// The stores of who may sign in and call: people and their sessions, API
/// tokens, second factors, and sign-ins under way.
pub struct Accounts {
    pub tokens: Arc<dyn TokenStore>,
    pub people: Arc<dyn PeopleStore>,
    pub second_factors: Arc<dyn SecondFactorStore>,
    pub pending: Arc<dyn PendingSignInStore>,
}

/// How often the node leading alert retention removes expired alerts.
const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// The leader lock's task names.
pub const TAIL_TASK: &str = "ingest-tailer";
pub const SWEEP_TASK: &str = "lease-sweep";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/api/v1/whoami", get(api::whoami))
        .route("/api/v1/identities", get(api::search_identities))
        .route("/api/v1/identities/{reference}", get(api::get_identity))
        .route("/api/v1/actions", post(api::request_action))
        .route("/api/v1/jobs", get(api::list_jobs))
        .route("/api/v1/jobs/export.csv", get(api::export_jobs_csv))
        .route("/api/v1/jobs/{id}", get(api::get_job))
        .route("/api/v1/jobs/{id}/events", get(api::job_events))
        .route("/api/v1/jobs/{id}/approve", post(api::approve_job))
        .route("/api/v1/jobs/{id}/reject", post(api::reject_job))
        .route(
            "/api/v1/events",
            post(api::ingest_events)
                .layer(axum::extract::DefaultBodyLimit::max(api::MAX_EVENTS_BODY)),
        )
        .route(
            "/api/v1/bulk",
            post(bulk::create_bulk).get(bulk::list_bulks),
        )
        .route("/api/v1/bulk/{id}", get(bulk::get_bulk))
        .route("/api/v1/bulk/{id}/pause", post(bulk::pause_bulk))
        .route("/api/v1/bulk/{id}/resume", post(bulk::resume_bulk))
        .route("/api/v1/bulk/{id}/cancel", post(bulk::cancel_bulk))
        .route("/api/v1/bulk/{id}/approve", post(bulk::approve_bulk))
        .route("/api/v1/bulk/{id}/reject", post(bulk::reject_bulk))
        .route("/api/v1/bulk/{id}/undo", post(bulk::undo_bulk))
        .route("/api/v1/alerts", get(api::list_alerts))
        .route("/api/v1/alerts/{id}", get(api::get_alert))
        .route("/api/v1/readiness", get(readiness::get_report))
        .route("/api/v1/readiness/refresh", post(readiness::refresh))
        .route("/api/v1/readiness/accounts", get(readiness::group_accounts))
        .route("/api/v1/readiness/accounts.csv", get(readiness::group_csv))
        .merge(portal::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::bound_request_time,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Every route the router serves, as (method, path): kept in one list so the
/// OpenAPI test can compare the two.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/whoami"),
    ("get", "/api/v1/identities"),
    ("get", "/api/v1/identities/{reference}"),
    ("post", "/api/v1/actions"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/export.csv"),
    ("get", "/api/v1/jobs/{id}"),
    ("get", "/api/v1/jobs/{id}/events"),
    ("post", "/api/v1/jobs/{id}/approve"),
    ("post", "/api/v1/jobs/{id}/reject"),
    ("post", "/api/v1/events"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/alerts/{id}"),
    ("get", "/api/v1/readiness"),
    ("post", "/api/v1/readiness/refresh"),
    ("get", "/api/v1/readiness/accounts"),
    ("get", "/api/v1/readiness/accounts.csv"),
    ("post", "/api/v1/bulk"),
    ("get", "/api/v1/bulk"),
    ("get", "/api/v1/bulk/{id}"),
    ("post", "/api/v1/bulk/{id}/pause"),
    ("post", "/api/v1/bulk/{id}/resume"),
    ("post", "/api/v1/bulk/{id}/cancel"),
    ("post", "/api/v1/bulk/{id}/approve"),
    ("post", "/api/v1/bulk/{id}/reject"),
    ("post", "/api/v1/bulk/{id}/undo"),
];

async fn not_found() -> ApiError {
    ApiError::not_found(
        "no_such_route",
        "no such endpoint; the API lives under /api/v1, the portal under /ui",
    )
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    state
        .metrics
        .http_request(&method, &route, response.status().as_u16());
    response
}

/// Liveness: the process answers. No data.
#[utoipa::path(get, path = "/healthz", summary = "Liveness", security(()),
    responses((status = 200, description = "alive", body = openapi::Status)))]
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: the ledger can be read. No data beyond that.
#[utoipa::path(get, path = "/readyz", summary = "Readiness (the job ledger can be read)", security(()),
    responses(
        (status = 200, description = "ready", body = openapi::Status),
        (status = 503, description = "not ready", body = openapi::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Response {
    match state
        .runner
        .store()
        .list(&JobFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
    {
        Ok(_) => match state.runner.store().check_writable().await {
            Ok(()) => axum::Json(json!({ "status": "ready" })).into_response(),
            // Requests would be refused: send them elsewhere until it is fixed.
            Err(e) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                format!("no new work can be accepted: {e}"),
            )
            .into_response(),
        },
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("the job ledger cannot be read: {e}"),
        )
        .into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "text exposition format", body = String, content_type = "text/plain")))]
async fn metrics_text(
    State(state): State<AppState>,
    _caller: authorised::Authorised<authorised::permit::ReadJobs>,
) -> Result<Response, ApiError> {
    let body = state.metrics.render(
        state.runner.directory().round_trips(),
        &state.pipeline.ingest_snapshot(),
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

/// Runs queued jobs until `stop` turns true; never abandons a job mid-way.
async fn work(
    runner: Arc<Runner>,
    metrics: Arc<Metrics>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let bulk_drivers = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    loop {
        if *stop.borrow() {
            break;
        }
        bulk::supervise_bulks(&runner, &bulk_drivers).await;
        let started = Instant::now();
        match runner.run_next().await {
            Ok(Some(done)) => {
                let outcome = done.job.outcome.map(|o| o.as_str()).unwrap_or("none");
                metrics.job_finished(done.job.action.as_str(), outcome, started.elapsed());
                continue;
            }
            Ok(None) => {}
            Err(e) => error!(error = %e, "the worker could not take a job"),
        }
        tokio::select! {
            _ = runner.wait_for_work(poll) => {}
            _ = stop.changed() => {}
        }
    }
    info!("worker stopped; queued jobs stay queued for the next start");
}

/// Serves until `shutdown` completes, then drains: HTTP first, then the worker.
pub async fn serve(
    options: ServeOptions,
    runner: Arc<Runner>,
    accounts: Accounts,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    tls::check_listen(options.listen, options.tls.is_some(), options.insecure_http)?;
    let tls_config = options.tls.as_ref().map(tls::server_config).transpose()?;
    match runner.recover_interrupted().await {
        Ok(jobs) if !jobs.is_empty() => {
            warn!(count = jobs.len(), "recovered interrupted jobs at start")
        }
        Ok(_) => {}
        Err(e) => error!(error = %e, "could not recover interrupted jobs"),
    }
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        runner: runner.clone(),
        tokens: accounts.tokens,
        people: accounts.people,
        second_factors: accounts.second_factors,
        pending: accounts.pending,
        sso: options
            .oidc
            .clone()
            .map(|settings| {
                riposte_oidc::OidcClient::new(settings).map(|client| {
                    Arc::new(portal::Sso {
                        client,
                        https: options.tls.is_some(),
                    })
                })
            })
            .transpose()
            .map_err(ServeError::Oidc)?,
        portal: Arc::new(options.portal.clone()),
        metrics: metrics.clone(),
        pipeline: pipeline.clone(),
        readiness: options.readiness.clone(),
        sign_in: Arc::new(sign_in_guard::SignInGuard::new(&options.limits)),
        streams: Arc::new(streams::StreamLimiter::new(
            options.limits.event_streams_per_caller,
        )),
        safety_net: options.poll,
        limits: Arc::new(options.limits.clone()),
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Http)?;
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    info!(%local, scheme, "riposte is serving");
    println!("riposte: listening on {scheme}://{local}");
    let (stop_tx, stop_rx) = watch::channel(false);
    readiness::warn_if_empty(&options.readiness);
    let assessing = options
        .readiness
        .start(options.leader.clone(), stop_rx.clone());
    let tailer = tokio::spawn(lead_tailing(
        options.leader.clone(),
        options.tail.clone(),
        pipeline.clone(),
        options.sweep,
        stop_rx.clone(),
    ));
    let sweeper = tokio::spawn(lead_sweep(
        options.leader.clone(),
        runner.clone(),
        options.sweep,
        stop_rx.clone(),
    ));
    let retention = tokio::spawn(retention::lead_retention(
        options.leader.clone(),
        pipeline.alert_store().clone(),
        options.alert_retention.clone(),
        RETENTION_EVERY,
        stop_rx.clone(),
    ));
    // Failed sign-ins are summed up per window; the summaries are written as
    // windows end (and all at shutdown).
    let sign_in_summaries = tokio::spawn(sign_in_guard::SignInGuard::flush_until_stopped(
        state.clone(),
        (options.limits.sign_in_window() / 2)
            .clamp(Duration::from_millis(500), Duration::from_secs(30)),
        stop_rx.clone(),
    ));
    let worker = tokio::spawn(async move {
        if options.worker {
            work(runner, metrics, options.poll, stop_rx).await
        } else {
            info!("no worker on this node ([server] worker = false): other nodes claim its jobs");
        }
    });
    let app = router(state);
    let header_read_timeout = options.limits.header_read_timeout();
    let served = match tls_config {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config);
            http::serve(listener, app, header_read_timeout, shutdown).await
        }
        None => http::serve(listener, app, header_read_timeout, shutdown).await,
    };
    let _ = stop_tx.send(true);
    if let Err(e) = worker.await {
        error!(error = %e, "the worker ended abnormally");
    }
    for (name, task) in [
        ("tailer", tailer),
        ("sweep", sweeper),
        ("alert retention", retention),
        ("sign-in summaries", sign_in_summaries),
    ] {
        if let Err(e) = task.await {
            error!(error = %e, task = name, "a periodic task ended abnormally");
        }
    }
    let _ = assessing.await;
    served.map_err(ServeError::Http)
}

/// Waits `every` or until `stop`; `true` when the service is stopping.
async fn pause(stop: &mut watch::Receiver<bool>, every: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(every) => {}
        changed = stop.changed() => {
            if changed.is_err() {
                return true;
            }
        }
    }
    *stop.borrow()
}

/// Tails the Samba audit logs on one node at a time: the node that leads
/// [`TAIL_TASK`] runs the tailers until it stops or loses the lock; the
/// others try again every `every`.
async fn lead_tailing(
    leader: Arc<dyn LeaderLock>,
    sources: Vec<TailSource>,
    pipeline: Arc<Pipeline>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if sources.is_empty() {
        return;
    }
    loop {
        match leader.try_lead(TAIL_TASK).await {
            Ok(Some(mut lead)) => {
                info!("this node leads tailing of the Samba audit logs");
                let (tail_stop, tail_rx) = watch::channel(false);
                let tailers = riposte_response::start_tailers(&sources, &pipeline, &tail_rx);
                let stopping = loop {
                    if pause(&mut stop, every).await {
                        break true;
                    }
                    if !lead.still_leading().await {
                        warn!("lost the tailing lock; another node may take over");
                        break false;
                    }
                };
                let _ = tail_stop.send(true);
                for t in tailers {
                    let _ = t.await;
                }
                lead.release().await;
                if stopping {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot take the tailing lock; trying again"),
        }
        if pause(&mut stop, every).await {
            return;
        }
    }
}

/// On the node that leads [`SWEEP_TASK`], every `every`: takes over running
/// jobs whose worker stopped (its process is gone, or its lease ran out)
/// and re-verifies them, as at start-up.
async fn lead_sweep(
    leader: Arc<dyn LeaderLock>,
    runner: Arc<Runner>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match leader.try_lead(SWEEP_TASK).await {
            Ok(Some(mut lead)) => {
                info!("this node leads the sweep for interrupted jobs");
                let stopping = loop {
                    match runner.recover_interrupted().await {
                        Ok(jobs) if !jobs.is_empty() => {
                            warn!(
                                count = jobs.len(),
                                "took over and re-verified interrupted jobs"
                            )
                        }
                        Ok(_) => {}
                        Err(e) => error!(error = %e, "could not sweep for interrupted jobs"),
                    }
                    if pause(&mut stop, every).await {
                        break true;
                    }
                    if !lead.still_leading().await {
                        warn!("lost the sweep lock; another node may take over");
                        break false;
                    }
                };
                lead.release().await;
                if stopping {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot take the sweep lock; trying again"),
        }
        if pause(&mut stop, every).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        let doc = openapi::document();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        documented.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
        // Every error response points at the one error schema.
        let text = doc.to_string();
        assert!(text.contains("#/components/schemas/Error"));
    }
}
