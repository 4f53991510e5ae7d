//! Signed checkpoints: what makes the audit chain hold against someone who
//! can write the ledger but does not hold the signing key.
//!
//! The unkeyed chain alone only shows edits made by someone who did not
//! recompute the hashes. A checkpoint is an audit record (event
//! [`CHECKPOINT_EVENT`]) whose details carry an Ed25519 signature over the
//! (seq, hash) of the record just before it; that hash covers every earlier
//! record through the chain. A ledger rewritten and re-chained no longer
//! hashes to the signed value at the first checkpoint after the change, and
//! a new signature cannot be made without the key, which lives in a file
//! outside the ledger and outside the data directory.
//!
//! The backends call [`seal`] and [`due_after`] in their append path, in the
//! append's transaction: a checkpoint follows every record whose seq is a
//! multiple of `checkpoint_every`, and `riposte serve` asks for one at a
//! clean shutdown ([`request`]). Signing and verifying are aws-lc-rs's.
//!
//! The signer only extends checkpoints it can verify: before signing, the
//! newest checkpoint among the last `checkpoint_every` records must still
//! match the ledger. So a ledger rewritten, or stripped of its checkpoints,
//! is never signed again by riposte on its own; only an operator's explicit
//! `riposte audit checkpoint` ([`certify_request`]) signs a ledger as it is
//! (when signing starts on an existing ledger, or after an investigation).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, ParsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AuditLog, AuditRecord, NewAuditRecord, hex};
use crate::StoreError;

/// The event of a checkpoint record.
pub const CHECKPOINT_EVENT: &str = "audit-checkpoint";

/// Records between checkpoints when `[audit] checkpoint_every` is not set.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 100;

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

/// The bytes signed for a checkpoint of record `seq` whose hash is `hash`:
/// a version tag, then the seq and the hash, so a signature means nothing
/// outside riposte's audit checkpoints.
fn signed_message(seq: i64, hash: &str) -> Vec<u8> {
    let mut m = b"riposte-audit-checkpoint-v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m
}

/// A short name of a public key (its SubjectPublicKeyInfo's SHA-256, first
/// 16 hex digits), so a checkpoint says which key signed it.
fn key_id(spki_der: &[u8]) -> String {
    hex(&Sha256::digest(spki_der))[..16].to_string()
}

/// A new Ed25519 key: (private PKCS#8 DER, public SubjectPublicKeyInfo DER).
pub fn generate_key() -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| KeyError("generating an Ed25519 key failed".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| KeyError(format!("the new key does not load: {e}")))?;
    let public = public_der(&pair)?;
    Ok((pkcs8.as_ref().to_vec(), public))
}

fn public_der(pair: &Ed25519KeyPair) -> Result<Vec<u8>, KeyError> {
    pair.public_key()
        .as_der()
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| KeyError("encoding the public key failed".into()))
}

/// Signs checkpoints. Holds the private key; never printed.
pub struct AuditSigner {
    pair: Ed25519KeyPair,
    key_id: String,
    every: u64,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditSigner(key {}, every {})", self.key_id, self.every)
    }
}

impl AuditSigner {
    /// From an Ed25519 private key in PKCS#8 (v1 as openssl writes it, or v2),
    /// checkpointing after every `every` records (at least 1).
    pub fn from_pkcs8(pkcs8_der: &[u8], every: u64) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der)
            .map_err(|e| KeyError(format!("not an Ed25519 private key in PKCS#8 ({e})")))?;
        let key_id = key_id(&public_der(&pair)?);
        Ok(AuditSigner {
            pair,
            key_id,
            every: every.max(1),
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn every(&self) -> u64 {
        self.every
    }
}

/// A request for a checkpoint of whatever record is the head when it is
/// appended; the backend's append path fills in the signature ([`seal`]).
pub fn request() -> NewAuditRecord {
    NewAuditRecord {
        actor: "system".into(),
        source: "system".into(),
        remote_addr: None,
        event: CHECKPOINT_EVENT.into(),
        target: None,
        job_id: None,
        result: "success".into(),
        details: Value::Null,
    }
}

/// A request by an operator (`actor`) to sign the ledger as it is, without
/// the check that the previous checkpoint still matches.
pub fn certify_request(actor: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: actor.into(),
        source: "cli".into(),
        details: json!({ "certify": true }),
        ..request()
    }
}

