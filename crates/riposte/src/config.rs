//! riposte.toml: where the ledger lives and which forests to act on.

use std::path::{Path, PathBuf};

use riposte_ad::{ForestConfig, ForestSettings};
use serde::Deserialize;

mod oidc;

/// The config file's path when none is given.
pub const DEFAULT_PATHS: &[&str] = &["riposte.toml", "/etc/riposte/riposte.toml"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Where riposte keeps its job ledger. Relative paths start at the
    /// config file's directory.
    data_dir: Option<PathBuf>,
    /// The ledger's database: `sqlite://PATH` or `postgres://user:password@host:port/db`
    /// (overridden by RIPOSTE_DATABASE_URL). Default: SQLite in data_dir.
    database_url: Option<String>,
    #[serde(default, rename = "forest")]
    forests: Vec<ForestConfig>,
    /// Entra ID tenants reached through Microsoft Graph.
    #[serde(default, rename = "tenant")]
    tenants: Vec<riposte_entra::TenantConfig>,
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    safeguards: SafeguardsFile,
    /// Automatic response to alerts (off unless configured).
    #[serde(default)]
    automation: riposte_response::automation::AutomationConfig,
    /// Samba JSON audit logs that `riposte serve` tails into the detection pipeline.
    #[serde(default, rename = "ingest")]
    ingest: Vec<IngestFile>,
    /// Thresholds and lists of the built-in detections (as `riposte detect --settings`).
    #[serde(default)]
    detect: Option<riposte_detect::DetectConfig>,
    #[serde(default)]
    readiness: ReadinessFile,
    /// Mass containment: children at once per DC (`per_dc`) and per Entra tenant (`per_tenant`).
    #[serde(default)]
    bulk: riposte_jobs::BulkLimits,
    /// Signed checkpoints of the audit trail.
    #[serde(default)]
    audit: AuditFile,
    /// What one caller may make `riposte serve` spend (sign-in guesses, hashing, streams, time).
    #[serde(default)]
    limits: riposte_server::Limits,
    /// How long alerts are kept (`retention_days`).
    #[serde(default)]
    alerts: riposte_server::AlertRetention,
    /// Single sign-on for the portal (absent: local sign-in only).
    oidc: Option<oidc::OidcFile>,
    /// How long portal sessions live (`session_hours`, `session_idle_minutes`).
    #[serde(default)]
    portal: riposte_server::PortalSettings,
}

/// `[audit]`: signed checkpoints of the audit trail.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    /// The Ed25519 private key (PKCS#8 PEM, `riposte audit keygen`) that signs
    /// checkpoints; kept outside the data directory, readable by its owner only.
    signing_key: Option<PathBuf>,
    /// Records between checkpoints (default 100).
    checkpoint_every: Option<u64>,
}

/// `[audit]` as riposte uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Where the checkpoint signing key is; None: no checkpoints are made.
    pub signing_key: Option<PathBuf>,
    pub checkpoint_every: u64,
}

/// `[readiness]`: how often `riposte serve` re-assesses readiness.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadinessFile {
    /// Minutes between assessments after the one at start-up; 0: only at
    /// start-up and on demand (POST /api/v1/readiness/refresh).
    #[serde(default = "default_refresh_minutes")]
    refresh_minutes: u64,
}

impl Default for ReadinessFile {
    fn default() -> Self {
        ReadinessFile {
            refresh_minutes: default_refresh_minutes(),
        }
    }
}

fn default_refresh_minutes() -> u64 {
    60
}

/// `[[ingest]]`: one log file to follow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestFile {
    /// Which forest the log belongs to (names the source of its alerts).
    forest: String,
    /// The DC's Samba log with JSON audit records (`log level = 1 auth_json_audit:3 ...`).
    samba_audit_log: PathBuf,
}

