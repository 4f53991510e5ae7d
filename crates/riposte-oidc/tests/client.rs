//! `OidcClient` against a small provider double on loopback (axum): the
//! whole code flow, what riposte sends the token endpoint, and what it
//! refuses of the provider's answers. The real provider is the lab's
//! (tests/e2e/oidc.test.mjs); this needs nothing but the test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use riposte_core::policy::{Role, Scope};
use riposte_oidc::{OidcClient, OidcError, OidcSettings, RoleRule, pkce_challenge};
use secrecy::SecretString;
use serde_json::{Value, json};

const CLIENT: &str = "riposte";
const SECRET: &str = "s3cret/with:odd+chars";
const REDIRECT: &str = "http://127.0.0.1:1/ui/sign-in/oidc/callback";

#[derive(Default)]
struct Seen {
    authorization: Option<String>,
    form: Vec<(String, String)>,
    redirected_to: usize,
}

struct Idp {
    issuer: String,
    key: EncodingKey,
    jwk: Jwk,
    /// The nonce and code challenge of the authorization request (as a provider keeps them).
    nonce: Mutex<String>,
    challenge: Mutex<String>,
    /// How the token endpoint answers: "ok", "refuse", "redirect".
    mode: Mutex<&'static str>,
    /// What discovery says the issuer is.
    claimed_issuer: Mutex<Option<String>>,
    seen: Mutex<Seen>,
}

async fn discovery(State(idp): State<Arc<Idp>>) -> Json<Value> {
    let issuer = idp
        .claimed_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or(idp.issuer.clone());
    let base = idp.issuer.trim_end_matches('/');
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"]
    }))
}

async fn jwks(State(idp): State<Arc<Idp>>) -> Json<JwkSet> {
    Json(JwkSet {
        keys: vec![idp.jwk.clone()],
    })
}

async fn token(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    {
        let mut seen = idp.seen.lock().unwrap();
        seen.authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        seen.form = form.clone();
    }
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mode = *idp.mode.lock().unwrap();
    if mode == "redirect" {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, "/elsewhere")],
        )
            .into_response();
    }
    let verifier_fits = field("code_verifier")
        .is_some_and(|v| pkce_challenge(&v) == *idp.challenge.lock().unwrap());
    if mode == "refuse" || !verifier_fits || field("code").as_deref() != Some("the-code") {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": "code the-code is <b>bad</b>"}))).into_response();
    }
    let now = get_current_timestamp();
    let claims = json!({
        "iss": idp.issuer, "aud": CLIENT, "sub": "alice-sub", "iat": now, "exp": now + 300,
        "nonce": *idp.nonce.lock().unwrap(), "preferred_username": "alice",
        "groups": ["soc-readers"], "amr": ["pwd", "otp"]
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    let id_token = encode(&header, &claims, &idp.key).unwrap();
    Json(json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token}))
        .into_response()
}

async fn elsewhere(State(idp): State<Arc<Idp>>) -> StatusCode {
    idp.seen.lock().unwrap().redirected_to += 1;
    StatusCode::OK
}

