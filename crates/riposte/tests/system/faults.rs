//! Network faults between riposte and a real lab DC, injected by the harness's
//! TCP fault proxy (`riposte_testlab::fault_proxy`): for every action, the
//! connection is cut after every message of a run, in both directions and in
//! the middle of a message (so in the middle of the modify and of its
//! read-back). Every cut must end in a true outcome: `verified` only when the
//! effect is read back (and proven here by the directory and by `kinit`),
//! otherwise an honest `failed`; never a second write, never a lost UAC bit.
//! The second half does the same with the proxied DC gone after the cut, so
//! the action moves to CORP's second DC (dc2), and covers a DC that black-holes,
//! resets or answers slowly.
//!
//! Needs the Samba lab (`scripts/lab up`, with CORP's second DC); fails,
//! never skips, without it. Figures are printed (`--nocapture`) and kept in
//! RELIABILITY.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{Run, riposte_config};
use riposte_testlab::fault_proxy::{Direction, Fault, FaultProxy};
use riposte_testlab::{Lab, LabForest, Login, TestUser};
use serde_json::Value;

const ACCOUNTDISABLE: u32 = 0x2;
/// Bits that must survive every write: "password never expires" is left out
/// so that a forced reset is effective on the same kind of user.
const KEPT_BITS: u32 = 0x100000; // NOT_DELEGATED
/// Trials run at once (each with its own proxy, config and ledger).
const WORKERS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    Disable,
    Enable,
    ForcePasswordReset,
    Unlock,
    SetPassword,
}

const ACTIONS: [Act; 5] = [
    Act::Disable,
    Act::Enable,
    Act::ForcePasswordReset,
    Act::Unlock,
    Act::SetPassword,
];

impl Act {
    fn verb(self) -> &'static str {
        match self {
            Act::Disable => "disable",
            Act::Enable => "enable",
            Act::ForcePasswordReset => "force-password-reset",
            Act::Unlock => "unlock",
            Act::SetPassword => "set-password",
        }
    }

    /// The attribute whose replication metadata counts this action's writes.
    fn attribute(self) -> &'static str {
        match self {
            Act::Disable | Act::Enable => "userAccountControl",
            Act::ForcePasswordReset => "pwdLastSet",
            Act::Unlock => "lockoutTime",
            Act::SetPassword => "unicodePwd",
        }
    }

    /// A fresh user in the state this action changes.
    fn prepare(self, lab: &Lab) -> TestUser {
        let user = lab.create_user("corp", "flt", KEPT_BITS);
        match self {
            Act::Enable => user.set_uac(0x200 | KEPT_BITS | ACCOUNTDISABLE),
            Act::Unlock => {
                for _ in 0..8 {
                    let _ = lab.kinit(&user.forest, &user.name, "Wrong-password-1!");
                }
            }
            _ => {}
        }
        user
    }

    /// The action's effect, proven with the directory and a real Kerberos login.
    fn in_force(self, user: &TestUser, new_password: Option<&str>) -> Result<(), String> {
        let uac = user.uac();
        let login = user.kinit();
        let ok = match self {
            Act::Disable => {
                uac == 0x200 | KEPT_BITS | ACCOUNTDISABLE && matches!(login, Login::Revoked(_))
            }
            Act::Enable => uac == 0x200 | KEPT_BITS && login == Login::Succeeded,
            Act::ForcePasswordReset => {
                uac == 0x200 | KEPT_BITS && matches!(login, Login::PasswordExpired(_))
            }
            Act::Unlock => uac == 0x200 | KEPT_BITS && login == Login::Succeeded,
            Act::SetPassword => {
                let new = new_password
                    .map(|p| user.kinit_with(p))
                    .unwrap_or(Login::Other("no password shown".into()));
                uac == 0x200 | KEPT_BITS && login != Login::Succeeded && new == Login::Succeeded
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("uac 0x{uac:x}, kinit {login:?}"))
        }
    }

    /// Nothing changed: the state `prepare` left.
    fn untouched(self, user: &TestUser) -> Result<(), String> {
        let uac = user.uac();
        let login = user.kinit();
        let ok = match self {
            Act::Enable => uac == 0x200 | KEPT_BITS | ACCOUNTDISABLE,
            Act::Unlock => uac == 0x200 | KEPT_BITS && login != Login::Succeeded,
            _ => uac == 0x200 | KEPT_BITS && login == Login::Succeeded,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("uac 0x{uac:x}, kinit {login:?}"))
        }
    }
}

