//! The readiness page: what riposte could do in each forest and tenant, the gaps and their fixes.

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use riposte_core::policy::Permission;

use super::csrf::{CsrfForm, check_csrf, csrf_refused};
use super::{Me, PortalError, encode, render};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authenticated, Authorised, permit};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/readiness", get(readiness_page))
        .route("/ui/readiness/refresh", post(readiness_refresh))
}

struct ReadinessBar {
    action: String,
    covered: u64,
    not_covered: u64,
    percent: u32,
    /// Bar widths in the SVG (of 300).
    covered_width: u32,
}

struct ReadinessGroup {
    action: String,
    reason: String,
    label: String,
    count: u64,
    accounts: Vec<riposte_core::readiness::GapAccount>,
    more: u64,
    csv_href: String,
    page_href: String,
}

struct ReadinessScope {
    kind: &'static str,
    name: String,
    subtitle: String,
    facts: Vec<(String, String)>,
    error: String,
    bars: Vec<ReadinessBar>,
    ous: Vec<riposte_core::readiness::OuRights>,
    groups: Vec<ReadinessGroup>,
    fixes: Vec<riposte_core::readiness::Fix>,
}

#[derive(Template)]
#[template(path = "readiness.html")]
struct ReadinessPage {
    me: Me,
    generated_at: String,
    duration: String,
    may_refresh: bool,
    progress: u64,
    scopes: Vec<ReadinessScope>,
}

fn readiness_scope(
    name: &str,
    coverage: &[riposte_core::readiness::ActionCoverage],
) -> (Vec<ReadinessBar>, Vec<ReadinessGroup>) {
    let bars = coverage
        .iter()
        .map(|c| ReadinessBar {
            action: c.action.clone(),
            covered: c.covered,
            not_covered: c.not_covered,
            percent: c.percent(),
            covered_width: c.percent() * 3,
        })
        .collect();
    let groups = coverage
        .iter()
        .flat_map(|c| {
            c.groups.iter().map(move |g| {
                let query = format!(
                    "scope={}&action={}&reason={}",
                    encode(name),
                    encode(&c.action),
                    g.reason.as_str()
                );
                let shown = g.accounts.len().min(crate::readiness::INLINE_ACCOUNTS);
                ReadinessGroup {
                    action: c.action.clone(),
                    reason: g.reason.as_str().to_string(),
                    label: g.label.clone(),
                    count: g.count,
                    accounts: g.accounts[..shown].to_vec(),
                    more: g.count.saturating_sub(shown as u64),
                    csv_href: format!("/api/v1/readiness/accounts.csv?{query}"),
                    page_href: format!("/api/v1/readiness/accounts?{query}&page=2&per_page=20"),
                }
            })
        })
        .collect();
    (bars, groups)
}

async fn readiness_page(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadReadiness, SignedIn>,
) -> Result<Response, PortalError> {
    let report = state.readiness.latest().await;
    let mut scopes = Vec::new();
    for f in report.iter().flat_map(|r| &r.forests) {
        let (bars, groups) = readiness_scope(&f.name, &f.coverage);
        let mut facts = vec![("Bind".to_string(), f.bind_method.clone())];
        if let Some(a) = &f.action_account {
            facts.push((
                "Action account".into(),
                format!("{} ({})", a.dn, a.sid.as_deref().unwrap_or("SID unknown")),
            ));
        }
        for dc in &f.dcs {
            let mut text = vec![if dc.reached {
                "reached".to_string()
            } else {
                "NOT reached".into()
            }];
            if let Some(t) = &dc.tls {
                text.push(format!(
                    "TLS {} verified: {} (issuer {}), expires {} ({} days)",
                    t.mode, t.subject, t.issuer, t.not_after, t.days_left
                ));
            }
            if let Some(s) = dc.clock_skew_secs {
                text.push(format!("clock skew {s:+} s"));
            }
            if let Some(e) = &dc.error {
                text.push(e.clone());
            }
            facts.push((format!("DC {}", dc.url), text.join("; ")));
        }
        facts.push(("Users judged".into(), f.users_scanned.to_string()));
        scopes.push(ReadinessScope {
            kind: "Forest",
            name: f.name.clone(),
            subtitle: f.base_dn.clone(),
            facts,
            error: f.error.clone().unwrap_or_default(),
            bars,
            ous: f.ous.clone(),
            groups,
            fixes: f.fixes.clone(),
        });
    }
    for t in report.iter().flat_map(|r| &r.tenants) {
        let (bars, groups) = readiness_scope(&t.name, &t.coverage);
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        scopes.push(ReadinessScope {
            kind: "Tenant",
            name: t.name.clone(),
            subtitle: t.tenant_id.clone(),
            facts: vec![
                ("Application permissions".into(), list(&t.app_permissions)),
                ("Directory roles".into(), list(&t.directory_roles)),
                ("Users judged".into(), t.users_scanned.to_string()),
            ],
            error: t.error.clone().unwrap_or_default(),
            bars,
            ous: Vec::new(),
            groups,
            fixes: t.fixes.clone(),
        });
    }
    let page = ReadinessPage {
        me: Me::of(&signed),
        generated_at: report
            .as_ref()
            .map(|r| r.generated_at.clone())
            .unwrap_or_default(),
        duration: report
            .as_ref()
            .map(|r| format!("{:.1} s", r.duration_ms as f64 / 1000.0))
            .unwrap_or_default(),
        may_refresh: signed.permits(&Permission::RefreshReadiness),
        progress: state.readiness.progress(),
        scopes,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn readiness_refresh(
    State(state): State<AppState>,
    signed: Authorised<permit::RefreshReadiness, SignedIn>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let Ok(Form(form)) = body else {
        return Err(csrf_refused());
    };
    check_csrf(&signed, &form.csrf)?;
    state.readiness.refresh().await;
    Ok(axum::response::Redirect::to("/ui/readiness").into_response())
}
