//! Several `riposte serve` nodes on one PostgreSQL database and the lab's
//! CORP forest, driving one bulk disable together: one node is killed with
//! SIGKILL while it holds a child job whose write has landed; every job still reaches exactly one final, read-back
//! outcome, no account is written twice, and the audit chain verifies.
//!
//! Needs the Samba lab (`scripts/lab up`) and the test PostgreSQL
//! (`scripts/postgres up`); fails, never skips, without them.

use std::time::{Duration, Instant};

use crate::harness::{Serve, metadata_version, riposte_config, version_step_of_one_disable};
use riposte_store::{AuditLog, BulkState, BulkStore, JobState, JobStore, verify_chain};
use riposte_store_sql::PostgresStore;
use riposte_store_sql::testing::TestDatabase;
use riposte_testlab::http::request;
use serde_json::json;
use uuid::Uuid;

const USERS: usize = 30;
const NODES: usize = 3;

/// One `riposte serve` (the harness's, its stderr kept). Killed on drop.
struct Node(Serve);

impl std::ops::Deref for Node {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.0
    }
}

impl Node {
    fn start(config: &std::path::Path, failpoints: &str) -> Node {
        Node(
            Serve::on_config(config)
                .failpoints(Some(failpoints))
                .env("RIPOSTE_LOG", "warn")
                .stderr_lines()
                .start(),
        )
    }

    /// Waits until this node has paused at `failpoint` for the `nth` time.
    fn wait_for_failpoint(&self, failpoint: &str, nth: usize) {
        let marker = format!("failpoint {failpoint}");
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut seen = 0;
        while seen < nth {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines().recv_timeout(left) {
                Ok(line) if line.contains(&marker) => seen += 1,
                Ok(_) => {}
                Err(_) => panic!("node {} reached {failpoint} only {seen} times", self.addr),
            }
        }
    }
}

#[test]
fn a_node_killed_mid_bulk_loses_nothing_and_nothing_is_applied_twice() {
    let lab = crate::harness::lab();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create("three_nodes"));
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    // A short lease, so a dead node's jobs are not kept waiting in the test.
    let config = lab.private_config(dir.path(), |t| {
        // The node loss is the test, not the second person's approval of 30 accounts.
        format!("database_url = {url:?}\n{t}\n[server]\njob_lease_secs = 3\n\n[bulk]\napproval_above = 100\n")
    });

    let step = version_step_of_one_disable(&lab);
    let users: Vec<_> = (0..USERS)
        .map(|_| lab.create_user("corp", "mn", 0))
        .collect();
    let before: Vec<u64> = users
        .iter()
        .map(|u| metadata_version(&lab, &u.reference(), "userAccountControl"))
        .collect();

    let token = riposte_config(
        &config,
        &[
            "--json",
            "token",
            "create",
            "--name",
            "multinode",
            "--role",
            "admin",
        ],
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    let token = token.json()["token"].as_str().unwrap().to_string();

    // Slow every job down on both sides of its write, so jobs are in flight
    // on every node when one of them dies.
    let failpoints = "before-write=sleep:300,after-write=sleep:1500";
    let mut nodes: Vec<Option<Node>> = (0..NODES)
        .map(|_| Some(Node::start(&config, failpoints)))
        .collect();

    // One bulk action over every user, asked of node 0; every node drives it.
    let references: Vec<String> = users.iter().map(|u| u.reference()).collect();
    let body = json!({
        "action": "disable",
        "selector": { "kind": "references", "value": references },
        "reason": "multi-node bulk test",
    });
    let response = request(
        &nodes[0].as_ref().unwrap().addr,
        "POST",
        "/api/v1/bulk",
        &[format!("Authorization: Bearer {token}")],
        Some(&body.to_string()),
    );
    assert_eq!(response.status, 202, "{}", response.body);
    let bulk_id: Uuid = response.json()["bulk_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let store = rt.block_on(PostgresStore::connect(&db.url)).unwrap();
    let children = rt.block_on(store.bulk_jobs(bulk_id)).unwrap();
    assert_eq!(children.len(), USERS, "one child job per account");
    // The jobs in the users' order, matched by the reference each was asked for.
    let jobs: Vec<Uuid> = users
        .iter()
        .map(|u| {
            children
                .iter()
                .find(|j| j.target_ref == u.reference())
                .unwrap_or_else(|| panic!("no child job for {}", u.reference()))
                .id
        })
        .collect();

    // Kill node 1 with SIGKILL when it holds a job whose write has landed
    // (its second one: the bulk is under way).
    let victim = nodes[1].take().unwrap();
    victim.wait_for_failpoint("after-write", 2);
    let victim_pid = victim.child.id();
    drop(victim);

    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let unfinished = rt.block_on(async {
            let mut n = 0;
            for id in &jobs {
                let job = store.get(*id).await.unwrap().expect("the job exists");
                if job.state != JobState::Finished {
                    n += 1;
                }
            }
            n
        });
        if unfinished == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unfinished} jobs never finished after a node died"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Every job: one final outcome, read back, and one outcome in the trail.
    let records = rt.block_on(async {
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |r: &riposte_store::AuditRecord| r.seq);
            let page = store.audit_records(after, 1000).await.unwrap();
            if page.is_empty() {
                break all;
            }
            all.extend(page);
        }
    });
    let mut recovered = 0;
    for (id, user) in jobs.iter().zip(&users) {
        let (job, events) = rt.block_on(async {
            (
                store.get(*id).await.unwrap().unwrap(),
                store.events(*id).await.unwrap(),
            )
        });
        assert_eq!(
            job.outcome.map(|o| o.as_str()),
            Some("verified"),
            "job {id} on {}: {:?}",
            user.reference(),
            job.message
        );
        let finished = events
            .iter()
            .filter(|e| e.state == JobState::Finished)
            .count();
        assert_eq!(
            finished, 1,
            "job {id} finished {finished} times: {events:?}"
        );
        let outcomes = records
            .iter()
            .filter(|r| r.job_id == Some(*id) && r.event == "action-outcome")
            .count();
        assert_eq!(outcomes, 1, "job {id} has {outcomes} outcome records");
        if events.iter().any(|e| {
            e.phase.as_deref() == Some("recovery") && e.message.contains(&format!(":{victim_pid}:"))
        }) {
            recovered += 1;
        }
        // Written once: one disable's worth of change, whoever finished it.
        let after = metadata_version(&lab, &user.reference(), "userAccountControl");
        assert_eq!(
            after - before[jobs.iter().position(|j| j == id).unwrap()],
            step,
            "{} was written {} times",
            user.reference(),
            (after - before[jobs.iter().position(|j| j == id).unwrap()]) / step
        );
        assert_ne!(user.uac() & 0x2, 0, "{} is not disabled", user.reference());
    }
    assert!(
        recovered >= 1,
        "no job of the killed node (pid {victim_pid}) was taken over"
    );

    // The bulk itself ends finished, its counts read from its children.
    let deadline = Instant::now() + Duration::from_secs(60);
    let bulk = loop {
        let bulk = rt.block_on(store.get_bulk(bulk_id)).unwrap().unwrap();
        if bulk.state == BulkState::Finished || Instant::now() > deadline {
            break bulk;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(bulk.state, BulkState::Finished, "{bulk:?}");
    assert_eq!(bulk.counts.verified, USERS as u64, "{:?}", bulk.counts);

    let report = rt.block_on(verify_chain(&store)).unwrap();
    assert!(report.intact(), "{report:?}");
    let verify = riposte_config(&config, &["--json", "audit", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    drop(nodes);
    drop(store);
    rt.block_on(db.remove());
}
