//! Passwords set in ways admins do not (T1098): a DC's machine account reset by someone
//! else (what follows Zerologon), a reset or change through SAMR over an NTLM network
//! logon (mimikatz's setNTLM / changeNTLM, impacket), a password changed by another
//! account that knew the old one or its hash, and the DSRM administrator password set.
//! The non-admin reset rule (`riposte.password_reset_by_non_admin`) stays as it is; these
//! cover what it leaves out (admins and tools).

use std::collections::HashMap;

use riposte_events::{IdentityEvent, SourceFormat};

use super::BuiltinPack;
use super::field;
use super::kerb_util::{account_name, is_anonymous};
use crate::alert::{Alert, Severity};

pub const DC_MACHINE_RESET: (&str, &str, &str) = (
    "riposte.dc_machine_password_reset",
    "Account manipulation: a domain controller's machine password reset by another account",
    "T1098",
);
pub const SAMR_NTLM_PASSWORD: (&str, &str, &str) = (
    "riposte.samr_password_set_over_ntlm",
    "Account manipulation: password reset or changed through SAMR over an NTLM network logon",
    "T1098",
);
pub const PASSWORD_CHANGED_BY_OTHER: (&str, &str, &str) = (
    "riposte.password_changed_by_other_account",
    "Account manipulation: password changed by another account with the old password or hash",
    "T1098",
);

/// A logon session kept for an hour: long enough for a tool's SAMR calls.
const SESSION_SECS: i64 = 60 * 60;
const MAX_SESSIONS: usize = 10_000;

/// NTLM network logon sessions per (host, logon id), and whether they opened `\pipe\samr`.
#[derive(Default)]
pub(super) struct SamrState {
    sessions: HashMap<(String, String), Session>,
}

struct Session {
    time: i64,
    source: Option<String>,
    samr: bool,
}

fn session_key(ev: &IdentityEvent, id_field: &str) -> Option<(String, String)> {
    let id = field(ev, id_field)?.to_ascii_lowercase();
    if id == "0x0" || id == "0x3e7" {
        return None;
    }
    Some((
        ev.computer.as_deref().unwrap_or("").to_ascii_lowercase(),
        id,
    ))
}

impl BuiltinPack {
    /// 4624 (NTLM network logons) and 5145 (`samr` on IPC$): the sessions a SAMR password
    /// call can come from.
    pub(super) fn samr_sessions(&mut self, ev: &IdentityEvent, now: i64) {
        if ev.event_id == 4624 {
            let ntlm = field(ev, "AuthenticationPackageName")
                .is_some_and(|p| p.eq_ignore_ascii_case("NTLM"));
            if ev.failed() || ev.logon_type != Some(3) || !ntlm || is_anonymous(&ev.target) {
                return;
            }
            let Some(key) = session_key(ev, "TargetLogonId") else {
                return;
            };
            let sessions = &mut self.samr.sessions;
            if sessions.len() >= MAX_SESSIONS {
                sessions.retain(|_, s| now - s.time <= SESSION_SECS);
                if sessions.len() >= MAX_SESSIONS {
                    sessions.clear();
                }
            }
            sessions.insert(
                key,
                Session {
                    time: now,
                    source: ev.source().map(str::to_string),
                    samr: false,
                },
            );
        } else if ev.event_id == 5145 {
            let ipc =
                field(ev, "ShareName").is_some_and(|s| s.to_ascii_uppercase().ends_with("\\IPC$"));
            let samr =
                field(ev, "RelativeTargetName").is_some_and(|p| p.eq_ignore_ascii_case("samr"));
            if ipc
                && samr
                && let Some(key) = session_key(ev, "SubjectLogonId")
                && let Some(s) = self.samr.sessions.get_mut(&key)
            {
                s.samr = true;
            }
        }
    }

