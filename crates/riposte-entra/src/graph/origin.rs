//! Where the bearer token may go: only to the configured Graph origin.

/// `Ok` when `link` parses as a URL with exactly the scheme, host and port
/// of `graph_url` and no user info; otherwise the link's origin, to name in
/// the refusal (never its path or query, which may carry a skip token).
pub(crate) fn same_origin(link: &str, graph_url: &str) -> Result<(), String> {
    let expected = reqwest::Url::parse(graph_url).map_err(|_| origin_of(graph_url))?;
    let url = reqwest::Url::parse(link).map_err(|_| "a link that is not a URL".to_string())?;
    let userinfo = !url.username().is_empty() || url.password().is_some();
    if userinfo || !url.origin().is_tuple() || url.origin() != expected.origin() {
        return Err(origin_of(link));
    }
    Ok(())
}

/// `scheme://host:port` of a URL, for messages.
pub(crate) fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) if u.origin().is_tuple() => {
            let origin = u.origin().ascii_serialization();
            if !u.username().is_empty() || u.password().is_some() {
                format!("{origin} (with user info)")
            } else {
                origin
            }
        }
        _ => "a link that is not an http(s) URL".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn links_must_have_the_graph_origin_exactly() {
        const GRAPH: &str = "https://graph.microsoft.com/v1.0";
        assert!(same_origin("https://graph.microsoft.com/v1.0/users?$skiptoken=x", GRAPH).is_ok());
        assert!(same_origin("https://GRAPH.microsoft.com:443/v1.0/users", GRAPH).is_ok());
        for (link, origin) in [
            // Each of these began with the configured origin's text.
            (
                "https://graph.microsoft.com.evil.net/v1.0/users",
                "https://graph.microsoft.com.evil.net",
            ),
            (
                "https://graph.microsoft.com@evil.net/v1.0/users",
                "https://evil.net (with user info)",
            ),
            (
                "https://graph.microsoft.com:4443/v1.0/users",
                "https://graph.microsoft.com:4443",
            ),
            (
                "http://graph.microsoft.com/v1.0/users",
                "http://graph.microsoft.com",
            ),
            ("https://evil.net/v1.0/users", "https://evil.net"),
            (
                "ftp://graph.microsoft.com/v1.0/users",
                "ftp://graph.microsoft.com",
            ),
            ("https://", "a link that is not a URL"),
        ] {
            assert_eq!(same_origin(link, GRAPH), Err(origin.to_string()), "{link}");
        }
        // A port that merely starts like the configured one.
        assert_eq!(
            same_origin(
                "http://127.0.0.1:80801/v1.0/users",
                "http://127.0.0.1:8080/v1.0"
            )
            .map_err(|_| ()),
            Err(())
        );
    }
}
