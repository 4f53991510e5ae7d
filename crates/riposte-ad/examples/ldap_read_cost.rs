//! What an account read costs the DC, by attribute set (bench/bulk.sh's
//! notes): on one open, bound LDAPS connection, base reads of each DN from
//! stdin with each attribute set, serially and CONCURRENCY at once. Prints
//! one line per set: the set, milliseconds per read serially, and
//! milliseconds per read with CONCURRENCY in flight. Not a test.
//!
//!   ldap_read_cost URL BIND_DN PASSWORD_FILE CA_FILE CONCURRENCY < dns.txt

use std::io::BufRead;
use std::time::Instant;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope};

const SETS: &[(&str, &[&str])] = &[
    ("userAccountControl only", &["userAccountControl"]),
    ("the state riposte reads", riposte_ad::STATE_ATTRIBUTES),
    (
        "userAccountControl + allowedAttributesEffective",
        &["userAccountControl", "allowedAttributesEffective"],
    ),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, bind_dn, password_file, ca_file, concurrency] = &args[..] else {
        return Err(
            "usage: ldap_read_cost URL BIND_DN PASSWORD_FILE CA_FILE CONCURRENCY < dns.txt".into(),
        );
    };
    let concurrency: usize = concurrency.parse()?;
    let password = std::fs::read_to_string(password_file)?;
    let tls = riposte_ad::client_config("bench", std::path::Path::new(ca_file))?;
    let settings = LdapConnSettings::new().set_config(tls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, url).await?;
    ldap3::drive!(conn);
    ldap.simple_bind(bind_dn, password.trim_end())
        .await?
        .success()?;
    let dns: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .collect();
    for (name, attrs) in SETS {
        let start = Instant::now();
        for dn in &dns {
            ldap.search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
                .await?
                .success()?;
        }
        let serial = start.elapsed().as_secs_f64() * 1000.0 / dns.len() as f64;
        let start = Instant::now();
        let reads = dns.iter().map(|dn| {
            let mut ldap = ldap.clone();
            async move {
                ldap.search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
                    .await?
                    .success()
                    .map(|_| ())
            }
        });
        use futures_util::StreamExt;
        let results: Vec<Result<(), ldap3::LdapError>> = futures_util::stream::iter(reads)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for r in results {
            r?;
        }
        let parallel = start.elapsed().as_secs_f64() * 1000.0 / dns.len() as f64;
        println!(
            "{name}: {serial:.3} ms/read serially, {parallel:.3} ms/read with {concurrency} in flight"
        );
    }
    ldap.unbind().await?;
    Ok(())
}
