//! The Entra connector against riposte's Graph TEST DOUBLE (there is no
//! Entra tenant here): every kind of identity, every action, throttling,
//! synced-user refusals, token renewal, paging and bad answers.

use std::time::Duration;

use riposte_core::cloud::{CloudAction, IdentityKind};
use riposte_core::outcome::Outcome;
use riposte_entra::{EntraTenant, TenantSettings};
use riposte_graph_double::{Double, Faults, Shared, User};
use secrecy::SecretString;

const HYBRID_SID: &str = "S-1-5-21-1-2-3-1105";

fn user(id: &str, upn: &str, kind: &str) -> User {
    User {
        mail: Some(upn.replace("@", ".mail@")),
        user_type: if kind == "guest" {
            "Guest".into()
        } else {
            "Member".into()
        },
        on_premises_sync_enabled: (kind == "hybrid").then_some(true),
        on_premises_security_identifier: (kind == "hybrid").then(|| HYBRID_SID.to_string()),
        ..User::member(id, upn, upn.split('@').next().unwrap())
    }
}

async fn start(users: Vec<User>, max_attempts: u32) -> (EntraTenant, Shared) {
    let (tenant, state, _) = start_at(users, max_attempts).await;
    (tenant, state)
}

/// The double's address too (host:port, as the tenant is configured with it).
async fn start_at(
    users: Vec<User>,
    max_attempts: u32,
) -> (EntraTenant, Shared, std::net::SocketAddr) {
    let state = Double::new("tenant-1", "client-1", "s3cret!", users);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(riposte_graph_double::serve(listener, state.clone()));
    let settings = TenantSettings {
        name: "contoso".into(),
        tenant_id: "tenant-1".into(),
        client_id: "client-1".into(),
        client_secret: SecretString::from("s3cret!".to_string()),
        authority: format!("http://{addr}"),
        graph_url: format!("http://{addr}/v1.0"),
        max_attempts,
        max_backoff: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        batch: true,
    };
    (EntraTenant::new(settings).unwrap(), state, addr)
}

fn seed() -> Vec<User> {
    vec![
        user(
            "00000000-0000-0000-0000-00000000b1bd",
            "bigbird@contoso.example",
            "cloud",
        ),
        user(
            "00000000-0000-0000-0000-00000000be57",
            "bert@corp.example.test",
            "hybrid",
        ),
        user(
            "00000000-0000-0000-0000-00000000905e",
            "google.guest_gmail.com#EXT#@contoso.example",
            "guest",
        ),
    ]
}

fn writes_seen(state: &Shared) -> usize {
    state
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.starts_with("PATCH") || s.starts_with("POST /v1.0/users"))
        .count()
}

#[tokio::test]
async fn each_kind_of_identity_is_found_and_classified() {
    let (tenant, _) = start(seed(), 3).await;
    let bigbird = tenant.find("bigbird@contoso.example").await.unwrap();
    assert_eq!(bigbird[0].kind(), IdentityKind::CloudOnly);
    let bert = tenant.find(HYBRID_SID).await.unwrap();
    assert_eq!(bert.len(), 1);
    assert_eq!(bert[0].kind(), IdentityKind::Hybrid);
    assert_eq!(bert[0].on_premises_sid.as_deref(), Some(HYBRID_SID));
    let guest = tenant
        .find("00000000-0000-0000-0000-00000000905e")
        .await
        .unwrap();
    assert_eq!(guest[0].kind(), IdentityKind::Guest);
    let by_mail = tenant.find("bigbird.mail@contoso.example").await.unwrap();
    assert_eq!(by_mail[0].id, bigbird[0].id);
    assert!(
        tenant
            .find("nobody@contoso.example")
            .await
            .unwrap()
            .is_empty()
    );
    // A quote in a reference stays inside the OData string.
    assert!(
        tenant
            .find("o'brien@contoso.example")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn cloud_only_actions_are_read_back() {
    let (tenant, _) = start(seed(), 3).await;
    let id = "00000000-0000-0000-0000-00000000b1bd";
    let r = tenant.execute(id, CloudAction::Disable, false).await;
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.message);
    assert!(!r.after.unwrap().account_enabled);
    assert_eq!(
        tenant
            .execute(id, CloudAction::Disable, false)
            .await
            .outcome,
        Outcome::Already
    );
    assert_eq!(
        tenant.execute(id, CloudAction::Enable, false).await.outcome,
        Outcome::Verified
    );
    let r = tenant.execute(id, CloudAction::RevokeSessions, false).await;
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.message);
    assert!(r.after.unwrap().sessions_valid_from > r.before.unwrap().sessions_valid_from);
    let r = tenant
        .execute(id, CloudAction::ForcePasswordReset, true)
        .await;
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.message);
    assert_eq!(r.after.unwrap().force_change_password, Some(true));
    let r = tenant
        .execute(id, CloudAction::ConfirmCompromised, false)
        .await;
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.message);
    assert_eq!(
        tenant
            .execute(id, CloudAction::ConfirmCompromised, false)
            .await
            .outcome,
        Outcome::Already
    );
}

