//! `riposte readiness`: which actions will work on whom, before the incident.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riposte_core::readiness::{
    self, ActionCoverage, Fix, ForestReadiness, GapReason, ReadinessReport, ReadinessSource,
    TenantReadiness,
};

use crate::exit::{self, UsageError};

#[derive(clap::Args, Debug)]
pub struct ReadinessArgs {
    /// Print one gap group, whole, as CSV and nothing else: SCOPE:ACTION:REASON,
    /// e.g. corp:force-password-reset:forced-reset-ineffective.
    #[arg(long, value_name = "SCOPE:ACTION:REASON")]
    csv: Option<String>,
    /// List every account of each gap group (default: the first 10).
    #[arg(long)]
    all: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

/// Assesses `sources` (the configured forests, then tenants) and prints the report.
pub async fn run(
    args: &ReadinessArgs,
    config_path: &Path,
    sources: &[Arc<dyn ReadinessSource>],
    json: bool,
) -> anyhow::Result<u8> {
    let csv = args.csv.as_deref().map(parse_group).transpose()?;
    if sources.is_empty() {
        return Err(UsageError(format!(
            "{} configures no [[forest]] and no [[tenant]]: there is nothing to assess",
            config_path.display()
        ))
        .into());
    }
    let bar = (!args.quiet && !json && csv.is_none() && std::io::stderr().is_terminal())
        .then(progress_bar);
    let started = Instant::now();
    let tick = {
        let bar = bar.clone();
        move |scope: &str, users: u64| {
            if let Some(bar) = &bar {
                bar.set_position(users);
                bar.set_message(scope.to_string());
            }
        }
    };
    let refs: Vec<&dyn ReadinessSource> = sources.iter().map(|s| s.as_ref()).collect();
    let report = readiness::assess(&refs, &tick).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "readiness assessed"
    );
    let mut out = std::io::stdout().lock();
    if let Some((scope, action, reason)) = csv {
        let Some(group) = report.group(&scope, &action, reason) else {
            write!(out, "account,sam_account_name,reason,detail\r\n")?;
            return Ok(exit::OK);
        };
        out.write_all(readiness::group_csv(group).as_bytes())?;
        return Ok(exit::OK);
    }
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(
            out,
            "{}",
            human(&report, if args.all { usize::MAX } else { 10 })
        )?;
    }
    let unassessed = report
        .forests
        .iter()
        .any(|f| f.users_scanned == 0 && f.error.is_some())
        || report
            .tenants
            .iter()
            .any(|t| t.users_scanned == 0 && t.error.is_some());
    Ok(if unassessed { exit::FAILED } else { exit::OK })
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg}: {pos} users judged ({per_sec}, {elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn parse_group(text: &str) -> anyhow::Result<(String, String, GapReason)> {
    let parts: Vec<&str> = text.splitn(3, ':').collect();
    let [scope, action, reason] = parts.as_slice() else {
        return Err(UsageError(format!(
            "--csv {text:?}: expected SCOPE:ACTION:REASON, e.g. corp:force-password-reset:forced-reset-ineffective"
        ))
        .into());
    };
    let reason = GapReason::parse(reason).ok_or_else(|| {
        UsageError(format!(
            "--csv: {reason:?} is not a gap reason; use one of {}",
            GapReason::ALL.map(|r| r.as_str()).join(", ")
        ))
    })?;
    Ok((scope.to_string(), action.to_string(), reason))
}

/// The report for a person.
pub fn human(report: &ReadinessReport, per_group: usize) -> String {
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(format!(
        "Readiness at {} (took {:.1} s). riposte never changes permissions: the fixes below are for you to review and apply.",
        report.generated_at,
        report.duration_ms as f64 / 1000.0
    ));
    for f in &report.forests {
        forest(f, per_group, &mut line);
    }
    for t in &report.tenants {
        tenant(t, per_group, &mut line);
    }
    o
}

fn forest(f: &ForestReadiness, per_group: usize, line: &mut impl FnMut(String)) {
    line(String::new());
    line(format!("Forest {} ({})", f.name, f.base_dn));
    match &f.action_account {
        Some(a) => line(format!(
            "  Action account: {} ({}), {}",
            a.dn,
            a.sid.as_deref().unwrap_or("SID unknown"),
            f.bind_method
        )),
        None => line(format!("  Bind: {}", f.bind_method)),
    }
    for dc in &f.dcs {
        let mut parts = vec![if dc.reached {
            "reached".to_string()
        } else {
            "NOT reached".to_string()
        }];
        if let Some(tls) = &dc.tls {
            parts.push(format!(
                "TLS ({}) verified: {}, issued by {}, expires {} ({} days)",
                tls.mode, tls.subject, tls.issuer, tls.not_after, tls.days_left
            ));
        }
        if let Some(skew) = dc.clock_skew_secs {
            let warn = if skew.abs() > 300 {
                " (over Kerberos' 5 minutes!)"
            } else {
                ""
            };
            parts.push(format!("clock skew {skew:+} s{warn}"));
        }
        if let Some(e) = &dc.error {
            parts.push(format!("error: {e}"));
        }
        line(format!("  DC {}: {}", dc.url, parts.join("; ")));
    }
    if let Some(e) = &f.error {
        line(format!("  ERROR: {e}"));
    }
    line(format!("  Users judged: {}", f.users_scanned));
    if !f.ous.is_empty() {
        line("  Rights per OU (users the action account may act on / users):".into());
        for ou in &f.ous {
            let actions: Vec<String> = ou
                .actions
                .iter()
                .map(|a| {
                    if a.permitted == ou.users {
                        format!("{} yes", a.action)
                    } else {
                        format!("{} {}/{}", a.action, a.permitted, ou.users)
                    }
                })
                .collect();
            line(format!(
                "    {} ({} users): {}",
                ou.dn,
                ou.users,
                actions.join(", ")
            ));
        }
    }
    coverage(&f.coverage, per_group, line);
    fixes(&f.fixes, line);
}

fn tenant(t: &TenantReadiness, per_group: usize, line: &mut impl FnMut(String)) {
    line(String::new());
    line(format!("Tenant {} ({})", t.name, t.tenant_id));
    line(format!(
        "  Application permissions: {}",
        if t.app_permissions.is_empty() {
            "none".into()
        } else {
            t.app_permissions.join(", ")
        }
    ));
    line(format!(
        "  Directory roles: {}",
        if t.directory_roles.is_empty() {
            "none".into()
        } else {
            t.directory_roles.join(", ")
        }
    ));
    if let Some(e) = &t.error {
        line(format!("  ERROR: {e}"));
    }
    line(format!("  Users judged: {}", t.users_scanned));
    coverage(&t.coverage, per_group, line);
    fixes(&t.fixes, line);
}

fn coverage(coverage: &[ActionCoverage], per_group: usize, line: &mut impl FnMut(String)) {
    if coverage.is_empty() {
        return;
    }
    line("  Coverage per action:".into());
    for c in coverage {
        let groups: Vec<String> = c
            .groups
            .iter()
            .map(|g| format!("{} {}", g.count, g.reason.as_str()))
            .collect();
        line(format!(
            "    {:<22} {:>3}%  {} covered, {} not{}",
            c.action,
            c.percent(),
            c.covered,
            c.not_covered,
            if groups.is_empty() {
                String::new()
            } else {
                format!(" ({})", groups.join(", "))
            }
        ));
    }
    for c in coverage {
        for g in &c.groups {
            line(format!("  {} — {} ({}):", c.action, g.label, g.count));
            for a in g.accounts.iter().take(per_group) {
                line(format!("    {}  [{}]", a.name, a.detail));
            }
            if g.accounts.len() > per_group {
                line(format!(
                    "    ... {} more (--all, or --csv SCOPE:{}:{})",
                    g.accounts.len() - per_group,
                    c.action,
                    g.reason.as_str()
                ));
            }
        }
    }
}

fn fixes(fixes: &[Fix], line: &mut impl FnMut(String)) {
    if fixes.is_empty() {
        return;
    }
    line("  Fixes (least privilege; review, then apply yourself):".into());
    for (i, f) in fixes.iter().enumerate() {
        line(format!(
            "    {}. [{}] {} ({} accounts)",
            i + 1,
            f.reason.as_str(),
            f.summary,
            f.accounts
        ));
        if let Some(d) = &f.delegation {
            if let Some(w) = &d.warning {
                line(format!("       WARNING: {w}"));
            }
            line("       Samba:".into());
            for c in &d.samba_tool {
                line(format!("         {c}"));
            }
            line("       Windows (dsacls):".into());
            for c in &d.dsacls {
                line(format!("         {c}"));
            }
            line("       Windows (PowerShell):".into());
            for c in &d.powershell {
                line(format!("         {c}"));
            }
        }
        for p in &f.graph_permissions {
            line(format!(
                "       Graph application permission to grant (admin consent): {p}"
            ));
        }
    }
}