/// Whether `record` is a checkpoint (request): the backend then reads the
/// newest checkpoint from [`look_back_from`] on, with the record before it,
/// and passes them to [`seal`].
pub fn is_checkpoint(record: &NewAuditRecord) -> bool {
    record.event == CHECKPOINT_EVENT
}

/// The first seq [`seal`] needs to see before signing after `head_seq`: the
/// last `checkpoint_every` records and the one before them.
pub fn look_back_from(signer: Option<&AuditSigner>, head_seq: i64) -> i64 {
    let every = signer.map_or(1, |s| i64::try_from(s.every).unwrap_or(i64::MAX));
    head_seq.saturating_sub(every).saturating_sub(1).max(1)
}

/// Called by a backend's append path for a checkpoint record, with the head
/// it will follow (seq 0 and the genesis hash on an empty log) and the
/// newest checkpoint from [`look_back_from`] on with the record before it
/// (or any records of that window that include them), before it is hashed: the
/// record gets the signature over the head in its details, whatever the
/// caller put there. Refused (`CheckpointRefused`) without a key, and, unless
/// the request certifies, when the newest checkpoint among `recent` no
/// longer matches the ledger or there is none where one is due.
pub fn seal(
    signer: Option<&AuditSigner>,
    record: NewAuditRecord,
    head_seq: i64,
    head_hash: &str,
    recent: &[AuditRecord],
) -> Result<NewAuditRecord, StoreError> {
    let Some(signer) = signer else {
        return Err(StoreError::CheckpointRefused(
            "an audit checkpoint needs the signing key: set [audit] signing_key".into(),
        ));
    };
    let certify = record.details.get("certify") == Some(&Value::Bool(true));
    if !certify && let Some(why) = continuity(signer, head_seq, recent) {
        return Err(StoreError::CheckpointRefused(format!(
            "{why}; riposte does not sign over it. Run `riposte audit verify --public-key FILE`; once the ledger is explained, `riposte audit checkpoint` signs it as it is"
        )));
    }
    let signature = signer.pair.sign(&signed_message(head_seq, head_hash));
    let mut details = json!({
        "algorithm": "ed25519",
        "key_id": signer.key_id,
        "covers_seq": head_seq,
        "covers_hash": head_hash,
        "signature": hex(signature.as_ref()),
    });
    if certify {
        details["certified_by"] = json!(record.actor);
    }
    Ok(NewAuditRecord {
        details,
        actor: record.actor,
        source: record.source,
        ..request()
    })
}

/// Why the checkpoint after `head_seq` must not be signed automatically, if
/// it must not: the newest checkpoint among `recent` no longer matches, or
/// none is there although the ledger is older than one interval.
fn continuity(signer: &AuditSigner, head_seq: i64, recent: &[AuditRecord]) -> Option<String> {
    let newest = recent
        .iter()
        .rposition(|r| r.event == CHECKPOINT_EVENT && r.seq <= head_seq);
    let Some(at) = newest else {
        let every = i64::try_from(signer.every).unwrap_or(i64::MAX);
        return (head_seq > every).then(|| {
            format!(
                "no checkpoint among the last {every} records before record {head_seq}: checkpoints were removed, or records were written without the key"
            )
        });
    };
    let keys = CheckpointKeys {
        keys: public_der(&signer.pair)
            .ok()
            .and_then(|der| {
                ParsedPublicKey::new(&ED25519, &der)
                    .ok()
                    .map(|k| (signer.key_id.clone(), k))
            })
            .into_iter()
            .collect(),
    };
    let previous = at.checked_sub(1).and_then(|i| recent.get(i));
    check_one(&recent[at], previous, &keys).map(|why| {
        format!(
            "the last checkpoint (seq {}) no longer matches the ledger: {why}",
            recent[at].seq
        )
    })
}

