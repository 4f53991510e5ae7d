//! Portal sessions: `[portal]` (how long they live), and the one place a
//! session is started, whatever proved who the person is (a password, a
//! password and a second factor, an OpenID Provider), and audited.

use std::net::SocketAddr;

use axum::http::StatusCode;
use riposte_core::secret_token;
use riposte_store::{NewSession, Person, SignInMethod};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::{self, SESSION_COOKIE};
use crate::error::ApiError;

/// `[portal]` in riposte.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalSettings {
    /// A session ends this many hours after sign-in, however active.
    pub session_hours: u32,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
}

impl Default for PortalSettings {
    fn default() -> Self {
        PortalSettings {
            session_hours: 8,
            session_idle_minutes: 30,
        }
    }
}

impl PortalSettings {
    /// A message naming the key out of range, for the config error.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=168).contains(&self.session_hours) {
            return Err(format!(
                "[portal] session_hours must be 1 to 168 (a week), not {}",
                self.session_hours
            ));
        }
        if self.session_idle_minutes < 1 || self.session_idle_minutes > self.session_hours * 60 {
            return Err(format!(
                "[portal] session_idle_minutes must be 1 to session_hours x 60 ({}), not {}",
                self.session_hours * 60,
                self.session_idle_minutes
            ));
        }
        Ok(())
    }

    pub fn lifetime(&self) -> time::Duration {
        time::Duration::hours(i64::from(self.session_hours))
    }

    pub fn idle(&self) -> time::Duration {
        time::Duration::minutes(i64::from(self.session_idle_minutes))
    }
}

/// A new session: the `Set-Cookie` value carrying its secret.
pub struct Started {
    pub set_cookie: String,
}

/// How the person proved who they are.
pub struct Proof {
    pub method: SignInMethod,
    /// A second factor was used (locally, or as the OpenID Provider says).
    pub mfa: bool,
}

/// Starts a session for `person`, audited as a successful sign-in. The
/// caller checked everything else (password, second factor, ID token).
pub async fn start_session(
    state: &AppState,
    person: &Person,
    proof: Proof,
    remote: SocketAddr,
) -> Result<Started, ApiError> {
    let random = |what: &str| {
        secret_token::generate().map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "random_failed",
                format!("no random {what} could be made: {e}"),
            )
        })
    };
    let secret = random("session secret")?;
    let csrf = random("CSRF token")?;
    let portal = &state.portal;
    let address = remote.ip().to_string();
    state
        .people
        .create_session(NewSession {
            person: person.id,
            secret_hash: &secret_token::hash(&secret),
            csrf_token: &csrf,
            expires_at: OffsetDateTime::now_utc() + portal.lifetime(),
            method: proof.method,
            mfa: proof.mfa,
            remote_addr: Some(&address),
        })
        .await?;
    tracing::info!(person = %person.name, method = proof.method.as_str(), mfa = proof.mfa, "portal sign-in");
    audit_sign_in(
        state,
        SignInRecord {
            event: "sign-in",
            name: &person.name,
            remote,
            result: "success",
            method: proof.method.as_str(),
            why: if proof.mfa {
                "signed in with a second factor"
            } else {
                "signed in"
            },
        },
    )
    .await;
    Ok(Started {
        set_cookie: auth::set_cookie(
            SESSION_COOKIE,
            &secret,
            "/",
            i64::from(portal.session_hours) * 3600,
        ),
    })
}

/// One sign-in event for the audit trail: the name as given, never a
/// password, code or token.
pub struct SignInRecord<'a> {
    /// "sign-in", "sign-out", ...
    pub event: &'a str,
    pub name: &'a str,
    pub remote: SocketAddr,
    /// "success", "refused", "throttled".
    pub result: &'a str,
    /// "password", "password+totp", "oidc", ...
    pub method: &'a str,
    pub why: &'a str,
}

/// Writes a sign-in event to the audit trail.
pub async fn audit_sign_in(state: &AppState, record: SignInRecord<'_>) {
    let record = riposte_store::NewAuditRecord {
        actor: format!("user:{}", record.name),
        source: "portal".into(),
        remote_addr: Some(record.remote.ip().to_string()),
        event: record.event.into(),
        target: Some(format!("user:{}", record.name)),
        job_id: None,
        result: record.result.into(),
        details: serde_json::json!({ "why": record.why, "method": record.method }),
    };
    if let Err(e) = state.runner.store().append(record).await {
        tracing::error!(error = %e, "a sign-in could not be written to the audit trail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_have_bounded_lifetimes() {
        let defaults = PortalSettings::default();
        assert_eq!(defaults.check(), Ok(()));
        assert_eq!(defaults.lifetime(), time::Duration::hours(8));
        assert_eq!(defaults.idle(), time::Duration::minutes(30));
        for (hours, idle) in [(0, 30), (169, 30), (8, 0), (1, 61)] {
            let settings = PortalSettings {
                session_hours: hours,
                session_idle_minutes: idle,
            };
            assert!(settings.check().is_err(), "{hours} h, idle {idle} min");
        }
    }
}
