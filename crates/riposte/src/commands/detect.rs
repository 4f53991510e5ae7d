//! `riposte detect`: offline hunting over log files with the built-in identity pack and
//! optional Sigma rules.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use riposte_detect::{Alert, DetectConfig, Detector, SigmaRules};
use riposte_events::Ingest;

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Files to read: .evtx, JSON lines / evtx_dump JSON / Winlogbeat, Samba log (by content).
    #[arg(required_unless_present = "check_rules")]
    files: Vec<PathBuf>,
    /// A directory of Sigma rules (*.yml, *.yaml; detection and correlation) to run as well.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Only check the Sigma rules under this folder (or file; repeatable): exit 0 with the
    /// count, or 1 naming each bad file and line. Reads no logs.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["files", "rules", "settings"])]
    check_rules: Vec<PathBuf>,
    /// Settings of the built-in pack (TOML: thresholds, admins, domain_controllers, ...);
    /// every setting has a default, so this is optional.
    #[arg(long)]
    settings: Option<PathBuf>,
}

#[derive(Debug)]
pub enum DetectError {
    Usage(String),
}

/// How many unreadable records are listed by location in the summary.
const SHOWN_ERRORS: usize = 10;

pub(crate) fn print_alert(out: &mut impl Write, a: &Alert, json: bool) -> std::io::Result<()> {
    if json {
        let line = serde_json::to_string(a).map_err(std::io::Error::other)?;
        return writeln!(out, "{line}");
    }
    let join = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    let time = |t: Option<time::OffsetDateTime>| {
        t.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
    };
    writeln!(
        out,
        "[{:?}] {} {} ({})\n  {}\n  users: {}  actors: {}  sources: {}  dcs: {}\n  {} .. {}, {} event(s); first: {}",
        a.severity,
        a.technique.as_deref().unwrap_or("-"),
        a.title,
        a.rule_id,
        a.description,
        join(&a.entities.users),
        join(&a.entities.actors),
        join(&a.entities.sources),
        join(&a.entities.dcs),
        time(a.first_seen),
        time(a.last_seen),
        a.event_count,
        a.events
            .first()
            .map(|e| e.origin.to_string())
            .unwrap_or_default(),
    )
}

/// `--check-rules`: every bad file with its line, or the count of good rules.
fn check_rules(paths: &[PathBuf], json: bool) -> Result<u8, DetectError> {
    let check = SigmaRules::check(paths).map_err(|e| DetectError::Usage(e.to_string()))?;
    let folders = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if json {
        println!(
            "{}",
            serde_json::json!({
                "rules": check.rules,
                "good_files": check.good_files,
                "problems": check.problems,
            })
        );
    } else {
        for p in &check.problems {
            println!("bad rule: {p}");
        }
    }
    if check.problems.is_empty() {
        eprintln!(
            "riposte detect: {} Sigma rule(s) in {} file(s) under {folders}: all parse",
            check.rules, check.good_files
        );
        Ok(crate::exit::OK)
    } else {
        eprintln!(
            "riposte detect: {} bad Sigma rule file(s) under {folders} (listed above; fix or remove each); {} file(s) parse",
            check.problems.len(),
            check.good_files
        );
        Ok(crate::exit::FAILED)
    }
}

pub fn run(args: &DetectArgs, json: bool) -> Result<u8, DetectError> {
    if !args.check_rules.is_empty() {
        return check_rules(&args.check_rules, json);
    }
    let settings = match &args.settings {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                DetectError::Usage(format!("cannot read settings {}: {e}", p.display()))
            })?;
            toml::from_str::<DetectConfig>(&text).map_err(|e| {
                DetectError::Usage(format!("settings {} are not valid: {e}", p.display()))
            })?
        }
        None => DetectConfig::default(),
    };
    // `--rules` and the settings' `rules` (relative to the settings file), as one set.
    let base = args
        .settings
        .as_deref()
        .and_then(|p| p.parent())
        .unwrap_or(std::path::Path::new(""));
    let rule_paths: Vec<PathBuf> = args
        .rules
        .iter()
        .cloned()
        .chain(settings.rules.iter().map(|r| base.join(r)))
        .collect();
    let sigma = if rule_paths.is_empty() {
        None
    } else {
        let s = SigmaRules::load(&rule_paths).map_err(|e| DetectError::Usage(e.to_string()))?;
        eprintln!(
            "riposte detect: {} Sigma rule(s) from {} file(s)",
            s.rule_count(),
            s.file_count()
        );
        Some(s)
    };
    let mut detector = Detector::new(settings, sigma);
    let mut ingest = Ingest::new(args.files.iter().cloned());
    let mut errors = Vec::new();
    let mut whole_files_failed = 0u64;
    let mut by_technique: BTreeMap<String, u64> = BTreeMap::new();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for item in ingest.by_ref() {
        match item {
            Ok(ev) => {
                for a in detector.process(&ev) {
                    *by_technique
                        .entry(a.technique.clone().unwrap_or_else(|| "-".into()))
                        .or_default() += 1;
                    if print_alert(&mut out, &a, json).is_err() {
                        // Output closed (e.g. piped into head): nothing more to say.
                        return Ok(crate::exit::OK);
                    }
                }
            }
            Err(e) => {
                if e.whole_file {
                    whole_files_failed += 1;
                }
                if errors.len() < SHOWN_ERRORS {
                    errors.push(e);
                }
            }
        }
    }
    let _ = out.flush();
    Ok(super::files_read::FilesRead {
        stats: ingest.stats(),
        errors: &errors,
        whole_files_failed,
        by_technique: &by_technique,
    }
    .report("detect", "alert(s)"))
}