#[tokio::test]
async fn synced_and_guest_writes_are_denied_with_the_reason() {
    let (tenant, state) = start(seed(), 3).await;
    let before = writes_seen(&state);
    let r = tenant
        .execute(
            "00000000-0000-0000-0000-00000000be57",
            CloudAction::Disable,
            false,
        )
        .await;
    assert_eq!(r.outcome, Outcome::Denied);
    assert!(r.message.contains("source of authority"), "{}", r.message);
    assert_eq!(
        writes_seen(&state),
        before,
        "a write that sync would overwrite was sent"
    );
    // Revoking a hybrid user's sessions is allowed: it is the cloud half of containment.
    assert_eq!(
        tenant
            .execute(
                "00000000-0000-0000-0000-00000000be57",
                CloudAction::RevokeSessions,
                false
            )
            .await
            .outcome,
        Outcome::Verified
    );
    let r = tenant
        .execute(
            "00000000-0000-0000-0000-00000000905e",
            CloudAction::ForcePasswordReset,
            false,
        )
        .await;
    assert_eq!(r.outcome, Outcome::Denied);
    assert!(r.message.contains("guest"), "{}", r.message);
    // If Graph itself refuses a synced write, that too is denied, not failed.
    let ids = ["00000000-0000-0000-0000-00000000be57".to_string()];
    state.lock().unwrap().users[1].on_premises_sync_enabled = Some(true);
    let refused = tenant
        .batch(vec![riposte_entra::BatchRequest {
            id: "1".into(),
            method: "PATCH".into(),
            url: format!("/users/{}", ids[0]),
            body: Some(serde_json::json!({ "accountEnabled": false })),
            headers: Some(serde_json::json!({ "Content-Type": "application/json" })),
        }])
        .await
        .unwrap();
    assert_eq!(refused[0].status, 400);
    assert!(refused[0].body.to_string().contains("on-premises mastered"));
}

#[tokio::test]
async fn throttling_is_retried_after_the_announced_wait_and_bounded() {
    let (tenant, state) = start(seed(), 4).await;
    state.lock().unwrap().faults = Faults {
        throttle: 2,
        retry_after: 1,
        ..Faults::default()
    };
    let started = std::time::Instant::now();
    let r = tenant
        .execute(
            "00000000-0000-0000-0000-00000000b1bd",
            CloudAction::Disable,
            false,
        )
        .await;
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.message);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
    state.lock().unwrap().faults = Faults {
        unavailable: 50,
        ..Faults::default()
    };
    let r = tenant
        .execute(
            "00000000-0000-0000-0000-00000000b1bd",
            CloudAction::Enable,
            false,
        )
        .await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.message.contains("after 4 attempts"), "{}", r.message);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_request_goes_through() {
    let (tenant, state) = start(seed(), 3).await;
    assert!(
        tenant
            .user("bigbird@contoso.example")
            .await
            .unwrap()
            .is_some()
    );
    state.lock().unwrap().expire_tokens();
    assert!(
        tenant
            .user("bigbird@contoso.example")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(state.lock().unwrap().tokens_issued, 2);
}

#[tokio::test]
async fn wrong_credentials_and_malformed_answers_are_clear_errors() {
    let (tenant, state) = start(seed(), 3).await;
    state.lock().unwrap().client_secret = "rotated".into();
    let err = tenant
        .user("bigbird@contoso.example")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("AADSTS7000215") && !err.contains("s3cret!"),
        "{err}"
    );
    state.lock().unwrap().client_secret = "s3cret!".into();
    state.lock().unwrap().faults = Faults {
        malformed: 1,
        ..Faults::default()
    };
    let err = tenant
        .user("bigbird@contoso.example")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("could not be understood"), "{err}");
    let r = tenant
        .execute("nobody@contoso.example", CloudAction::Disable, false)
        .await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.message.contains("no user nobody@contoso.example"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn user_lists_follow_every_next_link() {
    let users: Vec<User> = (0..7)
        .map(|i| {
            let mut u = user(
                &format!("00000000-0000-0000-0000-0000000000{i:02}"),
                &format!("u{i}@contoso.example"),
                "hybrid",
            );
            u.on_premises_security_identifier = Some(HYBRID_SID.into());
            u
        })
        .collect();
    let (tenant, state) = start(users, 3).await;
    let found = tenant.find(HYBRID_SID).await.unwrap();
    assert_eq!(found.len(), 7);
    let pages = state
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.as_str() == "GET /v1.0/users")
        .count();
    assert_eq!(pages, 4, "page size 2: four pages");
}

