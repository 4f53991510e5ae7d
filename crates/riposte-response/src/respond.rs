//! Automatic response on the alert hook: every stored alert goes through the automation
//! rules (unless `[automation] mode` is off), which queue jobs through the Runner; the
//! service's worker runs them. A subscriber that falls behind the hook catches up from
//! the alert store, so no alert is skipped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use riposte_jobs::Runner;
use riposte_store::{AlertFilter, AlertStore, StoredAlert};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;

use crate::automation::trust::{Cooldown, RuleRefused};
use crate::automation::{AlertFacts, Automation, AutomationConfig, Mode};
use crate::pipeline::Pipeline;

/// Starts answering the alerts `pipeline` stores from now on. A rule that would act on
/// attacked accounts without saying so is refused here, before anything starts; `Ok` holds
/// the risks to show at start (also logged).
pub fn respond_to_alerts(
    automation: &AutomationConfig,
    runner: &Arc<Runner>,
    pipeline: &Pipeline,
) -> Result<Vec<String>, RuleRefused> {
    let automation = automation.clone();
    if automation.mode == Mode::Off || automation.rules.is_empty() {
        return Ok(Vec::new());
    }
    let risks = automation.check()?;
    for risk in &risks {
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
    Ok(risks)
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
