//! Account creation abuse (T1136) and renames to administrator-looking names (T1098):
//! computer accounts created through MachineAccountQuota, accounts created with names that
//! pose as admins or computers, and accounts created (or first set up) then deleted within
//! minutes.
//!
//! T1136 rather than T1136.002: 4720/4726 are logged for local (SAM) accounts as for domain
//! ones, so the parent technique is the one that is right for both.

use std::collections::{HashMap, HashSet};

use riposte_events::IdentityEvent;

use super::{BuiltinPack, field, lower_short};
use crate::alert::{Alert, Severity};

pub const COMPUTER_BY_NON_ADMIN: (&str, &str, &str) = (
    "riposte.computer_account_by_non_admin",
    "Account creation: computer account created by an account that is not an admin (MachineAccountQuota)",
    "T1136",
);
pub const ADMIN_LIKE_CREATED: (&str, &str, &str) = (
    "riposte.admin_like_account_created",
    "Account creation: account with an administrator-looking name created by a non-admin",
    "T1136",
);
pub const COMPUTER_LIKE_USER: (&str, &str, &str) = (
    "riposte.user_account_with_computer_name",
    "Account creation: user account disguised as a computer account (name ending in $)",
    "T1136",
);
pub const CREATED_DELETED: (&str, &str, &str) = (
    "riposte.account_created_and_deleted",
    "Account creation: account created and deleted within minutes",
    "T1136",
);
pub const LOCAL_ACCOUNT: (&str, &str, &str) = (
    "riposte.local_account_created",
    "Account creation: local account created on a host",
    "T1136",
);
/// A rename is a change to an existing account (T1098), not a creation.
pub const RENAMED_ADMIN_LIKE: (&str, &str, &str) = (
    "riposte.account_renamed_admin_like",
    "Account manipulation: account renamed to an administrator-looking name",
    "T1098",
);

/// Whole-name tokens that say "administrator" (localised built-in names included).
const ADMIN_TOKENS: [&str; 12] = [
    "admin",
    "adm",
    "administrator",
    "administrateur",
    "administrador",
    "administratore",
    "administratör",
    "järjestelmänvalvoja",
    "rendszergazda",
    "администратор",
    "root",
    "domainadmin",
];

/// The state of the account-creation rules, bounded by `max_groups` entries each.
#[derive(Default)]
pub(super) struct AccountState {
    /// Target SID (or name key) -> (when created or first set up, name, how).
    created: HashMap<String, (i64, String, &'static str)>,
    /// SIDs renamed from a computer-like name (`x$`) to one without `$`: noPac's first step
    /// (the Kerberos pack's alert), so renaming them back is not a disguise.
    nopac_renamed: HashSet<String>,
}

/// True for names an attacker would pick to pass for an administrator: a token `admin`,
/// `adm`, `administrator` (or a localised form) or `root`; a name starting or ending with
/// `admin` (`adminjoe`, `sqladmin`); `krbtgt` look-alikes. Letters are compared, so
/// `adamson`, `badminton` or `admiral` are not admin-like.
pub(super) fn admin_like(name: &str) -> bool {
    let n = lower_short(name).to_lowercase();
    let letters: String = n.chars().filter(|c| c.is_alphanumeric()).collect();
    if n.split(|c: char| !c.is_alphabetic())
        .any(|t| ADMIN_TOKENS.contains(&t))
    {
        return true;
    }
    let alpha: String = n.chars().filter(|c| c.is_alphabetic()).collect();
    if alpha.starts_with("admin") || (alpha.ends_with("admin") && alpha != "badmin") {
        return true;
    }
    krbtgt_like(&letters)
}

/// For computer accounts, where `ADM-WS01$` is an ordinary admin workstation: only a name
/// that is nothing but an administrator word (`ADMIN01$`, `ADMINISTRATOR$`) or a `krbtgt`
/// look-alike.
fn computer_admin_like(name: &str) -> bool {
    let n = lower_short(name).to_lowercase();
    let alpha: String = n.chars().filter(|c| c.is_alphabetic()).collect();
    let letters: String = n.chars().filter(|c| c.is_alphanumeric()).collect();
    (alpha != "adm" && alpha != "root" && ADMIN_TOKENS.contains(&alpha.as_str()))
        || krbtgt_like(&letters)
}

/// `krbtgt` itself, or within one edit of it (`krbtgt2`, `krbtg`, `krbgtg`, `krb-tgt`).
fn krbtgt_like(letters: &str) -> bool {
    const K: &[u8] = b"krbtgt";
    let s = letters.as_bytes();
    if s.starts_with(K) {
        return true;
    }
    if s.len() + 1 < K.len() || s.len() > K.len() + 1 {
        return false;
    }
    // Levenshtein distance <= 1, on at most 7 bytes.
    let mut prev: Vec<usize> = (0..=K.len()).collect();
    for (i, a) in s.iter().enumerate() {
        let mut cur = vec![i + 1; K.len() + 1];
        for (j, b) in K.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(a != b))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[K.len()] <= 1
}

/// The created or changed account's sAMAccountName as the event gives it.
fn account_name(ev: &IdentityEvent) -> Option<String> {
    field(ev, "SamAccountName")
        .map(str::to_string)
        .or_else(|| ev.target.name.clone())
}

impl BuiltinPack {
    /// The key an account keeps between creation and deletion: its SID, else its name.
    fn account_key(ev: &IdentityEvent) -> Option<String> {
        ev.target
            .sid
            .as_deref()
            .map(str::to_ascii_uppercase)
            .or_else(|| ev.target.key())
    }

