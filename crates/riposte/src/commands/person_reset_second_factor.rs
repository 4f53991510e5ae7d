//! `riposte person reset-second-factor NAME`: an admin turns off a local
//! person's TOTP and recovery codes (a lost authenticator); they enrol again
//! from their account page. The workflow is `riposte_server::credential_reset`,
//! shared with the admin page.

use riposte_server::credential_reset::{self, ResetBy};
use riposte_store::Store;

use super::person::reset_refused;
use crate::admin::Admin;
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct ResetSecondFactorArgs {
    /// The person's sign-in name.
    pub name: String,
}

pub async fn run(
    args: ResetSecondFactorArgs,
    store: &dyn Store,
    admin: &Admin,
    json_output: bool,
) -> anyhow::Result<u8> {
    let by = ResetBy {
        actor: &admin.principal().name,
        source: "cli",
        remote_addr: None,
    };
    let person = credential_reset::reset_second_factor(store, store, store, &args.name, &by)
        .await
        .map_err(reset_refused)?;
    if json_output {
        println!(
            "{}",
            serde_json::json!({ "name": person.name, "second_factor": "reset" })
        );
    } else {
        println!(
            "{}'s second factor was reset: they sign in with their password alone until they set up an authenticator again",
            person.name
        );
    }
    Ok(exit::OK)
}
