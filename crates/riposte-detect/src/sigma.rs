//! Sigma rules (detection and correlation) run by `rsigma-eval` 0.23.
//!
//! Each event is handed to the engine as a flat JSON object with the Windows field names
//! (`EventID`, `Computer`, the EventData fields such as `TargetUserName`, `Status`), which is
//! what SigmaHQ's Windows Security rules match on; correlations are timed with the event's own
//! time, not the wall clock, so offline hunting over old logs gives the same answer as live.

mod entities;
mod load;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsigma_eval::event::JsonEvent;
use rsigma_eval::{CorrelationConfig, CorrelationEngine, EvaluationResult, TimestampFallback};
use rsigma_parser::SigmaCollection;
use serde_json::{Map, Value};

use riposte_events::IdentityEvent;

use crate::alert::{Alert, EventRef, Severity};

pub use load::RuleProblem;

#[derive(Debug, thiserror::Error)]
pub enum SigmaError {
    #[error("cannot read Sigma rules from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Sigma rule file {} line {}: {}", .0.path.display(), .0.line, .0.message)]
    Invalid(RuleProblem),
    #[error(
        "Sigma rules in {}: {message} (a correlation names a rule id found in none of the files?)",
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    Set {
        paths: Vec<PathBuf>,
        message: String,
    },
}

/// Loaded Sigma rules and their correlation state.
pub struct SigmaRules {
    /// The parsed rules, shared by every [`SigmaRules::fresh`] copy.
    collection: Arc<SigmaCollection>,
    engine: CorrelationEngine,
    files: usize,
}

/// What `riposte detect --check-rules` reports of a set of rule files.
#[derive(Debug)]
pub struct RuleCheck {
    /// Files that parse.
    pub good_files: usize,
    /// Detection and correlation rules in them.
    pub rules: usize,
    /// Every file that does not, with its line; then any fault of the set as a whole.
    pub problems: Vec<String>,
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

fn engine_config() -> CorrelationConfig {
    CorrelationConfig {
        // Offline logs: an event without a time must not be placed "now".
        timestamp_fallback: TimestampFallback::Skip,
        max_group_entries: Some(10_000),
        ..CorrelationConfig::default()
    }
}

fn compile(collection: &SigmaCollection) -> Result<CorrelationEngine, String> {
    let mut engine = CorrelationEngine::new(engine_config());
    engine
        .add_collection(collection)
        .map_err(|e| e.to_string())?;
    Ok(engine)
}

impl SigmaRules {
    fn from_collection(collection: SigmaCollection, files: usize) -> Result<Self, String> {
        let engine = compile(&collection)?;
        Ok(SigmaRules {
            collection: Arc::new(collection),
            engine,
            files,
        })
    }

    /// Rules from one YAML text (several documents allowed).
    pub fn from_yaml(yaml: &str, name: &Path) -> Result<Self, SigmaError> {
        let invalid = |(line, message)| {
            SigmaError::Invalid(RuleProblem {
                path: name.to_path_buf(),
                line,
                message,
            })
        };
        let collection = load::check_text(yaml).map_err(invalid)?;
        Self::from_collection(collection, 1).map_err(|m| invalid((1, m)))
    }

    /// The same rules with no correlation state: one per input of the live pipeline.
    pub fn fresh(&self) -> SigmaRules {
        SigmaRules {
            collection: self.collection.clone(),
            // These rules compiled when loaded; compiling is deterministic.
            engine: compile(&self.collection)
                .unwrap_or_else(|_| CorrelationEngine::new(engine_config())),
            files: self.files,
        }
    }

    /// Every `*.yml` / `*.yaml` under `dir` (recursively). One bad file stops the load: a
    /// hunt with a silently missing rule would report "nothing found" wrongly.
    pub fn load_dir(dir: &Path) -> Result<Self, SigmaError> {
        Self::load(&[dir.to_path_buf()])
    }

