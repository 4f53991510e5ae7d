//! Sign-ins under way: an OpenID Connect authorization request waiting for
//! its callback, or a password accepted and a second factor awaited. Each is
//! found by the SHA-256 of a secret the browser holds, lives a few minutes,
//! and is taken exactly once.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    /// State, nonce and PKCE verifier of an authorization request.
    Oidc,
    /// A local password was right; the second factor is next.
    SecondFactor,
}

impl PendingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingKind::Oidc => "oidc",
            PendingKind::SecondFactor => "second-factor",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PendingSignIn {
    pub kind: PendingKind,
    pub person: Option<Uuid>,
    /// What the step needs later (nonce, verifier, where to go next...).
    pub data: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What [`PendingSignInStore::take_pending`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// Live and now used: only one caller ever gets it.
    Fresh(PendingSignIn),
    /// It was taken before (a replayed callback or form).
    AlreadyUsed,
    /// It lived too long.
    Expired,
    /// No such sign-in (or another kind).
    Unknown,
}

#[async_trait]
pub trait PendingSignInStore: Send + Sync {
    /// Stores a sign-in under way. Also forgets those that ended more than a
    /// day ago, so the table stays small.
    async fn begin_pending(
        &self,
        kind: PendingKind,
        secret_hash: &str,
        person: Option<Uuid>,
        data: &serde_json::Value,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The live, unused sign-in, without using it.
    async fn peek_pending(
        &self,
        kind: PendingKind,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<PendingSignIn>, StoreError>;

    /// Uses the sign-in up, atomically.
    async fn take_pending(
        &self,
        kind: PendingKind,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Taken, StoreError>;
}
