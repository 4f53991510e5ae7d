//! Turning LDAP entries into riposte's account state.

use ldap3::SearchEntry;
use riposte_core::account::{AccountState, AttributeMetadata};
use riposte_core::sid::Sid;
use uuid::Uuid;

/// Every attribute riposte reads of an account's state, in one search:
/// read-backs, and sets of accounts (an OU, a group) listed to plan a bulk.
pub const STATE_ATTRIBUTES: &[&str] = &[
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "objectSid",
    "objectGUID",
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "pwdLastSet",
    "lockoutTime",
    "adminCount",
    "msDS-UserPasswordExpiryTimeComputed",
    "replPropertyMetaData",
];

/// The attributes of one account read: its state, and with `rights` the
/// action account's rights on it (`allowedAttributesEffective`, the costly one).
pub fn account_attributes(rights: bool) -> Vec<&'static str> {
    let mut attributes = STATE_ATTRIBUTES.to_vec();
    if rights {
        attributes.push("allowedAttributesEffective");
    }
    attributes
}

/// Attribute IDs (ATTIDs from the default prefix table) of what riposte writes.
const WRITTEN_ATTIDS: &[(u32, &str)] = &[
    (0x0009_0008, "userAccountControl"),
    (0x0009_0060, "pwdLastSet"),
    (0x0009_0296, "lockoutTime"),
    (0x0009_005a, "unicodePwd"),
];

fn text<'a>(entry: &'a SearchEntry, name: &str) -> Option<&'a str> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// A binary attribute; ldap3 files values that happen to be valid UTF-8 as text.
fn bytes(entry: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    entry
        .bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
        .or_else(|| text(entry, name).map(|s| s.as_bytes().to_vec()))
}

fn number(entry: &SearchEntry, name: &str) -> Option<i64> {
    text(entry, name).and_then(|s| s.trim().parse().ok())
}

/// The account in `entry`; `rights_asked` says whether the search asked for
/// `allowedAttributesEffective` ([`account_attributes`]): if it did, a
/// missing value means nothing is writable; if not, the rights are unknown.
pub fn account_from_entry(forest: &str, entry: &SearchEntry, rights_asked: bool) -> AccountState {
    let writable = entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("allowedAttributesEffective"))
        .map(|(_, v)| v.clone());
    AccountState {
        forest: forest.to_string(),
        dn: entry.dn.clone(),
        sid: bytes(entry, "objectSid").and_then(|b| Sid::from_bytes(&b).ok()),
        guid: bytes(entry, "objectGUID")
            .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
            .map(Uuid::from_bytes_le),
        sam_account_name: text(entry, "sAMAccountName")
            .unwrap_or_default()
            .to_string(),
        user_principal_name: text(entry, "userPrincipalName").map(String::from),
        display_name: text(entry, "displayName").map(String::from),
        user_account_control: number(entry, "userAccountControl").unwrap_or(0) as u32,
        uac_computed: number(entry, "msDS-User-Account-Control-Computed").unwrap_or(0) as u32,
        pwd_last_set: number(entry, "pwdLastSet").unwrap_or(0),
        lockout_time: number(entry, "lockoutTime").unwrap_or(0),
        admin_count: number(entry, "adminCount").unwrap_or(0) == 1,
        password_expiry_computed: number(entry, "msDS-UserPasswordExpiryTimeComputed"),
        // A DC that returns no value returns none because nothing is writable.
        writable_attributes: rights_asked.then(|| writable.unwrap_or_default()),
        rights_read_on: None,
        metadata: bytes(entry, "replPropertyMetaData")
            .map(|b| parse_metadata(&b))
            .unwrap_or_default(),
    }
}

/// Parses a replPropertyMetaDataBlob (MS-DRSR 5.167; Samba's drsblobs.idl):
/// version, reserved, count, reserved, then 48-byte entries. Keeps the
/// attributes riposte writes; a malformed blob yields what parsed cleanly.
pub fn parse_metadata(blob: &[u8]) -> Vec<AttributeMetadata> {
    let u32_at = |at: usize| {
        blob.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |at: usize| {
        blob.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if u32_at(0) != Some(1) {
        return Vec::new();
    }
    let count = u32_at(8).unwrap_or(0) as usize;
    let mut out = Vec::new();
    for i in 0..count.min(4096) {
        let at = 16 + i * 48;
        let (Some(attid), Some(version), Some(time), Some(guid), Some(usn)) = (
            u32_at(at),
            u32_at(at + 4),
            u64_at(at + 8),
            blob.get(at + 16..at + 32),
            u64_at(at + 32),
        ) else {
            break;
        };
        if let Some((_, name)) = WRITTEN_ATTIDS.iter().find(|(id, _)| *id == attid) {
            out.push(AttributeMetadata {
                attribute: name.to_string(),
                version,
                originating_time: riposte_core::time::from_nttime_seconds(time)
                    .map(riposte_core::time::rfc3339)
                    .unwrap_or_else(|| time.to_string()),
                originating_invocation_id: Uuid::from_bytes_le(guid.try_into().expect("16 bytes")),
                originating_usn: usn as i64,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(entries: &[(u32, u32, u64)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for (attid, version, time) in entries {
            b.extend_from_slice(&attid.to_le_bytes());
            b.extend_from_slice(&version.to_le_bytes());
            b.extend_from_slice(&time.to_le_bytes());
            b.extend_from_slice(&[7u8; 16]);
            b.extend_from_slice(&4242u64.to_le_bytes());
            b.extend_from_slice(&4243u64.to_le_bytes());
        }
        b
    }

    #[test]
    fn metadata_keeps_written_attributes() {
        let parsed = parse_metadata(&blob(&[
            (0x0009_0008, 3, 12_591_158_400),
            (0x0002_0001, 1, 1),
        ]));
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].attribute, "userAccountControl");
        assert_eq!(parsed[0].version, 3);
        assert_eq!(parsed[0].originating_time, "2000-01-01T00:00:00Z");
        assert_eq!(parsed[0].originating_usn, 4242);
    }

    #[test]
    fn truncated_metadata_does_not_panic() {
        let mut b = blob(&[(0x0009_0008, 3, 1), (0x0009_0060, 2, 1)]);
        b.truncate(40);
        assert!(parse_metadata(&b).is_empty());
        assert!(parse_metadata(&[1, 0]).is_empty());
        assert!(parse_metadata(&[]).is_empty());
    }
}
