//! The `riposte` binary: one TLS crypto provider for the whole process, the
//! arguments, then the command (`riposte::app::run`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use riposte::Cli;
use riposte::exit;

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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" printed on stdout, exit 0.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    riposte::app::run(cli)
}
