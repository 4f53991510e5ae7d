//! Signed checkpoints in a backend's append path: every way a record is
//! appended (a plain append, a job's request, a job's outcome) is followed
//! by a checkpoint in the same transaction when its seq is due.

use riposte_core::evidence::Evidence;
use riposte_core::{Action, Outcome};

use super::support::{LEASE, audit_record, create, new_job, outcome_record};
use crate::audit::checkpoint::{CHECKPOINT_EVENT, CheckpointKeys, checkpoint_now};
use crate::{Finish, Ledger, verify_chain, verify_checkpoints};

/// `store` is fresh (an empty audit log) and signs with a key whose public
/// half is in `keys`, checkpointing every 3 records.
pub async fn checkpoints_follow_every_append_path(store: &dyn Ledger, keys: &CheckpointKeys) {
    assert_eq!(store.audit_head().await.unwrap(), None, "a fresh store");
    // 1, 2: plain appends; 3 (+4): a job's request record.
    for n in 0..2 {
        store.append(audit_record("conf-cp", n)).await.unwrap();
    }
    let job = create(store, new_job("conf-checkpointed", Action::Disable)).await;
    assert!(store.claim(job.id, "node-a", LEASE).await.unwrap());
    // 5: a plain append; 6 (+7): the job's outcome record.
    store.append(audit_record("conf-cp", 2)).await.unwrap();
    let evidence = Evidence::default();
    store
        .finish_recorded(
            job.id,
            Some("node-a"),
            Finish {
                outcome: Outcome::Verified,
                message: "done",
                evidence: &evidence,
            },
            outcome_record("conf-checkpointed", Outcome::Verified),
        )
        .await
        .unwrap();
    // Asked for while the newest record is a checkpoint: nothing new.
    assert_eq!(checkpoint_now(store).await.unwrap(), None);
    // 8, then 9: the checkpoint a clean shutdown asks for.
    store.append(audit_record("conf-cp", 3)).await.unwrap();
    let at_shutdown = checkpoint_now(store).await.unwrap().expect("a checkpoint");
    assert_eq!(at_shutdown.seq, 9);
    assert_eq!(at_shutdown.details["covers_seq"], 8);
    let records = store.audit_records(0, 100).await.unwrap();
    let checkpoints: Vec<i64> = records
        .iter()
        .filter(|r| r.event == CHECKPOINT_EVENT)
        .map(|r| r.seq)
        .collect();
    assert_eq!(checkpoints, vec![4, 7, 9], "{records:?}");
    assert!(verify_chain(store).await.unwrap().intact());
    let report = verify_checkpoints(store, keys, 3).await.unwrap();
    assert!(report.holds(), "{report:?}");
    assert_eq!((report.valid, report.uncovered), (3, 0));
}
