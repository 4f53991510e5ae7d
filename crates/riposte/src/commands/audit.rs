//! `riposte audit`: verify the trail (its hash chain and, with the public
//! key, its signed checkpoints), export it, sign a checkpoint, and make the
//! checkpoint key. The signing key is loaded for the ledger by
//! `crate::signing_key`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use riposte_store::audit::checkpoint::{self, CheckpointKeys, generate_key};
use riposte_store::{
    AuditLog, AuditSigner, CheckpointReport, to_millis, to_ocsf, verify_chain, verify_checkpoints,
};
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use crate::config::AuditSettings;
use crate::exit::{self, UsageError};
use crate::since::parse_since;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain, and with --public-key every signed checkpoint: exit 0 if intact,
    /// 1 if a record was changed or removed, or a checkpoint no longer matches.
    Verify {
        /// The checkpoint key's public half (PEM, from `riposte audit keygen`); repeat while
        /// a key is being replaced. Without it, a ledger rewritten and re-chained by someone
        /// who can write the database still verifies.
        #[arg(long = "public-key")]
        public_keys: Vec<PathBuf>,
    },
    /// Audit records as JSON lines on stdout, oldest first, for a SIEM.
    Export {
        /// Only records since this time (RFC 3339, e.g. 2026-11-26T10:00:00Z) or age (30m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// ocsf: OCSF 1.1 events (Account Change, Authentication, API Activity); raw: the records as kept, with their hashes.
        #[arg(long, value_enum, default_value_t = ExportFormat::Ocsf)]
        format: ExportFormat,
    },
    /// Sign the ledger as it is now: once when signing starts on an existing ledger, or after
    /// an investigation explained why riposte stopped signing (it never signs on its own over
    /// a ledger whose last checkpoint no longer matches). Needs [audit] signing_key.
    Checkpoint,
    /// Make the Ed25519 key that signs audit checkpoints. Needs no config file.
    Keygen {
        /// Where to write the private key (PEM, mode 600); keep it outside the data directory
        /// and away from whoever administers the database. Never overwritten.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the public key (default: OUT.pub), for `audit verify --public-key`.
        #[arg(long)]
        public_out: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Ocsf,
    Raw,
}

/// Why `riposte audit checkpoint` cannot sign: no key is configured.
pub fn no_signing_key() -> UsageError {
    UsageError(
        "no [audit] signing_key in the config: make one with `riposte audit keygen --out FILE` and set it".into(),
    )
}

/// `riposte audit checkpoint`: an operator's signature over the ledger as it
/// is, refused while the unkeyed chain is broken.
pub async fn checkpoint(store: &dyn AuditLog, key_id: &str, json: bool) -> anyhow::Result<u8> {
    let chain = verify_chain(store)
        .await
        .context("reading the audit trail")?;
    if let Some(b) = &chain.first_break {
        anyhow::bail!(
            "not signing: the hash chain is broken at seq {} ({}): {}",
            b.seq,
            b.kind,
            b.detail
        );
    }
    let signed = store
        .append(checkpoint::certify_request(&crate::credential::os_account()))
        .await
        .context("signing the audit checkpoint")?;
    if json {
        println!(
            "{}",
            json!({ "seq": signed.seq, "covers_seq": signed.seq - 1, "key_id": key_id })
        );
    } else {
        println!(
            "signed checkpoint at seq {}: records 1 to {} as they are now (key {key_id})",
            signed.seq,
            signed.seq - 1
        );
    }
    Ok(exit::OK)
}

pub fn keygen(out: &Path, public_out: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let public_path = public_out.map_or_else(
        || {
            let mut p = out.as_os_str().to_owned();
            p.push(".pub");
            PathBuf::from(p)
        },
        Path::to_path_buf,
    );
    let (private, public) = generate_key().context("making the checkpoint key")?;
    let key_id = AuditSigner::from_pkcs8(&private, 1)
        .context("reading back the new key")?
        .key_id()
        .to_string();
    write_new(out, &pem("PRIVATE KEY", &private), 0o600)?;
    if let Err(e) = write_new(&public_path, &pem("PUBLIC KEY", &public), 0o644) {
        // Half a key pair is of no use: leave nothing behind.
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    if json {
        println!(
            "{}",
            json!({
                "private_key": out.display().to_string(),
                "public_key": public_path.display().to_string(),
                "key_id": key_id,
            })
        );
    } else {
        println!("private key: {} (mode 600)", out.display());
        println!("public key:  {}", public_path.display());
        println!("key id:      {key_id}");
        println!(
            "Set [audit] signing_key = \"{}\" in riposte.toml. Keep the private key outside the data directory, readable only by the user riposte runs as, and away from whoever administers the database; give the public key to whoever runs `riposte audit verify --public-key`.",
            out.display()
        );
    }
    Ok(exit::OK)
}

/// Writes a file that must not exist yet, created with `mode` (Unix).
fn write_new(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::Error::new(UsageError(format!(
                "{} already exists: riposte never overwrites a key; choose another path",
                path.display()
            )))
        } else {
            anyhow::anyhow!("cannot create {}: {e}", path.display())
        }
    })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// PEM text (RFC 7468) of a DER document.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

