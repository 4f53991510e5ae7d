//! `riposte person reset-password NAME`: an admin gives a local person a new
//! password they must change at their next sign-in; their sessions end.
//! The workflow is `riposte_server::credential_reset`, shared with the
//! admin page.

use riposte_server::credential_reset::{self, ResetBy};
use riposte_store::Store;
use secrecy::ExposeSecret;

use super::person::{password_from_stdin, reset_refused};
use crate::admin::Admin;
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct ResetPasswordArgs {
    /// The person's sign-in name.
    pub name: String,
    /// Read the new password from the first line of standard input instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn run(
    args: ResetPasswordArgs,
    store: &dyn Store,
    admin: &Admin,
    json_output: bool,
) -> anyhow::Result<u8> {
    let (password, generated) = if args.password_stdin {
        (password_from_stdin()?, false)
    } else {
        (riposte_core::password::generate(&args.name)?, true)
    };
    let shown = generated.then(|| password.expose_secret().to_string());
    let by = ResetBy {
        actor: &admin.principal().name,
        source: "cli",
        remote_addr: None,
    };
    let person = credential_reset::reset_password(store, store, &args.name, password, &by)
        .await
        .map_err(reset_refused)?;
    if json_output {
        println!(
            "{}",
            serde_json::json!({ "name": person.name, "must_change_password": true, "sessions_ended": true, "password": shown })
        );
    } else {
        println!(
            "{}'s password was reset; they must change it at their next sign-in, and their sessions ended",
            person.name
        );
        if let Some(p) = shown {
            println!("  password: {p}");
            println!("Shown once: riposte keeps only its argon2id hash.");
        }
    }
    Ok(exit::OK)
}