/// The replication metadata version of `attribute`, as a separate riposte
/// process reads it straight from dc1.
fn version(lab: &Lab, user: &TestUser, attribute: &str) -> u64 {
    crate::harness::metadata_version(lab, &user.reference(), attribute)
}

/// A fault proxy in front of dc1's LDAPS port, on dc1's own address (so its
/// certificate still matches), framing by TLS record.
fn proxy_to_dc1(corp: &LabForest) -> FaultProxy {
    let upstream = format!("{}:636", corp.address)
        .parse()
        .expect("dc1's address");
    FaultProxy::start_tls(&corp.address, upstream)
}

/// A config whose CORP forest has exactly `dcs`, with short timeouts so a
/// black hole costs seconds, not the default 15.
fn config_with_dcs(lab: &Lab, dir: &Path, dcs: &[String]) -> PathBuf {
    let corp = lab.forest("corp").ldaps_url.clone();
    let list = dcs
        .iter()
        .map(|d| format!("{d:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    lab.private_config(dir, |t| {
        let line = format!("dcs = [{corp:?}]");
        assert!(t.contains(&line), "the lab config has no {line}");
        t.replacen(
            &line,
            &format!("dcs = [{list}]\nconnect_timeout_secs = 2\noperation_timeout_secs = 3"),
            1,
        )
    })
}

fn act(config: &Path, action: Act, user: &TestUser) -> Run {
    riposte_config(
        config,
        &[
            "--json",
            "user",
            action.verb(),
            &user.reference(),
            "--reason",
            "fault test",
        ],
    )
}

/// Names of the messages of a CLI run, in the order riposte sends them: one
/// TLS record each (the proxy frames by record), checked against the control
/// run's trace.
const MESSAGES: [&str; 9] = [
    "TLS ClientHello",
    "TLS ChangeCipherSpec",
    "TLS Finished",
    "bind",
    "whoami search",
    "lookup search",
    "preflight read",
    "modify",
    "read-back",
];

#[derive(Debug, Clone)]
struct Cut {
    action: Act,
    fault: Fault,
    label: String,
}

/// Cut points of one action, by message, from its unfaulted trace: one byte
/// into each request (never processed), right after each request (processed,
/// its answer lost), and one byte into each answer chunk (processed, answer
/// lost midway). By chunk index, not byte offset: the messages' sizes differ
/// from user to user (their names), their order does not.
fn cut_points(action: Act, trace: &riposte_testlab::fault_proxy::ConnectionTrace) -> Vec<Cut> {
    let name = |k: usize| {
        if trace.to_server.len() == MESSAGES.len() {
            MESSAGES[k].to_string()
        } else {
            format!("message {}", k + 1)
        }
    };
    let at = |direction, index, keep| Fault::CutAtChunk {
        direction,
        index,
        keep,
    };
    let mut cuts = Vec::new();
    for k in 0..trace.to_server.len() {
        cuts.push(Cut {
            action,
            fault: at(Direction::ToServer, k, Some(1)),
            label: format!("1 byte into {}", name(k)),
        });
        cuts.push(Cut {
            action,
            fault: at(Direction::ToServer, k, None),
            label: format!("after {} reached the DC", name(k)),
        });
    }
    for k in 0..trace.to_client.len() {
        cuts.push(Cut {
            action,
            fault: at(Direction::ToClient, k, Some(1)),
            label: format!("1 byte into answer chunk {}", k + 1),
        });
    }
    cuts
}

