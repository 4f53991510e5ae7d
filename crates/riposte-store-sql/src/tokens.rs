//! API tokens ([`TokenStore`]): kept by the hash of their secret only.

use async_trait::async_trait;
use riposte_core::policy::{Role, Scope};
use riposte_store::{ApiToken, StoreError, TokenStore};
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
    ) -> Result<ApiToken, StoreError> {
        let insert = query(
            "INSERT INTO api_tokens (id, name, role, scope, owner, created_by, created_at, secret_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(role.as_str())
        .bind(Value::json(scope)?)
        .bind(owner)
        .bind(created_by)
        .bind(now())
        .bind(secret_hash);
        let row = self
            .insert_returning(insert, || {
                format!(
                    "a live API token named {name:?} exists; revoke it first or pick another name"
                )
            })
            .await?;
        rows::token(&row)
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = self
            .row(
                query("SELECT * FROM api_tokens WHERE secret_hash = ? AND revoked_at IS NULL")
                    .bind(secret_hash),
            )
            .await?;
        row.as_ref().map(rows::token).transpose()
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