async fn start() -> (Arc<Idp>, OidcClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/", listener.local_addr().unwrap());
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".into());
    let idp = Arc::new(Idp {
        issuer: issuer.clone(),
        key,
        jwk,
        nonce: Mutex::default(),
        challenge: Mutex::default(),
        mode: Mutex::new("ok"),
        claimed_issuer: Mutex::default(),
        seen: Mutex::default(),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .route("/elsewhere", get(elsewhere).post(elsewhere))
        .with_state(idp.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let settings = OidcSettings {
        issuer,
        client_id: CLIENT.into(),
        client_secret: SecretString::from(SECRET),
        extra_roots_pem: None,
        display_name: "Double".into(),
        scopes: vec!["email".into()],
        groups_claim: "groups".into(),
        max_clock_skew: Duration::from_secs(60),
        redirect_url: None,
        roles: vec![RoleRule {
            group: "soc-readers".into(),
            role: Role::Reader,
            scope: Scope::default(),
        }],
        timeout: Duration::from_secs(10),
    };
    settings.check().unwrap();
    (idp, OidcClient::new(settings).unwrap())
}

/// Begins a sign-in and lets the double keep what a provider keeps of it.
async fn begin(idp: &Idp, client: &OidcClient) -> riposte_oidc::AuthorizationRequest {
    let request = client.begin(REDIRECT).await.unwrap();
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("scope"), "openid email");
    *idp.nonce.lock().unwrap() = get("nonce");
    *idp.challenge.lock().unwrap() = get("code_challenge");
    request
}

#[tokio::test]
async fn the_code_flow_gives_the_person_and_sends_secret_basic_and_the_pkce_verifier() {
    let (idp, client) = start().await;
    let request = begin(&idp, &client).await;
    let who = client
        .finish("the-code", REDIRECT, &request.pkce_verifier, &request.nonce)
        .await
        .unwrap();
    assert_eq!(
        (who.subject.as_str(), who.name_hint().as_str()),
        ("alice-sub", "alice")
    );
    assert!(who.mfa(), "amr otp");
    assert_eq!(
        client.settings().role_for(&who.groups).unwrap().role,
        Role::Reader
    );

    let seen = idp.seen.lock().unwrap();
    let basic = seen
        .authorization
        .as_deref()
        .unwrap()
        .strip_prefix("Basic ")
        .unwrap();
    let decoded = String::from_utf8(STANDARD.decode(basic).unwrap()).unwrap();
    assert_eq!(
        decoded, "riposte:s3cret%2Fwith%3Aodd%2Bchars",
        "RFC 6749 2.3.1 form-encoding"
    );
    let field = |k: &str| {
        seen.form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("grant_type"), Some("authorization_code"));
    assert_eq!(field("redirect_uri"), Some(REDIRECT));
    assert_eq!(
        field("client_secret"),
        None,
        "the secret goes only in the header"
    );
}

#[tokio::test]
async fn a_token_from_another_sign_in_is_refused_by_its_nonce() {
    let (idp, client) = start().await;
    let first = begin(&idp, &client).await;
    // The provider answers with the nonce of a later sign-in.
    let _second = begin(&idp, &client).await;
    *idp.challenge.lock().unwrap() = pkce_challenge(&first.pkce_verifier);
    let err = client
        .finish("the-code", REDIRECT, &first.pkce_verifier, &first.nonce)
        .await
        .unwrap_err();
    assert_eq!(err.why(), "wrong-nonce", "{err}");
}

#[tokio::test]
async fn a_refused_exchange_says_so_without_the_code_the_secret_or_the_providers_text() {
    let (idp, client) = start().await;
    let request = begin(&idp, &client).await;
    *idp.mode.lock().unwrap() = "refuse";
    let err = client
        .finish("the-code", REDIRECT, &request.pkce_verifier, &request.nonce)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OidcError::TokenExchange { status: 400, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("invalid_grant"), "{text}");
    for secret in ["the-code", "s3cret", "<b>", request.pkce_verifier.as_str()] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn the_token_endpoint_is_never_followed_elsewhere() {
    let (idp, client) = start().await;
    let request = begin(&idp, &client).await;
    *idp.mode.lock().unwrap() = "redirect";
    let err = client
        .finish("the-code", REDIRECT, &request.pkce_verifier, &request.nonce)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OidcError::TokenExchange { status: 307, .. }),
        "{err}"
    );
    assert_eq!(
        idp.seen.lock().unwrap().redirected_to,
        0,
        "the code and secret went nowhere else"
    );
}

#[tokio::test]
async fn a_provider_naming_another_issuer_is_refused() {
    let (idp, client) = start().await;
    *idp.claimed_issuer.lock().unwrap() = Some("https://evil.example/".into());
    let err = client.begin(REDIRECT).await.unwrap_err();
    assert!(matches!(err, OidcError::Discovery { .. }), "{err}");
    assert!(err.to_string().contains("evil.example"), "{err}");
}
