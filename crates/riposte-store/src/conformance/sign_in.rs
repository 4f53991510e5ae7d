//! Sign-in: single sign-on people, the second factor, sign-ins under way,
//! and the lifecycle rules (idle sessions, expiring tokens, disabling).

use riposte_core::policy::{Role, Scope};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    NewSession, PendingKind, PendingSignInStore, PeopleStore, SecondFactorStore, SignInMethod,
    SsoPerson, Taken, TokenStore,
};

async fn person(store: &dyn PeopleStore, name: &str) -> crate::Person {
    store
        .create_person(
            name,
            Role::Responder,
            &Scope::default(),
            "$argon2id$x",
            "cli:root",
        )
        .await
        .unwrap()
}

async fn session(store: &dyn PeopleStore, person: Uuid, hash: &str) {
    store
        .create_session(NewSession {
            person,
            secret_hash: hash,
            // The hash again, so a check can tell its sessions apart in lists.
            csrf_token: hash,
            expires_at: OffsetDateTime::now_utc() + Duration::hours(8),
            method: SignInMethod::Password,
            mfa: false,
            remote_addr: None,
        })
        .await
        .unwrap();
}

/// Disabling a person ends every session of theirs and every token they own
/// at once; other people's keep working.
pub async fn disabling_a_person_ends_their_sessions_and_tokens<S>(store: &S)
where
    S: PeopleStore + TokenStore,
{
    let now = OffsetDateTime::now_utc;
    let idle = Duration::minutes(30);
    let dana = person(store, "conf-dana").await;
    let erin = person(store, "conf-erin").await;
    session(store, dana.id, "dana-1").await;
    session(store, dana.id, "dana-2").await;
    session(store, erin.id, "erin-1").await;
    for (name, owner, hash) in [
        ("conf-dana-laptop", Some("conf-dana"), "t-dana"),
        ("conf-erin-laptop", Some("conf-erin"), "t-erin"),
        ("conf-service", None, "t-service"),
    ] {
        store
            .create_token(
                name,
                Role::Responder,
                &Scope::default(),
                owner,
                "user:admin",
                hash,
                Some(now() + Duration::days(90)),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.sessions_of(dana.id, now(), idle).await.unwrap().len(),
        2
    );
    assert!(store.set_person_disabled("conf-dana", true).await.unwrap());
    for hash in ["dana-1", "dana-2"] {
        assert!(
            store
                .session_by_hash(hash, now(), idle)
                .await
                .unwrap()
                .is_none(),
            "{hash}"
        );
    }
    assert!(
        store
            .token_by_hash("t-dana", now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .sessions_of(dana.id, now(), idle)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .session_by_hash("erin-1", now(), idle)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .token_by_hash("t-erin", now())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .token_by_hash("t-service", now())
            .await
            .unwrap()
            .is_some()
    );
    // Enabling them again brings back neither: they sign in anew.
    assert!(store.set_person_disabled("conf-dana", false).await.unwrap());
    assert!(
        store
            .session_by_hash("dana-1", now(), idle)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .token_by_hash("t-dana", now())
            .await
            .unwrap()
            .is_none()
    );
    let listed = store.list_tokens().await.unwrap();
    let dana_token = listed
        .iter()
        .find(|t| t.name == "conf-dana-laptop")
        .unwrap();
    assert!(dana_token.revoked_at.is_some());
}

/// A session ends after `idle` without use and at its absolute expiry; each
/// use moves the idle deadline; an admin can end one by its id.
pub async fn sessions_end_when_idle_and_record_their_last_use(store: &dyn PeopleStore) {
    let idle = Duration::minutes(30);
    let frank = person(store, "conf-frank").await;
    session(store, frank.id, "frank-1").await;
    let start = OffsetDateTime::now_utc();
    let used = store
        .session_by_hash("frank-1", start + Duration::minutes(20), idle)
        .await
        .unwrap()
        .expect("used within the idle time");
    assert!(used.last_seen_at >= start + Duration::minutes(19));
    // 45 minutes after the start is 25 after the last use: still live.
    assert!(
        store
            .session_by_hash("frank-1", start + Duration::minutes(45), idle)
            .await
            .unwrap()
            .is_some()
    );
    // Then 31 minutes without a request: ended.
    assert!(
        store
            .session_by_hash("frank-1", start + Duration::minutes(77), idle)
            .await
            .unwrap()
            .is_none()
    );
    // Past the absolute expiry it is over however recently it was used.
    session(store, frank.id, "frank-2").await;
    assert!(
        store
            .session_by_hash(
                "frank-2",
                start + Duration::hours(8) + Duration::minutes(1),
                Duration::hours(24)
            )
            .await
            .unwrap()
            .is_none()
    );
    session(store, frank.id, "frank-3").await;
    let live = store
        .sessions_of(frank.id, OffsetDateTime::now_utc(), idle)
        .await
        .unwrap();
    let frank_3 = live
        .iter()
        .find(|s| s.csrf_token == "frank-3")
        .map(|s| s.id)
        .unwrap();
    assert!(store.revoke_session_by_id(frank_3).await.unwrap());
    assert!(!store.revoke_session_by_id(frank_3).await.unwrap());
    assert!(
        store
            .session_by_hash("frank-3", OffsetDateTime::now_utc(), idle)
            .await
            .unwrap()
            .is_none()
    );
}

/// A new password ends every other session; an SSO person has no password to set.
pub async fn a_new_password_ends_the_other_sessions(store: &dyn PeopleStore) {
    let idle = Duration::minutes(30);
    let gina = person(store, "conf-gina").await;
    session(store, gina.id, "gina-here").await;
    session(store, gina.id, "gina-elsewhere").await;
    let now = OffsetDateTime::now_utc();
    let here = store
        .session_by_hash("gina-here", now, idle)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .set_password("conf-gina", "$argon2id$new", false, Some(here.id))
            .await
            .unwrap()
    );
    assert!(
        store
            .session_by_hash("gina-here", now, idle)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_by_hash("gina-elsewhere", now, idle)
            .await
            .unwrap()
            .is_none()
    );
    let read = store.person_by_name("conf-gina").await.unwrap().unwrap();
    assert_eq!(read.password_hash, "$argon2id$new");
    assert!(!read.must_change_password);
    // An admin's reset: every session ends and a new password is due.
    assert!(
        store
            .set_password("conf-gina", "$argon2id$reset", true, None)
            .await
            .unwrap()
    );
    assert!(
        store
            .session_by_hash("gina-here", now, idle)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .person_by_name("conf-gina")
            .await
            .unwrap()
            .unwrap()
            .must_change_password
    );
    assert!(
        !store
            .set_password("conf-nobody", "h", false, None)
            .await
            .unwrap()
    );
}

/// An SSO person is their provider's (issuer, subject): found again on the
/// next sign-in with the role of that sign-in, never confused with a local
/// person of the same name, never given a password.
pub async fn sso_people_are_their_issuer_and_subject(store: &dyn PeopleStore) {
    let local = person(store, "alice").await;
    let scope = Scope {
        forests: vec!["corp".into()],
        ..Scope::default()
    };
    let first = store
        .upsert_sso_person(SsoPerson {
            issuer: "https://idp.example/",
            subject: "sub-1",
            name_hint: "alice",
            role: Role::Responder,
            scope: &scope,
            created_by: "oidc:https://idp.example/",
        })
        .await
        .unwrap();
    assert_ne!(first.id, local.id);
    assert!(first.name.starts_with("alice~"), "{}", first.name);
    assert!(first.is_sso() && !local.is_sso());
    assert_eq!(first.password_hash, crate::NO_PASSWORD);
    let again = store
        .upsert_sso_person(SsoPerson {
            issuer: "https://idp.example/",
            subject: "sub-1",
            name_hint: "someone-else",
            role: Role::Reader,
            scope: &Scope::default(),
            created_by: "oidc:https://idp.example/",
        })
        .await
        .unwrap();
    assert_eq!(
        (again.id, again.name.as_str()),
        (first.id, first.name.as_str())
    );
    assert_eq!(again.role, Role::Reader);
    let read = store
        .person_by_subject("https://idp.example/", "sub-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read.role, read.scope), (Role::Reader, Scope::default()));
    assert!(
        store
            .person_by_subject("https://other.example/", "sub-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .set_password(&first.name, "$argon2id$x", false, None)
            .await
            .unwrap()
    );
    // A hostile name from the provider is cleaned before it names anyone.
    let odd = store
        .upsert_sso_person(SsoPerson {
            issuer: "https://idp.example/",
            subject: "sub-2",
            name_hint: "bob\nuser:admin",
            role: Role::Reader,
            scope: &Scope::default(),
            created_by: "oidc:https://idp.example/",
        })
        .await
        .unwrap();
    assert_eq!(odd.name, "bobuseradmin");
}

/// A TOTP step and a recovery code each work once; enrolment is required at
/// sign-in only once confirmed; an admin's reset removes both.
pub async fn second_factor_codes_work_once<S>(store: &S)
where
    S: PeopleStore + SecondFactorStore,
{
    let hana = person(store, "conf-hana").await;
    assert!(store.totp_secret(hana.id).await.unwrap().is_none());
    assert!(store.begin_totp(hana.id, "JBSWY3DPEHPK3PXP").await.unwrap());
    let begun = store.totp_secret(hana.id).await.unwrap().unwrap();
    assert!(!begun.enabled);
    assert!(!format!("{begun:?}").contains("JBSWY3DPEHPK3PXP"));
    assert!(
        !store
            .person_by_name("conf-hana")
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
    let codes = vec![
        riposte_core::secret_token::hash("code-1"),
        riposte_core::secret_token::hash("code-2"),
    ];
    assert!(store.confirm_totp(hana.id, &codes).await.unwrap());
    assert!(
        store
            .person_by_name("conf-hana")
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
    assert_eq!(store.recovery_codes_left(hana.id).await.unwrap(), 2);
    assert!(store.use_totp_step(hana.id, 1000).await.unwrap());
    assert!(
        !store.use_totp_step(hana.id, 1000).await.unwrap(),
        "a code works once"
    );
    assert!(
        !store.use_totp_step(hana.id, 999).await.unwrap(),
        "an earlier code never works again"
    );
    assert!(store.use_totp_step(hana.id, 1001).await.unwrap());
    assert!(store.use_recovery_code(hana.id, &codes[0]).await.unwrap());
    assert!(!store.use_recovery_code(hana.id, &codes[0]).await.unwrap());
    assert!(
        !store
            .use_recovery_code(hana.id, &riposte_core::secret_token::hash("code-9"))
            .await
            .unwrap()
    );
    assert_eq!(store.recovery_codes_left(hana.id).await.unwrap(), 1);
    assert!(store.clear_totp(hana.id).await.unwrap());
    assert!(store.totp_secret(hana.id).await.unwrap().is_none());
    assert!(
        !store
            .person_by_name("conf-hana")
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
    assert_eq!(store.recovery_codes_left(hana.id).await.unwrap(), 0);
}

/// A sign-in under way is taken exactly once, only as its own kind, and not
/// after it expired; a replay is told apart from a stranger.
pub async fn pending_sign_ins_are_taken_once(store: &dyn PendingSignInStore) {
    let now = OffsetDateTime::now_utc();
    let data = serde_json::json!({ "nonce": "n-1", "next": "/ui/search" });
    store
        .begin_pending(
            PendingKind::Oidc,
            "state-1",
            None,
            &data,
            now + Duration::minutes(10),
        )
        .await
        .unwrap();
    let peeked = store
        .peek_pending(PendingKind::Oidc, "state-1", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peeked.data, data);
    assert!(
        store
            .peek_pending(PendingKind::SecondFactor, "state-1", now)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .take_pending(PendingKind::SecondFactor, "state-1", now)
            .await
            .unwrap(),
        Taken::Unknown
    );
    match store
        .take_pending(PendingKind::Oidc, "state-1", now)
        .await
        .unwrap()
    {
        Taken::Fresh(p) => assert_eq!((p.kind, p.data), (PendingKind::Oidc, data.clone())),
        other => panic!("expected the sign-in, got {other:?}"),
    }
    assert_eq!(
        store
            .take_pending(PendingKind::Oidc, "state-1", now)
            .await
            .unwrap(),
        Taken::AlreadyUsed
    );
    assert!(
        store
            .peek_pending(PendingKind::Oidc, "state-1", now)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .take_pending(PendingKind::Oidc, "state-x", now)
            .await
            .unwrap(),
        Taken::Unknown
    );
    store
        .begin_pending(
            PendingKind::Oidc,
            "state-2",
            None,
            &data,
            now + Duration::minutes(10),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .take_pending(PendingKind::Oidc, "state-2", now + Duration::minutes(11))
            .await
            .unwrap(),
        Taken::Expired
    );
}

/// An expired token is refused; a used one records when.
pub async fn tokens_expire_and_record_their_last_use(store: &dyn TokenStore) {
    let now = OffsetDateTime::now_utc();
    let token = store
        .create_token(
            "conf-short",
            Role::Reader,
            &Scope::default(),
            None,
            "user:admin",
            "t-short",
            Some(now + Duration::days(1)),
        )
        .await
        .unwrap();
    assert_eq!(token.last_used_at, None);
    let used = store
        .token_by_hash("t-short", now)
        .await
        .unwrap()
        .expect("live token");
    assert!(used.last_used_at.is_some());
    let listed = store.list_tokens().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|t| t.name == "conf-short" && t.last_used_at.is_some())
    );
    assert!(
        store
            .token_by_hash("t-short", now + Duration::days(1) + Duration::seconds(1))
            .await
            .unwrap()
            .is_none()
    );
}
