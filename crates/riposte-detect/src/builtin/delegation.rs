//! Delegation and credential links (T1098: each gives another identity a way to act as, or
//! log on as, the changed account without its password): constrained delegation written
//! (msDS-AllowedToDelegateTo), resource-based constrained delegation written
//! (msDS-AllowedToActOnBehalfOfOtherIdentity, RBCD) and shadow credentials written
//! (msDS-KeyCredentialLink). Unconstrained and protocol-transition delegation are
//! userAccountControl flags: `riposte.account_weakened` reports them (weakened.rs, mod.rs).

use riposte_events::IdentityEvent;

use super::BuiltinPack;
use super::dirchange::{DsChange, on_dc, who};
use crate::alert::{Alert, Severity};

pub const CONSTRAINED_DELEGATION: (&str, &str, &str) = (
    "riposte.constrained_delegation_set",
    "Account manipulation: constrained delegation (msDS-AllowedToDelegateTo) written",
    "T1098",
);
pub const RBCD: (&str, &str, &str) = (
    "riposte.rbcd_set",
    "Account manipulation: resource-based constrained delegation (msDS-AllowedToActOnBehalfOfOtherIdentity) written",
    "T1098",
);
pub const SHADOW_CREDENTIALS: (&str, &str, &str) = (
    "riposte.shadow_credentials",
    "Account manipulation: a key credential (msDS-KeyCredentialLink, shadow credentials) written",
    "T1098",
);

