//! What `riposte serve` runs beside the API: the live detection pipeline (a detector
//! state per input, domain controllers from the directory, the allowed clock skew) and
//! automatic response on the stored alerts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use riposte_automation::trust::Cooldown;
use riposte_automation::{AlertFacts, Automation, Mode};
use riposte_core::directory::Directory;
use riposte_detect::Detector;
use riposte_jobs::Runner;
use riposte_server::ingest::Pipeline;
use riposte_store::{AlertFilter, AlertStore, StoredAlert};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;

use crate::config::Config;

/// The live pipeline. Who is a DC comes from the directory (each forest's DC computer
/// objects) and the configuration, never from the events: a forged event naming a host
/// as its logger must not make that host a DC and hide its DCSync.
pub async fn pipeline(
    config: &Config,
    directory: &Arc<dyn Directory>,
    alerts: Arc<dyn AlertStore>,
) -> Pipeline {
    let mut detect = config.detect.clone();
    detect.learn_dcs_from_events = false;
    for forest in directory.forest_names() {
        match directory.domain_controllers(&forest).await {
            Ok(dcs) => {
                tracing::info!(%forest, dcs = ?dcs, "domain controllers read from the directory");
                detect.domain_controllers.extend(dcs);
            }
            Err(e) => tracing::warn!(
                %forest,
                error = %e,
                "cannot list the forest's domain controllers; only [detect] domain_controllers count as DCs for DCSync"
            ),
        }
    }
    let skew = Duration::from_secs(detect.max_event_skew_secs);
    Pipeline::per_input(move || Detector::new(detect.clone(), None), alerts).with_max_skew(skew)
}

/// Automatic response: every stored alert goes through the automation rules (unless
/// `[automation] mode` is off); the service's worker runs what they queue. A rule that
/// would act on attacked accounts without saying so stops the start here.
pub fn respond_to_alerts(
    config: &Config,
    runner: &Arc<Runner>,
    pipeline: &Arc<Pipeline>,
) -> anyhow::Result<()> {
    let automation = config.automation.clone();
    if automation.mode == Mode::Off || automation.rules.is_empty() {
        return Ok(());
    }
    let risks = automation
        .check()
        .context("riposte serve does not start with this [automation] rule")?;
    for risk in risks {
        eprintln!("riposte: {risk}");
        tracing::warn!("{risk}");
    }
    let started = OffsetDateTime::now_utc() - Duration::from_millis(1);
    let mut alerts = pipeline.subscribe();
    let store = pipeline.alert_store().clone();
    let runner = runner.clone();
    tokio::spawn(async move {
        let cooldown = Cooldown::default();
        // Alerts raised before this start are not this run's to answer.
        let mut last = Some((started, uuid::Uuid::nil()));
        let respond = async |stored: &StoredAlert, last: &mut Option<_>| {
            if last.is_some_and(|l| (stored.raised_at, stored.id) <= l) {
                return;
            }
            *last = Some((stored.raised_at, stored.id));
            let facts = AlertFacts::from(stored);
            for response in (Automation {
                config: &automation,
                runner: &runner,
                cooldown: &cooldown,
            })
            .respond(&facts)
            .await
            {
                tracing::info!(alert = %stored.id, ?response, "automatic response");
            }
        };
        loop {
            match alerts.recv().await {
                Ok(stored) => respond(&stored, &mut last).await,
                Err(RecvError::Lagged(missed)) => {
                    // Fell behind the hook: what it dropped is in the store; nothing is skipped.
                    tracing::warn!(
                        missed,
                        "automatic response fell behind the alerts; catching up from the alert store"
                    );
                    match missed_alerts(store.as_ref(), last).await {
                        Ok(missed) => {
                            for stored in &missed {
                                respond(stored, &mut last).await;
                            }
                        }
                        Err(e) => tracing::error!(
                            error = %e,
                            "cannot read the missed alerts from the store; they are in the Alerts list but were not answered"
                        ),
                    }
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
    Ok(())
}

/// Every stored alert after `last` (oldest first).
async fn missed_alerts(
    store: &dyn AlertStore,
    last: Option<(OffsetDateTime, uuid::Uuid)>,
) -> Result<Vec<StoredAlert>, riposte_store::StoreError> {
    const PAGE: u32 = 1000;
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut offset = 0;
    loop {
        let page = store
            .list_alerts(&AlertFilter {
                since: last.map(|(at, _)| at),
                limit: Some(PAGE),
                offset: Some(offset),
                ..Default::default()
            })
            .await?;
        let n = page.len() as u32;
        for a in page {
            if last.is_none_or(|l| (a.raised_at, a.id) > l) && seen.insert(a.id) {
                found.push(a);
            }
        }
        if n < PAGE {
            break;
        }
        offset += PAGE;
    }
    found.sort_by_key(|a| (a.raised_at, a.id));
    Ok(found)
}
