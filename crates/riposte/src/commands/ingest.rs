//! `riposte ingest FILE...`: files through the live pipeline (the same shared detector and
//! alert store `riposte serve` uses, with the `[detect] rules` Sigma rules), so their alerts
//! are stored and listed by the API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use riposte_detect::{Detector, SigmaRules};
use riposte_events::Ingest;
use riposte_response::Pipeline;
use riposte_store::AlertStore;

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Files to read: .evtx, JSON lines / evtx_dump JSON / Winlogbeat, Samba log (by content).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Events are handed to the pipeline in batches of this many.
const BATCH: usize = 1000;
const SHOWN_ERRORS: usize = 10;

pub async fn run(
    args: &IngestArgs,
    detect: riposte_detect::DetectConfig,
    sigma: Option<SigmaRules>,
    alerts: Arc<dyn AlertStore>,
    operator: &riposte_core::policy::Principal,
    json: bool,
) -> anyhow::Result<u8> {
    let pipeline = Pipeline::new(Detector::new(detect, sigma), alerts);
    let files = args.files.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    // Reading is blocking and streams record by record; batches go to the pipeline.
    let reader = tokio::task::spawn_blocking(move || {
        let mut ingest = Ingest::new(files);
        let mut batch = Vec::with_capacity(BATCH);
        let mut errors = Vec::new();
        let mut whole_files_failed = 0u64;
        for item in ingest.by_ref() {
            match item {
                Ok(ev) => {
                    batch.push(ev);
                    if batch.len() == BATCH && tx.blocking_send(std::mem::take(&mut batch)).is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    whole_files_failed += u64::from(e.whole_file);
                    if errors.len() < SHOWN_ERRORS {
                        errors.push(e);
                    }
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        (ingest.stats().clone(), errors, whole_files_failed)
    });
    let input = riposte_response::Input::file(operator);
    let mut by_technique: BTreeMap<String, u64> = BTreeMap::new();
    let stdout = std::io::stdout();
    while let Some(batch) = rx.recv().await {
        for a in pipeline.process(&batch, &input).await? {
            *by_technique
                .entry(a.alert.technique.clone().unwrap_or_else(|| "-".into()))
                .or_default() += 1;
            let mut out = stdout.lock();
            if json {
                use std::io::Write;
                let _ = writeln!(out, "{}", serde_json::to_string(&a)?);
            } else {
                use std::io::Write;
                let _ = writeln!(
                    out,
                    "alert {} [{}] {} {}: {}",
                    a.id,
                    a.alert.severity,
                    a.alert.technique.as_deref().unwrap_or("-"),
                    a.alert.title,
                    a.alert.description
                );
            }
        }
    }
    let (stats, errors, whole_files_failed) = reader.await?;
    Ok(super::files_read::FilesRead {
        stats: &stats,
        errors: &errors,
        whole_files_failed,
        by_technique: &by_technique,
    }
    .report("ingest", "alert(s) stored"))
}
