//! What riposte needs from a directory connector. The AD connector
//! (riposte-ad) implements these traits over LDAP; the executor uses only them.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::account::AccountState;
use crate::identity::IdentityRef;
use crate::rights::ActionAccount;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot reach {dc}: {message}")]
    Unavailable { dc: String, message: String },
    #[error("{dc} refused the action account's sign-in: {message}")]
    BindRefused { dc: String, message: String },
    #[error("{dc}: insufficient access on {dn}: {message}")]
    InsufficientAccess {
        dc: String,
        dn: String,
        message: String,
    },
    #[error("{dc}: {dn} changed between read and write (compare-and-swap lost)")]
    Conflict { dc: String, dn: String },
    #[error("{dc}: no object {dn}")]
    NoSuchObject { dc: String, dn: String },
    #[error("{dc} refused the operation on {dn}: {message} (LDAP result {code})")]
    Refused {
        dc: String,
        dn: String,
        code: u32,
        message: String,
    },
    #[error("no forest named {name:?} is configured (configured: {configured})")]
    UnknownForest { name: String, configured: String },
    #[error("forest {forest}: {message}")]
    Config { forest: String, message: String },
}

impl DirectoryError {
    /// Worth retrying, possibly through another DC.
    pub fn is_transient(&self) -> bool {
        matches!(self, DirectoryError::Unavailable { .. })
    }
}

/// One write, as the executor asks for it.
#[derive(Debug, Clone)]
pub enum Write {
    /// Compare-and-swap of userAccountControl: fails with
    /// [`DirectoryError::Conflict`] if the value is no longer `expected`.
    UserAccountControl { expected: u32, new: u32 },
    /// pwdLastSet=0: must change the password at next logon.
    PwdLastSetZero,
    /// lockoutTime=0: unlock.
    LockoutTimeZero,
    /// A new password (unicodePwd), over an encrypted connection only.
    Password(SecretString),
}

impl Write {
    /// The write in words for the evidence; never shows a password.
    pub fn describe(&self) -> String {
        match self {
            Write::UserAccountControl { expected, new } => format!(
                "userAccountControl 0x{expected:x} -> 0x{new:x} (compare-and-swap: delete old value, add new value)"
            ),
            Write::PwdLastSetZero => "pwdLastSet := 0".into(),
            Write::LockoutTimeZero => "lockoutTime := 0".into(),
            Write::Password(_) => "unicodePwd := <new password, not recorded>".into(),
        }
    }
}

/// The accounts a reference matched, and what could not be searched.
#[derive(Debug, Default)]
pub struct Lookup {
    pub matches: Vec<AccountState>,
    /// Forests searched successfully.
    pub searched: Vec<String>,
    /// Forests that could not be searched, with why.
    pub unreachable: Vec<(String, DirectoryError)>,
}

#[async_trait]
pub trait Directory: Send + Sync {
    /// Configured forest names, in configuration order.
    fn forest_names(&self) -> Vec<String>;

    /// LDAP operations sent so far, for metrics.
    fn round_trips(&self) -> u64 {
        0
    }

    /// The DNS domain of a forest, for messages and delegation commands.
    fn forest_domain(&self, forest: &str) -> Option<String>;

    /// Finds the accounts a reference names, across the forests it allows.
    async fn lookup(&self, reference: &IdentityRef) -> Lookup;

    /// Accounts whose sAMAccountName, UPN or display name contains `text`,
    /// at most `limit` per forest.
    async fn search(&self, text: &str, limit: u32) -> Lookup;

    /// The accounts in `set` (at most `limit`; more is an error, never a cut).
    async fn accounts_in(
        &self,
        set: &AccountSet,
        limit: usize,
    ) -> Result<Vec<AccountState>, AccountSetError> {
        let _ = limit;
        Err(AccountSetError::Invalid(format!(
            "this directory cannot list {set}"
        )))
    }

    /// The sAMAccountNames (`DC1$`) of `forest`'s domain controllers as the directory
    /// lists them: computer objects with SERVER_TRUST_ACCOUNT (0x2000) in
    /// userAccountControl or primaryGroupID 516. Detection takes who is a DC from
    /// here, never from the events it is fed.
    async fn domain_controllers(&self, forest: &str) -> Result<Vec<String>, DirectoryError> {
        let _ = forest;
        Ok(Vec::new())
    }

    /// A session on one DC of `forest`: `preferred_dc` first if given, then
    /// the others in order (failover).
    async fn session(
        &self,
        forest: &str,
        preferred_dc: Option<&str>,
    ) -> Result<Box<dyn DirectorySession>, DirectoryError>;
}

