//! Small helpers shared by the Kerberos, logon and SAMR families (forged tickets, noPac,
//! Zerologon, SAMR password sets, pass-the-hash, enumeration).

use riposte_events::{Account, IdentityEvent};

use super::field;

/// ANONYMOUS LOGON (S-1-5-7), by SID or by name.
pub(super) fn is_anonymous(a: &Account) -> bool {
    a.sid.as_deref() == Some("S-1-5-7")
        || a.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case("ANONYMOUS LOGON"))
}

/// The name as an account key: lower case, without `DOMAIN\` or `@REALM`, keeping a `$`.
pub(super) fn account_name(name: &str) -> String {
    let n = name.split('@').next().unwrap_or(name);
    n.rsplit('\\')
        .next()
        .unwrap_or(n)
        .trim()
        .to_ascii_lowercase()
}

/// The realm a Kerberos event names for its account (`name@REALM`, else TargetDomainName).
pub(super) fn realm_of(ev: &IdentityEvent) -> Option<String> {
    let name = field(ev, "TargetUserName")?;
    match name.split_once('@') {
        Some((_, realm)) if !realm.is_empty() => Some(realm.to_string()),
        _ => field(ev, "TargetDomainName").map(str::to_string),
    }
}

#[cfg(test)]
pub(super) mod fixtures {
    use riposte_events::{IdentityEvent, Location, parse_json_event};

    /// A Windows event as a flat JSON record: id, time, logging computer and EventData fields.
    pub(crate) fn win(
        id: u32,
        time: &str,
        computer: &str,
        fields: &[(&str, &str)],
    ) -> IdentityEvent {
        let mut obj = serde_json::Map::new();
        obj.insert("EventID".into(), id.into());
        obj.insert("TimeCreated".into(), time.into());
        obj.insert("Computer".into(), computer.into());
        for (k, v) in fields {
            obj.insert((*k).into(), (*v).into());
        }
        let origin = Location {
            file: "test".into(),
            record: None,
            line: None,
        };
        parse_json_event(&serde_json::to_vec(&obj).unwrap(), origin)
            .unwrap()
            .unwrap()
    }
}
