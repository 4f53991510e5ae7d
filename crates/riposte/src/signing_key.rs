//! The key that signs audit checkpoints (`[audit] signing_key`), loaded
//! for the ledger with the checks that keep it out of reach of whoever can
//! write the ledger.

use std::sync::Arc;

use anyhow::Context;
use riposte_store::AuditSigner;
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;

use crate::config::{Config, ConfigError, Database};

/// The checkpoint signer `[audit] signing_key` names, or None when none is
/// configured. Refuses a key the ledger's writers could also reach: one
/// inside the data directory or the SQLite ledger's directory, or one that
/// group or others may read.
pub fn load(config: &Config) -> anyhow::Result<Option<Arc<AuditSigner>>> {
    let Some(path) = &config.audit.signing_key else {
        return Ok(None);
    };
    let invalid = |message: String| ConfigError::Invalid {
        path: config.path.clone(),
        message,
    };
    let real = std::fs::canonicalize(path).map_err(|e| {
        invalid(format!(
            "[audit] signing_key = {}: cannot be read ({e}); make one with `riposte audit keygen --out FILE`",
            path.display()
        ))
    })?;
    let mut ledger_dirs = vec![config.data_dir.clone()];
    if let Database::Sqlite(file) = &config.database
        && let Some(dir) = file.parent()
    {
        ledger_dirs.push(dir.to_path_buf());
    }
    for dir in ledger_dirs {
        // A data directory not made yet is compared as an absolute path.
        let dir = std::fs::canonicalize(&dir)
            .or_else(|_| std::path::absolute(&dir))
            .unwrap_or(dir);
        if real.starts_with(&dir) {
            return Err(invalid(format!(
                "[audit] signing_key = {} lies inside {}, beside the ledger it protects: whoever can rewrite the ledger could read the key and re-sign it. Move the key outside the data directory (e.g. /etc/riposte/audit.key, owned by the user riposte runs as, mode 600)",
                path.display(),
                dir.display()
            ))
            .into());
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&real)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(invalid(format!(
                "[audit] signing_key = {} may be read by group or others (mode {:o}): anyone who can read it can sign a rewritten ledger. Run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ))
            .into());
        }
    }
    let der = PrivatePkcs8KeyDer::from_pem_file(&real).map_err(|e| {
        invalid(format!(
            "[audit] signing_key = {}: not a PKCS#8 PEM private key ({e}); make one with `riposte audit keygen --out FILE`",
            path.display()
        ))
    })?;
    let signer = AuditSigner::from_pkcs8(der.secret_pkcs8_der(), config.audit.checkpoint_every)
        .map_err(|e| invalid(format!("[audit] signing_key = {}: {e}", path.display())))?;
    Ok(Some(Arc::new(signer)))
}
