//! Alerts ([`AlertStore`]): append-only; only retention removes old ones.

use async_trait::async_trait;
use riposte_store::{
    AlertFilter, AlertStore, NewAlert, StoreError, StoredAlert, from_millis, to_millis,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Dialect, Value, contains_pattern, query};
use crate::{SqlStore, now, rows};

#[async_trait]
impl<D: Dialect> AlertStore for SqlStore<D> {
    async fn expire_alerts(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError> {
        self.expire_alerts_before(before, max).await
    }

    async fn append_alert(&self, alert: NewAlert) -> Result<StoredAlert, StoreError> {
        let id = Uuid::now_v7();
        let raised_at = now();
        // What the user filter searches: every user named, lower-cased.
        let users = alert
            .entities
            .users
            .iter()
            .map(|u| u.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        let fed_by = match &alert.fed_by {
            Some(principal) => Value::json(principal)?,
            None => Value::Json(None),
        };
        let insert = query(
            "INSERT INTO alerts (id, raised_at, rule_id, title, technique, severity, description, entities, users, \
             first_seen, last_seen, event_count, events, input, fed_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(raised_at)
        .bind(&alert.rule_id)
        .bind(&alert.title)
        .bind(&alert.technique)
        .bind(&alert.severity)
        .bind(&alert.description)
        .bind(Value::json(&alert.entities)?)
        .bind(users)
        .bind(alert.first_seen.map(to_millis))
        .bind(alert.last_seen.map(to_millis))
        .bind(i64::try_from(alert.event_count).unwrap_or(i64::MAX))
        .bind(Value::json(&alert.events)?)
        .bind(&alert.input)
        .bind(fed_by);
        self.exec(insert).await?;
        // What a later read gives back: times as the store keeps them (milliseconds).
        let mut alert = alert;
        alert.first_seen = alert.first_seen.map(|t| from_millis(to_millis(t)));
        alert.last_seen = alert.last_seen.map(|t| from_millis(to_millis(t)));
        Ok(StoredAlert {
            id,
            raised_at: from_millis(raised_at),
            alert,
        })
    }

    async fn get_alert(&self, id: Uuid) -> Result<Option<StoredAlert>, StoreError> {
        let row = self
            .row(query("SELECT * FROM alerts WHERE id = ?").bind(id))
            .await?;
        row.as_ref().map(rows::alert).transpose()
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
        let mut q = query("SELECT * FROM alerts WHERE 1 = 1");
        if let Some(t) = &filter.technique {
            q.push(" AND upper(technique) = ")
                .push_bind(t.to_ascii_uppercase());
        }
        if let Some(user) = &filter.user {
            q.push(" AND users LIKE ")
                .push_bind(contains_pattern(&user.to_lowercase()))
                .push(" ESCAPE '\\'");
        }
        if let Some(since) = filter.since {
            q.push(" AND raised_at >= ").push_bind(to_millis(since));
        }
        q.push(" ORDER BY raised_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(100).min(10_000)))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset.unwrap_or(0)));
        let rows = self.rows(q).await?;
        rows.iter().map(rows::alert).collect()
    }
}
