//! SID-history injection (T1134.005): a SID put in an account's sIDHistory gives it that
//! SID's rights (Domain Admins' or another domain's). Windows logs 4765 (added) and 4766
//! (an attempt failed); a 4738/4742 whose `SidHistory` field is filled, and a 5136 adding a
//! sIDHistory value, show the same write.

use riposte_events::IdentityEvent;

use super::BuiltinPack;
use super::dirchange::{DsChange, on_dc, who};
use crate::alert::{Alert, Severity};

pub const SID_HISTORY: (&str, &str, &str) = (
    "riposte.sid_history_added",
    "SID-history injection: a SID written to an account's sIDHistory",
    "T1134.005",
);

/// A filled field: not `-`, not `%%1793` (`<value not set>`), not empty.
fn filled(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim())
        .filter(|s| !s.is_empty() && *s != "-" && !s.starts_with("%%"))
}

impl BuiltinPack {
    pub(super) fn sid_history_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let (target, sid, severity) = match ev.event_id {
            4765 => (
                ev.target.display(),
                filled(ev.data.get("SidList")).unwrap_or("-").to_string(),
                Severity::Critical,
            ),
            4766 => (
                ev.target.display(),
                filled(ev.data.get("SidList")).unwrap_or("-").to_string(),
                Severity::High,
            ),
            4738 | 4742 => {
                let Some(sid) = filled(ev.data.get("SidHistory")) else {
                    return;
                };
                (ev.target.display(), sid.to_string(), Severity::Critical)
            }
            _ => {
                let Some(c) = DsChange::of(ev) else { return };
                if !c.added || c.attribute != "sidhistory" {
                    return;
                }
                (c.name(), c.value.to_string(), Severity::Critical)
            }
        };
        if self.fresh(
            SID_HISTORY.0,
            format!("{}|{sid}", target.to_ascii_lowercase()),
            now,
        ) {
            let verb = if ev.event_id == 4766 {
                "tried to add"
            } else {
                "added"
            };
            let shown = if sid.is_empty() || sid == "-" {
                "a SID".to_string()
            } else {
                sid.clone()
            };
            let desc = format!(
                "{} {verb} {shown} to the SID history of {target}{}",
                who(ev),
                on_dc(ev)
            );
            let mut alert = self.dir_alert(SID_HISTORY, severity, desc, ev, &target);
            if ev.event_id == 4766 {
                // A failed attempt changed nobody, and its target is whatever the caller
                // named: automation must not act on it as a changed account.
                alert.entities.users.clear();
            }
            out.push(alert);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dirchange::test_support::{ADMIN, ds, event, ids, run};

    fn account_change(id: u32, sid_history: &str) -> riposte_events::IdentityEvent {
        let mut f = ADMIN.to_vec();
        f.extend([
            ("TargetUserName", "bob"),
            ("TargetDomainName", "CORP"),
            ("TargetSid", "S-1-5-21-1-2-3-1107"),
            ("SidHistory", sid_history),
        ]);
        event(id, &f)
    }

    #[test]
    fn sid_history_added_fires_from_every_shape() {
        let mut f = ADMIN.to_vec();
        f.extend([
            ("TargetUserName", "bob"),
            ("TargetDomainName", "CORP"),
            ("SidList", "%{S-1-5-21-1-2-3-512}"),
        ]);
        let failed = run(&[event(4766, &f)]);
        assert_eq!(ids(&failed), ["riposte.sid_history_added"]);
        assert!(failed[0].entities.users.is_empty(), "{failed:?}");
        assert_eq!(failed[0].entities.actors, ["CORP\\mallory"]);
        for ev in [
            event(4765, &f),
            account_change(4738, "S-1-5-21-1-2-3-512"),
            ds(
                5136,
                "%%14674",
                "CN=bob,CN=Users,DC=corp,DC=example",
                "user",
                "sIDHistory",
                "S-1-5-21-1-2-3-519",
            ),
        ] {
            let alerts = run(&[ev]);
            assert_eq!(ids(&alerts), ["riposte.sid_history_added"]);
            assert_eq!(alerts[0].technique.as_deref(), Some("T1134.005"));
            assert!(alerts[0].entities.users[0].contains("bob"), "{alerts:?}");
            assert_eq!(alerts[0].entities.actors, ["CORP\\mallory"]);
        }
    }

    #[test]
    fn an_account_change_without_sid_history_does_not_fire() {
        let removed = ds(
            5136,
            "%%14675",
            "CN=bob,CN=Users,DC=corp,DC=example",
            "user",
            "sIDHistory",
            "S-1-5-21-9-9-9-1000",
        );
        let alerts = run(&[
            account_change(4738, "-"),
            account_change(4742, "%%1793"),
            removed,
        ]);
        assert!(alerts.is_empty(), "{alerts:?}");
    }
}
