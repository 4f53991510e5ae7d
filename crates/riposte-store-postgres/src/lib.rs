//! The job ledger on PostgreSQL, for several `riposte serve` nodes sharing
//! one database. Same traits and semantics as the SQLite store; both pass
//! `riposte_store::conformance`.
//!
//! Why the SQL is as it is:
//!
//! - **claim_next** is one statement in one transaction: the oldest
//!   claimable job is picked with `FOR UPDATE SKIP LOCKED`, so nodes asking
//!   at once each lock a different row instead of queueing behind (or both
//!   taking) the same one; the `UPDATE` re-checks `state = 'queued'`.
//! - **claim, progress, renew, finish, take_over** are conditional `UPDATE`s
//!   (`WHERE state = .. AND owner = ..`): the row lock and PostgreSQL's
//!   re-check of the condition after waiting make each a compare-and-swap,
//!   so a lease lost to another node is seen as `LeaseLost`, never
//!   overwritten.
//! - **The audit chain** is appended under `pg_advisory_xact_lock` taken
//!   before the head row is read (the head may not exist yet, so a row lock
//!   cannot serialise the first append); the lock ends with the transaction.
//!   `seq` is the primary key, so a chain fork would fail rather than land.
//! - **Idempotency keys** are `UNIQUE` and inserted with `ON CONFLICT DO
//!   NOTHING`: a concurrent second request waits for the first to commit and
//!   then returns that job.
//! - **Leadership** (`LeaderLock`) is `pg_try_advisory_lock` on a dedicated
//!   connection held by the guard: the lock lives exactly as long as that
//!   session, so a dead node's lock is freed when the server drops its
//!   connection.
//! - **Migrations** run in one transaction under an advisory lock, so nodes
//!   starting together apply them once.
//! - **Times** are bigint Unix milliseconds from the node's clock, as the
//!   trait describes them (the audit hash covers that value). Nodes' clocks
//!   must agree to well within a lease (NTP).
#![forbid(unsafe_code)]

mod bulk_approval;
mod retention;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use riposte_core::containment::Step;
use riposte_core::evidence::Evidence;
use riposte_core::policy::{Role, Scope};
use riposte_core::{ActionOptions, Outcome};
use riposte_store::audit::checkpoint;
use riposte_store::{
    AlertEntities, AlertFilter, AlertStore, ApiToken, AuditLog, AuditRecord, AuditSigner,
    BulkCounts, BulkOperation, BulkState, BulkStore, Created, Finish, GENESIS_HASH, Job, JobEvent,
    JobFilter, JobState, JobStore, LeaderGuard, LeaderLock, Leadership, NewAlert, NewAuditRecord,
    NewBulk, NewJob, PeopleStore, Person, Progress, Session, StoreError, StoredAlert, TokenStore,
    from_millis, record_hash, to_millis,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Connection, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Migrations in order. Append only: a released migration never changes.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/0001_schema.sql")),
    (
        2,
        "bulk_operations",
        include_str!("../migrations/0002_bulk_operations.sql"),
    ),
    (
        3,
        "idempotency_per_caller",
        include_str!("../migrations/0003_idempotency_per_caller.sql"),
    ),
    (
        4,
        "people_and_bulk_approval",
        include_str!("../migrations/0004_people_and_bulk_approval.sql"),
    ),
    (
        5,
        "alert_retention",
        include_str!("../migrations/0005_alert_retention.sql"),
    ),
    (
        6,
        "evidence_sources",
        include_str!("../migrations/0006_evidence_sources.sql"),
    ),
    (
        7,
        "forwarder_role",
        include_str!("../migrations/0007_forwarder_role.sql"),
    ),
];

/// The first key of every advisory lock riposte takes ("RIPO"), so its
/// locks never meet another application's in the same database.
const LOCK_CLASS: i32 = 0x5249_504f;
const LOCK_MIGRATIONS: i32 = 1;
const LOCK_AUDIT: i32 = 2;

/// How long opening the ledger waits for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: PgPool,
    options: PgConnectOptions,
    /// The URL without its password: what errors and logs name.
    location: String,
    password: Option<String>,
    /// Signs the audit checkpoints (`[audit] signing_key`); None: none are made.
    signer: Option<std::sync::Arc<AuditSigner>>,
}

/// The URL with any password removed (`postgres://user@host:port/db`), for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a URL>".into();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    // Query parameters may carry a password too (`?password=`): drop them.
    let path = tail.split('?').next().unwrap_or_default();
    format!("{scheme}://{authority}{path}")
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo
        .split_once(':')
        .map(|(_, p)| p.to_string())
        .filter(|p| !p.is_empty())
}

