//! Jobs ([`JobStore`]): each state change is a conditional `UPDATE` and
//! its job event in one write transaction; a job's request and outcome
//! records commit with it.

use std::time::Duration;

use async_trait::async_trait;
use riposte_core::Outcome;
use riposte_core::evidence::Evidence;
use riposte_store::{
    Created, Finish, Job, JobEvent, JobFilter, JobState, JobStore, NewAuditRecord, NewJob,
    Progress, StoreError, to_millis,
};
use uuid::Uuid;

use crate::dialect::{Dialect, Fields, On, Query, Value, contains_pattern, query};
use crate::{SqlStore, Write, lease_until, now, rows};

impl<D: Dialect> SqlStore<D> {
    /// Appends one job event inside `tx`.
    pub(crate) async fn event(
        &self,
        tx: &mut Write<D>,
        id: Uuid,
        at: i64,
        state: JobState,
        phase: Option<&str>,
        message: &str,
    ) -> Result<(), StoreError> {
        let insert = query(
            "INSERT INTO job_events (job_id, at, state, phase, message) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(at)
        .bind(state.as_str())
        .bind(phase)
        .bind(message);
        self.exec_in(tx, insert).await?;
        if let Some(notify) = D::NOTIFY_JOB {
            // Delivered to other nodes when (and only if) the write commits.
            self.exec_in(tx, query(notify).bind(id.to_string())).await?;
        }
        if !tx.changed_jobs.contains(&id) {
            tx.changed_jobs.push(id);
        }
        Ok(())
    }

    /// The caller's job made with `key`, read inside `tx`.
    async fn job_with_key(
        &self,
        tx: &mut Write<D>,
        requested_by: &str,
        key: &str,
    ) -> Result<Option<Job>, StoreError> {
        let sql = format!(
            "SELECT * FROM jobs WHERE requested_by = ? AND {} ORDER BY created_at LIMIT 1",
            D::KEY_MATCH
        );
        let row = self
            .row_in(tx, query(sql).bind(requested_by).bind(key))
            .await?;
        row.as_ref().map(rows::job::<D>).transpose()
    }

    /// Inserts one queued job (and its first events) inside `tx`: its id,
    /// and false when its idempotency key was used before (nothing inserted).
    pub(crate) async fn insert_job(
        &self,
        tx: &mut Write<D>,
        job: &NewJob,
        bulk: Option<Uuid>,
    ) -> Result<(Uuid, bool), StoreError> {
        let id = Uuid::now_v7();
        let at = now();
        let sql = format!(
            "INSERT INTO jobs (id, created_at, updated_at, requested_by, requester_person, source, reason, action, \
             options, target_ref, forest, target_dn, target_sid, state, {}, approval, approval_reason, steps, \
             bulk_id, evidence_input) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?){}",
            D::KEY_COLUMN,
            D::ON_KEY_CONFLICT
        );
        let insert = query(sql)
            .bind(id)
            .bind(at)
            .bind(at)
            .bind(&job.requested_by)
            .bind(&job.requester_person)
            .bind(&job.source)
            .bind(&job.reason)
            .bind(job.action.as_str())
            .bind(Value::json(&job.options)?)
            .bind(&job.target_ref)
            .bind(&job.forest)
            .bind(&job.target_dn)
            .bind(&job.target_sid)
            .bind(&job.idempotency_key)
            .bind(job.approval_required.as_ref().map(|_| "pending"))
            .bind(&job.approval_required)
            .bind(Value::json(&job.steps)?)
            .bind(bulk)
            .bind(&job.evidence_input);
        if self.exec_in(tx, insert).await? == 0 {
            return Ok((id, false));
        }
        let message = format!(
            "{} requested {} on {}: {}",
            job.requested_by, job.action, job.target_ref, job.reason
        );
        self.event(tx, id, at, JobState::Queued, None, &message)
            .await?;
        if let Some(why) = &job.approval_required {
            let message = format!("pending approval by a second person: {why}");
            let phase = Some("pending-approval");
            self.event(tx, id, at, JobState::Queued, phase, &message)
                .await?;
        }
        Ok((id, true))
    }

    pub(crate) async fn fetch(&self, id: Uuid) -> Result<Job, StoreError> {
        self.get(id).await?.ok_or(StoreError::NoSuchJob(id))
    }

    /// Why a conditional update of a job `owner` held matched nothing.
    async fn not_held(&self, id: Uuid, owner: Option<&str>) -> StoreError {
        match self.fetch(id).await {
            Ok(job) => match (job.state, owner) {
                (JobState::Running, Some(owner)) => StoreError::LeaseLost {
                    id,
                    owner: owner.into(),
                    holder: job.owner.unwrap_or_default(),
                },
                (state, _) => StoreError::WrongState { id, state },
            },
            Err(e) => e,
        }
    }

    /// A job's finish, and its outcome record when given, in one transaction.
    async fn finish_with(
        &self,
        id: Uuid,
        owner: Option<&str>,
        finish: Finish<'_>,
        outcome: Option<NewAuditRecord>,
    ) -> Result<Job, StoreError> {
        let mut tx = self.begin(outcome.is_some()).await?;
        let at = now();
        let (from_state, owner_value) = match owner {
            Some(o) => ("running", o),
            None => ("queued", ""),
        };
        let update = query(
            "UPDATE jobs SET state = 'finished', outcome = ?, message = ?, evidence = ?, finished_at = ?, \
             updated_at = ?, lease_expires_at = NULL WHERE id = ? AND state = ? AND COALESCE(owner, '') = ?",
        )
        .bind(finish.outcome.as_str())
        .bind(finish.message)
        .bind(Value::json(finish.evidence)?)
        .bind(at)
        .bind(at)
        .bind(id)
        .bind(from_state)
        .bind(owner_value);
        let updated = match self.dialect.execute(On::Tx(&mut tx.tx), &update).await {
            Ok(n) => n,
            // The trigger refuses changes to a finished job.
            Err(e) if e.to_string().contains("finished job cannot change") => 0,
            Err(e) => return Err(self.error(e)),
        };
        if updated != 1 {
            drop(tx);
            return Err(self.not_held(id, owner).await);
        }
        let message = format!("{}: {}", finish.outcome, finish.message);
        self.event(&mut tx, id, at, JobState::Finished, None, &message)
            .await?;
        if let Some(record) = outcome {
            let record = NewAuditRecord {
                job_id: Some(id),
                ..record
            };
            self.append_in(&mut tx, record).await?;
        }
        self.commit(tx).await?;
        self.fetch(id).await
    }

    /// Jobs `query` selects.
    pub(crate) async fn jobs(&self, query: Query) -> Result<Vec<Job>, StoreError> {
        let rows = self.rows(query).await?;
        rows.iter().map(rows::job::<D>).collect()
    }

    /// The one-statement claim of the oldest claimable job (`sql` is the
    /// dialect's [`Dialect::CLAIM_NEXT`]).
    async fn claim_next_at_once(
        &self,
        sql: &'static str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        let mut tx = self.begin(false).await?;
        let at = now();
        let claim = query(sql).bind(owner).bind(lease_until(lease)).bind(at);
        let Some(row) = self.row_in(&mut tx, claim).await? else {
            return Ok(None);
        };
        let job = rows::job::<D>(&row)?;
        let message = format!("claimed by {owner}");
        self.event(&mut tx, job.id, at, JobState::Running, None, &message)
            .await?;
        self.commit(tx).await?;
        Ok(Some(job))
    }
}

#[async_trait]
impl<D: Dialect> JobStore for SqlStore<D> {
    async fn check_writable(&self) -> Result<(), StoreError> {
        self.dialect.check_writable().await
    }

