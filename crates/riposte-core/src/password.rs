//! Random passwords that meet AD's complexity rules.

use secrecy::SecretString;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#%+-.:=?@_~";
pub const LENGTH: usize = 24;

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// A uniformly random index below `bound`, by rejection sampling.
fn random_index(bound: usize) -> Result<usize, RandomError> {
    let limit = 256 - (256 % bound);
    loop {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(|e| RandomError(e.to_string()))?;
        if (byte[0] as usize) < limit {
            return Ok(byte[0] as usize % bound);
        }
    }
}

/// A 24-character password with upper, lower, digit and symbol characters,
/// not containing the account name (AD's complexity rule).
pub fn generate(account_name: &str) -> Result<SecretString, RandomError> {
    let all: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS].concat();
    loop {
        let mut chars: Vec<u8> = Vec::with_capacity(LENGTH);
        for class in [UPPER, LOWER, DIGITS, SYMBOLS] {
            chars.push(class[random_index(class.len())?]);
        }
        while chars.len() < LENGTH {
            chars.push(all[random_index(all.len())?]);
        }
        // Fisher-Yates, so the class-guaranteed characters are not in front.
        for i in (1..chars.len()).rev() {
            chars.swap(i, random_index(i + 1)?);
        }
        let password = String::from_utf8(chars).expect("ASCII");
        let name = account_name.to_ascii_lowercase();
        if name.len() < 3 || !password.to_ascii_lowercase().contains(&name) {
            return Ok(SecretString::from(password));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn passwords_meet_complexity_and_differ() {
        let a = generate("ernie").unwrap();
        let b = generate("ernie").unwrap();
        for p in [&a, &b] {
            let p = p.expose_secret();
            assert_eq!(p.len(), LENGTH);
            assert!(p.bytes().any(|c| UPPER.contains(&c)));
            assert!(p.bytes().any(|c| LOWER.contains(&c)));
            assert!(p.bytes().any(|c| DIGITS.contains(&c)));
            assert!(p.bytes().any(|c| SYMBOLS.contains(&c)));
        }
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
