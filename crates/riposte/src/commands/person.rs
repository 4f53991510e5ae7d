//! `riposte person`: the people who sign in to the web portal (passwords
//! stored as argon2id hashes; a generated one is shown once).

use anyhow::Context;
use clap::Subcommand;
use riposte_core::policy::Role;
use riposte_server::lifecycle::{self, LifecycleError, Operator};
use riposte_store::Store;
use secrecy::SecretString;

use super::person_reset_password::{self, ResetPasswordArgs};
use super::person_reset_second_factor::{self, ResetSecondFactorArgs};
use crate::admin::{Admin, ScopeArgs, scope_for};
use crate::exit::{self, UsageError};

#[derive(Subcommand, Debug)]
pub enum PersonCommand {
    /// Add a person; without --password-stdin a strong password is generated and printed once.
    Add {
        /// A unique sign-in name; the ledger names them user:<name>.
        #[arg(long)]
        name: String,
        /// reader, responder or admin.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Read the password from the first line of standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Everyone who may sign in (never their passwords).
    List,
    /// Stop a person signing in; their sessions and API tokens end at once
    /// (enabling them again does not bring those back).
    Disable { name: String },
    /// Let a disabled person sign in again.
    Enable { name: String },
    /// Give a local person a new password they must change at their next sign-in;
    /// their sessions end. Without --password-stdin one is generated and printed once.
    ResetPassword(ResetPasswordArgs),
    /// Turn off a local person's authenticator (TOTP) and recovery codes, e.g. when
    /// they lost their phone; they set one up again from their account page.
    ResetSecondFactor(ResetSecondFactorArgs),
}

pub async fn run(
    cmd: PersonCommand,
    store: &dyn Store,
    admin: &Admin,
    json_output: bool,
) -> anyhow::Result<u8> {
    let people: &dyn riposte_store::PeopleStore = store;
    let operator = admin.principal();
    use riposte_core::person_password;
    use secrecy::ExposeSecret;
    match cmd {
        PersonCommand::Add {
            name,
            role,
            scope,
            password_stdin,
        } => {
            if role == Role::Forwarder {
                return Err(UsageError(
                    "forwarder is a role for a log forwarder's token (riposte token create --role forwarder), not for a person".into(),
                )
                .into());
            }
            let scope = scope_for(role, scope)?;
            if name.trim().is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
            {
                return Err(UsageError(
                    "--name must be 1 to 64 letters, digits, '.', '_', '@' or '-'".into(),
                )
                .into());
            }
            let (password, generated) = if password_stdin {
                (password_from_stdin()?, false)
            } else {
                (
                    riposte_core::password::generate(&name).context("generating a password")?,
                    true,
                )
            };
            let hash = person_password::hash_for(&name, &password).map_err(password_refused)?;
            let person = people
                .create_person(&name, role, &scope, &hash, &operator.name)
                .await?;
            // The password is printed once, only when riposte made it up; it is stored nowhere.
            let shown = generated.then(|| password.expose_secret().to_string());
            if json_output {
                println!(
                    "{}",
                    serde_json::json!({ "id": person.id, "name": person.name, "role": person.role, "scope": person.scope, "password": shown })
                );
            } else {
                println!(
                    "person {} ({}, id {}) may sign in to the portal",
                    person.name, person.role, person.id
                );
                if let Some(p) = shown {
                    println!("  password: {p}");
                    println!("Shown once: riposte keeps only its argon2id hash.");
                }
            }
            Ok(exit::OK)
        }
        PersonCommand::List => {
            let all = people.list_people().await?;
            if json_output {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "people": all }))?
                );
            } else {
                for p in all {
                    let state = if p.disabled { "disabled" } else { "active" };
                    println!(
                        "{:<20} {:<9} {state:<8} created by {}",
                        p.name, p.role, p.created_by
                    );
                }
            }
            Ok(exit::OK)
        }
        PersonCommand::Disable { name } => set_disabled(store, operator, &name, true).await,
        PersonCommand::Enable { name } => set_disabled(store, operator, &name, false).await,
        PersonCommand::ResetPassword(args) => {
            person_reset_password::run(args, store, admin, json_output).await
        }
        PersonCommand::ResetSecondFactor(args) => {
            person_reset_second_factor::run(args, store, admin, json_output).await
        }
    }
}

/// The first line of standard input, without its line end.
pub(super) fn password_from_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_string(),
    ))
}

/// A reset refused for bad input (nobody of that name, an SSO person, a
/// password that breaks a rule) exits 2; a store failure does not.
pub(super) fn reset_refused(e: riposte_server::credential_reset::ResetError) -> anyhow::Error {
    use riposte_server::credential_reset::ResetError;
    match e {
        ResetError::Password(p) => password_refused(p),
        ResetError::Store(s) => s.into(),
        other => UsageError(other.to_string()).into(),
    }
}

/// A password that breaks a rule is bad input (exit 2); a hashing failure is not.
pub(crate) fn password_refused(
    e: riposte_core::person_password::PersonPasswordError,
) -> anyhow::Error {
    use riposte_core::person_password::PersonPasswordError;
    match e {
        PersonPasswordError::TooShort | PersonPasswordError::IsTheName => {
            anyhow::Error::from(UsageError(e.to_string()))
        }
        other => other.into(),
    }
}

/// `riposte_server::lifecycle` holds the rule and the audit record, shared
/// with the portal's admin page.
async fn set_disabled(
    store: &dyn Store,
    operator: &riposte_core::policy::Principal,
    name: &str,
    disabled: bool,
) -> anyhow::Result<u8> {
    let by = Operator {
        principal: operator,
        source: "cli",
        remote_addr: None,
    };
    match lifecycle::set_person_disabled(store, store, &by, name, disabled).await {
        Ok(()) => {
            if disabled {
                println!("disabled {name}: their sessions and API tokens are revoked");
            } else {
                println!("enabled {name}");
            }
            Ok(exit::OK)
        }
        Err(e @ (LifecycleError::NoSuchPerson(_) | LifecycleError::OwnAccount(_))) => {
            Err(UsageError(e.to_string()).into())
        }
        Err(e) => Err(anyhow::Error::from(e).context(format!("changing {name}"))),
    }
}
