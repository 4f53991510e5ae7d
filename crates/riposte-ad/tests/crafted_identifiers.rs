//! Crafted identifiers (filter metacharacters, NUL, 10,000-character values, invalid UTF-8 taken
//! lossily, DN tricks) typed as a reference or carried in an event field: either `IdentityRef`
//! refuses them with an error that says why, or the user search built from them has exactly the
//! structure riposte writes (one `(&...)` over the user classes and one equality clause whose
//! value decodes back to the input), so no value can widen a search or reach the directory
//! unescaped. The hand-picked cases live in `src/filter.rs`; these generate them.

use proptest::prelude::*;
use riposte_ad::filter::{USERS, equals, escape, user_search};
use riposte_core::dn::within as dn_within;
use riposte_core::identity::{IdentityRef, LookupKey, MAX_REFERENCE_LEN};

const BASE: &str = "DC=corp,DC=example,DC=test";

/// Undoes RFC 4515 `\XX`; `None` if a backslash is not followed by two hex digits.
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

/// Depth never below zero, back to zero only at the very end: one top-level group.
fn one_top_level_group(f: &str) -> bool {
    let mut depth = 0i32;
    for (i, c) in f.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 || (depth == 0 && i != f.len() - 1) {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Pieces attackers use, to be glued together with random text.
const TRICKS: &[&str] = &[
    "*",
    ")(",
    "*)(objectClass=*",
    "*)(|(sAMAccountName=*",
    "\\",
    "\\2a",
    "\\00",
    "\0",
    "\u{0}x",
    "CN=x\\,OU=y",
    ",DC=corp,DC=example,DC=test",
    "CN=xDC=corp,DC=example,DC=test",
    "\"",
    ";",
    "+",
    "=",
    "@",
    ":",
    "corp:",
    "S-1-5-21-",
    "{",
    "}",
    "\u{FFFD}",
    "Jörg",
    "\u{202E}",
    " ",
];

fn hostile() -> impl Strategy<Value = String> {
    let trick = proptest::sample::select(TRICKS).prop_map(str::to_string);
    let plain = "[a-zA-Z0-9 =,.@:{}\\-]{0,12}";
    prop_oneof![
        // Tricks glued with plain text, with or without a forest prefix.
        (
            proptest::option::of("[a-z]{1,8}:"),
            proptest::collection::vec(prop_oneof![trick, plain.prop_map(|s| s)], 1..8)
        )
            .prop_map(|(f, parts)| format!("{}{}", f.unwrap_or_default(), parts.concat())),
        // DN-shaped: a crafted first RDN, then the base or something that only looks like it.
        (
            "[a-zA-Z0-9*()\\\\,=\"; ]{1,24}",
            proptest::sample::select(
                &[
                    ",DC=corp,DC=example,DC=test",
                    "\\,DC=corp,DC=example,DC=test",
                    "DC=corp,DC=example,DC=test",
                    ",DC=example,DC=test",
                    ",DC=othercorp,DC=example,DC=test",
                ][..]
            )
        )
            .prop_map(|(v, tail)| format!("CN={v}{tail}")),
        // Very long values: one character repeated up to 10,000 times.
        (
            proptest::sample::select(&['a', '*', '(', '\\', 'é', ','][..]),
            1000usize..10_000
        )
            .prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        // Bytes that are not UTF-8, taken the way a lossy reader would.
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_crafted_reference_is_refused_or_searched_for_literally(input in hostile()) {
        match IdentityRef::parse(&input) {
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!msg.is_empty());
                // A refusal quotes at most a reference within the limit (escaped for display),
                // never a 10,000-character value whole.
                prop_assert!(msg.chars().count() <= 10 * MAX_REFERENCE_LEN, "{} chars", msg.len());
            }
            Ok(r) => match user_search(&r.key, BASE) {
                None => {
                    prop_assert!(matches!(r.key, LookupKey::DistinguishedName(_)));
                }
                Some(s) if !s.subtree => {
                    // A DN is a base-scope search of that one object, inside the naming context.
                    let LookupKey::DistinguishedName(dn) = &r.key else {
                        return Err(TestCaseError::fail("base scope for a non-DN key"));
                    };
                    prop_assert_eq!(&s.base, dn);
                    prop_assert!(dn_within(dn, BASE), "{dn}");
                    prop_assert_eq!(s.filter, format!("(&{USERS})"));
                }
                Some(s) => {
                    prop_assert_eq!(&s.base, BASE);
                    let f = &s.filter;
                    let prefix = format!("(&{USERS}(");
                    prop_assert!(f.starts_with(&prefix) && f.ends_with("))"), "{f}");
                    prop_assert!(one_top_level_group(f), "{f}");
                    prop_assert_eq!(f.matches('(').count(), 4, "{}", f);
                    prop_assert!(!f.contains('*') && !f.contains('\0'), "{f}");
                    prop_assert!(ldap3::parse_filter(f).is_ok(), "{f}");
                    // The one clause is attribute=value, and the value is the input's key, byte
                    // for byte: the filter asks for that literal name and nothing wider.
                    let clause = &f[prefix.len()..f.len() - 2];
                    let (attr, value) = clause.split_once('=').unwrap();
                    let want: Vec<u8> = match &r.key {
                        LookupKey::SamAccountName(n) => {
                            prop_assert_eq!(attr, "sAMAccountName");
                            n.as_bytes().to_vec()
                        }
                        LookupKey::UserPrincipalName(n) => {
                            prop_assert_eq!(attr, "userPrincipalName");
                            n.as_bytes().to_vec()
                        }
                        LookupKey::Sid(sid) => sid.to_bytes(),
                        LookupKey::ObjectGuid(g) => g.to_bytes_le().to_vec(),
                        LookupKey::DistinguishedName(_) => {
                            return Err(TestCaseError::fail("subtree search for a DN"));
                        }
                    };
                    prop_assert_eq!(unescape(value), Some(want));
                }
            },
        }
    }

    /// Event fields reach the directory through `escape` (searches) and `equals` (lookups):
    /// nothing of the value survives as filter syntax, whatever its length or bytes.
    #[test]
    fn an_escaped_field_never_becomes_filter_syntax(value in hostile()) {
        let escaped = escape(&value);
        prop_assert!(!escaped.contains(['*', '(', ')', '\0']));
        prop_assert_eq!(unescape(&escaped), Some(value.as_bytes().to_vec()));
        let f = format!("(&(objectClass=user){})", equals("sAMAccountName", &value));
        prop_assert!(one_top_level_group(&f));
        prop_assert_eq!(f.matches('(').count(), 3);
        prop_assert!(ldap3::parse_filter(&f).is_ok(), "{f}");
        if escaped.is_empty() {
            // `=**` is no filter at all (ldap3 refuses it): an empty search is an error, not
            // a match-everything.
            return Ok(());
        }
        let search = format!("(|(sAMAccountName=*{escaped}*)(displayName=*{escaped}*))");
        prop_assert!(one_top_level_group(&search));
        // Only the search's own four wildcards.
        prop_assert_eq!(search.matches('*').count(), 4);
        prop_assert!(ldap3::parse_filter(&search).is_ok());
    }

    /// A DN is inside the base only if its last RDNs are the base's, compared RDN by RDN.
    #[test]
    fn a_dn_is_inside_only_below_the_base(
        first in "[a-zA-Z0-9 ]{1,12}",
        tail in proptest::sample::select(&[
            ("\\,DC=corp,DC=example,DC=test", false),
            ("DC=corp,DC=example,DC=test", false),
            (",DC=othercorp,DC=example,DC=test", false),
            (",DC=example,DC=test", false),
            (",OU=Staff,DC=corp,DC=example,DC=test", true),
            (", dc=CORP, DC=example ,DC=test", true),
        ][..]),
    ) {
        let dn = format!("CN={first}{}", tail.0);
        prop_assert_eq!(dn_within(&dn, BASE), tail.1, "{}", dn);
    }
}
