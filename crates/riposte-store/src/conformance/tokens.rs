//! API tokens: found by the hash of their secret until revoked, each naming
//! the person it belongs to (or nobody, for a service).

use riposte_core::Action;
use time::OffsetDateTime;

use crate::{StoreError, TokenStore};
use riposte_core::policy::{Role, Scope};

/// API tokens: found by hash while live, never after revocation.
pub async fn tokens_are_found_by_hash_until_revoked(store: &dyn crate::TokenStore) {
    use riposte_core::policy::{Role, Scope};
    let scope = Scope {
        forests: vec!["corp".into()],
        ous: vec![],
        actions: vec![Action::Disable],
    };
    let token = store
        .create_token(
            "conf-bot",
            Role::Responder,
            &scope,
            None,
            "user:admin",
            "hash-1",
            Some(OffsetDateTime::now_utc() + time::Duration::days(90)),
        )
        .await
        .unwrap();
    let found = store
        .token_by_hash("hash-1", OffsetDateTime::now_utc())
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(found.id, token.id);
    assert_eq!(found.scope, scope);
    assert_eq!(found.principal().name, "token:conf-bot");
    assert!(
        store
            .token_by_hash("hash-2", OffsetDateTime::now_utc())
            .await
            .unwrap()
            .is_none()
    );
    // A forwarder token keeps its role and scope (the scope bounds what its events may cause).
    store
        .create_token(
            "conf-fwd",
            Role::Forwarder,
            &scope,
            None,
            "user:admin",
            "hash-fwd",
            Some(OffsetDateTime::now_utc() + time::Duration::days(90)),
        )
        .await
        .unwrap();
    let fwd = store
        .token_by_hash("hash-fwd", OffsetDateTime::now_utc())
        .await
        .unwrap()
        .expect("live forwarder token");
    assert_eq!((fwd.role, fwd.scope), (Role::Forwarder, scope.clone()));
    let duplicate = store
        .create_token(
            "conf-bot",
            Role::Reader,
            &Scope::default(),
            None,
            "user:admin",
            "hash-3",
            Some(OffsetDateTime::now_utc() + time::Duration::days(90)),
        )
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    assert!(store.revoke_token(token.id).await.unwrap());
    assert!(!store.revoke_token(token.id).await.unwrap());
    assert!(
        store
            .token_by_hash("hash-1", OffsetDateTime::now_utc())
            .await
            .unwrap()
            .is_none()
    );
    // A name is never reused, even after revocation.
    let reused = store
        .create_token(
            "conf-bot",
            Role::Reader,
            &Scope::default(),
            None,
            "user:admin",
            "hash-4",
            Some(OffsetDateTime::now_utc() + time::Duration::days(90)),
        )
        .await;
    assert!(matches!(reused, Err(StoreError::Conflict(_))), "{reused:?}");
    assert!(
        store
            .token_by_hash("hash-4", OffsetDateTime::now_utc())
            .await
            .unwrap()
            .is_none()
    );
    // conf-bot (revoked) and conf-fwd.
    assert_eq!(store.list_tokens().await.unwrap().len(), 2);
}

/// A token names the person it belongs to; a service token names nobody.
pub async fn tokens_belong_to_their_owner(store: &dyn TokenStore) {
    let owned = store
        .create_token(
            "conf-alice-laptop",
            Role::Responder,
            &Scope::default(),
            Some("alice"),
            "user:admin",
            "hash-owned",
            Some(OffsetDateTime::now_utc() + time::Duration::days(90)),
        )
        .await
        .unwrap();
    assert_eq!(owned.owner.as_deref(), Some("alice"));
    let found = store
        .token_by_hash("hash-owned", OffsetDateTime::now_utc())
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(found.principal().person.as_deref(), Some("alice"));
    let service = store
        .create_token(
            "conf-soar",
            Role::Responder,
            &Scope::default(),
            None,
            "user:admin",
            "hash-service",
            Some(OffsetDateTime::now_utc() + time::Duration::days(90)),
        )
        .await
        .unwrap();
    assert_eq!(service.principal().person, None);
}
