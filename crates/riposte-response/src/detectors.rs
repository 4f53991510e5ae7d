//! The detector wiring: one detector state shared by every input, or one per input
//! (bounded), and the live pipeline's detector settings (domain controllers read from the
//! directory, never learnt from events).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use riposte_core::directory::Directory;
use riposte_detect::{DetectConfig, Detector, SigmaRules};
use riposte_store::AlertStore;

use crate::pipeline::Pipeline;

/// Most distinct inputs given a detector of their own (DC logs, tokens, people); past it,
/// the stalest input's state is dropped (it only forgets, never invents).
const MAX_INPUTS: usize = 1024;

pub(crate) enum Detectors {
    /// One state for every input (`riposte ingest`, tests).
    Shared(Box<Detector>),
    /// A state per input (`riposte serve`).
    PerInput {
        make: Box<dyn Fn() -> Detector + Send + Sync>,
        by_input: HashMap<String, (u64, Detector)>,
        uses: u64,
    },
}

impl Detectors {
    pub(crate) fn per_input(make: impl Fn() -> Detector + Send + Sync + 'static) -> Self {
        Detectors::PerInput {
            make: Box::new(make),
            by_input: HashMap::new(),
            uses: 0,
        }
    }

    /// Windowed groups held by every input's detector.
    pub(crate) fn windows_held(&self) -> usize {
        match self {
            Detectors::Shared(d) => d.windows_held(),
            Detectors::PerInput { by_input, .. } => {
                by_input.values().map(|(_, d)| d.windows_held()).sum()
            }
        }
    }

    pub(crate) fn for_input(&mut self, input: &str) -> &mut Detector {
        match self {
            Detectors::Shared(d) => d,
            Detectors::PerInput {
                make,
                by_input,
                uses,
            } => {
                *uses += 1;
                if !by_input.contains_key(input)
                    && by_input.len() >= MAX_INPUTS
                    && let Some(stalest) = by_input
                        .iter()
                        .min_by_key(|(_, (used, _))| *used)
                        .map(|(k, _)| k.clone())
                {
                    by_input.remove(&stalest);
                }
                let entry = by_input
                    .entry(input.to_string())
                    .or_insert_with(|| (0, make()));
                entry.0 = *uses;
                &mut entry.1
            }
        }
    }
}

/// The live pipeline (`riposte serve`): a detector state per input, with the allowed clock
/// skew of `detect`. Who is a DC comes from the directory (each forest's DC computer objects)
/// and the configuration, never from the events: a forged event naming a host as its logger
/// must not make that host a DC and hide its DCSync. `sigma` (the `[detect] rules`) runs
/// beside the pack, with correlation state of its own per input.
pub async fn live_pipeline(
    detect: &DetectConfig,
    sigma: Option<SigmaRules>,
    directory: &Arc<dyn Directory>,
    alerts: Arc<dyn AlertStore>,
) -> Pipeline {
    let mut detect = detect.clone();
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
    Pipeline::per_input(
        move || Detector::new(detect.clone(), sigma.as_ref().map(SigmaRules::fresh)),
        alerts,
    )
    .with_max_skew(skew)
}
