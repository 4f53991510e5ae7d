//! Sign-ins under way ([`PendingSignInStore`]): each is taken exactly once.

use async_trait::async_trait;
use riposte_store::{PendingKind, PendingSignIn, PendingSignInStore, StoreError, Taken, to_millis};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::dialect::{Dialect, Fields, Value, query};

/// How long an ended sign-in is kept, so a replay is told apart from a stranger.
const KEEP_ENDED: time::Duration = time::Duration::days(1);

fn pending<R: crate::dialect::Row>(
    row: &R,
    kind: PendingKind,
) -> Result<PendingSignIn, StoreError> {
    let f = Fields::new(row, "pending sign-in");
    Ok(PendingSignIn {
        kind,
        person: f.opt_uuid("person_id")?,
        data: f.json("data")?,
        created_at: f.time("created_at")?,
        expires_at: f.time("expires_at")?,
    })
}

#[async_trait]
impl<D: Dialect> PendingSignInStore for SqlStore<D> {
    async fn begin_pending(
        &self,
        kind: PendingKind,
        secret_hash: &str,
        person: Option<Uuid>,
        data: &serde_json::Value,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let forget = query("DELETE FROM pending_sign_ins WHERE expires_at < ?")
            .bind(to_millis(now - KEEP_ENDED));
        self.exec(forget).await?;
        let insert = query(
            "INSERT INTO pending_sign_ins (secret_hash, kind, person_id, data, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(secret_hash)
        .bind(kind.as_str())
        .bind(person)
        .bind(Value::json(data)?)
        .bind(to_millis(now))
        .bind(to_millis(expires_at));
        self.exec(insert).await?;
        Ok(())
    }

    async fn peek_pending(
        &self,
        kind: PendingKind,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let row = self
            .row(
                query(
                    "SELECT * FROM pending_sign_ins WHERE secret_hash = ? AND kind = ? \
                     AND used_at IS NULL AND expires_at > ?",
                )
                .bind(secret_hash)
                .bind(kind.as_str())
                .bind(to_millis(now)),
            )
            .await?;
        row.as_ref().map(|r| pending(r, kind)).transpose()
    }

    async fn take_pending(
        &self,
        kind: PendingKind,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Taken, StoreError> {
        let at = to_millis(now);
        // The update decides: of two callers, only one changes the row.
        let take = query(
            "UPDATE pending_sign_ins SET used_at = ? WHERE secret_hash = ? AND kind = ? \
             AND used_at IS NULL AND expires_at > ? RETURNING *",
        )
        .bind(at)
        .bind(secret_hash)
        .bind(kind.as_str())
        .bind(at);
        if let Some(row) = self.rows(take).await?.into_iter().next() {
            return Ok(Taken::Fresh(pending(&row, kind)?));
        }
        let row = self
            .row(
                query("SELECT * FROM pending_sign_ins WHERE secret_hash = ? AND kind = ?")
                    .bind(secret_hash)
                    .bind(kind.as_str()),
            )
            .await?;
        let Some(row) = row else {
            return Ok(Taken::Unknown);
        };
        let f = Fields::new(&row, "pending sign-in");
        Ok(if f.opt_time("used_at")?.is_some() {
            Taken::AlreadyUsed
        } else {
            Taken::Expired
        })
    }
}