/// What a read of an account must bring back beside its state.
/// `allowedAttributesEffective` is the costly part of a read (the DC
/// evaluates the whole security descriptor per attribute: about 1.5 ms on a
/// Samba DC against 0.2 ms for the rest), so it is asked only where a
/// decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The state only, `writable_attributes` unknown: read-backs and
    /// compare-and-swap re-reads, whose rights were judged before the write.
    State,
    /// The state and the action account's rights on this very account.
    StateAndRights,
    /// The state and the rights as read on another account of the same
    /// container (OU) a moment ago, when there is one; an account protected by
    /// AdminSDHolder (adminCount=1), whose rights are not its container's,
    /// always reads its own. Only for actions of a single write: if the
    /// container's rights were wrong for this account, the directory refuses
    /// that write and the outcome is `denied` all the same, with nothing
    /// changed.
    StateAndContainerRights,
}

/// A bound connection to one DC; reads after writes go to the same DC.
#[async_trait]
pub trait DirectorySession: Send {
    /// The DC this session talks to (its URL).
    fn dc(&self) -> &str;

    fn action_account(&self) -> &ActionAccount;

    async fn read_account(&mut self, dn: &str, read: Read) -> Result<AccountState, DirectoryError>;

    async fn apply(&mut self, dn: &str, write: &Write) -> Result<(), DirectoryError>;
}

/// The most accounts one request may name by OU or group (a bigger set is
/// refused, never cut short silently).
pub const MAX_SET: usize = 100_000;

/// Many accounts named by where they are, for mass containment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSet {
    /// Every user object under this OU or container (subtree). The DN must lie
    /// inside a configured forest's naming context; it is only ever a search base.
    Ou { dn: String },
    /// The members (users) of one group, named `forest:sAMAccountName` or by
    /// its DN: direct members only, or with `nested` the members of its member
    /// groups too, at any depth. Primary-group membership (e.g. Domain Users)
    /// is not listed.
    Group { reference: String, nested: bool },
}

impl fmt::Display for AccountSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountSet::Ou { dn } => write!(f, "the users under {dn}"),
            AccountSet::Group {
                reference,
                nested: false,
            } => write!(f, "the members of group {reference}"),
            AccountSet::Group {
                reference,
                nested: true,
            } => write!(
                f,
                "the members of group {reference} and of its nested groups"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountSetError {
    /// The request itself is wrong: nothing was searched.
    #[error("{0}")]
    Invalid(String),
    #[error("{set} holds more than {limit} accounts; split the request (e.g. by sub-OU)")]
    TooMany { set: String, limit: usize },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Checks that `dn` names something inside the naming context `base`, and
/// that nothing in it can change where a search goes: no escapes, no filter
/// metacharacters, no control characters, `attr=value` components only.
pub fn container_within(dn: &str, base: &str) -> Result<(), String> {
    let dn = dn.trim();
    if dn.is_empty() || dn.len() > crate::identity::MAX_REFERENCE_LEN {
        return Err(format!(
            "an OU DN must be 1 to {} characters",
            crate::identity::MAX_REFERENCE_LEN
        ));
    }
    if let Some(c) = dn.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                '\\' | '*' | '(' | ')' | '"' | ';' | '+' | '<' | '>' | '#'
            )
    }) {
        return Err(format!(
            "{dn:?} contains {c:?}; an OU DN here may hold only plain attr=value components (no escapes, filter characters or multi-valued RDNs)"
        ));
    }
    for part in dn.split(',') {
        let Some((attr, value)) = part.split_once('=') else {
            return Err(format!("{dn:?} is not a DN: {part:?} is not attr=value"));
        };
        let attr = attr.trim();
        if attr.is_empty()
            || !attr.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || value.trim().is_empty()
            || value.contains('=')
        {
            return Err(format!("{dn:?} is not a DN: {part:?} is not attr=value"));
        }
    }
    if !crate::dn::within(dn, base) {
        return Err(format!("{dn:?} is not inside {base}"));
    }
    Ok(())
}

#[cfg(test)]
mod set_tests {
    use super::container_within;

    const BASE: &str = "DC=corp,DC=example,DC=test";

    #[test]
    fn only_plain_dns_inside_the_base_are_accepted() {
        assert!(container_within("OU=Staff,DC=corp,DC=example,DC=test", BASE).is_ok());
        assert!(container_within("ou=Sub, OU=Staff,dc=CORP,DC=example,DC=test", BASE).is_ok());
        assert!(container_within(BASE, BASE).is_ok());
        for hostile in [
            "OU=Staff,DC=fabrikam,DC=example,DC=test",
            "OU=x\\,DC=corp,DC=example,DC=test",
            "OU=*,DC=corp,DC=example,DC=test",
            "OU=Staff)(objectClass=*,DC=corp,DC=example,DC=test",
            "OU=a+CN=b,DC=corp,DC=example,DC=test",
            "OU=Staff,DC=corp,DC=example,DC=test\0",
            "DC=example,DC=test",
            "Staff",
            "OU=,DC=corp,DC=example,DC=test",
            "OU=a=b,DC=corp,DC=example,DC=test",
            "",
        ] {
            assert!(
                container_within(hostile, BASE).is_err(),
                "{hostile:?} passed"
            );
        }
    }
}