/// A filled multi-valued field of 4738/4742: not `-`, not `%%1793` (`<value not set>`).
fn filled(v: Option<&String>) -> Option<String> {
    let v = v?;
    let parts: Vec<&str> = v
        .split_whitespace()
        .filter(|p| *p != "-" && !p.starts_with("%%"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

impl BuiltinPack {
    /// 4738/4742 `AllowedToDelegateTo` filled, or 5136 adding a msDS-AllowedToDelegateTo value.
    pub(super) fn constrained_delegation_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let (target, services) = if matches!(ev.event_id, 4738 | 4742) {
            let Some(services) = filled(ev.data.get("AllowedToDelegateTo")) else {
                return;
            };
            (ev.target.display(), services)
        } else {
            let Some(c) = DsChange::of(ev) else { return };
            if !c.added || c.attribute != "msds-allowedtodelegateto" {
                return;
            }
            (c.name(), c.value.to_string())
        };
        if self.directory_itself(ev, Some(&target)) {
            return;
        }
        let key = format!(
            "{}|{}",
            super::lower_short(&target),
            ev.actor.key().unwrap_or_default()
        );
        if self.fresh(CONSTRAINED_DELEGATION.0, key, now) {
            let desc = format!(
                "{} let {target} delegate to {services} (constrained delegation: it can act as users towards these services){}",
                who(ev),
                on_dc(ev)
            );
            out.push(self.dir_alert(CONSTRAINED_DELEGATION, Severity::Medium, desc, ev, &target));
        }
    }

    /// 5136 adding msDS-AllowedToActOnBehalfOfOtherIdentity (RBCD) or msDS-KeyCredentialLink.
    pub(super) fn credential_link_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let Some(c) = DsChange::of(ev) else { return };
        if !c.added {
            return;
        }
        let target = c.name();
        let rule = match c.attribute.as_str() {
            "msds-allowedtoactonbehalfofotheridentity" => RBCD,
            "msds-keycredentiallink" => SHADOW_CREDENTIALS,
            _ => return,
        };
        // Keys: the expected writers are SYSTEM and DCs, a computer registering its own key
        // (Windows Hello for Business, device join), device objects of the device
        // registration service, and the accounts listed in key_credential_writers (Entra
        // Connect, AD FS). RBCD: only SYSTEM and DCs; a computer writing its own RBCD is the
        // relayed machine account of KrbRelayUp and ntlmrelayx --delegate-access.
        if rule == SHADOW_CREDENTIALS
            && (self.directory_itself(ev, Some(&target))
                || c.dn_key().contains(",cn=registereddevices,")
                || Self::listed(&self.cfg.key_credential_writers, &ev.actor))
        {
            return;
        }
        if rule == RBCD && self.directory_itself(ev, None) {
            return;
        }
        let key = format!("{}|{}", c.dn_key(), ev.actor.key().unwrap_or_default());
        if !self.fresh(rule.0, key, now) {
            return;
        }
        let desc = if rule == RBCD {
            let grantees: Vec<&str> = c
                .value
                .split(';')
                .filter_map(|p| p.trim_end_matches(')').trim().strip_prefix("S-1-"))
                .collect();
            let grantees = if grantees.is_empty() {
                "another account".to_string()
            } else {
                grantees
                    .iter()
                    .map(|s| format!("S-1-{s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "{} let {grantees} act on behalf of any user towards {target} (resource-based constrained delegation){}",
                who(ev),
                on_dc(ev)
            )
        } else {
            format!(
                "{} added a key credential to {target}: whoever holds the key can log on as {target} (shadow credentials){}",
                who(ev),
                on_dc(ev)
            )
        };
        out.push(self.dir_alert(rule, Severity::High, desc, ev, &target));
    }
}

#[cfg(test)]
mod tests {
    use super::super::dev_recordings::{alerts_of, rules_and_techniques};
    use super::super::dirchange::test_support::{ds, ids, run, with_actor};

    const SRV: &str = "CN=SRV01,OU=Servers,DC=corp,DC=example";

    #[test]
    fn rbcd_and_shadow_credentials_written_by_a_user_fire() {
        let rbcd = ds(
            5136,
            "%%14674",
            SRV,
            "computer",
            "msDS-AllowedToActOnBehalfOfOtherIdentity",
            "O:BAD:(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;S-1-5-21-1-2-3-1234)",
        );
        let keys = ds(
            5136,
            "%%14674",
            "CN=bob,CN=Users,DC=corp,DC=example",
            "user",
            "msDS-KeyCredentialLink",
            "B:828:0002000020000:CN=bob,CN=Users,DC=corp,DC=example",
        );
        let alerts = run(&[rbcd, keys]);
        assert_eq!(
            ids(&alerts),
            ["riposte.rbcd_set", "riposte.shadow_credentials"]
        );
        assert!(alerts[0].description.contains("S-1-5-21-1-2-3-1234"));
        assert_eq!(alerts[0].entities.users, ["SRV01"]);
        assert_eq!(alerts[1].entities.users, ["bob"]);
        assert!(
            alerts
                .iter()
                .all(|a| a.technique.as_deref() == Some("T1098"))
        );
    }

    #[test]
    fn samba_audit_of_a_key_credential_write_fires_without_the_key() {
        let ev = super::super::dirchange::test_support::samba(
            "CN=bob,CN=Users,DC=corp,DC=example",
            "msDS-KeyCredentialLink",
            "add",
            "B:828:0002000020000:CN=bob",
        );
        assert!(!ev.data.contains_key("AttributeValue"));
        let alerts = run(&[ev]);
        assert_eq!(ids(&alerts), ["riposte.shadow_credentials"]);
        assert_eq!(alerts[0].entities.users, ["bob"]);
    }

    #[test]
    fn a_computer_writing_its_own_rbcd_fires_and_the_system_does_not() {
        let rbcd = ds(
            5136,
            "%%14674",
            SRV,
            "computer",
            "msDS-AllowedToActOnBehalfOfOtherIdentity",
            "O:BAD:(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;S-1-5-21-1-2-3-1234)",
        );
        let relayed = with_actor(rbcd.clone(), "SRV01$", "S-1-5-21-1-2-3-1300");
        assert_eq!(ids(&run(&[relayed])), ["riposte.rbcd_set"]);
        let system = with_actor(rbcd, "DC1$", "S-1-5-18");
        assert!(run(&[system]).is_empty());
    }

    #[test]
    fn key_writes_by_the_system_the_device_itself_or_a_listed_sync_account_do_not_fire() {
        let write = |dn: &str| {
            ds(
                5136,
                "%%14674",
                dn,
                "computer",
                "msDS-KeyCredentialLink",
                "B:828:00020000:x",
            )
        };
        // Windows Hello for Business / device join: the computer writes its own key.
        let own = with_actor(write(SRV), "SRV01$", "S-1-5-21-1-2-3-1300");
        let system = with_actor(write(SRV), "DC1$", "S-1-5-18");
        let device = write("CN=abc,CN=RegisteredDevices,DC=corp,DC=example");
        let sync = with_actor(
            write("CN=bob,CN=Users,DC=corp,DC=example"),
            "MSOL_0a1b2c3d",
            "S-1-5-21-1-2-3-1400",
        );
        // The deleted half of a modify is not a write of a new key.
        let removed = ds(
            5136,
            "%%14675",
            SRV,
            "computer",
            "msDS-KeyCredentialLink",
            "B:828:00020000:x",
        );
        let cfg = crate::DetectConfig {
            key_credential_writers: vec!["MSOL_0a1b2c3d".into()],
            ..Default::default()
        };
        let mut pack = crate::builtin::BuiltinPack::new(cfg);
        let alerts: Vec<_> = [own, system, device, sync, removed]
            .iter()
            .flat_map(|e| pack.process(e))
            .collect();
        assert!(alerts.is_empty(), "{alerts:?}");
    }

    #[test]
    fn constrained_delegation_fires_once_per_change_and_not_for_the_system() {
        let values: Vec<_> = ["cifs/fs01", "cifs/fs01.corp.example"]
            .iter()
            .map(|v| {
                ds(
                    5136,
                    "%%14674",
                    SRV,
                    "computer",
                    "msDS-AllowedToDelegateTo",
                    v,
                )
            })
            .collect();
        let alerts = run(&values);
        assert_eq!(ids(&alerts), ["riposte.constrained_delegation_set"]);
        let system = with_actor(values[0].clone(), "DC1$", "S-1-5-18");
        assert!(run(&[system]).is_empty());
    }

    #[test]
    fn the_constrained_delegation_dev_recordings_give_t1098() {
        let kerberos_only =
            rules_and_techniques(&alerts_of("constrained-delegation-kerberos-4742-5136.evtx"));
        assert_eq!(
            kerberos_only,
            [(
                "riposte.constrained_delegation_set".to_string(),
                "T1098".to_string()
            )]
        );
        let transition = rules_and_techniques(&alerts_of(
            "constrained-delegation-protocol-transition-4742-5136.evtx",
        ));
        assert_eq!(
            transition,
            [
                ("riposte.account_weakened".to_string(), "T1098".to_string()),
                (
                    "riposte.constrained_delegation_set".to_string(),
                    "T1098".to_string()
                ),
            ]
        );
    }
}
