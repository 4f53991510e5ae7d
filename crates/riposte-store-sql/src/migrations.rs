//! One migration step, the same in every dialect: a migration is applied
//! once, and `schema_migrations` says which were. Each dialect decides the
//! transactions and locks around it (see its `migrate`).

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

/// A migration: its version, name and SQL (append only: a released
/// migration never changes).
pub(crate) type Migration = (i64, &'static str, &'static str);

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
