//! One identity's page: its state in AD and Entra ID, and the actions this person may ask for.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use riposte_core::Action;
use riposte_jobs::view;

use super::{Me, PortalError, confirm_href, encode, label, render};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authorised, permit};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/identities/{reference}", get(identity))
}

struct ActionButton {
    label: String,
    href: String,
    expected: String,
    why: String,
    danger: bool,
}

struct Preview {
    action: String,
    expected: String,
    why: String,
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    me: Me,
    reference: String,
    display_name: String,
    dn: String,
    forest: String,
    sid: String,
    upn: String,
    enabled: bool,
    locked: bool,
    must_change_in_force: bool,
    must_change: String,
    blockers: Vec<String>,
    protected: Option<String>,
    uac_flags: String,
    buttons: Vec<ActionButton>,
    preview: Vec<Preview>,
    history_href: String,
    /// ad-only, hybrid, cloud-only or guest.
    kind: String,
    entra: Vec<EntraRow>,
    entra_error: Option<String>,
}

struct EntraRow {
    tenant: String,
    upn: String,
    user_type: String,
    synced: bool,
    enabled: bool,
    sessions_from: String,
}

async fn identity(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadIdentities, SignedIn>,
    Path(reference): Path<String>,
) -> Result<Response, PortalError> {
    let identity = state.runner.find_identity(&reference).await?;
    let permitted = view::permitted_actions(&signed.principal, &identity);
    let preview = view::action_preview(&identity);
    let reference = identity.reference();
    let buttons = permitted
        .iter()
        .map(|action| {
            let (_, expected, why) = preview
                .iter()
                .find(|(a, _, _)| a == action)
                .cloned()
                .unwrap_or((*action, "available", String::new()));
            ActionButton {
                label: label(*action).into(),
                href: confirm_href(&reference, *action),
                expected: expected.into(),
                why,
                danger: matches!(action, Action::Disable | Action::SetPassword),
            }
        })
        .collect();
    let cloud = identity.cloud.first();
    let ad = identity.ad.as_ref();
    let page = IdentityPage {
        me: Me::of(&signed),
        reference: reference.clone(),
        display_name: ad
            .and_then(|a| a.display_name.clone())
            .or_else(|| cloud.and_then(|c| c.display_name.clone()))
            .unwrap_or_default(),
        dn: ad
            .map(|a| a.dn.clone())
            .or_else(|| cloud.map(|c| format!("Entra ID object {}", c.id)))
            .unwrap_or_default(),
        forest: identity.location().0,
        sid: ad
            .and_then(|a| a.sid.as_ref())
            .map(|s| s.to_string())
            .unwrap_or_default(),
        upn: ad
            .and_then(|a| a.user_principal_name.clone())
            .or_else(|| cloud.map(|c| c.user_principal_name.clone()))
            .unwrap_or_default(),
        enabled: ad
            .map(|a| a.enabled())
            .or_else(|| cloud.map(|c| c.account_enabled))
            .unwrap_or(false),
        locked: ad.is_some_and(|a| a.locked()),
        must_change_in_force: ad.is_some_and(|a| a.password_change_required()),
        must_change: ad
            .map(view::must_change_text)
            .unwrap_or_else(|| "not in force".into()),
        blockers: ad
            .map(|a| {
                a.forced_reset_blockers()
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            })
            .unwrap_or_default(),
        protected: ad.and_then(|a| state.runner.protection_reason(a)),
        uac_flags: ad
            .map(|a| riposte_core::uac::flag_names(a.user_account_control).join(", "))
            .unwrap_or_default(),
        buttons,
        preview: preview
            .into_iter()
            .map(|(a, expected, why)| Preview {
                action: label(a).into(),
                expected: expected.into(),
                why,
            })
            .collect(),
        history_href: format!("/ui/actions?target={}", encode(&reference)),
        kind: identity.kind.to_string(),
        entra: identity
            .cloud
            .iter()
            .map(|c| EntraRow {
                tenant: c.tenant.clone(),
                upn: c.user_principal_name.clone(),
                user_type: c.user_type.clone(),
                synced: c.synced,
                enabled: c.account_enabled,
                sessions_from: c.sessions_valid_from.clone().unwrap_or_default(),
            })
            .collect(),
        entra_error: identity.cloud_error.clone(),
    };
    Ok(render(StatusCode::OK, &page))
}
