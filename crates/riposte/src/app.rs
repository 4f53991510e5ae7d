//! The composition root: the one place that reads the configuration, opens
//! the ledger, builds the directories and the Runner, and decides what each
//! command gets. Each is built at most once per process, and only for the
//! commands that need it: `detect` and `audit keygen` get no configuration,
//! `audit verify` / `export` a ledger opened without the signing key,
//! `readiness` the directories only, `ingest` the alert store only; a
//! command that may act gets the Runner (after interrupted jobs are
//! recovered) and who the CLI acts as; token and person management gets
//! the store and an [`Admin`], never the Runner.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use riposte_ad::AdDirectory;
use riposte_core::cloud::CloudDirectory;
use riposte_core::policy::Principal;
use riposte_core::readiness::ReadinessSource;
use riposte_entra::{EntraDirectory, TenantSettings};
use riposte_jobs::Runner;
use riposte_store::Store;

use crate::admin::Admin;
use crate::commands::audit::{self, AuditCommand};
use crate::commands::{self, Cli, Command};
use crate::config::{Config, ConfigError};
use crate::exit::{self, UsageError};
use crate::{credential, signing_key, store};

/// Runs the parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> ExitCode {
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
    // Commands that act on accounts open a TLS connection to a DC.
    let seeding = matches!(
        cli.command,
        Command::User(_) | Command::Actions(_) | Command::Bulk(_)
    )
    .then(seed_tls_randomness_in_background);
    let result = runtime.block_on(dispatch(cli));
    // Never leave while aws-lc is still seeding: its exit-time destructor
    // frees the state the seeding thread is about to read. Once an action
    // has used TLS the seeding is long over; only an early error waits.
    if let Some(Some(seeding)) = seeding {
        let _ = seeding.join();
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("riposte: {e:#}");
            ExitCode::from(exit::for_error(&e))
        }
    }
}

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
    let json = cli.json;
    let root = Root {
        config_path: cli.config,
        token_file: cli.token_file,
    };
    match cli.command {
        // Offline hunting: no config file, no directory, no ledger.
        Command::Detect(args) => commands::detect::run(&args, json).map_err(|e| match e {
            commands::detect::DetectError::Usage(m) => UsageError(m).into(),
        }),
        // Reading the trail needs neither the directory nor job recovery,
        // which would append to the trail being read.
        Command::Audit(command) => run_audit(command, &root, json).await,
        Command::Readiness(args) => {
            // Reads the directories only: no ledger, no job recovery.
            let config = root.config()?;
            let directories = Directories::new(&config)?;
            commands::readiness::run(
                &args,
                &config.path,
                &directories.readiness_sources(&config),
                json,
            )
            .await
        }
        Command::Ingest(args) => {
            // Detection needs the alert store only, not the directory.
            let config = root.config()?;
            // A bad `[detect] rules` file stops here, before anything is read or stored.
            let sigma = crate::live::sigma_rules(&config, "ingest")?;
            let store = open_ledger(&config).await?;
            // Alerts from these files record who fed them: the CLI's operator.
            let operator = root.operator(store.as_ref()).await?;
            commands::ingest::run(&args, config.detect, sigma, store, &operator, json).await
        }
        Command::Serve => {
            let config = root.config()?;
            let directories = Directories::new(&config)?;
            let store = open_ledger(&config).await?;
            // The service's worker waits for jobs queued in this process.
            let runner = directories
                .runner(&config, store.clone())
                .with_queue_notifications();
            let readiness = directories.readiness_sources(&config);
            commands::serve::run(config, store, Arc::new(runner), readiness).await
        }
        Command::User(command) => {
            let r = root.responder().await?;
            commands::user::run(command, &r.runner, &r.operator, json).await
        }
        Command::Actions(command) => {
            let r = root.responder().await?;
            commands::actions::run(command, &r.runner, &r.operator, json).await
        }
        Command::Bulk(command) => {
            let r = root.responder().await?;
            commands::bulk::run(command, &r.runner, r.store.as_ref(), &r.operator, json).await
        }
        Command::Token(command) => {
            let r = root.responder().await?;
            let admin = Admin::check(r.operator)?;
            commands::token::run(command, r.store.as_ref(), &admin, json).await
        }
        Command::Person(command) => {
            let r = root.responder().await?;
            let admin = Admin::check(r.operator)?;
            commands::person::run(command, r.store.as_ref(), &admin, json).await
        }
    }
}

async fn run_audit(command: AuditCommand, root: &Root, json: bool) -> anyhow::Result<u8> {
    if let AuditCommand::Keygen { out, public_out } = &command {
        return audit::keygen(out, public_out.as_deref(), json);
    }
    let config = root.config()?;
    if let AuditCommand::Checkpoint = command {
        let signer = signing_key::load(&config)?.ok_or_else(audit::no_signing_key)?;
        let key_id = signer.key_id().to_string();
        let store = store::open_store(&config.database, Some(signer)).await?;
        return audit::checkpoint(store.as_ref(), &key_id, json).await;
    }
    // Reading the trail needs no signing key: an auditor holds only the
    // public key. Nothing here appends.
    let log = store::open_store(&config.database, None).await?;
    match command {
        AuditCommand::Verify { public_keys } => {
            audit::verify(log.as_ref(), &config.audit, &public_keys, json).await
        }
        AuditCommand::Export { since, format } => {
            audit::export(log.as_ref(), since.as_deref(), format).await
        }
        AuditCommand::Checkpoint | AuditCommand::Keygen { .. } => unreachable!("handled above"),
    }
}