impl PostgresStore {
    /// Connects to `postgres://user:password@host:port/database` and
    /// applies migrations. Errors name the server, never the password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let location = redact_url(url);
        let password = password_of(url);
        let scrub = |message: String| match &password {
            Some(p) => message.replace(p.as_str(), "***"),
            None => message,
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Open {
            location: location.clone(),
            message: scrub(format!(
                "not a usable PostgreSQL URL ({e}); write it as postgres://user:password@host:port/database"
            )),
        })?;
        transport::check_transport(url, &options).map_err(|message| StoreError::Open {
            location: location.clone(),
            message,
        })?;
        let where_ = format!("{}:{}", options.get_host(), options.get_port());
        // One direct connection first: its error says why (refused, unknown
        // host, authentication), where a pool would only time out.
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| StoreError::Open {
                location: location.clone(),
                message: format!(
                    "no answer from the PostgreSQL server at {where_} within {}s; is it running and reachable?",
                    CONNECT_TIMEOUT.as_secs()
                ),
            })?
            .map_err(|e| StoreError::Open {
                location: location.clone(),
                message: scrub(format!(
                    "cannot connect to the PostgreSQL server at {where_}: {e}; check that it runs, and the user, password and database in the URL"
                )),
            })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options.clone());
        let store = PostgresStore {
            pool,
            options,
            location,
            password,
            signer: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Appends signed checkpoints with `signer` (see [`riposte_store::audit::checkpoint`]).
    pub fn with_audit_signer(mut self, signer: std::sync::Arc<AuditSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(LOCK_MIGRATIONS)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        for (version, name, sql) in MIGRATIONS {
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| self.error(e))?;
            if applied.is_some() {
                continue;
            }
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(version)
            .bind(name)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(|e| self.error(e))
    }

    fn error(&self, e: sqlx::Error) -> StoreError {
        let mut message = e.to_string();
        if let Some(p) = &self.password {
            message = message.replace(p.as_str(), "***");
        }
        let code = e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.to_string())
            .unwrap_or_default();
        // 25006 read-only transaction (a standby), 53xxx out of disk/memory/connections.
        if code == "25006" || code == "53100" {
            StoreError::Unwritable {
                location: self.location.clone(),
                message,
            }
        } else {
            StoreError::Backend(format!("{}: {message}", self.location))
        }
    }

    async fn event(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        at: i64,
        state: JobState,
        phase: Option<&str>,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO job_events (job_id, at, state, phase, message) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(at)
        .bind(state.as_str())
        .bind(phase)
        .bind(message)
        .execute(conn)
        .await
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Takes the audit chain's lock for the rest of `tx`: every node's
    /// appends queue here, before the head is read.
    async fn lock_audit(&self, tx: &mut sqlx::Transaction<'_, Postgres>) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(LOCK_AUDIT)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// A job's finish, and its outcome record when given, in one transaction.
    async fn finish_with(
        &self,
        id: Uuid,
        owner: Option<&str>,
        finish: Finish<'_>,
        outcome: Option<NewAuditRecord>,
    ) -> Result<Job, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        if outcome.is_some() {
            // The audit lock first, as every appending transaction takes it.
            self.lock_audit(&mut tx).await?;
        }
        let at = now();
        let (from_state, owner_value) = match owner {
            Some(o) => ("running", o),
            None => ("queued", ""),
        };
        let updated = sqlx::query(
            "UPDATE jobs SET state = 'finished', outcome = $1, message = $2, evidence = $3, finished_at = $4, \
             updated_at = $4, lease_expires_at = NULL WHERE id = $5 AND state = $6 AND COALESCE(owner, '') = $7",
        )
        .bind(finish.outcome.as_str())
        .bind(finish.message)
        .bind(encode(finish.evidence)?)
        .bind(at)
        .bind(id)
        .bind(from_state)
        .bind(owner_value)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        if updated != 1 {
            drop(tx);
            let job = self.fetch(id).await?;
            return Err(match (job.state, owner) {
                (JobState::Running, Some(o)) => StoreError::LeaseLost {
                    id,
                    owner: o.into(),
                    holder: job.owner.unwrap_or_default(),
                },
                (state, _) => StoreError::WrongState { id, state },
            });
        }
        let message = format!("{}: {}", finish.outcome, finish.message);
        self.event(&mut tx, id, at, JobState::Finished, None, &message)
            .await?;
        if let Some(record) = outcome {
            self.append_in(
                &mut tx,
                NewAuditRecord {
                    job_id: Some(id),
                    ..record
                },
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        self.fetch(id).await
    }

    /// Appends one audit record inside `tx`, which must hold the audit lock
    /// ([`Self::lock_audit`]), and the signed checkpoint due after it, if one is.
    async fn append_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        record: NewAuditRecord,
    ) -> Result<AuditRecord, StoreError> {
        let appended = self.insert_audit(tx, record).await?;
        if let Some(due) = checkpoint::due_after(self.signer.as_deref(), &appended) {
            checkpoint::skip_refused(self.insert_audit(tx, due).await)?;
        }
        Ok(appended)
    }

    /// The newest checkpoint with seq >= `from_seq` and the record before it
    /// (what [`checkpoint::seal`] checks), read inside `tx`: at most two rows,
    /// however long the interval.
    async fn newest_checkpoint_from(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        from_seq: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE seq >= (SELECT MAX(seq) - 1 FROM audit_log \
             WHERE seq >= $1 AND event = 'audit-checkpoint') ORDER BY seq LIMIT 2",
        )
        .bind(from_seq)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter().map(audit_record_from_row).collect()
    }

    /// Persists one record after the head (a checkpoint sealed first).
    async fn insert_audit(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        record: NewAuditRecord,
    ) -> Result<AuditRecord, StoreError> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(|e| self.error(e))?;
        let (seq, prev_hash) = match head {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS_HASH.to_string()),
        };
        let record = if checkpoint::is_checkpoint(&record) {
            let signer = self.signer.as_deref();
            let recent = self
                .newest_checkpoint_from(tx, checkpoint::look_back_from(signer, seq - 1))
                .await?;
            checkpoint::seal(signer, record, seq - 1, &prev_hash, &recent)?
        } else {
            record
        };
        let at = now();
        let hash = record_hash(&prev_hash, seq, at, &record);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, source, remote_addr, event, target, job_id, result, details, \
             prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(seq)
        .bind(at)
        .bind(&record.actor)
        .bind(&record.source)
        .bind(&record.remote_addr)
        .bind(&record.event)
        .bind(&record.target)
        .bind(record.job_id)
        .bind(&record.result)
        .bind(record.details.to_string())
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.error(e))?;
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(seq)
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.error(e))?;
        Ok(AuditRecord {
            seq,
            at: from_millis(at),
            actor: record.actor,
            source: record.source,
            remote_addr: record.remote_addr,
            event: record.event,
            target: record.target,
            job_id: record.job_id,
            result: record.result,
            details: record.details,
            prev_hash,
            hash,
        })
    }

    /// Inserts a queued job and its first events; `false` when its
    /// idempotency key was used before (nothing inserted).
    async fn insert_job(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        id: Uuid,
        at: i64,
        job: &NewJob,
        bulk: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO jobs (id, created_at, updated_at, requested_by, source, reason, action, options, target_ref, \
             forest, target_dn, target_sid, state, idempotency_key, approval, approval_reason, steps, bulk_id, requester_person, evidence_input) \
             VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (requested_by, idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(id)
        .bind(at)
        .bind(&job.requested_by)
        .bind(&job.source)
        .bind(&job.reason)
        .bind(job.action.as_str())
        .bind(encode(&job.options)?)
        .bind(&job.target_ref)
        .bind(&job.forest)
        .bind(&job.target_dn)
        .bind(&job.target_sid)
        .bind(&job.idempotency_key)
        .bind(job.approval_required.as_ref().map(|_| "pending"))
        .bind(&job.approval_required)
        .bind(encode(&job.steps)?)
        .bind(bulk)
        .bind(&job.requester_person)
        .bind(&job.evidence_input)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| self.error(e))?;
        if inserted.is_none() {
            return Ok(false);
        }
        let message = format!(
            "{} requested {} on {}: {}",
            job.requested_by, job.action, job.target_ref, job.reason
        );
        self.event(tx, id, at, JobState::Queued, None, &message)
            .await?;
        if let Some(why) = &job.approval_required {
            let message = format!("pending approval by a second person: {why}");
            self.event(
                tx,
                id,
                at,
                JobState::Queued,
                Some("pending-approval"),
                &message,
            )
            .await?;
        }
        Ok(true)
    }

    async fn fetch(&self, id: Uuid) -> Result<Job, StoreError> {
        self.get(id).await?.ok_or(StoreError::NoSuchJob(id))
    }

    /// Why a conditional update of a running job matched nothing.
    async fn not_held(&self, id: Uuid, owner: &str) -> StoreError {
        match self.fetch(id).await {
            Ok(job) => match job.state {
                JobState::Running => StoreError::LeaseLost {
                    id,
                    owner: owner.into(),
                    holder: job.owner.unwrap_or_default(),
                },
                state => StoreError::WrongState { id, state },
            },
            Err(e) => e,
        }
    }
}

