//! Server URL handling: the HTTP base of the REST API and the WebSocket URL derived from it.

use crate::error::{Error, Result};
use serde_json::json;

fn bad_url(url: &str, why: &str) -> Error {
    Error::invalid_argument(format!("'{url}' is not a valid server URL: {why}"))
        .with_details(json!({ "url": url }))
        .with_suggestion(
            "Pass the server's base URL, e.g. --server http://127.0.0.1:3000 or MAESTRO_API_URL=http://host:3000",
        )
}

/// Splits `url` into (secure, authority-and-path) after validation.
fn split(url: &str) -> Result<(bool, String)> {
    let u = url.trim();
    if u.is_empty() {
        return Err(bad_url(url, "it is empty"));
    }
    if u.chars().any(char::is_whitespace) {
        return Err(bad_url(url, "it contains spaces"));
    }
    if u.contains('?') || u.contains('#') {
        return Err(bad_url(url, "it must not carry a query or a fragment"));
    }
    let (secure, rest) = match u.split_once("://") {
        None => (false, u),
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => (false, rest),
            "https" | "wss" => (true, rest),
            other => {
                return Err(bad_url(
                    url,
                    &format!("the scheme '{other}' is not http, https, ws or wss"),
                ));
            }
        },
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad_url(url, "it has no host"));
    }
    Ok((secure, rest.to_string()))
}

/// The HTTP base URL of a server (`http://host:port[/prefix]`, no trailing slash).
///
/// Accepts `http(s)://…`, `ws(s)://…` (a trailing `/ws` is dropped) and a bare `host:port`
/// (taken as `http://`).
pub fn http_base(url: &str) -> Result<String> {
    let (secure, rest) = split(url)?;
    let rest = rest.strip_suffix("/ws").unwrap_or(&rest);
    if rest.is_empty() {
        return Err(bad_url(url, "it has no host"));
    }
    Ok(format!(
        "{}://{rest}",
        if secure { "https" } else { "http" }
    ))
}

/// The WebSocket URL of a server: `http://h:p` → `ws://h:p/ws`, `https://…` → `wss://…/ws`;
/// a URL already ending in `/ws` is kept.
pub fn ws_url(url: &str) -> Result<String> {
    let base = http_base(url)?;
    let (scheme, rest) = base.split_once("://").expect("http_base has a scheme");
    Ok(format!(
        "{}://{rest}/ws",
        if scheme == "https" { "wss" } else { "ws" }
    ))
}

/// Percent-encodes one path segment (everything but unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn http_bases_are_normalized() {
        assert_eq!(
            http_base("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            http_base("http://127.0.0.1:3000/").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            http_base(" localhost:3000 ").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(
            http_base("HTTPS://h/maestro//").unwrap(),
            "https://h/maestro"
        );
        assert_eq!(http_base("ws://h:1/ws").unwrap(), "http://h:1");
        assert_eq!(http_base("wss://h/ws/").unwrap(), "https://h");
    }

    #[test]
    fn ws_urls_are_derived() {
        assert_eq!(
            ws_url("http://127.0.0.1:3000").unwrap(),
            "ws://127.0.0.1:3000/ws"
        );
        assert_eq!(
            ws_url("http://127.0.0.1:3000/").unwrap(),
            "ws://127.0.0.1:3000/ws"
        );
        assert_eq!(
            ws_url("https://example.com/maestro").unwrap(),
            "wss://example.com/maestro/ws"
        );
        assert_eq!(ws_url("ws://h:9/ws").unwrap(), "ws://h:9/ws");
        assert_eq!(ws_url("wss://h:9").unwrap(), "wss://h:9/ws");
        assert_eq!(ws_url("h:9").unwrap(), "ws://h:9/ws");
    }

    #[test]
    fn bad_urls_are_invalid_arguments() {
        for u in [
            "",
            "   ",
            "ftp://h",
            "http://",
            "http:///x",
            "http://h/?a=1",
            "http://a b",
            "ws:///ws",
        ] {
            let e = http_base(u).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{u:?}");
            assert!(e.suggestion().unwrap().contains("MAESTRO_API_URL"));
            assert!(ws_url(u).is_err());
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("t-7k2m"), "t-7k2m");
        assert_eq!(encode_segment("a/b c%"), "a%2Fb%20c%25");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
