//! `riposte bulk`: mass containment from the command line. The bulk is
//! recorded through the runner (policy, safeguards, plan) and run here, in
//! this process, with the configured per-DC and per-tenant concurrency and a
//! progress bar (rate and ETA) on stderr when it is a terminal. Ctrl-C pauses
//! the bulk: running children finish, `riposte bulk resume` continues.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use riposte_core::policy::Principal;
use riposte_core::{Action, ActionOptions, Outcome};
use riposte_jobs::{BulkPlan, BulkRequest, BulkRun, Runner, Selector, view};
use riposte_store::{AlertStore, BulkOperation, BulkState};

use crate::credential;
use crate::exit::{self, UsageError};
use crate::reader::Reader;

#[derive(Subcommand, Debug)]
pub enum BulkCommand {
    /// Disable many accounts (an OU, a group's members, an alert's users, or a list).
    Disable(BulkArgs),
    /// Enable many accounts.
    Enable(BulkArgs),
    /// Require a password change at next logon on many accounts.
    ForcePasswordReset {
        #[command(flatten)]
        args: BulkArgs,
        /// Clear DONT_EXPIRE_PASSWORD / SMARTCARD_REQUIRED first (recorded in the evidence).
        #[arg(long)]
        clear_blocking_flags: bool,
    },
    /// Unlock many accounts.
    Unlock(BulkArgs),
    /// Entra ID: end the sign-in sessions of many accounts.
    RevokeSessions(BulkArgs),
    /// Recent bulk operations, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One bulk operation: state, counts, what was left out (and each job with --jobs).
    Show {
        id: String,
        #[arg(long)]
        jobs: bool,
    },
    /// No new child starts; running ones finish.
    Pause { id: String },
    /// Resume a paused bulk and run its remaining children here.
    Resume {
        id: String,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Queued children end failed ("cancelled before it started"); running ones finish.
    Cancel { id: String },
    /// Approve a bulk waiting for a second person (more accounts than [bulk] approval_above),
    /// and run it here. Needs a person's credential (RIPOSTE_TOKEN or --token-file).
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Reject a bulk waiting for a second person: it ends cancelled, nothing written.
    Reject {
        id: String,
        #[arg(long)]
        comment: String,
    },
    /// Re-enable exactly the accounts a disable bulk disabled (or the reverse), and run it here.
    Undo {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Args, Debug)]
pub struct BulkArgs {
    #[command(flatten)]
    selector: SelectorArgs,
    /// Why (required; kept in the ledger).
    #[arg(long)]
    reason: String,
    /// Show the count, the accounts, the protected ones it would skip and what cannot be resolved; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --group: also the members of its nested groups, at any depth.
    #[arg(long)]
    nested: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Exactly one way of naming the accounts.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct SelectorArgs {
    /// Every user under this OU (subtree); it must be inside a configured forest.
    #[arg(long)]
    ou: Option<String>,
    /// The direct members of this group (with --nested, its nested groups' too): forest:sAMAccountName or its DN.
    #[arg(long)]
    group: Option<String>,
    /// The users named by this stored alert.
    #[arg(long)]
    alert: Option<String>,
    /// References, one per line (or a JSON array); `-` reads standard input.
    #[arg(long)]
    from_file: Option<PathBuf>,
}

fn read_references(path: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("reading references from standard input")?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading references from {}", path.display()))?
    };
    if text.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<String>>(&text).map_err(|e| {
            UsageError(format!(
                "{}: a JSON list must be an array of strings: {e}",
                path.display()
            ))
            .into()
        });
    }
    Ok(text.lines().map(str::to_string).collect())
}

async fn selector(
    args: &SelectorArgs,
    nested: bool,
    alerts: &dyn AlertStore,
) -> anyhow::Result<Selector> {
    if nested && args.group.is_none() {
        return Err(UsageError(
            "--nested applies to --group only: it adds the members of the group's nested groups"
                .into(),
        )
        .into());
    }
    if let Some(ou) = &args.ou {
        return Ok(Selector::Ou(ou.clone()));
    }
    if let Some(group) = &args.group {
        return Ok(Selector::Group {
            group: group.clone(),
            nested,
        });
    }
    if let Some(alert) = &args.alert {
        let id = uuid::Uuid::parse_str(alert)
            .map_err(|_| UsageError(format!("--alert {alert:?} is not an alert id (a UUID)")))?;
        let found = alerts
            .get_alert(id)
            .await?
            .ok_or_else(|| UsageError(format!("no alert has the id {id}")))?;
        return Ok(Selector::Alert {
            id,
            users: found.alert.entities.users,
        });
    }
    let path = args
        .from_file
        .as_ref()
        .ok_or_else(|| UsageError("give --ou, --group, --alert or --from-file".into()))?;
    Ok(Selector::References(read_references(path)?))
}

