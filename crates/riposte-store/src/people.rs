//! People who sign in to the portal, and their sessions. Local passwords are
//! kept only as argon2id hashes, session secrets only as SHA-256 hashes.
//! People who sign in through an OpenID Provider are that provider's
//! (issuer, subject) and have no password riposte would accept.

use async_trait::async_trait;
use riposte_core::policy::{Principal, Role, Scope};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// The password hash of a person who signs in through an OpenID Provider:
/// not a PHC string, so no password ever verifies against it.
pub const NO_PASSWORD: &str = "!sso";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub id: Uuid,
    /// Unique; the ledger names them `user:<name>`.
    pub name: String,
    pub role: Role,
    pub scope: Scope,
    /// argon2id, PHC form. Never serialised: it goes nowhere but the check.
    #[serde(skip)]
    pub password_hash: String,
    pub disabled: bool,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The OpenID Provider (issuer URL) and its subject for this person;
    /// `None` for local people.
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// A confirmed TOTP second factor is required at sign-in.
    pub totp_enabled: bool,
    /// An admin reset the password: the person must choose a new one first.
    pub must_change_password: bool,
}

impl Person {
    /// The principal this person acts as.
    pub fn principal(&self) -> Principal {
        Principal {
            name: format!("user:{}", self.name),
            role: self.role,
            scope: self.scope.clone(),
            person: Some(self.name.clone()),
        }
    }

    /// Signs in through an OpenID Provider, never with a password.
    pub fn is_sso(&self) -> bool {
        self.issuer.is_some()
    }
}

/// How a session was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SignInMethod {
    /// A local password alone.
    Password,
    /// A local password and a TOTP code.
    PasswordTotp,
    /// A local password and a one-time recovery code.
    PasswordRecoveryCode,
    /// An OpenID Provider.
    Oidc,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::PasswordTotp => "password+totp",
            SignInMethod::PasswordRecoveryCode => "password+recovery-code",
            SignInMethod::Oidc => "oidc",
        }
    }

    pub fn parse(text: &str) -> Option<SignInMethod> {
        [
            SignInMethod::Password,
            SignInMethod::PasswordTotp,
            SignInMethod::PasswordRecoveryCode,
            SignInMethod::Oidc,
        ]
        .into_iter()
        .find(|m| m.as_str() == text)
    }
}

/// A signed-in session, found by the hash of its secret (the cookie).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub person: Person,
    /// Every form the session posts must carry it.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    /// The absolute end, whatever the activity.
    pub expires_at: OffsetDateTime,
    /// The last request made with it (the idle timeout counts from here).
    pub last_seen_at: OffsetDateTime,
    pub method: SignInMethod,
    /// A second factor was used: locally (TOTP, recovery code), or the
    /// OpenID Provider said so in the ID token's `amr`.
    pub mfa: bool,
    pub remote_addr: Option<String>,
}

/// What [`PeopleStore::create_session`] stores.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub person: Uuid,
    pub secret_hash: &'a str,
    pub csrf_token: &'a str,
    pub expires_at: OffsetDateTime,
    pub method: SignInMethod,
    pub mfa: bool,
    pub remote_addr: Option<&'a str>,
}

/// A person as an OpenID Provider's sign-in describes them
/// ([`PeopleStore::upsert_sso_person`]).
#[derive(Debug, Clone)]
pub struct SsoPerson<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    /// The name to give a new person (preferred_username, email or subject);
    /// a name already taken gets a suffix from the identity.
    pub name_hint: &'a str,
    pub role: Role,
    pub scope: &'a Scope,
    pub created_by: &'a str,
}

#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Stores a local person; `Conflict` when the name is taken.
    async fn create_person(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        password_hash: &str,
        created_by: &str,
    ) -> Result<Person, StoreError>;

    async fn person_by_name(&self, name: &str) -> Result<Option<Person>, StoreError>;

    async fn list_people(&self) -> Result<Vec<Person>, StoreError>;

    /// Disables (or re-enables) a person. Disabling also revokes every live
    /// session of theirs and every live API token they own, in one
    /// transaction: nothing of theirs works from the next request on.
    /// `false` when there is no such person.
    async fn set_person_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError>;

    /// Sets a local person's password hash and whether they must change it
    /// at their next sign-in; revokes every session of theirs except `keep`
    /// (the one that changed it). `false` when there is no such local person.
    async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        must_change: bool,
        keep: Option<Uuid>,
    ) -> Result<bool, StoreError>;

    /// The person an OpenID Provider's (issuer, subject) names, if known.
    async fn person_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Person>, StoreError>;

    /// The person this sign-in names, created on their first sign-in; their
    /// role and scope follow this sign-in's claims.
    async fn upsert_sso_person(&self, person: SsoPerson<'_>) -> Result<Person, StoreError>;

    /// Starts a session for a person, stored by the SHA-256 of its secret.
    async fn create_session(&self, session: NewSession<'_>) -> Result<Session, StoreError>;

    /// The session whose secret hashes to `secret_hash`, if it is not
    /// revoked, not past its absolute expiry at `now`, used within `idle`
    /// before `now`, and its person is not disabled. Records `now` as its
    /// last use when it can: a ledger that cannot be written (a full disk)
    /// still lets a live session read.
    async fn session_by_hash(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
        idle: time::Duration,
    ) -> Result<Option<Session>, StoreError>;

    /// A person's live sessions at `now` (as [`PeopleStore::session_by_hash`]
    /// would find them, without recording a use), newest first.
    async fn sessions_of(
        &self,
        person: Uuid,
        now: OffsetDateTime,
        idle: time::Duration,
    ) -> Result<Vec<Session>, StoreError>;

    /// Ends a session (sign-out). `false` when it was not live.
    async fn revoke_session(&self, secret_hash: &str) -> Result<bool, StoreError>;

    /// Ends a session by its id (an admin's revoke). `false` when it was not live.
    async fn revoke_session_by_id(&self, id: Uuid) -> Result<bool, StoreError>;
}