fn now() -> i64 {
    to_millis(OffsetDateTime::now_utc())
}

fn lease_until(lease: Duration) -> i64 {
    now() + lease.as_millis() as i64
}

fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Json<serde_json::Value>, StoreError> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| StoreError::Backend(format!("cannot encode a record as JSON: {e}")))
}

fn job_from_row(row: &PgRow) -> Result<Job, StoreError> {
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("job {what}: {e}"));
    let get_str = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(col, &e));
    let get_opt = |col: &str| {
        row.try_get::<Option<String>, _>(col)
            .map_err(|e| corrupt(col, &e))
    };
    let get_i64 = |col: &str| row.try_get::<i64, _>(col).map_err(|e| corrupt(col, &e));
    let get_opt_i64 = |col: &str| {
        row.try_get::<Option<i64>, _>(col)
            .map_err(|e| corrupt(col, &e))
    };
    Ok(Job {
        id: row.try_get("id").map_err(|e| corrupt("id", &e))?,
        created_at: from_millis(get_i64("created_at")?),
        updated_at: from_millis(get_i64("updated_at")?),
        requested_by: get_str("requested_by")?,
        requester_person: get_opt("requester_person")?,
        source: get_str("source")?,
        reason: get_str("reason")?,
        action: get_str("action")?
            .parse()
            .map_err(|e| corrupt("action", &e))?,
        options: row
            .try_get::<Json<ActionOptions>, _>("options")
            .map_err(|e| corrupt("options", &e))?
            .0,
        target_ref: get_str("target_ref")?,
        forest: get_opt("forest")?,
        target_dn: get_opt("target_dn")?,
        target_sid: get_opt("target_sid")?,
        state: JobState::from_str(&get_str("state")?)?,
        phase: get_opt("phase")?,
        dc: get_opt("dc")?,
        owner: get_opt("owner")?,
        lease_expires_at: get_opt_i64("lease_expires_at")?.map(from_millis),
        write_sent: row
            .try_get("write_sent")
            .map_err(|e| corrupt("write_sent", &e))?,
        outcome: get_opt("outcome")?
            .map(|o| o.parse::<Outcome>())
            .transpose()
            .map_err(|e| corrupt("outcome", &e))?,
        message: get_opt("message")?,
        evidence: row
            .try_get::<Option<Json<Evidence>>, _>("evidence")
            .map_err(|e| corrupt("evidence", &e))?
            .map(|j| j.0),
        finished_at: get_opt_i64("finished_at")?.map(from_millis),
        idempotency_key: get_opt("idempotency_key")?,
        approval: get_opt("approval")?.map(|a| a.parse()).transpose()?,
        approval_reason: get_opt("approval_reason")?,
        decided_by: get_opt("decided_by")?,
        steps: row
            .try_get::<Option<Json<Vec<Step>>>, _>("steps")
            .map_err(|e| corrupt("steps", &e))?
            .map(|j| j.0)
            .unwrap_or_default(),
        bulk_id: row
            .try_get::<Option<Uuid>, _>("bulk_id")
            .map_err(|e| corrupt("bulk_id", &e))?,
        evidence_input: get_opt("evidence_input")?,
    })
}

