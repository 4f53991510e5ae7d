//! The `riposte` binary: one TLS crypto provider for the whole process, then
//! the command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    // ldap3 (and later sqlx and reqwest) use rustls; with more than one
    // provider compiled in (ring arrives with the gssapi feature), rustls
    // panics at the first TLS connect unless a process default is installed.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("riposte: a TLS crypto provider was already installed");
    }
    riposte_cli::run()
}
