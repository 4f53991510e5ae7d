//! How a person names an identity: `corp:bert`, `bert@corp.example.test`,
//! a DN, a SID or an objectGUID. Parsing only; the connector decides where
//! to look, and escapes every value it puts into a filter.

use std::fmt;

use uuid::Uuid;

use crate::sid::Sid;

/// The longest reference accepted; AD DNs are limited well below this.
pub const MAX_REFERENCE_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    SamAccountName(String),
    UserPrincipalName(String),
    DistinguishedName(String),
    Sid(Sid),
    ObjectGuid(Uuid),
}

/// A reference to one identity, optionally qualified by forest name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRef {
    pub forest: Option<String>,
    pub key: LookupKey,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefError {
    #[error(
        "the identity reference is empty; give a name such as corp:ernie, a UPN, a DN, a SID or an objectGUID"
    )]
    Empty,
    #[error("the identity reference is {0} characters long; the limit is {MAX_REFERENCE_LEN}")]
    TooLong(usize),
    #[error(
        "the identity reference contains a control character (such as NUL) at position {0}; remove it"
    )]
    ControlCharacter(usize),
    #[error("{0:?} is not a valid distinguished name: {1}")]
    BadDn(String, &'static str),
    #[error("{0:?} is not a valid account name: {1}")]
    BadAccountName(String, &'static str),
    #[error("{0}")]
    BadSid(#[from] crate::sid::SidError),
}

impl IdentityRef {
    /// Parses a reference as typed by a person or sent by an API client.
    pub fn parse(input: &str) -> Result<Self, IdentityRefError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(IdentityRefError::Empty);
        }
        if input.chars().count() > MAX_REFERENCE_LEN {
            return Err(IdentityRefError::TooLong(input.chars().count()));
        }
        if let Some(pos) = input.chars().position(char::is_control) {
            return Err(IdentityRefError::ControlCharacter(pos));
        }
        // A forest prefix is a plain word before the first ':'; DNs, SIDs
        // and GUIDs never contain ':' before an '=' or '-', so this is unambiguous.
        let (forest, rest) = match input.split_once(':') {
            Some((f, r)) if is_forest_name(f) && !r.is_empty() => (Some(f.to_ascii_lowercase()), r),
            _ => (None, input),
        };
        Ok(IdentityRef {
            forest,
            key: parse_key(rest)?,
        })
    }
}

fn is_forest_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_key(s: &str) -> Result<LookupKey, IdentityRefError> {
    // `get`, not `[..4]`: byte 4 may fall inside a character (`��`), which must not panic.
    if s.len() > 4 && s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("S-1-")) {
        return Ok(LookupKey::Sid(s.parse()?));
    }
    let guid_text = s
        .strip_prefix('{')
        .and_then(|g| g.strip_suffix('}'))
        .unwrap_or(s);
    if guid_text.len() == 36
        && let Ok(guid) = Uuid::parse_str(guid_text)
    {
        return Ok(LookupKey::ObjectGuid(guid));
    }
    if looks_like_dn(s) {
        validate_dn(s)?;
        return Ok(LookupKey::DistinguishedName(s.to_string()));
    }
    if s.chars().count() > 256 {
        return Err(IdentityRefError::BadAccountName(
            s.to_string(),
            "it is longer than 256 characters",
        ));
    }
    // Anything else is a name. No character is refused here: the connector
    // escapes every value it puts into a filter (RFC 4515), so a hostile
    // name such as `*)(sAMAccountName=*` simply matches nothing.
    if s.contains('@') {
        return Ok(LookupKey::UserPrincipalName(s.to_string()));
    }
    Ok(LookupKey::SamAccountName(s.to_string()))
}

