//! The audit trail ([`AuditLog`]): appends under the chain's lock, which
//! every write transaction that appends took first ([`SqlStore::begin`]).

use async_trait::async_trait;
use riposte_store::audit::checkpoint;
use riposte_store::{
    AuditLog, AuditRecord, GENESIS_HASH, NewAuditRecord, StoreError, from_millis, record_hash,
};

use crate::dialect::{Dialect, Fields, query};
use crate::{SqlStore, Write, now, rows};

impl<D: Dialect> SqlStore<D> {
    /// Appends one audit record inside `tx`, which must have begun as one
    /// that appends (the chain's lock is held before the head is read), and
    /// the signed checkpoint due after it, if one is.
    pub(crate) async fn append_in(
        &self,
        tx: &mut Write<D>,
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
        tx: &mut Write<D>,
        from_seq: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self
            .rows_in(
                tx,
                query(
                    "SELECT * FROM audit_log WHERE seq >= (SELECT MAX(seq) - 1 FROM audit_log \
                     WHERE seq >= ? AND event = 'audit-checkpoint') ORDER BY seq LIMIT 2",
                )
                .bind(from_seq),
            )
            .await?;
        rows.iter().map(rows::audit_record).collect()
    }

    /// The chain's head (seq and hash of the newest record), if any.
    async fn head(&self, tx: Option<&mut Write<D>>) -> Result<Option<(i64, String)>, StoreError> {
        let head = query("SELECT seq, hash FROM audit_head WHERE id = 1");
        let row = match tx {
            Some(tx) => self.row_in(tx, head).await?,
            None => self.row(head).await?,
        };
        row.map(|row| {
            let f = Fields::new(&row, "audit head");
            Ok((f.int("seq")?, f.text("hash")?))
        })
        .transpose()
    }

    /// Persists one record after the head (a checkpoint sealed first).
    async fn insert_audit(
        &self,
        tx: &mut Write<D>,
        record: NewAuditRecord,
    ) -> Result<AuditRecord, StoreError> {
        let (seq, prev_hash) = match self.head(Some(&mut *tx)).await? {
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
        // The details stay text in every dialect, byte for byte as appended.
        let details = serde_json::to_string(&record.details).map_err(crate::encode_error)?;
        let insert = query(
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
        .bind(record.job_id)
        .bind(&record.result)
        .bind(details)
        .bind(&prev_hash)
        .bind(&hash);
        self.exec_in(tx, insert).await?;
        let head = query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(seq)
        .bind(&hash);
        self.exec_in(tx, head).await?;
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

#[async_trait]
impl<D: Dialect> AuditLog for SqlStore<D> {
    async fn append(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        // The chain's lock comes first: concurrent appends wait for it
        // instead of chaining onto the same head.
        let mut tx = self.begin(true).await?;
        let appended = self.append_in(&mut tx, record).await?;
        self.commit(tx).await?;
        Ok(appended)
    }

    async fn audit_records(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self
            .rows(
                query("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
                    .bind(after_seq)
                    .bind(i64::from(limit)),
            )
            .await?;
        rows.iter().map(rows::audit_record).collect()
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        self.head(None).await
    }
}
