//! Certificates for the TLS tests.

use std::path::Path;
use std::process::Command;

/// A self-signed certificate for 127.0.0.1 and localhost, made by openssl
/// in `dir`: (certificate PEM, private key PEM).
pub fn self_signed_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=riposte-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            // A server certificate that is its own trust anchor, not a CA
            // (rustls refuses a CA certificate as a server's).
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
