//! riposte's command line. `run` parses arguments, runs one command and
//! returns the process exit status:
//! 0 verified or already, 3 ineffective, 4 denied, 1 failed, 2 bad usage,
//! 5 waiting for a second person's approval, 6 the ledger cannot be written
//! (disk full or read-only: nothing new was accepted); for `audit verify`,
//! 0 intact and 1 broken.
#![forbid(unsafe_code)]

/// `println!` that ends the process quietly when stdout is closed (e.g.
/// `riposte actions list | head`) instead of panicking on the broken pipe.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod audit;
mod bulk;
pub mod config;
mod credential;
mod detect;
mod ingest;
mod live;
mod output;
mod people;
mod readiness;
pub mod store;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use riposte_ad::AdDirectory;
use riposte_core::policy::{Principal, Role};
use riposte_core::{Action, ActionOptions, Outcome};
use riposte_jobs::{ActionRequest, Runner, RunnerError};
use riposte_store::{AlertStore, JobFilter, LeaderLock, Ledger, PeopleStore, Store, TokenStore};
use time::OffsetDateTime;

use crate::config::Config;

/// Exit statuses, one per kind of result.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INEFFECTIVE: u8 = 3;
    pub const DENIED: u8 = 4;
    /// A protected identity: the job waits for a second person's approval.
    pub const PENDING_APPROVAL: u8 = 5;
    /// The job ledger cannot be written (its disk is full or read-only):
    /// nothing new was accepted; jobs already accepted wait in the ledger.
    pub const LEDGER_UNWRITABLE: u8 = 6;
}

