//! Local people's second factor: a TOTP secret (RFC 6238) and one-time
//! recovery codes (kept only as SHA-256 hashes).

use async_trait::async_trait;
use uuid::Uuid;

use crate::StoreError;

/// A person's TOTP secret, base32; `enabled` once a code confirmed enrolment.
#[derive(Clone, PartialEq)]
pub struct TotpSecret {
    pub secret_base32: String,
    pub enabled: bool,
}

impl std::fmt::Debug for TotpSecret {
    // The secret never reaches a log, even through a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSecret")
            .field("secret_base32", &"<redacted>")
            .field("enabled", &self.enabled)
            .finish()
    }
}

#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    /// Starts (or restarts) enrolment with a new secret, not yet required at
    /// sign-in. `false` when there is no such local person.
    async fn begin_totp(&self, person: Uuid, secret_base32: &str) -> Result<bool, StoreError>;

    async fn totp_secret(&self, person: Uuid) -> Result<Option<TotpSecret>, StoreError>;

    /// Confirms enrolment: the second factor is required from now on, and
    /// `recovery_code_hashes` replace any earlier recovery codes. `false`
    /// when no enrolment was begun.
    async fn confirm_totp(
        &self,
        person: Uuid,
        recovery_code_hashes: &[String],
    ) -> Result<bool, StoreError>;

    /// Removes the second factor and the recovery codes (an admin's reset).
    async fn clear_totp(&self, person: Uuid) -> Result<bool, StoreError>;

    /// Records that the code of time step `step` was used: `true` only when
    /// `step` is later than every step used before, so a code works once.
    async fn use_totp_step(&self, person: Uuid, step: i64) -> Result<bool, StoreError>;

    /// Uses up the recovery code whose SHA-256 is `code_hash`: `true` once.
    async fn use_recovery_code(&self, person: Uuid, code_hash: &str) -> Result<bool, StoreError>;

    async fn recovery_codes_left(&self, person: Uuid) -> Result<usize, StoreError>;
}
