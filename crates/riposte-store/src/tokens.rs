//! API tokens for automation: shown once, stored only as a hash, revocable,
//! expiring; a name is never given to a second token.

use async_trait::async_trait;
use riposte_core::policy::{Principal, Role, Scope};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub scope: Scope,
    pub created_by: String,
    /// The person this token belongs to: it acts (and may approve) as them.
    /// `None`: a service token, which can never approve.
    pub owner: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Refused from then on. `None` only for tokens made before tokens expired.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The last request that used it (recorded at most about once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiToken {
    /// The principal a request carrying this token acts as.
    pub fn principal(&self) -> Principal {
        Principal {
            name: format!("token:{}", self.name),
            role: self.role,
            scope: self.scope.clone(),
            person: self.owner.clone(),
        }
    }
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a token by the hash of its secret. `Conflict` when any token,
    /// even a revoked one, ever had this name: logs and audit records name
    /// one token for good. `owner` names the person it belongs to (`None`: a
    /// service token).
    #[allow(clippy::too_many_arguments)]
    async fn create_token(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        owner: Option<&str>,
        created_by: &str,
        secret_hash: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<ApiToken, StoreError>;

    /// The live token whose secret hashes to `secret_hash`: not revoked, not
    /// expired at `now`, and its owner (if any) not disabled. Records `now`
    /// as its last use when it can: a ledger that cannot be written (a full
    /// disk) still lets a live token read.
    async fn token_by_hash(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ApiToken>, StoreError>;

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// `false` when there is no live token with that id.
    async fn revoke_token(&self, id: Uuid) -> Result<bool, StoreError>;
}
