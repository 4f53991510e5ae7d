//! One migration step, the same in every dialect: a migration is applied
//! once, and `schema_migrations` says which were. Each dialect decides the
//! transactions and locks around it (see its `migrate`).

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

/// A migration: its version, name and SQL (append only: a released
/// migration never changes).
pub(crate) type Migration = (i64, &'static str, &'static str);

/// Whether `applied` (the versions `schema_migrations` holds) has every
/// one of `migrations`: then opening the ledger needs no write lock and no
/// per-migration check, only the one read that produced `applied`.
pub(crate) fn all_applied(applied: &[i64], migrations: &[Migration]) -> bool {
    migrations
        .iter()
        .all(|(version, _, _)| applied.contains(version))
}

/// Applies `migration` through `conn` unless `schema_migrations` has it;
/// `select` and `insert` are the two bookkeeping statements with the
/// dialect's placeholders.
pub(crate) async fn apply_once<DB>(
    conn: &mut DB::Connection,
    &(version, name, sql): &Migration,
    [select, insert]: [&'static str; 2],
) -> Result<(), sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let applied: Option<i64> = sqlx::query_scalar(select)
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?;
    if applied.is_some() {
        return Ok(());
    }
    sqlx::raw_sql(sql).execute(&mut *conn).await?;
    sqlx::query(insert)
        .bind(version)
        .bind(name)
        .bind(crate::now())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &[Migration] = &[(1, "a", ""), (2, "b", "")];

    #[test]
    fn a_ledger_is_current_only_with_every_migration_applied() {
        assert!(all_applied(&[1, 2], TWO));
        assert!(
            all_applied(&[2, 1, 3], TWO),
            "a newer ledger is current too"
        );
        assert!(!all_applied(&[1], TWO));
        assert!(!all_applied(&[], TWO));
    }
}
