//! API tokens: found by the hash of their secret until revoked, each naming
//! the person it belongs to (or nobody, for a service).

use riposte_core::Action;

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
        )
        .await
        .unwrap();
    let found = store
        .token_by_hash("hash-1")
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(found.id, token.id);
    assert_eq!(found.scope, scope);
    assert_eq!(found.principal().name, "token:conf-bot");
    assert!(store.token_by_hash("hash-2").await.unwrap().is_none());
    // A forwarder token keeps its role and scope (the scope bounds what its events may cause).
    store
        .create_token(
            "conf-fwd",
            Role::Forwarder,
            &scope,
            None,
            "user:admin",
            "hash-fwd",
        )
        .await
        .unwrap();
    let fwd = store
        .token_by_hash("hash-fwd")
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
        )
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    assert!(store.revoke_token(token.id).await.unwrap());
    assert!(!store.revoke_token(token.id).await.unwrap());
    assert!(store.token_by_hash("hash-1").await.unwrap().is_none());
    // The name is free again once revoked.
    store
        .create_token(
            "conf-bot",
            Role::Reader,
            &Scope::default(),
            None,
            "user:admin",
            "hash-4",
        )
        .await
        .unwrap();
    // conf-bot revoked, conf-bot again, conf-fwd.
    assert_eq!(store.list_tokens().await.unwrap().len(), 3);
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
        )
        .await
        .unwrap();
    assert_eq!(owned.owner.as_deref(), Some("alice"));
    let found = store
        .token_by_hash("hash-owned")
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
        )
        .await
        .unwrap();
    assert_eq!(service.principal().person, None);
}