/// `%text%` for LIKE, with LIKE's own characters escaped (ESCAPE '\').
fn contains_pattern(text: &str) -> String {
    format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn check_writable(&self) -> Result<(), StoreError> {
        // A read-only server or database (a standby, or
        // default_transaction_read_only) says so without a write.
        let read_only: String =
            sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        if read_only == "on" {
            return Err(StoreError::Unwritable {
                location: self.location.clone(),
                message: "the database is read-only (transaction_read_only is on)".into(),
            });
        }
        Ok(())
    }

    async fn create_job(
        &self,
        job: NewJob,
        request: NewAuditRecord,
    ) -> Result<Created, StoreError> {
        let id = Uuid::now_v7();
        let at = now();
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        // The audit lock first, as every append takes it before anything
        // else: the job and its request record then commit together.
        self.lock_audit(&mut tx).await?;
        let inserted = self.insert_job(&mut tx, id, at, &job, None).await?;
        if !inserted {
            // The key was used before (perhaps by another node a moment ago,
            // whose commit the insert waited for): that job is the answer.
            // Keys are the caller's own (migration 0003).
            let row =
                sqlx::query("SELECT * FROM jobs WHERE requested_by = $1 AND idempotency_key = $2")
                    .bind(&job.requested_by)
                    .bind(&job.idempotency_key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.error(e))?;
            return Ok(Created::Existing(job_from_row(&row)?));
        }
        self.append_in(
            &mut tx,
            NewAuditRecord {
                job_id: Some(id),
                ..request
            },
        )
        .await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Created::New(self.fetch(id).await?))
    }

    async fn decide_approval(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        comment: &str,
    ) -> Result<Job, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let at = now();
        let decided = sqlx::query(
            "UPDATE jobs SET approval = $1, decided_by = $2, decided_at = $3, updated_at = $3 \
             WHERE id = $4 AND state = 'queued' AND approval = 'pending'",
        )
        .bind(if approve { "approved" } else { "rejected" })
        .bind(decided_by)
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        if decided != 1 {
            drop(tx);
            let job = self.fetch(id).await?;
            return Err(StoreError::WrongState {
                id,
                state: job.state,
            });
        }
        let verb = if approve { "approved" } else { "rejected" };
        let message = format!("{verb} by {decided_by}: {comment}");
        self.event(&mut tx, id, at, JobState::Queued, Some(verb), &message)
            .await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        if approve {
            return self.fetch(id).await;
        }
        let message = format!(
            "rejected by {decided_by} (second-person approval): {comment}; nothing was written"
        );
        self.finish(
            id,
            None,
            Finish {
                outcome: Outcome::Denied,
                message: &message,
                evidence: &Evidence::default(),
            },
        )
        .await
    }

    async fn claim(&self, id: Uuid, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let at = now();
        let claimed = sqlx::query(
            "UPDATE jobs SET state = 'running', owner = $1, lease_expires_at = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'queued' AND COALESCE(approval, 'approved') = 'approved' \
             AND (bulk_id IS NULL OR EXISTS (SELECT 1 FROM bulk_operations b WHERE b.id = jobs.bulk_id AND b.state = 'running'))",
        )
        .bind(owner)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected()
            == 1;
        if claimed {
            let message = format!("claimed by {owner}");
            self.event(&mut tx, id, at, JobState::Running, None, &message)
                .await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(claimed)
    }

    async fn claim_next(&self, owner: &str, lease: Duration) -> Result<Option<Job>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let at = now();
        let row = sqlx::query(
            "WITH next AS ( \
                 SELECT id FROM jobs \
                 WHERE state = 'queued' AND COALESCE(approval, 'approved') = 'approved' AND bulk_id IS NULL \
                 ORDER BY created_at, id LIMIT 1 \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET state = 'running', owner = $1, lease_expires_at = $2, updated_at = $3 \
             FROM next WHERE jobs.id = next.id AND jobs.state = 'queued' \
             RETURNING jobs.*",
        )
        .bind(owner)
        .bind(lease_until(lease))
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let message = format!("claimed by {owner}");
        self.event(&mut tx, job.id, at, JobState::Running, None, &message)
            .await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Some(job))
    }

    async fn renew_lease(&self, id: Uuid, owner: &str, lease: Duration) -> Result<(), StoreError> {
        let renewed = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND state = 'running' AND owner = $3",
        )
        .bind(lease_until(lease))
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        if renewed == 1 {
            Ok(())
        } else {
            Err(self.not_held(id, owner).await)
        }
    }

    async fn record_progress(
        &self,
        id: Uuid,
        owner: &str,
        progress: Progress<'_>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let at = now();
        let updated = sqlx::query(
            "UPDATE jobs SET phase = $1, dc = $2, write_sent = write_sent OR $3, lease_expires_at = $4, updated_at = $5 \
             WHERE id = $6 AND state = 'running' AND owner = $7",
        )
        .bind(progress.phase)
        .bind(progress.dc)
        .bind(progress.write_sent)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        if updated != 1 {
            drop(tx);
            return Err(self.not_held(id, owner).await);
        }
        let message = format!("{} on {}", progress.message, progress.dc);
        self.event(
            &mut tx,
            id,
            at,
            JobState::Running,
            Some(progress.phase),
            &message,
        )
        .await?;
        tx.commit().await.map_err(|e| self.error(e))
    }

    async fn finish(
        &self,
        id: Uuid,
        owner: Option<&str>,
        finish: Finish<'_>,
    ) -> Result<Job, StoreError> {
        self.finish_with(id, owner, finish, None).await
    }

    async fn finish_recorded(
        &self,
        id: Uuid,
        owner: Option<&str>,
        finish: Finish<'_>,
        outcome: NewAuditRecord,
    ) -> Result<Job, StoreError> {
        self.finish_with(id, owner, finish, Some(outcome)).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn find_by_prefix(&self, prefix: &str) -> Result<Vec<Job>, StoreError> {
        let hex: String = prefix
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT * FROM jobs WHERE replace(id::text, '-', '') LIKE $1 ORDER BY created_at DESC LIMIT 10",
        )
        .bind(format!("{hex}%"))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter().map(job_from_row).collect()
    }

    async fn events(&self, id: Uuid) -> Result<Vec<JobEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, state, phase, message FROM job_events WHERE job_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|row| {
                let corrupt = |e: sqlx::Error| StoreError::Corrupt(format!("job event: {e}"));
                Ok(JobEvent {
                    at: from_millis(row.try_get("at").map_err(corrupt)?),
                    state: JobState::from_str(
                        &row.try_get::<String, _>("state").map_err(corrupt)?,
                    )?,
                    phase: row.try_get("phase").map_err(corrupt)?,
                    message: row.try_get("message").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM jobs WHERE true");
        if let Some(target) = &filter.target {
            let pattern = contains_pattern(&target.to_lowercase());
            q.push(" AND (lower(target_ref) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(COALESCE(target_dn, '')) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(COALESCE(target_sid, '')) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(action) = filter.action {
            q.push(" AND action = ").push_bind(action.as_str());
        }
        if let Some(outcome) = filter.outcome {
            q.push(" AND outcome = ").push_bind(outcome.as_str());
        }
        if let Some(who) = &filter.requested_by {
            q.push(" AND requested_by = ").push_bind(who.clone());
        }
        if let Some(source) = &filter.source {
            q.push(" AND source = ").push_bind(source.clone());
        }
        if let Some(state) = filter.state {
            q.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(since) = filter.since {
            q.push(" AND created_at >= ").push_bind(to_millis(since));
        }
        if let Some(until) = filter.until {
            q.push(" AND created_at < ").push_bind(to_millis(until));
        }
        if let Some(bulk) = filter.bulk_id {
            q.push(" AND bulk_id = ").push_bind(bulk);
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(100).min(10_000)))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset.unwrap_or(0)));
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(job_from_row).collect()
    }

    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query("SELECT * FROM jobs WHERE state = 'running' ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(job_from_row).collect()
    }

    async fn take_over(
        &self,
        id: Uuid,
        previous_owner: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let at = now();
        let taken = sqlx::query(
            "UPDATE jobs SET owner = $1, lease_expires_at = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'running' AND owner = $5",
        )
        .bind(owner)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id)
        .bind(previous_owner)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected()
            == 1;
        if taken {
            let message = format!(
                "taken over by {owner} from {previous_owner}, which stopped before finishing"
            );
            self.event(
                &mut tx,
                id,
                at,
                JobState::Running,
                Some("recovery"),
                &message,
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(taken)
    }
}

fn audit_record_from_row(row: &PgRow) -> Result<AuditRecord, StoreError> {
    let seq: i64 = row
        .try_get("seq")
        .map_err(|e| StoreError::Corrupt(format!("audit record: seq: {e}")))?;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("audit record {seq}: {what}: {e}"))
    };
    let get_str = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(col, &e));
    let get_opt = |col: &str| {
        row.try_get::<Option<String>, _>(col)
            .map_err(|e| corrupt(col, &e))
    };
    Ok(AuditRecord {
        seq,
        at: from_millis(row.try_get("at").map_err(|e| corrupt("at", &e))?),
        actor: get_str("actor")?,
        source: get_str("source")?,
        remote_addr: get_opt("remote_addr")?,
        event: get_str("event")?,
        target: get_opt("target")?,
        job_id: row.try_get("job_id").map_err(|e| corrupt("job_id", &e))?,
        result: get_str("result")?,
        details: serde_json::from_str(&get_str("details")?).map_err(|e| corrupt("details", &e))?,
        prev_hash: get_str("prev_hash")?,
        hash: get_str("hash")?,
    })
}

