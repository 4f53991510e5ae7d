//! Rights and policy changes: DCSync rights granted on the domain head, AdminSDHolder changed,
//! a Group Policy object edited or linked to the domain, a domain or forest trust added or
//! changed, the DSRM administrator's password set.

use riposte_events::IdentityEvent;

use super::dirchange::{DsChange, dn_key, is_domain_head, on_dc, who};
use super::{BuiltinPack, REPLICATION_GUIDS};
use crate::alert::{Alert, Severity};

/// T1098 (as SigmaHQ's rule for the same 5136): the grant is account manipulation that lets
/// the grantee DCSync at will; T1222.001 describes the permission edit rather than the
/// persistence it buys.
pub const DCSYNC_RIGHTS: (&str, &str, &str) = (
    "riposte.dcsync_rights_granted",
    "Account manipulation: directory replication (DCSync) rights granted on the domain",
    "T1098",
);
/// T1222.001: 4662 shows the permission edit (WRITE_DAC), not which ACE it added.
pub const DOMAIN_PERMISSIONS: (&str, &str, &str) = (
    "riposte.domain_permissions_changed",
    "Permissions modification: the domain object's permissions (WRITE_DAC) changed",
    "T1222.001",
);
pub const ADMINSDHOLDER: (&str, &str, &str) = (
    "riposte.adminsdholder_changed",
    "Account manipulation: AdminSDHolder changed (its permissions are copied to every admin account)",
    "T1098",
);
pub const GPO_CHANGED: (&str, &str, &str) = (
    "riposte.gpo_changed",
    "Domain policy modification: Group Policy object edited or linked",
    "T1484.001",
);
pub const TRUST_CHANGED: (&str, &str, &str) = (
    "riposte.trust_changed",
    "Domain trust modification: a domain or forest trust added or changed",
    "T1484.002",
);
pub const DSRM_PASSWORD: (&str, &str, &str) = (
    "riposte.dsrm_password_set",
    "Account manipulation: the DSRM administrator password of a domain controller set",
    "T1098",
);

/// The domainDNS class (schemaIDGUID): a 4662 ObjectType naming the domain head.
const DOMAIN_DNS_CLASS: &str = "19195a5b-6da0-11d0-afd3-00c04fd930c9";
/// WRITE_DAC in an access mask.
const WRITE_DAC: u32 = 0x4_0000;

/// Client-side extensions that run code on every computer the GPO applies to: Scheduled
/// Tasks preferences (SharpGPOAbuse's immediate task) and Scripts (startup/logon scripts).
const CODE_RUNNING_EXTENSIONS: [&str; 2] = [
    "aadced64-746c-4633-a97c-d61349046527",
    "42b5faae-6536-11d2-ae5a-0000f87571e3",
];

/// Default Domain Policy and Default Domain Controllers Policy.
const SENSITIVE_GPOS: [&str; 2] = [
    "31b2f340-016d-11d2-945f-00c04fb984f9",
    "6ac1786c-016f-11d2-945f-00c04fb984f9",
];

/// Principals that hold replication rights on a domain by default (SDDL aliases and SIDs):
/// Enterprise DCs, Administrators, Domain Controllers, Enterprise Read-only DCs, SYSTEM.
fn default_replicator(sid: &str) -> bool {
    let s = sid.to_ascii_uppercase();
    matches!(
        s.as_str(),
        "ED" | "BA" | "DD" | "RO" | "SY" | "EA" | "DA" | "S-1-5-9" | "S-1-5-18" | "S-1-5-32-544"
    ) || (s.starts_with("S-1-5-21-")
        && ["-498", "-516", "-512", "-519", "-521"]
            .iter()
            .any(|r| s.ends_with(r)))
}

/// The trustees of the SDDL's object ACEs that allow one of the replication rights.
fn replication_grantees(sddl: &str) -> Vec<String> {
    sddl.split('(')
        .filter_map(|ace| {
            let ace = ace.split(')').next()?;
            let parts: Vec<&str> = ace.split(';').collect();
            // (type;flags;rights;object guid;inherited object guid;trustee)
            if parts.len() < 6 || !parts[0].eq_ignore_ascii_case("OA") {
                return None;
            }
            let guid = parts[3].to_ascii_lowercase();
            REPLICATION_GUIDS
                .contains(&guid.as_str())
                .then(|| parts[5].trim().to_string())
        })
        .collect()
}

