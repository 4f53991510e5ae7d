//! What riposte needs from a directory connector. The AD connector
//! (riposte-ad) implements these traits over LDAP; the executor uses only them.

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

    /// A session on one DC of `forest`: `preferred_dc` first if given, then
    /// the others in order (failover).
    async fn session(
        &self,
        forest: &str,
        preferred_dc: Option<&str>,
    ) -> Result<Box<dyn DirectorySession>, DirectoryError>;
}

/// A bound connection to one DC; reads after writes go to the same DC.
#[async_trait]
pub trait DirectorySession: Send {
    /// The DC this session talks to (its URL).
    fn dc(&self) -> &str;

    fn action_account(&self) -> &ActionAccount;

    async fn read_account(&mut self, dn: &str) -> Result<AccountState, DirectoryError>;

    async fn apply(&mut self, dn: &str, write: &Write) -> Result<(), DirectoryError>;
}
