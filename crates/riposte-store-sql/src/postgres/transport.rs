//! Whether a PostgreSQL URL may be used: the ledger holds API token hashes,
//! people and the audit trail, so whoever sits between riposte and a remote
//! server must be unable to read or change it (a man in the middle of an
//! unverified or `sslmode=prefer` connection could insert an admin token).
//! A server on this host (loopback address or Unix socket) is reached
//! without the network; any other needs `sslmode=verify-full` with the CA
//! that signed the server's certificate (`sslrootcert`).

use std::net::IpAddr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Refuses `options` (parsed from `url`) when they would reach a server
/// beyond this host without verified TLS; the error says why and what to add.
pub fn check_transport(url: &str, options: &PgConnectOptions) -> Result<(), String> {
    if options.get_socket().is_some() || is_loopback(options.get_host()) {
        return Ok(());
    }
    let where_ = format!("{}:{}", options.get_host(), options.get_port());
    let fix = "add ?sslmode=verify-full&sslrootcert=/path/to/ca.pem to the URL (the CA that signed the server's certificate, whose name must match the host)";
    if !matches!(options.get_ssl_mode(), PgSslMode::VerifyFull) {
        return Err(format!(
            "the PostgreSQL server at {where_} is not on this host, and the URL does not ask for verified TLS (sslmode={}): anyone on the path could read the ledger or insert an admin token; {fix}",
            ssl_mode_name(options.get_ssl_mode())
        ));
    }
    if !has_root_cert(url) {
        return Err(format!(
            "the PostgreSQL server at {where_} is not on this host, and sslmode=verify-full names no CA: riposte trusts only the CA the operator names for its ledger; {fix}"
        ));
    }
    Ok(())
}

/// `localhost` or a loopback address; a name is not resolved (a name that
/// only happens to resolve to 127.0.0.1 today could point elsewhere tomorrow).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The URL names a root certificate (`sslrootcert`, sqlx's aliases, or
/// PGSSLROOTCERT, as sqlx reads them).
fn has_root_cert(url: &str) -> bool {
    let in_url = url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            matches!(key, "sslrootcert" | "ssl-root-cert" | "ssl-ca") && !value.is_empty()
        })
    });
    in_url || std::env::var_os("PGSSLROOTCERT").is_some_and(|v| !v.is_empty())
}

fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn check(url: &str) -> Result<(), String> {
        check_transport(url, &PgConnectOptions::from_str(url).unwrap())
    }

    #[test]
    fn a_server_on_this_host_needs_no_tls() {
        for url in [
            "postgres://riposte:pw@127.0.0.1:55432/riposte",
            "postgres://riposte:pw@127.9.9.9/riposte",
            "postgres://riposte:pw@localhost/riposte",
            "postgres://riposte:pw@[::1]:5432/riposte",
            "postgres://riposte@%2Fvar%2Frun%2Fpostgresql/riposte",
            "postgres:///riposte?host=/var/run/postgresql",
        ] {
            assert_eq!(check(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn a_remote_server_needs_verify_full_with_a_root_cert() {
        for url in [
            "postgres://riposte:pw@db.example:5432/riposte",
            "postgres://riposte:pw@db.example/riposte?sslmode=prefer",
            "postgres://riposte:pw@db.example/riposte?sslmode=require",
            "postgres://riposte:pw@10.0.0.5/riposte?sslmode=verify-ca&sslrootcert=/etc/ca.pem",
            "postgres://riposte:pw@localhost.evil.example/riposte",
            "postgres://riposte:pw@[::2]/riposte?sslmode=disable",
        ] {
            let err = check(url).expect_err(url);
            assert!(
                err.contains("sslmode=verify-full") && err.contains("not on this host"),
                "{url}: {err}"
            );
            assert!(!err.contains("pw@"), "the password leaked: {err}");
        }
        let err =
            check("postgres://riposte:pw@db.example/riposte?sslmode=verify-full").unwrap_err();
        assert!(err.contains("names no CA"), "{err}");
        assert_eq!(
            check(
                "postgres://riposte:pw@db.example/riposte?sslmode=verify-full&sslrootcert=/etc/riposte/db-ca.pem"
            ),
            Ok(())
        );
    }
}
