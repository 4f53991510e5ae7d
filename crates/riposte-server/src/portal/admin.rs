//! The admin page `/ui/admin/people`: every person, their live sessions and
//! the API tokens, with buttons to disable or enable a person and revoke a
//! session or a token. Admins only (`permit::Administer`); each button posts
//! a CSRF-checked form to a route here, which calls `crate::lifecycle` (the
//! one place for these rules and their audit records, shared with the CLI).

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use riposte_core::policy::Scope;
use riposte_store::{ApiToken, Person};
use time::OffsetDateTime;
use uuid::Uuid;

use super::csrf::{CsrfForm, check_csrf, form};
use super::{Me, PortalError, encode, how_signed_in, render, when};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authorised, permit};
use crate::error::ApiError;
use crate::lifecycle::{self, LifecycleError, Operator};

pub(super) const PAGE: &str = "/ui/admin/people";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(people_page))
        .route("/ui/admin/people/{name}/disable", post(disable))
        .route("/ui/admin/people/{name}/enable", post(enable))
        .route("/ui/admin/sessions/{id}/revoke", post(revoke_session))
        .route("/ui/admin/tokens/{id}/revoke", post(revoke_token))
}

struct PersonRow {
    name: String,
    /// The name as a path segment of this person's buttons.
    path: String,
    /// "local", or "SSO" and the issuer.
    sign_in: String,
    role: String,
    scope: String,
    mfa: &'static str,
    disabled: bool,
    must_change_password: bool,
    /// The admin looking at the page: no Disable button (they may not).
    is_me: bool,
    /// A local person: riposte holds their password and second factor.
    local: bool,
}

struct SessionRow {
    id: String,
    person: String,
    started: String,
    last_seen: String,
    how: &'static str,
    mfa: bool,
    address: String,
}

struct TokenRow {
    id: String,
    name: String,
    owner: String,
    role: String,
    created_by: String,
    expires: String,
    last_used: String,
    /// "live", "expired" or "revoked".
    state: &'static str,
}

#[derive(Template)]
#[template(path = "admin_people.html")]
struct PeoplePage {
    me: Me,
    people: Vec<PersonRow>,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
}

fn scope_text(scope: &Scope) -> String {
    if scope.is_unlimited() {
        return "everything".into();
    }
    let mut parts = vec![];
    if !scope.forests.is_empty() {
        parts.push(format!("forests {}", scope.forests.join(", ")));
    }
    if !scope.ous.is_empty() {
        parts.push(format!("OUs {}", scope.ous.join("; ")));
    }
    if !scope.actions.is_empty() {
        let actions: Vec<&str> = scope.actions.iter().map(|a| a.as_str()).collect();
        parts.push(format!("actions {}", actions.join(", ")));
    }
    parts.join(" · ")
}

fn person_row(person: &Person, me: Option<&str>) -> PersonRow {
    PersonRow {
        name: person.name.clone(),
        path: encode(&person.name),
        sign_in: match &person.issuer {
            Some(issuer) => format!("SSO ({issuer})"),
            None => "local".into(),
        },
        role: person.role.to_string(),
        scope: scope_text(&person.scope),
        mfa: match (person.is_sso(), person.totp_enabled) {
            (true, _) => "by provider",
            (false, true) => "TOTP",
            (false, false) => "none",
        },
        disabled: person.disabled,
        must_change_password: person.must_change_password,
        is_me: me == Some(person.name.as_str()),
        local: !person.is_sso(),
    }
}

fn token_row(token: &ApiToken, now: OffsetDateTime) -> TokenRow {
    TokenRow {
        id: token.id.to_string(),
        name: token.name.clone(),
        owner: token.owner.clone().unwrap_or_else(|| "(service)".into()),
        role: token.role.to_string(),
        created_by: token.created_by.clone(),
        expires: token.expires_at.map(when).unwrap_or_else(|| "never".into()),
        last_used: token
            .last_used_at
            .map(when)
            .unwrap_or_else(|| "never".into()),
        state: lifecycle::token_state(token, now),
    }
}

