//! riposte's domain: who can be acted on, what an action is, and what its
//! outcome means.
//!
//! Everything that decides an outcome lives here, connector-neutral: the
//! [`executor`] drives one action through pre-flight, write and read-back
//! against any [`directory::DirectorySession`], and [`outcome`] is the one
//! place where observed state becomes one of the five outcomes.
#![forbid(unsafe_code)]

pub mod account;
pub mod action;
pub mod cloud;
pub mod config_secret;
pub mod containment;
pub mod csv;
pub mod directory;
pub mod dn;
pub mod entity;
pub mod evidence;
pub mod executor;
pub mod failpoint;
pub mod identity;
pub mod outcome;
pub mod password;
pub mod person_password;
pub mod policy;
pub mod readiness;
pub mod rights;
pub mod safeguards;
pub mod secret_token;
pub mod security_descriptor;
pub mod shell_quote;
pub mod sid;
pub mod time;
pub mod uac;

pub use account::AccountState;
pub use action::{Action, ActionOptions};
pub use identity::{IdentityRef, LookupKey};
pub use outcome::Outcome;
