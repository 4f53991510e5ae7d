//! Who the CLI acts as. With a credential (`--token-file FILE`, else the
//! `RIPOSTE_TOKEN` environment variable) it acts as that token, and so as
//! the person who owns it, with the token's role and scope. Without one it
//! acts as the OS account it runs under, read from the process's real uid
//! (never from `$USER` or `$SUDO_USER`, which anyone sets), as an admin (it
//! holds the configuration) but as no person: it may request, never
//! approve, since a second person must be proven, not claimed.

use std::path::Path;

use anyhow::Context;
use riposte_core::policy::{Principal, Role, Scope};
use riposte_core::secret_token;
use riposte_store::TokenStore;
use secrecy::{ExposeSecret, SecretString};

use crate::exit::UsageError;

/// The environment variable holding the CLI's token.
pub const TOKEN_ENV: &str = "RIPOSTE_TOKEN";

/// The principal the CLI acts as (see the module documentation).
pub async fn operator(
    token_file: Option<&Path>,
    tokens: &dyn TokenStore,
) -> anyhow::Result<Principal> {
    let Some((secret, from)) = presented(token_file)? else {
        return Ok(os_principal());
    };
    let token = tokens
        .token_by_hash(
            &secret_token::hash(secret.expose_secret()),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .context("looking up the CLI's token")?
        .ok_or_else(|| {
            UsageError(format!(
                "the token in {from} is unknown, revoked or expired, or its owner is disabled; `riposte token list` shows each token's state (unset {TOKEN_ENV} to act as the OS account)"
            ))
        })?;
    Ok(token.principal())
}

/// A credential's secret, and where it came from (for messages, never the secret).
fn presented(token_file: Option<&Path>) -> anyhow::Result<Option<(SecretString, String)>> {
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the token file {}", path.display()))?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(UsageError(format!("the token file {} is empty", path.display())).into());
        }
        return Ok(Some((
            SecretString::from(secret.to_string()),
            path.display().to_string(),
        )));
    }
    Ok(std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(|t| (SecretString::from(t), TOKEN_ENV.to_string())))
}

/// The CLI without a credential: the OS account, an admin, no person.
fn os_principal() -> Principal {
    Principal {
        name: os_account(),
        role: Role::Admin,
        scope: Scope::default(),
        person: None,
    }
}

/// `cli:USER@HOST`, USER from the real uid (the kernel's word, not the environment's).
pub fn os_account() -> String {
    let user = user_from_uid().unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!("cli:{user}@{host}")
}

/// The name of this process's real uid, from /etc/passwd (no environment
/// needed); the uid itself when it has no name there.
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(
        passwd
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid).then(|| name.to_string())
            })
            .unwrap_or_else(|| format!("uid-{uid}")),
    )
}

/// Approving or rejecting needs a person's credential: refuses at once,
/// saying how to present one, when the CLI acts as no person.
pub fn require_person(principal: &Principal, what: &str) -> anyhow::Result<()> {
    if principal.person.is_some() {
        return Ok(());
    }
    Err(UsageError(format!(
        "{what} needs a second person, proven by their own credential: {} is not a person's credential (a service token or the OS account) and can never approve; set {TOKEN_ENV} (or --token-file) to a token created with `riposte token create --owner PERSON`, or decide in the portal",
        principal.name
    ))
    .into())
}
