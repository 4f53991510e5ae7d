//! DCShadow (T1207): a computer that is not a domain controller registered as one, so it can
//! push changes by replication. Its traces: the replication (DRS) and global-catalog SPNs put
//! on its computer account (4742 `ServicePrincipalNames`, 5136 `servicePrincipalName`), an
//! nTDSDSA object created (5137) or deleted (5141) under the Sites container, and then
//! replication rights used by that computer (4662).

use std::collections::HashSet;

use riposte_events::IdentityEvent;

use super::dirchange::{DsChange, on_dc, who};
use super::{BuiltinPack, lower_short};
use crate::alert::{Alert, Severity};

pub const DCSHADOW_SPN: (&str, &str, &str) = (
    "riposte.dcshadow_spn",
    "DCShadow: replication SPNs put on a computer that is not a domain controller",
    "T1207",
);
pub const DCSHADOW_NTDSDSA: (&str, &str, &str) = (
    "riposte.dcshadow_ntdsdsa",
    "DCShadow: a domain controller (nTDSDSA) object registered or removed under Sites",
    "T1207",
);
pub const DCSHADOW_REPLICATION: (&str, &str, &str) = (
    "riposte.dcshadow_replication",
    "DCShadow: replication rights used by a computer that was given replication SPNs",
    "T1207",
);

/// The directory replication service (DRS RPC interface) SPN class every DC registers.
const DRS_SPN: &str = "e3514235-4b06-11d1-ab04-00c04fc2dcd2/";
const GC_SPN: &str = "gc/";
const MAX_ROGUES: usize = 1_000;

/// Computers seen given DC SPNs (short names, lower case): their replication is DCShadow.
#[derive(Default)]
pub(super) struct DcShadowState {
    rogues: HashSet<String>,
}

/// The DC-only SPNs among a list (a 4742 field, one per line, or one 5136 value).
fn dc_spns(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(str::trim)
        .filter(|s| {
            let l = s.to_ascii_lowercase();
            l.starts_with(DRS_SPN) || l.starts_with(GC_SPN)
        })
        .collect()
}

impl BuiltinPack {
    /// The computer is a DC by configuration, by having logged DC-only events, or by its DN
    /// (under OU=Domain Controllers).
    fn known_dc_object(&self, name: &str, dn: Option<&str>) -> bool {
        let short = lower_short(name);
        self.learned_dcs.contains(&short)
            || self
                .cfg
                .domain_controllers
                .iter()
                .any(|d| super::host_label(&lower_short(d)) == short)
            || dn.is_some_and(|d| d.to_ascii_lowercase().contains("ou=domain controllers,"))
    }

