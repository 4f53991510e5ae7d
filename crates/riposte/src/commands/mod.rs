//! The command tree: the global flags and one module per command, each
//! owning its arguments (clap) and its handler. Handlers take only what
//! they need, from the composition root (`crate::app`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod actions;
pub mod audit;
pub mod bulk;
pub mod detect;
mod files_read;
pub mod ingest;
pub mod person;
pub mod person_reset_password;
pub mod person_reset_second_factor;
pub mod readiness;
pub mod serve;
pub mod token;
pub mod user;

#[derive(Parser, Debug)]
#[command(
    name = "riposte",
    version,
    about = "Contain a compromised identity, and record only outcomes read back from the directory"
)]
pub struct Cli {
    /// Config file (default: ./riposte.toml, then /etc/riposte/riposte.toml).
    #[arg(long, global = true, env = "RIPOSTE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Act as the API token in this file (its owner, role and scope) instead of the
    /// RIPOSTE_TOKEN variable; without either the CLI acts as the OS account (uid), which
    /// may not approve.
    #[arg(long, global = true)]
    pub(crate) token_file: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RIPOSTE_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Look at and act on accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// The job ledger: every action taken, with its outcome and evidence.
    #[command(subcommand)]
    Actions(actions::ActionsCommand),
    /// The audit trail: who did what, when, from where, with what result.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run the service: the REST API and the job worker (listens on [server] listen).
    Serve,
    /// API tokens for automation (shown once, stored hashed, revocable).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// People who sign in to the web portal (passwords stored as argon2id hashes).
    #[command(subcommand)]
    Person(person::PersonCommand),
    /// Hunt offline: run the built-in identity detections (and Sigma rules) over log files.
    /// Needs no config file. EVTX, Windows JSON (evtx_dump, Winlogbeat) and Samba audit logs.
    Detect(detect::DetectArgs),
    /// Mass containment: one action on many accounts (an OU, a group, an alert, a list),
    /// with a dry run, pause / resume / cancel and undo.
    #[command(subcommand)]
    Bulk(bulk::BulkCommand),
    /// Push log files through the live detection pipeline: alerts are stored in the ledger
    /// (listed by `GET /api/v1/alerts` and the portal) and printed.
    Ingest(ingest::IngestArgs),
    /// Before the incident: per forest and tenant, which actions will work on whom, why not,
    /// and the least-privilege change that would close each gap (never applied by riposte).
    Readiness(readiness::ReadinessArgs),
}
