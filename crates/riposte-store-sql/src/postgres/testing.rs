//! Test support (feature `testing`): a fresh database per test on the
//! server `scripts/postgres up` starts, so tests are isolated and can run in
//! parallel.
//!
//! The server is found through `RIPOSTE_TEST_POSTGRES_URL`, or else the URL
//! `scripts/postgres` writes to `<repo>/.lab/postgres.url`. When neither
//! gives a server that answers, [`TestDatabase::create`] panics saying so:
//! a PostgreSQL test never passes without PostgreSQL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::redact_url;

const HINT: &str = "start the test server with `scripts/postgres up` (as root), or set RIPOSTE_TEST_POSTGRES_URL to a postgres:// URL whose role may create databases";

/// The server's URL: `RIPOSTE_TEST_POSTGRES_URL`, else `.lab/postgres.url`
/// found from the current directory upwards (tests run in their crate's directory).
pub fn server_url() -> String {
    if let Ok(url) = std::env::var("RIPOSTE_TEST_POSTGRES_URL")
        && !url.trim().is_empty()
    {
        return url.trim().to_string();
    }
    let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let found = start
        .ancestors()
        .map(|dir| dir.join(".lab").join("postgres.url"))
        .find(|p| p.is_file());
    match found {
        Some(path) => read_url(&path),
        None => panic!(
            "no PostgreSQL server for the tests: RIPOSTE_TEST_POSTGRES_URL is unset and no .lab/postgres.url was found above {}; {HINT}",
            start.display()
        ),
    }
}

fn read_url(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {HINT}", path.display()));
    let url = text.trim().to_string();
    assert!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "{} does not hold a postgres:// URL; {HINT}",
        path.display()
    );
    url
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{database}?{q}"),
        None => format!("{host_part}/{database}"),
    }
}

/// A database made for one test.
pub struct TestDatabase {
    /// Its URL (with the password: keep it out of test output).
    pub url: String,
    pub name: String,
    server: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// Creates an empty database named after `label`, this process and a counter.
    pub async fn create(label: &str) -> TestDatabase {
        let server = server_url();
        let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach the test PostgreSQL at {}: {e}; {HINT}",
                redact_url(&server)
            )
        });
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "riposte_t_{safe}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Leftovers of an earlier run of this process id (a crashed test).
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop_sql))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot drop the old test database {name}: {e}"));
        let create_sql = format!("CREATE DATABASE \"{name}\"");
        sqlx::raw_sql(sqlx::AssertSqlSafe(create_sql))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create the test database {name}: {e}; the role needs CREATEDB; {HINT}"
                )
            });
        let _ = admin.close().await;
        TestDatabase {
            url: with_database(&server, &name),
            name,
            server,
        }
    }

    /// Drops the database (its connections are ended first).
    pub async fn remove(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.server).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://u:p@h:1/riposte", "t1"),
            "postgres://u:p@h:1/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/riposte?sslmode=disable", "t1"),
            "postgres://u:p@h:1/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
    }
}