async fn people_page(
    State(state): State<AppState>,
    signed: Authorised<permit::Administer, SignedIn>,
) -> Result<Response, PortalError> {
    let now = OffsetDateTime::now_utc();
    let people = state.people.list_people().await?;
    let mut sessions = vec![];
    for person in &people {
        for session in state
            .people
            .sessions_of(person.id, now, state.portal.idle())
            .await?
        {
            sessions.push(SessionRow {
                id: session.id.to_string(),
                person: person.name.clone(),
                started: when(session.created_at),
                last_seen: when(session.last_seen_at),
                how: how_signed_in(&session),
                mfa: session.mfa,
                address: session.remote_addr.clone().unwrap_or_default(),
            });
        }
    }
    let tokens = state.tokens.list_tokens().await?;
    let me = signed.principal.person.as_deref();
    let page = PeoplePage {
        me: Me::of(&signed),
        people: people.iter().map(|p| person_row(p, me)).collect(),
        sessions,
        tokens: tokens.iter().map(|t| token_row(t, now)).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// Who makes a change from this page, for the audit record, once the form
/// proved it came from this session's page.
pub(super) fn operator<'a>(
    signed: &'a SignedIn,
    remote: SocketAddr,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Operator<'a>, PortalError> {
    check_csrf(signed, &form(body)?.csrf)?;
    Ok(Operator {
        principal: &signed.principal,
        source: "portal",
        remote_addr: Some(remote.ip().to_string()),
    })
}

/// Back to the page, or a page saying why the change was refused.
fn done(changed: Result<(), LifecycleError>) -> Result<Response, PortalError> {
    changed.map_err(refused)?;
    Ok(Redirect::to(PAGE).into_response())
}

fn refused(e: LifecycleError) -> PortalError {
    let message = e.to_string();
    PortalError(match e {
        LifecycleError::NoSuchPerson(_) => ApiError::not_found("person_not_found", message),
        LifecycleError::NoSuchSession(_) => ApiError::not_found("session_not_found", message),
        LifecycleError::NoSuchToken(_) => ApiError::not_found("token_not_found", message),
        LifecycleError::OwnAccount(_) => {
            ApiError::new(StatusCode::FORBIDDEN, "own_account", message)
        }
        LifecycleError::Store(e) => e.into(),
    })
}

fn id_arg(id: &str, what: &str) -> Result<Uuid, PortalError> {
    Uuid::parse_str(id).map_err(|_| {
        PortalError(ApiError::bad_request(
            "malformed_id",
            format!("{id:?} is not a {what} id (a UUID)"),
        ))
    })
}

async fn set_disabled(
    state: &AppState,
    signed: &SignedIn,
    remote: SocketAddr,
    name: &str,
    disabled: bool,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let by = operator(signed, remote, body)?;
    let audit = state.runner.store().as_ref();
    done(lifecycle::set_person_disabled(state.people.as_ref(), audit, &by, name, disabled).await)
}

async fn disable(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: Authorised<permit::Administer, SignedIn>,
    Path(name): Path<String>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    set_disabled(&state, &signed, remote, &name, true, body).await
}

async fn enable(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: Authorised<permit::Administer, SignedIn>,
    Path(name): Path<String>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    set_disabled(&state, &signed, remote, &name, false, body).await
}

async fn revoke_session(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: Authorised<permit::Administer, SignedIn>,
    Path(id): Path<String>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let by = operator(&signed, remote, body)?;
    let id = id_arg(&id, "session")?;
    let audit = state.runner.store().as_ref();
    done(lifecycle::revoke_session(state.people.as_ref(), audit, &by, id).await)
}

async fn revoke_token(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    signed: Authorised<permit::Administer, SignedIn>,
    Path(id): Path<String>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let by = operator(&signed, remote, body)?;
    let id = id_arg(&id, "token")?;
    let audit = state.runner.store().as_ref();
    done(lifecycle::revoke_token(state.tokens.as_ref(), audit, &by, id).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use riposte_core::Action;
    use riposte_core::policy::Role;
    use riposte_store::{Session, SignInMethod};

    fn person(issuer: Option<&str>, totp: bool) -> Person {
        Person {
            id: Uuid::now_v7(),
            name: "ada".into(),
            role: Role::Responder,
            scope: Scope::default(),
            password_hash: String::new(),
            disabled: false,
            created_by: "test".into(),
            created_at: OffsetDateTime::now_utc(),
            issuer: issuer.map(String::from),
            subject: issuer.map(|_| "sub-1".into()),
            totp_enabled: totp,
            must_change_password: false,
        }
    }

    #[test]
    fn the_header_says_how_a_session_was_started() {
        let now = OffsetDateTime::now_utc();
        let session = |method, mfa| Session {
            id: Uuid::now_v7(),
            person: person(
                (method == SignInMethod::Oidc).then_some("https://idp.example/"),
                method == SignInMethod::PasswordTotp,
            ),
            csrf_token: String::new(),
            created_at: now,
            expires_at: now,
            last_seen_at: now,
            method,
            mfa,
            remote_addr: None,
        };
        for (method, mfa, said) in [
            (SignInMethod::Password, false, "local, no second factor"),
            (SignInMethod::PasswordTotp, true, "local + TOTP"),
            (
                SignInMethod::PasswordRecoveryCode,
                true,
                "local + recovery code",
            ),
            (SignInMethod::Oidc, true, "SSO, MFA by provider"),
            (SignInMethod::Oidc, false, "SSO"),
        ] {
            assert_eq!(how_signed_in(&session(method, mfa)), said, "{method:?}");
        }
    }

    #[test]
    fn people_rows_say_how_each_signs_in() {
        let local = person_row(&person(None, false), Some("ada"));
        assert_eq!((local.sign_in.as_str(), local.mfa), ("local", "none"));
        assert!(local.is_me);
        let totp = person_row(&person(None, true), Some("bob"));
        assert_eq!(totp.mfa, "TOTP");
        assert!(!totp.is_me);
        let sso = person_row(&person(Some("https://idp.example/"), false), None);
        assert_eq!(sso.sign_in, "SSO (https://idp.example/)");
        assert_eq!(sso.mfa, "by provider");
        let scoped = Scope {
            forests: vec!["corp".into()],
            ous: vec![],
            actions: vec![Action::Disable],
        };
        assert_eq!(scope_text(&scoped), "forests corp · actions disable");
        assert_eq!(scope_text(&Scope::default()), "everything");
    }
}