    /// 4742 with DC SPNs on a computer that is not a known DC, or 5136 adding one.
    pub(super) fn dcshadow_spn_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let (computer, dn, spns): (String, Option<&str>, Vec<&str>) = if ev.event_id == 4742 {
            let Some(list) = ev.data.get("ServicePrincipalNames") else {
                return;
            };
            let Some(name) = ev.target.name.clone() else {
                return;
            };
            (name, None, dc_spns(list))
        } else {
            let Some(c) = DsChange::of(ev) else { return };
            if !c.added || c.attribute != "serviceprincipalname" {
                return;
            }
            (c.name(), Some(c.dn), dc_spns(c.value))
        };
        // A computer updating its own SPNs is a DC keeping its registration current (a
        // rogue's own write is still seen by its nTDSDSA, which needs admin rights).
        if spns.is_empty()
            || self.known_dc_object(&computer, dn)
            || self.directory_itself(ev, Some(&computer))
        {
            return;
        }
        let short = lower_short(&computer);
        if self.dcshadow.rogues.len() >= MAX_ROGUES {
            self.dcshadow.rogues.clear();
        }
        self.dcshadow.rogues.insert(short.clone());
        if self.fresh(DCSHADOW_SPN.0, short, now) {
            let desc = format!(
                "{} gave {computer}, which is not a known domain controller, the SPNs a DC uses for replication ({}){}",
                who(ev),
                spns.join(", "),
                on_dc(ev)
            );
            out.push(self.dir_alert(DCSHADOW_SPN, Severity::Critical, desc, ev, &computer));
        }
    }

    /// 5137/5141 of an nTDSDSA object (a DC's `NTDS Settings`) under a server that is not a
    /// known DC.
    pub(super) fn dcshadow_ntdsdsa_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let Some(c) = DsChange::of(ev) else { return };
        let dn = c.dn.to_ascii_lowercase();
        if c.class != "ntdsdsa" && !dn.starts_with("cn=ntds settings,") {
            return;
        }
        if !dn.contains("cn=sites,") {
            return;
        }
        // CN=NTDS Settings,CN=<server>,CN=Servers,CN=<site>,CN=Sites,CN=Configuration,...
        let server =
            c.dn.split(',')
                .nth(1)
                .and_then(|p| p.split_once('='))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default();
        if server.is_empty() || self.known_dc_object(&server, None) {
            return;
        }
        let what = if ev.event_id == 5137 {
            "registered"
        } else {
            "removed"
        };
        if self.fresh(
            DCSHADOW_NTDSDSA.0,
            format!("{}|{what}", lower_short(&server)),
            now,
        ) {
            let desc = format!(
                "{} {what} a domain controller object (nTDSDSA) for {server}, which is not a known domain controller{}",
                who(ev),
                on_dc(ev)
            );
            out.push(self.dir_alert(DCSHADOW_NTDSDSA, Severity::Critical, desc, ev, &server));
        }
    }

    /// 4662 replication rights used by a computer seen given DC SPNs in this stream.
    pub(super) fn dcshadow_replication_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let replication = ev
            .properties
            .iter()
            .any(|p| super::REPLICATION_GUIDS.contains(&p.as_str()));
        let Some(name) = ev.actor.name.as_deref() else {
            return;
        };
        let short = lower_short(name);
        if !replication || !ev.actor.is_machine() || !self.dcshadow.rogues.contains(&short) {
            return;
        }
        if self.fresh(DCSHADOW_REPLICATION.0, short, now) {
            let desc = format!(
                "{} used directory replication rights after being given domain controller SPNs{}",
                ev.actor.display(),
                on_dc(ev)
            );
            out.push(self.single(DCSHADOW_REPLICATION, Severity::Critical, desc, ev));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dev_recordings::{alerts_of, rules_and_techniques};
    use super::super::dirchange::test_support::{ADMIN, ds, event, ids, run, with_actor};

    fn spn_change(target: &str, spns: &str) -> riposte_events::IdentityEvent {
        let mut f = ADMIN.to_vec();
        f.extend([
            ("TargetUserName", target),
            ("TargetDomainName", "CORP"),
            ("TargetSid", "S-1-5-21-1-2-3-1106"),
            ("ServicePrincipalNames", spns),
        ]);
        event(4742, &f)
    }

    #[test]
    fn a_workstation_given_the_drs_spn_is_dcshadow() {
        let alerts = run(&[spn_change(
            "WS01$",
            "\r\n\t\tHOST/ws01.corp.example\r\n\t\tE3514235-4B06-11D1-AB04-00C04FC2DCD2/0f0e/corp.example",
        )]);
        assert_eq!(ids(&alerts), ["riposte.dcshadow_spn"]);
        assert_eq!(alerts[0].technique.as_deref(), Some("T1207"));
        assert_eq!(alerts[0].entities.users, ["CORP\\WS01$"]);
        assert_eq!(alerts[0].entities.actors, ["CORP\\mallory"]);
    }

    #[test]
    fn ordinary_spns_and_a_dcs_own_spns_do_not_fire() {
        let host = spn_change("WS01$", "HOST/ws01.corp.example\r\n\t\tWSMAN/ws01");
        // dc1 logged the event, so it is learned as a DC once it logs a KDC event.
        let kdc = event(
            4768,
            &[
                ("TargetUserName", "bob"),
                ("Status", "0x0"),
                ("PreAuthType", "2"),
            ],
        );
        let dc_own = spn_change("DC1$", "GC/dc1.corp.example/corp.example");
        let dc_dn = ds(
            5136,
            "%%14674",
            "CN=DC2,OU=Domain Controllers,DC=corp,DC=example",
            "computer",
            "servicePrincipalName",
            "GC/dc2.corp.example/corp.example",
        );
        let self_update = with_actor(
            spn_change("DC2$", "GC/dc2.corp.example/corp.example"),
            "DC2$",
            "S-1-5-21-1-2-3-1001",
        );
        let alerts = run(&[host, kdc, dc_own, dc_dn, self_update]);
        assert!(
            !ids(&alerts)
                .iter()
                .any(|r| r.starts_with("riposte.dcshadow")),
            "{alerts:?}"
        );
    }

    #[test]
    fn an_ntdsdsa_created_for_a_workstation_and_its_replication_fire() {
        let spn = ds(
            5136,
            "%%14674",
            "CN=WS01,OU=Workstations,DC=corp,DC=example",
            "computer",
            "servicePrincipalName",
            "GC/ws01.corp.example/corp.example",
        );
        let created = ds(
            5137,
            "",
            "CN=NTDS Settings,CN=WS01,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=example",
            "nTDSDSA",
            "",
            "",
        );
        let mut repl = event(
            4662,
            &[
                ("SubjectUserName", "WS01$"),
                ("SubjectDomainName", "CORP"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-1106"),
                ("ObjectServer", "DS"),
                (
                    "Properties",
                    "%%7688 {1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}",
                ),
            ],
        );
        repl.computer = Some("dc1.corp.example".into());
        let alerts = run(&[spn, created, repl]);
        let got = ids(&alerts);
        for rule in [
            "riposte.dcshadow_spn",
            "riposte.dcshadow_ntdsdsa",
            "riposte.dcshadow_replication",
        ] {
            assert!(got.contains(&rule), "{rule} missing from {got:?}");
        }
    }

    #[test]
    fn a_known_dcs_ntdsdsa_does_not_fire() {
        let cfg = crate::DetectConfig {
            domain_controllers: vec!["DC2".into()],
            ..Default::default()
        };
        let mut pack = crate::builtin::BuiltinPack::new(cfg);
        let created = ds(
            5137,
            "",
            "CN=NTDS Settings,CN=DC2,CN=Servers,CN=Site,CN=Sites,CN=Configuration,DC=corp,DC=example",
            "nTDSDSA",
            "",
            "",
        );
        assert!(pack.process(&created).is_empty());
    }

    #[test]
    fn samba_audit_of_dc_spns_on_a_workstation_fires() {
        let ev = super::super::dirchange::test_support::samba(
            "CN=WS01,CN=Computers,DC=corp,DC=example",
            "servicePrincipalName",
            "add",
            "E3514235-4B06-11D1-AB04-00C04FC2DCD2/0f0e/corp.example",
        );
        let alerts = run(&[ev]);
        assert_eq!(ids(&alerts), ["riposte.dcshadow_spn"]);
        assert_eq!(alerts[0].entities.users, ["WS01"]);
        assert_eq!(alerts[0].entities.actors, ["S-1-5-21-1-2-3-1105"]);
        let dc = super::super::dirchange::test_support::samba(
            "CN=DC1B,OU=Domain Controllers,DC=corp,DC=example",
            "servicePrincipalName",
            "add",
            "E3514235-4B06-11D1-AB04-00C04FC2DCD2/0f0e/corp.example",
        );
        assert!(run(&[dc]).is_empty());
    }

    #[test]
    fn the_dcshadow_dev_recording_gives_t1207() {
        let got = rules_and_techniques(&alerts_of("dcshadow-spn-4742.evtx"));
        assert_eq!(
            got,
            [("riposte.dcshadow_spn".to_string(), "T1207".to_string())]
        );
    }
}
