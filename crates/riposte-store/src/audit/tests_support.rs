//! An audit log in memory that tests can tamper with directly; its append
//! path is the backends' (seal, hash, then a due checkpoint).

use async_trait::async_trait;
use serde_json::json;
use uuid::Uuid;

use super::checkpoint::{self, AuditSigner, CHECKPOINT_EVENT};
use super::{AuditLog, AuditRecord, GENESIS_HASH, NewAuditRecord, record_hash};
use crate::{StoreError, to_millis};

pub(crate) fn record(i: usize) -> NewAuditRecord {
    NewAuditRecord {
        actor: "cli:alice@host".into(),
        source: "cli".into(),
        remote_addr: None,
        event: "action-requested".into(),
        target: Some("corp:ernie".into()),
        job_id: Some(Uuid::nil()),
        result: "success".into(),
        details: json!({"action": "disable", "reason": "INC-1", "i": i}),
    }
}

#[derive(Default)]
pub(crate) struct MemLog {
    pub records: std::sync::Mutex<Vec<AuditRecord>>,
    pub head: std::sync::Mutex<Option<(i64, String)>>,
    signer: Option<AuditSigner>,
}

impl MemLog {
    pub fn with_signer(signer: AuditSigner) -> Self {
        MemLog {
            signer: Some(signer),
            ..MemLog::default()
        }
    }

    fn insert(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        let mut head = self.head.lock().unwrap();
        let (seq, prev) = match &*head {
            Some((seq, hash)) => (seq + 1, hash.clone()),
            None => (1, GENESIS_HASH.to_string()),
        };
        let record = if checkpoint::is_checkpoint(&record) {
            let from = checkpoint::look_back_from(self.signer.as_ref(), seq - 1);
            let recent: Vec<AuditRecord> = self
                .records
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.seq >= from)
                .cloned()
                .collect();
            checkpoint::seal(self.signer.as_ref(), record, seq - 1, &prev, &recent)?
        } else {
            record
        };
        let at = crate::from_millis(1_000 * seq);
        let hash = record_hash(&prev, seq, to_millis(at), &record);
        let kept = AuditRecord {
            seq,
            at,
            actor: record.actor,
            source: record.source,
            remote_addr: record.remote_addr,
            event: record.event,
            target: record.target,
            job_id: record.job_id,
            result: record.result,
            details: record.details,
            prev_hash: prev,
            hash: hash.clone(),
        };
        self.records.lock().unwrap().push(kept.clone());
        *head = Some((seq, hash));
        Ok(kept)
    }

    /// Re-links and re-hashes every record from the first, renumbering
    /// them, and moves the head: what an insider with write access does.
    fn rechain(&self) {
        let mut records = self.records.lock().unwrap();
        let mut prev = GENESIS_HASH.to_string();
        for (i, r) in records.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
            r.prev_hash = prev;
            r.hash = r.recompute_hash();
            prev = r.hash.clone();
        }
        *self.head.lock().unwrap() = records.last().map(|r| (r.seq, r.hash.clone()));
    }

    /// Changes record `seq` and re-chains the whole log.
    pub fn rewrite_and_rechain(&self, seq: i64, change: impl FnOnce(&mut AuditRecord)) {
        {
            let mut records = self.records.lock().unwrap();
            let r = records.iter_mut().find(|r| r.seq == seq).unwrap();
            change(r);
        }
        self.rechain();
    }

    /// Drops every checkpoint record and re-chains the rest.
    pub fn remove_checkpoints_and_rechain(&self) {
        self.records
            .lock()
            .unwrap()
            .retain(|r| r.event != CHECKPOINT_EVENT);
        self.rechain();
    }
}

#[async_trait]
impl AuditLog for MemLog {
    async fn append(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        let appended = self.insert(record)?;
        if let Some(due) = checkpoint::due_after(self.signer.as_ref(), &appended) {
            checkpoint::skip_refused(self.insert(due))?;
        }
        Ok(appended)
    }

    async fn audit_records(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.seq > after_seq)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self.head.lock().unwrap().clone())
    }
}

/// Runs a future that never waits (MemLog's never do).
pub(crate) fn now_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("MemLog never waits"),
    }
}
