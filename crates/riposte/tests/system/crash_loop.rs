//! SIGKILL loops during bulk actions (issue #8): trial after trial, a bulk
//! disable or enable of the same lab users is asked of `riposte serve`, and
//! the node(s) are killed with SIGKILL at a moment drawn from a seeded RNG,
//! then restarted. Failpoints slow every phase a little (planning, the
//! driver's start, both sides of each write, storing each outcome, the
//! bulk's finish) so kills land in all of them. After each trial, every
//! child job must have exactly one final outcome (one `finished` event, one
//! `action-outcome` record, one request record), nothing may be left queued
//! or running, outcomes must be honest (read with ldap-utils, not through
//! riposte), no account may be written twice (its userAccountControl
//! metadata version rose by one write's step when `verified`, by 0 when
//! `already`), the bulk's counts must equal its children's outcomes, and
//! `riposte audit verify` must pass, and the finished bulk must have exactly
//! one `bulk-finished` record (stored with its state change, in one
//! transaction).
//!
//! One SQLite `riposte serve`, or three on one PostgreSQL database (one or
//! more killed per trial). Environment:
//! - `RIPOSTE_CRASH_TRIALS` trials per backend (default 5);
//! - `RIPOSTE_CRASH_SEED` replays a run (the seed is printed at the start);
//! - `RIPOSTE_CRASH_SUMMARY` a file to write the JSON summary to (it is
//!   also printed as the test's last line).
//!
//! `scripts/crash-loop` runs 100 trials per backend. Needs the Samba lab
//! (`scripts/lab up`) and, for PostgreSQL, `scripts/postgres up`; fails,
//! never skips, without them.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Serve, riposte_config};
use riposte_store::{AuditRecord, BulkState, JobFilter, JobState, JobStore, Store};
use riposte_store_sql::PostgresStore;
use riposte_store_sql::SqliteStore;
use riposte_store_sql::testing::TestDatabase;
use riposte_testlab::TestUser;
use serde_json::{Value, json};
use uuid::Uuid;

const USERS: usize = 8;

/// Every phase slowed a little, so a kill at a random moment lands in each.
const FAILPOINTS: &str = "bulk-planned=sleep:300,bulk-driver=sleep:200,before-write=sleep:150,\
after-write=sleep:250,before-finish-job=sleep:100,bulk-before-finish=sleep:300";

/// Kills land uniformly in [0, this) after the bulk request is sent: a
/// little longer than an undisturbed bulk of USERS takes.
const KILL_WINDOW_MS: u64 = 3200;

/// splitmix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One `riposte serve` (the harness's, its stderr kept); the failpoints it announced since the
/// last reset are read from that stderr. Killed on drop.
struct Node {
    serve: Serve,
    /// The stderr lines before this one belong to earlier trials.
    since: Cell<usize>,
}

impl Node {
    fn start(config: &Path) -> Node {
        let serve = Serve::on_config(config)
            .failpoints(Some(FAILPOINTS))
            .env("RIPOSTE_LOG", "warn")
            .stderr_lines()
            .start();
        Node {
            serve,
            since: Cell::new(0),
        }
    }

    fn addr(&self) -> &str {
        &self.serve.addr
    }

    fn pid(&self) -> u32 {
        self.serve.child.id()
    }

    /// Forgets the failpoints of earlier trials.
    fn reset_failpoint(&self) {
        self.since.set(self.serve.stderr_len());
    }