    /// Whether `name` (no `$`) is the name of a domain controller we know.
    fn dc_name(&self, name: &str, logged_by: Option<&str>) -> bool {
        let short = lower_short(name);
        !name.ends_with('$')
            && (self.learned_dcs.contains(&short)
                || logged_by.is_some_and(|h| super::host_label(h) == short)
                || self
                    .cfg
                    .domain_controllers
                    .iter()
                    .any(|d| super::host_label(&lower_short(d)) == short))
    }

    /// SYSTEM, the built-in Administrator, configured admins: accounts whose creations are
    /// work, not abuse. Unlike `is_admin`, a computer account is not one here (a computer
    /// creating computers is the MachineAccountQuota relay of RBCD attacks).
    fn creator_trusted(&self, ev: &IdentityEvent) -> bool {
        let a = &ev.actor;
        let sid = a.sid.as_deref().unwrap_or("");
        sid == "S-1-5-18"
            || (sid.starts_with("S-1-5-21-") && sid.ends_with("-500"))
            || Self::listed(&self.cfg.admins, a)
            || self.is_dc(a, ev.computer.as_deref())
    }

    /// 4741: a computer account created with the DC's SeMachineAccountPrivilege (the
    /// creator had no right to create computers, only MachineAccountQuota), or by another
    /// computer account.
    pub(super) fn computer_created_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        if ev.failed() {
            return;
        }
        self.remember_created(ev, now, "created");
        if self.creator_trusted(ev) {
            return;
        }
        let quota = field(ev, "PrivilegeList")
            .is_some_and(|p| p.to_ascii_lowercase().contains("semachineaccountprivilege"));
        let by_computer = ev.actor.is_machine()
            && ev
                .actor
                .sid
                .as_deref()
                .is_some_and(|s| s.starts_with("S-1-5-21-"));
        let name = account_name(ev).unwrap_or_else(|| ev.target.display());
        if quota || by_computer {
            let how = if quota {
                "through MachineAccountQuota (SeMachineAccountPrivilege: no right to create computers)"
            } else {
                "as a computer account"
            };
            let key = ev.target.key().unwrap_or_default();
            if self.fresh(COMPUTER_BY_NON_ADMIN.0, key, now) {
                out.push(self.single(
                    COMPUTER_BY_NON_ADMIN,
                    Severity::High,
                    format!(
                        "{} created the computer account {name} {how} on {}: the first step of RBCD and noPac (sAMAccountName spoofing) attacks",
                        ev.actor.display(),
                        ev.computer.as_deref().unwrap_or("an unknown DC")
                    ),
                    ev,
                ));
            }
        }
        self.admin_like_created(ev, &name, now, out);
    }

