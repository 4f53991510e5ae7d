//! The audit log on one node: appended records read back as written, chained
//! from genesis, paged in order, one chain under concurrent appends.

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::support::*;
use crate::{AuditLog, GENESIS_HASH, NewAuditRecord, record_hash, to_millis, verify_chain};

pub async fn the_first_audit_record_links_to_genesis(store: &dyn AuditLog) {
    assert_eq!(
        store.audit_head().await.unwrap(),
        None,
        "run the audit checks on a fresh store"
    );
    assert!(store.audit_records(0, 10).await.unwrap().is_empty());
    let empty = verify_chain(store).await.unwrap();
    assert_eq!((empty.records, empty.first_break), (0, None));
    let first = store.append(audit_record("conf-genesis", 0)).await.unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((1, first.hash.clone()))
    );
}

pub async fn audit_records_read_back_as_appended(store: &dyn AuditLog) {
    // A record before, so the one read back links to a record, not genesis.
    store.append(audit_record("conf-before", 0)).await.unwrap();
    let head = store.audit_head().await.unwrap();
    let (after, prev) = head.unwrap_or((0, GENESIS_HASH.to_string()));
    let request = NewAuditRecord {
        actor: "user:alice".into(),
        source: "api".into(),
        remote_addr: Some("192.0.2.10".into()),
        event: "action-requested".into(),
        target: Some("corp:conf-audit-read".into()),
        job_id: Some(Uuid::now_v7()),
        result: "success".into(),
        details: json!({
            "action": "disable",
            "reason": "incident 42: \"quoted\", ünïcode",
            "nested": { "z": [1, 2.5, null, true], "a": "x" },
        }),
    };
    let before = to_millis(OffsetDateTime::now_utc());
    let kept = store.append(request.clone()).await.unwrap();
    let after_append = to_millis(OffsetDateTime::now_utc());
    assert_eq!(kept.seq, after + 1);
    assert_eq!(kept.prev_hash, prev);
    assert_eq!(kept.to_new(), request);
    let at = to_millis(kept.at);
    assert!(
        (before..=after_append).contains(&at),
        "{at} not in {before}..={after_append}"
    );
    assert_eq!(kept.hash, record_hash(&prev, kept.seq, at, &request));
    let read = store.audit_records(after, 10).await.unwrap();
    assert_eq!(read, vec![kept.clone()], "read back differs from appended");
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((kept.seq, kept.hash))
    );

    // Absent optional fields stay absent.
    let bare = NewAuditRecord {
        remote_addr: None,
        target: None,
        job_id: None,
        details: json!(null),
        ..audit_record("conf-bare", 0)
    };
    let kept = store.append(bare.clone()).await.unwrap();
    let read = store.audit_records(kept.seq - 1, 1).await.unwrap();
    assert_eq!(read[0].to_new(), bare);
    assert_eq!(read[0].recompute_hash(), read[0].hash);
}

pub async fn audit_records_chain_and_page(store: &dyn AuditLog) {
    // A record before, for paging after `start` to leave out.
    store.append(audit_record("conf-before", 0)).await.unwrap();
    let start = store.audit_head().await.unwrap().map_or(0, |(seq, _)| seq);
    let mut appended = Vec::new();
    for n in 0..5 {
        appended.push(store.append(audit_record("conf-chain", n)).await.unwrap());
    }
    for pair in appended.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "record {} is not linked",
            pair[1].seq
        );
    }
    let page = store.audit_records(start, 2).await.unwrap();
    assert_eq!(page, appended[..2].to_vec(), "limit and after_seq");
    let rest = store.audit_records(page[1].seq, 100).await.unwrap();
    assert_eq!(rest, appended[2..].to_vec(), "ascending from after_seq");
    assert!(
        store
            .audit_records(appended[4].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let report = verify_chain(store).await.unwrap();
    assert_eq!(report.first_break, None);
    assert_eq!(report.records, appended[4].seq as u64);
}

pub async fn concurrent_appends_form_one_chain(store: &dyn AuditLog) {
    let start = store.audit_head().await.unwrap().map_or(0, |(seq, _)| seq);
    let appends: Vec<_> = (0..20)
        .map(|n| store.append(audit_record("conf-concurrent", n)))
        .collect();
    let kept: Vec<_> = join_all(appends)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every concurrent append succeeds");
    let mut seqs: Vec<i64> = kept.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (start + 1..=start + 20).collect::<Vec<_>>());
    let report = verify_chain(store).await.unwrap();
    assert_eq!(
        report.first_break, None,
        "concurrent appends broke the chain"
    );
    assert_eq!(report.records, (start + 20) as u64);
    assert_eq!(
        store.audit_head().await.unwrap().map(|(seq, _)| seq),
        Some(start + 20)
    );
}
