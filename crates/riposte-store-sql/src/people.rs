//! People and their portal sessions ([`PeopleStore`]).

use async_trait::async_trait;
use riposte_core::policy::{Role, Scope};
use riposte_core::secret_token;
use riposte_store::{
    NO_PASSWORD, NewSession, PeopleStore, Person, Session, SignInMethod, SsoPerson, StoreError,
    to_millis,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Dialect, Fields, Value, query};
use crate::{SqlStore, now, rows};

/// A session's columns beside its person's; `?` 1 and 2: now and now - idle.
const LIVE_SESSIONS: &str = "SELECT s.id AS session_id, s.csrf_token, \
     s.created_at AS session_created_at, s.expires_at AS session_expires_at, \
     COALESCE(s.last_seen_at, s.created_at) AS session_last_seen_at, \
     s.method AS session_method, s.mfa AS session_mfa, s.remote_addr AS session_remote_addr, p.* \
     FROM sessions s JOIN people p ON p.id = s.person_id \
     WHERE s.revoked_at IS NULL AND s.expires_at > ? \
     AND COALESCE(s.last_seen_at, s.created_at) > ? AND NOT p.disabled";

/// A session's last use is written at most this often: the idle timeout
/// needs no finer grain, and most requests then write nothing.
const LAST_SEEN_GRAIN: time::Duration = time::Duration::seconds(15);

/// What a name from an OpenID Provider may contain: it ends up in
/// `user:<name>`, in logs and in the audit trail.
fn clean_name(hint: &str) -> String {
    let cleaned: String = hint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "sso-person".into()
    } else {
        cleaned
    }
}

fn session<R: crate::dialect::Row>(row: &R) -> Result<Session, StoreError> {
    let f = Fields::new(row, "session");
    let method = f.text("session_method")?;
    Ok(Session {
        id: f.uuid("session_id")?,
        person: rows::person(row)?,
        csrf_token: f.text("csrf_token")?,
        created_at: f.time("session_created_at")?,
        expires_at: f.time("session_expires_at")?,
        last_seen_at: f.time("session_last_seen_at")?,
        method: SignInMethod::parse(&method).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a session has an unknown sign-in method {method:?}"
            ))
        })?,
        mfa: f.flag("session_mfa")?,
        remote_addr: f.opt_text("session_remote_addr")?,
    })
}