    async fn create_job(
        &self,
        job: NewJob,
        request: NewAuditRecord,
    ) -> Result<Created, StoreError> {
        // The audit lock first: the job and its request record then commit
        // together, and no other request with this key runs meanwhile.
        let mut tx = self.begin(true).await?;
        if let Some(key) = &job.idempotency_key
            && let Some(existing) = self.job_with_key(&mut tx, &job.requested_by, key).await?
        {
            // Keys are the caller's own (SQLite 0010, PostgreSQL 0003).
            return Ok(Created::Existing(existing));
        }
        let (id, inserted) = self.insert_job(&mut tx, &job, None).await?;
        if !inserted {
            // Used a moment ago by another node, whose commit the insert
            // waited for: that job is the answer.
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            return match self.job_with_key(&mut tx, &job.requested_by, key).await? {
                Some(existing) => Ok(Created::Existing(existing)),
                None => Err(StoreError::Conflict(format!(
                    "the idempotency key {key:?} is taken but its job cannot be read"
                ))),
            };
        }
        let request = NewAuditRecord {
            job_id: Some(id),
            ..request
        };
        self.append_in(&mut tx, request).await?;
        self.commit(tx).await?;
        Ok(Created::New(self.fetch(id).await?))
    }

    async fn decide_approval(
        &self,
        id: Uuid,
        decided_by: &str,
        approve: bool,
        comment: &str,
    ) -> Result<Job, StoreError> {
        let mut tx = self.begin(false).await?;
        let at = now();
        let verb = if approve { "approved" } else { "rejected" };
        let decide = query(
            "UPDATE jobs SET approval = ?, decided_by = ?, decided_at = ?, updated_at = ? \
             WHERE id = ? AND state = 'queued' AND approval = 'pending'",
        )
        .bind(verb)
        .bind(decided_by)
        .bind(at)
        .bind(at)
        .bind(id);
        if self.exec_in(&mut tx, decide).await? != 1 {
            drop(tx);
            let job = self.fetch(id).await?;
            let state = job.state;
            return Err(StoreError::WrongState { id, state });
        }
        let message = format!("{verb} by {decided_by}: {comment}");
        self.event(&mut tx, id, at, JobState::Queued, Some(verb), &message)
            .await?;
        self.commit(tx).await?;
        if approve {
            return self.fetch(id).await;
        }
        let message = format!(
            "rejected by {decided_by} (second-person approval): {comment}; nothing was written"
        );
        let denied = Finish {
            outcome: Outcome::Denied,
            message: &message,
            evidence: &Evidence::default(),
        };
        self.finish(id, None, denied).await
    }