#[tokio::test]
async fn bulk_work_batches_twenty_and_retries_only_throttled_sub_requests() {
    let users: Vec<User> = (0..25)
        .map(|i| {
            user(
                &format!("00000000-0000-0000-0000-0000000001{i:02}"),
                &format!("b{i}@contoso.example"),
                "cloud",
            )
        })
        .collect();
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let (tenant, state) = start(users, 5).await;
    state.lock().unwrap().seen.clear();
    // Three sub-requests of the first batch are throttled on their own.
    state.lock().unwrap().faults = Faults {
        throttle_sub_requests: 3,
        retry_after: 1,
        ..Faults::default()
    };
    let reports = tenant
        .execute_many(&ids, CloudAction::Disable)
        .await
        .unwrap();
    assert_eq!(reports.len(), 25);
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::Verified),
        "{:?}",
        reports
            .iter()
            .map(|r| (&r.user, r.outcome, &r.message))
            .collect::<Vec<_>>()
    );
    let seen = state.lock().unwrap().seen.clone();
    let batch_posts = seen
        .iter()
        .filter(|s| s.as_str() == "POST /v1.0/$batch")
        .count();
    let sub_patches = seen.iter().filter(|s| s.starts_with("BATCH PATCH")).count();
    assert_eq!(
        batch_posts, 3,
        "25 writes in two $batch calls of at most 20, and one for the 3 throttled"
    );
    assert_eq!(
        sub_patches, 28,
        "only the 3 throttled sub-requests are sent again"
    );
    assert!(
        state
            .lock()
            .unwrap()
            .users
            .iter()
            .all(|u| !u.account_enabled)
    );
}

#[tokio::test]
async fn throttled_sub_requests_alone_are_sent_again() {
    let users: Vec<User> = (0..5)
        .map(|i| {
            user(
                &format!("00000000-0000-0000-0000-0000000002{i:02}"),
                &format!("c{i}@contoso.example"),
                "cloud",
            )
        })
        .collect();
    let (tenant, state) = start(users, 5).await;
    let requests: Vec<riposte_entra::BatchRequest> = (0..5)
        .map(|i| riposte_entra::BatchRequest {
            id: i.to_string(),
            method: "POST".into(),
            url: format!("/users/00000000-0000-0000-0000-0000000002{i:02}/revokeSignInSessions"),
            body: None,
            headers: None,
        })
        .collect();
    state.lock().unwrap().seen.clear();
    state.lock().unwrap().faults = Faults {
        throttle_sub_requests: 2,
        retry_after: 1,
        ..Faults::default()
    };
    let answers = tenant.batch(requests).await.unwrap();
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let retried: Vec<&str> = answers
        .iter()
        .filter(|a| a.attempts == 2)
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(
        retried,
        vec!["0", "1"],
        "only the throttled sub-requests were sent again"
    );
    let sub_posts = state
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.starts_with("BATCH POST"))
        .count();
    assert_eq!(sub_posts, 7, "5 sub-requests + 2 retried");
}

