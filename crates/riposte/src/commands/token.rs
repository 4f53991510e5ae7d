//! Who may call riposte: people (portal sign-in, passwords as argon2id) and
//! API tokens (each a person's, or a service's that never approves), and the
//! audit records of every change to them.

use anyhow::Context;
use riposte_core::policy::{Principal, Role, Scope};
use riposte_core::{Action, secret_token};
use riposte_store::{AuditLog, PeopleStore, Store};

use crate::{PersonCommand, TokenCommand, UsageError, exit};

/// Records a change to who may call riposte in the audit trail.
async fn audit_admin(
    store: &dyn AuditLog,
    operator: &Principal,
    event: &str,
    target: String,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    store
        .append(riposte_store::NewAuditRecord {
            actor: operator.name.clone(),
            source: "cli".into(),
            remote_addr: None,
            event: event.into(),
            target: Some(target),
            job_id: None,
            result: "success".into(),
            details,
        })
        .await
        .context("writing the audit trail")?;
    Ok(())
}

pub(crate) async fn token(
    cmd: TokenCommand,
    tokens: &dyn Store,
    operator: &Principal,
    json_output: bool,
) -> anyhow::Result<u8> {
    match cmd {
        TokenCommand::Create {
            name,
            role,
            forests,
            ous,
            actions,
            owner,
        } => {
            let scope = scope_for(role, forests, ous, actions)?;
            if let Some(owner) = &owner {
                match tokens.person_by_name(owner).await? {
                    Some(p) if !p.disabled => {}
                    Some(_) => {
                        return Err(UsageError(format!(
                            "--owner {owner:?} is disabled; enable them first (`riposte person enable {owner}`)"
                        ))
                        .into());
                    }
                    None => {
                        return Err(UsageError(format!(
                            "--owner {owner:?} names nobody; add them first (`riposte person add --name {owner} ...`), or leave --owner out for a service token (which can never approve)"
                        ))
                        .into());
                    }
                }
            }
            let secret = secret_token::generate().context("generating a token")?;
            let token = tokens
                .create_token(
                    &name,
                    role,
                    &scope,
                    owner.as_deref(),
                    &operator.name,
                    &secret_token::hash(&secret),
                )
                .await?;
            let details = serde_json::json!({ "id": token.id, "role": token.role, "scope": token.scope, "owner": token.owner });
            audit_admin(
                tokens,
                operator,
                "token-created",
                format!("token:{}", token.name),
                details,
            )
            .await?;
            if json_output {
                println!(
                    "{}",
                    serde_json::json!({ "id": token.id, "name": token.name, "role": token.role, "scope": token.scope, "owner": token.owner, "token": secret })
                );
            } else {
                match &token.owner {
                    Some(owner) => println!(
                        "API token {} ({}, id {}) belongs to {owner}",
                        token.name, token.role, token.id
                    ),
                    None => println!(
                        "API token {} ({}, id {}), a service token: it can never approve",
                        token.name, token.role, token.id
                    ),
                }
                println!("  {secret}");
                println!(
                    "Shown once: riposte keeps only its hash. Send it as `Authorization: Bearer <token>`."
                );
            }
            Ok(exit::OK)
        }
        TokenCommand::List => {
            let all = tokens.list_tokens().await?;
            if json_output {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "tokens": all }))?
                );
            } else {
                for t in all {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    };
                    println!(
                        "{}  {:<20} {:<9} {state:<7} created by {}",
                        t.id, t.name, t.role, t.created_by
                    );
                }
            }
            Ok(exit::OK)
        }
        TokenCommand::Revoke { id } => {
            let id = uuid_arg(&id)?;
            if tokens.revoke_token(id).await? {
                audit_admin(
                    tokens,
                    operator,
                    "token-revoked",
                    format!("token-id:{id}"),
                    serde_json::json!({ "id": id }),
                )
                .await?;
                println!("revoked {id}");
                Ok(exit::OK)
            } else {
                Err(UsageError(format!(
                    "no live token has the id {id}; `riposte token list` shows them"
                ))
                .into())
            }
        }
    }
}

/// The scope flags apply to responders and forwarders only.
fn scope_for(
    role: Role,
    forests: Vec<String>,
    ous: Vec<String>,
    actions: Vec<Action>,
) -> anyhow::Result<Scope> {
    let scope = Scope {
        forests,
        ous,
        actions,
    };
    // A forwarder's scope bounds what automation may do on the events it sends.
    if !matches!(role, Role::Responder | Role::Forwarder) && !scope.is_unlimited() {
        return Err(UsageError(
            "--forest, --ou and --action limit a responder or a forwarder; other roles take none"
                .into(),
        )
        .into());
    }
    Ok(scope)
}

pub(crate) async fn person(
    cmd: PersonCommand,
    people: &dyn PeopleStore,
    operator: &Principal,
    json_output: bool,
) -> anyhow::Result<u8> {
    use riposte_core::person_password;
    use secrecy::{ExposeSecret, SecretString};
    match cmd {
        PersonCommand::Add {
            name,
            role,
            forests,
            ous,
            actions,
            password_stdin,
        } => {
            if role == Role::Forwarder {
                return Err(UsageError(
                    "forwarder is a role for a log forwarder's token (riposte token create --role forwarder), not for a person".into(),
                )
                .into());
            }
            let scope = scope_for(role, forests, ous, actions)?;
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
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                (SecretString::from(line), false)
            } else {
                (
                    riposte_core::password::generate(&name).context("generating a password")?,
                    true,
                )
            };
            let hash = person_password::hash(&password).map_err(|e| match e {
                person_password::PersonPasswordError::TooShort => {
                    anyhow::Error::from(UsageError(e.to_string()))
                }
                other => other.into(),
            })?;
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
        PersonCommand::Disable { name } => set_disabled(people, &name, true).await,
        PersonCommand::Enable { name } => set_disabled(people, &name, false).await,
    }
}

async fn set_disabled(people: &dyn PeopleStore, name: &str, disabled: bool) -> anyhow::Result<u8> {
    if people.set_person_disabled(name, disabled).await? {
        println!("{} {name}", if disabled { "disabled" } else { "enabled" });
        Ok(exit::OK)
    } else {
        Err(UsageError(format!(
            "nobody is named {name:?}; `riposte person list` shows them"
        ))
        .into())
    }
}

fn uuid_arg(text: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(text)
        .map_err(|_| UsageError(format!("{text:?} is not a token id (a UUID)")).into())
}
