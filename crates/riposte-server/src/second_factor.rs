//! The one place for local people's second factor: TOTP (RFC 6238 with
//! HMAC-SHA-1, 6 digits, 30-second steps, one step of drift either side, by
//! `totp-rs`) and recovery codes. Enrolment, sign-in and the admin reset all
//! use these rules; nothing else computes or compares a code.
//!
//! - A TOTP secret is 20 random bytes (160 bits, RFC 4226's recommendation),
//!   kept as base32, shown once at enrolment.
//! - A code works once: the step it matched is handed to
//!   `SecondFactorStore::use_totp_step`, which accepts only a step later than
//!   the last one used, so a code seen over a shoulder or replayed is refused.
//! - Recovery codes: [`RECOVERY_CODES`] random codes shown once, stored only as
//!   their SHA-256 (`secret_token::hash` of the normalised code), each usable
//!   once.

use riposte_core::secret_token;
use riposte_store::{SecondFactorStore, SignInMethod, StoreError};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;

/// The otpauth issuer: what an authenticator app shows the account under.
pub const ISSUER: &str = "riposte";
/// How many recovery codes an enrolment makes.
pub const RECOVERY_CODES: usize = 10;
/// Digits of a TOTP code.
pub const DIGITS: usize = 6;
/// Seconds of one TOTP step.
pub const STEP_SECONDS: u64 = 30;
/// Bytes of a TOTP secret.
const SECRET_BYTES: usize = 20;
/// Symbols of a recovery code: lower-case letters and digits without the
/// ones people confuse (0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Symbols of a recovery code (shown in groups of four): about 59 bits.
const RECOVERY_LENGTH: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("no random value could be made for a second factor: {0}")]
    Random(getrandom::Error),
    /// The stored secret is not base32 of a usable length; it names no secret.
    #[error(
        "the stored TOTP secret is unreadable; an admin can reset the second factor (riposte person reset-second-factor NAME)"
    )]
    BadSecret,
    #[error("no authenticator address can be made for {account:?}: {why}")]
    Account { account: String, why: String },
    #[error("the second factor could not be read or written: {0}")]
    Store(#[from] StoreError),
}

/// What a person typed on the second-factor page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// Six digits: a TOTP code.
    Totp(String),
    /// A recovery code, normalised (lower case, no spaces or dashes).
    Recovery(String),
}

impl Code {
    /// Six digits are a TOTP code; anything of a recovery code's shape is a
    /// recovery code; nothing else is a code at all.
    pub fn parse(typed: &str) -> Option<Code> {
        let compact: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if compact.len() == DIGITS && compact.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Code::Totp(compact));
        }
        let lower = compact.to_ascii_lowercase();
        (lower.len() == RECOVERY_LENGTH && lower.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
            .then_some(Code::Recovery(lower))
    }
}

/// A new TOTP secret, base32 (RFC 4648, no padding: 32 characters).
pub fn new_secret() -> Result<String, SecondFactorError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(SecondFactorError::Random)?;
    Ok(Secret::new_stack(bytes).to_base32())
}

fn totp(secret_base32: &str, account: &str) -> Result<Totp, SecondFactorError> {
    let secret =
        Secret::try_from_base32(secret_base32).map_err(|_| SecondFactorError::BadSecret)?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_step_duration(STEP_SECONDS)
        .with_skew(1)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(|e| match e {
            totp_rs::TotpError::SecretTooShort { .. } => SecondFactorError::BadSecret,
            other => SecondFactorError::Account {
                account: account.to_string(),
                why: format!("{other:?}"),
            },
        })
}

/// The `otpauth://totp/riposte:NAME?secret=...&issuer=riposte` address an
/// authenticator app reads (from the QR code).
pub fn otpauth_url(secret_base32: &str, account: &str) -> Result<String, SecondFactorError> {
    totp(secret_base32, account)?
        .to_url()
        .map_err(|e| SecondFactorError::Account {
            account: account.to_string(),
            why: format!("{e:?}"),
        })
}

/// The step `code` is right for at `unix_seconds` (the current step or one
/// either side), if any. Tokens are compared in constant time (totp-rs'
/// `Token`). The caller must still spend the step
/// (`SecondFactorStore::use_totp_step`) before accepting the code.
pub fn matching_step(
    secret_base32: &str,
    code: &str,
    unix_seconds: u64,
) -> Result<Option<u64>, SecondFactorError> {
    // The account name plays no part in the code.
    Ok(totp(secret_base32, "")?.check(code, unix_seconds))
}

/// Whether `code` is right for `secret_base32` at `unix_seconds` and its step
/// was not used before; a right code's step is spent, so it works once.
pub async fn spend_totp(
    store: &dyn SecondFactorStore,
    person: Uuid,
    secret_base32: &str,
    code: &str,
    unix_seconds: u64,
) -> Result<bool, SecondFactorError> {
    let step = matching_step(secret_base32, code, unix_seconds)?;
    match step.and_then(|s| i64::try_from(s).ok()) {
        Some(step) => Ok(store.use_totp_step(person, step).await?),
        None => Ok(false),
    }
}