impl<D: Dialect> SqlStore<D> {
    async fn insert_person(
        &self,
        name: &str,
        role: Role,
        scope: &Scope,
        password_hash: &str,
        created_by: &str,
        sso: Option<(&str, &str)>,
    ) -> Result<Person, StoreError> {
        let insert = query(
            "INSERT INTO people (id, name, role, scope, password_hash, created_by, created_at, issuer, subject) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(role.as_str())
        .bind(Value::json(scope)?)
        .bind(password_hash)
        .bind(created_by)
        .bind(now())
        .bind(sso.map(|(issuer, _)| issuer))
        .bind(sso.map(|(_, subject)| subject));
        let row = self
            .insert_returning(insert, || {
                format!("a person named {name:?} exists; pick another name")
            })
            .await?;
        rows::person(&row)
    }
}

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
        self.insert_person(name, role, scope, password_hash, created_by, None)
            .await
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
        let mut tx = self.begin(false).await?;
        let update = query("UPDATE people SET disabled = ? WHERE name = ?")
            .bind(disabled)
            .bind(name);
        if self.exec_in(&mut tx, update).await? != 1 {
            return Ok(false);
        }
        if disabled {
            let at = now();
            let sessions = query(
                "UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL \
                 AND person_id = (SELECT id FROM people WHERE name = ?)",
            )
            .bind(at)
            .bind(name);
            self.exec_in(&mut tx, sessions).await?;
            let tokens = query(
                "UPDATE api_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND owner = ?",
            )
            .bind(at)
            .bind(name);
            self.exec_in(&mut tx, tokens).await?;
        }
        self.commit(tx).await?;
        Ok(true)
    }

    async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        must_change: bool,
        keep: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(false).await?;
        let update = query(
            "UPDATE people SET password_hash = ?, must_change_password = ? \
             WHERE name = ? AND issuer IS NULL",
        )
        .bind(password_hash)
        .bind(must_change)
        .bind(name);
        if self.exec_in(&mut tx, update).await? != 1 {
            return Ok(false);
        }
        let mut others = query(
            "UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL \
             AND person_id = (SELECT id FROM people WHERE name = ?)",
        )
        .bind(now())
        .bind(name);
        if let Some(keep) = keep {
            others.push(" AND id <> ").push_bind(keep);
        }
        self.exec_in(&mut tx, others).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn person_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Person>, StoreError> {
        let row = self
            .row(
                query("SELECT * FROM people WHERE issuer = ? AND subject = ?")
                    .bind(issuer)
                    .bind(subject),
            )
            .await?;
        row.as_ref().map(rows::person).transpose()
    }

    async fn upsert_sso_person(&self, sso: SsoPerson<'_>) -> Result<Person, StoreError> {
        // Two first sign-ins of one person at once: the second insert meets
        // the (issuer, subject) index, and then finds the first one's row.
        for _ in 0..2 {
            if let Some(known) = self.person_by_subject(sso.issuer, sso.subject).await? {
                let update = query("UPDATE people SET role = ?, scope = ? WHERE id = ?")
                    .bind(sso.role.as_str())
                    .bind(Value::json(sso.scope)?)
                    .bind(known.id);
                self.exec(update).await?;
                return Ok(Person {
                    role: sso.role,
                    scope: sso.scope.clone(),
                    ..known
                });
            }
            let mut name = clean_name(sso.name_hint);
            if self.person_by_name(&name).await?.is_some() {
                let identity = secret_token::hash(&format!("{}\n{}", sso.issuer, sso.subject));
                name = format!("{name}~{}", &identity[..8]);
            }
            match self
                .insert_person(
                    &name,
                    sso.role,
                    sso.scope,
                    NO_PASSWORD,
                    sso.created_by,
                    Some((sso.issuer, sso.subject)),
                )
                .await
            {
                Err(StoreError::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict(format!(
            "the person of {} at {} could not be stored: their name is taken; try again",
            sso.subject, sso.issuer
        )))
    }

    async fn create_session(&self, new: NewSession<'_>) -> Result<Session, StoreError> {
        let at = now();
        let insert = query(
            "INSERT INTO sessions (id, person_id, secret_hash, csrf_token, created_at, expires_at, \
             last_seen_at, method, mfa, remote_addr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(Uuid::now_v7())
        .bind(new.person)
        .bind(new.secret_hash)
        .bind(new.csrf_token)
        .bind(at)
        .bind(to_millis(new.expires_at))
        .bind(at)
        .bind(new.method.as_str())
        .bind(new.mfa)
        .bind(new.remote_addr);
        self.exec(insert).await?;
        let found = self
            .row(
                query(format!("{LIVE_SESSIONS} AND s.secret_hash = ?"))
                    .bind(at)
                    .bind(at - 1)
                    .bind(new.secret_hash),
            )
            .await?;
        match found {
            Some(row) => session(&row),
            None => Err(StoreError::Conflict(
                "the session could not be started: the person is disabled or the expiry has passed"
                    .into(),
            )),
        }
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
        idle: time::Duration,
    ) -> Result<Option<Session>, StoreError> {
        let row = self
            .row(
                query(format!("{LIVE_SESSIONS} AND s.secret_hash = ?"))
                    .bind(to_millis(now))
                    .bind(to_millis(now - idle))
                    .bind(secret_hash),
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut found = session(&row)?;
        if now - found.last_seen_at >= LAST_SEEN_GRAIN {
            let seen = query("UPDATE sessions SET last_seen_at = ? WHERE id = ?")
                .bind(to_millis(now))
                .bind(found.id);
            // A read must not fail for want of a write: unrecorded, the idle
            // time only runs out sooner.
            match self.exec(seen).await {
                Ok(_) => found.last_seen_at = now,
                Err(e) => tracing::warn!(error = %e, "a session's last use could not be recorded"),
            }
        }
        Ok(Some(found))
    }

    async fn sessions_of(
        &self,
        person: Uuid,
        now: OffsetDateTime,
        idle: time::Duration,
    ) -> Result<Vec<Session>, StoreError> {
        let rows = self
            .rows(
                query(format!(
                    "{LIVE_SESSIONS} AND s.person_id = ? ORDER BY s.created_at DESC"
                ))
                .bind(to_millis(now))
                .bind(to_millis(now - idle))
                .bind(person),
            )
            .await?;
        rows.iter().map(session).collect()
    }

    async fn revoke_session(&self, secret_hash: &str) -> Result<bool, StoreError> {
        let revoke = query(
            "UPDATE sessions SET revoked_at = ? WHERE secret_hash = ? AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(secret_hash);
        Ok(self.exec(revoke).await? == 1)
    }

    async fn revoke_session_by_id(&self, id: Uuid) -> Result<bool, StoreError> {
        let revoke =
            query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now())
                .bind(id);
        Ok(self.exec(revoke).await? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_from_a_provider_keep_only_plain_characters() {
        assert_eq!(clean_name("alice@lab.example"), "alice@lab.example");
        assert_eq!(clean_name("eve\nuser:admin \u{202e}"), "eveuseradmin");
        assert_eq!(clean_name("\u{1F600}"), "sso-person");
        assert_eq!(clean_name(&"a".repeat(200)).len(), 64);
    }
}
