//! Weakened accounts (T1098) beyond 4738: the risky userAccountControl flags (RISKY_FLAGS in
//! mod.rs, reported as `riposte.account_weakened`) turned on for a computer (4742) or through
//! the directory (5136, diffing the deleted and added halves of the modify), and an SPN put on
//! a user account (targeted Kerberoasting: any account with an SPN gets RC4-crackable tickets).

use riposte_events::{IdentityEvent, UacFlag};

use super::dirchange::{DsChange, on_dc, who};
use super::{BuiltinPack, RISKY_FLAGS, rules};
use crate::alert::{Alert, Severity};

pub const USER_SPN: (&str, &str, &str) = (
    "riposte.user_spn_set",
    "Account manipulation: SPN put on a user account (targeted Kerberoasting)",
    "T1098",
);

/// SAM USER_SERVER_TRUST_ACCOUNT (4742 `NewUacValue`) and LDAP SERVER_TRUST_ACCOUNT (5136):
/// a domain controller's account, which is trusted for delegation by design.
const SAM_SERVER_TRUST: u32 = 0x100;
const LDAP_SERVER_TRUST: u32 = 0x2000;

/// Managed service accounts carry SPNs by design and have uncrackable passwords.
const MANAGED_CLASSES: [&str; 2] = [
    "msds-groupmanagedserviceaccount",
    "msds-managedserviceaccount",
];

/// Flags that protect an account, whose removal weakens it.
const PROTECTIONS: [(UacFlag, &str); 1] = [(
    UacFlag::NotDelegated,
    "the protection 'account is sensitive and cannot be delegated'",
)];

