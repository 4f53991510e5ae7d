//! Executor behaviour against an in-memory directory with scripted faults.
//! The real directory is exercised by the lab tests; these pin down the
//! retry, compare-and-swap and resume logic that faults are hard to force on.

use std::sync::{Arc, Mutex};

use super::*;
use crate::account::test_account;
use crate::directory::Lookup;
use crate::identity::IdentityRef;
use crate::rights::ActionAccount;

const DN: &str = "CN=ernie,OU=Staff,DC=corp,DC=example,DC=test";

#[derive(Default)]
struct Faults {
    /// OR these bits into UAC just before the first UAC write (a concurrent change).
    concurrent_bits: Option<u32>,
    /// Apply the next write, then report the connection lost.
    lose_connection_after_write: bool,
    down: Vec<String>,
}

struct Fake {
    account: Mutex<AccountState>,
    faults: Mutex<Faults>,
    writes: Mutex<Vec<(String, String)>>,
    /// What each read asked for, in order.
    reads: Mutex<Vec<Read>>,
    /// The account's own rights, when a read asks for them
    /// (`Read::StateAndRights`) and they differ from what `account` holds.
    own_rights: Mutex<Option<Vec<String>>>,
    dcs: Vec<String>,
}

impl Fake {
    fn new(uac_value: u32) -> Arc<Self> {
        let mut account = test_account(uac_value);
        account.dn = DN.into();
        Arc::new(Fake {
            account: Mutex::new(account),
            faults: Mutex::new(Faults::default()),
            writes: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
            own_rights: Mutex::new(None),
            dcs: vec!["ldaps://dc1".into(), "ldaps://dc2".into()],
        })
    }
    fn uac(&self) -> u32 {
        self.account.lock().unwrap().user_account_control
    }
    fn write_count(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
}

struct FakeSession {
    fake: Arc<Fake>,
    dc: String,
    account: ActionAccount,
}

#[async_trait]
impl Directory for Arc<Fake> {
    fn forest_names(&self) -> Vec<String> {
        vec!["corp".into()]
    }
    fn forest_domain(&self, _: &str) -> Option<String> {
        Some("corp.example.test".into())
    }
    async fn lookup(&self, _: &IdentityRef) -> Lookup {
        Lookup::default()
    }
    async fn search(&self, _: &str, _: u32) -> Lookup {
        Lookup::default()
    }
    async fn session(
        &self,
        _: &str,
        preferred: Option<&str>,
    ) -> Result<Box<dyn DirectorySession>, DirectoryError> {
        let down = self.faults.lock().unwrap().down.clone();
        let mut order: Vec<String> = preferred.map(String::from).into_iter().collect();
        order.extend(
            self.dcs
                .iter()
                .filter(|d| Some(d.as_str()) != preferred)
                .cloned(),
        );
        let dc = order
            .into_iter()
            .find(|d| !down.contains(d))
            .ok_or_else(|| DirectoryError::Unavailable {
                dc: "all".into(),
                message: "refused".into(),
            })?;
        Ok(Box::new(FakeSession {
            fake: self.clone(),
            dc,
            account: ActionAccount {
                dn: "CN=riposte-action".into(),
                sam_account_name: Some("riposte-action".into()),
                sid: Some("S-1-5-21-1-2-3-1200".into()),
            },
        }))
    }
}

#[async_trait]
impl DirectorySession for FakeSession {
    fn dc(&self) -> &str {
        &self.dc
    }
    fn action_account(&self) -> &ActionAccount {
        &self.account
    }
    async fn read_account(&mut self, _: &str, read: Read) -> Result<AccountState, DirectoryError> {
        self.fake.reads.lock().unwrap().push(read);
        let mut account = self.fake.account.lock().unwrap().clone();
        match read {
            Read::State => account.writable_attributes = None,
            Read::StateAndRights => {
                if let Some(own) = self.fake.own_rights.lock().unwrap().clone() {
                    account.writable_attributes = Some(own);
                }
                account.rights_read_on = None;
            }
            Read::StateAndContainerRights => {}
        }
        Ok(account)
    }
    async fn apply(&mut self, dn: &str, write: &Write) -> Result<(), DirectoryError> {
        let mut faults = self.fake.faults.lock().unwrap();
        let mut account = self.fake.account.lock().unwrap();
        if let (Write::UserAccountControl { .. }, Some(bits)) =
            (write, faults.concurrent_bits.take())
        {
            account.user_account_control |= bits;
        }
        match write {
            Write::UserAccountControl { expected, new } => {
                if account.user_account_control != *expected {
                    return Err(DirectoryError::Conflict {
                        dc: self.dc.clone(),
                        dn: dn.into(),
                    });
                }
                account.user_account_control = *new;
            }
            Write::PwdLastSetZero => {
                account.pwd_last_set = 0;
                if account.user_account_control & uac::FORCED_RESET_BLOCKERS == 0 {
                    account.uac_computed |= uac::PASSWORD_EXPIRED;
                }
            }
            Write::LockoutTimeZero => {
                account.lockout_time = 0;
                account.uac_computed &= !uac::LOCKOUT;
            }
            Write::Password(_) => {}
        }
        self.fake
            .writes
            .lock()
            .unwrap()
            .push((self.dc.clone(), write.describe()));
        if std::mem::take(&mut faults.lose_connection_after_write) {
            faults.down.push(self.dc.clone());
            return Err(DirectoryError::Unavailable {
                dc: self.dc.clone(),
                message: "connection reset".into(),
            });
        }
        Ok(())
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Phase>>);

#[async_trait]
impl ProgressSink for Recorder {
    async fn progress(&self, phase: Phase, _: &str, _: &str) -> Result<(), String> {
        self.0.lock().unwrap().push(phase);
        Ok(())
    }
}

fn request(action: Action) -> Request {
    Request {
        forest: "corp".into(),
        dn: DN.into(),
        action,
        options: ActionOptions::default(),
        preferred_dc: None,
        resumed_after_write: false,
    }
}

#[tokio::test]
async fn a_concurrent_uac_change_is_kept() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    fake.faults.lock().unwrap().concurrent_bits = Some(uac::NOT_DELEGATED);
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Verified, "{}", report.message);
    assert_eq!(
        fake.uac(),
        uac::NORMAL_ACCOUNT | uac::NOT_DELEGATED | uac::ACCOUNTDISABLE
    );
    assert!(
        report
            .evidence
            .notes
            .iter()
            .any(|n| n.contains("changed concurrently"))
    );
}

