//! Pass-the-hash (T1550.002) as the logon shows it (4624):
//! - logon type 9 (NewCredentials) by `seclogo`: a process given other credentials for the
//!   network only, which is what mimikatz `sekurlsa::pth` does, and also `runas /netonly`.
//!   The event cannot tell the two apart, so a configured admin's (`admins`) type 9 logons
//!   are taken as runas /netonly and not reported; anyone else's are.
//! - an NTLM network logon (type 3, NtLmSsp, NTLM) with no session key (KeyLength 0), not
//!   anonymous, to a local account of the host (its domain is the host's own name): tools
//!   that authenticate with a hash and skip session security (local admin hashes are what
//!   moves laterally). Windows clients negotiate a 128-bit key for SMB, so a file-share
//!   logon never matches; NTLM over HTTP has no key either, even from the host itself
//!   (Exchange's health probes), which is why domain accounts are left out.

use riposte_events::IdentityEvent;

use super::field;
use super::kerb_util::is_anonymous;
use super::{BuiltinPack, host_label};
use crate::alert::{Alert, Severity};

pub const PTH_NEW_CREDENTIALS: (&str, &str, &str) = (
    "riposte.pass_the_hash_new_credentials",
    "Pass-the-hash: a process started with other credentials for the network (logon type 9, seclogo)",
    "T1550.002",
);
pub const PTH_NTLM_LOGON: (&str, &str, &str) = (
    "riposte.pass_the_hash_ntlm_logon",
    "Pass-the-hash: NTLM network logon without a session key to a local account",
    "T1550.002",
);