fn number(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl BuiltinPack {
    /// The one place the risky flags turned on become `riposte.account_weakened`.
    pub(super) fn flags_alert(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        target: &str,
        enabled: &[UacFlag],
        out: &mut Vec<Alert>,
    ) {
        let turned_on: Vec<&str> = RISKY_FLAGS
            .iter()
            .filter(|(f, _)| enabled.contains(f))
            .map(|(_, why)| *why)
            .collect();
        if turned_on.is_empty() {
            return;
        }
        // 4742 and its 5136 pair describe one change: one alert.
        let key = format!("{}|{}", super::lower_short(target), turned_on.join(","));
        if !self.fresh(rules::UAC.0, key, now) {
            return;
        }
        let severity = if enabled.contains(&UacFlag::DontReqPreauth)
            || enabled.contains(&UacFlag::PasswdNotreqd)
            || enabled.contains(&UacFlag::TrustedForDelegation)
        {
            Severity::High
        } else {
            Severity::Medium
        };
        let desc = format!(
            "{} turned on {} for {target}{}",
            who(ev),
            turned_on.join(", "),
            on_dc(ev)
        );
        out.push(self.dir_alert(rules::UAC, severity, desc, ev, target));
    }

    fn protection_alert(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        target: &str,
        disabled: &[UacFlag],
        out: &mut Vec<Alert>,
    ) {
        let removed: Vec<&str> = PROTECTIONS
            .iter()
            .filter(|(f, _)| disabled.contains(f))
            .map(|(_, what)| *what)
            .collect();
        if removed.is_empty() || matches!(ev.actor.sid.as_deref(), Some("S-1-5-18")) {
            return;
        }
        let key = format!(
            "{}|removed|{}",
            super::lower_short(target),
            removed.join(",")
        );
        if self.fresh(rules::UAC.0, key, now) {
            let desc = format!(
                "{} removed {} from {target}{}",
                who(ev),
                removed.join(", "),
                on_dc(ev)
            );
            out.push(self.dir_alert(rules::UAC, Severity::Medium, desc, ev, target));
        }
    }

    /// 4738/4742: a protective flag turned off.
    pub(super) fn protection_removed_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let target = ev.target.display();
        let disabled = ev.uac_disabled.clone();
        self.protection_alert(ev, now, &target, &disabled, out);
    }

    /// 4742: a risky flag turned on for a computer that is not a domain controller.
    pub(super) fn computer_flags_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let Some(target) = ev.target.name.clone() else {
            return;
        };
        let dc =
            ev.new_uac.is_some_and(|u| u & SAM_SERVER_TRUST != 0) || self.is_dc(&ev.target, None);
        if dc || matches!(ev.actor.sid.as_deref(), Some("S-1-5-18")) {
            return;
        }
        let enabled = ev.uac_enabled.clone();
        self.flags_alert(ev, now, &target, &enabled, out);
    }

    /// 5136 userAccountControl: the flags the added value has and the deleted one had not.
    pub(super) fn ds_flags_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let Some(c) = DsChange::of(ev) else { return };
        if c.attribute != "useraccountcontrol" {
            return;
        }
        let before = self.dir_deleted.pair(&c);
        let (Some(old), Some(new)) = (before.as_deref().and_then(number), number(c.value)) else {
            return;
        };
        if new & LDAP_SERVER_TRUST != 0 || matches!(ev.actor.sid.as_deref(), Some("S-1-5-18")) {
            return;
        }
        let enabled: Vec<UacFlag> = UacFlag::ALL
            .into_iter()
            .filter(|f| new & f.bit() != 0 && old & f.bit() == 0)
            .collect();
        let disabled: Vec<UacFlag> = UacFlag::ALL
            .into_iter()
            .filter(|f| old & f.bit() != 0 && new & f.bit() == 0)
            .collect();
        let target = c.name();
        self.flags_alert(ev, now, &target, &enabled, out);
        self.protection_alert(ev, now, &target, &disabled, out);
    }

    /// 5136 adding a servicePrincipalName to a user (not a computer, not a managed service
    /// account).
    pub(super) fn user_spn_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let Some(c) = DsChange::of(ev) else { return };
        if !c.added
            || c.attribute != "serviceprincipalname"
            || c.class != "user"
            || MANAGED_CLASSES.contains(&c.class.as_str())
        {
            return;
        }
        let target = c.name();
        if self.directory_itself(ev, Some(&target)) {
            return;
        }
        let key = format!("{}|{}", c.dn_key(), ev.actor.key().unwrap_or_default());
        if self.fresh(USER_SPN.0, key, now) {
            let desc = format!(
                "{} put the SPN {} on the user {target}: anyone can now request an RC4 service ticket for it and crack its password offline{}",
                who(ev),
                c.value,
                on_dc(ev)
            );
            out.push(self.dir_alert(USER_SPN, Severity::High, desc, ev, &target));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dirchange::test_support::{ADMIN, ds, event, ids, run, with_actor};

    const BOB: &str = "CN=bob,CN=Users,DC=corp,DC=example";

    fn computer_change(
        target: &str,
        old: &str,
        new: &str,
        codes: &str,
    ) -> riposte_events::IdentityEvent {
        let mut f = ADMIN.to_vec();
        f.extend([
            ("TargetUserName", target),
            ("TargetDomainName", "CORP"),
            ("TargetSid", "S-1-5-21-1-2-3-1300"),
            ("OldUacValue", old),
            ("NewUacValue", new),
            ("UserAccountControl", codes),
        ]);
        event(4742, &f)
    }

    #[test]
    fn unconstrained_delegation_on_a_server_fires_and_a_dc_promotion_does_not() {
        let server = computer_change("SRV01$", "0x80", "0x2080", "%%2093");
        let alerts = run(&[server]);
        assert_eq!(ids(&alerts), ["riposte.account_weakened"]);
        assert!(alerts[0].description.contains("unconstrained delegation"));
        assert_eq!(alerts[0].entities.users, ["CORP\\SRV01$"]);
        // A DC's account: server trust plus delegation, by design.
        let promoted = computer_change("DC3$", "0x80", "0x2100", "%%2088 %%2093");
        assert!(run(&[promoted]).is_empty());
        // Smartcard required / not delegated: hardening, not weakening.
        let hardened = computer_change("SRV01$", "0x80", "0x5080", "%%2092 %%2094");
        assert!(run(&[hardened]).is_empty());
    }

    #[test]
    fn a_5136_modify_that_turns_on_no_preauth_fires_once() {
        let del = ds(5136, "%%14675", BOB, "user", "userAccountControl", "512");
        let add = ds(
            5136,
            "%%14674",
            BOB,
            "user",
            "userAccountControl",
            "4194816",
        );
        let alerts = run(&[del, add]);
        assert_eq!(ids(&alerts), ["riposte.account_weakened"]);
        assert!(alerts[0].description.contains("pre-authentication"));
        // Only enabling the account (512 -> 512) or an add without its deleted half: nothing.
        let del = ds(5136, "%%14675", BOB, "user", "userAccountControl", "514");
        let add = ds(5136, "%%14674", BOB, "user", "userAccountControl", "512");
        let lone = ds(
            5136,
            "%%14674",
            BOB,
            "user",
            "userAccountControl",
            "4194816",
        );
        assert!(run(&[del, add]).is_empty());
        assert!(run(&[lone]).is_empty());
    }

    #[test]
    fn removing_not_delegated_fires_and_adding_it_does_not() {
        let change = |old: &str, new: &str, code: &str| {
            let mut f = ADMIN.to_vec();
            f.extend([
                ("TargetUserName", "da-bob"),
                ("TargetDomainName", "CORP"),
                ("TargetSid", "S-1-5-21-1-2-3-1108"),
                ("OldUacValue", old),
                ("NewUacValue", new),
                ("UserAccountControl", code),
            ]);
            event(4738, &f)
        };
        let alerts = run(&[change("0x4010", "0x10", "%%2062")]);
        assert_eq!(ids(&alerts), ["riposte.account_weakened"]);
        assert!(alerts[0].description.contains("cannot be delegated"));
        assert!(run(&[change("0x10", "0x4010", "%%2094")]).is_empty());
        // The same removal through the directory: userAccountControl 0x100200 -> 0x200.
        let del = ds(
            5136,
            "%%14675",
            BOB,
            "user",
            "userAccountControl",
            "1049088",
        );
        let add = ds(5136, "%%14674", BOB, "user", "userAccountControl", "512");
        assert_eq!(ids(&run(&[del, add])), ["riposte.account_weakened"]);
    }

    #[test]
    fn reversible_encryption_on_a_user_fires() {
        let mut f = ADMIN.to_vec();
        f.extend([
            ("TargetUserName", "bob"),
            ("TargetDomainName", "CORP"),
            ("TargetSid", "S-1-5-21-1-2-3-1107"),
            ("OldUacValue", "0x10"),
            ("NewUacValue", "0x810"),
            ("UserAccountControl", "%%2091"),
        ]);
        let alerts = run(&[event(4738, &f)]);
        assert_eq!(ids(&alerts), ["riposte.account_weakened"]);
        assert!(alerts[0].description.contains("reversible"), "{alerts:?}");
    }

    #[test]
    fn an_spn_on_a_user_fires_and_on_a_computer_or_gmsa_does_not() {
        let user = ds(
            5136,
            "%%14674",
            BOB,
            "user",
            "servicePrincipalName",
            "http/roast.me",
        );
        let alerts = run(&[user]);
        assert_eq!(ids(&alerts), ["riposte.user_spn_set"]);
        assert_eq!(alerts[0].technique.as_deref(), Some("T1098"));
        assert_eq!(alerts[0].entities.users, ["bob"]);
        let computer = ds(
            5136,
            "%%14674",
            "CN=SRV01,OU=Servers,DC=corp,DC=example",
            "computer",
            "servicePrincipalName",
            "MSSQLSvc/srv01.corp.example:1433",
        );
        let gmsa = ds(
            5136,
            "%%14674",
            "CN=svc-web,CN=Managed Service Accounts,DC=corp,DC=example",
            "msDS-GroupManagedServiceAccount",
            "servicePrincipalName",
            "http/web",
        );
        let removed = ds(
            5136,
            "%%14675",
            BOB,
            "user",
            "servicePrincipalName",
            "http/x",
        );
        let by_system = with_actor(
            ds(
                5136,
                "%%14674",
                BOB,
                "user",
                "servicePrincipalName",
                "http/y",
            ),
            "DC1$",
            "S-1-5-18",
        );
        assert!(run(&[computer, gmsa, removed, by_system]).is_empty());
    }
}
