//! People and their portal sessions ([`PeopleStore`]).

use async_trait::async_trait;
use riposte_core::policy::{Role, Scope};
use riposte_store::{PeopleStore, Person, Session, StoreError, to_millis};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Dialect, Fields, Value, query};
use crate::{SqlStore, now, rows};

#[async_trait]
impl<D: Dialect> PeopleStore for SqlStore<D> {
    async fn create_person(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        password_hash: &str,
        created_by: &str,
    ) -> Result<Person, StoreError> {
        let insert = query(
            "INSERT INTO people (id, name, role, scope, password_hash, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(role.as_str())
        .bind(Value::json(scope)?)
        .bind(password_hash)
        .bind(created_by)
        .bind(now());
        let row = self
            .insert_returning(insert, || {
                format!("a person named {name:?} exists; pick another name")
            })
            .await?;
        rows::person(&row)
    }

    async fn person_by_name(&self, name: &str) -> Result<Option<Person>, StoreError> {
        let row = self
            .row(query("SELECT * FROM people WHERE name = ?").bind(name))
            .await?;
        row.as_ref().map(rows::person).transpose()
    }

    async fn list_people(&self) -> Result<Vec<Person>, StoreError> {
        let rows = self
            .rows(query("SELECT * FROM people ORDER BY name"))
            .await?;
        rows.iter().map(rows::person).collect()
    }

    async fn set_person_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        let update = query("UPDATE people SET disabled = ? WHERE name = ?")
            .bind(disabled)
            .bind(name);
        Ok(self.exec(update).await? == 1)
    }

    async fn create_session(
        &self,
        person: Uuid,
        secret_hash: &str,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Session, StoreError> {
        let insert = query(
            "INSERT INTO sessions (id, person_id, secret_hash, csrf_token, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(Uuid::now_v7())
        .bind(person)
        .bind(secret_hash)
        .bind(csrf_token)
        .bind(now())
        .bind(to_millis(expires_at));
        self.exec(insert).await?;
        self.session_by_hash(secret_hash, OffsetDateTime::now_utc())
            .await?
            .ok_or_else(|| {
                StoreError::Conflict(
                    "the session could not be started: the person is disabled or the expiry has passed".into(),
                )
            })
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let row = self
            .row(
                query(
                    "SELECT s.id AS session_id, s.csrf_token, s.created_at AS session_created_at, s.expires_at, p.* \
                     FROM sessions s JOIN people p ON p.id = s.person_id \
                     WHERE s.secret_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND NOT p.disabled",
                )
                .bind(secret_hash)
                .bind(to_millis(now)),
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let f = Fields::new(&row, "session");
        Ok(Some(Session {
            id: f.uuid("session_id")?,
            person: rows::person(&row)?,
            csrf_token: f.text("csrf_token")?,
            created_at: f.time("session_created_at")?,
            expires_at: f.time("expires_at")?,
        }))
    }

    async fn revoke_session(&self, secret_hash: &str) -> Result<bool, StoreError> {
        let revoke = query(
            "UPDATE sessions SET revoked_at = ? WHERE secret_hash = ? AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(secret_hash);
        Ok(self.exec(revoke).await? == 1)
    }
}