/// `[safeguards]`: identities that need a second person's approval.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SafeguardsFile {
    /// `forest:sAMAccountName`, DNs or SIDs; adminCount=1 accounts are always protected.
    #[serde(default)]
    protected: Vec<String>,
    /// Emergency accounts (`forest:sAMAccountName`, DNs, SIDs, `tenant:UPN`): never
    /// acted on automatically or in bulk; by hand only with a second person.
    #[serde(default)]
    break_glass: Vec<String>,
}

/// How often a worker reads the ledger with no job change signalled: only
/// a safety net, since every job change wakes it at once.
const DEFAULT_JOB_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// `[server]`: how `riposte serve` listens.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    /// Address and port, e.g. "127.0.0.1:8080" (overridden by RIPOSTE_LISTEN).
    listen: Option<String>,
    /// The server's certificate chain (PEM): with `tls_key`, serve HTTPS.
    tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on an address beyond loopback (tokens, passwords and
    /// session cookies then cross the network in clear). Default false.
    #[serde(default)]
    insecure_http: bool,
    /// How long a worker's claim on a job lasts without renewal (overridden
    /// by RIPOSTE_JOB_LEASE_SECS). Workers renew it every third of it; a job
    /// whose node died is taken over once it runs out.
    job_lease_secs: Option<u64>,
    /// How often the worker and event streams read the ledger although no
    /// job change was signalled (a safety net; overridden by
    /// RIPOSTE_JOB_POLL_SECS). Default 5.
    job_poll_secs: Option<u64>,
    /// Run a worker in this `riposte serve` (overridden by RIPOSTE_WORKER,
    /// true or false). Default true; false only where other nodes share the
    /// ledger and claim its jobs.
    worker: Option<bool>,
}

/// Where the ledger lives, chosen by the database URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// One file on this host (the default: `data_dir/riposte.sqlite`).
    Sqlite(PathBuf),
    /// A PostgreSQL server several nodes share; the URL may hold a password.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Database::Postgres(url) => {
                write!(f, "Postgres({})", riposte_store_sql::redact_url(url))
            }
        }
    }
}

impl Database {
    /// Where the ledger is, without any password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres(url) => riposte_store_sql::redact_url(url),
        }
    }

    fn parse(text: &str, base_dir: &Path) -> Result<Database, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Database::Postgres(text.to_string()));
        }
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(
                    "sqlite:// needs a file path, e.g. sqlite:///var/lib/riposte/riposte.sqlite"
                        .into(),
                );
            }
            return Ok(Database::Sqlite(base_dir.join(path)));
        }
        let scheme = text.split("://").next().unwrap_or_default();
        Err(format!(
            "the scheme {scheme:?} is not supported; use sqlite://PATH or postgres://user:password@host:port/database"
        ))
    }
}

