//! The Entra connector in a storm: riposte's Graph TEST DOUBLE answers most
//! calls with 429 (with a Retry-After of 0-2 s, or none), 503 (some as a
//! gateway's HTML), slow answers and a few answers held past the client's
//! timeout after the write was done. Whatever happens, every request gets
//! exactly one answer within the retry bound, nothing is applied twice, and
//! what riposte reports is what the double holds.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riposte_core::cloud::CloudAction;
use riposte_core::outcome::Outcome;
use riposte_entra::{BatchRequest, EntraError, EntraTenant, TenantSettings};
use riposte_graph_double::{Double, Faults, Shared, Stats, Storm, User};
use secrecy::SecretString;

const MAX_ATTEMPTS: u32 = 6;

fn users(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| {
            User::member(
                format!("00000000-0000-0000-0000-0000000a{i:04}"),
                format!("storm{i}@contoso.example"),
                format!("Storm {i}"),
            )
        })
        .collect()
}

/// A double of its own (never the lab's), and a tenant with a 1 s timeout,
/// so that a stalled answer is a lost answer.
async fn start(users: Vec<User>, storm: Option<Storm>) -> (Arc<EntraTenant>, Shared) {
    let state = Double::new("tenant-s", "client-s", "st0rm!", users);
    state.lock().unwrap().set_storm(storm);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(riposte_graph_double::serve(listener, state.clone()));
    let settings = TenantSettings {
        name: "contoso".into(),
        tenant_id: "tenant-s".into(),
        client_id: "client-s".into(),
        client_secret: SecretString::from("st0rm!".to_string()),
        authority: format!("http://{addr}"),
        graph_url: format!("http://{addr}/v1.0"),
        max_attempts: MAX_ATTEMPTS,
        max_backoff: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        batch: true,
    };
    (Arc::new(EntraTenant::new(settings).unwrap()), state)
}

fn storm(seed: u64) -> Storm {
    Storm {
        seed,
        stall_percent: 2,
        stall_ms: 1500,
        ..Storm::default()
    }
}

fn stats(state: &Shared) -> Stats {
    state.lock().unwrap().stats.clone()
}

