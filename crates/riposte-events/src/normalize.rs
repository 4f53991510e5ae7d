//! From a parsed JSON record (any of the shapes) to an [`IdentityEvent`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::{Account, IdentityEvent, Location, SourceFormat, UacFlag};

/// Longest field value kept; a hostile record cannot make one event huge.
const MAX_FIELD: usize = 8 * 1024;

/// Why one record could not become an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Not an event this crate reads (e.g. a Samba `Authorization` record): skipped, not an error.
    Ignored,
    /// Broken: the message says what is wrong.
    Invalid(String),
}

/// Windows shapes: evtx / evtx_dump JSON, Winlogbeat, flat.
pub fn from_json(v: &Value, origin: Location, evtx: bool) -> Result<IdentityEvent, Unusable> {
    let obj = v
        .as_object()
        .ok_or_else(|| Unusable::Invalid("not a JSON object".into()))?;
    if let Some(ev) = obj.get("Event").and_then(Value::as_object) {
        let fmt = if evtx {
            SourceFormat::Evtx
        } else {
            SourceFormat::EvtxJson
        };
        return from_evtx_shape(ev, origin, fmt);
    }
    if let Some(w) = obj.get("winlog").and_then(Value::as_object) {
        return from_winlogbeat(obj, w, origin);
    }
    if let Some(t) = obj.get("type").and_then(Value::as_str)
        && let Some(body) = obj.get(t).and_then(Value::as_object)
    {
        return crate::samba::from_samba(t, body, obj.get("timestamp"), origin);
    }
    if obj.contains_key("EventID") || obj.contains_key("EventId") {
        let id = obj
            .get("EventID")
            .or_else(|| obj.get("EventId"))
            .and_then(event_id)
            .ok_or_else(|| Unusable::Invalid("EventID is not a number".into()))?;
        let mut data = BTreeMap::new();
        flatten_fields(obj, &mut data);
        let mut ev = IdentityEvent::new(origin, SourceFormat::FlatJson, id);
        ev.computer = data.get("Computer").cloned();
        ev.time = ["TimeCreated", "@timestamp", "timestamp", "SystemTime"]
            .iter()
            .find_map(|k| data.get(*k).and_then(|t| parse_time(t)));
        ev.data = data;
        windows_fields(&mut ev);
        return Ok(ev);
    }
    Err(Unusable::Invalid(
        "not a recognised event: expected Event.System (evtx), winlog (Winlogbeat), EventID, or a Samba audit type".into(),
    ))
}

fn from_evtx_shape(
    ev: &Map<String, Value>,
    mut origin: Location,
    fmt: SourceFormat,
) -> Result<IdentityEvent, Unusable> {
    let sys = ev
        .get("System")
        .and_then(Value::as_object)
        .ok_or_else(|| Unusable::Invalid("Event has no System".into()))?;
    let id = sys
        .get("EventID")
        .and_then(event_id)
        .ok_or_else(|| Unusable::Invalid("System.EventID missing or not a number".into()))?;
    if origin.record.is_none() {
        origin.record = sys.get("EventRecordID").and_then(as_u64);
    }
    let mut out = IdentityEvent::new(origin, fmt, id);
    out.computer = sys.get("Computer").and_then(scalar);
    out.time = sys
        .get("TimeCreated")
        .and_then(|t| t.pointer("/#attributes/SystemTime"))
        .and_then(Value::as_str)
        .and_then(parse_time);
    let mut data = BTreeMap::new();
    match ev.get("EventData") {
        Some(Value::Object(m)) => flatten_fields(m, &mut data),
        _ => {
            // 1102 and a few others put their fields in UserData/<Element>.
            if let Some(Value::Object(u)) = ev.get("UserData") {
                for v in u.values() {
                    if let Value::Object(m) = v {
                        flatten_fields(m, &mut data);
                    }
                }
            }
        }
    }
    out.data = data;
    windows_fields(&mut out);
    Ok(out)
}

