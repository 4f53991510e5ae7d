//! The job ledger on SQLite, the embedded default: one file under the data
//! directory, WAL mode, append-only migrations. It keeps the jobs and the
//! audit trail (hash-chained, see [`riposte_store::audit`]).
#![forbid(unsafe_code)]

mod bulk_approval;
mod retention;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use riposte_core::evidence::Evidence;
use riposte_core::policy::{Role, Scope};
use riposte_store::audit::checkpoint;
use riposte_store::{
    AlertFilter, AlertStore, ApiToken, AuditLog, AuditRecord, Created, Finish, GENESIS_HASH, Job,
    JobEvent, JobFilter, JobState, JobStore, LeaderGuard, LeaderLock, Leadership, NewAlert,
    NewAuditRecord, NewJob, PeopleStore, Person, Progress, Session, StoreError, StoredAlert,
    TokenStore, from_millis, record_hash, to_millis,
};
use riposte_store::{AuditSigner, BulkCounts, BulkOperation, BulkState, BulkStore, NewBulk};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

/// Migrations in order. Append only: a released migration never changes.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "jobs", include_str!("../migrations/0001_jobs.sql")),
    (2, "audit", include_str!("../migrations/0002_audit.sql")),
    (
        3,
        "api_tokens",
        include_str!("../migrations/0003_api_tokens.sql"),
    ),
    (
        4,
        "approvals",
        include_str!("../migrations/0004_approvals.sql"),
    ),
    (5, "people", include_str!("../migrations/0005_people.sql")),
    (
        6,
        "job_steps",
        include_str!("../migrations/0006_job_steps.sql"),
    ),
    (7, "alerts", include_str!("../migrations/0007_alerts.sql")),
    (
        8,
        "bulk_operations",
        include_str!("../migrations/0008_bulk_operations.sql"),
    ),
    (
        9,
        "write_probe",
        include_str!("../migrations/0009_write_probe.sql"),
    ),
    (
        10,
        "idempotency_per_caller",
        include_str!("../migrations/0010_idempotency_per_caller.sql"),
    ),
    (
        11,
        "people_and_bulk_approval",
        include_str!("../migrations/0011_people_and_bulk_approval.sql"),
    ),
    (
        12,
        "alert_retention",
        include_str!("../migrations/0012_alert_retention.sql"),
    ),
    (
        13,
        "evidence_sources",
        include_str!("../migrations/0013_evidence_sources.sql"),
    ),
    (
        14,
        "forwarder_role",
        include_str!("../migrations/0014_forwarder_role.sql"),
    ),
];