fn figures(what: &str, s: &Stats, started: Instant) {
    eprintln!(
        "storm figures [{what}]: {} requests, {} $batch carrying {} sub-requests, {} tokens; injected {} x 429 ({} without Retry-After), {} x 503 ({} HTML), {} slowed ({} ms), {} stalled; {} writes applied to {} users; {:.1} s",
        s.requests,
        s.batches,
        s.sub_requests,
        s.tokens,
        s.throttled,
        s.throttled_without_retry_after,
        s.unavailable,
        s.unavailable_html,
        s.slowed,
        s.delay_ms_total,
        s.stalled,
        s.writes_applied.values().sum::<u32>(),
        s.writes_applied.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_in_a_storm_answers_every_sub_request_once_and_applies_none_twice() {
    let seeded = users(60);
    let (tenant, state) = start(seeded.clone(), Some(storm(8))).await;
    let started = Instant::now();
    let requests: Vec<BatchRequest> = seeded
        .iter()
        .enumerate()
        .map(|(i, u)| BatchRequest {
            id: i.to_string(),
            method: "POST".into(),
            url: format!("/users/{}/revokeSignInSessions", u.id),
            body: None,
            headers: None,
        })
        .collect();
    let answers = tenant.batch(requests).await.unwrap();
    let s = stats(&state);
    figures("$batch revoke of 60", &s, started);
    let ids: Vec<&str> = answers.iter().map(|a| a.id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        (answers.len(), unique.len()),
        (60, 60),
        "every sub-request answered exactly once: {ids:?}"
    );
    let now = state.lock().unwrap().users.clone();
    let (mut ok, mut throttled, mut unanswered) = (0, 0, 0);
    for a in &answers {
        let i: usize = a.id.parse().unwrap();
        let applied = s.writes_applied.get(&seeded[i].id).copied().unwrap_or(0);
        let moved = now[i].sign_in_sessions_valid_from_date_time
            != seeded[i].sign_in_sessions_valid_from_date_time;
        assert!(
            (1..=MAX_ATTEMPTS).contains(&a.attempts),
            "{} sent {} times",
            a.id,
            a.attempts
        );
        assert!(
            applied <= 1,
            "user {i}'s revoke was applied {applied} times"
        );
        assert_eq!(moved, applied == 1, "user {i}: state and counter disagree");
        match a.status {
            200..=299 => {
                ok += 1;
                assert_eq!(applied, 1, "user {i} answered {} but not applied", a.status);
            }
            // Throttled every time (or asked to wait too long): never applied.
            429 => {
                throttled += 1;
                assert_eq!(applied, 0, "user {i}: a 429 was applied");
                assert_eq!(a.attempts, MAX_ATTEMPTS, "{a:?}");
            }
            // No readable answer (a stalled $batch), or a 503: it may have run.
            0 | 503 => {
                unanswered += 1;
                assert!(
                    a.body.to_string().contains("tenant contoso") || a.status == 503,
                    "{a:?}"
                );
            }
            other => panic!("sub-request {} answered {other}: {:?}", a.id, a.body),
        }
    }
    eprintln!(
        "storm outcomes [$batch revoke of 60]: {ok} applied, {throttled} still throttled after {MAX_ATTEMPTS} attempts, {unanswered} unanswered/503; {} attempts in all",
        answers.iter().map(|a| a.attempts).sum::<u32>()
    );
    assert!(s.throttled > 0 && s.unavailable > 0, "no storm: {s:?}");
    assert!(ok > 0, "nothing got through the storm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_in_a_storm_returns_every_user_once_or_fails_honestly() {
    // Sixty users linked to one AD SID: a filtered listing of six pages of ten.
    let sid = "S-1-5-21-7-7-7-1105";
    let mut seeded = users(60);
    for u in &mut seeded {
        u.on_premises_security_identifier = Some(sid.into());
    }
    let (tenant, state) = start(seeded, None).await;
    state.lock().unwrap().page_size = 10;
    state.lock().unwrap().set_storm(Some(Storm {
        stall_percent: 0,
        ..storm(21)
    }));
    let started = Instant::now();
    let filter = format!("onPremisesSecurityIdentifier eq '{sid}'");
    let mut listings = 0;
    let all = loop {
        listings += 1;
        match tenant.users_where(&filter).await {
            Ok(all) => break all,
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        EntraError::Exhausted { .. } | EntraError::WaitTooLong { .. }
                    ),
                    "an error that is not the retry bound: {e}"
                );
                eprintln!("a listing ended honestly: {e}");
                assert!(listings < 5, "five listings in a row ran out of attempts");
            }
        }
    };
    let unique: HashSet<&str> = all.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        (all.len(), unique.len()),
        (60, 60),
        "every user once, none twice"
    );
    // Readiness pages every user the same way, and says so when it stops early.
    let report = tenant.readiness(&|_: &str, _: u64| {}).await;
    match &report.error {
        None => assert_eq!(report.users_scanned, 60),
        Some(e) => {
            assert!(e.contains("stopped after") && e.contains("partial"), "{e}");
            assert!(report.users_scanned < 60);
        }
    }
    let s = stats(&state);
    figures(
        &format!(
            "paging 60 users by 10, {listings} listing(s), readiness scanned {}",
            report.users_scanned
        ),
        &s,
        started,
    );
    assert!(s.throttled > 0, "no storm: {s:?}");
}