/// Where `riposte serve` listens when nothing says otherwise: this host only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub data_dir: PathBuf,
    pub forests: Vec<ForestSettings>,
    pub listen: std::net::SocketAddr,
    /// The ledger's database (`database_url`, default SQLite in data_dir).
    pub database: Database,
    /// `[server] job_lease_secs`: how long a claim lasts without renewal.
    pub job_lease: std::time::Duration,
    /// `[server] job_poll_secs`: the worker's safety-net look at the ledger.
    pub job_poll: std::time::Duration,
    /// `[server] worker`: whether `riposte serve` runs a worker.
    pub job_worker: bool,
    /// Protected identities from `[safeguards] protected`.
    pub protected: Vec<String>,
    /// Break-glass accounts from `[safeguards] break_glass`.
    pub break_glass: Vec<String>,
    pub tenants: Vec<riposte_entra::TenantSettings>,
    pub automation: riposte_response::automation::AutomationConfig,
    /// `[[ingest]]`: (forest, Samba audit log) pairs to tail.
    pub ingest: Vec<(String, PathBuf)>,
    /// `[detect]`: the built-in pack's settings.
    pub detect: riposte_detect::DetectConfig,
    /// Time between readiness assessments in `riposte serve`; `None`: start-up and on demand only.
    pub readiness_refresh: Option<std::time::Duration>,
    /// `[bulk]`: mass containment concurrency.
    pub bulk: riposte_jobs::BulkLimits,
    /// `[audit]`: the checkpoint signing key and interval.
    pub audit: AuditSettings,
    /// `[server] tls_cert` and `tls_key`: serve HTTPS with them.
    pub tls: Option<riposte_server::TlsFiles>,
    /// `[server] insecure_http`: plain HTTP beyond loopback was asked for.
    pub insecure_http: bool,
    /// `[limits]`: denial-of-service bounds of `riposte serve`.
    pub limits: riposte_server::Limits,
    /// `[alerts]`: alert retention.
    pub alerts: riposte_server::AlertRetention,
    /// `[oidc]`: single sign-on for the portal, checked.
    pub oidc: Option<riposte_oidc::OidcSettings>,
    /// `[portal]`: how long portal sessions live.
    pub portal: riposte_server::PortalSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no config file: tried {0}. Pass --config FILE or set RIPOSTE_CONFIG (on the lab, `scripts/lab up` writes .lab/riposte.toml)"
    )]
    NotFound(String),
    #[error("cannot read config file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is malformed: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("config file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Who is protected: adminCount=1 and RID 500 (always), each forest's
    /// action account (its bind DN), `[safeguards] break_glass` and `protected`.
    pub fn protection(&self) -> riposte_core::safeguards::Protection {
        riposte_core::safeguards::Protection::new(self.protected.clone())
            .with_break_glass(self.break_glass.clone())
            .with_action_accounts(self.forests.iter().map(|f| f.bind_dn.clone()))
    }

    /// Loads the file given, or the first default path that exists.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => DEFAULT_PATHS
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .ok_or_else(|| ConfigError::NotFound(DEFAULT_PATHS.join(", ")))?,
        };
        if !path.exists() {
            return Err(ConfigError::NotFound(path.display().to_string()));
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Unreadable {
            path: path.clone(),
            source,
        })?;
        Self::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if file.forests.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "no [[forest]] table: configure at least one forest (name, domain, base_dn, dcs, ca_file, bind_dn, bind_password_file)".into(),
            });
        }
        let forests = file
            .forests
            .into_iter()
            .map(|f| f.resolve(&base_dir))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let tenants = file
            .tenants
            .into_iter()
            .map(|t| t.resolve(&base_dir))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        if let Some(unknown) = file.ingest.iter().find(|i| {
            !forests
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(&i.forest))
        }) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "[[ingest]] forest = {:?} names no [[forest]]; use one of the forests' names",
                    unknown.forest
                ),
            });
        }
        // Environment overrides (RIPOSTE_<KEY>) win over the file, for containers and services.
        let data_dir = std::env::var_os("RIPOSTE_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let data_dir = base_dir.join(data_dir);
        let (listen_text, listen_key) = match std::env::var("RIPOSTE_LISTEN") {
            Ok(v) => (v, "RIPOSTE_LISTEN"),
            Err(_) => (
                file.server
                    .listen
                    .unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
                "[server] listen",
            ),
        };
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "{listen_key} = {listen_text:?} is not an address:port such as 127.0.0.1:8080"
            ),
        })?;
        let (db_text, db_key) = match std::env::var("RIPOSTE_DATABASE_URL") {
            Ok(v) if !v.trim().is_empty() => (Some(v), "RIPOSTE_DATABASE_URL"),
            _ => (file.database_url, "database_url"),
        };
        let database = match db_text {
            Some(text) => {
                Database::parse(&text, &base_dir).map_err(|message| ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("{db_key}: {message}"),
                })?
            }
            None => Database::Sqlite(data_dir.join("riposte.sqlite")),
        };
        let lease_secs = match std::env::var("RIPOSTE_JOB_LEASE_SECS") {
            Ok(v) => Some(v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("RIPOSTE_JOB_LEASE_SECS = {v:?} is not a whole number of seconds"),
            })?),
            Err(_) => file.server.job_lease_secs,
        };
        let job_lease = match lease_secs {
            None => riposte_jobs::DEFAULT_LEASE,
            Some(0) => {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: "[server] job_lease_secs must be at least 1".into(),
                });
            }
            Some(secs) => std::time::Duration::from_secs(secs),
        };
        let job_poll = match std::env::var("RIPOSTE_JOB_POLL_SECS") {
            Ok(v) => Some(v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("RIPOSTE_JOB_POLL_SECS = {v:?} is not a whole number of seconds"),
            })?),
            Err(_) => file.server.job_poll_secs,
        };
        let job_poll = match job_poll {
            None => DEFAULT_JOB_POLL,
            Some(0) => {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: "[server] job_poll_secs must be at least 1".into(),
                });
            }
            Some(secs) => std::time::Duration::from_secs(secs),
        };
        let job_worker = match std::env::var("RIPOSTE_WORKER") {
            Ok(v) => v.trim().parse::<bool>().map_err(|_| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("RIPOSTE_WORKER = {v:?} is neither true nor false"),
            })?,
            Err(_) => file.server.worker.unwrap_or(true),
        };
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let checkpoint_every = match file.audit.checkpoint_every {
            Some(0) => {
                return Err(invalid(
                    "[audit] checkpoint_every must be at least 1".into(),
                ));
            }
            Some(n) => n,
            None => riposte_store::DEFAULT_CHECKPOINT_EVERY,
        };
        let tls = match (file.server.tls_cert, file.server.tls_key) {
            (Some(cert), Some(key)) => Some(riposte_server::TlsFiles {
                cert: base_dir.join(cert),
                key: base_dir.join(key),
            }),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "[server] tls_cert and tls_key go together: set both (PEM certificate chain and its private key) or neither".into(),
                ));
            }
        };
        let oidc = file
            .oidc
            .map(|o| o.resolve(&base_dir))
            .transpose()
            .map_err(&invalid)?;
        if let Some((group, forest)) = oidc.iter().flat_map(|o| &o.roles).find_map(|rule| {
            rule.scope
                .forests
                .iter()
                .find(|name| !forests.iter().any(|f| f.name.eq_ignore_ascii_case(name)))
                .map(|name| (&rule.group, name))
        }) {
            return Err(invalid(format!(
                "[[oidc.role]] for group {group:?}: forest {forest:?} names no [[forest]]; use one of the forests' names"
            )));
        }
        for checked in [
            file.limits.check(),
            file.alerts.check(),
            file.portal.check(),
        ] {
            checked.map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        }
        Ok(Config {
            path: path.to_path_buf(),
            data_dir,
            forests,
            listen,
            database,
            job_lease,
            job_poll,
            job_worker,
            protected: file.safeguards.protected,
            break_glass: file.safeguards.break_glass,
            tenants,
            automation: file.automation,
            ingest: file
                .ingest
                .into_iter()
                .map(|i| (i.forest, base_dir.join(i.samba_audit_log)))
                .collect(),
            detect: {
                let mut detect = file.detect.unwrap_or_default();
                // Sigma rule folders, like every path in this file, start at its directory.
                detect.rules = detect.rules.iter().map(|r| base_dir.join(r)).collect();
                detect
            },
            readiness_refresh: (file.readiness.refresh_minutes > 0)
                .then(|| std::time::Duration::from_secs(file.readiness.refresh_minutes * 60)),
            bulk: file.bulk,
            audit: AuditSettings {
                signing_key: file.audit.signing_key.map(|k| base_dir.join(k)),
                checkpoint_every,
            },
            tls,
            insecure_http: file.server.insecure_http,
            limits: file.limits,
            alerts: file.alerts,
            oidc,
            portal: file.portal,
        })
    }

    /// The default SQLite ledger's path (what `database_url` defaults to).
    pub fn ledger_path(&self) -> PathBuf {
        self.data_dir.join("riposte.sqlite")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/nonexistent/riposte.toml"), text)
    }

    const FOREST: &str = r#"
