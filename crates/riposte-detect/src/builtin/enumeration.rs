//! Account discovery (T1087.002): Kerberos user enumeration (many names the KDC does not
//! know, 4768/4771 status 0x6, from one source) and any read of a configured decoy
//! account's properties (4662). Anyone can make the KDC fail for names of their choice,
//! so the enumeration alert's `users` are attacked, never compromised (the automation
//! trust rule knows its rule id).

use riposte_events::IdentityEvent;

use super::field;
use super::{BuiltinPack, Windows};
use crate::alert::{Alert, Severity};

pub const USER_ENUMERATION: (&str, &str, &str) = (
    "riposte.kerberos_user_enumeration",
    "Account discovery: Kerberos pre-authentication asked for many unknown names from one source",
    "T1087.002",
);
pub const DECOY_READ: (&str, &str, &str) = (
    "riposte.decoy_account_read",
    "Account discovery: a decoy account's properties were read",
    "T1087.002",
);

/// KDC_ERR_C_PRINCIPAL_UNKNOWN.
const UNKNOWN_PRINCIPAL: &str = "0x6";
/// Read Property (ADS_RIGHT_DS_READ_PROP).
const READ_PROPERTY: u32 = 0x10;

pub(super) fn enumeration_windows(max_groups: usize, threshold: usize, max_refs: usize) -> Windows {
    Windows::new(
        max_groups,
        (threshold * 4).max(64),
        (threshold * 2).max(10).min(max_refs),
    )
}

/// A decoy as written in `decoys` or in an event: lower case, no braces, `%{..}` or spaces after commas.
fn decoy_form(s: &str) -> String {
    let t = s
        .trim()
        .trim_start_matches('%')
        .trim_start_matches('{')
        .trim_end_matches('}');
    t.split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase()
}

