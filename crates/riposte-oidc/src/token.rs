//! The code exchange at the token endpoint (RFC 6749 4.1.3 with PKCE),
//! the client authenticated by `client_secret_basic`.

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::{OidcError, oauth_error_code};

/// The most riposte reads of any answer from the provider.
pub(crate) const MAX_ANSWER_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
}

/// The body of `response`, at most `MAX_ANSWER_BYTES`.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    what: &'static str,
    url: &Url,
) -> Result<Vec<u8>, OidcError> {
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| OidcError::Unreachable {
            what,
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(OidcError::Unreachable {
                what,
                url: url.to_string(),
                reason: format!("its answer is larger than {MAX_ANSWER_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// RFC 6749 2.3.1: the client id and secret are form-encoded before Basic.
fn basic_credentials(client_id: &str, secret: &SecretString) -> (String, String) {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    (encode(client_id), encode(secret.expose_secret()))
}

/// The ID token the provider gives for `code`.
pub(crate) async fn exchange_code(
    http: &reqwest::Client,
    token_endpoint: &Url,
    client_id: &str,
    client_secret: &SecretString,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: &str,
) -> Result<String, OidcError> {
    let (user, password) = basic_credentials(client_id, client_secret);
    let response = http
        .post(token_endpoint.clone())
        .basic_auth(user, Some(password))
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pkce_verifier),
        ])
        .send()
        .await
        // reqwest's error names the URL, never the form it sent.
        .map_err(|e| OidcError::Unreachable {
            what: "token endpoint",
            url: token_endpoint.to_string(),
            reason: e.without_url().to_string(),
        })?;
    let status = response.status();
    let body = read_bounded(response, "token endpoint", token_endpoint).await?;
    if !status.is_success() {
        let error = serde_json::from_slice::<ErrorAnswer>(&body)
            .ok()
            .and_then(|a| a.error)
            .and_then(|e| oauth_error_code(&e));
        return Err(OidcError::TokenExchange {
            status: status.as_u16(),
            error,
        });
    }
    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| OidcError::NoIdToken {
        reason: "the answer is not a JSON token response".into(),
    })?;
    answer.id_token.ok_or_else(|| OidcError::NoIdToken {
        reason: "no id_token field".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_are_form_encoded_for_basic() {
        let (user, password) = basic_credentials("riposte lab", &SecretString::from("a+b/c:d~e"));
        assert_eq!(user, "riposte+lab");
        assert_eq!(password, "a%2Bb%2Fc%3Ad%7Ee");
    }
}
