//! The one rule for every URL riposte reaches at the provider (the issuer,
//! its endpoints, the JWKS): https, except on a loopback address, where a
//! lab or a local proxy may speak plain http.

use std::net::IpAddr;

use reqwest::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "{what} {url:?} is not a URL; give an absolute https URL such as https://login.example.com/"
    )]
    NotAUrl { what: String, url: String },
    #[error(
        "{what} {url:?} is not https; the provider's URLs must be https (plain http only on a loopback address)"
    )]
    NotHttps { what: String, url: String },
}

/// `url` parsed, if it is https, or http on 127.0.0.0/8, ::1 or localhost.
/// `what` names it in the error ("the issuer", "the token endpoint").
pub fn check_endpoint(what: &str, url: &str) -> Result<Url, EndpointError> {
    let parsed = Url::parse(url).map_err(|_| EndpointError::NotAUrl {
        what: what.to_string(),
        url: url.to_string(),
    })?;
    if parsed.cannot_be_a_base() || parsed.host().is_none() {
        return Err(EndpointError::NotAUrl {
            what: what.to_string(),
            url: url.to_string(),
        });
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        _ => Err(EndpointError::NotHttps {
            what: what.to_string(),
            url: url.to_string(),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_on_loopback() {
        for ok in [
            "https://login.example.com/",
            "https://127.0.0.1:8443/",
            "http://127.0.0.1:8080/",
            "http://127.3.2.1/",
            "http://[::1]:9000/",
            "http://localhost:8080/realms/soc",
        ] {
            assert!(check_endpoint("the issuer", ok).is_ok(), "{ok}");
        }
        for (bad, plain) in [
            ("http://login.example.com/", true),
            ("http://10.0.0.1/", true),
            ("http://localhost.example.com/", true),
            ("ftp://127.0.0.1/", true),
            ("login.example.com", false),
            ("https://", false),
            ("mailto:a@b", false),
        ] {
            let err = check_endpoint("the issuer", bad).unwrap_err();
            assert_eq!(
                matches!(err, EndpointError::NotHttps { .. }),
                plain,
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("the issuer"), "{err}");
        }
    }
}
