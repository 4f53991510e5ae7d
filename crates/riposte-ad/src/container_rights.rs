//! The action account's rights read once per container (OU): what
//! `Read::StateAndContainerRights` answers from, so a bulk operation over an
//! OU asks the DC for `allowedAttributesEffective` (the costly part of a
//! read) once instead of once per account. An account protected by
//! AdminSDHolder (adminCount=1) has the AdminSDHolder's rights, not its
//! container's: it is never a sample and never answered from here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use riposte_core::account::AccountState;
use riposte_core::dn::Dn;

/// How long a container's rights are trusted: a bulk operation's span, so a
/// delegation changed since is seen by the next one.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// Most containers remembered; the oldest half goes when full.
const MOST_CONTAINERS: usize = 1024;

struct Known {
    writable: Vec<String>,
    /// The account whose rights these are.
    read_on: String,
    at: Instant,
}

#[derive(Default)]
pub(crate) struct ContainerRights {
    known: Mutex<HashMap<Dn, Known>>,
}

fn container_of(dn: &str) -> Option<Dn> {
    Dn::parse(dn).ok()?.parent().filter(|p| !p.is_empty())
}

impl ContainerRights {
    /// The rights read on another account of `dn`'s container, and that
    /// account's DN, if they are fresh.
    pub(crate) fn of_container(&self, dn: &str) -> Option<(Vec<String>, String)> {
        let container = container_of(dn)?;
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(&container)
            .filter(|k| k.at.elapsed() < FRESH_FOR)
            .map(|k| (k.writable.clone(), k.read_on.clone()))
    }

    /// Keeps `account`'s own rights (read with `allowedAttributesEffective`)
    /// for its container, unless AdminSDHolder gives it rights of its own.
    pub(crate) fn remember(&self, account: &AccountState) {
        let (Some(writable), false, None) = (
            &account.writable_attributes,
            account.admin_count,
            &account.rights_read_on,
        ) else {
            return;
        };
        let Some(container) = container_of(&account.dn) else {
            return;
        };
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= MOST_CONTAINERS {
            let mut ages: Vec<Instant> = known.values().map(|k| k.at).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            known.retain(|_, k| k.at > cut);
        }
        known.insert(
            container,
            Known {
                writable: writable.clone(),
                read_on: account.dn.clone(),
                at: Instant::now(),
            },
        );
    }

    /// The directory refused a write on `dn`: its container's rights are not
    /// what was remembered (or not for this account), so they are read again.
    pub(crate) fn forget(&self, dn: &str) {
        if let Some(container) = container_of(dn) {
            self.known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&container);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(dn: &str, admin_count: bool, writable: Option<&[&str]>) -> AccountState {
        AccountState {
            forest: "corp".into(),
            dn: dn.into(),
            sid: None,
            guid: None,
            sam_account_name: "x".into(),
            user_principal_name: None,
            display_name: None,
            user_account_control: 512,
            uac_computed: 0,
            pwd_last_set: 1,
            lockout_time: 0,
            admin_count,
            password_expiry_computed: None,
            writable_attributes: writable.map(|w| w.iter().map(|s| s.to_string()).collect()),
            rights_read_on: None,
            metadata: Vec::new(),
        }
    }

    #[test]
    fn one_account_read_answers_for_its_container_by_the_dn_rule() {
        let rights = ContainerRights::default();
        let first = account(
            "CN=Ernie,OU=Staff,DC=corp,DC=example",
            false,
            Some(&["userAccountControl"]),
        );
        rights.remember(&first);
        let (writable, read_on) = rights
            .of_container("cn=bert,ou=STAFF,dc=corp,dc=example")
            .expect("same container, written differently");
        assert_eq!(writable, vec!["userAccountControl".to_string()]);
        assert_eq!(read_on, first.dn);
        // Another container, or a child OU, is not answered.
        assert!(
            rights
                .of_container("CN=Bert,OU=Tier0,DC=corp,DC=example")
                .is_none()
        );
        assert!(
            rights
                .of_container("CN=Bert,OU=Sub,OU=Staff,DC=corp,DC=example")
                .is_none()
        );
        // A hostile DN that is not a DN is never answered.
        assert!(rights.of_container("not a dn,,=").is_none());
        rights.forget("CN=Anyone,OU=Staff,DC=corp,DC=example");
        assert!(
            rights
                .of_container("CN=Bert,OU=Staff,DC=corp,DC=example")
                .is_none()
        );
    }

    #[test]
    fn protected_accounts_and_unknown_rights_are_never_samples() {
        let rights = ContainerRights::default();
        rights.remember(&account(
            "CN=Admin,OU=Staff,DC=corp",
            true,
            Some(&["userAccountControl"]),
        ));
        rights.remember(&account("CN=Read,OU=Staff,DC=corp", false, None));
        let mut borrowed = account("CN=B,OU=Staff,DC=corp", false, Some(&["pwdLastSet"]));
        borrowed.rights_read_on = Some("CN=A,OU=Staff,DC=corp".into());
        rights.remember(&borrowed);
        assert!(rights.of_container("CN=Bert,OU=Staff,DC=corp").is_none());
    }
}
