//! Alert retention, on every backend (the alerts' triggers are each
//! backend's; what the trait promises is checked here).

use time::OffsetDateTime;
use uuid::Uuid;

use super::alerts::new_alert;
use crate::StoreError;

/// Alert retention. `old` are alerts the backend's test stored directly as
/// raised [`OLD_ALERT_DAYS`] days ago (nothing else can backdate an alert).
pub async fn retention_removes_only_alerts_before_the_cut(store: &dyn crate::Store, old: &[Uuid]) {
    assert!(old.len() >= 2, "the check needs at least two old alerts");
    let fresh = store
        .append_alert(new_alert("T1110.003", "retained"))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    // The ledger itself refuses a cut closer to now than MIN_RETENTION.
    let too_recent = store
        .expire_alerts(now - time::Duration::hours(1), 100)
        .await;
    assert!(
        matches!(too_recent, Err(StoreError::Conflict(_))),
        "{too_recent:?}"
    );
    assert!(store.get_alert(fresh.id).await.unwrap().is_some());
    let head = store.audit_head().await.unwrap().map_or(0, |(seq, _)| seq);
    let cut = now - time::Duration::days(OLD_ALERT_DAYS - 1);
    assert_eq!(store.expire_alerts(cut, 1).await.unwrap(), 1, "at most max");
    let rest = old.len() as u64 - 1;
    assert_eq!(store.expire_alerts(cut, 100).await.unwrap(), rest);
    assert_eq!(
        store.expire_alerts(cut, 100).await.unwrap(),
        0,
        "nothing left"
    );
    for id in old {
        assert!(store.get_alert(*id).await.unwrap().is_none(), "{id} kept");
    }
    assert!(
        store.get_alert(fresh.id).await.unwrap().is_some(),
        "a fresh alert is kept"
    );
    let records = store.audit_records(head, 100).await.unwrap();
    let counts: Vec<u64> = records
        .iter()
        .filter(|r| r.event == "alerts-expired")
        .map(|r| r.details["count"].as_u64().unwrap())
        .collect();
    assert_eq!(
        counts,
        vec![1, rest],
        "one record per pass that removed any"
    );
}

/// How old [`retention_removes_only_alerts_before_the_cut`]'s old alerts are.
pub const OLD_ALERT_DAYS: i64 = 3;