    /// 4724 (reset) and 4723 (change).
    pub(super) fn password_set_rules(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        if ev.failed() || ev.actor.is_empty() {
            return;
        }
        let target = ev
            .target
            .name
            .as_deref()
            .map(account_name)
            .unwrap_or_default();
        let actor = ev
            .actor
            .name
            .as_deref()
            .map(account_name)
            .unwrap_or_default();
        let system = ev.actor.sid.as_deref() == Some("S-1-5-18");
        // A DC's machine password is set by the DC itself; anyone else breaks (or takes) it.
        if ev.event_id == 4724
            && !system
            && actor != target
            && self.is_dc(&ev.target, ev.computer.as_deref())
        {
            let key = format!("{actor}|{target}");
            if self.fresh(DC_MACHINE_RESET.0, key, now) {
                out.push(self.single(
                    DC_MACHINE_RESET,
                    Severity::Critical,
                    format!(
                        "{} reset the machine password of domain controller {} on {}: only the DC sets its own (this follows Zerologon or takes over the DC's account)",
                        ev.actor.display(),
                        ev.target.display(),
                        ev.computer.as_deref().unwrap_or("a DC")
                    ),
                    ev,
                ));
            }
            return;
        }
        let via = session_key(ev, "SubjectLogonId")
            .and_then(|k| self.samr.sessions.get(&k))
            .filter(|s| s.samr && now - s.time <= SESSION_SECS)
            .map(|s| {
                s.source
                    .clone()
                    .unwrap_or_else(|| "an unknown source".into())
            });
        if let Some(source) = via
            && !(ev.event_id == 4723 && actor == target)
        {
            let key = format!("{actor}|{target}");
            if self.fresh(SAMR_NTLM_PASSWORD.0, key, now) {
                out.push(self.single(
                    SAMR_NTLM_PASSWORD,
                    Severity::High,
                    format!(
                        "{} {} the password of {} through SAMR over an NTLM network logon from {source} (how mimikatz setNTLM/changeNTLM and impacket do it; admins use their directory tools)",
                        ev.actor.display(),
                        if ev.event_id == 4724 { "reset" } else { "changed" },
                        ev.target.display()
                    ),
                    ev,
                ));
            }
            return;
        }
        // A change (not a reset) needs the old password: by another account it means the
        // old password or hash was known (changeNTLM). Samba names actors by SID only.
        if ev.event_id == 4723
            && ev.format != SourceFormat::Samba
            && !actor.is_empty()
            && !target.is_empty()
            && actor != target
            && !system
            && !is_anonymous(&ev.actor)
            && !ev.actor.is_machine()
        {
            let key = format!("{actor}|{target}");
            if self.fresh(PASSWORD_CHANGED_BY_OTHER.0, key, now) {
                out.push(self.single(
                    PASSWORD_CHANGED_BY_OTHER,
                    Severity::High,
                    format!(
                        "{} changed the password of {} with its old password or hash (a change, not a reset: changeNTLM)",
                        ev.actor.display(),
                        ev.target.display()
                    ),
                    ev,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kerb_util::fixtures::win;
    use crate::{DetectConfig, Detector};

    fn rules(d: &mut Detector, ev: &riposte_events::IdentityEvent) -> Vec<String> {
        d.process(ev).into_iter().map(|a| a.rule_id).collect()
    }

    fn logon(id: &str, package: &str) -> riposte_events::IdentityEvent {
        win(
            4624,
            "2026-01-01T08:00:00Z",
            "dc01.corp.test",
            &[
                ("TargetUserName", "helpdesk"),
                ("TargetDomainName", "CORP"),
                ("TargetUserSid", "S-1-5-21-1-2-3-1300"),
                ("TargetLogonId", id),
                ("LogonType", "3"),
                ("AuthenticationPackageName", package),
                (
                    "LogonProcessName",
                    if package == "NTLM" {
                        "NtLmSsp "
                    } else {
                        "Kerberos"
                    },
                ),
                ("KeyLength", if package == "NTLM" { "128" } else { "0" }),
                ("IpAddress", "10.0.0.66"),
                ("WorkstationName", "KALI"),
            ],
        )
    }

    fn samr_pipe(id: &str) -> riposte_events::IdentityEvent {
        win(
            5145,
            "2026-01-01T08:00:01Z",
            "dc01.corp.test",
            &[
                ("ShareName", "\\\\*\\IPC$"),
                ("RelativeTargetName", "samr"),
                ("SubjectUserName", "helpdesk"),
                ("SubjectLogonId", id),
                ("IpAddress", "10.0.0.66"),
            ],
        )
    }

    fn set(event: u32, id: &str, actor: &str, target: &str) -> riposte_events::IdentityEvent {
        win(
            event,
            "2026-01-01T08:00:02Z",
            "dc01.corp.test",
            &[
                ("SubjectUserName", actor),
                ("SubjectDomainName", "CORP"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-1300"),
                ("SubjectLogonId", id),
                ("TargetUserName", target),
                ("TargetDomainName", "CORP"),
                ("TargetSid", "S-1-5-21-1-2-3-1400"),
            ],
        )
    }

    fn admin_cfg() -> DetectConfig {
        DetectConfig {
            admins: vec!["helpdesk".into()],
            ..DetectConfig::default()
        }
    }

    #[test]
    fn a_reset_through_samr_over_ntlm_is_reported_even_by_an_admin() {
        let mut d = Detector::new(admin_cfg(), None);
        assert!(rules(&mut d, &logon("0x853237", "NTLM")).is_empty());
        assert!(rules(&mut d, &samr_pipe("0x853237")).is_empty());
        assert_eq!(
            rules(&mut d, &set(4724, "0x853237", "helpdesk", "bob")),
            vec!["riposte.samr_password_set_over_ntlm"]
        );
        assert_eq!(
            rules(&mut d, &set(4723, "0x853237", "helpdesk", "carol")),
            vec!["riposte.samr_password_set_over_ntlm"]
        );
    }

    #[test]
    fn a_helpdesk_admin_reset_over_kerberos_or_without_samr_is_quiet() {
        let mut d = Detector::new(admin_cfg(), None);
        assert!(rules(&mut d, &logon("0x1001", "Kerberos")).is_empty());
        assert!(rules(&mut d, &samr_pipe("0x1001")).is_empty());
        assert!(rules(&mut d, &set(4724, "0x1001", "helpdesk", "bob")).is_empty());
        // NTLM logon without the samr pipe (e.g. LDAP password set after a file-share logon).
        assert!(rules(&mut d, &logon("0x1002", "NTLM")).is_empty());
        assert!(rules(&mut d, &set(4724, "0x1002", "helpdesk", "bob")).is_empty());
        // A user changing their own password.
        assert!(rules(&mut d, &set(4723, "0x1003", "bob", "bob")).is_empty());
    }

    #[test]
    fn a_password_changed_by_another_account_is_changentlm() {
        let mut d = Detector::builtin();
        assert_eq!(
            rules(&mut d, &set(4723, "0x2001", "mallory", "bob")),
            vec!["riposte.password_changed_by_other_account"]
        );
    }

    #[test]
    fn a_dc_machine_password_reset_by_an_admin_is_reported_but_not_by_the_dc() {
        let mut d = Detector::new(admin_cfg(), None);
        let mut reset = set(4724, "0x3001", "Administrator", "DC01$");
        reset
            .data
            .insert("SubjectUserSid".into(), "S-1-5-21-1-2-3-500".into());
        let reset = win(
            4724,
            "2026-01-01T08:00:02Z",
            "dc01.corp.test",
            &reset
                .data
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            rules(&mut d, &reset),
            vec!["riposte.dc_machine_password_reset"]
        );
        let own = win(
            4724,
            "2026-01-01T08:00:03Z",
            "dc01.corp.test",
            &[
                ("SubjectUserName", "DC01$"),
                ("SubjectUserSid", "S-1-5-18"),
                ("TargetUserName", "DC01$"),
                ("TargetSid", "S-1-5-21-1-2-3-1000"),
            ],
        );
        assert!(rules(&mut d, &own).is_empty());
        // A member computer's reset by an admin is ordinary.
        assert!(rules(&mut d, &set(4724, "0x3002", "helpdesk", "WS01$")).is_empty());
    }

    /// The DSRM rule is policy.rs's; this holds it on a Windows-shaped 4794.
    #[test]
    fn the_dsrm_password_set_is_reported() {
        let mut d = Detector::builtin();
        let ev = win(
            4794,
            "2026-01-01T08:00:00Z",
            "dc01.corp.test",
            &[
                ("SubjectUserName", "Administrator"),
                ("SubjectDomainName", "CORP"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-500"),
                ("Workstation", "DC01"),
                ("Status", "0x0"),
            ],
        );
        let alerts = d.process(&ev);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, "riposte.dsrm_password_set");
        assert_eq!(alerts[0].technique.as_deref(), Some("T1098"));
    }

    #[test]
    fn the_samr_reset_recording_is_a_dc_password_reset() {
        let alerts =
            crate::builtin::dev_recordings::alerts_of("samr-password-reset-mimikatz-4724.evtx");
        assert_eq!(
            crate::builtin::dev_recordings::rules_and_techniques(&alerts),
            vec![(
                "riposte.dc_machine_password_reset".to_string(),
                "T1098".to_string()
            )]
        );
    }
}
