//! Runs one action against one account: pre-flight read, write, read-back
//! from the same DC, classification. Retries through another DC on
//! connection loss, and never reports an effect it did not read back.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::account::AccountState;
use crate::action::{Action, ActionOptions};
use crate::directory::{Directory, DirectoryError, DirectorySession, Read, Write};
use crate::evidence::Evidence;
use crate::outcome::{self, Assessment, Outcome, Verdict};
use crate::{failpoint, password, rights, uac};

/// Attempts per action, each possibly on another DC.
pub const MAX_ATTEMPTS: u32 = 3;
/// Compare-and-swap rounds on userAccountControl before giving up.
pub const MAX_CAS_ROUNDS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Preflight,
    ClearingFlags,
    Writing,
    Verifying,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::ClearingFlags => "clearing-flags",
            Phase::Writing => "writing",
            Phase::Verifying => "verifying",
        }
    }

    /// From this phase on, the directory may have received the action's write.
    pub fn write_may_have_been_sent(self) -> bool {
        matches!(self, Phase::Writing | Phase::Verifying)
    }
}

/// Where progress goes: the job runner records each phase in the ledger
/// before the step it names is taken, so a crash leaves a true record.
#[async_trait]
pub trait ProgressSink: Send + Sync {
    async fn progress(&self, phase: Phase, dc: &str, message: &str) -> Result<(), String>;
}

/// A sink that records nothing, for callers without a ledger.
pub struct NoProgress;

#[async_trait]
impl ProgressSink for NoProgress {
    async fn progress(&self, _: Phase, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub forest: String,
    pub dn: String,
    pub action: Action,
    pub options: ActionOptions,
    /// Start on this DC (the one an interrupted run used).
    pub preferred_dc: Option<String>,
    /// An interrupted run of this job may already have sent the write.
    pub resumed_after_write: bool,
}

#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub message: String,
    pub evidence: Evidence,
    /// For set-password: the new password, to show the requester once.
    pub new_password: Option<SecretString>,
}

#[derive(Debug)]
enum StepError {
    Directory(DirectoryError),
    Ledger(String),
    Random(password::RandomError),
}

impl From<DirectoryError> for StepError {
    fn from(e: DirectoryError) -> Self {
        StepError::Directory(e)
    }
}

struct Run<'a> {
    request: &'a Request,
    domain: String,
    evidence: Evidence,
    /// The state first read by this job: what "before" means in the evidence.
    first_before: Option<AccountState>,
    /// The action's write may have reached a DC (in this run or an interrupted one).
    write_sent: bool,
    /// The DC this run sent the write to, if it did.
    write_dc: Option<String>,
    password: Option<SecretString>,
}