/// The global flags that say where the configuration is and who the CLI acts as.
struct Root {
    config_path: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

/// What a command on accounts, jobs, bulks, tokens or people gets: the
/// ledger, the Runner (interrupted jobs already recovered) and who acts.
struct Responder {
    store: Arc<dyn Store>,
    runner: Runner,
    operator: Principal,
}

impl Root {
    fn config(&self) -> Result<Config, ConfigError> {
        Config::load(self.config_path.as_deref())
    }

    /// Who the CLI acts as (`--token-file`, `RIPOSTE_TOKEN`, else the OS account).
    async fn operator(&self, store: &dyn Store) -> anyhow::Result<Principal> {
        credential::operator(self.token_file.as_deref(), store).await
    }

    async fn responder(&self) -> anyhow::Result<Responder> {
        let config = self.config()?;
        let (directories, store) = Directories::with_ledger(&config).await?;
        let operator = self.operator(store.as_ref()).await?;
        let runner = directories.runner(&config, store.clone());
        recover(&runner).await;
        Ok(Responder {
            store,
            runner,
            operator,
        })
    }
}

/// The directories the configuration names, each set up once: the AD
/// forests (connected lazily) and, when tenants are configured, Entra ID.
struct Directories {
    ad: Arc<AdDirectory>,
    cloud: Option<Arc<EntraDirectory>>,
}

impl Directories {
    fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Directories {
            ad: Self::forests(config)?,
            cloud: Self::tenants(config.tenants.clone())?,
        })
    }

    /// The directories and the ledger, for a command that acts: the Entra
    /// tenants' HTTP clients (which load the platform's CA roots, CPU work)
    /// are built on a blocking thread while the ledger opens. The errors are
    /// the same, in the same order, as building first and opening after
    /// (when the tenants cannot be set up, the ledger has been opened).
    async fn with_ledger(config: &Config) -> anyhow::Result<(Self, Arc<dyn Store>)> {
        let ad = Self::forests(config)?;
        let tenants = config.tenants.clone();
        let cloud = tokio::task::spawn_blocking(move || Self::tenants(tenants));
        let ledger = open_ledger(config).await;
        let cloud = cloud.await.context("setting up the Entra ID tenants")??;
        Ok((Directories { ad, cloud }, ledger?))
    }

    fn forests(config: &Config) -> anyhow::Result<Arc<AdDirectory>> {
        let ad = AdDirectory::new(config.forests.clone()).map_err(|e| ConfigError::Invalid {
            path: config.path.clone(),
            message: e.to_string(),
        })?;
        Ok(Arc::new(ad))
    }

    fn tenants(tenants: Vec<TenantSettings>) -> anyhow::Result<Option<Arc<EntraDirectory>>> {
        if tenants.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(
            EntraDirectory::new(tenants).context("setting up the Entra ID tenants")?,
        )))
    }

    /// The Runner, with every setting the configuration gives it.
    fn runner(&self, config: &Config, ledger: Arc<dyn Store>) -> Runner {
        let runner = Runner::new(ledger, self.ad.clone())
            .with_lease(config.job_lease)
            .with_protection(config.protection())
            .with_circuit_breaker(config.automation.circuit_breaker)
            .with_bulk_limits(config.bulk);
        match &self.cloud {
            Some(cloud) => runner.with_cloud(cloud.clone() as Arc<dyn CloudDirectory>),
            None => runner,
        }
    }

    /// What readiness assesses: the configured forests, then the tenants.
    fn readiness_sources(&self, config: &Config) -> Vec<Arc<dyn ReadinessSource>> {
        let mut sources: Vec<Arc<dyn ReadinessSource>> = Vec::new();
        if !config.forests.is_empty() {
            sources.push(self.ad.clone());
        }
        if let Some(cloud) = &self.cloud {
            sources.push(cloud.clone());
        }
        sources
    }
}

/// Seeds the TLS crypto provider's random generator on a thread of its own,
/// while the command reads the configuration and opens the ledger. The first
/// random bytes of the process (the first TLS handshake's) otherwise wait
/// for that seeding: aws-lc gathers CPU jitter entropy once per process, the
/// largest single cost of a one-action CLI run. Only the time changes: the
/// handshake still draws from the same generator, seeded once.
fn seed_tls_randomness_in_background() -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("seed-tls-rng".into())
        .spawn(|| {
            if let Some(provider) = rustls::crypto::CryptoProvider::get_default() {
                let _ = provider.secure_random.fill(&mut [0u8; 1]);
            }
        })
        .ok()
}

/// The ledger the configuration names (SQLite or PostgreSQL), signing
/// audit checkpoints when `[audit] signing_key` is set; the error names the
/// file or server (never a password).
async fn open_ledger(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let signer = signing_key::load(config)?;
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