    /// Every rule file under each path (a folder, recursively, or one file), into one set:
    /// correlations may name rules of other files. The first bad file stops the load.
    pub fn load(paths: &[PathBuf]) -> Result<Self, SigmaError> {
        let scanned =
            load::scan(paths).map_err(|(path, source)| SigmaError::Read { path, source })?;
        if let Some(p) = scanned.problems.into_iter().next() {
            return Err(SigmaError::Invalid(p));
        }
        Self::join(paths, &scanned.files)
    }

    fn join(paths: &[PathBuf], files: &[(PathBuf, String)]) -> Result<Self, SigmaError> {
        let mut all = SigmaCollection::new();
        for (_, text) in files {
            if let Ok(c) = load::check_text(text) {
                all.rules.extend(c.rules);
                all.correlations.extend(c.correlations);
                all.filters.extend(c.filters);
            }
        }
        Self::from_collection(all, files.len()).map_err(|message| SigmaError::Set {
            paths: paths.to_vec(),
            message,
        })
    }

    /// Checks every rule file under the paths, naming each bad one with its line.
    pub fn check(paths: &[PathBuf]) -> Result<RuleCheck, SigmaError> {
        let scanned =
            load::scan(paths).map_err(|(path, source)| SigmaError::Read { path, source })?;
        let mut problems: Vec<String> = scanned.problems.iter().map(|p| p.to_string()).collect();
        let rules = match Self::join(paths, &scanned.files) {
            Ok(set) => set.rule_count(),
            Err(e) => {
                problems.push(e.to_string());
                0
            }
        };
        Ok(RuleCheck {
            good_files: scanned.files.len(),
            rules,
            problems,
        })
    }

    pub fn file_count(&self) -> usize {
        self.files
    }

    pub fn rule_count(&self) -> usize {
        self.engine.detection_rule_count() + self.engine.correlation_rule_count()
    }

    /// Correlation windows held (group keys with state): for `/metrics`.
    pub fn windows_held(&self) -> usize {
        self.engine.state_count()
    }

    /// The event as Sigma sees it: Windows field names at the top level.
    fn event_json(ev: &IdentityEvent) -> Value {
        let mut m = Map::new();
        for (k, v) in &ev.data {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        // Samba's records carry their own field names: the identities riposte read from them
        // are given their Windows names too, so Windows Security rules see them.
        let mut alias = |k: &str, v: Option<String>| {
            if let Some(v) = v
                && !m.contains_key(k)
            {
                m.insert(k.to_string(), Value::String(v));
            }
        };
        alias("TargetUserName", ev.target.name.clone());
        alias("TargetDomainName", ev.target.domain.clone());
        alias("TargetSid", ev.target.sid.clone());
        alias("SubjectUserName", ev.actor.name.clone());
        alias("SubjectDomainName", ev.actor.domain.clone());
        alias("SubjectUserSid", ev.actor.sid.clone());
        alias("IpAddress", ev.source_ip.clone());
        alias("WorkstationName", ev.source_workstation.clone());
        alias("Status", ev.status.clone());
        alias("LogonType", ev.logon_type.map(|t| t.to_string()));
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
/// Who it names: see [`entities`].
fn to_alert(r: EvaluationResult, ev: &IdentityEvent) -> Alert {
    let h = &r.header;
    let (entities, description, count) = match r.as_correlation() {
        Some(c) => {
            let (entities, unvouched) = entities::of_correlation(ev, &c.group_key);
            let keys: Vec<String> = c
                .group_key
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut description = format!(
                "Sigma correlation {:?} reached {} within {} s for {}",
                c.correlation_type,
                c.aggregated_value,
                c.timespan_secs,
                keys.join(", ")
            );
            if let Some(named) = unvouched {
                description.push_str(&format!(
                    " (account {named} named by events anyone can cause: not listed as a user)"
                ));
            }
            (entities, description, c.aggregated_value.max(1.0) as u64)
        }
        None => {
            let (entities, unvouched) = entities::of_detection(ev);
            let mut description = format!("Sigma rule matched event {}", ev.event_id);
            if let Some(named) = unvouched {
                description.push_str(&format!(
                    " naming account {named} (anyone can cause this event for any account: not listed as a user)"
                ));
            }
            (entities, description, 1)
        }
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