pub async fn execute(
    directory: &dyn Directory,
    request: &Request,
    sink: &dyn ProgressSink,
) -> Report {
    let mut run = Run {
        request,
        domain: directory.forest_domain(&request.forest).unwrap_or_default(),
        evidence: Evidence::default(),
        first_before: None,
        write_sent: request.resumed_after_write,
        write_dc: None,
        password: None,
    };
    if request.resumed_after_write {
        run.evidence.notes.push(
            "resumed after an interruption during which the write may have been sent: re-verified before anything else"
                .into(),
        );
    }
    let mut preferred = request.preferred_dc.clone();
    let mut last_error = None;
    for attempt in 1..=MAX_ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
        let mut session = match directory
            .session(&request.forest, preferred.as_deref())
            .await
        {
            Ok(session) => session,
            Err(e) => {
                run.evidence
                    .attempts
                    .push(format!("attempt {attempt}: {e}"));
                let transient = e.is_transient();
                last_error = Some(e);
                if transient {
                    continue;
                }
                break;
            }
        };
        let dc = session.dc().to_string();
        run.evidence.dc = Some(dc.clone());
        run.evidence.action_account = Some(session.action_account().dn.clone());
        match run.attempt(session.as_mut(), sink).await {
            Ok(verdict) => return run.finish(verdict),
            Err(StepError::Directory(e)) if e.is_transient() => {
                run.evidence
                    .attempts
                    .push(format!("attempt {attempt} on {dc}: {e}"));
                // Try the same DC first: a read-back belongs where the write went.
                preferred = Some(dc);
                last_error = Some(e);
            }
            Err(StepError::Directory(e)) => {
                run.evidence
                    .attempts
                    .push(format!("attempt {attempt} on {dc}: {e}"));
                let outcome = outcome::classify_error(&e);
                return run.finish(Verdict::new(outcome, e.to_string()));
            }
            Err(StepError::Ledger(e)) => {
                return run.finish(Verdict::new(
                    Outcome::Failed,
                    format!(
                        "could not record progress in the job ledger, so nothing more was sent: {e}"
                    ),
                ));
            }
            Err(StepError::Random(e)) => {
                return run.finish(Verdict::new(Outcome::Failed, e.to_string()));
            }
        }
    }
    let reason = last_error
        .map(|e| e.to_string())
        .unwrap_or_else(|| "no attempt could start".into());
    let sent = if run.write_sent {
        " The write may have been sent before the connection was lost, but its effect was never read back."
    } else {
        " Nothing was written."
    };
    run.finish(Verdict::new(
        Outcome::Failed,
        format!("gave up after {MAX_ATTEMPTS} attempts: {reason}.{sent}"),
    ))
}