#[derive(Parser, Debug)]
#[command(
    name = "riposte",
    version,
    about = "Contain a compromised identity, and record only outcomes read back from the directory"
)]
struct Cli {
    /// Config file (default: ./riposte.toml, then /etc/riposte/riposte.toml).
    #[arg(long, global = true, env = "RIPOSTE_CONFIG")]
    config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Act as the API token in this file (its owner, role and scope) instead of the
    /// RIPOSTE_TOKEN variable; without either the CLI acts as the OS account (uid), which
    /// may not approve.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RIPOSTE_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Look at and act on accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The job ledger: every action taken, with its outcome and evidence.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// The audit trail: who did what, when, from where, with what result.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run the service: the REST API and the job worker (listens on [server] listen).
    Serve,
    /// API tokens for automation (shown once, stored hashed, revocable).
    #[command(subcommand)]
    Token(TokenCommand),
    /// People who sign in to the web portal (passwords stored as argon2id hashes).
    #[command(subcommand)]
    Person(PersonCommand),
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

#[derive(Subcommand, Debug)]
enum PersonCommand {
    /// Add a person; without --password-stdin a strong password is generated and printed once.
    Add {
        /// A unique sign-in name; the ledger names them user:<name>.
        #[arg(long)]
        name: String,
        /// reader, responder or admin.
        #[arg(long)]
        role: Role,
        /// Limit a responder to these forests (repeatable).
        #[arg(long = "forest")]
        forests: Vec<String>,
        /// Limit a responder to accounts under these OUs (DNs, repeatable).
        #[arg(long = "ou")]
        ous: Vec<String>,
        /// Limit a responder to these actions (repeatable).
        #[arg(long = "action")]
        actions: Vec<Action>,
        /// Read the password from the first line of standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Everyone who may sign in (never their passwords).
    List,
    /// Stop a person signing in; their sessions end at once.
    Disable { name: String },
    /// Let a disabled person sign in again.
    Enable { name: String },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print its secret once.
    Create {
        /// A unique name, e.g. the system that will use it.
        #[arg(long)]
        name: String,
        /// reader, responder, admin, or forwarder (may only post events; its scope
        /// bounds what automation may do on the events it sends).
        #[arg(long)]
        role: Role,
        /// Limit a responder to these forests (repeatable).
        #[arg(long = "forest")]
        forests: Vec<String>,
        /// Limit a responder to accounts under these OUs (DNs, repeatable).
        #[arg(long = "ou")]
        ous: Vec<String>,
        /// Limit a responder to these actions (repeatable).
        #[arg(long = "action")]
        actions: Vec<Action>,
        /// The person (`riposte person add`) the token belongs to: it acts, and may
        /// approve, as them. Without it, a service token, which can never approve.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Every token, live and revoked (never their secrets).
    List,
    /// Revoke a token by id: it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// An account's state: enabled, locked, must-change in force (or why not), protection.
    Show {
        /// corp:bert, bert@corp.example.test, a DN, a SID or an objectGUID.
        reference: String,
    },
    /// Disable the account (ACCOUNTDISABLE, keeping every other flag).
    Disable(ActionArgs),
    /// Enable the account.
    Enable(ActionArgs),
    /// Require a password change at next logon (pwdLastSet=0), checked for flags that would make AD ignore it.
    ForcePasswordReset {
        #[command(flatten)]
        args: ActionArgs,
        /// Clear DONT_EXPIRE_PASSWORD / SMARTCARD_REQUIRED first (recorded in the evidence).
        #[arg(long)]
        clear_blocking_flags: bool,
        /// In Entra ID, also require MFA before the new password (forceChangePasswordNextSignInWithMfa).
        #[arg(long)]
        with_mfa: bool,
    },
    /// Unlock a locked-out account (lockoutTime=0).
    Unlock(ActionArgs),
    /// Set a random password that meets AD complexity; shown once, never stored.
    SetPassword(ActionArgs),
    /// Entra ID: end every sign-in session (for a hybrid identity, a disable does this too).
    RevokeSessions(ActionArgs),
    /// Entra ID Protection: mark the user confirmed compromised.
    ConfirmCompromised(ActionArgs),
}

#[derive(Args, Debug)]
struct ActionArgs {
    /// corp:bert, bert@corp.example.test, a DN, a SID or an objectGUID.
    reference: String,
    /// Why (required; kept in the ledger).
    #[arg(long)]
    reason: String,
    /// Makes a retried request return the first job instead of acting twice.
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ActionsCommand {
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

/// Parses arguments and runs the command; the binary only sets up TLS first.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("riposte: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let bad_input = e.chain().any(|c| {
                c.downcast_ref::<config::ConfigError>().is_some()
                    || c.downcast_ref::<RunnerError>()
                        .is_some_and(RunnerError::is_bad_input)
                    || c.downcast_ref::<riposte_jobs::FindJobError>()
                        .is_some_and(|f| !matches!(f, riposte_jobs::FindJobError::Store(_)))
                    || c.downcast_ref::<UsageError>().is_some()
            });
            let unwritable = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<riposte_store::StoreError>(),
                    Some(riposte_store::StoreError::Unwritable { .. })
                ) || matches!(
                    c.downcast_ref::<RunnerError>(),
                    Some(RunnerError::Store(
                        riposte_store::StoreError::Unwritable { .. }
                    ))
                )
            });
            eprintln!("riposte: {e:#}");
            ExitCode::from(if unwritable {
                exit::LEDGER_UNWRITABLE
            } else if bad_input {
                exit::USAGE
            } else {
                exit::FAILED
            })
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RIPOSTE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    if let Command::Detect(args) = &cli.command {
        // Offline hunting: no config file, no directory, no ledger.
        return detect::run(args, cli.json).map_err(|e| match e {
            detect::DetectError::Usage(m) => UsageError(m).into(),
        });
    }
    if let Command::Audit(command) = &cli.command {
        // Reading the trail needs neither the directory nor job recovery,
        // which would append to the trail being read; keygen needs no config.
        return audit::run(command, cli.config.as_deref(), cli.json).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Ingest(args) = &cli.command {
        // Detection needs the alert store only, not the directory.
        let store = open_ledger(&config).await?;
        // Alerts from these files record who fed them: the CLI's operator.
        let operator = credential::operator(cli.token_file.as_deref(), store.as_ref()).await?;
        let alerts: Arc<dyn AlertStore> = store;
        return ingest::run(args, config.detect.clone(), alerts, &operator, cli.json).await;
    }
    if let Command::Readiness(args) = &cli.command {
        // Reads the directory only: no ledger, no job recovery.
        return readiness::run(args, &config, cli.json).await;
    }
    let directory = Arc::new(AdDirectory::new(config.forests.clone()).map_err(|e| {
        config::ConfigError::Invalid {
            path: config.path.clone(),
            message: e.to_string(),
        }
    })?);
    let store = open_ledger(&config).await?;
    let cloud: Option<Arc<dyn riposte_core::cloud::CloudDirectory>> = if config.tenants.is_empty() {
        None
    } else {
        Some(Arc::new(
            riposte_entra::EntraDirectory::new(config.tenants.clone())
                .context("setting up the Entra ID tenants")?,
        ))
    };
    let with_cloud = |runner: Runner| match &cloud {
        Some(c) => runner.with_cloud(c.clone()),
        None => runner,
    };
    let tokens: Arc<dyn TokenStore> = store.clone();
    let store_for_tokens = store.clone();
    let people: Arc<dyn PeopleStore> = store.clone();
    let ledger: Arc<dyn Ledger> = store.clone();
    if matches!(cli.command, Command::Serve) {
        let leader: Arc<dyn LeaderLock> = store.clone();
        let alerts: Arc<dyn AlertStore> = store.clone();
        let runner = Arc::new(
            with_cloud(Runner::new(ledger, directory))
                .with_lease(config.job_lease)
                .with_protection(config.protection())
                .with_circuit_breaker(config.automation.circuit_breaker)
                .with_bulk_limits(config.bulk)
                .with_queue_notifications(),
        );
        let pipeline = Arc::new(live::pipeline(&config, runner.directory(), alerts).await);
        let options = riposte_server::ServeOptions {
            listen: config.listen,
            poll: std::time::Duration::from_secs(1),
            tail: config
                .ingest
                .iter()
                .map(|(forest, path)| riposte_server::ingest::TailSource {
                    name: forest.clone(),
                    path: path.clone(),
                    offset_file: Some(
                        config
                            .data_dir
                            .join("ingest")
                            .join(format!("{forest}.offset")),
                    ),
                })
                .collect(),
            readiness: Arc::new(riposte_server::readiness::ReadinessService::new(
                readiness::sources(&config)?,
                config.readiness_refresh,
            )),
            leader,
            // Often enough that a dead node's jobs wait about one lease.
            sweep: (config.job_lease / 3).clamp(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(60),
            ),
            tls: config.tls.clone(),
            insecure_http: config.insecure_http,
            limits: config.limits.clone(),
            alert_retention: config.alerts.clone(),
        };
        live::respond_to_alerts(&config, &runner, &pipeline)?;
        riposte_server::serve(options, runner, tokens, people, pipeline, shutdown_signal()).await?;
        if config.audit.signing_key.is_some() {
            // A clean shutdown signs the trail up to its last record.
            riposte_store::checkpoint_now(store.as_ref())
                .await
                .context("signing the audit checkpoint at shutdown")?;
        }
        return Ok(exit::OK);
    }
    let operator = credential::operator(cli.token_file.as_deref(), store.as_ref()).await?;
    let runner = with_cloud(Runner::new(ledger, directory))
        .with_lease(config.job_lease)
        .with_protection(config.protection())
        .with_bulk_limits(config.bulk);
    recover(&runner).await;
    match cli.command {
        Command::Bulk(cmd) => {
            bulk::run(cmd, &runner, store_for_tokens.as_ref(), &operator, cli.json).await
        }
        Command::Serve | Command::Detect(_) | Command::Ingest(_) | Command::Readiness(_) => {
            unreachable!("handled above")
        }
        Command::Token(cmd) => {
            administer(&operator)?;
            people::token(cmd, store_for_tokens.as_ref(), &operator, cli.json).await
        }
        Command::Person(cmd) => {
            administer(&operator)?;
            people::person(cmd, people.as_ref(), &operator, cli.json).await
        }
        Command::User(UserCommand::Show { reference }) => {
            let identity = runner.find_identity(&reference).await?;
            output::identity(&identity, cli.json);
            Ok(exit::OK)
        }
        Command::User(cmd) => {
            let (action, args, options) = match cmd {
                UserCommand::Disable(a) => (Action::Disable, a, ActionOptions::default()),
                UserCommand::Enable(a) => (Action::Enable, a, ActionOptions::default()),
                UserCommand::Unlock(a) => (Action::Unlock, a, ActionOptions::default()),
                UserCommand::SetPassword(a) => (Action::SetPassword, a, ActionOptions::default()),
                UserCommand::RevokeSessions(a) => {
                    (Action::RevokeSessions, a, ActionOptions::default())
                }
                UserCommand::ConfirmCompromised(a) => {
                    (Action::ConfirmCompromised, a, ActionOptions::default())
                }
                UserCommand::ForcePasswordReset {
                    args,
                    clear_blocking_flags,
                    with_mfa,
                } => (
                    Action::ForcePasswordReset,
                    args,
                    ActionOptions {
                        clear_blocking_flags,
                        with_mfa,
                    },
                ),
                UserCommand::Show { .. } => unreachable!("handled above"),
            };
            let completed = runner
                .submit_as(
                    &operator,
                    ActionRequest {
                        reference: args.reference,
                        action,
                        options,
                        reason: args.reason,
                        requested_by: operator.name.clone(),
                        requester_person: operator.person.clone(),
                        source: "cli".into(),
                        idempotency_key: args.idempotency_key,
                        remote_addr: None,
                        evidence_input: None,
                    },
                )
                .await?;
            let events = runner.store().events(completed.job.id).await?;
            output::completed(&completed, &events, cli.json);
            Ok(exit_code(&completed.job))
        }
        Command::Actions(ActionsCommand::List {
            target,
            action,
            outcome,
            since,
            limit,
        }) => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let jobs = runner
                .store()
                .list(&JobFilter {
                    target,
                    action,
                    outcome,
                    since,
                    limit: Some(limit),
                    ..JobFilter::default()
                })
                .await?;
            output::job_list(&jobs, cli.json);
            Ok(exit::OK)
        }
        Command::Actions(ActionsCommand::Approve { job, comment }) => {
            decide(&runner, &operator, &job, true, &comment, cli.json).await
        }
        Command::Actions(ActionsCommand::Reject { job, comment }) => {
            decide(&runner, &operator, &job, false, &comment, cli.json).await
        }
        Command::Actions(ActionsCommand::Show { job }) => {
            let job = runner.find_job(&job).await?;
            let events = runner.store().events(job.id).await?;
            output::job(&job, &events, None, cli.json);
            Ok(exit::OK)
        }
        Command::Audit(_) => unreachable!("handled before the directory is set up"),
    }
}