#[async_trait]
impl AuditLog for PostgresStore {
    async fn append(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        self.lock_audit(&mut tx).await?;
        let appended = self.append_in(&mut tx, record).await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(appended)
    }

    async fn audit_records(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(audit_record_from_row).collect()
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }
}

fn token_from_row(row: &PgRow) -> Result<ApiToken, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("api token: {e}"));
    let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(&e));
    Ok(ApiToken {
        id: row.try_get("id").map_err(|e| corrupt(&e))?,
        name: text("name")?,
        role: text("role")?.parse::<Role>().map_err(|e| corrupt(&e))?,
        scope: row
            .try_get::<Json<Scope>, _>("scope")
            .map_err(|e| corrupt(&e))?
            .0,
        created_by: text("created_by")?,
        owner: row
            .try_get::<Option<String>, _>("owner")
            .map_err(|e| corrupt(&e))?,
        created_at: from_millis(row.try_get("created_at").map_err(|e| corrupt(&e))?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")
            .map_err(|e| corrupt(&e))?
            .map(from_millis),
    })
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create_token(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        owner: Option<&str>,
        created_by: &str,
        secret_hash: &str,
    ) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (id, name, role, scope, created_by, created_at, secret_hash, owner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(role.as_str())
        .bind(encode(scope)?)
        .bind(created_by)
        .bind(now())
        .bind(secret_hash)
        .bind(owner)
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(row) => token_from_row(&row),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a live API token named {name:?} exists; revoke it first or pick another name"
            ))),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL")
                .bind(secret_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected() == 1)
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn person_from_row(row: &PgRow) -> Result<Person, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("person: {e}"));
    let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(&e));
    Ok(Person {
        id: row.try_get("id").map_err(|e| corrupt(&e))?,
        name: text("name")?,
        role: text("role")?.parse::<Role>().map_err(|e| corrupt(&e))?,
        scope: row
            .try_get::<Json<Scope>, _>("scope")
            .map_err(|e| corrupt(&e))?
            .0,
        password_hash: text("password_hash")?,
        disabled: row.try_get("disabled").map_err(|e| corrupt(&e))?,
        created_by: text("created_by")?,
        created_at: from_millis(row.try_get("created_at").map_err(|e| corrupt(&e))?),
    })
}

