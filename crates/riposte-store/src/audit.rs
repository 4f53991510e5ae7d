//! The audit trail: who did what, when, from where, with what result.
//!
//! Records are append-only and hash-chained: each record's hash covers every
//! field and the previous record's hash, and the backend keeps the newest
//! (seq, hash) in a separate head row updated in the same transaction. So
//! [`verify_chain`] finds a changed record (its hash no longer matches), a
//! deleted one (a gap in seq, or a prev_hash that links to nothing) and a cut
//! tail (the head names a record that is gone). The chain is tamper-evident,
//! not tamper-proof: someone who can rewrite the database can recompute every
//! hash, so an export to a SIEM is what keeps the history out of their reach.
//!
//! Secrets (passwords, tokens) never go into a record: callers put only
//! names, outcomes and messages in `details`.

pub mod checkpoint;
mod ocsf;
#[cfg(test)]
mod tests_support;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{StoreError, to_millis};

pub use ocsf::{OCSF_VERSION, to_ocsf};

/// The prev_hash of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many records [`verify_chain`] reads at a time.
const VERIFY_PAGE: u32 = 1000;

/// An audit record as a caller writes it; the log adds seq, time and hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditRecord {
    /// Who: "cli:root@host", "user:alice", "token:ci-bot", "system".
    pub actor: String,
    /// Through what: "cli", "api", "portal", "automation", "system".
    pub source: String,
    pub remote_addr: Option<String>,
    /// What, in kebab-case: "sign-in", "action-requested", "action-outcome", ...
    pub event: String,
    /// The identity or object acted on.
    pub target: Option<String>,
    pub job_id: Option<Uuid>,
    /// "success", "failure", "denied", or an outcome word (verified, already, ...).
    pub result: String,
    /// Small structured context; never a secret.
    pub details: Value,
}

/// An audit record as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub source: String,
    pub remote_addr: Option<String>,
    pub event: String,
    pub target: Option<String>,
    pub job_id: Option<Uuid>,
    pub result: String,
    pub details: Value,
    /// The hash of the record before this one ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// Hex SHA-256, see [`record_hash`].
    pub hash: String,
}

impl AuditRecord {
    /// The fields the caller wrote, as they were appended.
    pub fn to_new(&self) -> NewAuditRecord {
        NewAuditRecord {
            actor: self.actor.clone(),
            source: self.source.clone(),
            remote_addr: self.remote_addr.clone(),
            event: self.event.clone(),
            target: self.target.clone(),
            job_id: self.job_id,
            result: self.result.clone(),
            details: self.details.clone(),
        }
    }

    /// The hash this record's fields give; differs from `hash` if it was changed.
    pub fn recompute_hash(&self) -> String {
        record_hash(
            &self.prev_hash,
            self.seq,
            to_millis(self.at),
            &self.to_new(),
        )
    }
}

