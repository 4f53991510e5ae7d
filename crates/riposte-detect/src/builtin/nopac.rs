//! noPac / sAMAccountName spoofing (CVE-2021-42278 and CVE-2021-42287): a computer account
//! renamed to a name without the trailing `$` (often a DC's name), then a TGT asked for
//! that name and service tickets (S4U2self) issued for it once the name is gone, which the
//! KDC resolves to the DC's own account. ATT&CK: T1068 (exploitation for privilege
//! escalation), as MITRE maps the CVE pair.

use std::collections::HashSet;

use riposte_events::IdentityEvent;

use super::field;
use super::kerb_util::account_name;
use super::{BuiltinPack, host_label, lower_short};
use crate::alert::{Alert, Severity};

pub const SAM_NAME_SPOOFING: (&str, &str, &str) = (
    "riposte.samaccountname_spoofing",
    "sAMAccountName spoofing (noPac): computer renamed without its trailing $, or tickets for such a name",
    "T1068",
);

/// Names (lower case) computers were renamed to without a `$`: tickets for them are noPac.
#[derive(Default)]
pub(super) struct NoPacState {
    spoofed: HashSet<String>,
}

impl BuiltinPack {
    /// The DC whose name `name` (without `$`) is, if any.
    fn dc_named(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        !n.is_empty()
            && (self.learned_dcs.contains(&n)
                || self
                    .cfg
                    .domain_controllers
                    .iter()
                    .any(|d| host_label(&lower_short(d)) == n))
    }