#[tokio::test]
async fn lost_connection_after_write_is_verified_on_another_dc_without_a_second_write() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    fake.faults.lock().unwrap().lose_connection_after_write = true;
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Verified, "{}", report.message);
    assert_eq!(fake.write_count(), 1, "the write was sent twice");
    assert_eq!(report.evidence.dc.as_deref(), Some("ldaps://dc2"));
    assert_eq!(report.evidence.attempts.len(), 1);
}

#[tokio::test]
async fn all_dcs_down_is_failed_and_says_nothing_was_written() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    fake.faults.lock().unwrap().down = fake.dcs.clone();
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        report.message.contains("Nothing was written"),
        "{}",
        report.message
    );
    assert_eq!(report.evidence.attempts.len(), MAX_ATTEMPTS as usize);
    assert_eq!(fake.write_count(), 0);
}

#[tokio::test]
async fn resumed_job_whose_write_landed_is_verified_without_writing() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT | uac::ACCOUNTDISABLE);
    let mut req = request(Action::Disable);
    req.resumed_after_write = true;
    let report = execute(&fake, &req, &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Verified);
    assert_eq!(fake.write_count(), 0);
}

#[tokio::test]
async fn resumed_set_password_is_never_sent_again() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    let mut req = request(Action::SetPassword);
    req.resumed_after_write = true;
    let report = execute(&fake, &req, &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(report.new_password.is_none());
    assert_eq!(fake.write_count(), 0);
}

#[tokio::test]
async fn blocked_reset_is_ineffective_unless_flags_are_cleared() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT | uac::DONT_EXPIRE_PASSWORD);
    let report = execute(&fake, &request(Action::ForcePasswordReset), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Ineffective);
    assert!(report.message.contains("DONT_EXPIRE_PASSWORD"));
    assert_eq!(fake.write_count(), 0);

    let mut req = request(Action::ForcePasswordReset);
    req.options.clear_blocking_flags = true;
    let recorder = Recorder::default();
    let report = execute(&fake, &req, &recorder).await;
    assert_eq!(report.outcome, Outcome::Verified, "{}", report.message);
    assert_eq!(report.evidence.cleared_flags, vec!["DONT_EXPIRE_PASSWORD"]);
    assert_eq!(fake.uac(), uac::NORMAL_ACCOUNT);
    assert_eq!(
        *recorder.0.lock().unwrap(),
        vec![
            Phase::Preflight,
            Phase::ClearingFlags,
            Phase::Writing,
            Phase::Verifying
        ]
    );
}

