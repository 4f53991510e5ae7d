//! What the directory-change families share: reading a 5136/5137/5141 record (the DN in
//! `ObjectDN`, the attribute in `AttributeLDAPDisplayName`, `%%14674` value added /
//! `%%14675` value deleted), remembering the deleted half of a modify, and naming the changed
//! object in an alert.

use std::collections::HashMap;

use riposte_events::{Account, IdentityEvent};

use super::BuiltinPack;
use crate::alert::{Alert, Severity};

/// One directory-service change record, as its fields read.
pub(super) struct DsChange<'a> {
    /// `ObjectDN` as logged (case kept for display).
    pub dn: &'a str,
    /// `AttributeLDAPDisplayName`, lower case (empty for 5137/5141).
    pub attribute: String,
    /// `AttributeValue` (empty when absent: Samba's audit, 5137).
    pub value: &'a str,
    /// `ObjectClass`, lower case.
    pub class: String,
    /// True for a value added (or an object created), false for a value deleted.
    pub added: bool,
}

impl<'a> DsChange<'a> {
    pub fn of(ev: &'a IdentityEvent) -> Option<DsChange<'a>> {
        let dn = ev
            .data
            .get("ObjectDN")
            .or_else(|| ev.data.get("dn"))
            .map(|d| d.trim())
            .filter(|d| !d.is_empty() && *d != "-")?;
        let field = |k: &str| ev.data.get(k).map(|v| v.trim()).unwrap_or("");
        let op = field("OperationType").to_ascii_lowercase();
        // `%%14674` / "Value Added"; 5137 (created) has no operation and counts as added.
        let added = match ev.event_id {
            5136 => op.contains("14674") || op.contains("added"),
            5137 => true,
            _ => false,
        };
        Some(DsChange {
            dn,
            attribute: field("AttributeLDAPDisplayName").to_ascii_lowercase(),
            value: field("AttributeValue"),
            class: field("ObjectClass").to_ascii_lowercase(),
            added,
        })
    }

    /// The DN in lower case with the spaces after commas removed, for comparisons.
    pub fn dn_key(&self) -> String {
        dn_key(self.dn)
    }

    /// The object's name: the CN (or first RDN value) of its DN.
    pub fn name(&self) -> String {
        let first = self.dn.split(',').next().unwrap_or(self.dn);
        first
            .split_once('=')
            .map_or(first, |(_, v)| v)
            .trim()
            .to_string()
    }
}

pub(super) fn dn_key(dn: &str) -> String {
    dn.split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// A domain head: a DN made only of `DC=` parts (`DC=corp,DC=example,DC=com`).
pub(super) fn is_domain_head(dn: &str) -> bool {
    !dn.trim().is_empty()
        && dn.split(',').all(|p| {
            p.trim()
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("dc"))
        })
}

/// The deleted halves of recent modifies (a 5136 modify is logged as a delete then an add),
/// by (DN, attribute): bounded, and forgetting only costs a diff, never invents one.
#[derive(Default)]
pub(super) struct DeletedValues {
    values: HashMap<(String, String), String>,
}

/// Bounds: hostile input cannot make this hold more than about 128 MiB (a domain head's
/// security descriptor is a few tens of KiB at most).
const MAX_DELETED: usize = 2_048;
const MAX_VALUE: usize = 64 * 1024;

impl DeletedValues {
    /// Remembers a deleted value, or takes the one deleted before this added value.
    pub fn pair(&mut self, c: &DsChange) -> Option<String> {
        let key = (c.dn_key(), c.attribute.clone());
        if c.added {
            return self.values.remove(&key);
        }
        if c.value.len() > MAX_VALUE {
            // Not kept: the next add is diffed against nothing rather than a stale value.
            self.values.remove(&key);
            return None;
        }
        if self.values.len() >= MAX_DELETED {
            self.values.clear();
        }
        self.values.insert(key, c.value.to_string());
        None
    }
}

impl BuiltinPack {
    /// SYSTEM, a domain controller, or (with `object_name`) the computer acting on its own
    /// object (`NAME$` on `CN=NAME,...`): the directory's own upkeep.
    pub(super) fn directory_itself(&self, ev: &IdentityEvent, object_name: Option<&str>) -> bool {
        let actor: &Account = &ev.actor;
        if matches!(actor.sid.as_deref(), Some("S-1-5-18"))
            || self.is_dc(actor, ev.computer.as_deref())
        {
            return true;
        }
        actor.is_machine()
            && object_name.is_some_and(|n| {
                super::lower_short(n) == super::lower_short(actor.name.as_deref().unwrap_or(""))
            })
    }

    /// A one-event alert about a changed directory object, named as the changed user.
    pub(super) fn dir_alert(
        &self,
        rule: (&str, &str, &str),
        severity: Severity,
        description: String,
        ev: &IdentityEvent,
        changed: &str,
    ) -> Alert {
        let mut alert = self.single(rule, severity, description, ev);
        if ev.target.is_empty() && !changed.is_empty() {
            alert.entities.add_user(changed);
        }
        alert
    }
}

/// `DOMAIN\actor` for descriptions.
pub(super) fn who(ev: &IdentityEvent) -> String {
    if ev.actor.is_empty() {
        "an unknown account".into()
    } else {
        ev.actor.display()
    }
}

/// ` on DC` for descriptions.
pub(super) fn on_dc(ev: &IdentityEvent) -> String {
    ev.computer
        .as_deref()
        .map(|c| format!(" (logged by {c})"))
        .unwrap_or_default()
}

#[cfg(test)]
pub(super) mod test_support {
    use riposte_events::{IdentityEvent, Location};