impl BuiltinPack {
    /// 5136 nTSecurityDescriptor on the domain head: a new ACE granting replication rights to
    /// a principal that does not hold them by default (diffed against the deleted half).
    pub(super) fn dcsync_rights_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let Some(c) = DsChange::of(ev) else { return };
        if c.attribute != "ntsecuritydescriptor"
            || !(is_domain_head(c.dn) || c.class == "domaindns")
        {
            return;
        }
        let before = self.dir_deleted.pair(&c).unwrap_or_default();
        if !c.added {
            return;
        }
        let had = replication_grantees(&before);
        let new: Vec<String> = replication_grantees(c.value)
            .into_iter()
            .filter(|t| !default_replicator(t) && !had.iter().any(|h| h.eq_ignore_ascii_case(t)))
            .filter(|t| {
                let as_account = riposte_events::Account {
                    name: None,
                    domain: None,
                    sid: Some(t.clone()),
                };
                !Self::listed(&self.cfg.replication_allowed, &as_account)
            })
            .collect();
        if new.is_empty() {
            return;
        }
        if self.fresh(
            DCSYNC_RIGHTS.0,
            format!("{}|{}", c.dn_key(), new.join(",")),
            now,
        ) {
            let desc = format!(
                "{} granted directory replication (DCSync) rights on {} to {}{}",
                who(ev),
                c.dn,
                new.join(", "),
                on_dc(ev)
            );
            let mut alert = self.dir_alert(DCSYNC_RIGHTS, Severity::Critical, desc, ev, "");
            for t in &new {
                alert.entities.add_user(t);
            }
            out.push(alert);
        }
    }

    /// 4662 on the domain head (directory service access) with WRITE_DAC, by anyone but
    /// SYSTEM or a DC: the write that grants DCSync rights when 5136 is not audited.
    pub(super) fn domain_permissions_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let mask = ev
            .access_mask
            .as_deref()
            .and_then(|m| u32::from_str_radix(m.trim().trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        let listed_write_dac = ev
            .data
            .get("AccessList")
            .is_some_and(|l| l.contains("%%1539"));
        let on_domain = ev
            .data
            .get("ObjectType")
            .is_some_and(|t| t.to_ascii_lowercase().contains(DOMAIN_DNS_CLASS));
        let ds = ev.data.get("ObjectServer").is_some_and(|s| s == "DS");
        if !(ds && on_domain && (mask & WRITE_DAC != 0 || listed_write_dac))
            || self.directory_itself(ev, None)
            || ev.failed()
        {
            return;
        }
        if self.fresh(
            DOMAIN_PERMISSIONS.0,
            ev.actor.key().unwrap_or_default(),
            now,
        ) {
            let desc = format!(
                "{} changed the permissions of the domain object (WRITE_DAC): check its ACL for replication (DCSync) rights given to an account that is not a DC{}",
                who(ev),
                on_dc(ev)
            );
            out.push(self.dir_alert(DOMAIN_PERMISSIONS, Severity::High, desc, ev, "domain"));
        }
    }

    /// 5136 on CN=AdminSDHolder,CN=System: any added value.
    pub(super) fn adminsdholder_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        let Some(c) = DsChange::of(ev) else { return };
        if !c.added || !c.dn_key().starts_with("cn=adminsdholder,cn=system,") {
            return;
        }
        if self.fresh(
            ADMINSDHOLDER.0,
            format!("{}|{}", ev.actor.key().unwrap_or_default(), c.attribute),
            now,
        ) {
            let desc = format!(
                "{} changed {} of AdminSDHolder: within the hour every protected admin account gets its permissions{}",
                who(ev),
                if c.attribute.is_empty() {
                    "an attribute"
                } else {
                    &c.attribute
                },
                on_dc(ev)
            );
            out.push(self.dir_alert(ADMINSDHOLDER, Severity::High, desc, ev, "AdminSDHolder"));
        }
    }

    /// 5136 on a groupPolicyContainer (or a gPLink written on the domain head or the Domain
    /// Controllers OU). A routine admin edit is Low; the default domain and DC policies and a
    /// new link at the domain or DC level Medium; a GPO pointed at another file path High.
    pub(super) fn gpo_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let Some(c) = DsChange::of(ev) else { return };
        if !c.added || self.directory_itself(ev, None) {
            return;
        }
        let dn = c.dn_key();
        let (gpo, severity, what) = if c.attribute == "gplink" {
            let top = is_domain_head(c.dn) || dn.starts_with("ou=domain controllers,");
            if !top {
                return;
            }
            (
                c.dn.to_string(),
                Severity::Medium,
                "linked a policy to".to_string(),
            )
        } else if c.class == "grouppolicycontainer" || dn.contains(",cn=policies,cn=system,") {
            let Some(guid) = dn.split(',').find(|p| p.starts_with("cn={")).map(|p| {
                p.trim_start_matches("cn={")
                    .trim_end_matches('}')
                    .to_string()
            }) else {
                return;
            };
            let runs_code = c.attribute.ends_with("extensionnames")
                && CODE_RUNNING_EXTENSIONS
                    .iter()
                    .any(|g| c.value.to_ascii_lowercase().contains(g));
            let severity = if c.attribute == "gpcfilesyspath" || runs_code {
                Severity::High
            } else if SENSITIVE_GPOS.contains(&guid.as_str()) {
                Severity::Medium
            } else {
                Severity::Low
            };
            let name = match guid.as_str() {
                "31b2f340-016d-11d2-945f-00c04fb984f9" => "the Default Domain Policy".to_string(),
                "6ac1786c-016f-11d2-945f-00c04fb984f9" => {
                    "the Default Domain Controllers Policy".to_string()
                }
                _ => format!("the policy {{{guid}}}"),
            };
            let what = if runs_code {
                format!(
                    "added a scheduled task or script extension ({}) to",
                    c.attribute
                )
            } else {
                format!("changed {} of", c.attribute)
            };
            (name, severity, what)
        } else {
            return;
        };
        if self.fresh(
            GPO_CHANGED.0,
            format!("{}|{}", dn_key(&gpo), ev.actor.key().unwrap_or_default()),
            now,
        ) {
            let desc = format!("{} {what} {gpo}{}", who(ev), on_dc(ev));
            out.push(self.dir_alert(GPO_CHANGED, severity, desc, ev, ""));
        }
    }

    /// 4706 (trust created), 4716 (trust changed), 4865/4867 (forest trust information added
    /// or changed), 5137 of a trustedDomain object.
    pub(super) fn trust_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let field = |k: &str| {
            ev.data
                .get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty() && *v != "-")
        };
        let (domain, severity) = match ev.event_id {
            4706 => (field("DomainName").or(field("DomainSid")), Severity::High),
            4716 => (field("DomainName").or(field("DomainSid")), Severity::Medium),
            4865 | 4867 => (
                field("ForestRoot").or(field("TopLevelName")),
                Severity::High,
            ),
            _ => {
                let Some(c) = DsChange::of(ev) else { return };
                if ev.event_id != 5137 || c.class != "trusteddomain" {
                    return;
                }
                let name = c.name();
                return self.trust_alert(ev, now, &name, Severity::High, out);
            }
        };
        let domain = domain.unwrap_or("another domain").to_string();
        self.trust_alert(ev, now, &domain, severity, out);
    }

    fn trust_alert(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        domain: &str,
        severity: Severity,
        out: &mut Vec<Alert>,
    ) {
        let verb = if ev.event_id == 4716 || ev.event_id == 4867 {
            "changed the trust with"
        } else {
            "added a trust with"
        };
        if self.fresh(
            TRUST_CHANGED.0,
            format!("{}|{verb}", domain.to_ascii_lowercase()),
            now,
        ) {
            let desc = format!("{} {verb} {domain}{}", who(ev), on_dc(ev));
            out.push(self.dir_alert(TRUST_CHANGED, severity, desc, ev, domain));
        }
    }

    /// 4794: an attempt to set the DSRM administrator password (a DC's local backdoor admin).
    pub(super) fn dsrm_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let host = ev
            .computer
            .clone()
            .unwrap_or_else(|| "a domain controller".into());
        if self.fresh(DSRM_PASSWORD.0, host.to_ascii_lowercase(), now) {
            let status = ev
                .data
                .get("Status")
                .map(|s| s.trim())
                .filter(|s| !s.is_empty() && *s != "0x0")
                .map(|s| format!(" (status {s})"))
                .unwrap_or_default();
            let desc = format!(
                "{} set the Directory Services Restore Mode administrator password of {host}{status}",
                who(ev)
            );
            let mut alert = self.single(DSRM_PASSWORD, Severity::High, desc, ev);
            alert
                .entities
                .add_user(&format!("{host} DSRM administrator"));
            out.push(alert);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dirchange::test_support::{ADMIN, ds, event, ids, run, with_actor};
    use crate::alert::Severity;

    const DOMAIN: &str = "DC=corp,DC=example";
    const DEFAULT_SD: &str = "O:BAG:BAD:AI(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;ED)(OA;;CR;1131f6ad-9c07-11d1-f79f-00c04fc2dcd2;;BA)(OA;;CR;89e95b76-444d-4c62-991a-0facbeda640c;;S-1-5-21-1-2-3-498)(A;;RPWP;;;S-1-5-21-1-2-3-1105)";

    #[test]
    fn a_replication_ace_for_a_user_on_the_domain_head_fires() {
        let before = ds(
            5136,
            "%%14675",
            DOMAIN,
            "domainDNS",
            "nTSecurityDescriptor",
            DEFAULT_SD,
        );
        let after_sd = format!(
            "{DEFAULT_SD}(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;S-1-5-21-1-2-3-1234)(OA;;CR;1131f6ad-9c07-11d1-f79f-00c04fc2dcd2;;S-1-5-21-1-2-3-1234)"
        );
        let after = ds(
            5136,
            "%%14674",
            DOMAIN,
            "domainDNS",
            "nTSecurityDescriptor",
            &after_sd,
        );
        let alerts = run(&[before, after]);
        assert_eq!(ids(&alerts), ["riposte.dcsync_rights_granted"]);
        assert_eq!(alerts[0].entities.users, ["S-1-5-21-1-2-3-1234"]);
        assert_eq!(alerts[0].entities.actors, ["CORP\\mallory"]);
    }

    #[test]
    fn the_default_replicators_and_an_unrelated_ace_do_not_fire() {
        let before = ds(
            5136,
            "%%14675",
            DOMAIN,
            "domainDNS",
            "nTSecurityDescriptor",
            DEFAULT_SD,
        );
        let after_sd = format!("{DEFAULT_SD}(A;;RP;;;S-1-5-21-1-2-3-1300)");
        let after = ds(
            5136,
            "%%14674",
            DOMAIN,
            "domainDNS",
            "nTSecurityDescriptor",
            &after_sd,
        );
        // Without the deleted half, the defaults alone still do not fire.
        let lone = ds(
            5136,
            "%%14674",
            DOMAIN,
            "domainDNS",
            "nTSecurityDescriptor",
            DEFAULT_SD,
        );
        // Replication rights on an OU are not DCSync rights.
        let ou = ds(
            5136,
            "%%14674",
            "OU=Staff,DC=corp,DC=example",
            "organizationalUnit",
            "nTSecurityDescriptor",
            "(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;S-1-5-21-1-2-3-1234)",
        );
        assert!(run(&[before, after, lone, ou]).is_empty());
    }

    #[test]
    fn write_dac_on_the_domain_head_fires_and_reads_do_not() {
        let access = |mask: &str, list: &str| {
            let mut f = ADMIN.to_vec();
            f.extend([
                ("ObjectServer", "DS"),
                ("ObjectType", "%{19195a5b-6da0-11d0-afd3-00c04fd930c9}"),
                ("ObjectName", "%{c6faf700-bfe4-452a-a766-424f84c29583}"),
                ("AccessMask", mask),
                ("AccessList", list),
                (
                    "Properties",
                    "%%1539 {19195a5b-6da0-11d0-afd3-00c04fd930c9}",
                ),
            ]);
            event(4662, &f)
        };
        let alerts = run(&[access("0x40000", "%%1539")]);
        assert_eq!(ids(&alerts), ["riposte.domain_permissions_changed"]);
        assert_eq!(alerts[0].technique.as_deref(), Some("T1222.001"));
        assert!(run(&[access("0x10", "%%7684")]).is_empty());
        let system = with_actor(access("0x40000", "%%1539"), "DC1$", "S-1-5-18");
        assert!(run(&[system]).is_empty());
    }

    #[test]
    fn adminsdholder_changes_fire() {
        let ev = ds(
            5136,
            "%%14674",
            "CN=AdminSDHolder,CN=System,DC=corp,DC=example",
            "container",
            "nTSecurityDescriptor",
            "O:DAG:DAD:(A;;GA;;;S-1-5-21-1-2-3-1234)",
        );
        let alerts = run(&[ev]);
        assert_eq!(ids(&alerts), ["riposte.adminsdholder_changed"]);
        assert_eq!(alerts[0].technique.as_deref(), Some("T1098"));
    }

    #[test]
    fn gpo_edits_are_graded_and_the_system_is_quiet() {
        let gpo = |guid: &str, attr: &str| {
            ds(
                5136,
                "%%14674",
                &format!("CN={{{guid}}},CN=Policies,CN=System,DC=corp,DC=example"),
                "groupPolicyContainer",
                attr,
                "x",
            )
        };
        let default = gpo("31B2F340-016D-11D2-945F-00C04FB984F9", "versionNumber");
        let custom = gpo("0A1B2C3D-0000-0000-0000-000000000001", "versionNumber");
        let path = with_actor(
            gpo("0A1B2C3D-0000-0000-0000-000000000002", "gPCFileSysPath"),
            "eve",
            "S-1-5-21-1-2-3-1500",
        );
        let task = with_actor(
            ds(
                5136,
                "%%14674",
                "CN={0A1B2C3D-0000-0000-0000-000000000003},CN=Policies,CN=System,DC=corp,DC=example",
                "groupPolicyContainer",
                "gPCMachineExtensionNames",
                "[{00000000-0000-0000-0000-000000000000}{CAB54552-DEEA-4691-817E-ED4A4D1AFC72}][{AADCED64-746C-4633-A97C-D61349046527}{CAB54552-DEEA-4691-817E-ED4A4D1AFC72}]",
            ),
            "eve",
            "S-1-5-21-1-2-3-1500",
        );
        let alerts = run(&[default, custom, path, task]);
        assert_eq!(ids(&alerts), ["riposte.gpo_changed"; 4]);
        let severities: Vec<Severity> = alerts.iter().map(|a| a.severity).collect();
        assert_eq!(
            severities,
            [
                Severity::Medium,
                Severity::Low,
                Severity::High,
                Severity::High
            ]
        );
        assert!(alerts[3].description.contains("scheduled task"));
        assert!(alerts[0].description.contains("Default Domain Policy"));
        assert!(
            alerts
                .iter()
                .all(|a| a.technique.as_deref() == Some("T1484.001"))
        );
        let system = with_actor(
            gpo("31B2F340-016D-11D2-945F-00C04FB984F9", "versionNumber"),
            "DC1$",
            "S-1-5-18",
        );
        assert!(run(&[system]).is_empty());
        // A link on an ordinary OU is everyday administration.
        let ou_link = ds(
            5136,
            "%%14674",
            "OU=Staff,DC=corp,DC=example",
            "organizationalUnit",
            "gPLink",
            "[LDAP://cn={x};0]",
        );
        assert!(run(&[ou_link]).is_empty());
    }

    #[test]
    fn trusts_and_dsrm_fire() {
        let mut f = ADMIN.to_vec();
        f.extend([
            ("DomainName", "evil.example"),
            ("DomainSid", "S-1-5-21-9-9-9"),
        ]);
        let added = event(4706, &f);
        let tdo = ds(
            5137,
            "",
            "CN=evil.example,CN=System,DC=corp,DC=example",
            "trustedDomain",
            "",
            "",
        );
        let alerts = run(&[added, tdo]);
        assert_eq!(
            ids(&alerts),
            ["riposte.trust_changed"],
            "one trust, one alert"
        );
        assert_eq!(alerts[0].technique.as_deref(), Some("T1484.002"));
        assert_eq!(alerts[0].entities.users, ["evil.example"]);
        let mut f = ADMIN.to_vec();
        f.extend([("Workstation", "DC1"), ("Status", "0x0")]);
        let alerts = run(&[event(4794, &f)]);
        assert_eq!(ids(&alerts), ["riposte.dsrm_password_set"]);
    }
}
