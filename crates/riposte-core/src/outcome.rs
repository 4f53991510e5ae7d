//! The one place where observed directory state becomes an outcome.
//!
//! riposte's first invariant: an outcome is what was read back from the
//! directory, never what was sent. Every path (CLI, API, automation) gets
//! its outcome from these functions, through the executor.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::account::AccountState;
use crate::action::{Action, ActionOptions};
use crate::directory::DirectoryError;
use crate::uac;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The effective state was observed after the write.
    Verified,
    /// The account was already in that state; nothing was written.
    Already,
    /// AD would ignore (or did ignore) the change; the flag responsible is named.
    Ineffective,
    /// The action account may not do this; the missing right is named.
    Denied,
    /// Anything else, after bounded retries.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Verified,
        Outcome::Already,
        Outcome::Ineffective,
        Outcome::Denied,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::Already => "already",
            Outcome::Ineffective => "ineffective",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    /// The account is in the requested state.
    pub fn is_effective(self) -> bool {
        matches!(self, Outcome::Verified | Outcome::Already)
    }

    /// Rank from strongest to weakest; a job of several steps takes the weakest.
    pub fn weakness(self) -> u8 {
        match self {
            Outcome::Verified => 0,
            Outcome::Already => 1,
            Outcome::Ineffective => 2,
            Outcome::Denied => 3,
            Outcome::Failed => 4,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome {0:?}; expected one of verified, already, ineffective, denied, failed")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

/// The effect of `action` is in force in `state`. Not defined for
/// set-password, whose effect cannot be read (see [`classify_after_write`]).
pub fn effect_in_force(action: Action, state: &AccountState) -> bool {
    match action {
        Action::Disable => !state.enabled(),
        Action::Enable => state.enabled(),
        Action::ForcePasswordReset => state.password_change_required(),
        Action::Unlock => !state.locked(),
        Action::SetPassword | Action::RevokeSessions | Action::ConfirmCompromised => false,
    }
}

/// What the state read before writing says about the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessment {
    /// Nothing to write: the effect is already in force.
    AlreadyInForce,
    /// AD would ignore the write because of these UAC flags.
    WouldBeIneffective { flags: Vec<&'static str> },
    /// Write; first clear these flags (a mask of UAC bits, possibly 0).
    NeedsWrite { clear_flags: u32 },
}

pub fn assess_before(action: Action, options: ActionOptions, state: &AccountState) -> Assessment {
    if action != Action::SetPassword && effect_in_force(action, state) {
        return Assessment::AlreadyInForce;
    }
    if action == Action::ForcePasswordReset {
        let blockers = state.user_account_control & uac::FORCED_RESET_BLOCKERS;
        if blockers != 0 && !options.clear_blocking_flags {
            return Assessment::WouldBeIneffective {
                flags: uac::flag_names(blockers),
            };
        }
        return Assessment::NeedsWrite {
            clear_flags: blockers,
        };
    }
    Assessment::NeedsWrite { clear_flags: 0 }
}

/// An outcome and the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub message: String,
}

impl Verdict {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Self {
        Verdict {
            outcome,
            message: message.into(),
        }
    }
}

/// Explains why a forced reset would be ignored, naming the flags.
pub fn ineffective_reset_message(flags: &[&str]) -> String {
    let named: Vec<String> = flags
        .iter()
        .map(|f| format!("{f} ({})", uac::describe(f).unwrap_or("")))
        .collect();
    format!(
        "a forced password reset would be ignored by AD: {} is set, so the password can never be \
         \"must change\" (MS-SAMR 3.1.5.14.4); nothing was written. Run again with \
         --clear-blocking-flags to clear {} first",
        named.join(" and "),
        if flags.len() == 1 { "it" } else { "them" }
    )
}

/// The outcome after a write the directory accepted, from the state read
/// back on the same DC.
pub fn classify_after_write(
    action: Action,
    before: &AccountState,
    after: &AccountState,
) -> Verdict {
    let uac_change = || {
        format!(
            "userAccountControl 0x{:x} -> 0x{:x}",
            before.user_account_control, after.user_account_control
        )
    };
    match action {
        Action::Disable if !after.enabled() => Verdict::new(
            Outcome::Verified,
            format!("ACCOUNTDISABLE is set ({})", uac_change()),
        ),
        Action::Enable if after.enabled() => Verdict::new(
            Outcome::Verified,
            format!("ACCOUNTDISABLE is clear ({})", uac_change()),
        ),
        Action::ForcePasswordReset if after.password_change_required() => Verdict::new(
            Outcome::Verified,
            "msDS-User-Account-Control-Computed has PASSWORD_EXPIRED: the user must change the password at next logon",
        ),
        Action::ForcePasswordReset => {
            let flags = after.forced_reset_blockers();
            let why = if flags.is_empty() {
                "msDS-User-Account-Control-Computed does not show PASSWORD_EXPIRED".to_string()
            } else {
                format!("{} is set", flags.join(" and "))
            };
            Verdict::new(
                Outcome::Ineffective,
                format!(
                    "the directory accepted pwdLastSet=0 (it reads {}) but the reset is not in force: {why}",
                    after.pwd_last_set
                ),
            )
        }
        Action::Unlock if !after.locked() => Verdict::new(
            Outcome::Verified,
            "msDS-User-Account-Control-Computed no longer has LOCKOUT (lockoutTime is 0)",
        ),
        Action::SetPassword => {
            let version =
                |s: &AccountState| s.metadata_of("unicodePwd").map(|m| m.version).unwrap_or(0);
            if version(after) > version(before) {
                Verdict::new(
                    Outcome::Verified,
                    format!(
                        "unicodePwd was written: its replication metadata version went from {} to {}",
                        version(before),
                        version(after)
                    ),
                )
            } else {
                Verdict::new(
                    Outcome::Failed,
                    "the directory accepted the new password but unicodePwd's replication metadata did not change",
                )
            }
        }
        Action::RevokeSessions | Action::ConfirmCompromised => Verdict::new(
            Outcome::Failed,
            format!("{action} is an Entra ID action and has no effect on an AD account"),
        ),
        Action::Disable | Action::Enable | Action::Unlock => Verdict::new(
            Outcome::Ineffective,
            format!(
                "the directory accepted the write but the account reads back as {} ({})",
                if after.enabled() {
                    "enabled"
                } else {
                    "disabled"
                }
                .to_string()
                    + if after.locked() { " and locked" } else { "" },
                uac_change()
            ),
        ),
    }
}

/// The outcome of an error that ended an action.
pub fn classify_error(error: &DirectoryError) -> Outcome {
    match error {
        DirectoryError::InsufficientAccess { .. } => Outcome::Denied,
        _ => Outcome::Failed,
    }
}

/// What a cloud account's state says about a Graph action before writing:
/// `Some(verdict)` ends the action without a write.
pub fn assess_cloud_before(
    action: crate::cloud::CloudAction,
    account: &crate::cloud::CloudAccount,
) -> Option<Verdict> {
    use crate::cloud::CloudAction as A;
    let synced_refusal = |what: &str| {
        Verdict::new(
            Outcome::Denied,
            format!(
                "{} is synced from Active Directory, which is its source of authority: a {what} written in Entra ID \
                 would be refused or overwritten by the next sync. Act on the AD account (riposte does this for hybrid identities); nothing was written",
                account.reference()
            ),
        )
    };
    match action {
        A::Disable if !account.account_enabled => Some(Verdict::new(
            Outcome::Already,
            "accountEnabled is already false; nothing was written",
        )),
        A::Enable if account.account_enabled => Some(Verdict::new(
            Outcome::Already,
            "accountEnabled is already true; nothing was written",
        )),
        A::Disable | A::Enable if account.synced => {
            Some(synced_refusal("change of accountEnabled"))
        }
        A::ForcePasswordReset if account.synced => {
            Some(synced_refusal("password change requirement"))
        }
        A::ForcePasswordReset if account.kind() == crate::cloud::IdentityKind::Guest => {
            Some(Verdict::new(
                Outcome::Denied,
                format!(
                    "{} is a guest: its password belongs to its home organisation, so no tenant can force a change; \
                 disable it or revoke its sessions instead. Nothing was written",
                    account.reference()
                ),
            ))
        }
        A::ForcePasswordReset if account.force_change_password == Some(true) => Some(Verdict::new(
            Outcome::Already,
            "forceChangePasswordNextSignIn is already true; nothing was written",
        )),
        A::ConfirmCompromised if account.risk_state.as_deref() == Some("confirmedCompromised") => {
            Some(Verdict::new(
                Outcome::Already,
                "riskState is already confirmedCompromised; nothing was written",
            ))
        }
        _ => None,
    }
}

/// The outcome of a Graph write the API accepted, from the state read back.
pub fn classify_cloud_after(
    action: crate::cloud::CloudAction,
    before: &crate::cloud::CloudAccount,
    after: &crate::cloud::CloudAccount,
) -> Verdict {
    use crate::cloud::CloudAction as A;
    let (effective, observed) = match action {
        A::Disable => (
            !after.account_enabled,
            format!("accountEnabled reads {}", after.account_enabled),
        ),
        A::Enable => (
            after.account_enabled,
            format!("accountEnabled reads {}", after.account_enabled),
        ),
        A::RevokeSessions => (
            after.sessions_valid_from.is_some()
                && after.sessions_valid_from > before.sessions_valid_from,
            format!(
                "signInSessionsValidFromDateTime moved from {} to {}",
                before.sessions_valid_from.as_deref().unwrap_or("(none)"),
                after.sessions_valid_from.as_deref().unwrap_or("(none)")
            ),
        ),
        A::ForcePasswordReset => (
            after.force_change_password == Some(true),
            format!(
                "passwordProfile.forceChangePasswordNextSignIn reads {:?}",
                after.force_change_password
            ),
        ),
        A::ConfirmCompromised => (
            after.risk_state.as_deref() == Some("confirmedCompromised"),
            format!(
                "riskState reads {}",
                after.risk_state.as_deref().unwrap_or("(none)")
            ),
        ),
    };
    if effective {
        Verdict::new(Outcome::Verified, observed)
    } else {
        Verdict::new(
            Outcome::Ineffective,
            format!("Graph accepted the request but {observed}"),
        )
    }
}

/// Whether a job changed something in a directory: its outcome, or one of its
/// steps' (a containment job's AD and cloud steps), is `verified`. `already`
/// wrote nothing. The one rule behind undo: the portal offers it, the API
/// shows it (`changed_something`) and a bulk undo reverses only such jobs.
pub fn changed_something(
    outcome: Option<Outcome>,
    evidence: Option<&crate::evidence::Evidence>,
) -> bool {
    outcome == Some(Outcome::Verified)
        || evidence.is_some_and(|e| e.steps.iter().any(|s| s.outcome == Outcome::Verified))
}

/// The outcome of a write whose answer was lost (`lost` says how), from the
/// state read back afterwards (`after`, classified like any read-back): in
/// force is `verified`, anything else `failed`, never assumed either way.
pub fn settle_lost_answer(after: Verdict, lost: &str) -> Verdict {
    if after.outcome == Outcome::Verified {
        Verdict::new(
            Outcome::Verified,
            format!(
                "{} ({lost}; the read-back shows it in force)",
                after.message
            ),
        )
    } else {
        Verdict::new(
            Outcome::Failed,
            format!(
                "{lost}; the read-back shows it is not in force: {}",
                after.message
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::test_account;

    #[test]
    fn forced_reset_on_never_expiring_password_is_ineffective_before_writing() {
        let bert = test_account(uac::NORMAL_ACCOUNT | uac::DONT_EXPIRE_PASSWORD);
        assert_eq!(
            assess_before(Action::ForcePasswordReset, ActionOptions::default(), &bert),
            Assessment::WouldBeIneffective {
                flags: vec!["DONT_EXPIRE_PASSWORD"]
            }
        );
        let clear = ActionOptions {
            clear_blocking_flags: true,
            ..ActionOptions::default()
        };
        assert_eq!(
            assess_before(Action::ForcePasswordReset, clear, &bert),
            Assessment::NeedsWrite {
                clear_flags: uac::DONT_EXPIRE_PASSWORD
            }
        );
        let oscar = test_account(uac::NORMAL_ACCOUNT | uac::SMARTCARD_REQUIRED);
        assert!(matches!(
            assess_before(Action::ForcePasswordReset, ActionOptions::default(), &oscar),
            Assessment::WouldBeIneffective { flags } if flags == vec!["SMARTCARD_REQUIRED"]
        ));
    }

    #[test]
    fn pwd_last_set_zero_without_computed_expiry_is_not_verified() {
        // The silent failure: the write lands, pwdLastSet reads 0, nothing is in force.
        let before = test_account(uac::NORMAL_ACCOUNT | uac::DONT_EXPIRE_PASSWORD);
        let mut after = before.clone();
        after.pwd_last_set = 0;
        let v = classify_after_write(Action::ForcePasswordReset, &before, &after);
        assert_eq!(v.outcome, Outcome::Ineffective);
        assert!(v.message.contains("DONT_EXPIRE_PASSWORD"), "{}", v.message);
        after.uac_computed = uac::PASSWORD_EXPIRED;
        assert_eq!(
            classify_after_write(Action::ForcePasswordReset, &before, &after).outcome,
            Outcome::Verified
        );
    }

    #[test]
    fn already_in_force_is_not_written() {
        let disabled = test_account(uac::NORMAL_ACCOUNT | uac::ACCOUNTDISABLE);
        assert_eq!(
            assess_before(Action::Disable, ActionOptions::default(), &disabled),
            Assessment::AlreadyInForce
        );
        assert_eq!(
            assess_before(Action::Enable, ActionOptions::default(), &disabled),
            Assessment::NeedsWrite { clear_flags: 0 }
        );
        let enabled = test_account(uac::NORMAL_ACCOUNT);
        assert_eq!(
            assess_before(Action::Unlock, ActionOptions::default(), &enabled),
            Assessment::AlreadyInForce
        );
        // A new password is always a write: there is no "already" for it.
        assert_eq!(
            assess_before(Action::SetPassword, ActionOptions::default(), &enabled),
            Assessment::NeedsWrite { clear_flags: 0 }
        );
    }

    #[test]
    fn disable_is_verified_only_when_the_bit_reads_back() {
        let before = test_account(uac::NORMAL_ACCOUNT);
        assert_eq!(
            classify_after_write(Action::Disable, &before, &before).outcome,
            Outcome::Ineffective
        );
        let after = test_account(uac::NORMAL_ACCOUNT | uac::ACCOUNTDISABLE);
        assert_eq!(
            classify_after_write(Action::Disable, &before, &after).outcome,
            Outcome::Verified
        );
    }

    #[test]
    fn outcome_words_round_trip_and_rank() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!(Outcome::Failed.weakness() > Outcome::Verified.weakness());
    }

    #[test]
    fn a_job_changed_something_when_it_or_one_of_its_steps_is_verified() {
        use crate::containment::Step;
        use crate::evidence::{Evidence, StepRecord};
        let step = |outcome| StepRecord {
            step: Step::Ad {
                forest: "corp".into(),
                dn: "CN=x,DC=corp".into(),
                action: Action::Disable,
            },
            outcome,
            message: String::new(),
            details: serde_json::Value::Null,
        };
        let with_steps = |steps| Evidence {
            steps,
            ..Evidence::default()
        };
        assert!(changed_something(Some(Outcome::Verified), None));
        assert!(!changed_something(Some(Outcome::Already), None));
        assert!(!changed_something(None, None));
        let partly = with_steps(vec![step(Outcome::Verified), step(Outcome::Failed)]);
        assert!(changed_something(Some(Outcome::Failed), Some(&partly)));
        let nothing = with_steps(vec![step(Outcome::Already), step(Outcome::Failed)]);
        assert!(!changed_something(Some(Outcome::Failed), Some(&nothing)));
    }

    #[test]
    fn a_lost_answer_is_settled_by_the_read_back_only() {
        let in_force = Verdict::new(Outcome::Verified, "disabled");
        let settled = settle_lost_answer(in_force, "the answer was lost: timed out");
        assert_eq!(settled.outcome, Outcome::Verified);
        assert!(settled.message.contains("timed out"), "{}", settled.message);
        for after in [Outcome::Already, Outcome::Ineffective, Outcome::Failed] {
            let settled = settle_lost_answer(Verdict::new(after, "x"), "lost");
            assert_eq!(settled.outcome, Outcome::Failed, "{after:?}");
        }
    }
}
