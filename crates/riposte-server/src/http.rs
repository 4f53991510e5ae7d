//! The HTTP side's own accept loop, so that slow clients are bounded:
//! `axum::serve` gives hyper no timer, which turns hyper's header read
//! timeout off, and a client that sends a request head one byte at a time
//! (or opens connections and sends nothing) would hold them forever. Here
//! every connection must send a complete request head within
//! `[limits] header_read_timeout_seconds` (an idle keep-alive connection
//! too), and every request must be answered within
//! `[limits] request_timeout_seconds` ([`bound_request_time`]), reading its
//! body included. An event stream's body is not a request's time: it has its
//! own idle end (`api::job_events`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;
use tracing::{debug, warn};

use crate::AppState;
use crate::error::ApiError;

/// Routes whose work is long by nature (a whole readiness assessment): ten
/// times the request bound. Their bodies are empty or a CSRF field.
const LONG_ROUTES: &[&str] = &["/api/v1/readiness/refresh", "/ui/readiness/refresh"];

/// How long shutdown waits for open connections (event streams included)
/// before closing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Middleware: answers 503 `request_timeout` when a request is not answered
/// in time. Stopping a handler is safe: every change it makes to the ledger
/// is one transaction, and a job already queued runs on the worker.
pub(crate) async fn bound_request_time(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let long = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| LONG_ROUTES.contains(&p.as_str()));
    let bound = if long {
        state.limits.request_timeout() * 10
    } else {
        state.limits.request_timeout()
    };
    match tokio::time::timeout(bound, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                format!(
                    "the request was not answered within {} s ([limits] request_timeout_seconds) and was stopped; \
                     a change it asked for may already be recorded: look at GET /api/v1/jobs before sending it again, \
                     or send it again with the same Idempotency-Key",
                    bound.as_secs()
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(5u32));
            response
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// connections finish for [`SHUTDOWN_GRACE`] and closes the rest. Any
/// `axum::serve::Listener` will do: a `TcpListener`, or one that hands over
/// streams after a TLS handshake.
pub(crate) async fn serve<L>(
    mut listener: L,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Finished connections leave the set as they go.
        while connections.try_join_next().is_some() {}
        // The listener logs and retries its own accept errors (out of descriptors, say).
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        connections.spawn(serve_connection(
            stream,
            remote,
            app.clone(),
            header_read_timeout,
            closing.clone(),
        ));
    }
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            open = connections.len(),
            "closing connections still open after the shutdown grace"
        );
        connections.abort_all();
    }
    Ok(())
}

/// One connection (plain TCP, or any stream a TLS acceptor hands over):
/// HTTP/1.1 with the header read timeout, the client's address given to
/// handlers as `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve_connection<I>(
    io: I,
    remote: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let mut app = app.clone();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        async move { app.call(request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    let mut closing_seen = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    debug!(error = %e, %remote, "connection ended");
                }
                return;
            }
            changed = closing.changed(), if !closing_seen => {
                closing_seen = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