#[async_trait]
impl PeopleStore for PostgresStore {
    async fn create_person(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        password_hash: &str,
        created_by: &str,
    ) -> Result<Person, StoreError> {
        let row = sqlx::query(
            "INSERT INTO people (id, name, role, scope, password_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(role.as_str())
        .bind(encode(scope)?)
        .bind(password_hash)
        .bind(created_by)
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(row) => person_from_row(&row),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a person named {name:?} exists; pick another name"
            ))),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn person_by_name(&self, name: &str) -> Result<Option<Person>, StoreError> {
        let row = sqlx::query("SELECT * FROM people WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        row.as_ref().map(person_from_row).transpose()
    }

    async fn list_people(&self) -> Result<Vec<Person>, StoreError> {
        let rows = sqlx::query("SELECT * FROM people ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(person_from_row).collect()
    }

    async fn set_person_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE people SET disabled = $1 WHERE name = $2")
            .bind(disabled)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(
        &self,
        person: Uuid,
        secret_hash: &str,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Session, StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, person_id, secret_hash, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(person)
        .bind(secret_hash)
        .bind(csrf_token)
        .bind(now())
        .bind(to_millis(expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        self.session_by_hash(secret_hash, OffsetDateTime::now_utc())
            .await?
            .ok_or_else(|| {
                StoreError::Conflict(
                    "the session could not be started: the person is disabled or the expiry has passed".into(),
                )
            })
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id AS session_id, s.csrf_token, s.created_at AS session_created_at, s.expires_at, p.* \
             FROM sessions s JOIN people p ON p.id = s.person_id \
             WHERE s.secret_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT p.disabled",
        )
        .bind(secret_hash)
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("session: {e}"));
        Ok(Some(Session {
            id: row.try_get("session_id").map_err(|e| corrupt(&e))?,
            person: person_from_row(&row)?,
            csrf_token: row.try_get("csrf_token").map_err(|e| corrupt(&e))?,
            created_at: from_millis(row.try_get("session_created_at").map_err(|e| corrupt(&e))?),
            expires_at: from_millis(row.try_get("expires_at").map_err(|e| corrupt(&e))?),
        }))
    }

    async fn revoke_session(&self, secret_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE secret_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(secret_hash)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected() == 1)
    }
}

fn alert_from_row(row: &PgRow) -> Result<StoredAlert, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("alert: {e}"));
    let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(&e));
    let opt_time = |col: &str| {
        row.try_get::<Option<i64>, _>(col)
            .map(|v| v.map(from_millis))
            .map_err(|e| corrupt(&e))
    };
    Ok(StoredAlert {
        id: row.try_get("id").map_err(|e| corrupt(&e))?,
        raised_at: from_millis(row.try_get("raised_at").map_err(|e| corrupt(&e))?),
        alert: NewAlert {
            rule_id: text("rule_id")?,
            title: text("title")?,
            technique: row
                .try_get::<Option<String>, _>("technique")
                .map_err(|e| corrupt(&e))?,
            severity: text("severity")?,
            description: text("description")?,
            entities: row
                .try_get::<Json<AlertEntities>, _>("entities")
                .map_err(|e| corrupt(&e))?
                .0,
            first_seen: opt_time("first_seen")?,
            last_seen: opt_time("last_seen")?,
            event_count: u64::try_from(
                row.try_get::<i64, _>("event_count")
                    .map_err(|e| corrupt(&e))?,
            )
            .map_err(|e| corrupt(&e))?,
            events: row
                .try_get::<Json<serde_json::Value>, _>("events")
                .map_err(|e| corrupt(&e))?
                .0,
            input: text("input")?,
            fed_by: row
                .try_get::<Option<Json<riposte_core::policy::Principal>>, _>("fed_by")
                .map_err(|e| corrupt(&e))?
                .map(|j| j.0),
        },
    })
}