impl BuiltinPack {
    pub(super) fn pass_the_hash_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        if ev.failed() {
            return;
        }
        let process = field(ev, "LogonProcessName")
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match ev.logon_type {
            Some(9) if process == "seclogo" => {
                if Self::listed(&self.cfg.admins, &ev.actor) {
                    return;
                }
                let injected = match (
                    field(ev, "TargetOutboundDomainName"),
                    field(ev, "TargetOutboundUserName"),
                ) {
                    (Some(d), Some(u)) => Some(format!("{d}\\{u}")),
                    (None, Some(u)) => Some(u.to_string()),
                    _ => None,
                };
                let key = format!(
                    "{}|{}",
                    ev.actor.key().unwrap_or_default(),
                    injected.as_deref().unwrap_or("")
                );
                if self.fresh(PTH_NEW_CREDENTIALS.0, key, now) {
                    let mut alert = self.single(
                        PTH_NEW_CREDENTIALS,
                        Severity::High,
                        format!(
                            "{} started a process on {} with network credentials {} (logon type 9 by seclogo: mimikatz sekurlsa::pth or runas /netonly; list the account in admins if it is an admin's runas)",
                            ev.actor.display(),
                            ev.computer.as_deref().unwrap_or("a host"),
                            injected.as_deref().unwrap_or("of another account")
                        ),
                        ev,
                    );
                    if let Some(u) = &injected {
                        alert.entities.users = vec![u.clone()];
                    }
                    out.push(alert);
                }
            }
            Some(3) => {
                let ntlm = field(ev, "AuthenticationPackageName")
                    .is_some_and(|p| p.eq_ignore_ascii_case("NTLM"));
                let no_key = field(ev, "KeyLength") == Some("0");
                if !ntlm
                    || !no_key
                    || process != "ntlmssp"
                    || is_anonymous(&ev.target)
                    || ev.target.is_machine()
                {
                    return;
                }
                let host = ev.computer.as_deref().map(host_label).unwrap_or_default();
                let local_account = ev
                    .target
                    .domain
                    .as_deref()
                    .is_some_and(|d| !host.is_empty() && d.eq_ignore_ascii_case(&host));
                if !local_account {
                    return;
                }
                let key = format!(
                    "{}|{}",
                    ev.target.key().unwrap_or_default(),
                    ev.source().unwrap_or("")
                );
                if self.fresh(PTH_NTLM_LOGON.0, key, now) {
                    out.push(self.single(
                        PTH_NTLM_LOGON,
                        Severity::High,
                        format!(
                            "local account {} logged on to {} over NTLM from {} without a session key (KeyLength 0): a hash used by a tool, not a Windows client",
                            ev.target.display(),
                            ev.computer.as_deref().unwrap_or("a host"),
                            ev.source().unwrap_or("an unknown source"),
                        ),
                        ev,
                    ));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kerb_util::fixtures::win;
    use crate::builtin::dev_recordings::{alerts_of, rules_and_techniques};
    use crate::{DetectConfig, Detector};

    fn rules(d: &mut Detector, ev: &riposte_events::IdentityEvent) -> Vec<String> {
        d.process(ev).into_iter().map(|a| a.rule_id).collect()
    }

    fn netonly(subject: &str) -> riposte_events::IdentityEvent {
        win(
            4624,
            "2026-01-01T08:00:00Z",
            "ws01.corp.test",
            &[
                ("SubjectUserName", subject),
                ("SubjectDomainName", "CORP"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-1105"),
                ("TargetUserName", subject),
                ("TargetDomainName", "CORP"),
                ("LogonType", "9"),
                ("LogonProcessName", "seclogo"),
                ("AuthenticationPackageName", "Negotiate"),
                ("TargetOutboundUserName", "Administrator"),
                ("TargetOutboundDomainName", "CORP"),
                ("IpAddress", "::1"),
            ],
        )
    }

    fn ntlm(key: &str, domain: &str, ip: &str, ws: &str) -> riposte_events::IdentityEvent {
        win(
            4624,
            "2026-01-01T08:00:00Z",
            "srv01.corp.test",
            &[
                ("TargetUserName", "user03"),
                ("TargetDomainName", domain),
                ("TargetUserSid", "S-1-5-21-9-9-9-1010"),
                ("LogonType", "3"),
                ("LogonProcessName", "NtLmSsp "),
                ("AuthenticationPackageName", "NTLM"),
                ("LmPackageName", "NTLM V2"),
                ("KeyLength", key),
                ("IpAddress", ip),
                ("WorkstationName", ws),
                ("SubjectUserSid", "S-1-0-0"),
            ],
        )
    }

    #[test]
    fn a_type_9_seclogo_logon_is_pass_the_hash_unless_a_configured_admin_ran_it() {
        let mut d = Detector::builtin();
        let alerts = d.process(&netonly("bob"));
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, "riposte.pass_the_hash_new_credentials");
        assert_eq!(alerts[0].technique.as_deref(), Some("T1550.002"));
        assert_eq!(alerts[0].entities.users, vec!["CORP\\Administrator"]);
        assert_eq!(alerts[0].entities.actors, vec!["CORP\\bob"]);
        let cfg = DetectConfig {
            admins: vec!["adm-alice".into()],
            ..DetectConfig::default()
        };
        let mut d = Detector::new(cfg, None);
        assert!(
            rules(&mut d, &netonly("adm-alice")).is_empty(),
            "runas /netonly by an admin"
        );
    }

    #[test]
    fn keyless_ntlm_to_a_local_account_is_pass_the_hash() {
        let mut d = Detector::builtin();
        assert_eq!(
            rules(&mut d, &ntlm("0", "SRV01", "10.0.0.9", "KALI")),
            vec!["riposte.pass_the_hash_ntlm_logon"]
        );
        let mut d = Detector::builtin();
        assert_eq!(
            rules(&mut d, &ntlm("0", "SRV01", "127.0.0.1", "SRV01")),
            vec!["riposte.pass_the_hash_ntlm_logon"]
        );
    }

    #[test]
    fn ordinary_ntlm_logons_are_not_pass_the_hash() {
        let mut d = Detector::builtin();
        // A file-share logon negotiates a session key.
        assert!(rules(&mut d, &ntlm("128", "SRV01", "10.0.0.9", "WS07")).is_empty());
        assert!(rules(&mut d, &ntlm("128", "CORP", "10.0.0.9", "WS07")).is_empty());
        // NTLM over HTTP to a domain account has no key either, from another host or from
        // the host itself (health probes).
        assert!(rules(&mut d, &ntlm("0", "CORP", "10.0.0.9", "WS07")).is_empty());
        assert!(rules(&mut d, &ntlm("0", "CORP", "127.0.0.1", "SRV01")).is_empty());
        // Anonymous logons have no key.
        let mut anon = ntlm("0", "NT AUTHORITY", "127.0.0.1", "SRV01");
        anon.target.name = Some("ANONYMOUS LOGON".into());
        anon.target.sid = Some("S-1-5-7".into());
        assert!(rules(&mut d, &anon).is_empty());
    }

    #[test]
    fn the_local_pass_the_hash_recording_gives_t1550_002() {
        let got = rules_and_techniques(&alerts_of("pass-the-hash-local-4624.evtx"));
        assert_eq!(
            got,
            vec![(
                "riposte.pass_the_hash_ntlm_logon".to_string(),
                "T1550.002".to_string()
            )]
        );
    }
}