#[tokio::test]
async fn missing_write_right_is_denied_before_writing_with_the_delegation() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    fake.account.lock().unwrap().writable_attributes = Some(vec![]);
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Denied);
    assert_eq!(fake.write_count(), 0);
    let advice = report.evidence.delegation.expect("delegation advice");
    assert_eq!(advice.container, "OU=Staff,DC=corp,DC=example,DC=test");
    assert!(advice.samba_tool[0].contains("S-1-5-21-1-2-3-1200"));
}

#[tokio::test]
async fn rights_are_read_before_the_write_and_never_for_the_read_back() {
    // One write: the OU's rights will do (the directory's refusal is final).
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    fake.faults.lock().unwrap().concurrent_bits = Some(uac::NOT_DELEGATED);
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Verified, "{}", report.message);
    assert_eq!(
        *fake.reads.lock().unwrap(),
        vec![
            Read::StateAndContainerRights,
            // The compare-and-swap re-read after the concurrent change.
            Read::State,
            Read::State
        ]
    );
    // Two writes (flags cleared, then the reset): this account's own rights,
    // so the second is not refused after the first landed.
    let fake = Fake::new(uac::NORMAL_ACCOUNT | uac::DONT_EXPIRE_PASSWORD);
    let mut req = request(Action::ForcePasswordReset);
    req.options.clear_blocking_flags = true;
    let report = execute(&fake, &req, &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Verified, "{}", report.message);
    assert_eq!(
        *fake.reads.lock().unwrap(),
        vec![Read::StateAndRights, Read::State]
    );
}

#[tokio::test]
async fn rights_read_for_the_ou_are_named_in_the_evidence() {
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    let sample = "CN=bert,OU=Staff,DC=corp,DC=example,DC=test";
    fake.account.lock().unwrap().rights_read_on = Some(sample.into());
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Verified, "{}", report.message);
    assert!(
        report.evidence.notes.iter().any(|n| n.contains(sample)),
        "{:?}",
        report.evidence.notes
    );
}

#[tokio::test]
async fn the_ous_rights_never_deny_an_account_on_their_own() {
    // The OU's sample could not write userAccountControl (an ACE of its own);
    // this account can: it is read again with its own rights, and disabled.
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    {
        let mut account = fake.account.lock().unwrap();
        *fake.own_rights.lock().unwrap() = account.writable_attributes.clone();
        account.rights_read_on = Some("CN=bert,OU=Staff,DC=corp,DC=example,DC=test".into());
        account.writable_attributes = Some(vec![]);
    }
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Verified, "{}", report.message);
    assert_eq!(
        fake.reads.lock().unwrap()[..2],
        [Read::StateAndContainerRights, Read::StateAndRights]
    );
    assert_eq!(fake.uac(), uac::NORMAL_ACCOUNT | uac::ACCOUNTDISABLE);
    // Its own rights say no too: denied, nothing written.
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    {
        let mut account = fake.account.lock().unwrap();
        *fake.own_rights.lock().unwrap() = Some(vec![]);
        account.rights_read_on = Some("CN=bert,OU=Staff,DC=corp,DC=example,DC=test".into());
        account.writable_attributes = Some(vec![]);
    }
    let report = execute(&fake, &request(Action::Disable), &NoProgress).await;
    assert_eq!(report.outcome, Outcome::Denied, "{}", report.message);
    assert_eq!(fake.write_count(), 0);
}

#[tokio::test]
async fn a_failing_ledger_stops_before_the_write() {
    struct Broken;
    #[async_trait]
    impl ProgressSink for Broken {
        async fn progress(&self, phase: Phase, _: &str, _: &str) -> Result<(), String> {
            if phase == Phase::Writing {
                Err("disk full".into())
            } else {
                Ok(())
            }
        }
    }
    let fake = Fake::new(uac::NORMAL_ACCOUNT);
    let report = execute(&fake, &request(Action::Disable), &Broken).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(report.message.contains("disk full"));
    assert_eq!(fake.write_count(), 0);
}
