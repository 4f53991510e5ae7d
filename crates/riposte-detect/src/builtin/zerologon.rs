//! Zerologon's aftermath (CVE-2020-1472, T1210): a domain controller's machine account
//! password set by ANONYMOUS LOGON. Netlogon's NetrServerPasswordSet2 runs on an
//! unauthenticated channel, so member computers' routine password changes show as
//! ANONYMOUS LOGON too: only a DC's own account is the signal (a DC's password is set
//! by the DC itself, as SYSTEM or as its machine account).

use riposte_events::IdentityEvent;

use super::BuiltinPack;
use super::field;
use super::kerb_util::is_anonymous;
use crate::alert::{Alert, Severity};

pub const ZEROLOGON: (&str, &str, &str) = (
    "riposte.zerologon_dc_password_set",
    "Zerologon: a domain controller's machine password set by ANONYMOUS LOGON",
    "T1210",
);

impl BuiltinPack {
    /// 4742: a DC's account changed by ANONYMOUS LOGON with its password set.
    pub(super) fn zerologon_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        if ev.failed() || !is_anonymous(&ev.actor) || field(ev, "PasswordLastSet").is_none() {
            return;
        }
        if !self.is_dc(&ev.target, ev.computer.as_deref()) {
            return;
        }
        let key = ev.target.key().unwrap_or_default();
        if self.fresh(ZEROLOGON.0, key, now) {
            out.push(self.single(
                ZEROLOGON,
                Severity::Critical,
                format!(
                    "the password of domain controller account {} was set by ANONYMOUS LOGON on {} (Zerologon, CVE-2020-1472): the DC's secret is now the attacker's",
                    ev.target.display(),
                    ev.computer.as_deref().unwrap_or("a DC")
                ),
                ev,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kerb_util::fixtures::win;
    use crate::Detector;

    fn change(subject: &str, sid: &str, target: &str, pwd: &str) -> riposte_events::IdentityEvent {
        win(
            4742,
            "2026-01-01T08:00:00Z",
            "dc01.corp.test",
            &[
                ("SubjectUserName", subject),
                ("SubjectDomainName", "NT AUTHORITY"),
                ("SubjectUserSid", sid),
                ("TargetUserName", target),
                ("TargetDomainName", "CORP"),
                ("TargetSid", "S-1-5-21-1-2-3-1000"),
                ("PasswordLastSet", pwd),
                ("SamAccountName", "-"),
            ],
        )
    }

    #[test]
    fn a_dc_password_set_by_anonymous_logon_is_zerologon() {
        let mut d = Detector::builtin();
        let alerts = d.process(&change(
            "ANONYMOUS LOGON",
            "S-1-5-7",
            "DC01$",
            "9/14/2020 5:38:13 PM",
        ));
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, "riposte.zerologon_dc_password_set");
        assert_eq!(alerts[0].technique.as_deref(), Some("T1210"));
        assert_eq!(alerts[0].entities.users, vec!["CORP\\DC01$"]);
    }

    #[test]
    fn routine_machine_password_changes_are_not_zerologon() {
        let mut d = Detector::builtin();
        // A member computer's change through Netlogon shows as ANONYMOUS LOGON too.
        assert!(
            d.process(&change(
                "ANONYMOUS LOGON",
                "S-1-5-7",
                "WS01$",
                "1/1/2026 8:00:00 AM"
            ))
            .is_empty()
        );
        // The DC's own change, by SYSTEM or by itself.
        assert!(
            d.process(&change(
                "SYSTEM",
                "S-1-5-18",
                "DC01$",
                "1/1/2026 8:00:00 AM"
            ))
            .is_empty()
        );
        assert!(
            d.process(&change(
                "DC01$",
                "S-1-5-21-1-2-3-1000",
                "DC01$",
                "1/1/2026 8:00:00 AM"
            ))
            .is_empty()
        );
        // An anonymous change that does not set the password.
        assert!(
            d.process(&change("ANONYMOUS LOGON", "S-1-5-7", "DC01$", "-"))
                .is_empty()
        );
    }
}
