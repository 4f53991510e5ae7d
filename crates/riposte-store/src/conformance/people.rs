//! People: one identity per person. Their sessions live until expiry,
//! revocation or disabling; the person behind a request stays with its job
//! or bulk (so no credential of theirs approves it).

use riposte_core::Action;
use time::OffsetDateTime;

use super::support::*;
use crate::{BulkState, Ledger, StoreError};

/// People and their sessions: names are unique, a session is found by the
/// hash of its secret until it expires, is revoked, or its person is disabled.
pub async fn people_sessions_live_until_expiry_revocation_or_disabling(
    store: &dyn crate::PeopleStore,
) {
    use riposte_core::policy::{Role, Scope};
    let scope = Scope {
        forests: vec!["corp".into()],
        ous: vec![],
        actions: vec![Action::Disable, Action::Enable],
    };
    let alice = store
        .create_person(
            "conf-alice",
            Role::Responder,
            &scope,
            "$argon2id$x",
            "cli:root",
        )
        .await
        .unwrap();
    assert_eq!(alice.principal().name, "user:conf-alice");
    let read = store
        .person_by_name("conf-alice")
        .await
        .unwrap()
        .expect("stored person");
    assert_eq!(read, alice);
    assert_eq!(read.scope, scope);
    assert_eq!(read.password_hash, "$argon2id$x");
    assert!(!read.disabled);
    assert!(store.person_by_name("conf-nobody").await.unwrap().is_none());
    let duplicate = store
        .create_person(
            "conf-alice",
            Role::Reader,
            &Scope::default(),
            "h",
            "cli:root",
        )
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));

    let now = OffsetDateTime::now_utc();
    let hours = time::Duration::hours(8);
    let session = store
        .create_session(crate::NewSession {
            person: alice.id,
            secret_hash: "session-hash-1",
            csrf_token: "csrf-1",
            expires_at: now + hours,
            method: crate::SignInMethod::Password,
            mfa: false,
            remote_addr: Some("192.0.2.7"),
        })
        .await
        .unwrap();
    assert_eq!(session.person.id, alice.id);
    assert_eq!(session.csrf_token, "csrf-1");
    let found = store
        .session_by_hash("session-hash-1", now, hours)
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(found.id, session.id);
    assert_eq!(found.person.name, "conf-alice");
    assert!(
        store
            .session_by_hash("session-hash-2", now, hours)
            .await
            .unwrap()
            .is_none()
    );
    // Expired: not found after its expiry.
    assert!(
        store
            .session_by_hash(
                "session-hash-1",
                now + hours + time::Duration::minutes(1),
                hours * 2
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(found.method, crate::SignInMethod::Password);
    assert_eq!(found.remote_addr.as_deref(), Some("192.0.2.7"));
    // A disabled person's sessions stop at once, and stay ended when they are re-enabled.
    assert!(store.set_person_disabled("conf-alice", true).await.unwrap());
    assert!(
        store
            .session_by_hash("session-hash-1", now, hours)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .person_by_name("conf-alice")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        store
            .set_person_disabled("conf-alice", false)
            .await
            .unwrap()
    );
    assert!(
        store
            .session_by_hash("session-hash-1", now, hours)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .set_person_disabled("conf-nobody", true)
            .await
            .unwrap()
    );
    // Sign-out: revoked once, never found again.
    store
        .create_session(crate::NewSession {
            person: alice.id,
            secret_hash: "session-hash-3",
            csrf_token: "csrf-3",
            expires_at: now + hours,
            method: crate::SignInMethod::PasswordTotp,
            mfa: true,
            remote_addr: None,
        })
        .await
        .unwrap();
    assert!(store.revoke_session("session-hash-3").await.unwrap());
    assert!(!store.revoke_session("session-hash-3").await.unwrap());
    assert!(
        store
            .session_by_hash("session-hash-3", now, hours)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_by_hash("session-hash-1", now, hours)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_people()
            .await
            .unwrap()
            .iter()
            .any(|p| p.name == "conf-alice")
    );
}

/// Jobs and bulk operations read back the person behind their request.
pub async fn jobs_and_bulks_keep_the_person_behind_their_request(store: &dyn Ledger) {
    let mut job = new_job("conf-person", Action::Disable);
    job.requested_by = "token:alice-laptop".into();
    job.requester_person = Some("alice".into());
    let stored = super::create(store, job).await;
    assert_eq!(stored.requester_person.as_deref(), Some("alice"));
    let mut bulk = new_bulk("references");
    bulk.requester_person = Some("alice".into());
    let mut child = new_job("conf-person-child", Action::Disable);
    child.requester_person = Some("alice".into());
    let bulk = store
        .create_bulk(bulk, vec![child], bulk_record("conf-person-bulk"))
        .await
        .unwrap();
    assert_eq!(bulk.requester_person.as_deref(), Some("alice"));
    assert_eq!(bulk.approval, None);
    let children = store.bulk_jobs(bulk.id).await.unwrap();
    assert_eq!(children[0].requester_person.as_deref(), Some("alice"));
    store
        .set_bulk_state(bulk.id, &[BulkState::Running], BulkState::Cancelled)
        .await
        .unwrap();
}
