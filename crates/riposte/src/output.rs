//! What the commands print: text for people, one JSON object with --json.

use riposte_core::account::{AccountState, Snapshot};
use riposte_core::containment::Identity;
use riposte_core::evidence::Evidence;
use riposte_core::{time as adtime, uac};
use riposte_jobs::{Completed, view};
use riposte_store::{ChainReport, Job, JobEvent};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

fn time_text(filetime: i64) -> String {
    match filetime {
        0 => "0 (must change at next logon was asked)".into(),
        t => adtime::from_filetime(t)
            .map(adtime::rfc3339)
            .unwrap_or_else(|| t.to_string()),
    }
}

pub fn identity(identity: &Identity, json_output: bool) {
    if json_output {
        print_json(&view::identity(identity, None));
        return;
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!("{}  ({})", identity.reference(), identity.kind);
    if let Some(account) = &identity.ad {
        ad_account(account, yes_no);
    }
    for c in &identity.cloud {
        println!("  Entra ID {}:", c.tenant);
        println!("    UPN:           {}", c.user_principal_name);
        println!("    object id:     {}", c.id);
        println!(
            "    type:          {}{}",
            c.user_type,
            if c.synced { ", synced from AD" } else { "" }
        );
        println!("    enabled:       {}", yes_no(c.account_enabled));
        println!(
            "    sessions from: {}",
            c.sessions_valid_from.as_deref().unwrap_or("(unknown)")
        );
    }
    if let Some(error) = &identity.cloud_error {
        println!("  Entra ID:        could not be searched for linked accounts: {error}");
    }
    println!("  actions now:");
    for (action, word, why) in view::action_preview(identity) {
        println!("    {:<22} {:<14} {why}", action.as_str(), word);
    }
}

fn ad_account(account: &AccountState, yes_no: impl Fn(bool) -> &'static str) {
    println!("  Active Directory {}:", account.forest);
    println!("    DN:            {}", account.dn);
    println!(
        "    SID:           {}",
        account
            .sid
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    if let Some(upn) = &account.user_principal_name {
        println!("    UPN:           {upn}");
    }
    println!("    enabled:       {}", yes_no(account.enabled()));
    println!("    locked:        {}", yes_no(account.locked()));
    println!("    must change:   {}", view::must_change_text(account));
    println!("    password set:  {}", time_text(account.pwd_last_set));
    let blockers = account.forced_reset_blockers();
    println!(
        "    reset blockers: {}",
        if blockers.is_empty() {
            "none".to_string()
        } else {
            blockers.join(", ")
        }
    );
    println!(
        "    protected:     {}",
        if account.admin_count {
            "yes (adminCount=1, AdminSDHolder)"
        } else {
            "no"
        }
    );
    println!(
        "    UAC:           0x{:x} {}",
        account.user_account_control,
        uac::flag_names(account.user_account_control).join(" ")
    );
}

pub fn completed(done: &Completed, events: &[JobEvent], json_output: bool) {
    if done.replayed {
        eprintln!(
            "riposte: this idempotency key was used before; showing job {} instead of acting again",
            done.job.id
        );
    }
    job(
        &done.job,
        events,
        done.new_password.as_ref().map(|p| p.expose_secret()),
        json_output,
    );
}

pub fn job(job: &Job, events: &[JobEvent], new_password: Option<&str>, json_output: bool) {
    if json_output {
        let mut value = view::job(job, events);
        if let Some(p) = new_password {
            value["new_password"] = json!(p);
        }
        print_json(&value);
        return;
    }
    let outcome = if job.awaiting_approval() {
        "PENDING APPROVAL".to_string()
    } else {
        job.outcome
            .map(|o| o.as_str().to_uppercase())
            .unwrap_or_else(|| job.state.as_str().to_uppercase())
    };
    println!("job {}  {} {}", job.id, job.action, job.target_ref);
    println!(
        "  outcome:    {outcome}: {}",
        job.message.as_deref().unwrap_or("")
    );
    if let Some(dn) = &job.target_dn {
        println!(
            "  target:     {dn}{}",
            job.target_sid
                .as_deref()
                .map(|s| format!("  ({s})"))
                .unwrap_or_default()
        );
    }
    println!(
        "  requested:  by {} via {}, {}",
        job.requested_by,
        job.source,
        adtime::rfc3339(job.created_at)
    );
    println!("  reason:     {}", job.reason);
    if let Some(why) = &job.approval_reason {
        match &job.decided_by {
            Some(by) => println!(
                "  approval:   {} by {by} ({why})",
                job.approval.map(|a| a.as_str()).unwrap_or("")
            ),
            None => println!(
                "  approval:   waiting for a second person: {why}; `riposte actions approve {}`",
                job.id
            ),
        }
    }
    if let Some(e) = &job.evidence {
        evidence(e);
    }
    if !events.is_empty() {
        println!("  timeline:");
        for e in events {
            println!(
                "    {}  {:<9}{} {}",
                adtime::rfc3339(e.at),
                e.state.as_str(),
                e.phase
                    .as_deref()
                    .map(|p| format!(" [{p}]"))
                    .unwrap_or_default(),
                e.message
            );
        }
    }
    if let Some(p) = new_password {
        println!();
        println!(
            "  New password for {} (shown once, never stored): {p}",
            job.target_ref
        );
    }
}

fn snapshot_line(s: &Snapshot) -> String {
    format!(
        "userAccountControl 0x{:x} [{}], computed [{}], pwdLastSet {}, lockoutTime {}",
        s.user_account_control,
        s.user_account_control_flags.join(" "),
        s.uac_computed_flags.join(" "),
        s.pwd_last_set,
        s.lockout_time
    )
}

fn evidence(e: &Evidence) {
    if let Some(dc) = &e.dc {
        println!(
            "  DC:         {dc}{}",
            e.action_account
                .as_deref()
                .map(|a| format!(" as {a}"))
                .unwrap_or_default()
        );
    }
    if let Some(b) = &e.before {
        println!("  before:     {}", snapshot_line(b));
    }
    if let Some(a) = &e.after {
        println!("  after:      {}", snapshot_line(a));
    }
    for w in &e.writes {
        println!("  written:    {w}");
    }
    for m in &e.written_metadata {
        println!(
            "  metadata:   {} version {} at {} (USN {})",
            m.attribute, m.version, m.originating_time, m.originating_usn
        );
    }
    for n in &e.notes {
        println!("  note:       {n}");
    }
    for a in &e.attempts {
        println!("  attempt:    {a}");
    }
    if let Some(d) = &e.delegation {
        println!(
            "  to grant the missing right ({}), on {}:",
            d.missing.join(", "),
            d.container
        );
        if let Some(w) = &d.warning {
            println!("    WARNING: {w}");
        }
        for c in &d.samba_tool {
            println!("    {c}");
        }
        for c in &d.dsacls {
            println!("    {c}");
        }
        for c in &d.powershell {
            println!("    {c}");
        }
    }
}

pub fn job_list(jobs: &[Job], json_output: bool) {
    if json_output {
        print_json(&json!({ "jobs": jobs.iter().map(|j| view::job(j, &[])).collect::<Vec<_>>() }));
        return;
    }
    if jobs.is_empty() {
        println!("no jobs match");
        return;
    }
    println!(
        "{:<36}  {:<20}  {:<20}  {:<24}  {:<11}  requested by",
        "job", "created", "action", "target", "outcome"
    );
    for j in jobs {
        println!(
            "{:<36}  {:<20}  {:<20}  {:<24}  {:<11}  {}",
            j.id,
            adtime::rfc3339(j.created_at)
                .chars()
                .take(19)
                .collect::<String>(),
            j.action.as_str(),
            j.target_ref,
            j.outcome.map(|o| o.as_str()).unwrap_or(j.state.as_str()),
            j.requested_by
        );
    }
}

pub fn audit_report(report: &ChainReport, json_output: bool) {
    if json_output {
        print_json(&json!({
            "records": report.records,
            "intact": report.intact(),
            "first_break": report.first_break,
        }));
        return;
    }
    println!("records checked: {}", report.records);
    match &report.first_break {
        None => println!("intact"),
        Some(b) => println!("broken at seq {} ({}): {}", b.seq, b.kind, b.detail),
    }
}
