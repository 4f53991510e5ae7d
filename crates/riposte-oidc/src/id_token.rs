//! The ID token: its signature and the standard claims checked by
//! `jsonwebtoken` (iss, aud, exp, nbf, with the configured clock skew as
//! leeway), then what OpenID Connect Core 3.1.3.7 adds, checked here: the
//! nonce of this sign-in, `azp` when there are several audiences (or any
//! `azp` at all), `iat` not in the future, a subject. Only asymmetric
//! algorithms are accepted, with a key of the provider's JWKS that fits.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header, get_current_timestamp,
};
use serde_json::{Map, Value};

use crate::jwks::key_fits;

/// The algorithms an ID token may be signed with. Never HS* (the client
/// secret, or a public key passed off as one, would sign tokens) nor `none`.
pub(crate) const ACCEPTED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The most groups riposte reads from one token.
const MAX_GROUPS: usize = 1000;

/// Why an ID token was refused. The sentence says what it means and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error(
        "the ID token is not a signed JWT riposte can read; sign in again, and tell the provider's administrators if it persists"
    )]
    Malformed,
    #[error(
        "the ID token is signed with {alg}, which riposte refuses (it accepts RS*, PS*, ES256, ES384, EdDSA); configure the provider to sign ID tokens with RS256"
    )]
    AlgorithmRefused { alg: String },
    #[error(
        "the ID token is signed with a key the provider does not publish (kid {kid:?}); sign in again, and if it persists check the provider's keys"
    )]
    UnknownKey { kid: Option<String> },
    #[error(
        "the ID token's signature does not verify: it was changed on the way or not made by the provider"
    )]
    BadSignature,
    #[error("the ID token was issued by another issuer than [oidc] issuer")]
    WrongIssuer,
    #[error(
        "the ID token was issued for another application (its audience is not [oidc] client_id)"
    )]
    WrongAudience,
    #[error("the ID token was issued to another party (azp is not [oidc] client_id)")]
    WrongAuthorizedParty,
    #[error(
        "the ID token has expired (beyond the allowed clock skew); sign in again, and if it persists check the clocks of riposte and the provider"
    )]
    Expired,
    #[error(
        "the ID token is not valid yet (nbf or iat beyond the allowed clock skew); check the clocks of riposte and the provider"
    )]
    NotYetValid,
    #[error(
        "the ID token's nonce is not the one this sign-in sent: it belongs to another sign-in; start again from riposte's sign-in page"
    )]
    WrongNonce,
    #[error("the ID token has no {0} claim; check the provider's client configuration")]
    MissingClaim(String),
}

impl IdTokenError {
    /// A short stable reason for the audit trail (`details.why`).
    pub fn why(&self) -> &'static str {
        match self {
            IdTokenError::Malformed => "malformed-id-token",
            IdTokenError::AlgorithmRefused { .. } => "algorithm-refused",
            IdTokenError::UnknownKey { .. } => "unknown-key",
            IdTokenError::BadSignature => "bad-signature",
            IdTokenError::WrongIssuer => "wrong-issuer",
            IdTokenError::WrongAudience => "wrong-audience",
            IdTokenError::WrongAuthorizedParty => "wrong-authorized-party",
            IdTokenError::Expired => "expired",
            IdTokenError::NotYetValid => "not-yet-valid",
            IdTokenError::WrongNonce => "wrong-nonce",
            IdTokenError::MissingClaim(_) => "missing-claim",
        }
    }
}

/// Who the provider says signed in, from a validated ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInIdentity {
    pub issuer: String,
    pub subject: String,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    /// The values of the groups claim that are strings.
    pub groups: Vec<String>,
    /// Authentication methods (`amr`).
    pub amr: Vec<String>,
}