/// Managing people and tokens: the OS account holding the configuration,
/// or a credential with the admin role.
fn administer(operator: &Principal) -> anyhow::Result<()> {
    riposte_core::policy::authorize(operator, &riposte_core::policy::Permission::Administer)
        .map_err(|r| UsageError(r.to_string()).into())
        .map(|_| ())
}

async fn decide(
    runner: &Runner,
    operator: &Principal,
    job: &str,
    approve: bool,
    comment: &str,
    json_output: bool,
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
    output::job(&done, &events, None, json_output);
    Ok(exit_code(&done))
}

/// Completes on Ctrl-C or SIGTERM: the service then drains and stops.
/// Resolves at SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when first polled: a signal that arrives while the service
/// is still starting then stops it cleanly (and its audit checkpoint is
/// signed) instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(term) => {}
            _ = wait(interrupt) => {}
        }
        eprintln!(
            "riposte: stopping: no new requests; the running job finishes, queued jobs stay queued"
        );
    }
}

/// The ledger the configuration names (SQLite or PostgreSQL); the error
/// names the file or server (never a password).
/// The ledger, signing audit checkpoints when `[audit] signing_key` is set.
async fn open_ledger(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let signer = audit::load_signer(config)?;
    Ok(store::open_store(&config.database, signer).await?)
}

