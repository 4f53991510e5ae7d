//! rustls client configuration: only the forest's CA is trusted.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::config::ConfigError;

/// A client config whose root store holds exactly the certificates in
/// `ca_file`. The aws-lc-rs provider is named explicitly so that no process
/// default is needed (and none can be mixed up).
pub fn client_config(forest: &str, ca_file: &Path) -> Result<Arc<ClientConfig>, ConfigError> {
    let bad = |message: String| ConfigError::Invalid {
        forest: forest.to_string(),
        key: "ca_file",
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| bad(format!("cannot read {}: {e}", ca_file.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            bad(format!(
                "{} is not a PEM certificate file: {e}",
                ca_file.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(bad(format!("{} holds no certificate", ca_file.display())));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| {
            bad(format!(
                "{} holds a certificate rustls rejects: {e}",
                ca_file.display()
            ))
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