impl SignedInIdentity {
    /// The name riposte would like to give the person: preferred_username,
    /// else email, else the subject, kept to letters, digits and `.-_@`, at
    /// most 64 characters (it comes from outside; the store makes it unique).
    pub fn name_hint(&self) -> String {
        let raw = [&self.preferred_username, &self.email]
            .into_iter()
            .flatten()
            .find(|s| !s.trim().is_empty())
            .unwrap_or(&self.subject);
        let cleaned: String = raw
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
            .take(64)
            .collect();
        if cleaned.is_empty() {
            "sso".into()
        } else {
            cleaned
        }
    }

    /// Whether the provider says a second factor was used (RFC 8176 `amr`
    /// values for multiple factors, a one-time password or a key).
    pub fn mfa(&self) -> bool {
        self.amr
            .iter()
            .any(|m| matches!(m.as_str(), "mfa" | "otp" | "hwk" | "swk"))
    }
}

/// What this sign-in expects of its ID token.
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub skew_seconds: u64,
    pub groups_claim: &'a str,
}

/// The algorithm and key id of a token, if its algorithm is one riposte accepts.
pub(crate) fn signing_key_id(token: &str) -> Result<(Algorithm, Option<String>), IdTokenError> {
    let header = decode_header(token).map_err(|e| match e.kind() {
        // "none" and unknown algorithms do not even parse as a header.
        ErrorKind::InvalidAlgorithmName | ErrorKind::Json(_) => IdTokenError::AlgorithmRefused {
            alg: "an algorithm riposte does not know".into(),
        },
        _ => IdTokenError::Malformed,
    })?;
    if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::AlgorithmRefused {
            alg: format!("{:?}", header.alg),
        });
    }
    Ok((header.alg, header.kid))
}

/// The identity in `token`, if it is signed by `jwk` with `alg` and its
/// claims are what this sign-in expects.
pub(crate) fn validate(
    token: &str,
    jwk: &Jwk,
    alg: Algorithm,
    expected: &Expected<'_>,
) -> Result<SignedInIdentity, IdTokenError> {
    if !ACCEPTED_ALGORITHMS.contains(&alg) || !key_fits(jwk, alg) {
        return Err(IdTokenError::AlgorithmRefused {
            alg: format!("{alg:?}"),
        });
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::UnknownKey {
        kid: jwk.common.key_id.clone(),
    })?;
    let mut validation = Validation::new(alg);
    validation.leeway = expected.skew_seconds;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::Base64(_) => IdTokenError::BadSignature,
            ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
            ErrorKind::InvalidIssuer => IdTokenError::WrongIssuer,
            ErrorKind::ExpiredSignature => IdTokenError::Expired,
            ErrorKind::ImmatureSignature => IdTokenError::NotYetValid,
            ErrorKind::MissingRequiredClaim(claim) => IdTokenError::MissingClaim(claim.clone()),
            ErrorKind::InvalidAlgorithm => IdTokenError::AlgorithmRefused {
                alg: format!("{alg:?}"),
            },
            _ => IdTokenError::Malformed,
        })?
        .claims;

    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    // The nonce ties the token to this browser's sign-in (a token taken from
    // another sign-in does not fit).
    if text("nonce").as_deref() != Some(expected.nonce) {
        return Err(IdTokenError::WrongNonce);
    }
    let several_audiences = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match text("azp") {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::WrongAuthorizedParty),
        None if several_audiences => return Err(IdTokenError::WrongAuthorizedParty),
        _ => {}
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or_else(|| IdTokenError::MissingClaim("iat".into()))?;
    if iat > get_current_timestamp().saturating_add(expected.skew_seconds) {
        return Err(IdTokenError::NotYetValid);
    }
    let subject = text("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| IdTokenError::MissingClaim("sub".into()))?;
    let strings = |value: Option<&Value>| -> Vec<String> {
        match value {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(Value::as_str)
                .take(MAX_GROUPS)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    };
    Ok(SignedInIdentity {
        issuer: expected.issuer.to_string(),
        subject,
        preferred_username: text("preferred_username"),
        email: text("email"),
        groups: strings(claims.get(expected.groups_claim)),
        amr: strings(claims.get("amr")),
    })
}

#[cfg(test)]
#[path = "id_token_tests.rs"]
mod tests;
