//! Samba's JSON audit records (`auth_json_audit`, `dsdb_json_audit`,
//! `dsdb_password_json_audit`, `dsdb_group_json_audit`).

use serde_json::{Map, Value};

use crate::model::{Account, IdentityEvent, Location, SourceFormat};
use crate::normalize::{Unusable, clean_ip, cn_of, parse_time};

fn s(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `ipv4:127.0.0.1:49076` / `ipv6:[::1]:49076` -> the address.
fn address(v: &str) -> Option<String> {
    let rest = v
        .strip_prefix("ipv4:")
        .map(|r| r.rsplit_once(':').map_or(r, |(a, _)| a))
        .or_else(|| {
            v.strip_prefix("ipv6:")
                .map(|r| r.rsplit_once(':').map_or(r, |(a, _)| a))
                .map(|a| a.trim_start_matches('[').trim_end_matches(']'))
        })
        .unwrap_or(v);
    clean_ip(rest)
}

fn event_id(m: &Map<String, Value>) -> Option<u32> {
    m.get("eventId")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

pub(crate) fn from_samba(
    kind: &str,
    m: &Map<String, Value>,
    timestamp: Option<&Value>,
    origin: Location,
) -> Result<IdentityEvent, Unusable> {
    let time = timestamp.and_then(Value::as_str).and_then(parse_time);
    let mut ev = match kind {
        "Authentication" => {
            let id = event_id(m).ok_or_else(|| {
                Unusable::Invalid("Samba Authentication record without a numeric eventId".into())
            })?;
            let mut ev = IdentityEvent::new(origin, SourceFormat::Samba, id);
            // clientAccount is what was asked for (`user@REALM` or `DOMAIN\user`);
            // the became* fields are only filled on success or for known users.
            let client = s(m, "clientAccount");
            let (name, domain) = match client.as_deref() {
                Some(c) => match c.split_once('\\') {
                    Some((d, n)) => (Some(n.to_string()), Some(d.to_string())),
                    None => match c.split_once('@') {
                        Some((n, d)) => (Some(n.to_string()), Some(d.to_string())),
                        None => (Some(c.to_string()), s(m, "clientDomain")),
                    },
                },
                None => (s(m, "becameAccount"), s(m, "becameDomain")),
            };
            ev.target = Account {
                name,
                domain,
                sid: s(m, "becameSid"),
            };
            ev.status = s(m, "status");
            ev.logon_type = m
                .get("logonType")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            ev.source_ip = s(m, "remoteAddress").and_then(|a| address(&a));
            ev.source_workstation = s(m, "workstation");
            for k in ["serviceDescription", "authDescription", "passwordType"] {
                if let Some(v) = s(m, k) {
                    ev.data.insert(k.to_string(), v);
                }
            }
            ev
        }
        "passwordChange" => {
            let id = event_id(m).unwrap_or(4724);
            let mut ev = IdentityEvent::new(origin, SourceFormat::Samba, id);
            ev.actor.sid = s(m, "userSid");
            ev.target.name = s(m, "dn").as_deref().map(cn_of);
            ev.status = s(m, "status").map(nt_status);
            ev.source_ip = s(m, "remoteAddress").and_then(|a| address(&a));
            if let Some(a) = s(m, "action") {
                ev.data.insert("action".into(), a);
            }
            ev
        }
        "groupChange" => {
            let action = s(m, "action").unwrap_or_default();
            let id = match (event_id(m), action.as_str()) {
                (Some(id), _) => id,
                (None, "Added") => 4728,
                (None, "Removed") => 4729,
                // PrimaryGroup and others are not membership grants.
                _ => return Err(Unusable::Ignored),
            };
            let mut ev = IdentityEvent::new(origin, SourceFormat::Samba, id);
            ev.actor.sid = s(m, "userSid");
            ev.target.name = s(m, "user").as_deref().map(cn_of);
            ev.group = s(m, "group").map(|g| Account {
                name: Some(cn_of(&g)),
                domain: None,
                sid: None,
            });
            ev.status = s(m, "status").map(nt_status);
            ev.source_ip = s(m, "remoteAddress").and_then(|a| address(&a));
            ev.data.insert("action".into(), action);
            ev
        }
        "dsdbChange" => {
            // Only userAccountControl changes are identity events here. Samba logs the new
            // value only; the detector diffs it against the last value it saw for the DN.
            let uac = m
                .get("attributes")
                .and_then(|a| a.get("userAccountControl"))
                .and_then(|u| u.get("actions"))
                .and_then(Value::as_array)
                .and_then(|acts| {
                    acts.iter().find_map(|a| {
                        a.get("values")?
                            .as_array()?
                            .first()?
                            .get("value")?
                            .as_str()?
                            .parse::<u32>()
                            .ok()
                    })
                });
            let Some(uac) = uac else {
                return directory_change(m, origin);
            };
            // An Add is the account's creation (4720) with its first value; a Modify a change.
            let id = match s(m, "operation").as_deref() {
                Some("Modify") => 4738,
                Some("Add") => 4720,
                _ => return Err(Unusable::Ignored),
            };
            let mut ev = IdentityEvent::new(origin, SourceFormat::Samba, id);
            ev.actor.sid = s(m, "userSid");
            ev.target.name = s(m, "dn").as_deref().map(cn_of);
            ev.new_uac = Some(uac);
            ev.status = s(m, "status").map(nt_status);
            ev.source_ip = s(m, "remoteAddress").and_then(|a| address(&a));
            ev
        }
        _ => return Err(Unusable::Ignored),
    };
    ev.time = time;
    if let Some(dn) = s(m, "dn") {
        ev.data.insert("dn".into(), dn);
    }
    Ok(ev)
}

/// Attributes whose change is a directory-change detection's evidence (SPNs, SID history,
/// delegation, key credentials, security descriptors, Group Policy), with whether their values
/// may be copied: only values that are names, never secrets or binary blobs.
const DIRECTORY_ATTRIBUTES: [(&str, bool); 10] = [
    ("servicePrincipalName", true),
    ("msDS-AllowedToDelegateTo", true),
    ("sIDHistory", false),
    ("msDS-AllowedToActOnBehalfOfOtherIdentity", false),
    ("msDS-KeyCredentialLink", false),
    ("nTSecurityDescriptor", false),
    ("gPCFileSysPath", true),
    ("gPCMachineExtensionNames", false),
    ("versionNumber", false),
    ("gPLink", false),
];

/// A dsdbChange Modify of one of DIRECTORY_ATTRIBUTES, in the shape of Windows' 5136 (the
/// first such attribute of the record: `ObjectDN`, `AttributeLDAPDisplayName`,
/// `OperationType` `%%14674` added / `%%14675` deleted, `AttributeValue` only where allowed).
fn directory_change(m: &Map<String, Value>, origin: Location) -> Result<IdentityEvent, Unusable> {
    // performedAsSystem: replication from another DC (whose SID is then the userSid) or the
    // DC's own upkeep; the originating DC logged the change with the real actor, as Windows
    // logs a change once, on the DC it was made on.
    let as_system = m
        .get("performedAsSystem")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if s(m, "operation").as_deref() != Some("Modify") || as_system {
        return Err(Unusable::Ignored);
    }
    let attributes = m
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or(Unusable::Ignored)?;
    let (name, change, copy) = attributes
        .iter()
        .find_map(|(k, v)| {
            DIRECTORY_ATTRIBUTES
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(k))
                .map(|(a, copy)| (*a, v, *copy))
        })
        .ok_or(Unusable::Ignored)?;
    let action = change
        .get("actions")
        .and_then(Value::as_array)
        .and_then(|acts| acts.first());
    // A replace with no values clears the attribute: a deletion, like an explicit delete.
    let added = action
        .and_then(|a| a.get("action"))
        .and_then(Value::as_str)
        .is_none_or(|a| !a.eq_ignore_ascii_case("delete"))
        && action
            .and_then(|a| a.get("values"))
            .and_then(Value::as_array)
            .is_some_and(|v| !v.is_empty());
    let mut ev = IdentityEvent::new(origin, SourceFormat::Samba, 5136);
    ev.actor.sid = s(m, "userSid");
    ev.status = s(m, "status").map(nt_status);
    ev.source_ip = s(m, "remoteAddress").and_then(|a| address(&a));
    ev.data
        .insert("AttributeLDAPDisplayName".into(), name.into());
    ev.data.insert(
        "OperationType".into(),
        if added { "%%14674" } else { "%%14675" }.into(),
    );
    if let Some(dn) = s(m, "dn") {
        ev.data.insert("ObjectDN".into(), dn);
    }
    if copy
        && let Some(values) = action
            .and_then(|a| a.get("values"))
            .and_then(Value::as_array)
    {
        let text: Vec<&str> = values
            .iter()
            .filter_map(|v| v.get("value").and_then(Value::as_str))
            .collect();
        ev.data.insert("AttributeValue".into(), text.join(" "));
    }
    Ok(ev)
}

/// dsdb records say "Success"; keep the detections' view of success uniform.
fn nt_status(v: String) -> String {
    if v == "Success" { "0x0".into() } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsdb(attributes: Value) -> Result<IdentityEvent, Unusable> {
        let body = serde_json::json!({
            "operation": "Modify",
            "userSid": "S-1-5-21-1-2-3-1105",
            "dn": "CN=WS01,CN=Computers,DC=corp,DC=example",
            "status": "Success",
            "attributes": attributes,
        });
        from_samba(
            "dsdbChange",
            body.as_object().unwrap(),
            None,
            Location {
                file: "audit.json".into(),
                record: None,
                line: Some(1),
            },
        )
    }

    #[test]
    fn directory_changes_take_the_5136_shape_and_copy_only_allowed_values() {
        let spn = dsdb(serde_json::json!({"servicePrincipalName": {"actions": [
            {"action": "add", "values": [{"value": "GC/ws01.corp.example/corp.example"}]}]}}))
        .unwrap();
        assert_eq!(spn.event_id, 5136);
        assert_eq!(spn.data["AttributeLDAPDisplayName"], "servicePrincipalName");
        assert_eq!(spn.data["OperationType"], "%%14674");
        assert_eq!(
            spn.data["ObjectDN"],
            "CN=WS01,CN=Computers,DC=corp,DC=example"
        );
        assert_eq!(
            spn.data["AttributeValue"],
            "GC/ws01.corp.example/corp.example"
        );
        assert_eq!(spn.actor.sid.as_deref(), Some("S-1-5-21-1-2-3-1105"));
        let keys = dsdb(serde_json::json!({"msDS-KeyCredentialLink": {"actions": [
            {"action": "add", "values": [{"value": "B:828:secret-key-material"}]}]}}))
        .unwrap();
        assert!(!keys.data.contains_key("AttributeValue"));
        let cleared = dsdb(serde_json::json!({"sIDHistory": {"actions": [
            {"action": "replace", "values": []}]}}))
        .unwrap();
        assert_eq!(cleared.data["OperationType"], "%%14675");
        let replicated = serde_json::json!({
            "operation": "Modify",
            "performedAsSystem": true,
            "userSid": "S-1-5-21-1-2-3-1111",
            "dn": "CN=bob,CN=Users,DC=corp,DC=example",
            "attributes": {"sIDHistory": {"actions": [{"action": "add", "values": [{"value": "x"}]}]}},
        });
        let origin = Location {
            file: "audit.json".into(),
            record: None,
            line: Some(2),
        };
        assert!(matches!(
            from_samba("dsdbChange", replicated.as_object().unwrap(), None, origin),
            Err(Unusable::Ignored)
        ));
        let other = dsdb(serde_json::json!({"description": {"actions": [
            {"action": "replace", "values": [{"value": "x"}]}]}}));
        assert!(matches!(other, Err(Unusable::Ignored)));
    }

    #[test]
    fn addresses_lose_their_port() {
        assert_eq!(
            address("ipv4:127.0.0.1:49076").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(address("ipv6:[fe80::1]:88").as_deref(), Some("fe80::1"));
    }
}