    /// 4720: a user account created with a computer-like or administrator-looking name.
    pub(super) fn user_created_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        if ev.failed() {
            return;
        }
        self.remember_created(ev, now, "created");
        let Some(name) = account_name(ev) else { return };
        // SAM account flags of trust and machine accounts (interdomain, workstation, server
        // trust): such an account made through 4720 is what it says it is.
        let machine_flags = ev.new_uac.is_some_and(|u| u & 0x1c0 != 0);
        let system = ev.actor.sid.as_deref() == Some("S-1-5-18");
        if name.ends_with('$') && !machine_flags && !system {
            let key = ev.target.key().unwrap_or_default();
            if self.fresh(COMPUTER_LIKE_USER.0, key, now) {
                out.push(self.single(
                    COMPUTER_LIKE_USER,
                    Severity::High,
                    format!(
                        "{} created the user account {name}, named like a computer account (trailing $) to hide among them, on {}",
                        ev.actor.display(),
                        ev.computer.as_deref().unwrap_or("an unknown DC")
                    ),
                    ev,
                ));
            }
            return;
        }
        let before = out.len();
        if !self.creator_trusted(ev) {
            self.admin_like_created(ev, &name, now, out);
        }
        if out.len() == before && !system {
            self.local_account_rule(ev, &name, now, out);
        }
    }

    /// 4720 for an account of the host's own SAM (its domain is the host's name): a local
    /// account on a member server or workstation, where domains manage people centrally.
    fn local_account_rule(
        &mut self,
        ev: &IdentityEvent,
        name: &str,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let (Some(domain), Some(host)) = (ev.target.domain.as_deref(), ev.computer.as_deref())
        else {
            return;
        };
        if !domain.eq_ignore_ascii_case(&super::host_label(host))
            || Self::listed(&self.cfg.admins, &ev.actor)
        {
            return;
        }
        let key = format!(
            "{}|{}",
            host.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        );
        if self.fresh(LOCAL_ACCOUNT.0, key, now) {
            out.push(self.single(
                LOCAL_ACCOUNT,
                Severity::Medium,
                format!(
                    "{} created the local account {name} on {host}: a foothold outside the directory",
                    ev.actor.display()
                ),
                ev,
            ));
        }
    }

    fn admin_like_created(
        &mut self,
        ev: &IdentityEvent,
        name: &str,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        // Admins create their own tiered admin accounts (`adm-jdoe`): an admin-looking
        // creator making another is routine; an ordinary account doing it is not.
        let creator = ev.actor.name.as_deref().unwrap_or("");
        if self.creator_trusted(ev)
            || admin_like(creator)
            || ev.actor.is_empty()
            || !(if ev.event_id == 4741 {
                computer_admin_like(name)
            } else {
                admin_like(name) || self.dc_name(name, ev.computer.as_deref())
            })
        {
            return;
        }
        let key = ev.target.key().unwrap_or_default();
        if self.fresh(ADMIN_LIKE_CREATED.0, key, now) {
            out.push(self.single(
                ADMIN_LIKE_CREATED,
                Severity::High,
                format!(
                    "{} created the account {name}, an administrator-looking name, and is not a known admin (on {})",
                    ev.actor.display(),
                    ev.computer.as_deref().unwrap_or("an unknown DC")
                ),
                ev,
            ));
        }
    }

    fn remember_created(&mut self, ev: &IdentityEvent, now: i64, how: &'static str) {
        // SYSTEM creates and removes machine accounts itself (joins, DC promotion).
        if ev.actor.sid.as_deref() == Some("S-1-5-18") {
            return;
        }
        let Some(key) = Self::account_key(ev) else {
            return;
        };
        let window = self.cfg.created_deleted_window_secs;
        let st = &mut self.accounts.created;
        if st.contains_key(&key) {
            return;
        }
        if st.len() >= self.cfg.max_groups {
            st.retain(|_, (t, _, _)| *t >= now - window);
            if st.len() >= self.cfg.max_groups {
                // Forgetting only costs a missed pair, never a false alert.
                st.clear();
            }
        }
        let name = account_name(ev).unwrap_or_else(|| ev.target.display());
        st.insert(key, (now, name, how));
    }

    /// 4742: a computer account set up the way a new one is (password set, or enabled) is
    /// "first seen" here, for a deletion soon after; other changes are not remembered.
    pub(super) fn computer_changed_rule(&mut self, ev: &IdentityEvent, now: i64) {
        // A computer rotating its own password every 30 days is not being set up.
        let itself = (ev.actor.sid.is_some() && ev.actor.sid == ev.target.sid)
            || (ev.actor.key().is_some() && ev.actor.key() == ev.target.key());
        if ev.failed() || itself {
            return;
        }
        let enabled =
            matches!((ev.old_uac, ev.new_uac), (Some(o), Some(n)) if o & 1 != 0 && n & 1 == 0);
        if enabled || field(ev, "PasswordLastSet").is_some() {
            self.remember_created(ev, now, "set up");
        }
    }

    /// 4726/4743: the account deleted within the window after its creation or set-up.
    pub(super) fn account_deleted_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        if ev.failed() {
            return;
        }
        let Some(key) = Self::account_key(ev) else {
            return;
        };
        let Some((born, name, how)) = self.accounts.created.remove(&key) else {
            return;
        };
        let window = self.cfg.created_deleted_window_secs;
        let age = now - born;
        if !(0..=window).contains(&age) {
            return;
        }
        let kind = if ev.event_id == 4743 {
            "computer"
        } else {
            "user"
        };
        let mut alert = self.single(
            CREATED_DELETED,
            Severity::Medium,
            format!(
                "{} deleted the {kind} account {name} {} after it was {how}, on {}: a throwaway account",
                ev.actor.display(),
                short_duration(age),
                ev.computer.as_deref().unwrap_or("an unknown DC")
            ),
            ev,
        );
        alert.first_seen = time::OffsetDateTime::from_unix_timestamp(born)
            .ok()
            .or(ev.time);
        out.push(alert);
    }

    /// 4781: renamed to an administrator-looking name (or a DC's name) from one that was
    /// not; or a user renamed to a computer-like name (`x$`).
    pub(super) fn account_renamed_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let (Some(old), Some(new)) = (
            field(ev, "OldTargetUserName"),
            field(ev, "NewTargetUserName"),
        ) else {
            return;
        };
        if ev.failed() {
            return;
        }
        let (old, new) = (old.to_string(), new.to_string());
        let key = Self::account_key(ev).unwrap_or_else(|| old.to_ascii_lowercase());
        if old.ends_with('$') && !new.ends_with('$') {
            // noPac's rename: the Kerberos pack raises it; its rollback is not a disguise.
            if self.accounts.nopac_renamed.len() >= self.cfg.max_groups {
                self.accounts.nopac_renamed.clear();
            }
            self.accounts.nopac_renamed.insert(key);
            return;
        }
        let on = ev.computer.as_deref().unwrap_or("an unknown DC");
        let (rule, why) = if !old.ends_with('$') && new.ends_with('$') {
            if self.accounts.nopac_renamed.remove(&key) {
                return;
            }
            (
                COMPUTER_LIKE_USER,
                "a computer-like name (trailing $) to hide among computer accounts",
            )
        } else if new.ends_with('$') {
            // A computer renamed: ADM-WS01$ is an ordinary admin workstation.
            if !computer_admin_like(&new) || computer_admin_like(&old) {
                return;
            }
            (RENAMED_ADMIN_LIKE, "an administrator-looking name")
        } else if (admin_like(&new) || self.dc_name(&new, ev.computer.as_deref()))
            && !admin_like(&old)
        {
            (RENAMED_ADMIN_LIKE, "an administrator-looking name")
        } else {
            return;
        };
        if !self.fresh(rule.0, format!("{key}|{}", new.to_ascii_lowercase()), now) {
            return;
        }
        let mut alert = self.single(
            rule,
            Severity::High,
            format!(
                "{} renamed the account {old} to {new}, {why}, on {on}",
                ev.actor.display()
            ),
            ev,
        );
        let domain = ev.target.domain.as_deref();
        alert.entities.users = vec![match domain {
            Some(d) => format!("{d}\\{new}"),
            None => new.clone(),
        }];
        out.push(alert);
    }
}

fn short_duration(secs: i64) -> String {
    if secs < 120 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs / 60)
    }
}

#[cfg(test)]
pub(super) mod test_support;

#[cfg(test)]
mod tests;