/// The sign-in's second step: how `typed` proves the person (a TOTP code of
/// their enabled secret, or one of their unused recovery codes), spending it;
/// `None` when it proves nothing.
pub async fn spend_code(
    store: &dyn SecondFactorStore,
    person: Uuid,
    typed: &str,
    unix_seconds: u64,
) -> Result<Option<SignInMethod>, SecondFactorError> {
    match Code::parse(typed) {
        Some(Code::Totp(code)) => {
            let Some(secret) = store.totp_secret(person).await?.filter(|s| s.enabled) else {
                return Ok(None);
            };
            let fresh =
                spend_totp(store, person, &secret.secret_base32, &code, unix_seconds).await?;
            Ok(fresh.then_some(SignInMethod::PasswordTotp))
        }
        Some(Code::Recovery(code)) => {
            let unused = store
                .use_recovery_code(person, &recovery_code_hash(&code))
                .await?;
            Ok(unused.then_some(SignInMethod::PasswordRecoveryCode))
        }
        None => Ok(None),
    }
}

/// The code of `secret_base32` at `unix_seconds`: for tests and the lab, never
/// shown by the product.
pub fn code_at(secret_base32: &str, unix_seconds: u64) -> Result<String, SecondFactorError> {
    Ok(totp(secret_base32, "")?.generate(unix_seconds).to_string())
}

/// Now, in Unix seconds.
pub fn now_unix() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64
}

/// New recovery codes, as shown once (`abcd-efgh-jkmn`), with the hashes to store.
pub struct RecoveryCodes {
    pub shown: Vec<String>,
    pub hashes: Vec<String>,
}

pub fn new_recovery_codes() -> Result<RecoveryCodes, SecondFactorError> {
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    while shown.len() < RECOVERY_CODES {
        let mut bytes = [0u8; RECOVERY_LENGTH];
        getrandom::fill(&mut bytes).map_err(SecondFactorError::Random)?;
        let mut code = String::with_capacity(RECOVERY_LENGTH);
        for b in bytes {
            // 256 = 8 * 31 + 8: values past the last whole multiple are
            // dropped so every symbol is equally likely.
            let whole = 256 - 256 % RECOVERY_ALPHABET.len();
            if (b as usize) < whole {
                code.push(RECOVERY_ALPHABET[b as usize % RECOVERY_ALPHABET.len()] as char);
            }
        }
        if code.len() < RECOVERY_LENGTH {
            continue;
        }
        let hash = recovery_code_hash(&code);
        if hashes.contains(&hash) {
            continue;
        }
        hashes.push(hash);
        shown.push(format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]));
    }
    Ok(RecoveryCodes { shown, hashes })
}

