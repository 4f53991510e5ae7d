//! Safeguards every path goes through (CLI, API, portal, automation): which
//! identities are protected, and when acting on one needs a second person.

use crate::account::AccountState;
use crate::action::{Action, ActionOptions};
use crate::outcome::{self, Assessment};
use crate::policy::Principal;
use crate::rights;

/// Identities protected by default or by configuration: never acted on
/// automatically (automation and bulk skip them, saying why), and written by
/// hand only after a second person approves.
///
/// Protected by default: every adminCount=1 account, each domain's built-in
/// Administrator (RID 500) and each forest's action account (riposte's own
/// bind account: disabling it would stop all containment). Configured:
/// `[safeguards] protected` and `[safeguards] break_glass`.
#[derive(Debug, Clone, Default)]
pub struct Protection {
    /// `forest:sAMAccountName`, DNs or SIDs, compared case-insensitively.
    entries: Vec<String>,
    /// Emergency accounts (`[safeguards] break_glass`), same forms.
    break_glass: Vec<String>,
    /// Each forest's action account: its bind DN as configured, compared by the
    /// one DN rule (`crate::dn`; a DN names one object across forests: its DC=
    /// components are its domain).
    action_accounts: Vec<String>,
}

fn normalised(entries: impl IntoIterator<Item = String>) -> Vec<String> {
    entries
        .into_iter()
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect()
}

impl Protection {
    pub fn new(entries: impl IntoIterator<Item = String>) -> Self {
        Protection {
            entries: normalised(entries),
            ..Protection::default()
        }
    }

    /// Emergency (break-glass) accounts: `forest:sAMAccountName`, DNs or SIDs.
    pub fn with_break_glass(mut self, entries: impl IntoIterator<Item = String>) -> Self {
        self.break_glass = normalised(entries);
        self
    }

    /// Each forest's action account, by its bind DN.
    pub fn with_action_accounts(mut self, bind_dns: impl IntoIterator<Item = String>) -> Self {
        self.action_accounts = bind_dns.into_iter().collect();
        self
    }

    /// Why `account` is protected, if it is.
    pub fn reason(&self, account: &AccountState) -> Option<String> {
        let who = account.reference();
        if account.admin_count {
            return Some(format!(
                "{who} is protected by AdminSDHolder (adminCount=1)"
            ));
        }
        if self
            .action_accounts
            .iter()
            .any(|bind_dn| crate::dn::same(&account.dn, bind_dn))
        {
            return Some(format!(
                "{who} is riposte's action account (disabling it would stop all containment)"
            ));
        }
        // Built-in Administrator: RID 500 of a domain SID (S-1-5-21-...).
        if let Some(sid) = &account.sid
            && sid.rid() == Some(500)
            && sid
                .to_string()
                .to_ascii_uppercase()
                .starts_with("S-1-5-21-")
        {
            return Some(format!(
                "{who} is the domain's built-in Administrator (RID 500)"
            ));
        }
        let names = [
            account.reference().to_ascii_lowercase(),
            account
                .sid
                .as_ref()
                .map(|s| s.to_string().to_ascii_lowercase())
                .unwrap_or_default(),
        ];
        let listed = |list: &[String]| {
            list.iter()
                .find(|e| {
                    names.iter().any(|n| !n.is_empty() && n == *e)
                        || crate::dn::same(&account.dn, e)
                })
                .cloned()
        };
        if let Some(e) = listed(&self.break_glass) {
            return Some(format!(
                "{who} is a break-glass account ([safeguards] break_glass: {e})"
            ));
        }
        listed(&self.entries)
            .map(|e| format!("{who} is listed as protected in the configuration ({e})"))
    }
}

