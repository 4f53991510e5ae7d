//! Safeguards every path goes through (CLI, API, portal, automation): which
//! identities are protected, and when acting on one needs a second person.

use crate::account::AccountState;
use crate::action::{Action, ActionOptions};
use crate::outcome::{self, Assessment};
use crate::rights;

/// Identities configured as protected, besides every adminCount=1 account.
#[derive(Debug, Clone, Default)]
pub struct Protection {
    /// `forest:sAMAccountName`, DNs or SIDs, compared case-insensitively.
    entries: Vec<String>,
}

impl Protection {
    pub fn new(entries: impl IntoIterator<Item = String>) -> Self {
        Protection {
            entries: entries
                .into_iter()
                .map(|e| e.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Why `account` is protected, if it is.
    pub fn reason(&self, account: &AccountState) -> Option<String> {
        if account.admin_count {
            return Some(format!(
                "{} is protected by AdminSDHolder (adminCount=1)",
                account.reference()
            ));
        }
        let names = [
            account.reference().to_ascii_lowercase(),
            account.dn.to_ascii_lowercase(),
            account
                .sid
                .as_ref()
                .map(|s| s.to_string().to_ascii_lowercase())
                .unwrap_or_default(),
        ];
        self.entries
            .iter()
            .find(|e| names.iter().any(|n| !n.is_empty() && n == *e))
            .map(|e| {
                format!(
                    "{} is listed as protected in the configuration ({e})",
                    account.reference()
                )
            })
    }
}

impl Protection {
    /// Why a cloud identity (`tenant:UPN`) is protected, if it is listed.
    pub fn cloud_reason(&self, reference: &str) -> Option<String> {
        let reference = reference.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|e| **e == reference)
            .map(|e| format!("{reference} is listed as protected in the configuration ({e})"))
    }
}

/// A second person must approve when a protected account would really be
/// written: not when the action would end as already, ineffective or
/// denied without writing, so nothing waits for an approval it does not need.
pub fn approval_needed(
    protection: &Protection,
    account: &AccountState,
    action: Action,
    options: ActionOptions,
) -> Option<String> {
    let why = protection.reason(account)?;
    match outcome::assess_before(action, options, account) {
        Assessment::NeedsWrite { clear_flags } => {
            let missing =
                rights::missing_rights(&rights::required_rights(action, clear_flags != 0), account);
            missing.is_empty().then_some(why)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::test_account;
    use crate::uac;

    #[test]
    fn admin_count_and_listed_accounts_need_a_second_person_only_for_real_writes() {
        let none = Protection::default();
        let listed = Protection::new(["CORP:Ernie".to_string()]);
        let ernie = test_account(uac::NORMAL_ACCOUNT);
        assert_eq!(
            approval_needed(&none, &ernie, Action::Disable, ActionOptions::default()),
            None
        );
        assert!(
            approval_needed(&listed, &ernie, Action::Disable, ActionOptions::default())
                .unwrap()
                .contains("listed")
        );
        // Already enabled: nothing would be written, so nothing to approve.
        assert_eq!(
            approval_needed(&listed, &ernie, Action::Enable, ActionOptions::default()),
            None
        );
        let mut admin = test_account(uac::NORMAL_ACCOUNT);
        admin.admin_count = true;
        assert!(
            approval_needed(&none, &admin, Action::Disable, ActionOptions::default())
                .unwrap()
                .contains("adminCount=1")
        );
        // Without the right the job ends denied at once; no approval is asked for.
        admin.writable_attributes = Some(vec![]);
        assert_eq!(
            approval_needed(&none, &admin, Action::Disable, ActionOptions::default()),
            None
        );
        let by_sid = Protection::new(["s-1-5-21-1-2-3-1105".to_string()]);
        assert!(by_sid.reason(&ernie).is_some());
    }
}

/// Stops automatic actions above a rate: past `max_actions` in `window_minutes`,
/// each further automatic action waits for a person's approval instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct CircuitBreaker {
    pub max_actions: u32,
    pub window_minutes: u32,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            max_actions: 20,
            window_minutes: 10,
        }
    }
}

impl CircuitBreaker {
    /// Why the next automatic action must wait, given how many were taken in the window.
    pub fn reason(&self, recent: usize) -> Option<String> {
        (recent >= self.max_actions as usize).then(|| {
            format!(
                "circuit breaker: {recent} automatic actions in the last {} minutes (limit {}); a person must approve further ones",
                self.window_minutes, self.max_actions
            )
        })
    }
}

#[cfg(test)]
mod breaker_tests {
    #[test]
    fn the_breaker_trips_at_the_limit() {
        let b = super::CircuitBreaker {
            max_actions: 3,
            window_minutes: 5,
        };
        assert_eq!(b.reason(2), None);
        assert!(b.reason(3).unwrap().contains("limit 3"));
    }
}

/// Whether `approver` (a principal's name, as the ledger names them) fed the events
/// behind an automatic job: `evidence_input` is the input of the alert it answers
/// (`api:<principal>` for `POST /api/v1/events`, `file:<principal>` for `riposte
/// ingest`; a tailed DC log, `tail:<forest>`, is fed by nobody). Whoever fed the
/// evidence cannot be the second person for the action it triggered: otherwise one
/// credential could raise an alert and then approve what it asked for.
pub fn approver_fed_the_evidence(approver: &str, evidence_input: Option<&str>) -> bool {
    let Some(input) = evidence_input else {
        return false;
    };
    let fed_by = input
        .strip_prefix("api:")
        .or_else(|| input.strip_prefix("file:"));
    fed_by.is_some_and(|f| f.trim().eq_ignore_ascii_case(approver.trim()))
}

#[cfg(test)]
mod evidence_tests {
    use super::approver_fed_the_evidence;

    #[test]
    fn whoever_fed_the_events_cannot_approve_what_they_triggered() {
        assert!(approver_fed_the_evidence(
            "token:fwd",
            Some("api:token:fwd")
        ));
        assert!(approver_fed_the_evidence(
            "cli:alice@host",
            Some("file:cli:alice@host")
        ));
        assert!(!approver_fed_the_evidence(
            "user:bob",
            Some("api:token:fwd")
        ));
        assert!(!approver_fed_the_evidence("token:fwd", Some("tail:corp")));
        assert!(!approver_fed_the_evidence("token:fwd", None));
    }
}