#[derive(Default)]
struct Figures {
    trials: usize,
    fired: usize,
    outcomes: BTreeMap<String, usize>,
    /// Trials whose first attempt was lost and that were retried.
    retried: usize,
    on_second_dc: usize,
    /// What each trial that did not end verified was.
    not_verified: Vec<String>,
}

impl Figures {
    fn add(
        &mut self,
        what: &str,
        outcome: &str,
        message: &str,
        fired: bool,
        retried: bool,
        second_dc: bool,
    ) {
        self.trials += 1;
        self.fired += usize::from(fired);
        let kind = what.split(':').next().unwrap_or(what);
        *self
            .outcomes
            .entry(format!("{kind} {outcome}"))
            .or_default() += 1;
        self.retried += usize::from(retried);
        self.on_second_dc += usize::from(second_dc);
        if outcome != "verified" {
            self.not_verified
                .push(format!("{what}: {outcome}: {message}"));
        }
    }

    fn print(&self, what: &str) {
        println!(
            "FIGURES {what}: {} trials, {} faults fired, outcomes {:?}, {} retried after a lost connection, {} finished on dc2; not verified: {:?}",
            self.trials,
            self.fired,
            self.outcomes,
            self.retried,
            self.on_second_dc,
            self.not_verified
        );
    }
}

/// The new password riposte showed, if it showed one.
fn shown_password(job: &Value) -> Option<String> {
    job["new_password"].as_str().map(String::from)
}

/// Checks one faulted run against the directory; returns the outcome.
fn judge(
    lab: &Lab,
    action: Act,
    user: &TestUser,
    run: &Run,
    before: u64,
    step: u64,
    label: &str,
) -> String {
    let job = run.json();
    let outcome = job["outcome"].as_str().unwrap_or_default().to_string();
    let context = format!("{:?} cut {label}: {}\n{}", action, run.stdout, run.stderr);
    let after = version(lab, user, action.attribute());
    match outcome.as_str() {
        "verified" => {
            assert_eq!(run.code, 0, "{context}");
            action
                .in_force(user, shown_password(&job).as_deref())
                .unwrap_or_else(|e| panic!("verified but not in force ({e}): {context}"));
            assert_eq!(
                after - before,
                step,
                "written {} times: {context}",
                (after - before) / step.max(1)
            );
        }
        "failed" => {
            assert_ne!(run.code, 0, "{context}");
            assert!(
                shown_password(&job).is_none(),
                "a failed job showed a password: {context}"
            );
            let message = job["message"].as_str().unwrap_or_default();
            if message.contains("Nothing was written") {
                action.untouched(user).unwrap_or_else(|e| {
                    panic!("failed, said nothing was written, but ({e}): {context}")
                });
                assert_eq!(after, before, "said nothing was written: {context}");
            } else {
                assert!(after - before <= step, "written twice: {context}");
            }
        }
        other => panic!("outcome {other:?} after a cut: {context}"),
    }
    outcome
}

/// Runs `work` on `WORKERS` threads, each with its own proxy in front of dc1.
fn in_parallel<T: Send + 'static>(
    items: Vec<T>,
    work: impl Fn(&FaultProxy, &tempfile::TempDir, T) + Send + Sync + 'static,
) {
    let queue = Arc::new(Mutex::new(items));
    let work = Arc::new(work);
    let threads: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (queue, work) = (queue.clone(), work.clone());
            std::thread::spawn(move || {
                let lab = Lab::load();
                let corp = lab.forest("corp");
                let proxy = proxy_to_dc1(corp);
                let dir = tempfile::tempdir().unwrap();
                loop {
                    let Some(item) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    work(&proxy, &dir, item);
                }
            })
        })
        .collect();
    let mut panics = Vec::new();
    for t in threads {
        if let Err(e) = t.join() {
            panics.push(e);
        }
    }
    if let Some(e) = panics.into_iter().next() {
        std::panic::resume_unwind(e);
    }
}