[[forest]]
name = "corp"
domain = "corp.example.test"
base_dn = "DC=corp,DC=example,DC=test"
dcs = ["ldaps://127.0.0.11:636"]
ca_file = "/etc/hostname"
bind_dn = "CN=riposte-action,OU=Service,DC=corp,DC=example,DC=test"
bind_password_env = "RIPOSTE_TEST_CONFIG_PASSWORD"
"#;

    #[test]
    fn errors_name_the_key() {
        let err = parse("data_dir = 3").unwrap_err().to_string();
        assert!(err.contains("data_dir"), "{err}");
        let err = parse(&FOREST.replace("dcs =", "dcz ="))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dcz"), "{err}");
        let err = parse(&FOREST.replace("base_dn = \"DC=corp,DC=example,DC=test\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("base_dn"), "{err}");
        let err = parse("").unwrap_err().to_string();
        assert!(err.contains("[[forest]]"), "{err}");
    }

    #[test]
    fn the_database_url_picks_the_backend_and_never_shows_its_password() {
        let base = FOREST.replace(
            "bind_password_env = \"RIPOSTE_TEST_CONFIG_PASSWORD\"",
            "bind_password_file = \"/etc/hostname\"",
        );
        let config = parse(&base).unwrap();
        assert_eq!(
            config.database,
            Database::Sqlite(PathBuf::from("/nonexistent/data/riposte.sqlite"))
        );
        assert_eq!(config.job_lease, riposte_jobs::DEFAULT_LEASE);
        let pg = format!(
            "database_url = \"postgres://riposte:s3cret@db.example:5432/riposte\"\n[server]\njob_lease_secs = 7\n{base}"
        );
        let config = parse(&pg).unwrap();
        assert!(matches!(config.database, Database::Postgres(_)));
        assert_eq!(config.job_lease, std::time::Duration::from_secs(7));
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(
            config.database.describe(),
            "postgres://riposte@db.example:5432/riposte"
        );
        let file = format!("database_url = \"sqlite://ledger.db\"\n{base}");
        assert_eq!(
            parse(&file).unwrap().database,
            Database::Sqlite(PathBuf::from("/nonexistent/ledger.db"))
        );
        let err = parse(&format!("database_url = \"mysql://u:s3cret@h/db\"\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database_url") && err.contains("postgres://"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn the_job_poll_is_a_safety_net_of_whole_seconds_and_the_worker_can_be_left_out() {
        let base = FOREST.replace(
            "bind_password_env = \"RIPOSTE_TEST_CONFIG_PASSWORD\"",
            "bind_password_file = \"/etc/hostname\"",
        );
        let config = parse(&base).unwrap();
        assert_eq!(config.job_poll, DEFAULT_JOB_POLL);
        assert!(config.job_worker, "a node runs a worker unless told not to");
        let config = parse(&format!(
            "[server]\njob_poll_secs = 60\nworker = false\n{base}"
        ))
        .unwrap();
        assert_eq!(config.job_poll, std::time::Duration::from_secs(60));
        assert!(!config.job_worker);
        let err = parse(&format!("[server]\njob_poll_secs = 0\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("job_poll_secs must be at least 1"), "{err}");
    }

    #[test]
    fn audit_and_tls_settings_resolve_against_the_config_directory() {
        let base = FOREST.replace(
            "bind_password_env = \"RIPOSTE_TEST_CONFIG_PASSWORD\"",
            "bind_password_file = \"/etc/hostname\"",
        );
        let config = parse(&base).unwrap();
        assert_eq!(
            config.audit,
            AuditSettings {
                signing_key: None,
                checkpoint_every: riposte_store::DEFAULT_CHECKPOINT_EVERY
            }
        );
        assert_eq!((config.tls, config.insecure_http), (None, false));
        let set = format!(
            "[audit]\nsigning_key = \"keys/audit.key\"\ncheckpoint_every = 7\n\
             [server]\ntls_cert = \"tls/cert.pem\"\ntls_key = \"/etc/tls/key.pem\"\ninsecure_http = true\n{base}"
        );
        let config = parse(&set).unwrap();
        assert_eq!(
            config.audit.signing_key,
            Some(PathBuf::from("/nonexistent/keys/audit.key"))
        );
        assert_eq!(config.audit.checkpoint_every, 7);
        assert_eq!(
            config.tls,
            Some(riposte_server::TlsFiles {
                cert: PathBuf::from("/nonexistent/tls/cert.pem"),
                key: PathBuf::from("/etc/tls/key.pem"),
            })
        );
        assert!(config.insecure_http);
        let err = parse(&format!("[audit]\ncheckpoint_every = 0\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("checkpoint_every must be at least 1"), "{err}");
        let err = parse(&format!("[server]\ntls_key = \"k.pem\"\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("go together"), "{err}");
        // Sigma rule folders too; a misspelt key is named.
        let config = parse(&format!(
            "[detect]\nrules = [\"sigma\", \"/etc/riposte/sigma\"]\n{base}"
        ))
        .unwrap();
        assert_eq!(
            config.detect.rules,
            vec![
                PathBuf::from("/nonexistent/sigma"),
                PathBuf::from("/etc/riposte/sigma")
            ]
        );
        let err = parse(&format!("[detect]\nrule = [\"sigma\"]\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("rule"), "{err}");
        let err = parse(&format!("[audit]\nsigning_kee = \"k\"\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("signing_kee"), "{err}");
    }

    #[test]
    fn limits_and_alert_retention_have_defaults_and_cannot_be_turned_off() {
        let base = FOREST.replace(
            "bind_password_env = \"RIPOSTE_TEST_CONFIG_PASSWORD\"",
            "bind_password_file = \"/etc/hostname\"",
        );
        let config = parse(&base).unwrap();
        assert_eq!(config.limits, riposte_server::Limits::default());
        assert_eq!(config.alerts.retention_days, 90);
        let set = parse(&format!(
            "{base}\n[limits]\nsign_in_failures_per_name = 3\n[alerts]\nretention_days = 7\n"
        ))
        .unwrap();
        assert_eq!(set.limits.sign_in_failures_per_name, 3);
        assert_eq!(set.alerts.retention_days, 7);
        for (table, bad, key) in [
            (
                "limits",
                "password_hashing_concurrency = 0",
                "password_hashing_concurrency",
            ),
            (
                "limits",
                "event_streams_per_caller = 0",
                "event_streams_per_caller",
            ),
            (
                "limits",
                "request_timeout_seconds = 0",
                "request_timeout_seconds",
            ),
            (
                "limits",
                "sign_in_window_seconds = 100000",
                "sign_in_window_seconds",
            ),
            ("limits", "sign_in_tries = 3", "sign_in_tries"),
            ("alerts", "retention_days = 0", "retention_days"),
        ] {
            let err = parse(&format!("{base}\n[{table}]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn plaintext_needs_insecure_and_secrets_must_resolve() {
        let plain = FOREST
            .replace("ldaps://127.0.0.11:636", "ldap://127.0.0.11:389")
            .replace("name = \"corp\"", "name = \"corp\"\ntls = \"none\"");
        let err = parse(&plain).unwrap_err().to_string();
        assert!(err.contains("insecure = true"), "{err}");
        let err = parse(FOREST).unwrap_err().to_string();
        assert!(err.contains("RIPOSTE_TEST_CONFIG_PASSWORD"), "{err}");
        let mismatched = FOREST.replace("ldaps://", "ldap://");
        assert!(
            parse(&mismatched)
                .unwrap_err()
                .to_string()
                .contains("`dcs`")
        );
    }
}