#[async_trait]
impl AlertStore for PostgresStore {
    async fn expire_alerts(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError> {
        self.expire_alerts_before(before, max).await
    }

    async fn append_alert(&self, alert: NewAlert) -> Result<StoredAlert, StoreError> {
        let id = Uuid::now_v7();
        let raised_at = now();
        let users = alert
            .entities
            .users
            .iter()
            .map(|u| u.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        sqlx::query(
            "INSERT INTO alerts (id, raised_at, rule_id, title, technique, severity, description, entities, users, \
             first_seen, last_seen, event_count, events, input, fed_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(id)
        .bind(raised_at)
        .bind(&alert.rule_id)
        .bind(&alert.title)
        .bind(&alert.technique)
        .bind(&alert.severity)
        .bind(&alert.description)
        .bind(encode(&alert.entities)?)
        .bind(users)
        .bind(alert.first_seen.map(to_millis))
        .bind(alert.last_seen.map(to_millis))
        .bind(i64::try_from(alert.event_count).unwrap_or(i64::MAX))
        .bind(Json(&alert.events))
        .bind(&alert.input)
        .bind(alert.fed_by.as_ref().map(Json))
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        // What a later read gives back: times as the store keeps them (milliseconds).
        let mut alert = alert;
        alert.first_seen = alert.first_seen.map(|t| from_millis(to_millis(t)));
        alert.last_seen = alert.last_seen.map(|t| from_millis(to_millis(t)));
        Ok(StoredAlert {
            id,
            raised_at: from_millis(raised_at),
            alert,
        })
    }

    async fn get_alert(&self, id: Uuid) -> Result<Option<StoredAlert>, StoreError> {
        let row = sqlx::query("SELECT * FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM alerts WHERE true");
        if let Some(t) = &filter.technique {
            q.push(" AND upper(technique) = ")
                .push_bind(t.to_ascii_uppercase());
        }
        if let Some(user) = &filter.user {
            q.push(" AND users LIKE ")
                .push_bind(contains_pattern(&user.to_lowercase()))
                .push(" ESCAPE '\\'");
        }
        if let Some(since) = filter.since {
            q.push(" AND raised_at >= ").push_bind(to_millis(since));
        }
        q.push(" ORDER BY raised_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(100).min(10_000)))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset.unwrap_or(0)));
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(alert_from_row).collect()
    }
}

/// A session advisory lock on its own connection: held while the
/// connection lives, freed by the server when it closes (or the node dies).
struct AdvisoryLeader {
    conn: Option<PgConnection>,
    key: i32,
}

#[async_trait]
impl LeaderGuard for AdvisoryLeader {
    async fn still_held(&mut self) -> Result<bool, StoreError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false);
        };
        // The lock is the session's: if the session answers, it holds it.
        let held: Result<bool, sqlx::Error> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2)",
        )
        .bind(i64::from(LOCK_CLASS))
        .bind(i64::from(self.key))
        .fetch_one(&mut *conn)
        .await;
        match held {
            Ok(held) => Ok(held),
            Err(e) => {
                self.conn = None;
                Err(StoreError::Backend(format!(
                    "the connection holding a leader lock failed: {e}"
                )))
            }
        }
    }

    async fn release(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(self.key)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// A task's lock key: FNV-1a of its name, kept non-negative (pg_locks shows it as an oid).
fn task_key(task: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in task.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash & 0x7fff_ffff) as i32
}

#[async_trait]
impl LeaderLock for PostgresStore {
    async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError> {
        let key = task_key(task);
        let mut conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            PgConnection::connect_with(&self.options),
        )
        .await
        .map_err(|_| {
            StoreError::Backend(format!(
                "{}: no answer within {}s while opening a connection for the {task} leader lock",
                self.location,
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| self.error(e))?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        if !got {
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(Leadership::new(
            task,
            Box::new(AdvisoryLeader {
                conn: Some(conn),
                key,
            }),
        )))
    }
}

impl PostgresStore {
    async fn bulk_counts(
        &self,
        id: Uuid,
    ) -> Result<(BulkCounts, Option<time::OffsetDateTime>), StoreError> {
        self.bulk_counts_in(&self.pool, id).await
    }

    /// [`Self::bulk_counts`], read through `conn` (a transaction's, to see
    /// what it sees).
    async fn bulk_counts_in<'c, E: sqlx::Executor<'c, Database = Postgres>>(
        &self,
        conn: E,
        id: Uuid,
    ) -> Result<(BulkCounts, Option<time::OffsetDateTime>), StoreError> {
        let rows: Vec<(String, Option<String>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT state, outcome, COUNT(*), MAX(finished_at) FROM jobs WHERE bulk_id = $1 GROUP BY state, outcome",
        )
        .bind(id)
        .fetch_all(conn)
        .await
        .map_err(|e| self.error(e))?;
        BulkCounts::from_groups(rows)
    }

    async fn bulk_from_row(&self, row: &PgRow) -> Result<BulkOperation, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("bulk operation: {what}: {e}"))
        };
        let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(col, &e));
        let opt = |col: &str| {
            row.try_get::<Option<String>, _>(col)
                .map_err(|e| corrupt(col, &e))
        };
        let id: Uuid = row.try_get("id").map_err(|e| corrupt("id", &e))?;
        let (counts, finished_at) = self.bulk_counts(id).await?;
        Ok(BulkOperation {
            id,
            created_at: from_millis(
                row.try_get("created_at")
                    .map_err(|e| corrupt("created_at", &e))?,
            ),
            updated_at: from_millis(
                row.try_get("updated_at")
                    .map_err(|e| corrupt("updated_at", &e))?,
            ),
            finished_at,
            action: text("action")?.parse().map_err(|e| corrupt("action", &e))?,
            options: row
                .try_get::<Json<riposte_core::ActionOptions>, _>("options")
                .map_err(|e| corrupt("options", &e))?
                .0,
            selector_kind: text("selector_kind")?,
            selector_value: text("selector_value")?,
            requested_by: text("requested_by")?,
            requester_person: opt("requester_person")?,
            source: text("source")?,
            reason: text("reason")?,
            state: text("state")?.parse()?,
            approval: opt("approval")?.map(|a| a.parse()).transpose()?,
            approval_reason: opt("approval_reason")?,
            decided_by: opt("decided_by")?,
            undo_of: row.try_get("undo_of").map_err(|e| corrupt("undo_of", &e))?,
            skipped: serde_json::from_str(&text("skipped")?).map_err(|e| corrupt("skipped", &e))?,
            counts,
        })
    }

    /// A bulk's state change, and its record when given, in one transaction.
    async fn set_bulk_state_with(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
        record: Option<NewAuditRecord>,
    ) -> Result<BulkOperation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        if record.is_some() {
            // The audit lock first, as every append takes it.
            self.lock_audit(&mut tx).await?;
        }
        // The row lock orders concurrent changes from several nodes.
        let current: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT state, action, approval FROM bulk_operations WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let Some((current, action, approval)) = current else {
            return Err(StoreError::Conflict(format!(
                "no bulk operation has the id {id}"
            )));
        };
        let current: BulkState = current.parse()?;
        if !from.contains(&current) {
            return Err(StoreError::Conflict(format!(
                "bulk operation {id} is {current}, so it cannot become {to}"
            )));
        }
        if to == BulkState::Running && approval.as_deref() == Some("pending") {
            return Err(StoreError::Conflict(riposte_store::bulk_pending_message(
                id,
            )));
        }
        if to == BulkState::Finished {
            let active: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE bulk_id = $1 AND state <> 'finished'",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            if active > 0 {
                return Err(StoreError::Conflict(format!(
                    "bulk operation {id} still has {active} unfinished job(s)"
                )));
            }
        }
        sqlx::query("UPDATE bulk_operations SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(to.as_str())
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        if let Some(mut record) = record {
            // Under the audit lock taken first: the counts are the ones the
            // change saw, and no state change stands without its record.
            let action = action
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("bulk operation {id}: action: {e}")))?;
            let (counts, _) = self.bulk_counts_in(&mut *tx, id).await?;
            riposte_store::describe_bulk(&mut record, id, action, to, &counts);
            self.append_in(&mut tx, record).await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        self.fetch_bulk(id).await
    }

    async fn fetch_bulk(&self, id: Uuid) -> Result<BulkOperation, StoreError> {
        self.get_bulk(id)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("no bulk operation has the id {id}")))
    }
}