    fn last_failpoint(&self) -> Option<String> {
        self.serve
            .stderr_since(self.since.get())
            .iter()
            .rev()
            .find_map(|line| {
                let rest = line.split("failpoint ").nth(1)?;
                let (name, _) = rest.split_once(':')?;
                Some(name.to_string())
            })
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reaped.
    fn kill(mut self) {
        self.serve.kill();
    }
}

/// POST a JSON body; `None` when the connection broke (the node was killed).
fn post(addr: &str, path: &str, token: &str, body: &str) -> Option<(u16, String)> {
    let address = addr.parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(10)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
    fn nodes(self) -> usize {
        match self {
            Backend::Sqlite => 1,
            Backend::Postgres => 3,
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
    )
}

/// Every audit record after `after`.
async fn records_after(store: &dyn Store, mut after: i64) -> Vec<AuditRecord> {
    let mut all = Vec::new();
    loop {
        let page = store.audit_records(after, 1000).await.unwrap();
        let Some(last) = page.last() else {
            return all;
        };
        after = last.seq;
        all.extend(page);
    }
}

/// Where the trial was when the kill landed, read from the ledger just after it.
async fn phase_now(store: &dyn Store, known: &HashSet<Uuid>) -> &'static str {
    let bulks = store.list_bulks(None, 1000, 0).await.unwrap();
    let Some(bulk) = bulks.iter().find(|b| !known.contains(&b.id)) else {
        return "before-accepted";
    };
    if bulk.state == BulkState::Finished {
        return "after-finish";
    }
    let jobs = store.bulk_jobs(bulk.id).await.unwrap();
    let running: Vec<_> = jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .collect();
    if running
        .iter()
        .any(|j| j.phase.as_deref() == Some("verifying"))
    {
        return "read-back";
    }
    if running
        .iter()
        .any(|j| j.phase.as_deref() == Some("writing"))
    {
        return "writing";
    }
    if !running.is_empty() {
        return "before-write";
    }
    if jobs.iter().all(|j| j.state == JobState::Queued) {
        return "children-queued";
    }
    if jobs.iter().any(|j| j.state == JobState::Queued) {
        return "between-children";
    }
    "bulk-finish"
}

struct Failure {
    trial: u64,
    check: &'static str,
    detail: String,
}

#[derive(Default)]
struct Tally {
    trials: u64,
    kills: u64,
    phases: BTreeMap<String, u64>,
    failpoints: BTreeMap<String, u64>,
    bulks: u64,
    bulks_never_created: u64,
    requests_answered: u64,
    jobs: u64,
    outcomes: BTreeMap<String, u64>,
    recovered_jobs: u64,
    taken_over_from_killed: u64,
    failures: Vec<Failure>,
}

fn crash_loop(backend: Backend) {
    let trials = env_u64("RIPOSTE_CRASH_TRIALS").unwrap_or(5);
    let seed = env_u64("RIPOSTE_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!(
        "crash loop on {}: {trials} trials, seed {seed} (replay with RIPOSTE_CRASH_SEED={seed})",
        backend.name()
    );
    let mut rng = Rng(seed);
    let started = Instant::now();

    let lab = crate::harness::lab();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Postgres => Some(rt.block_on(TestDatabase::create("crash_loop"))),
        Backend::Sqlite => None,
    };
    let url_line = db
        .as_ref()
        .map(|db| format!("database_url = {:?}\n", db.url))
        .unwrap_or_default();
    // A short lease, so a dead node's jobs are not kept waiting; three
    // children at a time, so some are still queued while others run.
    let config = lab.private_config(dir.path(), |t| {
        format!("{url_line}{t}\n[server]\njob_lease_secs = 3\n\n[bulk]\nper_dc = 3\n")
    });

