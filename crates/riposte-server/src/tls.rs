//! HTTPS for `riposte serve`, and the rule on where plain HTTP may listen.
//!
//! API tokens, passwords and session cookies cross this connection: beyond
//! loopback it must be TLS (rustls with aws-lc-rs, the process's one
//! provider), unless the operator says `insecure_http = true` (e.g. a TLS
//! proxy on the same trusted segment), and then the start says so.
//!
//! Handshakes run in tasks of their own, bounded in number and time, so a
//! client that connects and says nothing holds one slot for a while, never
//! the accept loop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

use crate::ServeError;

/// `[server] tls_cert` and `tls_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the backlog.
const MAX_HANDSHAKES: usize = 128;

/// Refuses plain HTTP beyond loopback unless `insecure_http`; with it,
/// warns (the risk, named) and allows.
pub(crate) fn check_listen(
    listen: SocketAddr,
    tls: bool,
    insecure_http: bool,
) -> Result<(), ServeError> {
    if tls || listen.ip().is_loopback() {
        return Ok(());
    }
    if !insecure_http {
        return Err(ServeError::PlainBeyondLoopback { addr: listen });
    }
    warn!(
        %listen,
        "serving plain HTTP beyond loopback because [server] insecure_http = true: API tokens, passwords and session cookies cross the network in clear, where anyone on the path can read them and act as their owner; set [server] tls_cert and tls_key to serve HTTPS"
    );
    Ok(())
}

/// The rustls server configuration from the certificate and key files.
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let bad = |what: String| ServeError::Tls(what);
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            bad(format!(
                "[server] tls_cert = {}: cannot read a PEM certificate chain ({e})",
                files.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(bad(format!(
            "[server] tls_cert = {}: holds no certificate (expected PEM, leaf first)",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        bad(format!(
            "[server] tls_key = {}: cannot read a PEM private key ({e})",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            bad(format!(
                "[server] tls_cert = {} and tls_key = {} do not make a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener that hands axum connections whose TLS handshake finished.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
        let accepting = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        TlsListener {
            local,
            ready,
            accepting,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Stop accepting once axum lets go of the listener (shutdown).
        self.accepting.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, as axum does.
                warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended (aborted at shutdown): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_beyond_loopback_needs_insecure_http() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lan: SocketAddr = "192.0.2.10:8080".parse().unwrap();
        let v6_any: SocketAddr = "[::]:8080".parse().unwrap();
        for addr in [any, lan, v6_any] {
            let err = check_listen(addr, false, false).unwrap_err().to_string();
            assert!(
                err.contains("insecure_http = true") && err.contains("tls_cert"),
                "{err}"
            );
            assert!(check_listen(addr, true, false).is_ok());
            assert!(check_listen(addr, false, true).is_ok());
        }
        for addr in ["127.0.0.1:8080", "127.0.0.2:1", "[::1]:8080"] {
            assert!(check_listen(addr.parse().unwrap(), false, false).is_ok());
        }
    }
}
