//! Kerberos (SASL GSSAPI with the action account's keytab) against the lab.
//! Built only with `--features gssapi`; .ci/run runs it in its own target dir.
#![cfg(feature = "gssapi")]

#[path = "system/harness/mod.rs"]
mod harness;

use std::process::Command;

use harness::{BIN, run};
use riposte_testlab::{Lab, Login};

#[test]
fn a_keytab_bind_contains_an_account_over_a_sealed_connection() {
    let lab = Lab::load();
    let corp = lab.forest("corp").clone();
    let dir = tempfile::tempdir().unwrap();
    // Samba 4.17 refuses GSSAPI over TLS without sign/seal, so Kerberos runs
    // over plain LDAP with SASL privacy (sealing) instead.
    let config = lab.private_config(dir.path(), |text| {
        let (corp_part, rest) = text.split_at(text.find("name = \"fabrikam\"").unwrap());
        let corp_part = corp_part
            .replace(&corp.ldaps_url, &format!("ldap://{}:389", corp.dc_host))
            .replace("tls = \"ldaps\"", "tls = \"none\"")
            .replace(
                &format!(
                    "bind_password_file = {:?}",
                    corp.action_password_file.display().to_string()
                ),
                &format!(
                    "auth = \"gssapi\"\nkeytab = {:?}\nprincipal = {:?}",
                    corp.action_keytab.display().to_string(),
                    corp.action_principal
                ),
            );
        corp_part + rest
    });
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("auth = \"gssapi\"")
    );
    let user = lab.create_user("corp", "krb", 0);
    let riposte = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("KRB5_CONFIG", &lab.krb5_conf)
            .env(
                "KRB5CCNAME",
                format!("FILE:{}", dir.path().join("ccache").display()),
            );
        run(cmd)
    };
    let disable = riposte(&[
        "--json",
        "user",
        "disable",
        &user.reference(),
        "--reason",
        "test: kerberos",
    ]);
    assert_eq!(
        disable.outcome(),
        "verified",
        "{}\n{}",
        disable.stdout,
        disable.stderr
    );
    assert!(matches!(user.kinit(), Login::Revoked(_)));
    // A password travels only on an encrypted channel: here, the sealed one.
    let set = riposte(&[
        "--json",
        "user",
        "set-password",
        &user.reference(),
        "--reason",
        "test: kerberos",
    ]);
    assert_eq!(set.outcome(), "verified", "{}", set.stderr);
}