    let token = riposte_config(
        &config,
        &[
            "--json", "token", "create", "--name", "crash", "--role", "admin",
        ],
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    let token = token.json()["token"].as_str().unwrap().to_string();
    let store: Arc<dyn Store> = rt.block_on(async {
        match &db {
            Some(db) => Arc::new(PostgresStore::connect(&db.url).await.unwrap()) as Arc<dyn Store>,
            None => Arc::new(
                SqliteStore::open(&dir.path().join("data").join("riposte.sqlite"))
                    .await
                    .unwrap(),
            ) as Arc<dyn Store>,
        }
    });

    // How much one disable, and one enable, raise userAccountControl's
    // metadata version on this DC (read with ldap-utils), so a test can tell
    // one write from two.
    let control = lab.create_user("corp", "ckc", 0);
    let step_of = |action: &str| {
        let before = control.uac_version();
        let run = riposte_config(
            &config,
            &[
                "--json",
                "user",
                action,
                &control.reference(),
                "--reason",
                "crash loop: control",
            ],
        );
        assert_eq!(run.outcome(), "verified", "{}", run.stderr);
        let step = control.uac_version() - before;
        assert!(step > 0, "{action} did not change the metadata version");
        step
    };
    let disable_step = step_of("disable");
    let enable_step = step_of("enable");
    drop(control);

    let users: Vec<TestUser> = (0..USERS)
        .map(|_| lab.create_user("corp", "ck", 0))
        .collect();
    let references: Vec<String> = users.iter().map(|u| u.reference()).collect();

    let mut nodes: Vec<Option<Node>> = (0..backend.nodes())
        .map(|_| Some(Node::start(&config)))
        .collect();
    let mut tally = Tally::default();
    let mut known_bulks: HashSet<Uuid> = HashSet::new();

    'trials: for trial in 0..trials {
        tally.trials += 1;
        let fail = |tally: &mut Tally, check: &'static str, detail: String| {
            eprintln!("trial {trial}: FAILED {check}: {detail}");
            tally.failures.push(Failure {
                trial,
                check,
                detail,
            });
        };
        // The opposite of the users' state, so every trial changes real state.
        let before: Vec<(bool, u32)> = users
            .iter()
            .map(|u| (u.uac() & 0x2 != 0, u.uac_version()))
            .collect();
        let (action, step) = if before[0].0 {
            ("enable", enable_step)
        } else {
            ("disable", disable_step)
        };
        let want_disabled = action == "disable";
        let head = rt
            .block_on(store.audit_head())
            .unwrap()
            .map_or(0, |(seq, _)| seq);

        for node in nodes.iter().flatten() {
            node.reset_failpoint();
        }
        let asked = rng.below(nodes.len() as u64) as usize;
        let body = json!({
            "action": action,
            "selector": { "kind": "references", "value": references },
            "reason": format!("crash loop trial {trial}"),
        })
        .to_string();
        let addr = nodes[asked].as_ref().unwrap().addr().to_string();
        let token_for_request = token.clone();
        let requested =
            std::thread::spawn(move || post(&addr, "/api/v1/bulk", &token_for_request, &body));

        // The kill: at a random moment, one or more nodes.
        let delay = rng.below(KILL_WINDOW_MS);
        std::thread::sleep(Duration::from_millis(delay));
        let victims: Vec<usize> = loop {
            let mask = rng.below(1 << nodes.len());
            let v: Vec<usize> = (0..nodes.len()).filter(|i| mask & (1 << i) != 0).collect();
            if !v.is_empty() {
                break v;
            }
        };
        let mut killed_pids = Vec::new();
        let mut seen_failpoints = Vec::new();
        for &i in &victims {
            let node = nodes[i].take().unwrap();
            seen_failpoints.push(node.last_failpoint().unwrap_or_else(|| "none".into()));
            killed_pids.push(node.pid());
            node.kill();
            tally.kills += 1;
        }
        let phase = rt.block_on(phase_now(store.as_ref(), &known_bulks));
        *tally.phases.entry(phase.to_string()).or_default() += 1;
        for f in &seen_failpoints {
            *tally.failpoints.entry(f.clone()).or_default() += 1;
        }
        for &i in &victims {
            nodes[i] = Some(Node::start(&config));
        }