/// Sixty users disabled one job each, sixteen at a time (as a bulk operation
/// runs them), through the storm: each ends verified only when the double
/// shows it disabled with one write, or failed saying what is true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_disables_in_a_storm_end_verified_or_honestly_failed() {
    let seeded = users(60);
    let (tenant, state) = start(seeded.clone(), Some(storm(13))).await;
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for u in &seeded {
        let (tenant, limit, id) = (tenant.clone(), limit.clone(), u.id.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            tenant.execute(&id, CloudAction::Disable, false).await
        }));
    }
    let mut reports = Vec::new();
    for t in tasks {
        reports.push(
            tokio::time::timeout(Duration::from_secs(100), t)
                .await
                .expect("a disable did not end within its bound")
                .unwrap(),
        );
    }
    let s = stats(&state);
    figures("60 disables, 16 at a time", &s, started);
    let now = state.lock().unwrap().users.clone();
    let (mut verified, mut failed_unsent, mut failed_after_write) = (0, 0, 0);
    for (i, r) in reports.iter().enumerate() {
        let applied = s.writes_applied.get(&seeded[i].id).copied().unwrap_or(0);
        let disabled = !now[i].account_enabled;
        assert!(applied <= 1, "user {i} disabled {applied} times");
        assert_eq!(
            disabled,
            applied == 1,
            "user {i}: state and counter disagree"
        );
        match r.outcome {
            Outcome::Verified => {
                verified += 1;
                assert!(disabled, "user {i} verified but enabled: {}", r.message);
                assert_eq!(r.after.as_ref().map(|a| a.account_enabled), Some(false));
            }
            Outcome::Failed if disabled => {
                // Applied, but riposte could not see it: it must say so.
                failed_after_write += 1;
                assert!(
                    r.message.contains("read-back failed")
                        || r.message.contains("may have been applied"),
                    "user {i} is disabled, yet riposte says: {}",
                    r.message
                );
            }
            Outcome::Failed => {
                failed_unsent += 1;
                assert!(
                    r.message.contains("attempts")
                        || r.message.contains("asked to wait")
                        || r.message.contains("not in force")
                        || r.message.contains("could not be reached")
                        || r.message.contains("may have been applied"),
                    "user {i}: {}",
                    r.message
                );
            }
            other => panic!("user {i}: {other}: {}", r.message),
        }
    }
    eprintln!(
        "storm outcomes [60 disables]: {verified} verified, {failed_unsent} failed with nothing applied, {failed_after_write} failed after an applied write (said so)"
    );
    assert!(s.throttled > 0 && s.unavailable > 0, "no storm: {s:?}");
    assert!(verified > 0, "nothing got through the storm");
}

/// A write applied whose answer never arrives is settled by a read-back: it
/// is verified from the state read, not reported as not done.
#[tokio::test]
async fn a_write_whose_answer_is_lost_is_read_back_not_guessed() {
    let seeded = users(1);
    let (tenant, state) = start(seeded.clone(), None).await;
    state.lock().unwrap().faults = Faults {
        lose_write_answers: 1,
        lost_answer_ms: 1500,
        ..Faults::default()
    };
    let r = tenant
        .execute(&seeded[0].id, CloudAction::Disable, false)
        .await;
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.message);
    assert!(
        r.message.contains("answer to the write was lost"),
        "{}",
        r.message
    );
    assert_eq!(stats(&state).writes_applied[&seeded[0].id], 1);
    assert_eq!(stats(&state).stalled, 1);
}

/// A read whose answer never comes is read again (within the attempt bound):
/// reading twice changes nothing.
#[tokio::test]
async fn a_read_whose_answer_is_lost_is_sent_again() {
    let seeded = users(1);
    let (tenant, state) = start(seeded.clone(), None).await;
    state.lock().unwrap().faults = Faults {
        lose_read_answers: 2,
        lost_answer_ms: 1500,
        ..Faults::default()
    };
    let r = tenant
        .execute(&seeded[0].id, CloudAction::RevokeSessions, false)
        .await;
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.message);
    let s = stats(&state);
    assert_eq!((s.stalled, s.writes_applied[&seeded[0].id]), (2, 1));
    // Every read lost: the read ends at the bound, and nothing is written.
    state.lock().unwrap().faults = Faults {
        lose_read_answers: 100,
        lost_answer_ms: 1500,
        ..Faults::default()
    };
    let r = tenant
        .execute(&seeded[0].id, CloudAction::Disable, false)
        .await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.message.contains("could not be reached"), "{}", r.message);
    assert_eq!(stats(&state).stalled, 2 + u64::from(MAX_ATTEMPTS));
    assert!(state.lock().unwrap().users[0].account_enabled);
}