    /// 4781 (renamed) and 4742 (SamAccountName changed): a computer account that loses its `$`.
    pub(super) fn computer_rename_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        if ev.failed() {
            return;
        }
        let (old, new) = match ev.event_id {
            4781 => (
                field(ev, "OldTargetUserName"),
                field(ev, "NewTargetUserName"),
            ),
            // 4742 is about a computer; SamAccountName is "-" unless it changed.
            _ => (field(ev, "TargetUserName"), field(ev, "SamAccountName")),
        };
        let (Some(old), Some(new)) = (old, new) else {
            return;
        };
        let computer = old.ends_with('$') || ev.event_id == 4742;
        if !computer || new.ends_with('$') {
            return;
        }
        let new_key = account_name(new);
        if self.nopac.spoofed.len() >= self.cfg.max_groups.max(1) {
            self.nopac.spoofed.clear();
        }
        self.nopac.spoofed.insert(new_key.clone());
        let dc = self.dc_named(&new_key);
        if self.fresh(SAM_NAME_SPOOFING.0, format!("rename|{new_key}"), now) {
            let mut alert = self.single(
                SAM_NAME_SPOOFING,
                if dc { Severity::Critical } else { Severity::High },
                format!(
                    "{} renamed computer account {old} to {new}, without the trailing $ every computer name has{}",
                    ev.actor.display(),
                    if dc {
                        ": that is a domain controller's name (noPac, CVE-2021-42278)"
                    } else {
                        " (sAMAccountName spoofing, CVE-2021-42278)"
                    }
                ),
                ev,
            );
            alert.entities.users.retain(|u| !u.starts_with("S-1-"));
            for u in [old, new] {
                alert.entities.add_user(u);
            }
            out.push(alert);
        }
    }

    /// 4768/4769: a ticket for a DC's name without its `$`, or for a name a computer was
    /// just renamed to.
    pub(super) fn spoofed_name_ticket_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        if ev.failed() {
            return;
        }
        let Some(raw) = field(ev, "TargetUserName") else {
            return;
        };
        let name = account_name(raw);
        if name.is_empty() || name.ends_with('$') {
            return;
        }
        let dc = self.dc_named(&name);
        if !dc && !self.nopac.spoofed.contains(&name) {
            return;
        }
        let kind = if ev.event_id == 4768 {
            "TGT"
        } else {
            "service ticket"
        };
        if self.fresh(
            SAM_NAME_SPOOFING.0,
            format!("ticket|{name}|{}", ev.event_id),
            now,
        ) {
            out.push(self.single(
                SAM_NAME_SPOOFING,
                Severity::Critical,
                format!(
                    "a {kind} was issued for {raw}{} from {}: with the name gone, the KDC resolves it to the DC's own account (noPac, CVE-2021-42287)",
                    if dc { ", a domain controller's name without its $," } else { ", a name a computer account was renamed to," },
                    ev.source().unwrap_or("an unknown source")
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

    fn rules(d: &mut Detector, ev: &riposte_events::IdentityEvent) -> Vec<String> {
        d.process(ev).into_iter().map(|a| a.rule_id).collect()
    }

    fn kdc(id: u32, time: &str, user: &str) -> riposte_events::IdentityEvent {
        win(
            id,
            time,
            "dc01.corp.test",
            &[
                ("TargetUserName", user),
                ("TargetDomainName", "CORP.TEST"),
                ("ServiceName", if id == 4768 { "krbtgt" } else { "DC01$" }),
                ("Status", "0x0"),
                ("TicketEncryptionType", "0x12"),
                ("IpAddress", "::ffff:10.0.0.66"),
            ],
        )
    }

    #[test]
    fn a_computer_renamed_to_a_dc_name_then_tickets_for_it_is_nopac() {
        let mut d = Detector::builtin();
        // The DC is known from its own KDC events.
        assert!(rules(&mut d, &kdc(4768, "2026-01-01T08:00:00Z", "DC01$")).is_empty());
        let rename = win(
            4781,
            "2026-01-01T08:01:00Z",
            "dc01.corp.test",
            &[
                ("OldTargetUserName", "EVIL01$"),
                ("NewTargetUserName", "DC01"),
                ("TargetDomainName", "CORP"),
                ("TargetSid", "S-1-5-21-1-2-3-1201"),
                ("SubjectUserName", "bob"),
                ("SubjectDomainName", "CORP"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-1105"),
            ],
        );
        let alerts = d.process(&rename);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, "riposte.samaccountname_spoofing");
        assert_eq!(alerts[0].technique.as_deref(), Some("T1068"));
        assert!(
            alerts[0].entities.users.contains(&"DC01".to_string()),
            "{:?}",
            alerts[0].entities
        );
        assert_eq!(alerts[0].entities.actors, vec!["CORP\\bob"]);
        assert_eq!(
            rules(&mut d, &kdc(4768, "2026-01-01T08:01:30Z", "DC01")),
            vec!["riposte.samaccountname_spoofing"]
        );
        assert_eq!(
            rules(&mut d, &kdc(4769, "2026-01-01T08:02:00Z", "DC01@CORP.TEST")),
            vec!["riposte.samaccountname_spoofing"]
        );
    }

    #[test]
    fn samaccountname_changed_in_4742_without_dollar_is_spoofing() {
        let mut d = Detector::builtin();
        let change = win(
            4742,
            "2026-01-01T08:01:00Z",
            "dc01.corp.test",
            &[
                ("TargetUserName", "EVIL01$"),
                ("SamAccountName", "SRV-FILE"),
                ("TargetSid", "S-1-5-21-1-2-3-1201"),
                ("SubjectUserName", "bob"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-1105"),
                ("PasswordLastSet", "-"),
            ],
        );
        assert_eq!(
            rules(&mut d, &change),
            vec!["riposte.samaccountname_spoofing"]
        );
    }

    #[test]
    fn ordinary_renames_and_tickets_are_not_nopac() {
        let mut d = Detector::builtin();
        assert!(rules(&mut d, &kdc(4768, "2026-01-01T08:00:00Z", "DC01$")).is_empty());
        // A computer renamed by an admin keeps its $; a user rename never had one.
        for (old, new) in [("WS01$", "WS02$"), ("jdoe", "john.doe")] {
            let r = win(
                4781,
                "2026-01-01T08:01:00Z",
                "dc01.corp.test",
                &[
                    ("OldTargetUserName", old),
                    ("NewTargetUserName", new),
                    ("SubjectUserName", "admin"),
                    ("SubjectUserSid", "S-1-5-21-1-2-3-500"),
                ],
            );
            assert!(rules(&mut d, &r).is_empty(), "{old} -> {new}");
        }
        // 4742 that does not change the name.
        let change = win(
            4742,
            "2026-01-01T08:01:00Z",
            "dc01.corp.test",
            &[
                ("TargetUserName", "WS01$"),
                ("SamAccountName", "-"),
                ("SubjectUserName", "admin"),
            ],
        );
        assert!(rules(&mut d, &change).is_empty());
        assert!(rules(&mut d, &kdc(4768, "2026-01-01T08:02:00Z", "alice")).is_empty());
        assert!(
            rules(
                &mut d,
                &kdc(4769, "2026-01-01T08:02:00Z", "DC01$@CORP.TEST")
            )
            .is_empty()
        );
    }
}
