//! A tenant's concurrent actions coalesced into `$batch` (issue #17), against
//! riposte's Graph TEST DOUBLE: far fewer calls, and each user still read,
//! written and read back, with the outcome a plain request would have given;
//! throttled sub-requests retried; a lost sub-answer settled by reading; a
//! single action sent as plain requests.

use std::time::Duration;

use riposte_core::cloud::{CloudAction, CloudReport};
use riposte_core::outcome::Outcome;
use riposte_entra::{EntraTenant, TenantSettings};
use riposte_graph_double::{Double, Faults, Shared, User};
use secrecy::SecretString;

/// `n` users: every seventh synced from AD (its writes refused), every
/// eleventh already disabled, the rest cloud-only members.
fn users(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| {
            let mut u = User::member(
                format!("00000000-0000-0000-0000-0000000c{i:04}"),
                format!("c{i}@contoso.example"),
                format!("C {i}"),
            );
            if i % 7 == 3 {
                u.on_premises_sync_enabled = Some(true);
                u.on_premises_security_identifier = Some(format!("S-1-5-21-1-2-3-{}", 2000 + i));
            }
            if i % 11 == 5 {
                u.account_enabled = false;
            }
            u
        })
        .collect()
}

async fn start(users: Vec<User>, batch: bool) -> (EntraTenant, Shared) {
    let state = Double::new("tenant-c", "client-c", "c0alesce!", users);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(riposte_graph_double::serve(listener, state.clone()));
    let settings = TenantSettings {
        name: "contoso".into(),
        tenant_id: "tenant-c".into(),
        client_id: "client-c".into(),
        client_secret: SecretString::from("c0alesce!".to_string()),
        authority: format!("http://{addr}"),
        graph_url: format!("http://{addr}/v1.0"),
        max_attempts: 5,
        max_backoff: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        batch,
    };
    (EntraTenant::new(settings).unwrap(), state)
}

/// Every user's action at once, as a bulk's children run them (plus one
/// reference that names nobody).
async fn disable_all(tenant: &EntraTenant, state: &Shared) -> Vec<CloudReport> {
    let mut ids: Vec<String> = state
        .lock()
        .unwrap()
        .users
        .iter()
        .map(|u| u.id.clone())
        .collect();
    ids.push("nobody@contoso.example".into());
    futures_util::future::join_all(
        ids.iter()
            .map(|id| tenant.execute(id, CloudAction::Disable, false)),
    )
    .await
}

