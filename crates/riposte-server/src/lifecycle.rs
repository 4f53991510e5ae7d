//! The lifecycle of who may call riposte, changed by an admin: disabling and
//! enabling a person, revoking a session or an API token. The one place for
//! these rules and their audit records, called by the CLI (`riposte person
//! disable|enable`, `riposte token revoke`) and by the admin page
//! (`portal::admin`) alike. The stores do the work in one transaction each
//! (disabling a person also revokes their sessions and tokens).

use riposte_core::policy::Principal;
use riposte_store::{ApiToken, AuditLog, NewAuditRecord, PeopleStore, StoreError, TokenStore};
use time::OffsetDateTime;
use uuid::Uuid;

/// Who makes the change, and through what: written to the audit record.
pub struct Operator<'a> {
    pub principal: &'a Principal,
    /// "cli" or "portal".
    pub source: &'a str,
    pub remote_addr: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("nobody is named {0:?}; `riposte person list` (or the People page) shows them")]
    NoSuchPerson(String),
    #[error(
        "{0} cannot disable themselves: another admin must do it (so that someone can still enable them)"
    )]
    OwnAccount(String),
    #[error("no live session has the id {0}; it ended already (signed out, expired or revoked)")]
    NoSuchSession(Uuid),
    #[error("no live token has the id {0}; `riposte token list` shows them")]
    NoSuchToken(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token's state at `now`, as `riposte token list` and the admin page show
/// it: "revoked", "expired" or "live".
pub fn token_state(token: &ApiToken, now: OffsetDateTime) -> &'static str {
    if token.revoked_at.is_some() {
        "revoked"
    } else if token.expires_at.is_some_and(|end| end <= now) {
        "expired"
    } else {
        "live"
    }
}

/// Disables (every session and token of theirs ends with it) or enables a
/// person, audited as "person-disabled" or "person-enabled". A person may
/// not disable themselves, whatever credential they use.
pub async fn set_person_disabled(
    people: &dyn PeopleStore,
    audit: &dyn AuditLog,
    by: &Operator<'_>,
    name: &str,
    disabled: bool,
) -> Result<(), LifecycleError> {
    if disabled && by.principal.person.as_deref() == Some(name) {
        return Err(LifecycleError::OwnAccount(name.to_string()));
    }
    if !people.set_person_disabled(name, disabled).await? {
        return Err(LifecycleError::NoSuchPerson(name.to_string()));
    }
    let event = if disabled {
        "person-disabled"
    } else {
        "person-enabled"
    };
    record(
        audit,
        by,
        event,
        format!("user:{name}"),
        serde_json::json!({}),
    )
    .await
}

/// Ends one portal session now, audited as "session-revoked".
pub async fn revoke_session(
    people: &dyn PeopleStore,
    audit: &dyn AuditLog,
    by: &Operator<'_>,
    id: Uuid,
) -> Result<(), LifecycleError> {
    if !people.revoke_session_by_id(id).await? {
        return Err(LifecycleError::NoSuchSession(id));
    }
    record(
        audit,
        by,
        "session-revoked",
        format!("session-id:{id}"),
        serde_json::json!({ "id": id }),
    )
    .await
}

/// Revokes one API token now, audited as "token-revoked".
pub async fn revoke_token(
    tokens: &dyn TokenStore,
    audit: &dyn AuditLog,
    by: &Operator<'_>,
    id: Uuid,
) -> Result<(), LifecycleError> {
    if !tokens.revoke_token(id).await? {
        return Err(LifecycleError::NoSuchToken(id));
    }
    record(
        audit,
        by,
        "token-revoked",
        format!("token-id:{id}"),
        serde_json::json!({ "id": id }),
    )
    .await
}

async fn record(
    audit: &dyn AuditLog,
    by: &Operator<'_>,
    event: &str,
    target: String,
    details: serde_json::Value,
) -> Result<(), LifecycleError> {
    audit
        .append(NewAuditRecord {
            actor: by.principal.name.clone(),
            source: by.source.into(),
            remote_addr: by.remote_addr.clone(),
            event: event.into(),
            target: Some(target),
            job_id: None,
            result: "success".into(),
            details,
        })
        .await?;
    Ok(())
}