fn from_winlogbeat(
    top: &Map<String, Value>,
    w: &Map<String, Value>,
    mut origin: Location,
) -> Result<IdentityEvent, Unusable> {
    let id = w
        .get("event_id")
        .and_then(event_id)
        .or_else(|| {
            top.get("event")
                .and_then(|e| e.get("code"))
                .and_then(event_id)
        })
        .ok_or_else(|| Unusable::Invalid("winlog.event_id missing or not a number".into()))?;
    if origin.record.is_none() {
        origin.record = w.get("record_id").and_then(as_u64);
    }
    let mut out = IdentityEvent::new(origin, SourceFormat::Winlogbeat, id);
    out.computer = w.get("computer_name").and_then(scalar);
    out.time = top
        .get("@timestamp")
        .and_then(Value::as_str)
        .and_then(parse_time);
    let mut data = BTreeMap::new();
    if let Some(Value::Object(m)) = w.get("event_data") {
        flatten_fields(m, &mut data);
    }
    out.data = data;
    windows_fields(&mut out);
    if out.source_ip.is_none() {
        out.source_ip = top
            .get("source")
            .and_then(|s| s.get("ip"))
            .and_then(scalar)
            .and_then(|s| clean_ip(&s));
    }
    Ok(out)
}

/// Copies scalar fields as text. evtx renders an unnamed `<Data>` list as `Data`.
fn flatten_fields(m: &Map<String, Value>, out: &mut BTreeMap<String, String>) {
    for (k, v) in m {
        if k.starts_with('#') {
            continue;
        }
        if let Some(s) = scalar(v) {
            out.insert(k.clone(), s);
        } else if let Value::Object(inner) = v {
            // `{"#text": ..}` wrappers from evtx.
            if let Some(s) = inner.get("#text").and_then(scalar) {
                out.insert(k.clone(), s);
            }
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    let mut s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(m) => return m.get("#text").and_then(scalar),
        _ => return None,
    };
    if s.len() > MAX_FIELD {
        let mut cut = MAX_FIELD;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    Some(s)
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(m) => m.get("#text").and_then(as_u64),
        _ => None,
    }
}

fn event_id(v: &Value) -> Option<u32> {
    as_u64(v).and_then(|n| u32::try_from(n).ok())
}

pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    // Samba writes `+0000`; RFC 3339 wants `+00:00`.
    let b = s.as_bytes();
    if b.len() > 5
        && (b[b.len() - 5] == b'+' || b[b.len() - 5] == b'-')
        && s.is_char_boundary(b.len() - 2)
    {
        let fixed = format!("{}:{}", &s[..s.len() - 2], &s[s.len() - 2..]);
        return OffsetDateTime::parse(&fixed, &Rfc3339).ok();
    }
    // evtx_dump sometimes writes `2019-03-19 23:36:09.617655 UTC`.
    let t = s.trim_end_matches(" UTC").replacen(' ', "T", 1);
    OffsetDateTime::parse(&format!("{t}Z"), &Rfc3339).ok()
}

/// `-`, empty and `%%1793` (<value not set>) mean "nothing".
fn present(s: &str) -> Option<String> {
    let t = s.trim();
    (!(t.is_empty() || t == "-" || t == "%%1793" || t == "NULL SID")).then(|| t.to_string())
}

pub(crate) fn clean_ip(s: &str) -> Option<String> {
    let t = present(s)?;
    // IPv4 mapped into IPv6 is the same source; count it once.
    Some(t.strip_prefix("::ffff:").unwrap_or(&t).to_string())
}

pub(crate) fn status(s: &str) -> Option<String> {
    let t = present(s)?;
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|n| format!("{n:#x}"));
    }
    if let Ok(n) = t.parse::<u64>() {
        return Some(format!("{n:#x}"));
    }
    Some(t)
}

