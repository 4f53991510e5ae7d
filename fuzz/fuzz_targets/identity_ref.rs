//! Identity references as typed in the CLI, the portal or an API call; whatever parses becomes a
//! user search whose filter keeps its shape, and prints back to an equal reference.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use riposte_ad::filter::{USERS, user_search};
use riposte_core::identity::IdentityRef;

const BASE: &str = "DC=corp,DC=example,DC=test";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(r) = IdentityRef::parse(&text) else {
        return;
    };
    let again = IdentityRef::parse(&r.to_string()).expect("a parsed reference prints parseable");
    assert_eq!(again, r, "{text:?} does not round-trip");
    if let Some(s) = user_search(&r.key, BASE) {
        assert!(s.filter.starts_with(&format!("(&{USERS}")), "{}", s.filter);
        assert!(ldap3::parse_filter(&s.filter).is_ok(), "{}", s.filter);
        // Only the filter's own parentheses: the 2 + 2 of USERS, the outer pair, one pair
        // for the value's clause (none for a DN lookup).
        let opens = s.filter.matches('(').count();
        assert_eq!(opens, s.filter.matches(')').count());
        assert!(opens == 4 || opens == 3, "{}", s.filter);
        assert_eq!(s.filter.matches('*').count(), 0, "{}", s.filter);
        assert!(!s.filter.contains('\0'));
        if !s.subtree {
            assert!(riposte_core::dn::within(&s.base, BASE));
        } else {
            assert_eq!(s.base, BASE);
        }
    }
});
