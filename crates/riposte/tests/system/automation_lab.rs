//! Automatic response on the real lab: an alert, the automation rules, and
//! the same runner, policy and safeguards a person's request goes through.

use std::sync::Arc;

use riposte_ad::AdDirectory;
use riposte_core::Action;
use riposte_core::safeguards::{CircuitBreaker, Protection};
use riposte_detect::{Alert, Entities, Severity};
use riposte_jobs::Runner;
use riposte_response::automation::trust::Cooldown;
use riposte_response::automation::{
    AlertFacts, Automation, AutomationConfig, Entity, Mode, Response, Rule,
};
use riposte_store::{AuditLog, JobStore};
use riposte_store_sql::SqliteStore;
use riposte_testlab::{Lab, Login};

fn spray(users: &[&str]) -> Alert {
    Alert {
        rule_id: "riposte.password_spray".into(),
        title: "Password spray".into(),
        technique: Some("T1110.003".into()),
        severity: Severity::High,
        description: "many accounts failed from one source".into(),
        entities: Entities {
            users: users.iter().map(|u| u.to_string()).collect(),
            sources: vec!["127.0.0.1".into()],
            ..Default::default()
        },
        first_seen: Some(time::OffsetDateTime::now_utc()),
        last_seen: Some(time::OffsetDateTime::now_utc()),
        event_count: 12,
        events: Vec::new(),
    }
}

fn config(mode: Mode, max_actions: u32) -> AutomationConfig {
    AutomationConfig {
        mode,
        rules: vec![Rule {
            name: "spray-reset".into(),
            technique: Some("T1110.003".into()),
            rule_id: None,
            action: Action::ForcePasswordReset,
            on: Entity::Users,
            forests: vec![],
            ous: vec![],
            inputs: vec!["tail:*".into()],
            // These tests drive the machinery with spray alerts on purpose.
            act_on_attacked: true,
        }],
        circuit_breaker: CircuitBreaker {
            max_actions,
            window_minutes: 10,
        },
        cooldown_minutes: 60,
    }
}

/// The alert as the corp DC log's tailer raised it.
fn from_corp_log(alert: &Alert) -> AlertFacts {
    let mut facts = AlertFacts::from(alert);
    facts.input = "tail:corp".into();
    facts
}

async fn runner(
    dir: &std::path::Path,
    protected: &[String],
    breaker: CircuitBreaker,
) -> (Runner, Arc<SqliteStore>) {
    let lab = Lab::load();
    let config = riposte::config::Config::load(Some(&lab.config)).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.join("ledger.sqlite")).await.unwrap());
    let directory = Arc::new(AdDirectory::new(config.forests).unwrap());
    let runner = Runner::new(store.clone(), directory)
        .with_protection(Protection::new(protected.to_vec()))
        .with_circuit_breaker(breaker);
    (runner, store)
}

#[tokio::test]
async fn a_spray_alert_forces_resets_and_never_touches_protected_accounts() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let victim = lab.create_user("corp", "auto", 0);
    let vip = lab.create_user("corp", "vip", 0);
    let cfg = config(Mode::Enforce, 10);
    let (runner, store) = runner(dir.path(), &[vip.reference()], cfg.circuit_breaker).await;
    let alert = spray(&[
        &format!("CORP\\{}", victim.name),
        &format!("CORP\\{}", vip.name),
        "CORP\\nobody-at-all",
    ]);
    let cooldown = Cooldown::default();
    let automation = Automation {
        config: &cfg,
        runner: &runner,
        cooldown: &cooldown,
    };
    let responses = automation.respond(&from_corp_log(&alert)).await;
    assert_eq!(responses.len(), 3, "{responses:?}");
    assert!(
        matches!(
            &responses[0],
            Response::Queued {
                awaiting_approval: false,
                ..
            }
        ),
        "{responses:?}"
    );
    assert!(
        matches!(&responses[1], Response::Skipped { why, .. } if why.contains("never acted on automatically")),
        "automation must skip the protected account, saying why: {responses:?}"
    );
    assert!(
        matches!(&responses[2], Response::Skipped { why, .. } if why.contains("no user")),
        "{responses:?}"
    );

    // The worker runs what may run; the protected job stays queued.
    let done = runner.run_next().await.unwrap().expect("the victim's job");
    assert_eq!(
        done.job.outcome,
        Some(riposte_core::Outcome::Verified),
        "{:?}",
        done.job.message
    );
    assert_eq!(done.job.source, "automation");
    assert_eq!(done.job.requested_by, "automation:spray-reset");
    assert!(done.job.reason.contains("T1110.003"));
    assert!(
        runner.run_next().await.unwrap().is_none(),
        "a job was made for the protected account"
    );
    let audit = store.audit_records(0, 500).await.unwrap();
    assert!(audit.iter().any(|r| r.event == "automation-refused"
        && r.target.as_deref() == Some(&format!("corp:{}", vip.name))));
    assert!(matches!(victim.kinit(), Login::PasswordExpired(_)));
    assert_eq!(vip.kinit(), Login::Succeeded);

    // The same alert again acts on nobody twice.
    let again = automation.respond(&from_corp_log(&alert)).await;
    let first_job = match (&responses[0], &again[0]) {
        (Response::Queued { job: a, .. }, Response::Queued { job: b, .. }) => {
            (a.clone(), b.clone())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(first_job.0, first_job.1);
    assert_eq!(store.list(&Default::default()).await.unwrap().len(), 1);
}

/// The action account (each forest's bind account: the lab's own, and a test
/// user configured as one) and a break-glass account are never acted on
/// automatically: skipped with the reason in the audit trail, no job, no write.
#[tokio::test]
async fn automation_never_acts_on_the_action_account_or_break_glass() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let stand_in = lab.create_user("corp", "actn", 0);
    let glass = lab.create_user("corp", "glass", 0);
    let config = riposte::config::Config::load(Some(&lab.config)).unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("ledger.sqlite"))
            .await
            .unwrap(),
    );
    let protection = config
        .protection()
        .with_action_accounts(
            config
                .forests
                .iter()
                .map(|f| f.bind_dn.clone())
                .chain([stand_in.dn.clone()]),
        )
        .with_break_glass([glass.reference()]);
    let runner = Runner::new(
        store.clone(),
        Arc::new(AdDirectory::new(config.forests.clone()).unwrap()),
    )
    .with_protection(protection);
    let mut cfg = config_for(Action::Disable);
    cfg.mode = Mode::Enforce;
    let alert = spray(&[
        "CORP\\riposte-action",
        &format!("CORP\\{}", stand_in.name),
        &format!("CORP\\{}", glass.name),
    ]);
    let responses = Automation {
        config: &cfg,
        runner: &runner,
        cooldown: &Cooldown::default(),
    }
    .respond(&from_corp_log(&alert))
    .await;
    assert_eq!(responses.len(), 3, "{responses:?}");
    for (response, why) in responses
        .iter()
        .zip(["action account", "action account", "break-glass"])
    {
        assert!(
            matches!(response, Response::Skipped { why: w, .. } if w.contains(why) && w.contains("never acted on automatically")),
            "{response:?}"
        );
    }
    assert!(store.list(&Default::default()).await.unwrap().is_empty());
    let refused = store
        .audit_records(0, 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event == "automation-refused")
        .count();
    assert_eq!(refused, 3);
    assert_eq!(stand_in.kinit(), Login::Succeeded);
    assert_eq!(glass.kinit(), Login::Succeeded);
}

