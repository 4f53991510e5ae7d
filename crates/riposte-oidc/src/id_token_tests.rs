//! ID tokens signed in the test with a key of its own, held to every check.

use super::*;
use crate::jwks::find_key;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

const ISSUER: &str = "https://127.0.0.1:8443/";
const CLIENT: &str = "riposte-lab";
const NONCE: &str = "nonce-of-this-sign-in";

struct Signer {
    key: EncodingKey,
    jwk: Jwk,
}

fn signer(kid: &str) -> Signer {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    Signer { key, jwk }
}

fn now() -> i64 {
    get_current_timestamp() as i64
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": CLIENT, "sub": "alice-sub", "nonce": NONCE,
        "iat": now(), "exp": now() + 300,
        "preferred_username": "alice", "email": "alice@lab.example",
        "groups": ["soc-responders", 7, "everyone"], "amr": ["pwd", "mfa"]
    })
}

fn sign(signer: &Signer, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = signer.jwk.common.key_id.clone();
    encode(&header, claims, &signer.key).unwrap()
}

fn with(patch: Value) -> Value {
    let mut c = claims();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: NONCE,
        skew_seconds: 60,
        groups_claim: "groups",
    }
}

/// The whole check as the client runs it: header, key from the set, validation.
fn check(token: &str, keys: &JwkSet) -> Result<SignedInIdentity, IdTokenError> {
    let (alg, kid) = signing_key_id(token)?;
    let jwk = find_key(keys, kid.as_deref(), alg).ok_or(IdTokenError::UnknownKey { kid })?;
    validate(token, jwk, alg, &expected())
}

fn keys_of(signer: &Signer) -> JwkSet {
    JwkSet {
        keys: vec![signer.jwk.clone()],
    }
}

#[test]
fn a_good_token_gives_the_identity_its_groups_and_mfa() {
    let s = signer("k1");
    let who = check(&sign(&s, &claims()), &keys_of(&s)).unwrap();
    assert_eq!(who.issuer, ISSUER);
    assert_eq!(who.subject, "alice-sub");
    assert_eq!(
        who.groups,
        ["soc-responders", "everyone"],
        "non-strings are skipped"
    );
    assert_eq!(who.name_hint(), "alice");
    assert!(who.mfa());

    let plain = check(
        &sign(
            &s,
            &with(json!({"amr": ["pwd"], "preferred_username": null, "groups": "soc-readers"})),
        ),
        &keys_of(&s),
    )
    .unwrap();
    assert!(!plain.mfa());
    assert_eq!(plain.name_hint(), "alice@lab.example");
    assert_eq!(plain.groups, ["soc-readers"], "a single group as a string");
}

#[test]
fn a_tampered_token_is_refused() {
    let s = signer("k1");
    let token = sign(&s, &claims());
    let (head, sig) = token.rsplit_once('.').unwrap();
    // Signature bytes changed.
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[10] ^= 0x01;
    let changed_sig = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    assert_eq!(
        check(&changed_sig, &keys_of(&s)),
        Err(IdTokenError::BadSignature)
    );
    // Claims changed (carol makes herself a responder), signature kept.
    let (header, _) = head.split_once('.').unwrap();
    let forged =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&with(json!({"sub": "carol-sub"}))).unwrap());
    let changed_claims = format!("{header}.{forged}.{sig}");
    assert_eq!(
        check(&changed_claims, &keys_of(&s)),
        Err(IdTokenError::BadSignature)
    );
    // Signed by another key that claims the provider's key id.
    let impostor = signer("k1");
    assert_eq!(
        check(&sign(&impostor, &claims()), &keys_of(&s)),
        Err(IdTokenError::BadSignature)
    );
}

#[test]
fn a_token_for_another_audience_or_party_is_refused() {
    let s = signer("k1");
    let keys = keys_of(&s);
    let refused = |patch| check(&sign(&s, &with(patch)), &keys);
    assert_eq!(
        refused(json!({"aud": "another-app"})),
        Err(IdTokenError::WrongAudience)
    );
    assert_eq!(
        refused(json!({"aud": ["another-app"]})),
        Err(IdTokenError::WrongAudience)
    );
    assert_eq!(
        refused(json!({"aud": null})),
        Err(IdTokenError::MissingClaim("aud".into()))
    );
    // Several audiences: azp must name riposte.
    assert_eq!(
        refused(json!({"aud": [CLIENT, "another-app"]})),
        Err(IdTokenError::WrongAuthorizedParty)
    );
    assert_eq!(
        refused(json!({"aud": [CLIENT, "another-app"], "azp": "another-app"})),
        Err(IdTokenError::WrongAuthorizedParty)
    );
    assert!(refused(json!({"aud": [CLIENT, "another-app"], "azp": CLIENT})).is_ok());
    assert_eq!(
        refused(json!({"azp": "another-app"})),
        Err(IdTokenError::WrongAuthorizedParty)
    );
    assert_eq!(
        refused(json!({"iss": "https://evil.example/"})),
        Err(IdTokenError::WrongIssuer)
    );
    assert_eq!(
        refused(json!({"sub": ""})),
        Err(IdTokenError::MissingClaim("sub".into()))
    );
}

