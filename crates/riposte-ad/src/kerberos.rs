//! Kerberos (SASL GSSAPI) binds with the action account's keytab. Built only
//! with the `gssapi` cargo feature (libkrb5-dev and libclang-dev); without
//! it, a forest configured for Kerberos says how to get it.

use std::path::Path;

use ldap3::{Ldap, LdapResult};

/// The DC's host name from its URL: the SPN is `ldap/<host>`.
fn host_of(dc: &str) -> &str {
    dc.split("://")
        .nth(1)
        .unwrap_or(dc)
        .split([':', '/'])
        .next()
        .unwrap_or(dc)
}

/// Gets a ticket from the keytab into the credential cache the GSSAPI
/// library reads (KRB5CCNAME, or the user's default), then binds.
#[cfg(feature = "gssapi")]
pub async fn bind(
    ldap: &mut Ldap,
    dc: &str,
    keytab: &Path,
    principal: &str,
) -> Result<ldap3::result::Result<LdapResult>, String> {
    let out = tokio::process::Command::new("kinit")
        .arg("-k")
        .arg("-t")
        .arg(keytab)
        .arg(principal)
        .output()
        .await
        .map_err(|e| format!("cannot run kinit (install krb5-user): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kinit -k -t {} {principal} failed: {}",
            keytab.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(ldap.sasl_gssapi_bind(host_of(dc)).await)
}

#[cfg(not(feature = "gssapi"))]
pub async fn bind(
    _ldap: &mut Ldap,
    dc: &str,
    _keytab: &Path,
    _principal: &str,
) -> Result<ldap3::result::Result<LdapResult>, String> {
    Err(format!(
        "auth = \"gssapi\" for {} needs a riposte built with the gssapi feature (cargo build --features gssapi, with libkrb5-dev and libclang-dev installed)",
        host_of(dc)
    ))
}
