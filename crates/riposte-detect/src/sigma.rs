//! Sigma rules (detection and correlation) run by `rsigma-eval` 0.23.
//!
//! Each event is handed to the engine as a flat JSON object with the Windows field names
//! (`EventID`, `Computer`, the EventData fields such as `TargetUserName`, `Status`), which is
//! what SigmaHQ's Windows Security rules match on; correlations are timed with the event's own
//! time, not the wall clock, so offline hunting over old logs gives the same answer as live.

use std::path::{Path, PathBuf};

use rsigma_eval::event::JsonEvent;
use rsigma_eval::{CorrelationConfig, CorrelationEngine, EvaluationResult, TimestampFallback};
use serde_json::{Map, Value};

use riposte_events::IdentityEvent;

use crate::alert::{Alert, Entities, EventRef, Severity};

#[derive(Debug, thiserror::Error)]
pub enum SigmaError {
    #[error("cannot read Sigma rules from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Sigma rule file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Loaded Sigma rules and their correlation state.
pub struct SigmaRules {
    engine: CorrelationEngine,
    files: usize,
}

fn severity(level: Option<&rsigma_parser::Level>) -> Severity {
    match level
        .map(|l| format!("{l:?}").to_ascii_lowercase())
        .as_deref()
    {
        Some("critical") => Severity::Critical,
        Some("high") => Severity::High,
        Some("medium") => Severity::Medium,
        _ => Severity::Low,
    }
}

/// `attack.t1110.003` -> `T1110.003`.
fn technique(tags: &[String]) -> Option<String> {
    tags.iter().find_map(|t| {
        let t = t.to_ascii_lowercase();
        let rest = t.strip_prefix("attack.t")?;
        rest.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
            .then(|| format!("T{}", rest.to_ascii_uppercase()))
    })
}

impl SigmaRules {
    fn engine() -> CorrelationEngine {
        let cfg = CorrelationConfig {
            // Offline logs: an event without a time must not be placed "now".
            timestamp_fallback: TimestampFallback::Skip,
            max_group_entries: Some(10_000),
            ..CorrelationConfig::default()
        };
        CorrelationEngine::new(cfg)
    }

    /// Rules from one YAML text (several documents allowed).
    pub fn from_yaml(yaml: &str, name: &Path) -> Result<Self, SigmaError> {
        let mut rules = SigmaRules {
            engine: Self::engine(),
            files: 0,
        };
        rules.add_yaml(yaml, name)?;
        Ok(rules)
    }

    fn add_yaml(&mut self, yaml: &str, path: &Path) -> Result<(), SigmaError> {
        let invalid = |message: String| SigmaError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let coll = rsigma_parser::parse_sigma_yaml(yaml).map_err(|e| invalid(e.to_string()))?;
        if !coll.errors.is_empty() {
            return Err(invalid(coll.errors.join("; ")));
        }
        self.engine
            .add_collection(&coll)
            .map_err(|e| invalid(e.to_string()))?;
        self.files += 1;
        Ok(())
    }

    /// Every `*.yml` / `*.yaml` under `dir` (recursively). One bad file stops the load: a
    /// hunt with a silently missing rule would report "nothing found" wrongly.
    pub fn load_dir(dir: &Path) -> Result<Self, SigmaError> {
        let mut rules = SigmaRules {
            engine: Self::engine(),
            files: 0,
        };
        let mut stack = vec![dir.to_path_buf()];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            let read = std::fs::read_dir(&d).map_err(|source| SigmaError::Read {
                path: d.clone(),
                source,
            })?;
            for entry in read {
                let entry = entry.map_err(|source| SigmaError::Read {
                    path: d.clone(),
                    source,
                })?;
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml")
                }) {
                    files.push(p);
                }
            }
        }
        // Correlations refer to detection rules by id, possibly in other files: all rules
        // go into one collection-ordered engine, files sorted for a stable result.
        files.sort();
        let mut all = String::new();
        for p in &files {
            let text = std::fs::read_to_string(p).map_err(|source| SigmaError::Read {
                path: p.clone(),
                source,
            })?;
            // Validate each file alone for a precise message.
            rsigma_parser::parse_sigma_yaml(&text)
                .map_err(|e| SigmaError::Invalid {
                    path: p.clone(),
                    message: e.to_string(),
                })
                .and_then(|c| {
                    if c.errors.is_empty() {
                        Ok(())
                    } else {
                        Err(SigmaError::Invalid {
                            path: p.clone(),
                            message: c.errors.join("; "),
                        })
                    }
                })?;
            if !all.is_empty() {
                all.push_str("\n---\n");
            }
            all.push_str(&text);
        }
        if !files.is_empty() {
            rules.add_yaml(&all, dir)?;
            rules.files = files.len();
        }
        Ok(rules)
    }

    pub fn file_count(&self) -> usize {
        self.files
    }

    pub fn rule_count(&self) -> usize {
        self.engine.detection_rule_count() + self.engine.correlation_rule_count()
    }

    /// The event as Sigma sees it: Windows field names at the top level.
    fn event_json(ev: &IdentityEvent) -> Value {
        let mut m = Map::new();
        for (k, v) in &ev.data {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        m.insert("EventID".into(), Value::from(ev.event_id));
        if let Some(c) = &ev.computer {
            m.insert("Computer".into(), Value::String(c.clone()));
        }
        m.insert("Channel".into(), Value::String("Security".into()));
        Value::Object(m)
    }

    pub fn process(&mut self, ev: &IdentityEvent) -> Vec<Alert> {
        let v = Self::event_json(ev);
        let event = JsonEvent::borrow(&v);
        let results = match ev.time {
            Some(t) => self.engine.process_event_at(&event, t.unix_timestamp()),
            // Without a time the event still matches detections but not correlations.
            None => self.engine.evaluate(&event),
        };
        results.into_iter().map(|r| to_alert(r, ev)).collect()
    }
}

/// A Sigma result as an alert; it references the event that completed the match (rsigma 0.23
/// can keep a correlation's earlier events, but only as its own refs, not our locations).
fn to_alert(r: EvaluationResult, ev: &IdentityEvent) -> Alert {
    let h = &r.header;
    let mut entities = Entities::default();
    entities.add_event(ev);
    let (description, count) = match r.as_correlation() {
        Some(c) => {
            let keys: Vec<String> = c
                .group_key
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            (
                format!(
                    "Sigma correlation {:?} reached {} within {} s for {}",
                    c.correlation_type,
                    c.aggregated_value,
                    c.timespan_secs,
                    keys.join(", ")
                ),
                c.aggregated_value.max(1.0) as u64,
            )
        }
        None => (format!("Sigma rule matched event {}", ev.event_id), 1),
    };
    Alert {
        rule_id: h.rule_id.clone().unwrap_or_else(|| h.rule_title.clone()),
        title: h.rule_title.clone(),
        technique: technique(&h.tags),
        severity: severity(h.level.as_ref()),
        description,
        entities,
        first_seen: ev.time,
        last_seen: ev.time,
        event_count: count,
        events: vec![EventRef::from(ev)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_tags_become_technique_ids() {
        assert_eq!(
            technique(&["attack.credential_access".into(), "attack.t1110.003".into()]),
            Some("T1110.003".into())
        );
        assert_eq!(technique(&["attack.credential_access".into()]), None);
    }
}
