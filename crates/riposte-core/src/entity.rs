//! How an account named by an event or an alert (`CORP\ernie`,
//! `CORP.EXAMPLE.TEST\ernie`, `ernie@CORP.EXAMPLE.TEST`, a SID, a plain name)
//! becomes a riposte reference. The one rule for automation and for every bulk
//! front end: a domain that names no configured forest is refused, never guessed.

use crate::directory::Directory;
use crate::identity::{IdentityRef, IdentityRefError, MAX_REFERENCE_LEN};

/// How a configured forest may be named in an event: by the forest's name
/// (which the configuration gives as the domain's NetBIOS name, e.g. `corp`
/// for `CORP`) or by its DNS domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForestNaming {
    pub name: String,
    pub domain: String,
}

impl ForestNaming {
    fn is_named(&self, domain: &str) -> bool {
        self.name.eq_ignore_ascii_case(domain)
            || (!self.domain.is_empty() && self.domain.eq_ignore_ascii_case(domain))
    }
}

/// The configured forests' names and DNS domains, in configuration order.
pub fn forest_namings(directory: &dyn Directory) -> Vec<ForestNaming> {
    directory
        .forest_names()
        .into_iter()
        .map(|name| {
            let domain = directory.forest_domain(&name).unwrap_or_default();
            ForestNaming { name, domain }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityError {
    #[error("the account name is empty")]
    Empty,
    #[error("the account name is {0} characters long; the limit is {MAX_REFERENCE_LEN}")]
    TooLong(usize),
    #[error("the account name contains a control character at position {0}")]
    ControlCharacter(usize),
    #[error("{0:?} has no domain before the backslash; expected DOMAIN\\name")]
    EmptyDomain(String),
    #[error("{0:?} has no name after the backslash; expected DOMAIN\\name")]
    EmptyName(String),
    #[error("{0:?} has more than one backslash; expected DOMAIN\\name")]
    ExtraBackslash(String),
    #[error(
        "the domain {domain:?} names no configured forest (configured: {configured}); add the forest to riposte.toml or act on the account by a reference such as forest:name"
    )]
    UnknownDomain { domain: String, configured: String },
    #[error("{0}")]
    Reference(#[from] IdentityRefError),
}

/// Turns an entity as events name it into a riposte reference (`corp:ernie`).
/// `DOMAIN\name` must name a configured forest (by name or DNS domain,
/// case-insensitive); `name@realm` is qualified with the forest whose DNS
/// domain is the realm, else kept as a UPN (alternate UPN suffixes exist);
/// SIDs and plain names pass as they are. The result always parses as an
/// [`IdentityRef`].
pub fn reference_for_entity(entity: &str, forests: &[ForestNaming]) -> Result<String, EntityError> {
    let entity = entity.trim();
    if entity.is_empty() {
        return Err(EntityError::Empty);
    }
    let length = entity.chars().count();
    if length > MAX_REFERENCE_LEN {
        return Err(EntityError::TooLong(length));
    }
    if let Some(position) = entity.chars().position(char::is_control) {
        return Err(EntityError::ControlCharacter(position));
    }
    let reference = if let Some((domain, name)) = entity.split_once('\\') {
        let (domain, name) = (domain.trim(), name.trim());
        if domain.is_empty() {
            return Err(EntityError::EmptyDomain(entity.to_string()));
        }
        if name.is_empty() {
            return Err(EntityError::EmptyName(entity.to_string()));
        }
        if name.contains('\\') {
            return Err(EntityError::ExtraBackslash(entity.to_string()));
        }
        let forest = forests.iter().find(|f| f.is_named(domain)).ok_or_else(|| {
            EntityError::UnknownDomain {
                domain: domain.to_string(),
                configured: configured(forests),
            }
        })?;
        format!("{}:{name}", forest.name)
    } else if let Some((_, realm)) = entity.rsplit_once('@')
        && !entity.contains(':')
        && let Some(forest) = forests
            .iter()
            .find(|f| !f.domain.is_empty() && f.domain.eq_ignore_ascii_case(realm))
    {
        format!("{}:{entity}", forest.name)
    } else {
        entity.to_string()
    };
    IdentityRef::parse(&reference)?;
    Ok(reference)
}

fn configured(forests: &[ForestNaming]) -> String {
    if forests.is_empty() {
        return "none".into();
    }
    forests
        .iter()
        .map(|f| {
            if f.domain.is_empty() {
                f.name.clone()
            } else {
                format!("{} ({})", f.name, f.domain)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forests() -> Vec<ForestNaming> {
        vec![
            ForestNaming {
                name: "corp".into(),
                domain: "corp.example.test".into(),
            },
            ForestNaming {
                name: "fabrikam".into(),
                domain: String::new(),
            },
        ]
    }

    fn map(entity: &str) -> Result<String, EntityError> {
        reference_for_entity(entity, &forests())
    }

    #[test]
    fn netbios_and_dns_domains_name_their_forest() {
        assert_eq!(map("CORP\\ernie").unwrap(), "corp:ernie");
        assert_eq!(map("corp\\ernie").unwrap(), "corp:ernie");
        assert_eq!(map("CORP.EXAMPLE.TEST\\bert").unwrap(), "corp:bert");
        assert_eq!(map("FABRIKAM\\dana").unwrap(), "fabrikam:dana");
    }

    #[test]
    fn realms_sids_and_plain_names() {
        assert_eq!(
            map("ernie@CORP.EXAMPLE.TEST").unwrap(),
            "corp:ernie@CORP.EXAMPLE.TEST"
        );
        // An alternate UPN suffix is kept as an exact UPN, not guessed into a forest.
        assert_eq!(map("ernie@mail.example").unwrap(), "ernie@mail.example");
        assert_eq!(map(" S-1-5-21-1-2-3-1105 ").unwrap(), "S-1-5-21-1-2-3-1105");
        assert_eq!(map("ernie").unwrap(), "ernie");
        assert_eq!(map("corp:ernie").unwrap(), "corp:ernie");
    }

    #[test]
    fn hostile_entities_are_refused_with_a_reason() {
        assert!(matches!(map("CORP\\"), Err(EntityError::EmptyName(_))));
        assert!(matches!(map("\\ernie"), Err(EntityError::EmptyDomain(_))));
        assert!(matches!(
            map("CORP\\a\\b"),
            Err(EntityError::ExtraBackslash(_))
        ));
        let unknown = map("EVIL\\ernie").unwrap_err();
        assert!(matches!(unknown, EntityError::UnknownDomain { .. }));
        let text = unknown.to_string();
        assert!(
            text.contains("\"EVIL\"") && text.contains("corp (corp.example.test)"),
            "{text}"
        );
        assert!(matches!(
            map("CORP\\er\0nie"),
            Err(EntityError::ControlCharacter(7))
        ));
        assert!(matches!(
            map("CORP\\er\nnie"),
            Err(EntityError::ControlCharacter(_))
        ));
        assert!(matches!(map(""), Err(EntityError::Empty)));
        assert!(matches!(map(" \t "), Err(EntityError::Empty)));
        let long = format!("CORP\\{}", "e".repeat(5000));
        assert!(matches!(map(&long), Err(EntityError::TooLong(5005))));
        // Inside the length limit but too long for an account name.
        let name = format!("CORP\\{}", "e".repeat(300));
        assert!(matches!(map(&name), Err(EntityError::Reference(_))));
        // Filter metacharacters pass as a name: the connector escapes every value.
        assert_eq!(map("CORP\\*)(cn=*").unwrap(), "corp:*)(cn=*");
        assert!(matches!(
            reference_for_entity("CORP\\ernie", &[]),
            Err(EntityError::UnknownDomain { .. })
        ));
    }
}
