//! LDAP filter value escaping (RFC 4515 section 3): a value never changes
//! the structure of the filter it is put into.

use std::fmt::Write;

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
}
