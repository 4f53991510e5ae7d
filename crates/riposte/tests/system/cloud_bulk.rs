//! Bulk Entra work through `$batch` (issue #17): `riposte bulk disable
//! --from-file` over cloud-only users against a Graph TEST DOUBLE of this
//! test's own (never the lab's shared one). The children's requests go to
//! Graph together, far under one request a user a step, and every user is
//! still looked up, read, written once and read back (`verified`);
//! throttled sub-requests are sent again; a write whose sub-answer Graph
//! leaves out is settled by reading. A single action sends plain requests.

use std::collections::HashMap;

use crate::harness::{riposte_config, start_graph_double};
use riposte_graph_double::{Shared, User};
use riposte_testlab::Lab;
use serde_json::Value;

const USERS: usize = 200;
const THROTTLED: u32 = 30;
const LOST: u32 = 3;

fn users() -> Vec<User> {
    (0..USERS)
        .map(|i| {
            User::member(
                format!("00000000-0000-0000-0000-0000000b{i:04}"),
                format!("batchy{i}@contoso.example"),
                format!("Batchy {i}"),
            )
        })
        .collect()
}

/// The test's own double ([`start_graph_double`]) with this test's users.
fn start_double(lab: &Lab) -> (String, Shared) {
    let (address, state) = start_graph_double(lab, users());
    (address, state)
}

#[test]
fn a_bulk_of_cloud_users_goes_through_batch_and_every_one_is_read_back() {
    let lab = crate::harness::lab();
    let (double, state) = start_double(&lab);
    let dir = tempfile::tempdir().unwrap();
    let address = double.clone();
    let config = lab.private_config(dir.path(), move |t| {
        assert!(
            t.contains("127.0.0.1:8441"),
            "the lab config names no Graph double"
        );
        // The lab's `[bulk]` defaults, but no second person: the batching is the test.
        format!(
            "{}\n[bulk]\napproval_above = {}\n",
            t.replace("127.0.0.1:8441", &address),
            USERS + 1
        )
    });

    // A single action first: plain requests, no `$batch`.
    let one = riposte_config(
        &config,
        &[
            "--json",
            "user",
            "disable",
            "contoso:batchy0@contoso.example",
            "--reason",
            "test: one cloud user",
        ],
    );
    assert_eq!(one.code, 0, "{}{}", one.stdout, one.stderr);
    assert_eq!(one.outcome(), "verified", "{}", one.stdout);
    {
        let d = state.lock().unwrap();
        assert_eq!(
            d.stats.batches, 0,
            "a single action went through $batch: {:?}",
            d.seen
        );
        assert!(d.stats.requests >= 3, "{:?}", d.seen);
    }

    // Then all of them, the first already disabled; some sub-requests throttled, some
    // applied writes' answers left out of their `$batch`'s answer.
    {
        let mut d = state.lock().unwrap();
        d.stats = Default::default();
        d.faults.throttle_sub_requests = THROTTLED;
        d.faults.drop_batched_write_answers = LOST;
    }
    let references: String = users()
        .iter()
        .map(|u| format!("contoso:{}\n", u.user_principal_name))
        .collect();
    let file = dir.path().join("refs.txt");
    std::fs::write(&file, references).unwrap();
    let run = riposte_config(
        &config,
        &[
            "--json",
            "bulk",
            "disable",
            "--from-file",
            file.to_str().unwrap(),
            "--reason",
            "test: cloud bulk through $batch",
            "--quiet",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let bulk = run.json();
    let counts = &bulk["counts"];
    assert_eq!(counts["verified"], USERS as u64 - 1, "{bulk}");
    assert_eq!(counts["already"], 1, "{bulk}");

    let (stats, now, faults) = {
        let d = state.lock().unwrap();
        (d.stats.clone(), d.users.clone(), d.faults.clone())
    };
    assert_eq!(
        faults.throttle_sub_requests, 0,
        "no sub-request was throttled"
    );
    assert_eq!(
        faults.drop_batched_write_answers, 0,
        "no answer was left out"
    );
    assert!(stats.throttled >= u64::from(THROTTLED), "{stats:?}");
    // Each user looked up, read, written and read back: 4 steps, 800 plain
    // requests; through `$batch`, far under one request a user.
    let plain = stats.requests - stats.batches;
    assert!(
        (stats.sub_requests + plain) as usize >= 4 * (USERS - 1),
        "every user still looked up, read, written and read back: {stats:?}"
    );
    assert!(
        (stats.requests as usize) < USERS / 2,
        "{} Graph requests for {USERS} users: {stats:?}",
        stats.requests
    );
    assert!(now.iter().all(|u| !u.account_enabled));
    assert_eq!(stats.writes_applied.len(), USERS - 1);
    assert!(
        stats.writes_applied.values().all(|n| *n == 1),
        "a write sent twice: {stats:?}"
    );

    // Each child's evidence: read before, written, read back; those whose
    // write answer was lost are verified by the read-back, and say so.
    let listed = riposte_config(&config, &["--json", "actions", "list", "--limit", "1000"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let listed = listed.json();
    let jobs: Vec<&Value> = listed["jobs"]
        .as_array()
        .expect("the ledger's jobs")
        .iter()
        .filter(|j| j["reason"] == "test: cloud bulk through $batch")
        .collect();
    assert_eq!(jobs.len(), USERS);
    let mut settled = 0;
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for job in &jobs {
        let outcome = job["outcome"].as_str().unwrap_or_default().to_string();
        *outcomes.entry(outcome.clone()).or_default() += 1;
        let step = &job["evidence"]["steps"][0];
        let details = &step["details"];
        assert_eq!(
            details["before"]["account_enabled"],
            outcome == "verified",
            "{job}"
        );
        assert_eq!(
            details["after"]["account_enabled"],
            Value::Bool(false),
            "{job}"
        );
        let message = step["message"].as_str().unwrap_or_default();
        if message.contains("answer to the write was lost") {
            assert_eq!(outcome, "verified", "{job}");
            assert!(
                message.contains("the read-back shows it in force"),
                "{message}"
            );
            settled += 1;
        }
    }
    assert_eq!(settled, LOST as usize, "{outcomes:?}");
    eprintln!(
        "cloud bulk figures: {USERS} users, {} Graph requests ({} $batch carrying {} sub-requests, {} throttled), outcomes {outcomes:?}",
        stats.requests, stats.batches, stats.sub_requests, stats.throttled
    );
}