/// `attr=value,...` whose first attribute is a plain name (CN, OU, DC, ...).
fn looks_like_dn(s: &str) -> bool {
    match s.split_once('=') {
        Some((attr, _)) => {
            let attr = attr.trim();
            !attr.is_empty()
                && attr.len() <= 32
                && attr.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

/// A light structural check: the connector uses a DN only as a search base,
/// never inside a filter, and the server rejects what this lets through.
fn validate_dn(s: &str) -> Result<(), IdentityRefError> {
    let bad = |why| IdentityRefError::BadDn(s.to_string(), why);
    let first = s.split(',').next().unwrap_or("");
    let value = first.split_once('=').map(|(_, v)| v).unwrap_or("");
    if value.trim().is_empty() {
        return Err(bad("the first component has an empty value"));
    }
    if !s.to_ascii_uppercase().contains("DC=") {
        return Err(bad("it has no DC= component"));
    }
    Ok(())
}

impl fmt::Display for IdentityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(forest) = &self.forest {
            write!(f, "{forest}:")?;
        }
        match &self.key {
            LookupKey::SamAccountName(s)
            | LookupKey::UserPrincipalName(s)
            | LookupKey::DistinguishedName(s) => f.write_str(s),
            LookupKey::Sid(s) => write!(f, "{s}"),
            LookupKey::ObjectGuid(g) => write!(f, "{{{g}}}"),
        }
    }
}

impl LookupKey {
    /// What kind of key this is, for messages ("no user with sAMAccountName ...").
    pub fn kind(&self) -> &'static str {
        match self {
            LookupKey::SamAccountName(_) => "sAMAccountName",
            LookupKey::UserPrincipalName(_) => "userPrincipalName",
            LookupKey::DistinguishedName(_) => "distinguished name",
            LookupKey::Sid(_) => "objectSid",
            LookupKey::ObjectGuid(_) => "objectGUID",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> LookupKey {
        IdentityRef::parse(s).unwrap().key
    }

    #[test]
    fn names_with_multibyte_characters_early_parse_and_never_panic() {
        for name in ["uÀô¿ÞûX", "ééé", "S-1ô", "abô", "€", "corp:uÀô¿ÞûX"] {
            let parsed = IdentityRef::parse(name);
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
        assert!(matches!(
            IdentityRef::parse("S-1-é"),
            Err(IdentityRefError::BadSid(_))
        ));
        assert_eq!(key("uÀô¿ÞûX"), LookupKey::SamAccountName("uÀô¿ÞûX".into()));
    }

    #[test]
    fn every_documented_form_parses() {
        let r = IdentityRef::parse("corp:bert").unwrap();
        assert_eq!(r.forest.as_deref(), Some("corp"));
        assert_eq!(r.key, LookupKey::SamAccountName("bert".into()));
        assert_eq!(
            key("bert@corp.example.test"),
            LookupKey::UserPrincipalName("bert@corp.example.test".into())
        );
        assert!(matches!(
            key("CN=bert,OU=Staff,DC=corp,DC=example,DC=test"),
            LookupKey::DistinguishedName(_)
        ));
        assert!(matches!(key("S-1-5-21-1-2-3-1105"), LookupKey::Sid(_)));
        assert!(matches!(
            key("{0f3c1a9e-59b6-4c5f-9d1a-0d5a35b6f4a1}"),
            LookupKey::ObjectGuid(_)
        ));
        assert!(matches!(
            key("0f3c1a9e-59b6-4c5f-9d1a-0d5a35b6f4a1"),
            LookupKey::ObjectGuid(_)
        ));
        let r = IdentityRef::parse("FABRIKAM:S-1-5-21-1-2-3-500").unwrap();
        assert_eq!(r.forest.as_deref(), Some("fabrikam"));
        assert_eq!(r.to_string(), "fabrikam:S-1-5-21-1-2-3-500");
    }

    #[test]
    fn hostile_input_is_refused_with_a_reason() {
        // Filter metacharacters are a name to look up (escaped later), never a DN or a wildcard.
        assert_eq!(
            key("*)(sAMAccountName=*"),
            LookupKey::SamAccountName("*)(sAMAccountName=*".into())
        );
        assert_eq!(key("corp:*"), LookupKey::SamAccountName("*".into()));
        assert!(matches!(
            IdentityRef::parse("CN=bert,OU=Staff"),
            Err(IdentityRefError::BadDn(..))
        ));
        assert!(matches!(
            IdentityRef::parse("bert\0"),
            Err(IdentityRefError::ControlCharacter(4))
        ));
        assert!(matches!(
            IdentityRef::parse(&"a".repeat(2000)),
            Err(IdentityRefError::TooLong(2000))
        ));
        assert!(matches!(
            IdentityRef::parse("   "),
            Err(IdentityRefError::Empty)
        ));
        assert!(matches!(
            IdentityRef::parse("S-1-5-x"),
            Err(IdentityRefError::BadSid(_))
        ));
    }
}
