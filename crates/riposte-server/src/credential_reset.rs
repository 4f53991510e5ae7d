//! An admin resets a local person's password or second factor: the one
//! workflow behind `riposte person reset-password` / `reset-second-factor`
//! and the admin page's buttons (`/ui/admin/people/{name}/reset-*`). The
//! caller has checked the Admin permission; this checks the person, changes
//! the store and writes the audit record (never the password).

use riposte_core::person_password::{self, PersonPasswordError};
use riposte_store::{AuditLog, NewAuditRecord, PeopleStore, Person, SecondFactorStore, StoreError};
use secrecy::SecretString;

/// Who resets, through what, from where: for the audit record.
pub struct ResetBy<'a> {
    /// The principal's name ("cli:root@host", "user:ada").
    pub actor: &'a str,
    /// "cli" or "portal".
    pub source: &'a str,
    pub remote_addr: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("nobody is named {0:?}; `riposte person list` shows them")]
    NoSuchPerson(String),
    #[error(
        "{0} signs in through the identity provider: riposte holds no password or second factor of theirs (reset it at the provider)"
    )]
    SignsInBySso(String),
    #[error("{0}")]
    Password(#[from] PersonPasswordError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

async fn local_person(people: &dyn PeopleStore, name: &str) -> Result<Person, ResetError> {
    let person = people
        .person_by_name(name)
        .await?
        .ok_or_else(|| ResetError::NoSuchPerson(name.to_string()))?;
    if person.is_sso() {
        return Err(ResetError::SignsInBySso(person.name));
    }
    Ok(person)
}

async fn audit(
    log: &dyn AuditLog,
    by: &ResetBy<'_>,
    event: &str,
    person: &Person,
    details: serde_json::Value,
) -> Result<(), ResetError> {
    log.append(NewAuditRecord {
        actor: by.actor.to_string(),
        source: by.source.to_string(),
        remote_addr: by.remote_addr.clone(),
        event: event.into(),
        target: Some(format!("user:{}", person.name)),
        job_id: None,
        result: "success".into(),
        details,
    })
    .await?;
    Ok(())
}

/// Gives `name` the password `new_password` (the password rules of
/// `person_password::hash_for`), which they must change at their next
/// sign-in; every session of theirs ends. Audit: "password-reset".
pub async fn reset_password(
    people: &dyn PeopleStore,
    log: &dyn AuditLog,
    name: &str,
    new_password: SecretString,
    by: &ResetBy<'_>,
) -> Result<Person, ResetError> {
    let person = local_person(people, name).await?;
    let for_name = person.name.clone();
    // argon2 takes real CPU time by design: off the async workers.
    let hash =
        tokio::task::spawn_blocking(move || person_password::hash_for(&for_name, &new_password))
            .await
            .map_err(|e| PersonPasswordError::Hash(e.to_string()))??;
    if !people.set_password(&person.name, &hash, true, None).await? {
        return Err(ResetError::NoSuchPerson(person.name));
    }
    audit(
        log,
        by,
        "password-reset",
        &person,
        serde_json::json!({ "must_change_password": true, "sessions_ended": true }),
    )
    .await?;
    Ok(person)
}

/// Turns `name`'s TOTP off and forgets their recovery codes (a lost
/// authenticator); they sign in with their password alone until they enrol
/// again. Audit: "second-factor-reset".
pub async fn reset_second_factor(
    people: &dyn PeopleStore,
    second_factors: &dyn SecondFactorStore,
    log: &dyn AuditLog,
    name: &str,
    by: &ResetBy<'_>,
) -> Result<Person, ResetError> {
    let person = local_person(people, name).await?;
    let had = person.totp_enabled;
    second_factors.clear_totp(person.id).await?;
    audit(
        log,
        by,
        "second-factor-reset",
        &person,
        serde_json::json!({ "was_enabled": had }),
    )
    .await?;
    Ok(person)
}
