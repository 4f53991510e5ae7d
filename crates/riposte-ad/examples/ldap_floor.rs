//! The benchmark floor for one action (bench/bulk.sh): on one open, bound
//! LDAPS connection, for each DN read from stdin, one LDAP modify
//! (userAccountControl := VALUE) and one base read-back of the attribute.
//! Prints one line per DN: the milliseconds the pair took. Not a test.
//!
//!   ldap_floor URL BIND_DN PASSWORD_FILE CA_FILE VALUE < dns.txt

use std::collections::HashSet;
use std::io::BufRead;
use std::time::Instant;

use ldap3::{LdapConnAsync, LdapConnSettings, Mod, Scope};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, bind_dn, password_file, ca_file, value] = &args[..] else {
        return Err("usage: ldap_floor URL BIND_DN PASSWORD_FILE CA_FILE VALUE < dns.txt".into());
    };
    let password = std::fs::read_to_string(password_file)?;
    let tls = riposte_ad::client_config("bench", std::path::Path::new(ca_file))?;
    let settings = LdapConnSettings::new().set_config(tls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, url).await?;
    ldap3::drive!(conn);
    ldap.simple_bind(bind_dn, password.trim_end())
        .await?
        .success()?;
    for dn in std::io::stdin().lock().lines() {
        let dn = dn?;
        if dn.trim().is_empty() {
            continue;
        }
        let start = Instant::now();
        ldap.modify(
            &dn,
            vec![Mod::Replace(
                "userAccountControl",
                HashSet::from([value.as_str()]),
            )],
        )
        .await?
        .success()?;
        let (entries, _) = ldap
            .search(
                &dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["userAccountControl"],
            )
            .await?
            .success()?;
        assert_eq!(entries.len(), 1, "no read-back for {dn}");
        println!("{:.3}", start.elapsed().as_secs_f64() * 1000.0);
    }
    ldap.unbind().await?;
    Ok(())
}