#[tokio::test]
async fn a_gateway_503_in_html_is_retried_not_taken_for_a_bad_answer() {
    let (tenant, state) = start(seed(), 3).await;
    state
        .lock()
        .unwrap()
        .set_storm(Some(riposte_graph_double::Storm {
            throttle_percent: 0,
            unavailable_percent: 100,
            html_unavailable_percent: 100,
            slow_percent: 0,
            ..Default::default()
        }));
    let err = tenant
        .user("bigbird@contoso.example")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("(503) after 3 attempts"), "{err}");
    let stats = state.lock().unwrap().stats.clone();
    assert_eq!((stats.unavailable_html, stats.requests), (3, 3));
}

#[tokio::test]
async fn a_retry_after_longer_than_the_bound_ends_at_once_and_says_so() {
    // max_backoff is 2 s: Graph asks for 5; sending sooner would only earn another 429.
    let (tenant, state) = start(seed(), 3).await;
    state.lock().unwrap().faults = Faults {
        throttle: 5,
        retry_after: 5,
        ..Faults::default()
    };
    let r = tenant
        .execute(
            "00000000-0000-0000-0000-00000000b1bd",
            CloudAction::Disable,
            false,
        )
        .await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.message.contains("asked to wait 5 s") && r.message.contains("max_backoff_secs (2 s)"),
        "{}",
        r.message
    );
    assert_eq!(state.lock().unwrap().stats.throttled, 1, "sent again early");
    assert!(state.lock().unwrap().users[0].account_enabled);
}

#[tokio::test]
async fn many_users_at_once_keep_every_answer_when_one_read_fails() {
    let users: Vec<User> = (0..3)
        .map(|i| {
            user(
                &format!("00000000-0000-0000-0000-0000000003{i:02}"),
                &format!("m{i}@contoso.example"),
                "cloud",
            )
        })
        .collect();
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let (tenant, state) = start(users, 2).await;
    // The first user's read is refused twice with 503: its attempts are spent.
    state.lock().unwrap().faults = Faults {
        unavailable: 2,
        ..Faults::default()
    };
    let reports = tenant
        .execute_many(&ids, CloudAction::Disable)
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = reports.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![Outcome::Failed, Outcome::Verified, Outcome::Verified]
    );
    assert!(
        reports[0].message.contains("nothing was sent"),
        "{}",
        reports[0].message
    );
    let d = state.lock().unwrap();
    assert!(d.users[0].account_enabled && !d.users[1].account_enabled);
    assert_eq!(d.stats.writes_applied.len(), 2);
}

/// A listener that records every request head it gets and answers an empty
/// user page: somewhere the bearer token must never go.
async fn foreign_origin() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = vec![0; 8192];
            let n = socket.read(&mut head).await.unwrap_or(0);
            record
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head[..n]).into_owned());
            let body = r#"{"value":[]}"#;
            let _ = socket
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_the_token_stays_home() {
    let users: Vec<User> = (0..5)
        .map(|i| {
            let mut u = user(
                &format!("00000000-0000-0000-0000-0000000002{i:02}"),
                &format!("n{i}@contoso.example"),
                "hybrid",
            );
            u.on_premises_security_identifier = Some(HYBRID_SID.into());
            u
        })
        .collect();
    let (tenant, state, graph) = start_at(users, 3).await;
    let (foreign, foreign_seen) = foreign_origin().await;
    // The link's text begins with the configured origin; its host is the foreign one.
    state.lock().unwrap().faults = Faults {
        next_link_prefix: Some(format!("http://{graph}@{foreign}")),
        ..Faults::default()
    };
    let err = tenant.find(HYBRID_SID).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, riposte_entra::EntraError::ForeignLink { origin, .. }
            if *origin == format!("http://{foreign} (with user info)")),
        "{message}"
    );
    assert!(message.contains(&format!("http://{foreign}")), "{message}");
    assert!(
        !message.contains("skiptoken") && !message.contains("Bearer"),
        "{message}"
    );
    assert!(
        foreign_seen.lock().unwrap().is_empty(),
        "the foreign origin was sent: {:?}",
        foreign_seen.lock().unwrap()
    );

    // A link on another port of the same host is refused the same way.
    state.lock().unwrap().faults = Faults {
        next_link_prefix: Some(format!("http://{foreign}")),
        ..Faults::default()
    };
    let err = tenant.find(HYBRID_SID).await.unwrap_err();
    assert!(
        matches!(err, riposte_entra::EntraError::ForeignLink { .. }),
        "{err}"
    );
    assert!(foreign_seen.lock().unwrap().is_empty());
}