        // The request was answered, or it broke with its node; either way the
        // bulk may or may not exist, and if it exists it must complete.
        let answer = requested.join().expect("the request thread");
        let answered_id = match &answer {
            Some((202, body)) => {
                tally.requests_answered += 1;
                let v: Value = serde_json::from_str(body).unwrap();
                v["bulk_id"].as_str().and_then(|s| s.parse::<Uuid>().ok())
            }
            Some((status, body)) => {
                fail(
                    &mut tally,
                    "request-answered-badly",
                    format!("POST /api/v1/bulk answered {status}: {body}"),
                );
                None
            }
            None => None,
        };
        let new_bulks: Vec<Uuid> = rt
            .block_on(store.list_bulks(None, 1000, 0))
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .filter(|id| !known_bulks.contains(id))
            .collect();
        known_bulks.extend(new_bulks.iter().copied());
        if new_bulks.len() > 1 {
            fail(
                &mut tally,
                "one-bulk-per-request",
                format!("one request made {} bulks: {new_bulks:?}", new_bulks.len()),
            );
        }
        if let Some(id) = answered_id
            && !new_bulks.contains(&id)
        {
            fail(
                &mut tally,
                "answered-bulk-exists",
                format!("bulk {id} was answered 202 but is not in the ledger"),
            );
        }
        let Some(bulk_id) = new_bulks.first().copied() else {
            tally.bulks_never_created += 1;
            eprintln!(
                "trial {trial}: {action}, kill at {delay} ms of {victims:?} ({phase}, failpoints {seen_failpoints:?}): no bulk was created"
            );
            // Nothing may have been written either.
            for (u, (_, version)) in users.iter().zip(&before) {
                if u.uac_version() != *version {
                    fail(
                        &mut tally,
                        "no-bulk-no-write",
                        format!("{} was written though no bulk exists", u.reference()),
                    );
                }
            }
            continue;
        };
        tally.bulks += 1;

        // Bounded wait: the bulk finished and every child final.
        let deadline = Instant::now() + Duration::from_secs(180);
        let (bulk, jobs) = loop {
            let bulk = rt.block_on(store.get_bulk(bulk_id)).unwrap().unwrap();
            let jobs = rt.block_on(store.bulk_jobs(bulk_id)).unwrap();
            let done = bulk.state == BulkState::Finished
                && jobs.iter().all(|j| j.state == JobState::Finished);
            if done {
                break (bulk, jobs);
            }
            if Instant::now() > deadline {
                fail(
                    &mut tally,
                    "bulk-completes",
                    format!(
                        "bulk {bulk_id} is {} with counts {:?} 180 s after the kill ({phase}); jobs: {:?}",
                        bulk.state,
                        bulk.counts,
                        jobs.iter()
                            .map(|j| (j.id, j.state, j.phase.clone(), j.owner.clone()))
                            .collect::<Vec<_>>()
                    ),
                );
                break 'trials;
            }
            std::thread::sleep(Duration::from_millis(200));
        };