impl Run<'_> {
    fn finish(self, verdict: Verdict) -> Report {
        Report {
            outcome: verdict.outcome,
            message: verdict.message,
            evidence: self.evidence,
            new_password: if verdict.outcome == Outcome::Verified {
                self.password
            } else {
                None
            },
        }
    }

    async fn attempt(
        &mut self,
        session: &mut dyn DirectorySession,
        sink: &dyn ProgressSink,
    ) -> Result<Verdict, StepError> {
        let request = self.request;
        let dn = request.dn.as_str();
        let dc = session.dc().to_string();
        record(
            sink,
            Phase::Preflight,
            &dc,
            "reading the account's current state",
        )
        .await?;
        // Clearing blocking flags takes two writes: the second must not be
        // refused after the first landed, so those rights are this account's own.
        let rights = if request.options.clear_blocking_flags {
            Read::StateAndRights
        } else {
            Read::StateAndContainerRights
        };
        let before = session.read_account(dn, rights).await?;
        let original = self
            .first_before
            .get_or_insert_with(|| before.clone())
            .clone();
        if self.evidence.before.is_none() {
            self.evidence.before = Some(before.snapshot());
        }

        if request.action == Action::SetPassword && self.write_sent {
            return Ok(self.settle_password_after_interruption(&original, &before, &dc));
        }

        match outcome::assess_before(request.action, request.options, &before) {
            Assessment::AlreadyInForce => {
                self.evidence.after = Some(before.snapshot());
                Ok(if self.write_sent {
                    Verdict::new(
                        Outcome::Verified,
                        format!(
                            "the effect is in force on {dc}: the write this job sent before the interruption took effect; nothing was sent again"
                        ),
                    )
                } else {
                    Verdict::new(
                        Outcome::Already,
                        format!(
                            "{} was already in that state; nothing was written",
                            before.reference()
                        ),
                    )
                })
            }
            Assessment::WouldBeIneffective { flags } => {
                self.evidence.after = Some(before.snapshot());
                Ok(Verdict::new(
                    Outcome::Ineffective,
                    outcome::ineffective_reset_message(&flags),
                ))
            }
            Assessment::NeedsWrite { clear_flags } => {
                let required = rights::required_rights(request.action, clear_flags != 0);
                let mut before = before;
                let mut missing = rights::missing_rights(&required, &before);
                if !missing.is_empty() && before.rights_read_on.is_some() {
                    // Another account of the OU said no (its own ACEs may be
                    // narrower): only this account's own rights deny it.
                    before = session.read_account(dn, Read::StateAndRights).await?;
                    missing = rights::missing_rights(&required, &before);
                }
                if let Some(sample) = &before.rights_read_on
                    && !self
                        .evidence
                        .notes
                        .iter()
                        .any(|n| n.contains(sample.as_str()))
                {
                    self.evidence.notes.push(format!(
                        "the action account's rights were read once for this account's OU (allowedAttributesEffective of {sample}); the directory's answer to the write is the final word"
                    ));
                }
                if !missing.is_empty() {
                    return Ok(self.denied(
                        session,
                        &before,
                        &missing,
                        "allowedAttributesEffective does not list it; nothing was written",
                    ));
                }
                match self
                    .write_and_read_back(session, sink, before.clone(), clear_flags)
                    .await
                {
                    Err(StepError::Directory(DirectoryError::InsufficientAccess {
                        message,
                        ..
                    })) => {
                        let detail = format!("the directory answered: {message}");
                        Ok(self.denied(session, &before, &required, &detail))
                    }
                    other => other,
                }
            }
        }
    }

    async fn write_and_read_back(
        &mut self,
        session: &mut dyn DirectorySession,
        sink: &dyn ProgressSink,
        before: AccountState,
        clear_flags: u32,
    ) -> Result<Verdict, StepError> {
        let request = self.request;
        let dn = request.dn.as_str();
        let dc = session.dc().to_string();
        let mut current = before.clone();
        if clear_flags != 0 {
            let names = uac::flag_names(clear_flags);
            record(
                sink,
                Phase::ClearingFlags,
                &dc,
                &format!("clearing {}", names.join(", ")),
            )
            .await?;
            current = self
                .swap_uac(session, current, |v| v & !clear_flags)
                .await?;
            self.evidence.cleared_flags = names.iter().map(|s| s.to_string()).collect();
            self.evidence.notes.push(format!(
                "cleared {} before the reset, as asked with --clear-blocking-flags",
                names.join(" and ")
            ));
        }

        failpoint::hit("before-write").await;
        record(sink, Phase::Writing, &dc, request.action.describe()).await?;
        self.write_sent = true;
        self.write_dc = Some(dc.clone());
        match request.action {
            Action::Disable => {
                self.swap_uac(session, current, |v| v | uac::ACCOUNTDISABLE)
                    .await?;
            }
            Action::Enable => {
                self.swap_uac(session, current, |v| v & !uac::ACCOUNTDISABLE)
                    .await?;
            }
            Action::ForcePasswordReset => self.apply(session, Write::PwdLastSetZero).await?,
            Action::Unlock => self.apply(session, Write::LockoutTimeZero).await?,
            Action::RevokeSessions | Action::ConfirmCompromised => {
                unreachable!("execute() returns before any write for Entra-only actions")
            }
            Action::SetPassword => {
                let new_password =
                    password::generate(&current.sam_account_name).map_err(StepError::Random)?;
                self.password = Some(new_password.clone());
                self.apply(session, Write::Password(new_password)).await?;
            }
        }
        failpoint::hit("after-write").await;

        record(sink, Phase::Verifying, &dc, "reading back from the same DC").await?;
        let after = session.read_account(dn, Read::State).await?;
        let original = self.first_before.clone().unwrap_or(before);
        let verdict = outcome::classify_after_write(request.action, &original, &after);
        self.keep_after(&after);
        Ok(verdict)
    }

    fn keep_after(&mut self, after: &AccountState) {
        let mut written = vec![self.request.action.attribute_written()];
        if !self.evidence.cleared_flags.is_empty() {
            written.push("userAccountControl");
        }
        self.evidence.written_metadata = after
            .metadata
            .iter()
            .filter(|m| written.iter().any(|w| w.eq_ignore_ascii_case(&m.attribute)))
            .cloned()
            .collect();
        self.evidence.after = Some(after.snapshot());
    }

    async fn apply(
        &mut self,
        session: &mut dyn DirectorySession,
        write: Write,
    ) -> Result<(), StepError> {
        session.apply(&self.request.dn, &write).await?;
        self.evidence.writes.push(write.describe());
        Ok(())
    }

    /// Read-modify-write of userAccountControl as compare-and-swap: a
    /// concurrent change makes the swap fail, and it is re-read and kept.
    async fn swap_uac(
        &mut self,
        session: &mut dyn DirectorySession,
        mut current: AccountState,
        change: impl Fn(u32) -> u32,
    ) -> Result<AccountState, StepError> {
        for _ in 0..MAX_CAS_ROUNDS {
            let expected = current.user_account_control;
            let new = change(expected);
            if new == expected {
                return Ok(current);
            }
            match self
                .apply(session, Write::UserAccountControl { expected, new })
                .await
            {
                Ok(()) => {
                    current.user_account_control = new;
                    return Ok(current);
                }
                Err(StepError::Directory(DirectoryError::Conflict { .. })) => {
                    current = session.read_account(&self.request.dn, Read::State).await?;
                    self.evidence.notes.push(format!(
                        "userAccountControl changed concurrently (expected 0x{expected:x}, found 0x{:x}); re-read and retried, keeping the other change",
                        current.user_account_control
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Err(StepError::Directory(DirectoryError::Conflict {
            dc: session.dc().to_string(),
            dn: self.request.dn.clone(),
        }))
    }

    fn settle_password_after_interruption(
        &mut self,
        original: &AccountState,
        now: &AccountState,
        dc: &str,
    ) -> Verdict {
        self.keep_after(now);
        let verdict = outcome::classify_after_write(Action::SetPassword, original, now);
        match (&self.password, verdict.outcome) {
            (Some(_), Outcome::Verified) => verdict,
            (Some(_), _) => {
                let sent_to = self.write_dc.as_deref().unwrap_or(dc);
                let message = if sent_to == dc {
                    format!(
                        "the connection was lost after the new password may have been sent, and unicodePwd reads unchanged on {dc}, where it was sent: it did not take effect, and it was not sent again (a password is never sent twice): run set-password again"
                    )
                } else {
                    format!(
                        "the connection was lost after the new password may have been sent to {sent_to}, and unicodePwd reads unchanged on {dc}, which may not have it yet; it was not sent again, so nobody knows a password that may now be set on {sent_to}: run set-password again"
                    )
                };
                Verdict::new(Outcome::Failed, message)
            }
            (None, _) => Verdict::new(
                Outcome::Failed,
                "interrupted after a new password may have been sent; it was never shown to anyone, so it was not sent again: run set-password again",
            ),
        }
    }

    fn denied(
        &mut self,
        session: &dyn DirectorySession,
        target: &AccountState,
        missing: &[rights::Right],
        detail: &str,
    ) -> Verdict {
        let account = session.action_account();
        let advice =
            rights::delegation_advice(account, &self.domain, session.dc(), target, missing);
        let names: Vec<&str> = missing.iter().map(|r| r.name).collect();
        let message = format!(
            "the action account {} may not {} {}: missing right {} ({detail}){}",
            account.sam_account_name.as_deref().unwrap_or(&account.dn),
            self.request.action.as_str(),
            target.dn,
            names.join(", "),
            if target.admin_count {
                "; the account is protected by AdminSDHolder (adminCount=1)"
            } else {
                ""
            }
        );
        self.evidence.after = Some(target.snapshot());
        self.evidence.delegation = Some(advice);
        Verdict::new(Outcome::Denied, message)
    }
}

async fn record(
    sink: &dyn ProgressSink,
    phase: Phase,
    dc: &str,
    message: &str,
) -> Result<(), StepError> {
    sink.progress(phase, dc, message)
        .await
        .map_err(StepError::Ledger)
}

#[cfg(test)]
mod tests;