/// Hex (`0x17`), decimal, or text as in the 2025 layout (`0x17 (RC4-HMAC)`, `RC4`).
pub(crate) fn number(s: &str) -> Option<u32> {
    let t = present(s)?;
    let first = t.split_whitespace().next().unwrap_or("");
    if let Some(h) = first
        .strip_prefix("0x")
        .or_else(|| first.strip_prefix("0X"))
    {
        return u32::from_str_radix(h, 16).ok();
    }
    if let Ok(n) = first.parse() {
        return Some(n);
    }
    let up = t.to_ascii_uppercase();
    if up.contains("RC4") {
        Some(0x17)
    } else if up.contains("AES256") || up.contains("AES-256") {
        Some(0x12)
    } else if up.contains("AES128") || up.contains("AES-128") {
        Some(0x11)
    } else {
        None
    }
}

fn account(d: &BTreeMap<String, String>, name: &str, domain: &str, sid: &str) -> Account {
    let get = |k: &str| d.get(k).and_then(|v| present(v));
    Account {
        name: get(name),
        domain: get(domain),
        sid: get(sid),
    }
}

/// The CN of a DN (`CN=Domain Admins,CN=Users,...` -> `Domain Admins`), or the input.
pub(crate) fn cn_of(dn: &str) -> String {
    let first = dn.split(',').next().unwrap_or(dn);
    match first.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("cn") => v.trim().to_string(),
        _ => dn.to_string(),
    }
}

/// Fills the normalised fields from the Windows field names in `ev.data`.
fn windows_fields(ev: &mut IdentityEvent) {
    let d = &ev.data;
    let get = |k: &str| d.get(k).and_then(|v| present(v));
    ev.actor = account(d, "SubjectUserName", "SubjectDomainName", "SubjectUserSid");
    ev.target = account(d, "TargetUserName", "TargetDomainName", "TargetSid");
    if ev.target.sid.is_none() {
        ev.target.sid = get("TargetUserSid");
    }
    ev.source_ip = get("IpAddress")
        .or_else(|| get("ClientAddress"))
        .and_then(|s| clean_ip(&s));
    ev.source_workstation = get("WorkstationName")
        .or_else(|| get("Workstation"))
        .map(|w| w.trim_start_matches('\\').to_string());
    ev.logon_type = get("LogonType").and_then(|s| number(&s));
    ev.status = get("Status").and_then(|s| status(&s));
    ev.sub_status = get("SubStatus").and_then(|s| status(&s));
    ev.ticket_encryption = get("TicketEncryptionType").and_then(|s| number(&s));
    ev.pre_auth_type = get("PreAuthType").and_then(|s| number(&s));
    if let Some(svc) = get("ServiceName") {
        ev.service = Some(Account {
            name: Some(svc),
            domain: None,
            sid: get("ServiceSid"),
        });
    }
    ev.access_mask = get("AccessMask");
    ev.old_uac = get("OldUacValue").and_then(|s| number(&s));
    ev.new_uac = get("NewUacValue").and_then(|s| number(&s));
    let mut on = Vec::new();
    let mut off = Vec::new();
    if let Some(codes) = get("UserAccountControl") {
        for code in codes
            .split("%%")
            .filter_map(|c| c.trim().parse::<u32>().ok())
        {
            match UacFlag::from_msg_code(code) {
                Some((f, true)) => on.push(f),
                Some((f, false)) => off.push(f),
                None => {}
            }
        }
    }
    if let (Some(old), Some(new)) = (ev.old_uac, ev.new_uac) {
        // Windows gives these two in SAM bits (MS-SAMR USER_*), not LDAP ones.
        for f in UacFlag::ALL {
            if new & f.sam_bit() != 0 && old & f.sam_bit() == 0 {
                on.push(f);
            } else if old & f.sam_bit() != 0 && new & f.sam_bit() == 0 {
                off.push(f);
            }
        }
    }
    on.sort();
    on.dedup();
    off.sort();
    off.dedup();
    ev.uac_enabled = on;
    ev.uac_disabled = off;
    if let Some(p) = get("Properties") {
        ev.properties = guids(&p);
    }
    if matches!(ev.event_id, 4728 | 4729 | 4732 | 4733 | 4756 | 4757) {
        // Membership changes name the group in Target* and the member in Member*.
        ev.group = Some(ev.target.clone());
        let member_dn = get("MemberName");
        ev.target = Account {
            name: member_dn.as_deref().map(cn_of),
            domain: None,
            sid: get("MemberSid"),
        };
    }
}

