//! `riposte token`: API tokens (each a person's, or a service's that never
//! approves), shown once and stored hashed, and the audit record of every
//! change to them.

use anyhow::Context;
use clap::Subcommand;
use riposte_core::policy::{Principal, Role};
use riposte_core::secret_token;
use riposte_store::{AuditLog, Store};

use crate::admin::{Admin, ScopeArgs, scope_for};
use crate::exit::{self, UsageError};

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print its secret once.
    Create {
        /// A unique name, e.g. the system that will use it.
        #[arg(long)]
        name: String,
        /// reader, responder, admin, or forwarder (may only post events; its scope
        /// bounds what automation may do on the events it sends).
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        scope: ScopeArgs,
        /// The person (`riposte person add`) the token belongs to: it acts, and may
        /// approve, as them. Without it, a service token, which can never approve.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Every token, live and revoked (never their secrets).
    List,
    /// Revoke a token by id: it stops working at once.
    Revoke { id: String },
}

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

pub async fn run(
    cmd: TokenCommand,
    tokens: &dyn Store,
    admin: &Admin,
    json_output: bool,
) -> anyhow::Result<u8> {
    let operator = admin.principal();
    match cmd {
        TokenCommand::Create {
            name,
            role,
            scope,
            owner,
        } => {
            let scope = scope_for(role, scope)?;
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
                    Some(time::OffsetDateTime::now_utc() + time::Duration::days(90)),
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

fn uuid_arg(text: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(text)
        .map_err(|_| UsageError(format!("{text:?} is not a token id (a UUID)")).into())
}
