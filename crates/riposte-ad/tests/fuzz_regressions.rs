//! The ldap_filter fuzz target's seeds and every input that once crashed it (`fuzz/`), through
//! the same properties: RFC 4515 escaping leaves no unescaped `* ( ) NUL`, decodes back to the
//! value, and the filter it goes into keeps its one clause.

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

#[test]
fn ldap_filter_inputs_escape_into_one_clause() {
    let inputs = riposte_testlab::fuzz::inputs("ldap_filter");
    assert!(inputs.len() >= 6, "the seeds are missing");
    for (name, data) in inputs {
        let value = String::from_utf8_lossy(&data);
        let escaped = escape(&value);
        assert!(
            !escaped.contains(['*', '(', ')', '\0']),
            "{name}: {escaped:?}"
        );
        assert_eq!(
            unescape(&escaped).as_deref(),
            Some(value.as_bytes()),
            "{name}"
        );
        let f = equals("sAMAccountName", &value);
        assert_eq!(f.matches('(').count(), 1, "{name}: {f}");
        assert_eq!(f.matches(')').count(), 1, "{name}: {f}");
        assert!(
            ldap3::parse_filter(format!("(&(objectClass=user){f})")).is_ok(),
            "{name}: {f}"
        );
        if !escaped.is_empty() {
            let search = format!("(|(sAMAccountName=*{escaped}*)(displayName=*{escaped}*))");
            assert!(ldap3::parse_filter(&search).is_ok(), "{name}: {search}");
        }
        assert_eq!(
            unescape(&escape_bytes(&data)).as_deref(),
            Some(&data[..]),
            "{name}"
        );
    }
}
