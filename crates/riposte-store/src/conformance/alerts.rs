//! Detection alerts: appended, read back, filtered and paged.

use std::time::Duration;

use riposte_core::Action;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) fn new_alert(technique: &str, user: &str) -> crate::NewAlert {
    crate::NewAlert {
        rule_id: format!("conf-{technique}"),
        title: format!("conformance {technique}"),
        technique: Some(technique.into()),
        severity: "high".into(),
        description: format!("{user} attacked"),
        entities: crate::AlertEntities {
            users: vec![format!("CORP\\{user}")],
            actors: vec![],
            sources: vec!["10.9.9.9".into()],
            dcs: vec!["dc1".into()],
            services: vec![],
        },
        first_seen: Some(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()),
        last_seen: Some(OffsetDateTime::from_unix_timestamp(1_700_000_060).unwrap()),
        event_count: 6,
        events: json!([{"origin": {"file": "samba.log", "line": 7}, "event_id": 4625}]),
        input: "api:token:conf-fwd".into(),
        // Who sent the events, with the scope they had: read back as written.
        fed_by: Some(riposte_core::policy::Principal {
            name: "token:conf-fwd".into(),
            role: riposte_core::policy::Role::Forwarder,
            scope: riposte_core::policy::Scope {
                forests: vec!["fabrikam".into()],
                ous: vec![],
                actions: vec![Action::Unlock],
            },
            person: None,
        }),
    }
}

/// Alerts: read back as appended, filtered by technique, user and time, paged newest first.
pub async fn alerts_append_filter_and_page(store: &dyn crate::AlertStore) {
    use crate::AlertFilter;
    let before = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let a = store
        .append_alert(new_alert("T1110.003", "ernie"))
        .await
        .unwrap();
    assert_eq!(a.alert, new_alert("T1110.003", "ernie"));
    let got = store.get_alert(a.id).await.unwrap().expect("stored alert");
    assert_eq!(got, a);
    assert!(store.get_alert(Uuid::now_v7()).await.unwrap().is_none());
    let b = store
        .append_alert(new_alert("T1558.003", "bert"))
        .await
        .unwrap();
    let c = store
        .append_alert(new_alert("T1110.003", "grover"))
        .await
        .unwrap();
    let ids = |v: Vec<crate::StoredAlert>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let all = ids(store.list_alerts(&AlertFilter::default()).await.unwrap());
    assert_eq!(all, vec![c.id, b.id, a.id], "newest first");
    let spray = AlertFilter {
        technique: Some("t1110.003".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_alerts(&spray).await.unwrap()),
        vec![c.id, a.id]
    );
    let bert = AlertFilter {
        user: Some("BERT".into()),
        ..Default::default()
    };
    assert_eq!(ids(store.list_alerts(&bert).await.unwrap()), vec![b.id]);
    let page = AlertFilter {
        limit: Some(1),
        offset: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(store.list_alerts(&page).await.unwrap()), vec![b.id]);
    let since = AlertFilter {
        since: Some(before),
        ..Default::default()
    };
    assert_eq!(store.list_alerts(&since).await.unwrap().len(), 3);
    let later = AlertFilter {
        since: Some(OffsetDateTime::now_utc() + Duration::from_secs(3600)),
        ..Default::default()
    };
    assert!(store.list_alerts(&later).await.unwrap().is_empty());
}
