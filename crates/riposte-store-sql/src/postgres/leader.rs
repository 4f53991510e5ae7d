//! Leadership on PostgreSQL: a session advisory lock on its own connection,
//! held while the connection lives, freed by the server when it closes (or
//! the node dies).

use async_trait::async_trait;
use riposte_store::{LeaderGuard, Leadership, StoreError};
use sqlx::{Connection, PgConnection};

use super::{CONNECT_TIMEOUT, LOCK_CLASS, PostgresDialect};
use crate::dialect::Dialect;

struct AdvisoryLeader {
    conn: Option<PgConnection>,
    key: i32,
}

#[async_trait]
impl LeaderGuard for AdvisoryLeader {
    async fn still_held(&mut self) -> Result<bool, StoreError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false);
        };
        // The lock is the session's: if the session answers, it holds it.
        let held: Result<bool, sqlx::Error> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2)",
        )
        .bind(i64::from(LOCK_CLASS))
        .bind(i64::from(self.key))
        .fetch_one(&mut *conn)
        .await;
        match held {
            Ok(held) => Ok(held),
            Err(e) => {
                self.conn = None;
                Err(StoreError::Backend(format!(
                    "the connection holding a leader lock failed: {e}"
                )))
            }
        }
    }

    async fn release(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(self.key)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// A task's lock key: FNV-1a of its name, kept non-negative (pg_locks shows it as an oid).
fn task_key(task: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in task.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash & 0x7fff_ffff) as i32
}

pub(super) async fn try_lead(
    db: &PostgresDialect,
    task: &str,
) -> Result<Option<Leadership>, StoreError> {
    let key = task_key(task);
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&db.options))
        .await
        .map_err(|_| {
            StoreError::Backend(format!(
                "{}: no answer within {}s while opening a connection for the {task} leader lock",
                db.location,
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| db.error(e))?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(key)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| db.error(e))?;
    if !got {
        let _ = conn.close().await;
        return Ok(None);
    }
    let guard = AdvisoryLeader {
        conn: Some(conn),
        key,
    };
    Ok(Some(Leadership::new(task, Box::new(guard))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_keys_are_stable_and_distinct() {
        assert_eq!(task_key("ingest-tailer"), task_key("ingest-tailer"));
        assert_ne!(task_key("ingest-tailer"), task_key("lease-sweep"));
        assert!(task_key("x") >= 0);
    }
}
