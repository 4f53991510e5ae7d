//! People's portal passwords: argon2id hashes in PHC form. Unlike API tokens
//! and session secrets (256 random bits, SHA-256 is enough), a password a
//! person chose can be guessed, so each guess must cost memory and time.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

/// Shorter passwords are refused: the portal faces a network.
pub const MIN_LENGTH: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum PersonPasswordError {
    #[error("a password must have at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("a password must not be the person's name")]
    IsTheName,
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// The argon2id PHC string (`$argon2id$v=19$m=...`) of `password`, with a random salt.
pub fn hash(password: &SecretString) -> Result<String, PersonPasswordError> {
    let text = password.expose_secret();
    if text.chars().count() < MIN_LENGTH {
        return Err(PersonPasswordError::TooShort);
    }
    Argon2::default()
        .hash_password(text.as_bytes())
        .map(|h| h.to_string())
        // The error names the failure (RNG, parameters), never the password.
        .map_err(|e| PersonPasswordError::Hash(e.to_string()))
}

/// The hash of a password `name` chose or was given (person add, password
/// change, admin reset): at least [`MIN_LENGTH`] characters and not the name
/// itself, in any case.
pub fn hash_for(name: &str, password: &SecretString) -> Result<String, PersonPasswordError> {
    if password.expose_secret().trim().to_lowercase() == name.trim().to_lowercase() {
        return Err(PersonPasswordError::IsTheName);
    }
    hash(password)
}

/// Whether `password` matches the stored hash; an unreadable hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of nothing anyone knows: verified against when the name is
/// unknown, so a wrong name costs as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random = crate::secret_token::generate().unwrap_or_else(|_| "x".repeat(40));
        hash(&SecretString::from(random)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_only_the_right_password() {
        let stored = hash(&SecretString::from("correct horse battery")).unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("correct horse battery", "not a hash"));
        assert_ne!(
            stored,
            hash(&SecretString::from("correct horse battery")).unwrap(),
            "salted"
        );
        assert!(matches!(
            hash(&SecretString::from("short")),
            Err(PersonPasswordError::TooShort)
        ));
        assert!(!verify("", decoy_hash()));
    }

    #[test]
    fn a_person_s_password_is_not_their_name() {
        assert!(matches!(
            hash_for(
                "margaret.hamilton",
                &SecretString::from("Margaret.Hamilton")
            ),
            Err(PersonPasswordError::IsTheName)
        ));
        assert!(matches!(
            hash_for("ada", &SecretString::from("short")),
            Err(PersonPasswordError::TooShort)
        ));
        let stored = hash_for("ada", &SecretString::from("ada-lovelace-1815")).unwrap();
        assert!(verify("ada-lovelace-1815", &stored));
    }
}
