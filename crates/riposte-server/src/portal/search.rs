//! The search page: accounts whose names contain the text, in every forest.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Me, PortalError, encode, render};
use crate::AppState;
use crate::auth::SignedIn;
use crate::authorised::{Authorised, permit};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/search", get(search))
}

struct Found {
    reference: String,
    href: String,
    display_name: String,
    dn: String,
    forest: String,
    enabled: bool,
    locked: bool,
    protected: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    me: Me,
    q: String,
    searched: bool,
    results: Vec<Found>,
    forests: String,
    unreachable: Vec<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    signed: Authorised<permit::ReadIdentities, SignedIn>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, PortalError> {
    let q = query.ok().map(|Query(q)| q.q).unwrap_or_default();
    let text = q.trim().to_string();
    let mut page = SearchPage {
        me: Me::of(&signed),
        q: text.clone(),
        searched: false,
        results: vec![],
        forests: state.runner.directory().forest_names().join(", "),
        unreachable: vec![],
        error: None,
    };
    if text.chars().count() > 256 || text.chars().any(char::is_control) {
        page.error = Some("Search for 1 to 256 printable characters.".into());
    } else if !text.is_empty() {
        let found = state.runner.directory().search(&text, 50).await;
        page.searched = true;
        page.results = found
            .matches
            .iter()
            .map(|a| Found {
                reference: a.reference(),
                href: format!("/ui/identities/{}", encode(&a.reference())),
                display_name: a.display_name.clone().unwrap_or_default(),
                dn: a.dn.clone(),
                forest: a.forest.clone(),
                enabled: a.enabled(),
                locked: a.locked(),
                protected: a.admin_count,
            })
            .collect();
        page.unreachable = found
            .unreachable
            .iter()
            .map(|(forest, e)| format!("{forest}: {e}"))
            .collect();
    }
    Ok(render(StatusCode::OK, &page))
}
