//! What `riposte serve` runs beside the API: the live detection pipeline and automatic
//! response on the stored alerts, both from riposte-response, with this configuration.

use std::sync::Arc;

use anyhow::Context;
use riposte_core::directory::Directory;
use riposte_jobs::Runner;
use riposte_response::Pipeline;
use riposte_store::AlertStore;

use crate::config::Config;

/// The live pipeline: a detector state per input, DCs read from the directory.
pub async fn pipeline(
    config: &Config,
    directory: &Arc<dyn Directory>,
    alerts: Arc<dyn AlertStore>,
) -> Pipeline {
    riposte_response::live_pipeline(&config.detect, directory, alerts).await
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