#[async_trait]
impl BulkStore for PostgresStore {
    async fn create_bulk(
        &self,
        bulk: NewBulk,
        children: Vec<NewJob>,
        mut request: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        self.lock_audit(&mut tx).await?;
        let id = Uuid::now_v7();
        let at = now();
        sqlx::query(
            "INSERT INTO bulk_operations (id, created_at, updated_at, action, options, selector_kind, selector_value, \
             requested_by, source, reason, state, undo_of, skipped, requester_person, approval, approval_reason) \
             VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(id)
        .bind(at)
        .bind(bulk.action.as_str())
        .bind(encode(&bulk.options)?)
        .bind(&bulk.selector_kind)
        .bind(&bulk.selector_value)
        .bind(&bulk.requested_by)
        .bind(&bulk.source)
        .bind(&bulk.reason)
        .bind(if bulk.approval_required.is_some() {
            BulkState::Paused.as_str()
        } else {
            BulkState::Running.as_str()
        })
        .bind(bulk.undo_of)
        .bind(bulk.skipped.to_string())
        .bind(&bulk.requester_person)
        .bind(bulk.approval_required.as_ref().map(|_| "pending"))
        .bind(&bulk.approval_required)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let mut ids = Vec::with_capacity(children.len());
        for job in &children {
            let child = Uuid::now_v7();
            self.insert_job(&mut tx, child, at, job, Some(id)).await?;
            ids.push((child, job));
        }
        // The children's request record, under the audit lock taken first:
        // no child exists without it.
        riposte_store::name_children(&mut request, id, &ids);
        self.append_in(&mut tx, request).await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        self.fetch_bulk(id).await
    }

    async fn get_bulk(&self, id: Uuid) -> Result<Option<BulkOperation>, StoreError> {
        let row = sqlx::query("SELECT * FROM bulk_operations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        match row {
            Some(row) => Ok(Some(self.bulk_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn list_bulks(
        &self,
        state: Option<BulkState>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<BulkOperation>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT * FROM bulk_operations WHERE true");
        if let Some(state) = state {
            q.push(" AND state = ").push_bind(state.as_str());
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit.min(10_000)))
            .push(" OFFSET ")
            .push_bind(i64::from(offset));
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.bulk_from_row(row).await?);
        }
        Ok(out)
    }

    async fn set_bulk_state(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
    ) -> Result<BulkOperation, StoreError> {
        self.set_bulk_state_with(id, from, to, None).await
    }

    async fn set_bulk_state_recorded(
        &self,
        id: Uuid,
        from: &[BulkState],
        to: BulkState,
        record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        self.set_bulk_state_with(id, from, to, Some(record)).await
    }

    async fn decide_bulk_approval(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        record: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        self.decide_bulk(id, decided_by, approve, record).await
    }

    async fn claim_next_in_bulk(
        &self,
        id: Uuid,
        forest: Option<&str>,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        loop {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "SELECT j.id FROM jobs j JOIN bulk_operations b ON b.id = j.bulk_id \
                 WHERE b.state = 'running' AND j.state = 'queued' AND COALESCE(j.approval, 'approved') = 'approved' AND j.bulk_id = ",
            );
            q.push_bind(id);
            if let Some(forest) = forest {
                q.push(" AND j.forest = ").push_bind(forest.to_string());
            }
            q.push(" ORDER BY j.created_at, j.id LIMIT 1");
            let next: Option<Uuid> = q
                .build_query_scalar()
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
            let Some(next) = next else { return Ok(None) };
            // Another node may win this one: then look again.
            if self.claim(next, owner, lease).await? {
                return self.fetch(next).await.map(Some);
            }
        }
    }

    async fn bulk_jobs(&self, id: Uuid) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query("SELECT * FROM jobs WHERE bulk_id = $1 ORDER BY created_at, id")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(job_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://riposte:s3cret@db.example:5432/ledger?sslmode=require"),
            "postgres://riposte@db.example:5432/ledger"
        );
        assert_eq!(
            redact_url("postgresql://db.example/ledger?password=s3cret"),
            "postgresql://db.example/ledger"
        );
        assert_eq!(redact_url("nonsense"), "<not a URL>");
        assert_eq!(
            password_of("postgres://u:p%40ss@h/db").as_deref(),
            Some("p%40ss")
        );
        assert_eq!(password_of("postgres://u@h/db"), None);
    }

    #[test]
    fn task_keys_are_stable_and_distinct() {
        assert_eq!(task_key("ingest-tailer"), task_key("ingest-tailer"));
        assert_ne!(task_key("ingest-tailer"), task_key("lease-sweep"));
        assert!(task_key("x") >= 0);
    }
}
