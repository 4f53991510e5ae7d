//! `riposte token`: API tokens (each a person's, or a service's that never
//! approves), shown once and stored hashed, expiring (`--expires`, 90 days
//! unless told), and the audit record of every change to them.

use anyhow::Context;
use clap::Subcommand;
use riposte_core::policy::{Principal, Role};
use riposte_core::secret_token;
use riposte_server::lifecycle::{self, LifecycleError, Operator, token_state};
use riposte_store::{AuditLog, Store, StoreError};
use time::OffsetDateTime;

use crate::admin::{Admin, ScopeArgs, scope_for};
use crate::exit::{self, UsageError};

/// The longest a token may live: a year (and a day, for a leap year).
const MAX_LIFETIME_DAYS: i64 = 366;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print its secret once.
    Create {
        /// A name never used before, e.g. the system that will use it; the audit
        /// trail names the token by it for good, so a name is never reused.
        #[arg(long)]
        name: String,
        /// reader, responder, admin, or forwarder (may only post events; its scope
        /// bounds what automation may do on the events it sends).
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        scope: ScopeArgs,
        /// The person (`riposte person add`) the token belongs to: it acts, and may
        /// approve, as them, and ends when they are disabled. Without it, a service
        /// token, which can never approve.
        #[arg(long)]
        owner: Option<String>,
        /// How long the token works: days (90d) or hours (12h), at most 366d.
        #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse_lifetime)]
        expires: time::Duration,
    },
    /// Every token, live, expired and revoked (never their secrets).
    List,
    /// Revoke a token by id: it stops working at once.
    Revoke { id: String },
}

/// `--expires`: a whole number of days (`90d`) or hours (`12h`), from one
/// hour to [`MAX_LIFETIME_DAYS`].
fn parse_lifetime(text: &str) -> Result<time::Duration, String> {
    let wanted = || {
        format!(
            "{text:?} is not a token lifetime: give days or hours, e.g. 90d, 30d or 12h, from 1h to {MAX_LIFETIME_DAYS}d"
        )
    };
    let trimmed = text.trim();
    let (number, unit) = match (trimmed.strip_suffix('d'), trimmed.strip_suffix('h')) {
        (Some(days), _) => (days, "d"),
        (_, Some(hours)) => (hours, "h"),
        _ => return Err(wanted()),
    };
    let count: i64 = Some(number)
        .filter(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(wanted)?;
    let lifetime = match unit {
        "d" if count <= MAX_LIFETIME_DAYS => time::Duration::days(count),
        "h" if count <= MAX_LIFETIME_DAYS * 24 => time::Duration::hours(count),
        _ => {
            return Err(format!(
                "--expires {trimmed} is too long: a token lives at most {MAX_LIFETIME_DAYS} days; make a new one before it ends"
            ));
        }
    };
    Ok(lifetime)
}

/// A time as `token` prints it: to the second.
fn at(t: OffsetDateTime) -> String {
    riposte_core::time::rfc3339(t.replace_nanosecond(0).unwrap_or(t))
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
            expires,
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
            let expires_at = OffsetDateTime::now_utc() + expires;
            let token = match tokens
                .create_token(
                    &name,
                    role,
                    &scope,
                    owner.as_deref(),
                    &operator.name,
                    &secret_token::hash(&secret),
                    Some(expires_at),
                )
                .await
            {
                Ok(token) => token,
                Err(StoreError::Conflict(_)) => {
                    return Err(UsageError(format!(
                        "a token named {name:?} exists or existed (`riposte token list` shows it): logs and the audit trail name one token by it for good, so pick another name, e.g. {name}-2"
                    ))
                    .into());
                }
                Err(e) => return Err(e.into()),
            };
            let details = serde_json::json!({ "id": token.id, "role": token.role, "scope": token.scope, "owner": token.owner, "expires_at": token.expires_at.map(at) });
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
                    serde_json::json!({ "id": token.id, "name": token.name, "role": token.role, "scope": token.scope, "owner": token.owner, "created_by": token.created_by, "expires_at": token.expires_at.map(at), "token": secret })
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
                println!(
                    "  created by {}, expires {}",
                    token.created_by,
                    token.expires_at.map(at).unwrap_or_else(|| "never".into())
                );
                println!("  {secret}");
                println!(
                    "Shown once: riposte keeps only its hash. Send it as `Authorization: Bearer <token>`."
                );
            }
            Ok(exit::OK)
        }
        TokenCommand::List => {
            let all = tokens.list_tokens().await?;
            let now = OffsetDateTime::now_utc();
            if json_output {
                let listed = all
                    .iter()
                    .map(|t| {
                        let mut view = serde_json::to_value(t)?;
                        view["state"] = token_state(t, now).into();
                        Ok(view)
                    })
                    .collect::<Result<Vec<_>, serde_json::Error>>()?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "tokens": listed }))?
                );
            } else {
                println!(
                    "{:<36}  {:<20} {:<9} {:<7} {:<16} {:<24} {:<20} {:<20} LAST USED",
                    "ID", "NAME", "ROLE", "STATE", "OWNER", "CREATED BY", "CREATED", "EXPIRES"
                );
                for t in all {
                    println!(
                        "{}  {:<20} {:<9} {:<7} {:<16} {:<24} {:<20} {:<20} {}",
                        t.id,
                        t.name,
                        t.role,
                        token_state(&t, now),
                        t.owner.as_deref().unwrap_or("(service)"),
                        t.created_by,
                        at(t.created_at),
                        t.expires_at.map(at).unwrap_or_else(|| "never".into()),
                        t.last_used_at.map(at).unwrap_or_else(|| "never".into()),
                    );
                }
            }
            Ok(exit::OK)
        }
        TokenCommand::Revoke { id } => {
            let id = uuid_arg(&id)?;
            let by = Operator {
                principal: operator,
                source: "cli",
                remote_addr: None,
            };
            match lifecycle::revoke_token(tokens, tokens, &by, id).await {
                Ok(()) => {
                    println!("revoked {id}");
                    Ok(exit::OK)
                }
                Err(e @ LifecycleError::NoSuchToken(_)) => Err(UsageError(e.to_string()).into()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn uuid_arg(text: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(text)
        .map_err(|_| UsageError(format!("{text:?} is not a token id (a UUID)")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_days_or_hours_up_to_366_days() {
        assert_eq!(parse_lifetime("90d"), Ok(time::Duration::days(90)));
        assert_eq!(parse_lifetime("12h"), Ok(time::Duration::hours(12)));
        assert_eq!(parse_lifetime("366d"), Ok(time::Duration::days(366)));
        assert_eq!(parse_lifetime("8784h"), Ok(time::Duration::days(366)));
        for too_long in ["367d", "8785h", "999999d"] {
            let refused = parse_lifetime(too_long).unwrap_err();
            assert!(
                refused.contains("at most 366 days"),
                "{too_long}: {refused}"
            );
        }
        for malformed in [
            "", "d", "0d", "-1d", "+5d", "90", "90m", "1w", "1.5d", "90 d", "9é", "1s",
        ] {
            let refused = parse_lifetime(malformed).unwrap_err();
            assert!(refused.contains("e.g. 90d"), "{malformed}: {refused}");
        }
    }
}