    async fn claim(&self, id: Uuid, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut tx = self.begin(false).await?;
        let at = now();
        let claim = query(
            "UPDATE jobs SET state = 'running', owner = ?, lease_expires_at = ?, updated_at = ? \
             WHERE id = ? AND state = 'queued' AND COALESCE(approval, 'approved') = 'approved' \
             AND (bulk_id IS NULL OR EXISTS (SELECT 1 FROM bulk_operations b WHERE b.id = jobs.bulk_id AND b.state = 'running'))",
        )
        .bind(owner)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id);
        let claimed = self.exec_in(&mut tx, claim).await? == 1;
        if claimed {
            let message = format!("claimed by {owner}");
            self.event(&mut tx, id, at, JobState::Running, None, &message)
                .await?;
        }
        self.commit(tx).await?;
        Ok(claimed)
    }

    async fn claim_next(&self, owner: &str, lease: Duration) -> Result<Option<Job>, StoreError> {
        if let Some(sql) = D::CLAIM_NEXT {
            return self.claim_next_at_once(sql, owner, lease).await;
        }
        loop {
            let next = self
                .row(query(
                    "SELECT id FROM jobs WHERE state = 'queued' AND COALESCE(approval, 'approved') = 'approved' \
                     AND bulk_id IS NULL ORDER BY created_at, id LIMIT 1",
                ))
                .await?;
            let Some(next) = next else { return Ok(None) };
            let id = Fields::new(&next, "job").uuid("id")?;
            // Another worker may win the race for this one: then look again.
            if self.claim(id, owner, lease).await? {
                return self.fetch(id).await.map(Some);
            }
        }
    }

    async fn renew_lease(&self, id: Uuid, owner: &str, lease: Duration) -> Result<(), StoreError> {
        let renew = query(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running' AND owner = ?",
        )
        .bind(lease_until(lease))
        .bind(id)
        .bind(owner);
        if self.exec(renew).await? == 1 {
            return Ok(());
        }
        Err(self.not_held(id, Some(owner)).await)
    }

    async fn record_progress(
        &self,
        id: Uuid,
        owner: &str,
        progress: Progress<'_>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(false).await?;
        let at = now();
        // write_sent never goes back to false.
        let update = query(
            "UPDATE jobs SET phase = ?, dc = ?, write_sent = (write_sent OR ?), lease_expires_at = ?, \
             updated_at = ? WHERE id = ? AND state = 'running' AND owner = ?",
        )
        .bind(progress.phase)
        .bind(progress.dc)
        .bind(progress.write_sent)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id)
        .bind(owner);
        if self.exec_in(&mut tx, update).await? != 1 {
            drop(tx);
            return Err(self.not_held(id, Some(owner)).await);
        }
        let message = format!("{} on {}", progress.message, progress.dc);
        let phase = Some(progress.phase);
        self.event(&mut tx, id, at, JobState::Running, phase, &message)
            .await?;
        self.commit(tx).await
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
        let row = self
            .row(query("SELECT * FROM jobs WHERE id = ?").bind(id))
            .await?;
        row.as_ref().map(rows::job::<D>).transpose()
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
        self.jobs(
            query(
                "SELECT * FROM jobs WHERE replace(CAST(id AS TEXT), '-', '') LIKE ? \
                 ORDER BY created_at DESC LIMIT 10",
            )
            .bind(format!("{hex}%")),
        )
        .await
    }

    async fn events(&self, id: Uuid) -> Result<Vec<JobEvent>, StoreError> {
        let rows = self
            .rows(
                query(
                    "SELECT at, state, phase, message FROM job_events WHERE job_id = ? ORDER BY seq",
                )
                .bind(id),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let f = Fields::new(row, "job event");
                Ok(JobEvent {
                    at: f.time("at")?,
                    state: f.parse("state")?,
                    phase: f.opt_text("phase")?,
                    message: f.text("message")?,
                })
            })
            .collect()
    }

    async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let mut q = query("SELECT * FROM jobs WHERE 1 = 1");
        if let Some(target) = &filter.target {
            let pattern = contains_pattern(&D::fold_case(target));
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
            q.push(" AND requested_by = ").push_bind(who);
        }
        if let Some(source) = &filter.source {
            q.push(" AND source = ").push_bind(source);
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
        self.jobs(q).await
    }

    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs(query(
            "SELECT * FROM jobs WHERE state = 'running' ORDER BY created_at",
        ))
        .await
    }

    async fn take_over(
        &self,
        id: Uuid,
        previous_owner: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(false).await?;
        let at = now();
        let take = query(
            "UPDATE jobs SET owner = ?, lease_expires_at = ?, updated_at = ? \
             WHERE id = ? AND state = 'running' AND owner = ?",
        )
        .bind(owner)
        .bind(lease_until(lease))
        .bind(at)
        .bind(id)
        .bind(previous_owner);
        let taken = self.exec_in(&mut tx, take).await? == 1;
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
        self.commit(tx).await?;
        Ok(taken)
    }

    fn job_changes(&self) -> riposte_store::JobChanges {
        self.job_changes_relayed()
    }
}