/// What is stored of a recovery code (normalised by [`Code::parse`]).
pub fn recovery_code_hash(normalised: &str) -> String {
    secret_token::hash(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;
    use riposte_store::TotpSecret;
    use std::sync::Mutex;

    /// The store's contract for these rules (the SQL stores are held to it by
    /// riposte-store's conformance suite): a step later than the last, a
    /// recovery code once.
    #[derive(Default)]
    struct Remembered {
        secret: Mutex<Option<TotpSecret>>,
        last_step: Mutex<Option<i64>>,
        recovery: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl SecondFactorStore for Remembered {
        async fn begin_totp(&self, _: Uuid, secret: &str) -> Result<bool, StoreError> {
            *self.secret.lock().unwrap() = Some(TotpSecret {
                secret_base32: secret.into(),
                enabled: false,
            });
            Ok(true)
        }
        async fn totp_secret(&self, _: Uuid) -> Result<Option<TotpSecret>, StoreError> {
            Ok(self.secret.lock().unwrap().clone())
        }
        async fn confirm_totp(&self, _: Uuid, hashes: &[String]) -> Result<bool, StoreError> {
            if let Some(s) = self.secret.lock().unwrap().as_mut() {
                s.enabled = true;
            }
            *self.recovery.lock().unwrap() = hashes.to_vec();
            Ok(true)
        }
        async fn clear_totp(&self, _: Uuid) -> Result<bool, StoreError> {
            *self.secret.lock().unwrap() = None;
            Ok(true)
        }
        async fn use_totp_step(&self, _: Uuid, step: i64) -> Result<bool, StoreError> {
            let mut last = self.last_step.lock().unwrap();
            if last.is_some_and(|l| step <= l) {
                return Ok(false);
            }
            *last = Some(step);
            Ok(true)
        }
        async fn use_recovery_code(&self, _: Uuid, hash: &str) -> Result<bool, StoreError> {
            let mut codes = self.recovery.lock().unwrap();
            let before = codes.len();
            codes.retain(|c| c != hash);
            Ok(codes.len() < before)
        }
        async fn recovery_codes_left(&self, _: Uuid) -> Result<usize, StoreError> {
            Ok(self.recovery.lock().unwrap().len())
        }
    }

    #[tokio::test]
    async fn a_code_works_once_and_so_does_each_recovery_code() {
        let store = Remembered::default();
        let person = Uuid::nil();
        let secret = new_secret().unwrap();
        store.begin_totp(person, &secret).await.unwrap();
        let now = 1_700_000_000;
        let code = code_at(&secret, now).unwrap();
        assert_eq!(
            spend_code(&store, person, &code, now).await.unwrap(),
            None,
            "not enabled before enrolment is confirmed"
        );
        assert!(
            spend_totp(&store, person, &secret, &code, now)
                .await
                .unwrap()
        );
        let codes = new_recovery_codes().unwrap();
        store.confirm_totp(person, &codes.hashes).await.unwrap();
        assert_eq!(
            spend_code(&store, person, &code, now + 5).await.unwrap(),
            None,
            "the enrolment's code again"
        );
        // The previous step's code is within the drift window but older than the last used.
        let earlier = code_at(&secret, now - 30).unwrap();
        assert_eq!(
            spend_code(&store, person, &earlier, now).await.unwrap(),
            None
        );
        let next = code_at(&secret, now + 30).unwrap();
        assert_eq!(
            spend_code(&store, person, &next, now).await.unwrap(),
            Some(SignInMethod::PasswordTotp)
        );
        assert_eq!(
            spend_code(&store, person, &next, now + 30).await.unwrap(),
            None
        );
        let typed = codes.shown[3].clone();
        assert_eq!(
            spend_code(&store, person, &typed, now).await.unwrap(),
            Some(SignInMethod::PasswordRecoveryCode)
        );
        assert_eq!(spend_code(&store, person, &typed, now).await.unwrap(), None);
        assert_eq!(store.recovery_codes_left(person).await.unwrap(), 9);
        assert_eq!(
            spend_code(&store, person, "not a code", now).await.unwrap(),
            None
        );
    }

    /// RFC 6238 appendix B's SHA-1 key: "12345678901234567890".
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        // Appendix B gives 8 digits; 6 digits are its last six.
        for (time, eight) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_at(RFC_SECRET, time).unwrap(), eight[2..], "T={time}");
            assert_eq!(
                matching_step(RFC_SECRET, &eight[2..], time).unwrap(),
                Some(time / 30)
            );
        }
    }

    #[test]
    fn a_step_of_drift_either_side_and_no_more() {
        let now = 1_700_000_000;
        let step = now / STEP_SECONDS;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = (now as i64 + offset * STEP_SECONDS as i64) as u64;
            let code = code_at(RFC_SECRET, at).unwrap();
            let matched = matching_step(RFC_SECRET, &code, now).unwrap();
            if accepted {
                assert_eq!(matched, Some((step as i64 + offset) as u64), "{offset}");
            } else {
                assert_eq!(matched, None, "a code {offset} steps away");
            }
        }
        assert_eq!(matching_step(RFC_SECRET, "12345", now).unwrap(), None);
        assert_eq!(matching_step(RFC_SECRET, "abcdef", now).unwrap(), None);
    }

    #[test]
    fn secrets_are_160_random_bits_and_the_url_names_riposte_and_the_person() {
        let a = new_secret().unwrap();
        assert_eq!(a.len(), 32, "{a}");
        assert_ne!(a, new_secret().unwrap());
        let url = otpauth_url(&a, "ada").unwrap();
        assert!(url.starts_with("otpauth://totp/riposte:ada?"), "{url}");
        assert!(url.contains(&format!("secret={a}")), "{url}");
        assert!(url.contains("issuer=riposte"), "{url}");
        assert!(matches!(
            matching_step("not base32!", "123456", 0),
            Err(SecondFactorError::BadSecret)
        ));
        // 10 bytes (80 bits) is below RFC 4226's minimum of 128.
        assert!(matches!(
            matching_step("GEZDGNBVGY3TQOJQ", "123456", 0),
            Err(SecondFactorError::BadSecret)
        ));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_codes_stored_as_hashes_of_what_is_typed() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.shown.len(), RECOVERY_CODES);
        assert_eq!(codes.hashes.len(), RECOVERY_CODES);
        for (shown, hash) in codes.shown.iter().zip(&codes.hashes) {
            assert_eq!(shown.len(), 14, "{shown}");
            assert!(!hash.contains(&shown.replace('-', "")));
            // Typed in capitals with spaces, it is still the same code.
            let typed = shown.to_uppercase().replace('-', " ");
            let Some(Code::Recovery(normalised)) = Code::parse(&typed) else {
                panic!("{typed} is a recovery code");
            };
            assert_eq!(&recovery_code_hash(&normalised), hash);
        }
        let mut unique = codes.hashes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(Code::parse(" 123 456 "), Some(Code::Totp("123456".into())));
        assert_eq!(Code::parse("12345"), None);
        assert_eq!(Code::parse("'; drop table"), None);
        assert_eq!(Code::parse(""), None);
    }
}