/// What a report says, without the parts that differ from run to run.
fn gist(r: &CloudReport) -> (String, Outcome, Vec<String>, Option<bool>, Option<bool>) {
    (
        r.user.clone(),
        r.outcome,
        r.writes.clone(),
        r.before.as_ref().map(|b| b.account_enabled),
        r.after.as_ref().map(|a| a.account_enabled),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_actions_go_through_batch_with_the_outcomes_of_plain_requests() {
    const N: usize = 120;
    let (plain, plain_state) = start(users(N), false).await;
    let (batched, batched_state) = start(users(N), true).await;
    let expected = disable_all(&plain, &plain_state).await;
    let reports = disable_all(&batched, &batched_state).await;

    // The same outcome, evidence and messages as plain requests give.
    assert_eq!(
        reports.iter().map(gist).collect::<Vec<_>>(),
        expected.iter().map(gist).collect::<Vec<_>>()
    );
    for (r, e) in reports.iter().zip(&expected) {
        assert_eq!(r.message, e.message, "{}", r.user);
    }
    let tally = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    assert!(tally(Outcome::Verified) > 80, "{reports:?}");
    let synced_enabled = users(N)
        .iter()
        .filter(|u| u.on_premises_sync_enabled.is_some() && u.account_enabled)
        .count();
    assert_eq!(tally(Outcome::Denied), synced_enabled);
    for r in reports.iter().filter(|r| r.outcome == Outcome::Verified) {
        assert!(r.before.as_ref().unwrap().account_enabled, "{r:?}");
        assert!(!r.after.as_ref().unwrap().account_enabled, "{r:?}");
        assert_eq!(r.writes.len(), 1, "{r:?}");
    }

    let plain_stats = plain_state.lock().unwrap().stats.clone();
    let stats = batched_state.lock().unwrap().stats.clone();
    assert_eq!(
        plain_stats.batches, 0,
        "batch = false sends every request alone"
    );
    // Each user read, written once and read back: about 3 requests a user
    // plain, and a fraction of one a user in `$batch`.
    assert!(
        plain_stats.requests as usize >= 3 * (N - N / 11 - N / 7),
        "{plain_stats:?}"
    );
    eprintln!(
        "{N} users at once: {} requests plain, {} batched ({} $batch calls carrying {} sub-requests)",
        plain_stats.requests, stats.requests, stats.batches, stats.sub_requests
    );
    assert!(
        stats.requests * 4 < plain_stats.requests,
        "{} requests batched, {} plain",
        stats.requests,
        plain_stats.requests
    );
    assert!(
        stats.batches > 0 && stats.sub_requests > stats.batches * 5,
        "{stats:?}"
    );
    assert_eq!(stats.writes_applied, plain_stats.writes_applied);
    assert!(stats.writes_applied.values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_sub_requests_are_retried_and_still_verified() {
    const N: usize = 60;
    let members: Vec<User> = users(N)
        .into_iter()
        .filter(|u| u.on_premises_sync_enabled.is_none() && u.account_enabled)
        .collect();
    let (tenant, state) = start(members, true).await;
    state.lock().unwrap().faults = Faults {
        throttle_sub_requests: 25,
        retry_after: 1,
        ..Faults::default()
    };
    let reports = disable_all(&tenant, &state).await;
    let (unknown, reports) = reports.split_last().unwrap();
    assert_eq!(unknown.outcome, Outcome::Failed, "{unknown:?}");
    for r in reports {
        assert_eq!(r.outcome, Outcome::Verified, "{r:?}");
        assert!(!r.after.as_ref().unwrap().account_enabled);
    }
    let d = state.lock().unwrap();
    assert_eq!(d.faults.throttle_sub_requests, 0, "the fault never fired");
    assert_eq!(d.stats.throttled, 25, "{:?}", d.stats);
    assert!(d.stats.batches > 0);
    assert_eq!(d.stats.writes_applied.len(), reports.len());
    assert!(d.stats.writes_applied.values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_write_whose_answer_is_left_out_is_settled_by_reading() {
    const N: usize = 60;
    let members: Vec<User> = users(N)
        .into_iter()
        .filter(|u| u.on_premises_sync_enabled.is_none() && u.account_enabled)
        .collect();
    let (tenant, state) = start(members, true).await;
    state.lock().unwrap().faults = Faults {
        drop_batched_write_answers: 3,
        ..Faults::default()
    };
    let reports = disable_all(&tenant, &state).await;
    let (_, reports) = reports.split_last().unwrap();
    let d = state.lock().unwrap();
    assert_eq!(
        d.faults.drop_batched_write_answers, 0,
        "the fault never fired"
    );
    let settled: Vec<&CloudReport> = reports
        .iter()
        .filter(|r| r.message.contains("answer to the write was lost"))
        .collect();
    assert_eq!(settled.len(), 3, "{reports:?}");
    for r in settled {
        // Verified by what the read-back shows, never by the write alone,
        // and the write was not sent again.
        assert_eq!(r.outcome, Outcome::Verified, "{r:?}");
        assert!(
            r.message.contains("the read-back shows it in force"),
            "{r:?}"
        );
        assert!(!r.after.as_ref().unwrap().account_enabled);
    }
    assert!(reports.iter().all(|r| r.outcome == Outcome::Verified));
    assert!(
        d.stats.writes_applied.values().all(|n| *n == 1),
        "a write sent twice"
    );
}

#[tokio::test]
async fn a_single_action_sends_plain_requests() {
    let (tenant, state) = start(users(3), true).await;
    let report = tenant
        .execute("c0@contoso.example", CloudAction::Disable, false)
        .await;
    assert_eq!(report.outcome, Outcome::Verified, "{report:?}");
    let d = state.lock().unwrap();
    assert_eq!(d.stats.batches, 0, "{:?}", d.seen);
    let kinds: Vec<&str> = d
        .seen
        .iter()
        .map(|s| s.split(' ').next().unwrap())
        .collect();
    assert_eq!(kinds, ["GET", "PATCH", "GET"], "{:?}", d.seen);
}
