//! API tokens ([`TokenStore`]): kept by the hash of their secret only.

use async_trait::async_trait;
use riposte_core::policy::{Role, Scope};
use riposte_store::{ApiToken, StoreError, TokenStore, to_millis};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Dialect, On, Value, query};
use crate::{SqlStore, now, rows};

impl<D: Dialect> SqlStore<D> {
    /// Runs an insert that returns its row; a unique violation is `taken`.
    pub(crate) async fn insert_returning(
        &self,
        insert: crate::dialect::Query,
        taken: impl FnOnce() -> String,
    ) -> Result<D::Row, StoreError> {
        match self.dialect.fetch(On::Pool, &insert).await {
            Ok(rows) => rows
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Corrupt("an insert returned no row".into())),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(StoreError::Conflict(taken()))
            }
            Err(e) => Err(self.error(e)),
        }
    }
}

/// A token's last use is written at most this often, so most requests write nothing.
const LAST_USE_GRAIN: time::Duration = time::Duration::minutes(1);

#[async_trait]
impl<D: Dialect> TokenStore for SqlStore<D> {
    async fn create_token(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        owner: Option<&str>,
        created_by: &str,
        secret_hash: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<ApiToken, StoreError> {
        // One statement: a name any token ever had is never given again, and
        // the live-name index still settles two creations racing.
        let insert = query(
            "INSERT INTO api_tokens (id, name, role, scope, owner, created_by, created_at, secret_hash, expires_at) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM api_tokens WHERE name = ?) \
             RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(role.as_str())
        .bind(Value::json(scope)?)
        .bind(owner)
        .bind(created_by)
        .bind(now())
        .bind(secret_hash)
        .bind(expires_at.map(to_millis))
        .bind(name);
        let taken = || {
            format!(
                "an API token named {name:?} exists or existed; a name is never reused, so pick another"
            )
        };
        match self.dialect.fetch(On::Pool, &insert).await {
            Ok(rows) => match rows.into_iter().next() {
                Some(row) => rows::token(&row),
                None => Err(StoreError::Conflict(taken())),
            },
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(StoreError::Conflict(taken()))
            }
            Err(e) => Err(self.error(e)),
        }
    }

    async fn token_by_hash(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ApiToken>, StoreError> {
        let at = to_millis(now);
        let row = self
            .row(
                query(
                    "SELECT t.* FROM api_tokens t WHERE t.secret_hash = ? AND t.revoked_at IS NULL \
                     AND (t.expires_at IS NULL OR t.expires_at > ?) \
                     AND NOT EXISTS (SELECT 1 FROM people p WHERE p.name = t.owner AND p.disabled)",
                )
                .bind(secret_hash)
                .bind(at),
            )
            .await?;
        let Some(mut token) = row.as_ref().map(rows::token).transpose()? else {
            return Ok(None);
        };
        let stale = token
            .last_used_at
            .is_none_or(|used| now - used >= LAST_USE_GRAIN);
        if stale {
            let used = query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
                .bind(at)
                .bind(token.id);
            // A read must not fail for want of a write (a full disk): the
            // token is live; only its last use goes unrecorded.
            match self.exec(used).await {
                Ok(_) => token.last_used_at = Some(now),
                Err(e) => {
                    tracing::warn!(error = %e, token = %token.name, "a token's last use could not be recorded")
                }
            }
        }
        Ok(Some(token))
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = self
            .rows(query("SELECT * FROM api_tokens ORDER BY created_at, id"))
            .await?;
        rows.iter().map(rows::token).collect()
    }

    async fn revoke_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let revoke =
            query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now())
                .bind(id);
        Ok(self.exec(revoke).await? == 1)
    }
}
