//! People who sign in to the portal, and their sessions. Passwords are kept
//! only as argon2id hashes, session secrets only as SHA-256 hashes.

use async_trait::async_trait;
use riposte_core::policy::{Principal, Role, Scope};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

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
}

/// A signed-in session, found by the hash of its secret (the cookie).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub person: Person,
    /// Every form the session posts must carry it.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Stores a person; `Conflict` when the name is taken.
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

    /// Disables (or re-enables) a person; a disabled person's sessions stop
    /// working at once. `false` when there is no such person.
    async fn set_person_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError>;

    /// Starts a session for a person, stored by the SHA-256 of its secret.
    async fn create_session(
        &self,
        person: Uuid,
        secret_hash: &str,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Session, StoreError>;

    /// The session whose secret hashes to `secret_hash`, if it is not
    /// revoked, not expired at `now`, and its person is not disabled.
    async fn session_by_hash(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError>;

    /// Ends a session (sign-out). `false` when it was not live.
    async fn revoke_session(&self, secret_hash: &str) -> Result<bool, StoreError>;
}