    use crate::builtin::BuiltinPack;
    use crate::{Alert, DetectConfig};

    /// A Windows event with these EventData fields, normalised as the ingest would.
    pub fn event(id: u32, fields: &[(&str, &str)]) -> IdentityEvent {
        let mut data = serde_json::Map::new();
        for (k, v) in fields {
            data.insert((*k).into(), serde_json::Value::String((*v).into()));
        }
        let record = serde_json::json!({
            "Event": {
                "System": {
                    "EventID": id,
                    "Computer": "dc1.corp.example",
                    "TimeCreated": {"#attributes": {"SystemTime": "2026-12-08T01:00:00Z"}}
                },
                "EventData": data
            }
        });
        riposte_events::parse_json_event(
            record.to_string().as_bytes(),
            Location {
                file: "test".into(),
                record: Some(1),
                line: None,
            },
        )
        .expect("a test event parses")
        .expect("a test event normalises")
    }

    /// A Samba dsdbChange Modify of one attribute, as the Samba DC's audit logs it.
    pub fn samba(dn: &str, attribute: &str, action: &str, value: &str) -> IdentityEvent {
        let record = serde_json::json!({
            "timestamp": "2026-12-08T01:00:00.000000+0000",
            "type": "dsdbChange",
            "dsdbChange": {
                "operation": "Modify",
                "userSid": "S-1-5-21-1-2-3-1105",
                "dn": dn,
                "status": "Success",
                "attributes": {attribute: {"actions": [{"action": action, "values": [{"value": value}]}]}}
            }
        });
        riposte_events::parse_json_event(
            record.to_string().as_bytes(),
            Location {
                file: "audit.json".into(),
                record: None,
                line: Some(1),
            },
        )
        .expect("a Samba record parses")
        .expect("a Samba record normalises")
    }

    pub const ADMIN: [(&str, &str); 3] = [
        ("SubjectUserName", "mallory"),
        ("SubjectDomainName", "CORP"),
        ("SubjectUserSid", "S-1-5-21-1-2-3-1105"),
    ];

    pub fn ds(id: u32, op: &str, dn: &str, class: &str, attr: &str, value: &str) -> IdentityEvent {
        let mut f = ADMIN.to_vec();
        f.extend([
            ("OperationType", op),
            ("ObjectDN", dn),
            ("ObjectClass", class),
            ("AttributeLDAPDisplayName", attr),
            ("AttributeValue", value),
        ]);
        event(id, &f)
    }

    pub fn with_actor(mut ev: IdentityEvent, name: &str, sid: &str) -> IdentityEvent {
        ev.actor.name = Some(name.into());
        ev.actor.sid = Some(sid.into());
        ev
    }

    pub fn run(events: &[IdentityEvent]) -> Vec<Alert> {
        let mut pack = BuiltinPack::new(DetectConfig::default());
        events.iter().flat_map(|e| pack.process(e)).collect()
    }

    pub fn ids(alerts: &[Alert]) -> Vec<&str> {
        alerts.iter().map(|a| a.rule_id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::dev_recordings::alerts_of;
    use super::super::rules;

    /// The directory-change rules stay quiet on the dev recordings of other attacks (spray,
    /// roasting, renames, creations, group changes, pass-the-hash, SAMR resets, DCSync).
    #[test]
    fn directory_rules_raise_nothing_on_the_other_dev_recordings() {
        let ours = [
            rules::DCSHADOW_SPN.0,
            rules::DCSHADOW_NTDSDSA.0,
            rules::DCSHADOW_REPLICATION.0,
            rules::SID_HISTORY.0,
            rules::CONSTRAINED_DELEGATION.0,
            rules::RBCD.0,
            rules::SHADOW_CREDENTIALS.0,
            rules::USER_SPN.0,
            rules::DCSYNC_RIGHTS.0,
            rules::DOMAIN_PERMISSIONS.0,
            rules::ADMINSDHOLDER.0,
            rules::GPO_CHANGED.0,
            rules::TRUST_CHANGED.0,
            rules::DSRM_PASSWORD.0,
        ];
        for file in [
            "bruteforce-4625.evtx",
            "computer-created-deleted-4742-4743.evtx",
            "dcsync-4662.evtx",
            "exchange-admin-group-add-4756.evtx",
            "fake-computer-account-4720.evtx",
            "kerberoast-rc4-4769.evtx",
            "kerberos-password-spray-4771.evtx",
            "pass-the-hash-local-4624.evtx",
            "password-never-expires-set-4738.evtx",
            "samr-password-reset-mimikatz-4724.evtx",
            "user-created-deleted-4720-4726.evtx",
            "user-renamed-admin-like-4781.evtx",
        ] {
            let noisy: Vec<String> = alerts_of(file)
                .into_iter()
                .filter(|a| ours.contains(&a.rule_id.as_str()))
                .map(|a| a.description)
                .collect();
            assert!(noisy.is_empty(), "{file}: {noisy:?}");
        }
    }
}
