//! LDAP filter value escaping (RFC 4515 section 3): a value never changes
//! the structure of the filter it is put into.

use std::fmt::Write;

use riposte_core::identity::LookupKey;

/// Escapes a string value: `*`, `(`, `)`, `\` and NUL become `\XX`.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' | '(' | ')' | '\\' | '\0' => {
                let _ = write!(out, "\\{:02x}", c as u32);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Escapes every byte of a binary value (objectSid, objectGUID).
pub fn escape_bytes(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value {
        let _ = write!(out, "\\{b:02x}");
    }
    out
}

/// `(attribute=value)` with the value escaped; `attribute` is always one of
/// riposte's own constants, never outside input.
pub fn equals(attribute: &'static str, value: &str) -> String {
    format!("({attribute}={})", escape(value))
}

/// `memberOf` matched along the whole membership chain
/// (LDAP_MATCHING_RULE_IN_CHAIN): members of nested groups too.
pub const MEMBER_OF_IN_CHAIN: &str = "memberOf:1.2.840.113556.1.4.1941:";

/// The account classes every user lookup is limited to.
pub const USERS: &str = "(objectCategory=person)(objectClass=user)";

/// Where and how to look for the account a [`LookupKey`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSearch {
    /// The search base: the forest's naming context, or the DN itself.
    pub base: String,
    /// Whole subtree under `base`; otherwise `base` alone.
    pub subtree: bool,
    /// The filter: always `(&USERS...)`, every outside value escaped.
    pub filter: String,
}

/// The search for the account `key` names in the forest whose naming context is `base_dn`;
/// `None` when `key` is a DN outside it (it cannot name anything in this forest).
pub fn user_search(key: &LookupKey, base_dn: &str) -> Option<UserSearch> {
    let subtree = |filter: String| UserSearch {
        base: base_dn.to_string(),
        subtree: true,
        filter,
    };
    Some(match key {
        LookupKey::SamAccountName(name) => {
            subtree(format!("(&{USERS}{})", equals("sAMAccountName", name)))
        }
        LookupKey::UserPrincipalName(upn) => {
            subtree(format!("(&{USERS}{})", equals("userPrincipalName", upn)))
        }
        LookupKey::Sid(sid) => subtree(format!(
            "(&{USERS}(objectSid={}))",
            escape_bytes(&sid.to_bytes())
        )),
        LookupKey::ObjectGuid(guid) => subtree(format!(
            "(&{USERS}(objectGUID={}))",
            escape_bytes(&guid.to_bytes_le())
        )),
        LookupKey::DistinguishedName(dn) => {
            if !riposte_core::dn::within(dn, base_dn) {
                return None;
            }
            UserSearch {
                base: dn.clone(),
                subtree: false,
                filter: format!("(&{USERS})"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metacharacters_cannot_open_a_new_clause() {
        let hostile = "*)(sAMAccountName=*";
        let f = equals("sAMAccountName", hostile);
        assert_eq!(f, "(sAMAccountName=\\2a\\29\\28sAMAccountName=\\2a)");
        // Exactly one opening and one closing parenthesis survive: the filter's own.
        assert_eq!(f.matches('(').count(), 1);
        assert_eq!(f.matches(')').count(), 1);
        assert_eq!(escape("a\0b\\c"), "a\\00b\\5cc");
        assert_eq!(escape("Jörg"), "Jörg");
        assert_eq!(escape_bytes(&[0x01, 0xff]), "\\01\\ff");
    }

    #[test]
    fn the_in_chain_member_filter_escapes_the_group_dn() {
        let f = equals(MEMBER_OF_IN_CHAIN, "CN=G*)(x,OU=Staff,DC=corp");
        assert_eq!(
            f,
            "(memberOf:1.2.840.113556.1.4.1941:=CN=G\\2a\\29\\28x,OU=Staff,DC=corp)"
        );
        assert_eq!(f.matches('(').count(), 1);
    }

    #[test]
    fn user_searches_keep_their_shape() {
        use riposte_core::identity::IdentityRef;
        const BASE: &str = "DC=corp,DC=example,DC=test";
        let search = |r: &str| user_search(&IdentityRef::parse(r).unwrap().key, BASE);
        let s = search("corp:*)(objectClass=*").unwrap();
        assert_eq!(
            s.filter,
            "(&(objectCategory=person)(objectClass=user)(sAMAccountName=\\2a\\29\\28objectClass=\\2a))"
        );
        assert!(s.subtree);
        assert_eq!(s.base, BASE);
        let dn = search("CN=Ann,OU=Staff,DC=corp,DC=example,DC=test").unwrap();
        assert_eq!(dn.base, "CN=Ann,OU=Staff,DC=corp,DC=example,DC=test");
        assert!(!dn.subtree);
        assert_eq!(dn.filter, format!("(&{USERS})"));
        assert_eq!(search("CN=x\\,DC=corp,DC=example,DC=test"), None);
    }
}