/// Turns a refused due checkpoint into a logged error: the append it would
/// have followed stands, the checkpoint is not written (verify then shows
/// the gap). Any other error is returned.
pub fn skip_refused(result: Result<AuditRecord, StoreError>) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(StoreError::CheckpointRefused(why)) => {
            tracing::error!(reason = %why, "audit checkpoint not signed");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The checkpoint request a backend appends, in the same transaction, after
/// `appended`: after every record whose seq is a multiple of `every`, but
/// never after a checkpoint.
pub fn due_after(signer: Option<&AuditSigner>, appended: &AuditRecord) -> Option<NewAuditRecord> {
    let signer = signer?;
    let every = i64::try_from(signer.every).unwrap_or(i64::MAX);
    (appended.event != CHECKPOINT_EVENT && appended.seq % every == 0).then(request)
}

/// Appends a checkpoint of the current head unless the log is empty or its
/// newest record already is one (a clean shutdown of `riposte serve`).
pub async fn checkpoint_now(log: &dyn AuditLog) -> Result<Option<AuditRecord>, StoreError> {
    let Some((head_seq, _)) = log.audit_head().await? else {
        return Ok(None);
    };
    let newest = log.audit_records(head_seq - 1, 1).await?;
    if newest.first().is_some_and(|r| r.event == CHECKPOINT_EVENT) {
        return Ok(None);
    }
    log.append(request()).await.map(Some)
}

/// Public keys that may have signed checkpoints (more than one while a key
/// is being replaced).
pub struct CheckpointKeys {
    keys: Vec<(String, ParsedPublicKey)>,
}

impl CheckpointKeys {
    /// From Ed25519 public keys as SubjectPublicKeyInfo DER (what `openssl
    /// pkey -pubout` and `riposte audit keygen` write, PEM-decoded).
    pub fn from_spki_ders(ders: &[Vec<u8>]) -> Result<Self, KeyError> {
        let keys = ders
            .iter()
            .map(|der| {
                ParsedPublicKey::new(&ED25519, der)
                    .map(|key| (key_id(der), key))
                    .map_err(|e| KeyError(format!("not an Ed25519 public key ({e})")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CheckpointKeys { keys })
    }

    /// `None` when `signature` (hex) is a valid signature over (seq, hash)
    /// by one of the keys, else why not.
    fn check(&self, seq: i64, hash: &str, signature: &str) -> Option<String> {
        let Some(bytes) = unhex(signature) else {
            return Some("its signature is not hex".into());
        };
        let message = signed_message(seq, hash);
        if self
            .keys
            .iter()
            .any(|(_, key)| key.verify_sig(&message, &bytes).is_ok())
        {
            None
        } else {
            Some(format!(
                "its signature over (seq {seq}, hash {hash}) is not valid for the public key{} given ({})",
                if self.keys.len() == 1 { "" } else { "s" },
                self.keys
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A checkpoint that no longer matches the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBreak {
    /// The checkpoint record's seq.
    pub seq: i64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointReport {
    /// Records read.
    pub records: u64,
    /// Checkpoints whose signature verifies and whose signed (seq, hash)
    /// the ledger still gives.
    pub valid: u64,
    /// The first checkpoint that does not; None when every one holds.
    pub first_break: Option<CheckpointBreak>,
    /// The seq of the newest valid checkpoint (0: none).
    pub last_checkpoint: i64,
    /// Records after it, which no signature covers yet.
    pub uncovered: u64,
    /// `uncovered` is more than the configured interval allows: checkpoints
    /// were removed, or records were appended without the key.
    pub tail_too_long: bool,
}

impl CheckpointReport {
    pub fn holds(&self) -> bool {
        self.first_break.is_none() && !self.tail_too_long
    }
}

/// Reads the whole log and checks every checkpoint: its signature by one of
/// `keys`, that it covers the record just before it, and that this record
/// still hashes (from its own fields) to the signed hash, which through the
/// chain stands for every record before it. `every`: the configured
/// interval, so a tail longer than it is reported as checkpoints missing.
pub async fn verify_checkpoints(
    log: &dyn AuditLog,
    keys: &CheckpointKeys,
    every: u64,
) -> Result<CheckpointReport, StoreError> {
    let mut report = CheckpointReport {
        records: 0,
        valid: 0,
        first_break: None,
        last_checkpoint: 0,
        uncovered: 0,
        tail_too_long: false,
    };
    let mut previous: Option<AuditRecord> = None;
    let mut last_seq = 0;
    let mut after = 0i64;
    loop {
        let page = log.audit_records(after, super::VERIFY_PAGE).await?;
        let Some(newest) = page.last() else {
            break;
        };
        after = newest.seq;
        for r in page {
            report.records += 1;
            last_seq = r.seq;
            if r.event == CHECKPOINT_EVENT {
                match check_one(&r, previous.as_ref(), keys) {
                    None => {
                        report.valid += 1;
                        report.last_checkpoint = r.seq;
                    }
                    Some(detail) => {
                        if report.first_break.is_none() {
                            report.first_break = Some(CheckpointBreak {
                                seq: r.seq,
                                detail: format!("checkpoint at seq {}: {detail}", r.seq),
                            });
                        }
                    }
                }
            }
            previous = Some(r);
        }
    }
    report.uncovered = u64::try_from(last_seq - report.last_checkpoint).unwrap_or(0);
    report.tail_too_long = report.uncovered > every.max(1);
    Ok(report)
}

/// Why `checkpoint` does not hold, given the record before it.
fn check_one(
    checkpoint: &AuditRecord,
    previous: Option<&AuditRecord>,
    keys: &CheckpointKeys,
) -> Option<String> {
    let details = &checkpoint.details;
    let (Some(covers_seq), Some(covers_hash), Some(signature)) = (
        details.get("covers_seq").and_then(Value::as_i64),
        details.get("covers_hash").and_then(Value::as_str),
        details.get("signature").and_then(Value::as_str),
    ) else {
        return Some("it carries no signed (seq, hash)".into());
    };
    if let Some(why) = keys.check(covers_seq, covers_hash, signature) {
        return Some(why);
    }
    if covers_seq != checkpoint.seq - 1 {
        return Some(format!(
            "it signs record {covers_seq}, not the record just before it ({}): it was moved",
            checkpoint.seq - 1
        ));
    }
    let now = match previous {
        Some(p) if p.seq == covers_seq => p.recompute_hash(),
        None if covers_seq == 0 => super::GENESIS_HASH.to_string(),
        _ => return Some(format!("the record it signs ({covers_seq}) is missing")),
    };
    if now != covers_hash {
        return Some(format!(
            "the ledger up to record {covers_seq} now hashes to {now}, but the signed hash is {covers_hash}: records up to {covers_seq} were changed and re-chained after they were signed"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests_support::{MemLog, now_ready, record};

    fn new_key(every: u64) -> (AuditSigner, CheckpointKeys) {
        let (private, public) = generate_key().unwrap();
        (
            AuditSigner::from_pkcs8(&private, every).unwrap(),
            CheckpointKeys::from_spki_ders(&[public]).unwrap(),
        )
    }

    #[test]
    fn checkpoints_follow_every_nth_record_and_verify() {
        let (signer, keys) = new_key(3);
        let log = MemLog::with_signer(signer);
        for i in 0..10 {
            now_ready(log.append(record(i))).unwrap();
        }
        // 10 records and a checkpoint after seq 3, 6 (-> 7 is a checkpoint,
        // so records shift): checkpoints sit at 4, 7... after each multiple of 3.
        let events: Vec<(i64, String)> = now_ready(log.audit_records(0, 100))
            .unwrap()
            .into_iter()
            .map(|r| (r.seq, r.event))
            .collect();
        let checkpoints: Vec<i64> = events
            .iter()
            .filter(|(_, e)| e == CHECKPOINT_EVENT)
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(checkpoints, vec![4, 7, 10, 13]);
        let report = now_ready(verify_checkpoints(&log, &keys, 3)).unwrap();
        assert!(report.holds(), "{report:?}");
        assert_eq!((report.valid, report.last_checkpoint), (4, 13));
        assert_eq!(report.uncovered, 1);
        assert_eq!(
            now_ready(super::super::verify_chain(&log))
                .unwrap()
                .first_break,
            None
        );
    }

    #[test]
    fn a_rechained_rewrite_breaks_the_first_checkpoint_after_it() {
        let (signer, keys) = new_key(3);
        let log = MemLog::with_signer(signer);
        for i in 0..8 {
            now_ready(log.append(record(i))).unwrap();
        }
        log.rewrite_and_rechain(5, |r| r.result = "failure".into());
        assert_eq!(
            now_ready(super::super::verify_chain(&log))
                .unwrap()
                .first_break,
            None,
            "the unkeyed chain cannot see a re-chained rewrite"
        );
        let report = now_ready(verify_checkpoints(&log, &keys, 3)).unwrap();
        let broken = report.first_break.clone().expect("a break");
        assert_eq!(broken.seq, 7, "{broken:?}");
        assert!(broken.detail.contains("re-chained"), "{}", broken.detail);
        assert_eq!(report.valid, 1, "the checkpoint before the change holds");
        // Another key's checkpoints are not valid.
        let (_, other) = new_key(3);
        let report = now_ready(verify_checkpoints(&log, &other, 3)).unwrap();
        assert_eq!(report.first_break.unwrap().seq, 4);
    }

    #[test]
    fn removed_checkpoints_leave_a_tail_longer_than_the_interval() {
        let (signer, keys) = new_key(3);
        let log = MemLog::with_signer(signer);
        for i in 0..8 {
            now_ready(log.append(record(i))).unwrap();
        }
        log.remove_checkpoints_and_rechain();
        let report = now_ready(verify_checkpoints(&log, &keys, 3)).unwrap();
        assert_eq!((report.valid, report.uncovered), (0, 8));
        assert!(report.tail_too_long && !report.holds());
    }

    fn checkpoint_seqs(log: &MemLog) -> Vec<i64> {
        now_ready(log.audit_records(0, 1000))
            .unwrap()
            .into_iter()
            .filter(|r| r.event == CHECKPOINT_EVENT)
            .map(|r| r.seq)
            .collect()
    }

    #[test]
    fn riposte_never_signs_over_a_rewritten_or_stripped_ledger_on_its_own() {
        let (signer, keys) = new_key(3);
        let log = MemLog::with_signer(signer);
        for i in 0..8 {
            now_ready(log.append(record(i))).unwrap();
        }
        log.rewrite_and_rechain(5, |r| r.result = "failure".into());
        // Appends go on (containment never waits on the audit key), but no
        // checkpoint is signed over the rewritten ledger.
        now_ready(log.append(record(8))).unwrap();
        let refused = now_ready(checkpoint_now(&log)).unwrap_err();
        assert!(
            matches!(&refused, StoreError::CheckpointRefused(why) if why.contains("the last checkpoint (seq 10) no longer matches")),
            "{refused}"
        );
        for i in 9..14 {
            now_ready(log.append(record(i))).unwrap();
        }
        assert_eq!(checkpoint_seqs(&log), vec![4, 7, 10]);
        let refused = now_ready(checkpoint_now(&log)).unwrap_err();
        assert!(
            matches!(&refused, StoreError::CheckpointRefused(why) if why.contains("no checkpoint among the last 3 records") && why.contains("riposte audit checkpoint")),
            "{refused}"
        );
        let report = now_ready(verify_checkpoints(&log, &keys, 3)).unwrap();
        assert!(report.tail_too_long && report.first_break.unwrap().seq == 7);

        // Stripped of its checkpoints: the same.
        let (signer, keys) = new_key(3);
        let log = MemLog::with_signer(signer);
        for i in 0..8 {
            now_ready(log.append(record(i))).unwrap();
        }
        log.remove_checkpoints_and_rechain();
        for i in 8..12 {
            now_ready(log.append(record(i))).unwrap();
        }
        assert_eq!(checkpoint_seqs(&log), Vec::<i64>::new());
        // An operator's explicit checkpoint signs the ledger as it is.
        let certified = now_ready(log.append(certify_request("cli:root@host"))).unwrap();
        assert_eq!(certified.details["certified_by"], "cli:root@host");
        assert_eq!(certified.actor, "cli:root@host");
        let report = now_ready(verify_checkpoints(&log, &keys, 3)).unwrap();
        assert!(report.holds(), "{report:?}");
        // And automatic ones continue from it.
        for i in 12..16 {
            now_ready(log.append(record(i))).unwrap();
        }
        assert_eq!(checkpoint_seqs(&log), vec![13, 16, 19]);
    }

    #[test]
    fn a_checkpoint_cannot_be_written_without_the_key() {
        let err = seal(None, request(), 1, super::super::GENESIS_HASH, &[]).unwrap_err();
        assert!(err.to_string().contains("signing_key"), "{err}");
        // Whatever a caller puts in a checkpoint's details is replaced.
        let (signer, _) = new_key(3);
        let forged = NewAuditRecord {
            details: json!({"covers_seq": 1, "signature": "00"}),
            ..request()
        };
        let sealed = seal(Some(&signer), forged, 1, "ab", &[]).unwrap();
        assert_eq!(sealed.details["covers_hash"], "ab");
        assert_eq!(sealed.details["signature"].as_str().unwrap().len(), 128);
    }
}