fn read_public_keys(paths: &[PathBuf]) -> anyhow::Result<CheckpointKeys> {
    let ders = paths
        .iter()
        .map(|path| {
            SubjectPublicKeyInfoDer::from_pem_file(path)
                .map(|der| der.as_ref().to_vec())
                .map_err(|e| {
                    anyhow::Error::new(UsageError(format!(
                        "--public-key {}: not a PEM public key ({e})",
                        path.display()
                    )))
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    CheckpointKeys::from_spki_ders(&ders)
        .map_err(|e| UsageError(format!("--public-key: {e}")).into())
}

pub async fn verify(
    log: &dyn AuditLog,
    settings: &AuditSettings,
    public_keys: &[PathBuf],
    json: bool,
) -> anyhow::Result<u8> {
    let keys = if public_keys.is_empty() {
        if settings.signing_key.is_some() {
            eprintln!(
                "riposte: checkpoints not checked: without --public-key a rewritten and re-chained ledger still verifies"
            );
        }
        None
    } else {
        Some(read_public_keys(public_keys)?)
    };
    let chain = verify_chain(log).await.context("reading the audit trail")?;
    let checkpoints = match &keys {
        Some(keys) => Some(
            verify_checkpoints(log, keys, settings.checkpoint_every)
                .await
                .context("reading the audit trail")?,
        ),
        None => None,
    };
    let holds = chain.intact() && checkpoints.as_ref().is_none_or(CheckpointReport::holds);
    if json {
        let mut value = json!({
            "records": chain.records,
            "intact": chain.intact(),
            "first_break": chain.first_break,
        });
        if let Some(c) = &checkpoints {
            value["checkpoints"] = serde_json::to_value(c)?;
            value["verified"] = json!(holds);
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialize")
        );
    } else {
        crate::output::audit_report(&chain, false);
        if let Some(c) = &checkpoints {
            print_checkpoints(c, settings.checkpoint_every);
        }
    }
    Ok(if holds { exit::OK } else { exit::FAILED })
}

fn print_checkpoints(c: &CheckpointReport, every: u64) {
    match &c.first_break {
        Some(b) => println!("checkpoint broken: {}", b.detail),
        None if c.valid == 0 => println!("checkpoints: none"),
        None => println!(
            "checkpoints: {} valid, the newest at seq {}",
            c.valid, c.last_checkpoint
        ),
    }
    if c.tail_too_long {
        println!(
            "checkpoints missing: {} records after {} and none signed, more than [audit] checkpoint_every = {every}: checkpoints were removed, or records were written without the signing key",
            c.uncovered,
            describe_last(c.last_checkpoint)
        );
    } else if c.uncovered > 0 {
        println!(
            "warning: {} record{} after {} {} not yet covered by a signature",
            c.uncovered,
            if c.uncovered == 1 { "" } else { "s" },
            describe_last(c.last_checkpoint),
            if c.uncovered == 1 { "is" } else { "are" },
        );
    }
}

fn describe_last(seq: i64) -> String {
    if seq == 0 {
        "the start".into()
    } else {
        format!("the last checkpoint (seq {seq})")
    }
}

pub async fn export(
    log: &dyn AuditLog,
    since: Option<&str>,
    format: ExportFormat,
) -> anyhow::Result<u8> {
    let since = since.map(parse_since).transpose()?.map(to_millis);
    let mut out = std::io::stdout().lock();
    let mut after = 0;
    loop {
        let page = log
            .audit_records(after, 1000)
            .await
            .context("reading the audit trail")?;
        let Some(newest) = page.last() else {
            break;
        };
        after = newest.seq;
        // Filtered record by record: clocks can step back, so `at`
        // is not guaranteed to rise with seq.
        for record in page
            .iter()
            .filter(|r| since.is_none_or(|s| to_millis(r.at) >= s))
        {
            let line = match format {
                ExportFormat::Ocsf => to_ocsf(record),
                ExportFormat::Raw => serde_json::to_value(record)?,
            };
            match writeln!(out, "{line}") {
                Ok(()) => {}
                // The reader stopped (e.g. `| head`): nothing more to do.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(exit::OK);
                }
                Err(e) => return Err(e).context("writing the export to stdout"),
            }
        }
    }
    out.flush().context("writing the export to stdout")?;
    Ok(exit::OK)
}
