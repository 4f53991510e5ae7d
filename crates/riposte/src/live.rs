//! What `riposte serve` runs beside the API: the live detection pipeline and automatic
//! response on the stored alerts, both from riposte-response, with this configuration; and
//! the `[detect] rules` (Sigma) that it and `riposte ingest` run beside the pack.

use std::sync::Arc;

use anyhow::Context;
use riposte_core::directory::Directory;
use riposte_jobs::Runner;
use riposte_response::Pipeline;
use riposte_store::AlertStore;

use riposte_detect::{SigmaError, SigmaRules};

use crate::config::{Config, ConfigError};

/// The `[detect] rules` folders' Sigma rules (`None` when there are none). A rule that does
/// not parse stops the start, naming its file and line: a detector silently missing a rule
/// would report "nothing found" wrongly.
pub fn sigma_rules(config: &Config, command: &str) -> Result<Option<SigmaRules>, ConfigError> {
    let paths = &config.detect.rules;
    if paths.is_empty() {
        return Ok(None);
    }
    let folders = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let rules = SigmaRules::load(paths).map_err(|e| {
        let what_to_do = match &e {
            SigmaError::Read { .. } => {
                "Check the path (relative paths start at the config file's directory)".to_string()
            }
            _ => format!(
                "Fix the rule or move its file out of the folder; `riposte detect --check-rules {folders}` lists every bad file with its line"
            ),
        };
        ConfigError::Invalid {
            path: config.path.clone(),
            message: format!("[detect] rules: {e}. {what_to_do}"),
        }
    })?;
    eprintln!(
        "riposte {command}: {} Sigma rule(s) from {} file(s) ([detect] rules) run beside the built-in pack",
        rules.rule_count(),
        rules.file_count()
    );
    Ok(Some(rules))
}

/// The live pipeline: a detector state per input (the pack and the `[detect] rules`), DCs
/// read from the directory.
pub async fn pipeline(
    config: &Config,
    directory: &Arc<dyn Directory>,
    alerts: Arc<dyn AlertStore>,
) -> anyhow::Result<Pipeline> {
    let sigma = sigma_rules(config, "serve")?;
    Ok(riposte_response::live_pipeline(&config.detect, sigma, directory, alerts).await)
}

/// Automatic response on the stored alerts; a rule that would act on attacked accounts
/// without saying so stops the start here, and the risks of the others are shown.
pub fn respond_to_alerts(
    config: &Config,
    runner: &Arc<Runner>,
    pipeline: &Arc<Pipeline>,
) -> anyhow::Result<()> {
    let risks = riposte_response::respond_to_alerts(&config.automation, runner, pipeline)
        .context("riposte serve does not start with this [automation] rule")?;
    for risk in risks {
        eprintln!("riposte: {risk}");
    }
    Ok(())
}
