//! `riposte actions`: the job ledger (list, show), and a second person's
//! decision on a job waiting for approval.

use clap::Subcommand;
use riposte_core::policy::Principal;
use riposte_core::{Action, Outcome};
use riposte_jobs::Runner;
use riposte_store::JobFilter;

use crate::reader::Reader;
use crate::since::parse_since;
use crate::{credential, exit, output};

#[derive(Subcommand, Debug)]
pub enum ActionsCommand {
    /// Recent jobs, newest first.
    List {
        /// Target reference, DN or SID (substring).
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        action: Option<Action>,
        #[arg(long)]
        outcome: Option<Outcome>,
        /// Only jobs since this time (RFC 3339, e.g. 2026-11-26T10:00:00Z) or age (30m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job: its target, reason, outcome, timeline and evidence.
    Show {
        /// Job id, or a unique start of it.
        job: String,
    },
    /// Approve a job waiting for a second person, and run it.
    Approve {
        job: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Reject a job waiting for a second person: it ends denied, nothing written.
    Reject {
        job: String,
        #[arg(long)]
        comment: String,
    },
}

pub async fn run(
    command: ActionsCommand,
    runner: &Runner,
    operator: &Principal,
    json: bool,
) -> anyhow::Result<u8> {
    match command {
        ActionsCommand::List {
            target,
            action,
            outcome,
            since,
            limit,
        } => {
            let filter = JobFilter {
                target,
                action,
                outcome,
                since: since.as_deref().map(parse_since).transpose()?,
                limit: Some(limit),
                ..JobFilter::default()
            };
            list(Reader::new(runner), &filter, json).await
        }
        ActionsCommand::Show { job } => show(Reader::new(runner), &job, json).await,
        ActionsCommand::Approve { job, comment } => {
            decide(runner, operator, &job, true, &comment, json).await
        }
        ActionsCommand::Reject { job, comment } => {
            decide(runner, operator, &job, false, &comment, json).await
        }
    }
}

async fn list(reader: Reader<'_>, filter: &JobFilter, json: bool) -> anyhow::Result<u8> {
    let jobs = reader.jobs(filter).await?;
    output::job_list(&jobs, json);
    Ok(exit::OK)
}

async fn show(reader: Reader<'_>, job: &str, json: bool) -> anyhow::Result<u8> {
    let job = reader.find_job(job).await?;
    let events = reader.events(job.id).await?;
    output::job(&job, &events, None, json);
    Ok(exit::OK)
}

async fn decide(
    runner: &Runner,
    operator: &Principal,
    job: &str,
    approve: bool,
    comment: &str,
    json: bool,
) -> anyhow::Result<u8> {
    credential::require_person(
        operator,
        if approve {
            "approving a job"
        } else {
            "rejecting a job"
        },
    )?;
    let job = runner.find_job(job).await?;
    let decided = runner
        .decide(job.id, operator, "cli", approve, comment)
        .await?;
    let done = if approve {
        runner.run_job(decided.id).await?.job
    } else {
        decided
    };
    let events = runner.store().events(done.id).await?;
    output::job(&done, &events, None, json);
    Ok(exit::for_job(&done))
}
