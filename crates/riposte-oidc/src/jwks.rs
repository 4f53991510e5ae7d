//! The provider's signing keys: fetched on first use, kept, and fetched again
//! once when a token names a key id riposte does not hold (the provider
//! rotated its keys), at most once per `min_refetch` so that tokens naming
//! made-up keys cannot make riposte hammer the provider.

use std::future::Future;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use jsonwebtoken::AlgorithmFamily;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};

use crate::error::OidcError;
use crate::id_token::IdTokenError;

pub(crate) struct JwksCache {
    state: tokio::sync::Mutex<Option<(JwkSet, Instant)>>,
    min_refetch: Duration,
}

/// Whether `jwk` may verify a signature made with `alg`: its kind fits the
/// algorithm's family, and what it says of its algorithm and use agrees.
pub(crate) fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let family_fits = matches!(
        (&jwk.algorithm, alg.family()),
        (AlgorithmParameters::RSA(_), AlgorithmFamily::Rsa)
            | (AlgorithmParameters::EllipticCurve(_), AlgorithmFamily::Ec)
            | (AlgorithmParameters::OctetKeyPair(_), AlgorithmFamily::Ed)
    );
    let alg_fits = jwk
        .common
        .key_algorithm
        .is_none_or(|ka| ka == KeyAlgorithm::from(alg));
    let use_fits = jwk
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|u| *u == PublicKeyUse::Signature);
    family_fits && alg_fits && use_fits
}

/// The key for a token's `kid` (or, without one, the only key that fits).
pub(crate) fn find_key<'a>(set: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set.find(kid).filter(|k| key_fits(k, alg)),
        None => {
            let mut fitting = set.keys.iter().filter(|k| key_fits(k, alg));
            let only = fitting.next();
            if fitting.next().is_some() { None } else { only }
        }
    }
}

impl JwksCache {
    pub(crate) fn new(min_refetch: Duration) -> JwksCache {
        JwksCache {
            state: tokio::sync::Mutex::new(None),
            min_refetch,
        }
    }

    /// The key for `kid` and `alg`, fetching the set with `fetch` when riposte
    /// holds none, and once more when the key is not in it.
    pub(crate) async fn key<F, Fut>(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        fetch: F,
    ) -> Result<Jwk, OidcError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<JwkSet, OidcError>>,
    {
        let mut state = self.state.lock().await;
        let fetched_now = state.is_none();
        if fetched_now {
            *state = Some((fetch().await?, Instant::now()));
        }
        let (set, fetched_at) = state.as_ref().expect("fetched above");
        if let Some(key) = find_key(set, kid, alg) {
            return Ok(key.clone());
        }
        if !fetched_now && fetched_at.elapsed() >= self.min_refetch {
            *state = Some((fetch().await?, Instant::now()));
            let (set, _) = state.as_ref().expect("fetched above");
            if let Some(key) = find_key(set, kid, alg) {
                return Ok(key.clone());
            }
        }
        Err(IdTokenError::UnknownKey {
            kid: kid.map(short),
        }
        .into())
    }
}

/// A key id as shown in an error: it comes from the token, so it is bounded.
fn short(kid: &str) -> String {
    kid.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ec_key(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }

    fn set(kids: &[&str]) -> JwkSet {
        serde_json::from_value(
            serde_json::json!({"keys": kids.iter().map(|k| ec_key(k)).collect::<Vec<_>>()}),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn an_unknown_kid_fetches_the_keys_again_once() {
        let cache = JwksCache::new(Duration::ZERO);
        let fetches = AtomicUsize::new(0);
        let fetch = || {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            // The provider rotates after the first fetch: k2 replaces k1.
            let keys = if n == 0 { set(&["k1"]) } else { set(&["k2"]) };
            async move { Ok(keys) }
        };
        cache
            .key(Some("k1"), Algorithm::ES256, fetch)
            .await
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        cache
            .key(Some("k1"), Algorithm::ES256, fetch)
            .await
            .unwrap();
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "a known key is not fetched again"
        );
        cache
            .key(Some("k2"), Algorithm::ES256, fetch)
            .await
            .unwrap();
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "the rotated key was fetched"
        );
        let err = cache
            .key(Some("k9"), Algorithm::ES256, fetch)
            .await
            .unwrap_err();
        assert!(
            matches!(err, OidcError::IdToken(IdTokenError::UnknownKey { .. })),
            "{err}"
        );
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            3,
            "one fetch for one unknown kid"
        );
    }

    #[tokio::test]
    async fn unknown_kids_do_not_refetch_more_often_than_the_bound() {
        let cache = JwksCache::new(Duration::from_secs(3600));
        let fetches = AtomicUsize::new(0);
        let fetch = || {
            fetches.fetch_add(1, Ordering::SeqCst);
            async { Ok(set(&["k1"])) }
        };
        for _ in 0..5 {
            assert!(
                cache
                    .key(Some("made-up"), Algorithm::ES256, fetch)
                    .await
                    .is_err()
            );
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_key_verifies_only_the_algorithms_it_is_for() {
        let keys = set(&["k1"]);
        assert!(find_key(&keys, Some("k1"), Algorithm::ES256).is_some());
        assert!(
            find_key(&keys, Some("k1"), Algorithm::ES384).is_none(),
            "alg says ES256"
        );
        assert!(
            find_key(&keys, Some("k1"), Algorithm::RS256).is_none(),
            "an EC key"
        );
        assert!(
            find_key(&keys, None, Algorithm::ES256).is_some(),
            "the only key"
        );
        let two = set(&["k1", "k2"]);
        assert!(
            find_key(&two, None, Algorithm::ES256).is_none(),
            "no kid, two keys: which?"
        );
    }
}
