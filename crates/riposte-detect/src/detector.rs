use riposte_events::IdentityEvent;

use crate::alert::Alert;
use crate::builtin::BuiltinPack;
use crate::config::DetectConfig;
use crate::sigma::SigmaRules;

/// Feed events in, get alerts out. State is windowed and bounded (see [`DetectConfig`]).
pub struct Detector {
    builtin: BuiltinPack,
    sigma: Option<SigmaRules>,
}

impl Detector {
    pub fn new(config: DetectConfig, sigma: Option<SigmaRules>) -> Self {
        Detector {
            builtin: BuiltinPack::new(config),
            sigma,
        }
    }

    /// The built-in pack with default settings and no Sigma rules.
    pub fn builtin() -> Self {
        Self::new(DetectConfig::default(), None)
    }

    /// Windowed groups held now (the pack's and the Sigma correlations'): for `/metrics`.
    pub fn windows_held(&self) -> usize {
        self.builtin.windows_held() + self.sigma.as_ref().map_or(0, SigmaRules::windows_held)
    }

    pub fn process(&mut self, ev: &IdentityEvent) -> Vec<Alert> {
        let mut out = self.builtin.process(ev);
        if let Some(s) = &mut self.sigma {
            out.extend(s.process(ev));
        }
        out
    }
}