/// Each action once without faults through the proxy: its trace gives the cut
/// points, its metadata delta the size of one write.
fn controls(lab: &Lab) -> Vec<(Act, Vec<Cut>, u64)> {
    let corp = lab.forest("corp");
    let proxy = proxy_to_dc1(corp);
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_dcs(lab, dir.path(), &[proxy.ldaps_url()]);
    ACTIONS
        .iter()
        .map(|&action| {
            let user = action.prepare(lab);
            let before = version(lab, &user, action.attribute());
            proxy.clear_traces();
            let run = act(&config, action, &user);
            assert_eq!(
                run.outcome(),
                "verified",
                "control {action:?}: {}\n{}",
                run.stdout,
                run.stderr
            );
            action
                .in_force(&user, shown_password(&run.json()).as_deref())
                .unwrap();
            let step = version(lab, &user, action.attribute()) - before;
            assert!(step > 0, "control {action:?} left no metadata");
            let traces = proxy.traces();
            assert_eq!(traces.len(), 1, "one connection per CLI run: {traces:?}");
            assert_eq!(
                traces[0].to_server.len(),
                MESSAGES.len(),
                "{action:?}: the run's messages changed ({:?}); update MESSAGES",
                traces[0].to_server
            );
            (action, cut_points(action, &traces[0]), step)
        })
        .collect()
}

#[test]
fn a_cut_at_every_message_of_every_action_ends_in_a_true_outcome() {
    let lab = crate::harness::lab();
    let controls = controls(&lab);
    let steps: BTreeMap<Act, u64> = controls.iter().map(|(a, _, s)| (*a, *s)).collect();
    let cuts: Vec<Cut> = controls.into_iter().flat_map(|(_, c, _)| c).collect();
    let figures = Arc::new(Mutex::new(Figures::default()));
    let f = figures.clone();
    in_parallel(cuts, move |proxy, dir, cut| {
        let lab = Lab::load();
        // The same DC answers again after the cut (a network blip).
        let config = config_with_dcs(&lab, dir.path(), &[proxy.ldaps_url()]);
        let user = cut.action.prepare(&lab);
        let before = version(&lab, &user, cut.action.attribute());
        proxy.clear_traces();
        proxy.plan(vec![cut.fault.clone()], Fault::Pass);
        let run = act(&config, cut.action, &user);
        let fired = proxy.traces().first().is_some_and(|t| t.fired);
        assert!(
            fired,
            "{:?} {}: the cut never happened",
            cut.action, cut.label
        );
        let outcome = judge(
            &lab,
            cut.action,
            &user,
            &run,
            before,
            steps[&cut.action],
            &cut.label,
        );
        let retried = proxy.traces().len() > 1;
        f.lock().unwrap().add(
            &format!("{:?}: cut {}", cut.action, cut.label),
            &outcome,
            run.json()["message"].as_str().unwrap_or_default(),
            fired,
            retried,
            false,
        );
    });
    let figures = figures.lock().unwrap();
    figures.print("cut at every message, same DC after the cut");
    assert!(figures.retried > 0);
}