pub async fn run(
    command: BulkCommand,
    runner: &Runner,
    alerts: &dyn AlertStore,
    principal: &Principal,
    json: bool,
) -> anyhow::Result<u8> {
    let (action, args, options) = match command {
        BulkCommand::Disable(a) => (Action::Disable, a, ActionOptions::default()),
        BulkCommand::Enable(a) => (Action::Enable, a, ActionOptions::default()),
        BulkCommand::Unlock(a) => (Action::Unlock, a, ActionOptions::default()),
        BulkCommand::RevokeSessions(a) => (Action::RevokeSessions, a, ActionOptions::default()),
        BulkCommand::ForcePasswordReset {
            args,
            clear_blocking_flags,
        } => (
            Action::ForcePasswordReset,
            args,
            ActionOptions {
                clear_blocking_flags,
                with_mfa: false,
            },
        ),
        BulkCommand::List { limit } => return list(Reader::new(runner), limit, json).await,
        BulkCommand::Show { id, jobs } => {
            return show_one(Reader::new(runner), &id, jobs, json).await;
        }
        BulkCommand::Pause { id } => {
            let bulk = runner.find_bulk(&id).await?;
            let bulk = runner.pause_bulk(principal, bulk.id, "cli").await?;
            show(&bulk, json);
            return Ok(exit::OK);
        }
        BulkCommand::Cancel { id } => {
            let bulk = runner.find_bulk(&id).await?;
            let bulk = runner.cancel_bulk(principal, bulk.id, "cli").await?;
            show(&bulk, json);
            return Ok(exit::OK);
        }
        BulkCommand::Approve { id, comment, quiet } => {
            credential::require_person(principal, "approving a bulk operation")?;
            let bulk = runner.find_bulk(&id).await?;
            let bulk = runner
                .decide_bulk(principal, bulk.id, true, &comment, "cli")
                .await?;
            return drive(runner, principal, &bulk, quiet || json, json).await;
        }
        BulkCommand::Reject { id, comment } => {
            credential::require_person(principal, "rejecting a bulk operation")?;
            let bulk = runner.find_bulk(&id).await?;
            let bulk = runner
                .decide_bulk(principal, bulk.id, false, &comment, "cli")
                .await?;
            show(&bulk, json);
            return Ok(exit::OK);
        }
        BulkCommand::Resume { id, quiet } => {
            let bulk = runner.find_bulk(&id).await?;
            let bulk = runner.resume_bulk(principal, bulk.id, "cli").await?;
            return drive(runner, principal, &bulk, quiet || json, json).await;
        }
        BulkCommand::Undo { id, reason, quiet } => {
            let bulk = runner.find_bulk(&id).await?;
            let (undo, plan) = runner
                .undo_bulk(principal, bulk.id, &reason, "cli", None)
                .await?;
            if !json && !quiet {
                print_left_out(&plan);
            }
            return drive(runner, principal, &undo, quiet || json, json).await;
        }
    };
    let request = BulkRequest {
        selector: selector(&args.selector, args.nested, alerts).await?,
        action,
        options,
        reason: args.reason.clone(),
        requested_by: principal.name.clone(),
        requester_person: principal.person.clone(),
        source: "cli".into(),
        remote_addr: None,
    };
    if args.dry_run {
        let plan = runner.dry_run_bulk(principal, &request).await?;
        if json {
            println!("{}", serde_json::json!({ "dry_run": true, "plan": plan }));
        } else {
            println!(
                "dry run: {} would act on {} account(s); nothing was changed",
                plan.action, plan.count
            );
            for a in &plan.accounts {
                let state = match a.enabled {
                    Some(true) => "enabled",
                    Some(false) => "disabled",
                    None => "cloud",
                };
                println!(
                    "  {:<30} {:<8} {}",
                    a.reference,
                    state,
                    a.dn.as_deref().unwrap_or("")
                );
            }
            print_left_out(&plan);
        }
        return Ok(exit::OK);
    }
    let (bulk, plan) = runner.start_bulk(principal, &request).await?;
    if !json && !args.quiet {
        print_left_out(&plan);
    }
    if riposte_store::bulk_awaiting_approval(&bulk) {
        // Nothing runs before a second person approves it.
        show(&bulk, json);
        return Ok(exit::PENDING_APPROVAL);
    }
    drive(runner, principal, &bulk, args.quiet || json, json).await
}

async fn list(reader: Reader<'_>, limit: u32, json: bool) -> anyhow::Result<u8> {
    let all = reader.bulks(limit).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "bulk": all.iter().map(|b| view::bulk(b, None)).collect::<Vec<_>>() })
        );
    } else {
        for b in &all {
            println!("{}", summary_line(b));
        }
    }
    Ok(exit::OK)
}

async fn show_one(reader: Reader<'_>, id: &str, jobs: bool, json: bool) -> anyhow::Result<u8> {
    let bulk = reader.find_bulk(id).await?;
    let children = if jobs {
        Some(reader.bulk_jobs(bulk.id).await?)
    } else {
        None
    };
    if json {
        println!("{}", view::bulk(&bulk, children.as_deref()));
    } else {
        print_bulk(&bulk);
        for j in children.iter().flatten() {
            println!(
                "  {}  {:<30} {:<9} {}",
                j.id,
                j.target_ref,
                j.outcome.map(|o| o.as_str()).unwrap_or(j.state.as_str()),
                j.message.as_deref().unwrap_or("")
            );
        }
    }
    Ok(exit::OK)
}