/// Brings jobs interrupted by a crash to a final, re-verified outcome.
async fn recover(runner: &Runner) {
    match runner.recover_interrupted().await {
        Ok(jobs) => {
            for job in jobs {
                eprintln!(
                    "riposte: job {} ({} {}) was interrupted; re-verified: {} — {}",
                    job.id,
                    job.action,
                    job.target_ref,
                    job.outcome.map(|o| o.as_str()).unwrap_or("?"),
                    job.message.as_deref().unwrap_or("")
                );
            }
        }
        Err(e) => eprintln!("riposte: could not recover interrupted jobs: {e}"),
    }
}

pub fn exit_code(job: &riposte_store::Job) -> u8 {
    if job.awaiting_approval() {
        return exit::PENDING_APPROVAL;
    }
    match job.outcome {
        Some(Outcome::Verified | Outcome::Already) => exit::OK,
        Some(Outcome::Ineffective) => exit::INEFFECTIVE,
        Some(Outcome::Denied) => exit::DENIED,
        Some(Outcome::Failed) | None => exit::FAILED,
    }
}

fn parse_since(text: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| {
        UsageError(format!(
            "--since {text:?}: give an RFC 3339 time or an age such as 30m, 2h, 7d"
        ))
    })?;
    let age = match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => {
            return Err(
                UsageError(format!("--since {text:?}: the unit must be s, m, h or d")).into(),
            );
        }
    };
    Ok(OffsetDateTime::now_utc() - age)
}