impl BuiltinPack {
    /// 4768/4771 failures: unknown names per source. Fires when the source asked for
    /// `min_unknown` distinct unknown names and unknown names are most of its failures (a
    /// password spray whose list holds some stale names stays a spray).
    pub(super) fn user_enumeration_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let (Some(src), Some(name)) = (ev.source(), ev.target.key()) else {
            return;
        };
        let src = src.to_ascii_lowercase();
        let unknown = ev.status.as_deref() == Some(UNKNOWN_PRINCIPAL);
        // Only names and passwords count: other failures (pre-auth required, clock skew,
        // disabled) say nothing either way.
        if !unknown && !ev.bad_password() {
            return;
        }
        let cfg = self.cfg.user_enumeration.clone();
        let max_events = self.cfg.max_events_per_alert;
        let value = format!("{}:{name}", if unknown { 'u' } else { 'p' });
        let g = self.enumeration.push(&src, now, cfg.window_secs, value, ev);
        let mut names: Vec<&str> = g
            .entries
            .iter()
            .filter_map(|(_, v)| v.strip_prefix("u:"))
            .collect();
        let unknown_failures = names.len();
        let other_failures = g.entries.len() - unknown_failures;
        names.sort_unstable();
        names.dedup();
        let n = names.len();
        if unknown
            && n >= cfg.min_unknown.max(1)
            && unknown_failures > other_failures
            && g.suppressed_until <= now
        {
            g.suppressed_until = now + cfg.window_secs;
            out.push(Self::windowed_alert(
                USER_ENUMERATION,
                Severity::Medium,
                format!(
                    "{src} asked the KDC for {n} names it does not know (KDC_ERR_C_PRINCIPAL_UNKNOWN) within {} minutes: a user name list is being tried",
                    cfg.window_secs / 60
                ),
                g,
                max_events,
            ));
        }
    }

    /// 4662: Read Property on a configured decoy object, by anyone but SYSTEM and the DCs.
    pub(super) fn decoy_read_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        if self.cfg.decoys.is_empty() || ev.failed() {
            return;
        }
        let Some(object) = field(ev, "ObjectName").map(decoy_form) else {
            return;
        };
        let Some(decoy) = self
            .cfg
            .decoys
            .iter()
            .find(|d| decoy_form(d) == object)
            .cloned()
        else {
            return;
        };
        let mask = field(ev, "AccessMask")
            .and_then(|m| {
                u32::from_str_radix(m.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()
            })
            .unwrap_or(0);
        let read = mask & READ_PROPERTY != 0
            || field(ev, "Accesses").is_some_and(|a| a.contains("%%7684"));
        if !read || self.is_dc(&ev.actor, ev.computer.as_deref()) {
            return;
        }
        let key = format!("{}|{object}", ev.actor.key().unwrap_or_default());
        if self.fresh(DECOY_READ.0, key, now) {
            let mut alert = self.single(
                DECOY_READ,
                Severity::High,
                format!(
                    "{} read the properties of decoy account {decoy} on {}: nobody has a reason to, so whoever did is enumerating the directory",
                    ev.actor.display(),
                    ev.computer.as_deref().unwrap_or("a DC")
                ),
                ev,
            );
            alert.entities.users = vec![decoy];
            out.push(alert);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kerb_util::fixtures::win;
    use crate::{DetectConfig, Detector};

    fn failure(
        id: u32,
        time: &str,
        user: &str,
        status: &str,
        ip: &str,
    ) -> riposte_events::IdentityEvent {
        win(
            id,
            time,
            "dc01.corp.test",
            &[
                ("TargetUserName", user),
                ("TargetDomainName", "CORP.TEST"),
                ("ServiceName", "krbtgt/CORP.TEST"),
                ("Status", status),
                ("TicketEncryptionType", "0xffffffff"),
                ("IpAddress", ip),
            ],
        )
    }

    #[test]
    fn many_unknown_names_from_one_source_is_enumeration() {
        let mut d = Detector::builtin();
        let mut got = Vec::new();
        for i in 0..12 {
            let t = format!("2026-01-01T08:00:{i:02}Z");
            got.extend(d.process(&failure(4768, &t, &format!("guess{i}"), "0x6", "10.0.0.66")));
        }
        let enumeration: Vec<_> = got
            .iter()
            .filter(|a| a.rule_id == "riposte.kerberos_user_enumeration")
            .collect();
        assert_eq!(enumeration.len(), 1);
        assert_eq!(enumeration[0].technique.as_deref(), Some("T1087.002"));
        assert_eq!(enumeration[0].entities.sources, vec!["10.0.0.66"]);
        assert!(enumeration[0].entities.users.len() >= 10);
    }

    #[test]
    fn a_mistyped_name_or_a_spray_is_not_enumeration() {
        let mut d = Detector::builtin();
        // A user mistypes their own name once.
        let got = d.process(&failure(
            4768,
            "2026-01-01T08:00:00Z",
            "jdoe",
            "0x6",
            "10.0.0.7",
        ));
        assert!(got.is_empty());
        // A spray: wrong passwords for many real accounts and a few stale names.
        let mut got = Vec::new();
        for i in 0..30 {
            let t = format!("2026-01-01T08:01:{i:02}Z");
            got.extend(d.process(&failure(4771, &t, &format!("user{i}"), "0x18", "10.0.0.99")));
        }
        for i in 0..12 {
            let t = format!("2026-01-01T08:02:{i:02}Z");
            got.extend(d.process(&failure(4768, &t, &format!("stale{i}"), "0x6", "10.0.0.99")));
        }
        assert!(
            got.iter()
                .all(|a| a.rule_id != "riposte.kerberos_user_enumeration"),
            "{got:?}"
        );
    }

    fn read(object: &str, actor: &str, mask: &str) -> riposte_events::IdentityEvent {
        win(
            4662,
            "2026-01-01T08:00:00Z",
            "dc01.corp.test",
            &[
                ("SubjectUserName", actor),
                ("SubjectDomainName", "CORP"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-1105"),
                ("ObjectServer", "DS"),
                ("ObjectType", "%{bf967aba-0de6-11d0-a285-00aa003049e2}"),
                ("ObjectName", object),
                ("AccessMask", mask),
                ("Accesses", "%%7684"),
                (
                    "Properties",
                    "%%7684 {bf967aba-0de6-11d0-a285-00aa003049e2}",
                ),
            ],
        )
    }

    #[test]
    fn reading_a_decoy_is_reported_and_other_reads_are_not() {
        let cfg = DetectConfig {
            decoys: vec!["{5D0D5A4B-7C55-4C1B-9E2E-6E7E1C0A1B2C}".into()],
            ..DetectConfig::default()
        };
        let mut d = Detector::new(cfg, None);
        let alerts = d.process(&read(
            "%{5d0d5a4b-7c55-4c1b-9e2e-6e7e1c0a1b2c}",
            "bob",
            "0x10",
        ));
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, "riposte.decoy_account_read");
        assert_eq!(alerts[0].entities.actors, vec!["CORP\\bob"]);
        assert!(
            d.process(&read(
                "%{11111111-7c55-4c1b-9e2e-6e7e1c0a1b2c}",
                "bob",
                "0x10"
            ))
            .is_empty()
        );
        // No decoys configured: nothing.
        let mut d = Detector::builtin();
        assert!(
            d.process(&read(
                "%{5d0d5a4b-7c55-4c1b-9e2e-6e7e1c0a1b2c}",
                "bob",
                "0x10"
            ))
            .is_empty()
        );
    }

    #[test]
    fn the_spray_recording_keeps_its_techniques_and_is_not_enumeration() {
        use crate::builtin::dev_recordings::{alerts_of, rules_and_techniques};
        let got = rules_and_techniques(&alerts_of("kerberos-password-spray-4771.evtx"));
        let expected = [
            ("riposte.compromised_after_spray", "T1078"),
            ("riposte.password_spray", "T1110.003"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(r, t)| (r.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, expected);
    }
}