fn print_left_out(plan: &BulkPlan) {
    if !plan.protected.is_empty() {
        eprintln!("protected, skipped ({}):", plan.protected.len());
        for s in &plan.protected {
            eprintln!("  {}: {}", s.reference, s.reason);
        }
    }
    if !plan.skipped.is_empty() {
        eprintln!("skipped ({}):", plan.skipped.len());
        for s in &plan.skipped {
            eprintln!("  {} ({}): {}", s.reference, s.kind, s.reason);
        }
    }
    if !plan.unresolved.is_empty() {
        eprintln!("unresolved ({}):", plan.unresolved.len());
        for s in &plan.unresolved {
            eprintln!("  {}: {}", s.reference, s.reason);
        }
    }
}

/// Runs a bulk's remaining children here, with a progress bar; Ctrl-C pauses it.
async fn drive(
    runner: &Runner,
    principal: &Principal,
    bulk: &BulkOperation,
    quiet: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let bar = if quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(bulk.counts.total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} accounts  {per_sec}  ETA {eta}  {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    };
    bar.set_message(format!("{} (bulk {})", bulk.action, bulk.id));
    bar.set_position(bulk.counts.finished);
    let on_done = |_: &riposte_store::Job| bar.inc(1);
    let run = runner.run_bulk(bulk.id, &on_done);
    tokio::pin!(run);
    let result: Result<BulkRun, _> = tokio::select! {
        r = &mut run => r,
        _ = tokio::signal::ctrl_c() => {
            bar.suspend(|| eprintln!("riposte: pausing bulk {}: running accounts finish, none starts", bulk.id));
            if let Err(e) = runner.pause_bulk(principal, bulk.id, "cli").await {
                eprintln!("riposte: could not pause: {e}");
            }
            run.await
        }
    };
    bar.finish_and_clear();
    let run = result?;
    show(&run.bulk, json);
    Ok(exit_code(&run))
}

/// 0 all effective, 1 any failed (cancelled children included), 3 ineffective,
/// 4 denied; 5 when paused (it waits for someone to resume it).
fn exit_code(run: &BulkRun) -> u8 {
    if run.bulk.state == BulkState::Paused {
        return exit::PENDING_APPROVAL;
    }
    match run.weakest {
        None | Some(Outcome::Verified | Outcome::Already) => exit::OK,
        Some(Outcome::Ineffective) => exit::INEFFECTIVE,
        Some(Outcome::Denied) => exit::DENIED,
        Some(Outcome::Failed) => exit::FAILED,
    }
}

fn summary_line(b: &BulkOperation) -> String {
    let c = &b.counts;
    format!(
        "{}  {:<9} {:<10} {}:{}  {}/{} done (verified {}, already {}, failed {})  by {}",
        b.id,
        b.action.as_str(),
        b.state.as_str(),
        b.selector_kind,
        b.selector_value.lines().next().unwrap_or(""),
        c.finished,
        c.total,
        c.verified,
        c.already,
        c.failed + c.denied + c.ineffective,
        b.requested_by
    )
}

fn print_bulk(b: &BulkOperation) {
    println!("{}", summary_line(b));
    println!("  reason: {}", b.reason);
    let c = &b.counts;
    println!(
        "  queued {}, running {}, verified {}, already {}, ineffective {}, denied {}, failed {}",
        c.queued, c.running, c.verified, c.already, c.ineffective, c.denied, c.failed
    );
    if let Some(undo) = b.undo_of {
        println!("  undoes bulk {undo}");
    }
    for (kind, list) in b.skipped.as_object().into_iter().flatten() {
        for s in list.as_array().into_iter().flatten() {
            println!(
                "  left out ({kind}): {}: {}",
                s["reference"].as_str().unwrap_or(""),
                s["reason"].as_str().unwrap_or("")
            );
        }
    }
}

fn show(b: &BulkOperation, json: bool) {
    if json {
        println!("{}", view::bulk(b, None));
    } else {
        print_bulk(b);
        match b.state {
            BulkState::Paused if riposte_store::bulk_awaiting_approval(b) => println!(
                "  waiting for a second person: {}; `riposte bulk approve {}` (someone else, with their own credential) runs it, `riposte bulk reject {} --comment ...` ends it",
                b.approval_reason.as_deref().unwrap_or(""),
                b.id,
                b.id
            ),
            BulkState::Paused => println!(
                "  paused: `riposte bulk resume {}` continues, `riposte bulk cancel {}` stops it",
                b.id, b.id
            ),
            BulkState::Finished | BulkState::Cancelled if b.action.undo().is_some() => {
                println!("  `riposte bulk undo {} --reason ...` reverses it", b.id)
            }
            _ => {}
        }
    }
}
