//! Local people's second factor ([`SecondFactorStore`]).

use async_trait::async_trait;
use riposte_store::{SecondFactorStore, StoreError, TotpSecret};
use uuid::Uuid;

use crate::dialect::{Dialect, Fields, query};
use crate::{SqlStore, now};

#[async_trait]
impl<D: Dialect> SecondFactorStore for SqlStore<D> {
    async fn begin_totp(&self, person: Uuid, secret_base32: &str) -> Result<bool, StoreError> {
        let begin = query(
            "UPDATE people SET totp_secret = ?, totp_enabled = ?, totp_last_step = NULL \
             WHERE id = ? AND issuer IS NULL",
        )
        .bind(secret_base32)
        .bind(false)
        .bind(person);
        Ok(self.exec(begin).await? == 1)
    }

    async fn totp_secret(&self, person: Uuid) -> Result<Option<TotpSecret>, StoreError> {
        let row = self
            .row(query("SELECT totp_secret, totp_enabled FROM people WHERE id = ?").bind(person))
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let f = Fields::new(&row, "person");
        Ok(f.opt_text("totp_secret")?.map(|secret_base32| TotpSecret {
            secret_base32,
            enabled: f.flag("totp_enabled").unwrap_or(false),
        }))
    }

    async fn confirm_totp(
        &self,
        person: Uuid,
        recovery_code_hashes: &[String],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(false).await?;
        let enable =
            query("UPDATE people SET totp_enabled = ? WHERE id = ? AND totp_secret IS NOT NULL")
                .bind(true)
                .bind(person);
        if self.exec_in(&mut tx, enable).await? != 1 {
            return Ok(false);
        }
        let forget = query("DELETE FROM recovery_codes WHERE person_id = ?").bind(person);
        self.exec_in(&mut tx, forget).await?;
        let at = now();
        for hash in recovery_code_hashes {
            let insert = query(
                "INSERT INTO recovery_codes (id, person_id, code_hash, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(Uuid::now_v7())
            .bind(person)
            .bind(hash)
            .bind(at);
            self.exec_in(&mut tx, insert).await?;
        }
        self.commit(tx).await?;
        Ok(true)
    }

    async fn clear_totp(&self, person: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin(false).await?;
        let clear = query(
            "UPDATE people SET totp_secret = NULL, totp_enabled = ?, totp_last_step = NULL WHERE id = ?",
        )
        .bind(false)
        .bind(person);
        let changed = self.exec_in(&mut tx, clear).await? == 1;
        let forget = query("DELETE FROM recovery_codes WHERE person_id = ?").bind(person);
        self.exec_in(&mut tx, forget).await?;
        self.commit(tx).await?;
        Ok(changed)
    }

    async fn use_totp_step(&self, person: Uuid, step: i64) -> Result<bool, StoreError> {
        let record = query(
            "UPDATE people SET totp_last_step = ? WHERE id = ? \
             AND (totp_last_step IS NULL OR totp_last_step < ?)",
        )
        .bind(step)
        .bind(person)
        .bind(step);
        Ok(self.exec(record).await? == 1)
    }

    async fn use_recovery_code(&self, person: Uuid, code_hash: &str) -> Result<bool, StoreError> {
        let spend = query(
            "UPDATE recovery_codes SET used_at = ? WHERE person_id = ? AND code_hash = ? AND used_at IS NULL",
        )
        .bind(now())
        .bind(person)
        .bind(code_hash);
        Ok(self.exec(spend).await? >= 1)
    }

    async fn recovery_codes_left(&self, person: Uuid) -> Result<usize, StoreError> {
        let rows = self
            .rows(
                query("SELECT id FROM recovery_codes WHERE person_id = ? AND used_at IS NULL")
                    .bind(person),
            )
            .await?;
        Ok(rows.len())
    }
}
