//! The alerts page: what detection raised, newest first.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Me, PortalError, render, when};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authorised, permit};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/alerts", get(alerts_page))
}

struct AlertRow {
    id: String,
    raised_at: String,
    severity: String,
    technique: String,
    title: String,
    description: String,
    users: String,
    sources: String,
    event_count: u64,
    input: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    me: Me,
    technique: String,
    user: String,
    alerts: Vec<AlertRow>,
}

#[derive(Deserialize, Default)]
struct AlertsQuery {
    #[serde(default)]
    technique: String,
    #[serde(default)]
    user: String,
}

async fn alerts_page(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadAlerts, SignedIn>,
    query: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    let q = query.ok().map(|Query(q)| q).unwrap_or_default();
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let filter = riposte_store::AlertFilter {
        technique: nonempty(&q.technique),
        user: nonempty(&q.user),
        limit: Some(200),
        ..Default::default()
    };
    let alerts = state.pipeline.alert_store().list_alerts(&filter).await?;
    let page = AlertsPage {
        me: Me::of(&signed),
        technique: q.technique.trim().to_string(),
        user: q.user.trim().to_string(),
        alerts: alerts
            .iter()
            .map(|a| AlertRow {
                id: a.id.to_string(),
                raised_at: when(a.raised_at),
                severity: a.alert.severity.clone(),
                technique: a.alert.technique.clone().unwrap_or_default(),
                title: a.alert.title.clone(),
                description: a.alert.description.clone(),
                users: a.alert.entities.users.join(", "),
                sources: a.alert.entities.sources.join(", "),
                event_count: a.alert.event_count,
                input: a.alert.input.clone(),
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}
