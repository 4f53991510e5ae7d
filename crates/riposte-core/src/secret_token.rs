//! Bearer secrets (API tokens, session ids): random, shown once, stored as SHA-256.

use sha2::{Digest, Sha256};

/// Prefix that makes a leaked riposte token easy to recognise and scan for.
pub const PREFIX: &str = "rpt_";

/// A new random secret: `rpt_` and 64 hex digits (256 bits).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex(&bytes)))
}

/// What is stored: the secret's SHA-256. A 256-bit random secret needs no
/// slow hash; people's passwords do (argon2, elsewhere).
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let a = super::generate().unwrap();
        assert!(a.starts_with("rpt_") && a.len() == 68);
        assert_ne!(a, super::generate().unwrap());
        assert_eq!(
            super::hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