        // A job's outcome record, and the bulk's finished record, are
        // stored with the state they describe; a bounded moment to see
        // them all still does no harm before counting.
        let deadline = Instant::now() + Duration::from_secs(15);
        let records = loop {
            let records = rt.block_on(records_after(store.as_ref(), head));
            let complete = jobs.iter().all(|j| {
                records
                    .iter()
                    .any(|r| r.job_id == Some(j.id) && r.event == "action-outcome")
            }) && records.iter().any(|r| {
                r.event == "bulk-finished" && r.details["bulk_id"] == json!(bulk_id.to_string())
            });
            if complete || Instant::now() > deadline {
                break records;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if jobs.len() != USERS {
            fail(
                &mut tally,
                "one-child-per-user",
                format!("{} children for {USERS} users", jobs.len()),
            );
        }
        let mut counted: BTreeMap<&'static str, u64> = BTreeMap::new();
        for job in &jobs {
            tally.jobs += 1;
            let outcome = job.outcome.map(|o| o.as_str()).unwrap_or("none");
            *tally.outcomes.entry(outcome.to_string()).or_default() += 1;
            *counted.entry(outcome).or_default() += 1;
            let events = rt.block_on(store.events(job.id)).unwrap();
            let finished = events
                .iter()
                .filter(|e| e.state == JobState::Finished)
                .count();
            if finished != 1 {
                fail(
                    &mut tally,
                    "one-finished-event",
                    format!("job {} finished {finished} times: {events:?}", job.id),
                );
            }
            let recovery: Vec<_> = events
                .iter()
                .filter(|e| e.phase.as_deref() == Some("recovery"))
                .collect();
            if !recovery.is_empty() {
                tally.recovered_jobs += 1;
            }
            if recovery.iter().any(|e| {
                killed_pids
                    .iter()
                    .any(|pid| e.message.contains(&format!(":{pid}:")))
            }) {
                tally.taken_over_from_killed += 1;
            }
            let outcomes = records
                .iter()
                .filter(|r| r.job_id == Some(job.id) && r.event == "action-outcome")
                .count();
            if outcomes != 1 {
                fail(
                    &mut tally,
                    "one-outcome-record",
                    format!(
                        "job {} ({}, {outcome}) has {outcomes} action-outcome records",
                        job.id, job.target_ref
                    ),
                );
            }
            // Its request: an action-requested record, or the bulk-requested
            // record naming it among the children.
            let requests = records
                .iter()
                .filter(|r| {
                    (r.event == "action-requested" && r.job_id == Some(job.id))
                        || (r.event == "bulk-requested"
                            && r.details["jobs"].as_array().is_some_and(|jobs| {
                                jobs.iter()
                                    .any(|j| j["job_id"].as_str() == Some(&job.id.to_string()))
                            }))
                })
                .count();
            if requests != 1 {
                fail(
                    &mut tally,
                    "one-request-record",
                    format!(
                        "job {} ({}) has {requests} request records (kill {phase})",
                        job.id, job.target_ref
                    ),
                );
            }
            // Honest, and written at most once: read with ldap-utils.
            let Some(i) = references.iter().position(|r| *r == job.target_ref) else {
                fail(
                    &mut tally,
                    "child-names-a-user",
                    format!("job {} names {}", job.id, job.target_ref),
                );
                continue;
            };
            let user = &users[i];
            let (was_disabled, version) = before[i];
            let disabled = user.uac() & 0x2 != 0;
            let delta = i64::from(user.uac_version()) - i64::from(version);
            let (expected, expected_delta) = if was_disabled == want_disabled {
                ("already", 0i64)
            } else {
                ("verified", i64::from(step))
            };
            if disabled != want_disabled || outcome != expected || delta != expected_delta {
                fail(
                    &mut tally,
                    "honest-outcome-written-once",
                    format!(
                        "{} {action}: outcome {outcome} (expected {expected}), now disabled={disabled}, \
                         metadata version +{delta} (one write is +{step}); job {}: {:?}",
                        user.reference(),
                        job.id,
                        job.message
                    ),
                );
            }
        }
        let c = &bulk.counts;
        let from_children = [
            ("verified", c.verified),
            ("already", c.already),
            ("ineffective", c.ineffective),
            ("denied", c.denied),
            ("failed", c.failed),
        ];
        if c.total != jobs.len() as u64
            || c.finished != c.total
            || c.queued + c.running != 0
            || from_children
                .iter()
                .any(|(o, n)| counted.get(o).copied().unwrap_or(0) != *n)
        {
            fail(
                &mut tally,
                "bulk-counts",
                format!("bulk {bulk_id} counts {c:?}, children {counted:?}"),
            );
        }
        let finished_records = records
            .iter()
            .filter(|r| {
                r.event == "bulk-finished" && r.details["bulk_id"] == json!(bulk_id.to_string())
            })
            .count();
        // The bulk is finished (waited for above), and its record is stored
        // in the transaction that finished it (`set_bulk_state_recorded`):
        // exactly one, whenever the kill came.
        if finished_records != 1 {
            fail(
                &mut tally,
                "one-bulk-finished-record",
                format!(
                    "bulk {bulk_id} is finished with {finished_records} bulk-finished records (kill {phase})"
                ),
            );
        }
        let left = rt.block_on(async {
            let running = store.running_jobs().await.unwrap().len();
            let queued = store
                .list(&JobFilter {
                    state: Some(JobState::Queued),
                    ..Default::default()
                })
                .await
                .unwrap()
                .len();
            running + queued
        });
        if left != 0 {
            fail(
                &mut tally,
                "nothing-left",
                format!("{left} jobs still queued or running"),
            );
        }
        let verify = riposte_config(&config, &["--json", "audit", "verify"]);
        if verify.code != 0 {
            fail(
                &mut tally,
                "audit-verify",
                format!("{}{}", verify.stdout, verify.stderr),
            );
        }
        eprintln!(
            "trial {trial}: {action}, kill at {delay} ms of node(s) {victims:?} ({phase}, failpoints {seen_failpoints:?}): {counted:?}"
        );
    }

    let elapsed = started.elapsed().as_secs_f64();
    let mut by_check: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &tally.failures {
        *by_check.entry(f.check).or_default() += 1;
    }
    let summary = json!({
        "backend": backend.name(),
        "nodes": backend.nodes(),
        "seed": seed,
        "trials": tally.trials,
        "users": USERS,
        "kills": tally.kills,
        "kill_points_by_phase": tally.phases,
        "last_failpoint_of_killed_nodes": tally.failpoints,
        "bulks": tally.bulks,
        "bulks_never_created": tally.bulks_never_created,
        "requests_answered_202": tally.requests_answered,
        "jobs": tally.jobs,
        "outcomes": tally.outcomes,
        "recovered_jobs": tally.recovered_jobs,
        "taken_over_from_killed_nodes": tally.taken_over_from_killed,
        "failures": tally.failures.len(),
        "failures_by_check": by_check,
        "failure_details": tally.failures.iter().map(|f| json!({
            "trial": f.trial, "check": f.check, "detail": f.detail,
        })).collect::<Vec<_>>(),
        "seconds": (elapsed * 10.0).round() / 10.0,
        "seconds_per_trial": (elapsed / tally.trials.max(1) as f64 * 10.0).round() / 10.0,
    });
    if let Ok(path) = std::env::var("RIPOSTE_CRASH_SUMMARY") {
        std::fs::write(PathBuf::from(path), format!("{summary:#}\n")).expect("write the summary");
    }

    drop(nodes);
    drop(store);
    if let Some(db) = db {
        rt.block_on(db.remove());
    }
    println!("{summary}");
    assert!(
        tally.failures.is_empty(),
        "{} check(s) failed over {} trials (seed {seed}): {by_check:?}",
        tally.failures.len(),
        tally.trials
    );
}

#[test]
fn sigkill_during_bulk_actions_on_sqlite() {
    crash_loop(Backend::Sqlite);
}

#[test]
fn sigkill_during_bulk_actions_on_postgres_with_three_nodes() {
    crash_loop(Backend::Postgres);
}

/// The window the loop hit (3 trials of 100 on SQLite, 2 on PostgreSQL),
/// made certain: a SIGKILL just after a job's outcome is stored. The outcome
/// and its `action-outcome` record were two transactions, so the job was
/// left finished with no outcome in the audit trail, and nothing repaired it
/// (recovery only looks at running jobs). `JobStore::finish_recorded` now
/// writes both in one.
#[test]
fn a_kill_between_storing_an_outcome_and_its_record_keeps_the_record() {
    let lab = crate::harness::lab();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |t| t);
    let user = lab.create_user("corp", "ckg", 0);
    let mut child = crate::harness::start_paused(
        &config,
        "after-finish-job",
        60_000,
        &[
            "--json",
            "user",
            "disable",
            &user.reference(),
            "--reason",
            "test: kill after the outcome is stored",
        ],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let store = rt
        .block_on(SqliteStore::open(
            &dir.path().join("data").join("riposte.sqlite"),
        ))
        .unwrap();
    let jobs = rt.block_on(store.list(&JobFilter::default())).unwrap();
    assert_eq!(jobs.len(), 1, "one job");
    let job = &jobs[0];
    assert_eq!(job.state, JobState::Finished, "the outcome was stored");
    let records = rt.block_on(records_after(&store, 0));
    let outcomes = records
        .iter()
        .filter(|r| r.job_id == Some(job.id) && r.event == "action-outcome")
        .count();
    assert_eq!(
        outcomes, 1,
        "job {} is finished ({:?}) with {outcomes} action-outcome records",
        job.id, job.outcome
    );
}