/// Every GUID-shaped token (8-4-4-4-12 hex) in the text, lower case, in order, once.
pub(crate) fn guids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i + 36 <= b.len() {
        let cand = &b[i..i + 36];
        let ok = cand.iter().enumerate().all(|(j, c)| match j {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
        if ok {
            let g = String::from_utf8_lossy(cand).to_ascii_lowercase();
            if !out.contains(&g) {
                out.push(g);
            }
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uac_codes_map_both_ways() {
        assert_eq!(
            UacFlag::from_msg_code(2089),
            Some((UacFlag::DontExpirePassword, true))
        );
        assert_eq!(
            UacFlag::from_msg_code(2057),
            Some((UacFlag::DontExpirePassword, false))
        );
        assert_eq!(
            UacFlag::from_msg_code(2096),
            Some((UacFlag::DontReqPreauth, true))
        );
        assert_eq!(
            UacFlag::from_msg_code(2050),
            Some((UacFlag::PasswdNotreqd, false))
        );
    }

    #[test]
    fn computer_uac_changes_read_as_sam_bits_and_codes() {
        // Microsoft's 4742 example: delegation to any service turned on for a workstation.
        let mut ev = IdentityEvent::new(
            Location {
                file: "t".into(),
                record: None,
                line: None,
            },
            SourceFormat::Evtx,
            4742,
        );
        for (k, v) in [
            ("OldUacValue", "0x80"),
            ("NewUacValue", "0x2080"),
            ("UserAccountControl", "\r\n\t\t%%2093"),
        ] {
            ev.data.insert(k.into(), v.into());
        }
        windows_fields(&mut ev);
        assert_eq!(ev.uac_enabled, vec![UacFlag::TrustedForDelegation]);
        assert_eq!(
            UacFlag::from_msg_code(2091),
            Some((UacFlag::EncryptedTextPwdAllowed, true))
        );
        assert_eq!(
            UacFlag::from_msg_code(2095),
            Some((UacFlag::UseDesKeyOnly, true))
        );
        assert_eq!(
            UacFlag::from_msg_code(2062),
            Some((UacFlag::NotDelegated, false))
        );
    }

    #[test]
    fn numbers_in_both_kerberos_layouts() {
        assert_eq!(number("0x17"), Some(0x17));
        assert_eq!(number("23"), Some(23));
        assert_eq!(number("0x12 (AES256-CTS-HMAC-SHA1-96)"), Some(0x12));
        assert_eq!(number("RC4-HMAC"), Some(0x17));
        assert_eq!(number("-"), None);
    }

    #[test]
    fn guids_are_found_in_4662_text() {
        let p = "%%7688\r\n\t\t{1131f6AA-9c07-11d1-f79f-00c04fc2dcd2}\r\n\t{19195a5b-6da0-11d0-afd3-00c04fd930c9}";
        assert_eq!(
            guids(p),
            vec![
                "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
                "19195a5b-6da0-11d0-afd3-00c04fd930c9"
            ]
        );
    }

    #[test]
    fn samba_time_offsets_parse() {
        assert!(parse_time("2026-11-26T18:19:30.572595+0000").is_some());
        assert!(parse_time("2019-03-19T23:36:09.617655Z").is_some());
        assert!(parse_time("garbage+0000").is_none());
    }
}