#[test]
fn expiry_is_checked_with_the_configured_skew_only() {
    let s = signer("k1");
    let keys = keys_of(&s);
    let at = |patch| check(&sign(&s, &with(patch)), &keys);
    assert_eq!(
        at(json!({"exp": now() - 3600, "iat": now() - 7200})),
        Err(IdTokenError::Expired)
    );
    // Expired 61 s ago, skew 60.
    assert_eq!(at(json!({"exp": now() - 61})), Err(IdTokenError::Expired));
    // Expired 20 s ago: inside the 60 s skew, accepted.
    assert!(at(json!({"exp": now() - 20})).is_ok());
    assert_eq!(
        at(json!({"exp": null})),
        Err(IdTokenError::MissingClaim("exp".into()))
    );
    assert_eq!(
        at(json!({"nbf": now() + 3600})),
        Err(IdTokenError::NotYetValid)
    );
    assert_eq!(
        at(json!({"iat": now() + 3600})),
        Err(IdTokenError::NotYetValid)
    );
    assert!(at(json!({"iat": now() + 20})).is_ok(), "inside the skew");
    assert_eq!(
        at(json!({"iat": null})),
        Err(IdTokenError::MissingClaim("iat".into()))
    );
}

#[test]
fn a_token_from_another_sign_in_is_refused_by_its_nonce() {
    let s = signer("k1");
    let keys = keys_of(&s);
    for patch in [
        json!({"nonce": "another-sign-in"}),
        json!({"nonce": null}),
        json!({"nonce": 5}),
    ] {
        assert_eq!(
            check(&sign(&s, &with(patch)), &keys),
            Err(IdTokenError::WrongNonce)
        );
    }
}

#[test]
fn a_token_signed_with_a_key_the_provider_does_not_publish_is_refused() {
    let s = signer("k1");
    let other = signer("k2");
    assert_eq!(
        check(&sign(&other, &claims()), &keys_of(&s)),
        Err(IdTokenError::UnknownKey {
            kid: Some("k2".into())
        })
    );
}

#[test]
fn alg_none_is_refused() {
    let s = signer("k1");
    let good = sign(&s, &claims());
    let payload = good.split('.').nth(1).unwrap();
    for header in [json!({"alg": "none"}), json!({"alg": "None", "kid": "k1"})] {
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            // Refused before any key is looked at: "none" is no algorithm riposte knows.
            let refused = check(&token, &keys_of(&s));
            assert!(
                matches!(
                    refused,
                    Err(IdTokenError::AlgorithmRefused { .. } | IdTokenError::Malformed)
                ),
                "{token}: {refused:?}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_public_key_as_secret_is_refused() {
    let s = signer("k1");
    // The classic confusion: HMAC keyed with the provider's public key, which anyone has.
    let public = serde_json::to_vec(&s.jwk).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let token = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    assert_eq!(
        check(&token, &keys_of(&s)),
        Err(IdTokenError::AlgorithmRefused {
            alg: "HS256".into()
        })
    );
    // Even handed a key, validation refuses HS256.
    assert!(matches!(
        validate(&token, &s.jwk, Algorithm::HS256, &expected()),
        Err(IdTokenError::AlgorithmRefused { .. })
    ));
    // And a token claiming ES384 is not checked with the ES256 key.
    assert!(matches!(
        validate(&sign(&s, &claims()), &s.jwk, Algorithm::ES384, &expected()),
        Err(IdTokenError::AlgorithmRefused { .. })
    ));
}

#[test]
fn the_name_hint_is_tamed() {
    let who = |pu: Option<&str>, email: Option<&str>, sub: &str| SignedInIdentity {
        issuer: ISSUER.into(),
        subject: sub.into(),
        preferred_username: pu.map(str::to_string),
        email: email.map(str::to_string),
        groups: vec![],
        amr: vec![],
    };
    assert_eq!(who(Some("a l<i>ce"), None, "s").name_hint(), "alice");
    assert_eq!(who(Some(" "), Some("bob@x"), "s").name_hint(), "bob@x");
    assert_eq!(who(None, None, "248289761001").name_hint(), "248289761001");
    assert_eq!(who(Some("<>"), None, "s").name_hint(), "sso");
    assert_eq!(who(Some(&"a".repeat(200)), None, "s").name_hint().len(), 64);
}