/// The audit trail. Every implementation passes the audit checks in
/// [`crate::conformance`].
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends one record after the current head, atomically with the head
    /// update; concurrent appends form one chain.
    async fn append(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError>;

    /// Records with seq > after_seq, ascending, at most `limit`.
    async fn audit_records(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// The (seq, hash) of the newest record as kept in a separate head row,
    /// updated in the same transaction as each append; None when empty.
    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError>;
}

/// SHA-256 (hex) over an unambiguous serialisation of the record: a version
/// tag, then every field in a fixed order, each string length-prefixed and
/// each optional field tagged present/absent, so no two different records
/// serialise alike. `details` is hashed as canonical JSON (object keys
/// sorted), so the hash does not depend on how a backend stores the JSON.
pub fn record_hash(prev_hash: &str, seq: i64, at_millis: i64, r: &NewAuditRecord) -> String {
    let mut h = Sha256::new();
    put_str(&mut h, "riposte-audit-v1");
    put_str(&mut h, prev_hash);
    h.update(seq.to_be_bytes());
    h.update(at_millis.to_be_bytes());
    put_str(&mut h, &r.actor);
    put_str(&mut h, &r.source);
    put_opt(&mut h, r.remote_addr.as_deref());
    put_str(&mut h, &r.event);
    put_opt(&mut h, r.target.as_deref());
    put_opt(&mut h, r.job_id.map(|id| id.to_string()).as_deref());
    put_str(&mut h, &r.result);
    let mut details = String::new();
    canonical_json(&r.details, &mut details);
    put_str(&mut h, &details);
    hex(&h.finalize())
}

fn put_str(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

fn put_opt(h: &mut Sha256, s: Option<&str>) {
    match s {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            put_str(h, s);
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

/// JSON with object keys sorted at every level and no whitespace; the same
/// value always gives the same text, whatever serde_json's map order is.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// How the chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakKind {
    /// A record's fields no longer give its hash.
    Changed,
    /// A record is gone: a gap in seq, or a prev_hash that links to no record.
    Missing,
    /// The log and its head row disagree: the newest records were cut, or
    /// records were added without going through append.
    HeadMismatch,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Changed => "changed",
            BreakKind::Missing => "missing",
            BreakKind::HeadMismatch => "head-mismatch",
        }
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The first seq that is not as appended (for a gap, the first missing one).
    pub seq: i64,
    pub kind: BreakKind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// Records read and checked.
    pub records: u64,
    /// The break with the lowest seq; None when the chain is intact.
    pub first_break: Option<ChainBreak>,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Keeps the break with the lowest seq.
fn keep(first: &mut Option<ChainBreak>, found: ChainBreak) {
    if first.as_ref().is_none_or(|b| found.seq < b.seq) {
        *first = Some(found);
    }
}

/// Reads the whole log, page by page, and checks every hash and link, then
/// the ends against the head row.
pub async fn verify_chain(log: &dyn AuditLog) -> Result<ChainReport, StoreError> {
    // The head is read before and after the records, so that appends running
    // meanwhile are neither taken for a cut tail (before) nor for records
    // added behind the head's back (after).
    let head_before = log.audit_head().await?;
    let mut first_break = None;
    let mut records = 0u64;
    let mut last: Option<(i64, String)> = None;
    let mut after = 0i64;
    loop {
        let page = log.audit_records(after, VERIFY_PAGE).await?;
        let Some(newest) = page.last() else {
            break;
        };
        after = newest.seq;
        for r in &page {
            records += 1;
            let (expected_seq, expected_prev) = match &last {
                None => (1, GENESIS_HASH),
                Some((seq, hash)) => (seq + 1, hash.as_str()),
            };
            if r.recompute_hash() != r.hash {
                keep(
                    &mut first_break,
                    ChainBreak {
                        seq: r.seq,
                        kind: BreakKind::Changed,
                        detail: format!(
                            "record {} ({} by {}) does not match its hash: a field was changed after it was written",
                            r.seq, r.event, r.actor
                        ),
                    },
                );
            } else if r.seq != expected_seq {
                let detail = if r.seq > expected_seq {
                    format!(
                        "records {expected_seq} to {} are missing: the next record present is {}",
                        r.seq - 1,
                        r.seq
                    )
                } else {
                    format!(
                        "record {} appears out of order after {}",
                        r.seq,
                        expected_seq - 1
                    )
                };
                keep(
                    &mut first_break,
                    ChainBreak {
                        seq: expected_seq.min(r.seq),
                        kind: BreakKind::Missing,
                        detail,
                    },
                );
            } else if r.prev_hash != expected_prev {
                keep(
                    &mut first_break,
                    ChainBreak {
                        seq: r.seq,
                        kind: BreakKind::Missing,
                        detail: format!(
                            "record {} does not follow the record before it (its prev_hash is {}, the previous hash is {expected_prev}): a record was removed or replaced",
                            r.seq, r.prev_hash
                        ),
                    },
                );
            }
            if let Some((head_seq, head_hash)) = &head_before
                && r.seq == *head_seq
                && r.hash != *head_hash
            {
                keep(
                    &mut first_break,
                    ChainBreak {
                        seq: r.seq,
                        kind: BreakKind::HeadMismatch,
                        detail: format!(
                            "the head names record {head_seq} with hash {head_hash}, but the record has {}",
                            r.hash
                        ),
                    },
                );
            }
            last = Some((r.seq, r.hash.clone()));
        }
    }
    let last_seq = last.as_ref().map_or(0, |(seq, _)| *seq);
    if let Some((head_seq, _)) = &head_before
        && last_seq < *head_seq
    {
        keep(
            &mut first_break,
            ChainBreak {
                seq: last_seq + 1,
                kind: BreakKind::HeadMismatch,
                detail: format!(
                    "the newest records are missing: the head names record {head_seq}, the log ends at {}",
                    if last_seq == 0 {
                        "nothing".to_string()
                    } else {
                        format!("record {last_seq}")
                    }
                ),
            },
        );
    }
    let head_after = log.audit_head().await?;
    let head_after_seq = head_after.as_ref().map_or(0, |(seq, _)| *seq);
    if last_seq > head_after_seq {
        keep(
            &mut first_break,
            ChainBreak {
                seq: head_after_seq + 1,
                kind: BreakKind::HeadMismatch,
                detail: format!(
                    "records {} to {last_seq} lie beyond the head (record {head_after_seq}): they were not added by an append",
                    head_after_seq + 1
                ),
            },
        );
    }
    Ok(ChainReport {
        records,
        first_break,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record() -> NewAuditRecord {
        NewAuditRecord {
            actor: "cli:alice@host".into(),
            source: "cli".into(),
            remote_addr: None,
            event: "action-requested".into(),
            target: Some("corp:ernie".into()),
            job_id: Some(Uuid::nil()),
            result: "success".into(),
            details: json!({"action": "disable", "reason": "INC-1"}),
        }
    }

    #[test]
    fn the_hash_is_sha256_hex_and_covers_every_field() {
        let base = record_hash(GENESIS_HASH, 1, 1000, &record());
        assert_eq!(base.len(), 64);
        assert!(
            base.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(base, record_hash(GENESIS_HASH, 1, 1000, &record()));
        let variants: Vec<String> = vec![
            record_hash(&"1".repeat(64), 1, 1000, &record()),
            record_hash(GENESIS_HASH, 2, 1000, &record()),
            record_hash(GENESIS_HASH, 1, 1001, &record()),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    actor: "cli:mallory@host".into(),
                    ..record()
                },
            ),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    source: "api".into(),
                    ..record()
                },
            ),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    remote_addr: Some("10.0.0.1".into()),
                    ..record()
                },
            ),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    event: "approved".into(),
                    ..record()
                },
            ),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    target: None,
                    ..record()
                },
            ),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    job_id: None,
                    ..record()
                },
            ),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    result: "failure".into(),
                    ..record()
                },
            ),
            record_hash(
                GENESIS_HASH,
                1,
                1000,
                &NewAuditRecord {
                    details: json!({"action": "enable", "reason": "INC-1"}),
                    ..record()
                },
            ),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(*v, base, "variant {i} hashes like the original");
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        // Moving text from one field to the next must change the hash.
        let a = NewAuditRecord {
            actor: "ab".into(),
            source: "c".into(),
            ..record()
        };
        let b = NewAuditRecord {
            actor: "a".into(),
            source: "bc".into(),
            ..record()
        };
        assert_ne!(
            record_hash(GENESIS_HASH, 1, 0, &a),
            record_hash(GENESIS_HASH, 1, 0, &b)
        );
        // An absent field differs from an empty one.
        let none = NewAuditRecord {
            target: None,
            ..record()
        };
        let empty = NewAuditRecord {
            target: Some(String::new()),
            ..record()
        };
        assert_ne!(
            record_hash(GENESIS_HASH, 1, 0, &none),
            record_hash(GENESIS_HASH, 1, 0, &empty)
        );
    }

    #[test]
    fn details_hash_the_same_whatever_the_key_order() {
        let text_a = r#"{"b": 1, "a": {"y": [1, 2.5, "x"], "x": null}}"#;
        let text_b = r#"{"a": {"x": null, "y": [1, 2.5, "x"]}, "b": 1}"#;
        let a = NewAuditRecord {
            details: serde_json::from_str(text_a).unwrap(),
            ..record()
        };
        let b = NewAuditRecord {
            details: serde_json::from_str(text_b).unwrap(),
            ..record()
        };
        assert_eq!(
            record_hash(GENESIS_HASH, 1, 0, &a),
            record_hash(GENESIS_HASH, 1, 0, &b)
        );
        let mut out = String::new();
        canonical_json(&a.details, &mut out);
        assert_eq!(out, r#"{"a":{"x":null,"y":[1,2.5,"x"]},"b":1}"#);
    }

    use super::tests_support::{MemLog, now_ready as now};

    /// A log of `n` records, tampered with by `tamper`, then verified.
    fn verify_after(n: usize, tamper: impl FnOnce(&MemLog)) -> ChainReport {
        let log = MemLog::default();
        for i in 0..n {
            now(log.append(NewAuditRecord {
                details: json!({ "i": i }),
                ..record()
            }))
            .unwrap();
        }
        tamper(&log);
        now(verify_chain(&log)).unwrap()
    }

    fn first_break(report: &ChainReport) -> (i64, BreakKind) {
        let b = report.first_break.as_ref().expect("a break");
        (b.seq, b.kind)
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let report = verify_after(2500, |_| {});
        assert_eq!((report.records, report.first_break), (2500, None));
        let empty = verify_after(0, |_| {});
        assert_eq!((empty.records, empty.first_break), (0, None));
    }

    #[test]
    fn a_changed_field_is_found_at_its_record() {
        let report = verify_after(5, |log| {
            log.records.lock().unwrap()[2].result = "failure".into()
        });
        assert_eq!(first_break(&report), (3, BreakKind::Changed));
        assert_eq!(report.records, 5);
        // Rewriting the hash too moves the break to the link after it.
        let report = verify_after(5, |log| {
            let mut records = log.records.lock().unwrap();
            records[2].actor = "cli:mallory@host".into();
            records[2].hash = records[2].recompute_hash();
        });
        assert_eq!(first_break(&report), (4, BreakKind::Missing));
    }

    #[test]
    fn a_deleted_record_is_missing_at_its_seq() {
        let middle = verify_after(5, |log| {
            log.records.lock().unwrap().remove(2);
        });
        assert_eq!(first_break(&middle), (3, BreakKind::Missing));
        let first = verify_after(5, |log| {
            log.records.lock().unwrap().remove(0);
        });
        assert_eq!(first_break(&first), (1, BreakKind::Missing));
    }

    #[test]
    fn a_cut_tail_or_a_record_behind_the_head_disagrees_with_the_head() {
        let newest = verify_after(5, |log| {
            log.records.lock().unwrap().pop();
        });
        assert_eq!(first_break(&newest), (5, BreakKind::HeadMismatch));
        let all = verify_after(5, |log| log.records.lock().unwrap().clear());
        assert_eq!(first_break(&all), (1, BreakKind::HeadMismatch));
        let forged = verify_after(5, |log| {
            let mut records = log.records.lock().unwrap();
            let last = records.last().unwrap().clone();
            let mut extra = last.clone();
            extra.seq = 6;
            extra.prev_hash = last.hash.clone();
            extra.hash = extra.recompute_hash();
            records.push(extra);
        });
        assert_eq!(first_break(&forged), (6, BreakKind::HeadMismatch));
        let replaced_newest = verify_after(5, |log| {
            let mut records = log.records.lock().unwrap();
            records[4].result = "failure".into();
            records[4].hash = records[4].recompute_hash();
        });
        assert_eq!(first_break(&replaced_newest), (5, BreakKind::HeadMismatch));
    }
}
