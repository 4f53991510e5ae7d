//! `riposte user`: look at an account, or act on it through the Runner (as
//! the CLI's operator, with the same policy and safeguards as every path).

use clap::{Args, Subcommand};
use riposte_core::policy::Principal;
use riposte_core::{Action, ActionOptions};
use riposte_jobs::{ActionRequest, Runner};

use crate::exit;
use crate::output;
use crate::reader::Reader;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// An account's state: enabled, locked, must-change in force (or why not), protection.
    Show {
        /// corp:bert, bert@corp.example.test, a DN, a SID or an objectGUID.
        reference: String,
    },
    /// Disable the account (ACCOUNTDISABLE, keeping every other flag).
    Disable(ActionArgs),
    /// Enable the account.
    Enable(ActionArgs),
    /// Require a password change at next logon (pwdLastSet=0), checked for flags that would make AD ignore it.
    ForcePasswordReset {
        #[command(flatten)]
        args: ActionArgs,
        /// Clear DONT_EXPIRE_PASSWORD / SMARTCARD_REQUIRED first (recorded in the evidence).
        #[arg(long)]
        clear_blocking_flags: bool,
        /// In Entra ID, also require MFA before the new password (forceChangePasswordNextSignInWithMfa).
        #[arg(long)]
        with_mfa: bool,
    },
    /// Unlock a locked-out account (lockoutTime=0).
    Unlock(ActionArgs),
    /// Set a random password that meets AD complexity; shown once, never stored.
    SetPassword(ActionArgs),
    /// Entra ID: end every sign-in session (for a hybrid identity, a disable does this too).
    RevokeSessions(ActionArgs),
    /// Entra ID Protection: mark the user confirmed compromised.
    ConfirmCompromised(ActionArgs),
}

#[derive(Args, Debug)]
pub struct ActionArgs {
    /// corp:bert, bert@corp.example.test, a DN, a SID or an objectGUID.
    reference: String,
    /// Why (required; kept in the ledger).
    #[arg(long)]
    reason: String,
    /// Makes a retried request return the first job instead of acting twice.
    #[arg(long)]
    idempotency_key: Option<String>,
}

pub async fn run(
    command: UserCommand,
    runner: &Runner,
    operator: &Principal,
    json: bool,
) -> anyhow::Result<u8> {
    let (action, args, options) = match command {
        UserCommand::Show { reference } => {
            return show(Reader::new(runner), &reference, json).await;
        }
        UserCommand::Disable(a) => (Action::Disable, a, ActionOptions::default()),
        UserCommand::Enable(a) => (Action::Enable, a, ActionOptions::default()),
        UserCommand::Unlock(a) => (Action::Unlock, a, ActionOptions::default()),
        UserCommand::SetPassword(a) => (Action::SetPassword, a, ActionOptions::default()),
        UserCommand::RevokeSessions(a) => (Action::RevokeSessions, a, ActionOptions::default()),
        UserCommand::ConfirmCompromised(a) => {
            (Action::ConfirmCompromised, a, ActionOptions::default())
        }
        UserCommand::ForcePasswordReset {
            args,
            clear_blocking_flags,
            with_mfa,
        } => (
            Action::ForcePasswordReset,
            args,
            ActionOptions {
                clear_blocking_flags,
                with_mfa,
            },
        ),
    };
    let completed = runner
        .submit_as(
            operator,
            ActionRequest {
                reference: args.reference,
                action,
                options,
                reason: args.reason,
                requested_by: operator.name.clone(),
                requester_person: operator.person.clone(),
                source: "cli".into(),
                idempotency_key: args.idempotency_key,
                remote_addr: None,
                evidence_input: None,
            },
        )
        .await?;
    let events = runner.store().events(completed.job.id).await?;
    output::completed(&completed, &events, json);
    Ok(exit::for_job(&completed.job))
}

async fn show(reader: Reader<'_>, reference: &str, json: bool) -> anyhow::Result<u8> {
    let identity = reader.find_identity(reference).await?;
    output::identity(&identity, json);
    Ok(exit::OK)
}