fn config_for(action: Action) -> AutomationConfig {
    let mut cfg = config(Mode::Enforce, 10);
    cfg.rules[0].action = action;
    cfg
}

#[tokio::test]
async fn dry_run_records_what_would_be_done_and_acts_on_nothing() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let victim = lab.create_user("corp", "dry", 0);
    let cfg = config(Mode::DryRun, 10);
    let (runner, store) = runner(dir.path(), &[], cfg.circuit_breaker).await;
    let responses = Automation {
        config: &cfg,
        runner: &runner,
        cooldown: &Cooldown::default(),
    }
    .respond(&from_corp_log(&spray(&[&format!("CORP\\{}", victim.name)])))
    .await;
    assert!(
        matches!(&responses[0], Response::DryRun { .. }),
        "{responses:?}"
    );
    assert!(
        store.list(&Default::default()).await.unwrap().is_empty(),
        "a dry run made a job"
    );
    let audit = store.audit_records(0, 100).await.unwrap();
    assert!(audit.iter().any(|r| r.event == "automation-dry-run"
        && r.target.as_deref() == Some(&format!("corp:{}", victim.name))));
    assert_eq!(victim.kinit(), Login::Succeeded);
}

#[tokio::test]
async fn the_circuit_breaker_turns_a_burst_into_approvals() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let a = lab.create_user("corp", "brk", 0);
    let b = lab.create_user("corp", "brk", 0);
    let cfg = config(Mode::Enforce, 1);
    let (runner, _) = runner(dir.path(), &[], cfg.circuit_breaker).await;
    let responses = Automation {
        config: &cfg,
        runner: &runner,
        cooldown: &Cooldown::default(),
    }
    .respond(&from_corp_log(&spray(&[
        &format!("CORP\\{}", a.name),
        &format!("CORP\\{}", b.name),
    ])))
    .await;
    assert!(
        matches!(
            &responses[0],
            Response::Queued {
                awaiting_approval: false,
                ..
            }
        ),
        "{responses:?}"
    );
    assert!(
        matches!(
            &responses[1],
            Response::Queued {
                awaiting_approval: true,
                ..
            }
        ),
        "{responses:?}"
    );
    let jobs = runner.store().list(&Default::default()).await.unwrap();
    let held = jobs.iter().find(|j| j.awaiting_approval()).unwrap();
    assert!(
        held.approval_reason
            .as_deref()
            .unwrap()
            .contains("circuit breaker")
    );
}

/// An alert naming a user of a domain no forest is configured for (`EVIL\name`)
/// acts on nobody, even when a corp account has the same name: the domain is
/// refused with the reason, never guessed (the rule bulk --alert shares).
#[tokio::test]
async fn a_user_of_an_unknown_domain_is_skipped_not_matched_by_name() {
    let lab = crate::harness::lab();
    let dir = tempfile::tempdir().unwrap();
    let namesake = lab.create_user("corp", "evil", 0);
    let cfg = config(Mode::Enforce, 10);
    let (runner, store) = runner(dir.path(), &[], cfg.circuit_breaker).await;
    let alert = spray(&[&format!("EVIL\\{}", namesake.name), "CORP\\", "\\x"]);
    let cooldown = Cooldown::default();
    let automation = Automation {
        config: &cfg,
        runner: &runner,
        cooldown: &cooldown,
    };
    let responses = automation.respond(&from_corp_log(&alert)).await;
    assert_eq!(responses.len(), 3, "{responses:?}");
    assert!(
        matches!(&responses[0], Response::Skipped { why, .. } if why.contains("\"EVIL\" names no configured forest")),
        "{responses:?}"
    );
    assert!(
        responses
            .iter()
            .all(|r| matches!(r, Response::Skipped { .. })),
        "{responses:?}"
    );
    assert!(runner.run_next().await.unwrap().is_none(), "a job was made");
    assert!(store.list(&Default::default()).await.unwrap().is_empty());
    assert_eq!(namesake.kinit(), Login::Succeeded);
}