#[test]
fn a_cut_around_the_write_with_the_dc_gone_moves_the_action_to_dc2() {
    let lab = crate::harness::lab();
    let dc2 = lab.dc("corp", "corp2");
    let controls = controls(&lab);
    // The messages around the write: the preflight read, the modify, the read-back.
    let cuts: Vec<Cut> = controls
        .into_iter()
        .flat_map(|(_, c, _)| c)
        .filter(|c| {
            ["preflight read", "modify", "read-back"]
                .iter()
                .any(|m| c.label.ends_with(m) || c.label.contains(&format!("{m} reached")))
        })
        .collect();
    assert!(!cuts.is_empty());
    let figures = Arc::new(Mutex::new(Figures::default()));
    let f = figures.clone();
    in_parallel(cuts, move |proxy, dir, cut| {
        let lab = Lab::load();
        let config = config_with_dcs(
            &lab,
            dir.path(),
            &[proxy.ldaps_url(), dc2.ldaps_url.clone()],
        );
        let user = cut.action.prepare(&lab);
        lab.replicate("corp2");
        proxy.clear_traces();
        // After the cut, dc1 (behind the proxy) refuses every connection.
        proxy.plan(vec![cut.fault.clone()], Fault::Reset);
        let run = act(&config, cut.action, &user);
        let job = run.json();
        let outcome = job["outcome"].as_str().unwrap_or_default().to_string();
        let context = format!(
            "{:?} cut {}: {}\n{}",
            cut.action, cut.label, run.stdout, run.stderr
        );
        let dc = job["evidence"]["dc"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // Converge before judging: the write may have landed on either DC.
        lab.replicate("corp2");
        match outcome.as_str() {
            "verified" => {
                assert_eq!(run.code, 0, "{context}");
                cut.action
                    .in_force(&user, shown_password(&job).as_deref())
                    .unwrap_or_else(|e| panic!("verified but not in force ({e}): {context}"));
            }
            "failed" => {
                assert!(shown_password(&job).is_none(), "{context}");
                if job["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Nothing was written")
                {
                    cut.action.untouched(&user).unwrap_or_else(|e| {
                        panic!("said nothing was written, but ({e}): {context}")
                    });
                }
                // Whatever landed, no other bit of the account was lost.
                assert_eq!(user.uac() & KEPT_BITS, KEPT_BITS, "{context}");
            }
            other => panic!("outcome {other:?}: {context}"),
        }
        f.lock().unwrap().add(
            &format!("{:?}: cut {}", cut.action, cut.label),
            &outcome,
            job["message"].as_str().unwrap_or_default(),
            true,
            true,
            dc == dc2.ldaps_url,
        );
    });
    let figures = figures.lock().unwrap();
    figures.print("cut around the write, dc1 gone after the cut");
    assert!(figures.on_second_dc > 0, "no action finished on dc2");
}

#[test]
fn a_dc_that_black_holes_resets_or_crawls_loses_the_action_to_dc2() {
    let lab = crate::harness::lab();
    let dc2 = lab.dc("corp", "corp2");
    let corp = lab.forest("corp");
    let mut figures = Figures::default();
    for (name, fault, moves) in [
        ("black hole", Fault::BlackHole, true),
        ("reset", Fault::Reset, true),
        // Each chunk held longer than the operation timeout (3 s).
        (
            "4 s per message",
            Fault::Delay(Duration::from_secs(4)),
            true,
        ),
        // Slow but within every timeout: stays on dc1, just later.
        (
            "100 ms per message",
            Fault::Delay(Duration::from_millis(100)),
            false,
        ),
    ] {
        let proxy = proxy_to_dc1(corp);
        proxy.plan(Vec::new(), fault.clone());
        let dir = tempfile::tempdir().unwrap();
        let config = config_with_dcs(
            &lab,
            dir.path(),
            &[proxy.ldaps_url(), dc2.ldaps_url.clone()],
        );
        let user = Act::Disable.prepare(&lab);
        lab.replicate("corp2");
        let run = act(&config, Act::Disable, &user);
        assert_eq!(
            run.outcome(),
            "verified",
            "{name}: {}\n{}",
            run.stdout,
            run.stderr
        );
        let dc = run.json()["evidence"]["dc"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let expected = if moves {
            dc2.ldaps_url.clone()
        } else {
            proxy.ldaps_url()
        };
        assert_eq!(
            dc, expected,
            "{name}: read back on the wrong DC: {}",
            run.stdout
        );
        lab.replicate("corp2");
        Act::Disable
            .in_force(&user, None)
            .unwrap_or_else(|e| panic!("{name}: verified but not in force ({e})"));
        figures.add(name, "verified", "", true, moves, dc == dc2.ldaps_url);
    }
    figures.print("black hole / reset / slow DC");
}
