//! A secret named in configuration: read from a file (preferred) or an
//! environment variable, never written inline. One rule for every connector.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Why a configured secret could not be read, naming the key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct SecretError {
    pub key: String,
    pub message: String,
}

/// Reads the secret named by `<prefix>_file` (relative to `base_dir`) or
/// `<prefix>_env`; exactly one must be given. A file's trailing newline is
/// not part of the secret.
pub fn resolve(
    prefix: &str,
    what: &str,
    file: Option<&PathBuf>,
    env: Option<&String>,
    base_dir: &Path,
) -> Result<SecretString, SecretError> {
    let error = |suffix: &str, message: String| SecretError {
        key: format!("{prefix}_{suffix}"),
        message,
    };
    match (file, env) {
        (Some(file), None) => {
            let path = base_dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| error("file", format!("cannot read {}: {e}", path.display())))?;
            let text = text.trim_end_matches(['\r', '\n']);
            if text.is_empty() {
                return Err(error("file", format!("{} is empty", path.display())));
            }
            Ok(SecretString::from(text.to_string()))
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(SecretString::from(value)),
            _ => Err(error(
                "env",
                format!("the environment variable {var} is not set"),
            )),
        },
        (Some(_), Some(_)) => Err(error(
            "file",
            format!("give either {prefix}_file or {prefix}_env, not both"),
        )),
        (None, None) => Err(error(
            "file",
            format!("{what} is missing: set {prefix}_file (or {prefix}_env)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn file_env_and_their_errors() {
        let dir = std::env::temp_dir().join(format!("riposte-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s"), "hunter2\n").unwrap();
        let file = PathBuf::from("s");
        let got = resolve("bind_password", "the password", Some(&file), None, &dir).unwrap();
        assert_eq!(got.expose_secret(), "hunter2");
        let err = resolve("bind_password", "the password", None, None, &dir).unwrap_err();
        assert_eq!(err.key, "bind_password_file");
        let missing = PathBuf::from("nope");
        assert!(
            resolve("x", "y", Some(&missing), None, &dir)
                .unwrap_err()
                .message
                .contains("cannot read")
        );
        let var = "RIPOSTE_TEST_SURELY_UNSET_VARIABLE".to_string();
        assert_eq!(
            resolve("x", "y", None, Some(&var), &dir).unwrap_err().key,
            "x_env"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
