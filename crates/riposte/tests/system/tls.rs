//! `riposte serve` over HTTPS, and the rule that plain HTTP stays on
//! loopback unless the operator accepts the risk. No traffic leaves
//! loopback: 0.0.0.0 is only bound (or refused), never connected to.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::harness::{Serve, riposte_config};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// A config with no reachable DC (serve starts without one), `server`
/// lines in its [server] table.
fn write_config(dir: &Path, server: &str) -> PathBuf {
    let (_cert, _key) = crate::harness::self_signed_cert(dir);
    let path = dir.join("riposte.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"data\"\n[server]\n{server}\n[[forest]]\nname = \"corp\"\ndomain = \"corp.example.test\"\n\
             base_dn = \"DC=corp,DC=example,DC=test\"\ndcs = [\"ldaps://127.0.0.99:636\"]\n\
             ca_file = \"cert.pem\"\nbind_dn = \"CN=x\"\nbind_password_env = \"PATH\"\n"
        ),
    )
    .unwrap();
    path
}

/// The harness's `riposte serve` listening on `listen`, its stderr kept.
fn serve(config: &Path, listen: &str) -> Serve {
    Serve::on_config(config)
        .listen(listen)
        .env_remove("RIPOSTE_LOG")
        .stderr_lines()
        .start()
}

/// The address after `scheme://` in serve's first line.
fn listening(serve: &Serve, scheme: &str) -> String {
    let line = &serve.first_line;
    let marker = format!("listening on {scheme}://");
    assert!(line.contains(&marker), "unexpected first line: {line:?}");
    line.trim().rsplit(&marker).next().unwrap().to_string()
}

/// SIGTERM; it ends cleanly. Its stderr.
fn stop(mut serve: Serve) -> String {
    let status = serve.terminate();
    let stderr = serve.stderr();
    assert!(status.success(), "{stderr}");
    stderr
}

/// One HTTP/1.1 request over TLS to `addr`, trusting only `ca`; the response text.
fn https(addr: &str, ca: &Path, request: &str) -> Result<String, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr)?);
    tls.write_all(request.as_bytes())?;
    let mut response = String::new();
    // The server closes after `Connection: close`; rustls reports a close
    // without close_notify as an error once the whole answer was read.
    match tls.read_to_string(&mut response) {
        Ok(_) => Ok(response),
        Err(_) if !response.is_empty() => Ok(response),
        Err(e) => Err(e),
    }
}

#[test]
fn serve_answers_over_https_to_a_client_that_trusts_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
    let child = serve(&config, "127.0.0.1:0");
    let addr = listening(&child, "https");
    let ca = dir.path().join("cert.pem");

    let health = https(
        &addr,
        &ca,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .expect("an HTTPS answer");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");

    // The API works through TLS, with the caller's address (the audit
    // trail's) known to the handlers: a reader is refused, not a 500.
    let token = riposte_config(
        &config,
        &[
            "--json", "token", "create", "--name", "r", "--role", "reader",
        ],
    )
    .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let body = r#"{"target":"corp:ernie","action":"disable","reason":"tls test"}"#;
    let refused = https(
        &addr,
        &ca,
        &format!(
            "POST /api/v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .expect("an HTTPS answer");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");

    // A client that trusts another CA does not get through.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _) = crate::harness::self_signed_cert(other.path());
    assert!(
        https(
            &addr,
            &other_ca,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .is_err()
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "plain HTTP was served on the TLS port"
    );
    // Still serving after the failed handshakes.
    assert!(
        https(
            &addr,
            &ca,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap()
        .starts_with("HTTP/1.1 200")
    );
    stop(child);
}

#[test]
fn plain_http_beyond_loopback_is_refused_unless_insecure_http_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    // Only the refusal is checked on 0.0.0.0: nothing is sent there.
    let refused = riposte_config_with_listen(&config, "0.0.0.0:0");
    assert_eq!(refused.0, 1, "{}", refused.1);
    assert!(
        refused
            .1
            .contains("refusing to serve plain HTTP on 0.0.0.0:0, beyond this host")
            && refused.1.contains("insecure_http = true")
            && refused.1.contains("tls_cert"),
        "{}",
        refused.1
    );

    let insecure = write_config(dir.path(), "insecure_http = true");
    let child = serve(&insecure, "0.0.0.0:0");
    let addr = listening(&child, "http");
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    let stderr = stop(child);
    assert!(
        stderr.contains("insecure_http = true") && stderr.contains("cross the network in clear"),
        "no warning at start: {stderr}"
    );
}

#[test]
fn tls_cert_without_tls_key_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "tls_cert = \"cert.pem\"");
    let out = riposte_config(&config, &["serve"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("go together"), "{}", out.stderr);
    let config = write_config(
        dir.path(),
        "tls_cert = \"cert.pem\"\ntls_key = \"missing.pem\"",
    );
    // serve refuses to start: it ends on its own.
    let (code, stderr) = riposte_config_with_listen(&config, "127.0.0.1:0");
    assert!(code != 0);
    assert!(
        stderr.contains("tls_key") && stderr.contains("missing.pem"),
        "{stderr}"
    );
}

/// `serve` with RIPOSTE_LISTEN set, expected to end at once: (exit code, stderr).
fn riposte_config_with_listen(config: &Path, listen: &str) -> (i32, String) {
    let out = Serve::on_config(config).listen(listen).run_to_end();
    (out.code, out.stderr)
}