/// Every write transaction starts with `BEGIN IMMEDIATE`: a deferred one
/// that reads first and writes later cannot wait for the lock when another
/// connection is writing (SQLite answers SQLITE_BUSY at once, without the busy
/// timeout), which the service hits when the worker, the ingest pipeline and
/// automatic response write at the same moment.
pub struct SqliteStore {
    pool: SqlitePool,
    location: String,
    path: std::path::PathBuf,
    /// A write was refused because the ledger cannot be written; cleared by
    /// the next successful [`JobStore::check_writable`].
    refused: std::sync::atomic::AtomicBool,
    /// Signs the audit checkpoints (`[audit] signing_key`); None: none are made.
    signer: Option<std::sync::Arc<AuditSigner>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the ledger file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        let open_error = |message: String| {
            let lower = message.to_ascii_lowercase();
            if lower.contains("readonly")
                || lower.contains("read-only")
                || lower.contains("disk is full")
                || lower.contains("no space left")
            {
                StoreError::Unwritable {
                    location: location.clone(),
                    message,
                }
            } else {
                StoreError::Open {
                    location: location.clone(),
                    message,
                }
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_error(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Migrations run on one connection of their own, before the pool
        // opens any: a pooled connection that read the schema between two
        // migrations would prepare `SELECT *` against the old columns, and
        // sqlx then indexes past the row once SQLite re-prepares it.
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| open_error(e.to_string()))?;
        migrate(&mut conn)
            .await
            .map_err(|e| open_error(format!("applying migrations failed: {e}")))?;
        let _ = conn.close().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A connection whose transaction SQLite rolled back by itself
            // (SQLITE_FULL, SQLITE_IOERR, a read-only disk) keeps sqlx's
            // transaction depth at 1, since the ROLLBACK on drop then fails,
            // and every later BEGIN on it is refused ("non-zero transaction
            // depth"): without this, the pool stays broken after the disk is back.
            .before_acquire(|conn, _| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .connect_with(options)
            .await
            .map_err(|e| open_error(e.to_string()))?;
        Ok(SqliteStore {
            pool,
            location,
            path: path.to_path_buf(),
            refused: std::sync::atomic::AtomicBool::new(false),
            signer: None,
        })
    }

    /// Appends signed checkpoints with `signer` (see [`riposte_store::audit::checkpoint`]).
    pub fn with_audit_signer(mut self, signer: std::sync::Arc<AuditSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    fn error(&self, e: sqlx::Error) -> StoreError {
        let message = e.to_string();
        let lower = message.to_ascii_lowercase();
        if lower.contains("readonly")
            || lower.contains("read-only")
            || lower.contains("disk is full")
            || lower.contains("disk i/o")
        {
            self.refused
                .store(true, std::sync::atomic::Ordering::Relaxed);
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
        tx: &mut sqlx::SqliteConnection,
        id: Uuid,
        at: i64,
        state: JobState,
        phase: Option<&str>,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO job_events (job_id, at, state, phase, message) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(at)
        .bind(state.as_str())
        .bind(phase)
        .bind(message)
        .execute(tx)
        .await
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Inserts one queued job (and its first events) inside `tx`.
    async fn insert_job(
        &self,
        tx: &mut sqlx::Transaction<'_, Sqlite>,
        job: &NewJob,
        bulk: Option<Uuid>,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        let at = now();
        let options =
            serde_json::to_string(&job.options).map_err(|e| StoreError::Backend(e.to_string()))?;
        sqlx::query(
            "INSERT INTO jobs (id, created_at, updated_at, requested_by, requester_person, source, reason, action, options, target_ref, \
             forest, target_dn, target_sid, state, caller_idempotency_key, approval, approval_reason, steps, bulk_id, evidence_input) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(at)
        .bind(at)
        .bind(&job.requested_by)
        .bind(&job.requester_person)
        .bind(&job.source)
        .bind(&job.reason)
        .bind(job.action.as_str())
        .bind(options)
        .bind(&job.target_ref)
        .bind(&job.forest)
        .bind(&job.target_dn)
        .bind(&job.target_sid)
        .bind(&job.idempotency_key)
        .bind(job.approval_required.as_ref().map(|_| "pending"))
        .bind(&job.approval_required)
        .bind(serde_json::to_string(&job.steps).map_err(|e| StoreError::Backend(e.to_string()))?)
        .bind(bulk.map(|b| b.to_string()))
        .bind(&job.evidence_input)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.error(e))?;
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
        Ok(id)
    }

    async fn fetch(&self, id: Uuid) -> Result<Job, StoreError> {
        self.get(id).await?.ok_or(StoreError::NoSuchJob(id))
    }

    /// A job's finish, and its outcome record when given, in one transaction.
    async fn finish_with(
        &self,
        id: Uuid,
        owner: Option<&str>,
        finish: Finish<'_>,
        outcome: Option<NewAuditRecord>,
    ) -> Result<Job, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let at = now();
        let evidence = serde_json::to_string(finish.evidence)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let (from_state, owner_value) = match owner {
            Some(o) => ("running", o),
            None => ("queued", ""),
        };
        let updated = sqlx::query(
            "UPDATE jobs SET state = 'finished', outcome = ?, message = ?, evidence = ?, finished_at = ?, updated_at = ?, \
             lease_expires_at = NULL WHERE id = ? AND state = ? AND COALESCE(owner, '') = ?",
        )
        .bind(finish.outcome.as_str())
        .bind(finish.message)
        .bind(evidence)
        .bind(at)
        .bind(at)
        .bind(id.to_string())
        .bind(from_state)
        .bind(owner_value)
        .execute(&mut *tx)
        .await;
        let updated = match updated {
            Ok(r) => r.rows_affected(),
            // The trigger refuses changes to a finished job.
            Err(e) if e.to_string().contains("finished job cannot change") => 0,
            Err(e) => return Err(self.error(e)),
        };
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

    /// Appends one audit record inside `tx`, which must have begun with
    /// `BEGIN IMMEDIATE` (the write lock is held before the head is read),
    /// and the signed checkpoint due after it, if one is.
    async fn append_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Sqlite>,
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
        tx: &mut sqlx::Transaction<'_, Sqlite>,
        from_seq: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE seq >= (SELECT MAX(seq) - 1 FROM audit_log \
             WHERE seq >= ? AND event = 'audit-checkpoint') ORDER BY seq LIMIT 2",
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
        tx: &mut sqlx::Transaction<'_, Sqlite>,
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
        let details = serde_json::to_string(&record.details)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, source, remote_addr, event, target, job_id, result, details, \
             prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(at)
        .bind(&record.actor)
        .bind(&record.source)
        .bind(&record.remote_addr)
        .bind(&record.event)
        .bind(&record.target)
        .bind(record.job_id.map(|id| id.to_string()))
        .bind(&record.result)
        .bind(details)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.error(e))?;
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) \
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
}

/// Applies every migration not yet applied, each in its own write transaction.
async fn migrate(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_some() {
            continue;
        }
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(version)
            .bind(name)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

fn now() -> i64 {
    to_millis(OffsetDateTime::now_utc())
}

fn lease_until(lease: Duration) -> i64 {
    now() + lease.as_millis() as i64
}

fn job_from_row(row: &SqliteRow) -> Result<Job, StoreError> {
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
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
    let id = get_str("id")?;
    Ok(Job {
        id: Uuid::parse_str(&id).map_err(|e| corrupt("id", &e))?,
        created_at: from_millis(get_i64("created_at")?),
        updated_at: from_millis(get_i64("updated_at")?),
        requested_by: get_str("requested_by")?,
        requester_person: get_opt("requester_person")?,
        source: get_str("source")?,
        reason: get_str("reason")?,
        action: get_str("action")?
            .parse()
            .map_err(|e| corrupt("action", &e))?,
        options: serde_json::from_str(&get_str("options")?).map_err(|e| corrupt("options", &e))?,
        target_ref: get_str("target_ref")?,
        forest: get_opt("forest")?,
        target_dn: get_opt("target_dn")?,
        target_sid: get_opt("target_sid")?,
        state: JobState::from_str(&get_str("state")?)?,
        phase: get_opt("phase")?,
        dc: get_opt("dc")?,
        owner: get_opt("owner")?,
        lease_expires_at: get_opt_i64("lease_expires_at")?.map(from_millis),
        write_sent: get_i64("write_sent")? != 0,
        outcome: get_opt("outcome")?
            .map(|o| o.parse())
            .transpose()
            .map_err(|e| corrupt("outcome", &e))?,
        message: get_opt("message")?,
        evidence: get_opt("evidence")?
            .map(|e| serde_json::from_str::<Evidence>(&e))
            .transpose()
            .map_err(|e| corrupt("evidence", &e))?,
        finished_at: get_opt_i64("finished_at")?.map(from_millis),
        idempotency_key: get_opt("caller_idempotency_key")?.or(get_opt("idempotency_key")?),
        approval: get_opt("approval")?.map(|a| a.parse()).transpose()?,
        approval_reason: get_opt("approval_reason")?,
        decided_by: get_opt("decided_by")?,
        steps: get_opt("steps")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("steps", &e))?
            .unwrap_or_default(),
        bulk_id: get_opt("bulk_id")?
            .map(|id| Uuid::parse_str(&id))
            .transpose()
            .map_err(|e| corrupt("bulk_id", &e))?,
        evidence_input: get_opt("evidence_input")?,
    })
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn check_writable(&self) -> Result<(), StoreError> {
        if !self.refused.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        sqlx::query(
            "INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        self.refused
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn create_job(
        &self,
        job: NewJob,
        request: NewAuditRecord,
    ) -> Result<Created, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        if let Some(key) = &job.idempotency_key {
            // The caller's own key only (migration 0010); a job from before it
            // kept its key in idempotency_key.
            let existing = sqlx::query(
                "SELECT * FROM jobs WHERE requested_by = ? \
                 AND (caller_idempotency_key = ? OR idempotency_key = ?) ORDER BY created_at LIMIT 1",
            )
            .bind(&job.requested_by)
            .bind(key)
            .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            if let Some(row) = existing {
                return Ok(Created::Existing(job_from_row(&row)?));
            }
        }
        let id = self.insert_job(&mut tx, &job, None).await?;
        // The request record in the same transaction: BEGIN IMMEDIATE above
        // already holds the write lock the audit chain needs.
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let at = now();
        let decided = sqlx::query(
            "UPDATE jobs SET approval = ?, decided_by = ?, decided_at = ?, updated_at = ? \
             WHERE id = ? AND state = 'queued' AND approval = 'pending'",
        )
        .bind(if approve { "approved" } else { "rejected" })
        .bind(decided_by)
        .bind(at)
        .bind(at)
        .bind(id.to_string())
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
                outcome: riposte_core::Outcome::Denied,
                message: &message,
                evidence: &Evidence::default(),
            },
        )
        .await
    }

    async fn claim(&self, id: Uuid, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let at = now();
        let claimed = sqlx::query(
            "UPDATE jobs SET state = 'running', owner = ?, lease_expires_at = ?, updated_at = ? WHERE id = ? AND state = 'queued' AND COALESCE(approval, 'approved') = 'approved' AND (bulk_id IS NULL OR EXISTS (SELECT 1 FROM bulk_operations b WHERE b.id = jobs.bulk_id AND b.state = 'running'))",
        )
        .bind(owner)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected()
            == 1;
        if claimed {
            self.event(
                &mut tx,
                id,
                at,
                JobState::Running,
                None,
                &format!("claimed by {owner}"),
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(claimed)
    }

    async fn claim_next(&self, owner: &str, lease: Duration) -> Result<Option<Job>, StoreError> {
        loop {
            let next: Option<String> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE state = 'queued' AND COALESCE(approval, 'approved') = 'approved' AND bulk_id IS NULL ORDER BY created_at, id LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
            let Some(id) = next else { return Ok(None) };
            let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // Another worker may win the race for this one: then look again.
            if self.claim(id, owner, lease).await? {
                return self.fetch(id).await.map(Some);
            }
        }
    }

    async fn renew_lease(&self, id: Uuid, owner: &str, lease: Duration) -> Result<(), StoreError> {
        let renewed = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running' AND owner = ?",
        )
        .bind(lease_until(lease))
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        if renewed == 1 {
            return Ok(());
        }
        let job = self.fetch(id).await?;
        Err(match job.state {
            JobState::Running => StoreError::LeaseLost {
                id,
                owner: owner.into(),
                holder: job.owner.unwrap_or_default(),
            },
            state => StoreError::WrongState { id, state },
        })
    }

    async fn record_progress(
        &self,
        id: Uuid,
        owner: &str,
        progress: Progress<'_>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let at = now();
        let updated = sqlx::query(
            "UPDATE jobs SET phase = ?, dc = ?, write_sent = MAX(write_sent, ?), lease_expires_at = ?, updated_at = ? \
             WHERE id = ? AND state = 'running' AND owner = ?",
        )
        .bind(progress.phase)
        .bind(progress.dc)
        .bind(progress.write_sent)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id.to_string())
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        if updated != 1 {
            drop(tx);
            let job = self.fetch(id).await?;
            return Err(match job.state {
                JobState::Running => StoreError::LeaseLost {
                    id,
                    owner: owner.into(),
                    holder: job.owner.unwrap_or_default(),
                },
                state => StoreError::WrongState { id, state },
            });
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
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(())
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
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
            .bind(id.to_string())
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
        let rows = sqlx::query("SELECT * FROM jobs WHERE replace(id, '-', '') LIKE ? ORDER BY created_at DESC LIMIT 10")
            .bind(format!("{hex}%"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(job_from_row).collect()
    }

    async fn events(&self, id: Uuid) -> Result<Vec<JobEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, state, phase, message FROM job_events WHERE job_id = ? ORDER BY seq",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|row| {
                let corrupt = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
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
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM jobs WHERE 1 = 1");
        if let Some(target) = &filter.target {
            let pattern = format!(
                "%{}%",
                target
                    .to_ascii_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
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
            q.push(" AND bulk_id = ").push_bind(bulk.to_string());
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let at = now();
        let taken = sqlx::query(
            "UPDATE jobs SET owner = ?, lease_expires_at = ?, updated_at = ? WHERE id = ? AND state = 'running' AND owner = ?",
        )
        .bind(owner)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id.to_string())
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

fn token_from_row(row: &SqliteRow) -> Result<ApiToken, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("api token: {e}"));
    let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(&e));
    Ok(ApiToken {
        id: Uuid::parse_str(&text("id")?).map_err(|e| corrupt(&e))?,
        name: text("name")?,
        role: text("role")?.parse::<Role>().map_err(|e| corrupt(&e))?,
        scope: serde_json::from_str::<Scope>(&text("scope")?).map_err(|e| corrupt(&e))?,
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

fn audit_record_from_row(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
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
        job_id: get_opt("job_id")?
            .map(|id| Uuid::parse_str(&id))
            .transpose()
            .map_err(|e| corrupt("job_id", &e))?,
        result: get_str("result")?,
        details: serde_json::from_str(&get_str("details")?).map_err(|e| corrupt("details", &e))?,
        prev_hash: get_str("prev_hash")?,
        hash: get_str("hash")?,
    })
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        owner: Option<&str>,
        created_by: &str,
        secret_hash: &str,
    ) -> Result<ApiToken, StoreError> {
        let id = Uuid::now_v7();
        let scope = serde_json::to_string(scope).map_err(|e| StoreError::Backend(e.to_string()))?;
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (id, name, role, scope, owner, created_by, created_at, secret_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(role.as_str())
        .bind(scope)
        .bind(owner)
        .bind(created_by)
        .bind(now())
        .bind(secret_hash)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if e.to_string().contains("UNIQUE") => {
                return Err(StoreError::Conflict(format!(
                    "a live API token named {name:?} exists; revoke it first or pick another name"
                )));
            }
            Err(e) => return Err(self.error(e)),
        }
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        token_from_row(&row)
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM api_tokens WHERE secret_hash = ? AND revoked_at IS NULL")
                .bind(secret_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now())
                .bind(id.to_string())
                .execute(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        // IMMEDIATE takes the write lock before the head is read: concurrent
        // appends wait here (busy timeout) instead of chaining onto the same
        // head, or failing to upgrade a read lock.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let appended = self.append_in(&mut tx, record).await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(appended)
    }

    async fn audit_records(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
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

fn person_from_row(row: &SqliteRow) -> Result<Person, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("person: {e}"));
    let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(&e));
    Ok(Person {
        id: Uuid::parse_str(&text("id")?).map_err(|e| corrupt(&e))?,
        name: text("name")?,
        role: text("role")?.parse::<Role>().map_err(|e| corrupt(&e))?,
        scope: serde_json::from_str::<Scope>(&text("scope")?).map_err(|e| corrupt(&e))?,
        password_hash: text("password_hash")?,
        disabled: row.try_get::<i64, _>("disabled").map_err(|e| corrupt(&e))? != 0,
        created_by: text("created_by")?,
        created_at: from_millis(row.try_get("created_at").map_err(|e| corrupt(&e))?),
    })
}

#[async_trait]
impl PeopleStore for SqliteStore {
    async fn create_person(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        password_hash: &str,
        created_by: &str,
    ) -> Result<Person, StoreError> {
        let id = Uuid::now_v7();
        let scope = serde_json::to_string(scope).map_err(|e| StoreError::Backend(e.to_string()))?;
        let inserted = sqlx::query(
            "INSERT INTO people (id, name, role, scope, password_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(role.as_str())
        .bind(scope)
        .bind(password_hash)
        .bind(created_by)
        .bind(now())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if e.to_string().contains("UNIQUE") => {
                return Err(StoreError::Conflict(format!(
                    "a person named {name:?} exists; pick another name"
                )));
            }
            Err(e) => return Err(self.error(e)),
        }
        self.person_by_name(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("person {name:?} vanished after insert")))
    }

    async fn person_by_name(&self, name: &str) -> Result<Option<Person>, StoreError> {
        let row = sqlx::query("SELECT * FROM people WHERE name = ?")
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
        let done = sqlx::query("UPDATE people SET disabled = ? WHERE name = ?")
            .bind(i64::from(disabled))
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
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO sessions (id, person_id, secret_hash, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(person.to_string())
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
             WHERE s.secret_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND p.disabled = 0",
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
        let id: String = row.try_get("session_id").map_err(|e| corrupt(&e))?;
        Ok(Some(Session {
            id: Uuid::parse_str(&id).map_err(|e| corrupt(&e))?,
            person: person_from_row(&row)?,
            csrf_token: row.try_get("csrf_token").map_err(|e| corrupt(&e))?,
            created_at: from_millis(row.try_get("session_created_at").map_err(|e| corrupt(&e))?),
            expires_at: from_millis(row.try_get("expires_at").map_err(|e| corrupt(&e))?),
        }))
    }

    async fn revoke_session(&self, secret_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = ? WHERE secret_hash = ? AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(secret_hash)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected() == 1)
    }
}

fn alert_from_row(row: &SqliteRow) -> Result<StoredAlert, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("alert: {e}"));
    let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(&e));
    let opt_time = |col: &str| {
        row.try_get::<Option<i64>, _>(col)
            .map(|v| v.map(from_millis))
            .map_err(|e| corrupt(&e))
    };
    Ok(StoredAlert {
        id: Uuid::parse_str(&text("id")?).map_err(|e| corrupt(&e))?,
        raised_at: from_millis(row.try_get("raised_at").map_err(|e| corrupt(&e))?),
        alert: NewAlert {
            rule_id: text("rule_id")?,
            title: text("title")?,
            technique: row
                .try_get::<Option<String>, _>("technique")
                .map_err(|e| corrupt(&e))?,
            severity: text("severity")?,
            description: text("description")?,
            entities: serde_json::from_str(&text("entities")?).map_err(|e| corrupt(&e))?,
            first_seen: opt_time("first_seen")?,
            last_seen: opt_time("last_seen")?,
            event_count: u64::try_from(
                row.try_get::<i64, _>("event_count")
                    .map_err(|e| corrupt(&e))?,
            )
            .map_err(|e| corrupt(&e))?,
            events: serde_json::from_str(&text("events")?).map_err(|e| corrupt(&e))?,
            input: text("input")?,
            fed_by: row
                .try_get::<Option<String>, _>("fed_by")
                .map_err(|e| corrupt(&e))?
                .map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| corrupt(&e))?,
        },
    })
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn expire_alerts(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError> {
        self.expire_alerts_before(before, max).await
    }

    async fn append_alert(&self, alert: NewAlert) -> Result<StoredAlert, StoreError> {
        let id = Uuid::now_v7();
        let raised_at = now();
        let entities = serde_json::to_string(&alert.entities)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let events = alert.events.to_string();
        let users = alert
            .entities
            .users
            .iter()
            .map(|u| u.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        sqlx::query(
            "INSERT INTO alerts (id, raised_at, rule_id, title, technique, severity, description, entities, users, first_seen, last_seen, event_count, events, input, fed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(raised_at)
        .bind(&alert.rule_id)
        .bind(&alert.title)
        .bind(&alert.technique)
        .bind(&alert.severity)
        .bind(&alert.description)
        .bind(entities)
        .bind(users)
        .bind(alert.first_seen.map(to_millis))
        .bind(alert.last_seen.map(to_millis))
        .bind(i64::try_from(alert.event_count).unwrap_or(i64::MAX))
        .bind(events)
        .bind(&alert.input)
        .bind(
            alert
                .fed_by
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        )
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
        let row = sqlx::query("SELECT * FROM alerts WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM alerts WHERE 1 = 1");
        if let Some(t) = &filter.technique {
            q.push(" AND upper(technique) = ")
                .push_bind(t.to_ascii_uppercase());
        }
        if let Some(user) = &filter.user {
            let pattern = format!(
                "%{}%",
                user.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            q.push(" AND users LIKE ")
                .push_bind(pattern)
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

/// Leadership on SQLite: an exclusive OS file lock (`flock`) on
/// `<ledger>.leader-<task>.lock` beside the ledger, held for the guard's
/// life. A SQLite ledger is one file on one host, so every process that can
/// open it can see the lock; the kernel frees it when the holding process
/// dies, so a killed node never keeps the task. A second `try_lead` in the
/// same process opens the file again and is refused like any other.
struct FileLeader {
    file: Option<std::fs::File>,
}

#[async_trait]
impl LeaderGuard for FileLeader {
    async fn still_held(&mut self) -> Result<bool, StoreError> {
        Ok(self.file.is_some())
    }

    async fn release(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = file.unlock();
        }
    }
}

#[async_trait]
impl LeaderLock for SqliteStore {
    async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError> {
        let safe: String = task
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".leader-{safe}.lock"));
        let lock_path = self.path.with_file_name(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Backend(format!(
                "cannot open the leader lock file {}: {e}; check the data directory's permissions",
                lock_path.display()
            )))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Leadership::new(
                task,
                Box::new(FileLeader { file: Some(file) }),
            ))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Backend(format!(
                "cannot lock the leader lock file {}: {e}",
                lock_path.display()
            ))),
        }
    }
}