impl Protection {
    /// Why a cloud identity (`tenant:UPN`) is protected, if it is listed.
    pub fn cloud_reason(&self, reference: &str) -> Option<String> {
        let reference = reference.to_ascii_lowercase();
        if let Some(e) = self.break_glass.iter().find(|e| **e == reference) {
            return Some(format!(
                "{reference} is a break-glass account ([safeguards] break_glass: {e})"
            ));
        }
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

/// The humans behind a request: the person its credential belongs to, and
/// the name its requester string carries itself (`user:alice` is alice;
/// `cli:alice@host`, an OS account, counts as alice too). Lower case.
pub fn humans_behind(requested_by: &str, requester_person: Option<&str>) -> Vec<String> {
    let mut humans: Vec<String> = requester_person
        .map(|p| p.trim().to_ascii_lowercase())
        .into_iter()
        .collect();
    let named = requested_by.strip_prefix("user:").or_else(|| {
        requested_by
            .strip_prefix("cli:")
            .map(|cli| cli.rsplit_once('@').map_or(cli, |(user, _host)| user))
    });
    if let Some(name) = named.map(|n| n.trim().to_ascii_lowercase())
        && !name.is_empty()
        && !humans.contains(&name)
    {
        humans.push(name);
    }
    humans.retain(|h| !h.is_empty());
    humans
}

/// The second-person rule, the one place for jobs and bulk operations and
/// for every front end (CLI, API, portal): the approver must be a person (a
/// service token or an automation never approves) and must not be any human
/// behind the request, whichever credential either of them used.
pub fn second_person(
    approver: &Principal,
    requested_by: &str,
    requester_person: Option<&str>,
) -> Result<(), String> {
    let Some(person) = approver
        .person
        .as_deref()
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
    else {
        return Err(format!(
            "a person: {} is not a person's credential (a service token, an automation or an unauthenticated CLI) and can never approve; approve with a token created with --owner, or signed in to the portal",
            approver.name
        ));
    };
    let requesters = humans_behind(requested_by, requester_person);
    if approver.name.eq_ignore_ascii_case(requested_by) || requesters.contains(&person) {
        return Err(format!(
            "a second person: {person} requested it (as {requested_by}); the requester cannot approve their own request with any credential"
        ));
    }
    Ok(())
}

/// Why a bulk operation on `count` accounts waits for a second person before
/// its first child runs (`[bulk] approval_above`), if it does.
pub fn bulk_approval_needed(count: usize, approval_above: usize) -> Option<String> {
    (count > approval_above).then(|| {
        format!(
            "{count} accounts in one bulk operation, above [bulk] approval_above = {approval_above}: a second person must approve before the first one is acted on"
        )
    })
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
        // A listed DN is compared as a DN, however it is written.
        let spaced = format!("{} ", ernie.dn.replace(',', " , ").to_uppercase());
        assert!(Protection::new([spaced]).reason(&ernie).is_some());
    }

    #[test]
    fn the_action_account_the_builtin_administrator_and_break_glass_are_protected_by_default() {
        let mut account = test_account(uac::NORMAL_ACCOUNT);
        assert_eq!(Protection::default().reason(&account), None);
        // The bind DN as a config file may write it: other case, spaces after commas.
        let action = Protection::default()
            .with_action_accounts([account.dn.to_ascii_uppercase().replace(',', ", ")]);
        assert!(action.reason(&account).unwrap().contains("action account"));
        let other = Protection::default().with_action_accounts([
            "CN=riposte-action,OU=Service,DC=corp,DC=example,DC=test".to_string(),
        ]);
        assert_eq!(other.reason(&account), None);
        let glass = Protection::default().with_break_glass([account.reference()]);
        assert!(glass.reason(&account).unwrap().contains("break-glass"));
        assert!(
            Protection::default()
                .with_break_glass(["contoso:glass@contoso.test".to_string()])
                .cloud_reason("CONTOSO:glass@contoso.test")
                .unwrap()
                .contains("break-glass")
        );
        account.sid = Some("S-1-5-21-1-2-3-500".parse().unwrap());
        assert!(
            Protection::default()
                .reason(&account)
                .unwrap()
                .contains("RID 500")
        );
        assert!(
            approval_needed(
                &Protection::default(),
                &account,
                Action::Disable,
                ActionOptions::default()
            )
            .is_some()
        );
        // RID 500 only in a domain: S-1-5-32-500 is no account.
        account.sid = Some("S-1-5-32-500".parse().unwrap());
        assert_eq!(Protection::default().reason(&account), None);
    }

    fn principal(name: &str, person: Option<&str>) -> Principal {
        Principal {
            name: name.into(),
            role: crate::policy::Role::Admin,
            scope: Default::default(),
            person: person.map(str::to_string),
        }
    }

    #[test]
    fn a_second_person_is_another_human_whatever_the_credential() {
        let alice_token = principal("token:alice-laptop", Some("alice"));
        let alice_portal = principal("user:Alice", Some("alice"));
        let bob = principal("token:bob-ci", Some("bob"));
        // Requested by alice in the portal, on the CLI or through a token she owns.
        for (requested_by, person) in [
            ("user:alice", Some("alice")),
            ("cli:alice@host", None),
            ("token:soar", Some("ALICE")),
        ] {
            for approver in [&alice_token, &alice_portal] {
                let refused = second_person(approver, requested_by, person).unwrap_err();
                assert!(refused.contains("second person"), "{refused}");
            }
            assert_eq!(second_person(&bob, requested_by, person), Ok(()));
        }
        // A service token (no owner) and an automation never approve.
        for nobody in [
            principal("token:soar", None),
            principal("automation:spray", None),
        ] {
            let refused = second_person(&nobody, "user:carol", Some("carol")).unwrap_err();
            assert!(refused.contains("never approve"), "{refused}");
        }
        assert_eq!(
            humans_behind("cli:alice@host.example", Some("bob")),
            vec!["bob".to_string(), "alice".to_string()]
        );
        assert!(humans_behind("automation:spray", None).is_empty());
    }

    #[test]
    fn a_bulk_above_the_threshold_waits_for_a_second_person() {
        assert_eq!(bulk_approval_needed(25, 25), None);
        assert!(
            bulk_approval_needed(26, 25)
                .unwrap()
                .contains("approval_above = 25")
        );
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
