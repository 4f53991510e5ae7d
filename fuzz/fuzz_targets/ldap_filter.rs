//! RFC 4515 escaping: whatever the value (bytes taken lossily as text, as an event field or a
//! search box would give), the escaped form has no unescaped `* ( ) \ NUL`, decodes back to the
//! value, and the filter it goes into keeps its one clause.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use riposte_ad::filter::{equals, escape, escape_bytes};

/// Undoes `\XX`; `None` if a backslash is not followed by two hex digits.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    let escaped = escape(&value);
    assert!(!escaped.contains(['*', '(', ')', '\0']), "{escaped:?}");
    assert_eq!(unescape(&escaped).as_deref(), Some(value.as_bytes()));
    let f = equals("sAMAccountName", &value);
    assert_eq!(f.matches('(').count(), 1);
    assert_eq!(f.matches(')').count(), 1);
    assert!(
        ldap3::parse_filter(format!("(&(objectClass=user){f})")).is_ok(),
        "{f}"
    );
    // `=**` is refused by ldap3: an empty search is an error, never a match-everything.
    if escaped.is_empty() {
        return;
    }
    let search = format!("(|(sAMAccountName=*{escaped}*)(displayName=*{escaped}*))");
    assert!(ldap3::parse_filter(&search).is_ok(), "{search}");
    let bytes = escape_bytes(data);
    assert_eq!(unescape(&bytes).as_deref(), Some(data));
});