impl SqliteStore {
    async fn bulk_counts(
        &self,
        id: Uuid,
    ) -> Result<(BulkCounts, Option<OffsetDateTime>), StoreError> {
        self.bulk_counts_in(&self.pool, id).await
    }

    /// [`Self::bulk_counts`], read through `conn` (a transaction's, to see
    /// what it sees).
    async fn bulk_counts_in<'c, E: sqlx::Executor<'c, Database = Sqlite>>(
        &self,
        conn: E,
        id: Uuid,
    ) -> Result<(BulkCounts, Option<OffsetDateTime>), StoreError> {
        let rows: Vec<(String, Option<String>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT state, outcome, COUNT(*), MAX(finished_at) FROM jobs WHERE bulk_id = ? GROUP BY state, outcome",
        )
        .bind(id.to_string())
        .fetch_all(conn)
        .await
        .map_err(|e| self.error(e))?;
        BulkCounts::from_groups(rows)
    }

    async fn bulk_from_row(&self, row: &SqliteRow) -> Result<BulkOperation, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("bulk operation: {what}: {e}"))
        };
        let text = |col: &str| row.try_get::<String, _>(col).map_err(|e| corrupt(col, &e));
        let opt = |col: &str| {
            row.try_get::<Option<String>, _>(col)
                .map_err(|e| corrupt(col, &e))
        };
        let id = Uuid::parse_str(&text("id")?).map_err(|e| corrupt("id", &e))?;
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
            options: serde_json::from_str(&text("options")?).map_err(|e| corrupt("options", &e))?,
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
            undo_of: row
                .try_get::<Option<String>, _>("undo_of")
                .map_err(|e| corrupt("undo_of", &e))?
                .map(|u| Uuid::parse_str(&u))
                .transpose()
                .map_err(|e| corrupt("undo_of", &e))?,
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let current: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT state, action, approval FROM bulk_operations WHERE id = ?")
                .bind(id.to_string())
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
                "SELECT COUNT(*) FROM jobs WHERE bulk_id = ? AND state <> 'finished'",
            )
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            if active > 0 {
                return Err(StoreError::Conflict(format!(
                    "bulk operation {id} still has {active} unfinished job(s)"
                )));
            }
        }
        sqlx::query("UPDATE bulk_operations SET state = ?, updated_at = ? WHERE id = ?")
            .bind(to.as_str())
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        if let Some(mut record) = record {
            // Under the write lock BEGIN IMMEDIATE took: the counts are the
            // ones the change saw, and no state change stands without its
            // record.
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
impl BulkStore for SqliteStore {
    async fn create_bulk(
        &self,
        bulk: NewBulk,
        children: Vec<NewJob>,
        mut request: NewAuditRecord,
    ) -> Result<BulkOperation, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let id = Uuid::now_v7();
        let at = now();
        sqlx::query(
            "INSERT INTO bulk_operations (id, created_at, updated_at, action, options, selector_kind, selector_value, \
             requested_by, requester_person, source, reason, state, undo_of, skipped, approval, approval_reason) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(at)
        .bind(at)
        .bind(bulk.action.as_str())
        .bind(serde_json::to_string(&bulk.options).map_err(|e| StoreError::Backend(e.to_string()))?)
        .bind(&bulk.selector_kind)
        .bind(&bulk.selector_value)
        .bind(&bulk.requested_by)
        .bind(&bulk.requester_person)
        .bind(&bulk.source)
        .bind(&bulk.reason)
        .bind(if bulk.approval_required.is_some() {
            BulkState::Paused.as_str()
        } else {
            BulkState::Running.as_str()
        })
        .bind(bulk.undo_of.map(|u| u.to_string()))
        .bind(bulk.skipped.to_string())
        .bind(bulk.approval_required.as_ref().map(|_| "pending"))
        .bind(&bulk.approval_required)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let mut ids = Vec::with_capacity(children.len());
        for child in &children {
            ids.push((self.insert_job(&mut tx, child, Some(id)).await?, child));
        }
        // The children's request record, under the write lock BEGIN
        // IMMEDIATE took: no child exists without it.
        riposte_store::name_children(&mut request, id, &ids);
        self.append_in(&mut tx, request).await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        self.fetch_bulk(id).await
    }

    async fn get_bulk(&self, id: Uuid) -> Result<Option<BulkOperation>, StoreError> {
        let row = sqlx::query("SELECT * FROM bulk_operations WHERE id = ?")
            .bind(id.to_string())
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
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT * FROM bulk_operations WHERE 1 = 1");
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
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT j.id FROM jobs j JOIN bulk_operations b ON b.id = j.bulk_id \
                 WHERE b.state = 'running' AND j.state = 'queued' AND COALESCE(j.approval, 'approved') = 'approved' AND j.bulk_id = ",
            );
            q.push_bind(id.to_string());
            if let Some(forest) = forest {
                q.push(" AND j.forest = ").push_bind(forest.to_string());
            }
            q.push(" ORDER BY j.created_at, j.id LIMIT 1");
            let next: Option<String> = q
                .build_query_scalar()
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
            let Some(next) = next else { return Ok(None) };
            let next = Uuid::parse_str(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if self.claim(next, owner, lease).await? {
                return self.fetch(next).await.map(Some);
            }
        }
    }

    async fn bulk_jobs(&self, id: Uuid) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query("SELECT * FROM jobs WHERE bulk_id = ? ORDER BY created_at, id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(job_from_row).collect()
    }
}
