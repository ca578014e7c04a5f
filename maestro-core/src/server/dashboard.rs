//! The live dashboard: a page and its ES modules, compiled into the binary and served at
//! `/` and `/assets/<file>`.
//!
//! There is no build step: the files of `dashboard/` are served as they are written. The
//! page reads the REST API and follows `/ws` like the sync client. Every response carries a
//! Content-Security-Policy that runs only this origin's script files (no inline script, no
//! `eval`), refuses to be framed, and `nosniff`. The page itself needs no token; the data
//! it loads does, when one is configured.

use super::AppState;
use super::api::{self, P};
use axum::Router;
use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Scripts, styles, images and connections from this origin only; no inline script or
/// style, no plugins, no framing, forms post nowhere else.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One file of the dashboard.
struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static str,
    hash: u64,
}

macro_rules! assets {
    ($($name:literal => $mime:expr),+ $(,)?) => {
        &[$(Asset {
            name: $name,
            mime: $mime,
            body: include_str!(concat!("dashboard/", $name)),
            hash: fnv1a(include_str!(concat!("dashboard/", $name))),
        }),+]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => JS,
    "api.js" => JS,
    "sync.js" => JS,
    "model.js" => JS,
    "dom.js" => JS,
    "format.js" => JS,
    "board.js" => JS,
    "task.js" => JS,
    "sessions.js" => JS,
    "merges.js" => JS,
    "graph.js" => JS,
    "layout.js" => JS,
    "activity.js" => JS,
    "dialogs.js" => JS,
};

/// FNV-1a of a file, computed at compile time: its ETag.
const fn fnv1a(body: &str) -> u64 {
    let bytes = body.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

async fn asset(P(file): P<String>, req: Request) -> Response {
    match serve(&file, req.headers()) {
        Some(resp) => resp,
        None => api::not_found(req).await.into_response(),
    }
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The file `name` with the dashboard's headers, or 304 when the browser has it already.
fn serve(name: &str, headers: &HeaderMap) -> Option<Response> {
    let a = find(name)?;
    let etag = format!("\"{:016x}\"", a.hash);
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, a.mime)], a.body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Revalidate every time: a new binary serves new files at the same names.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page loads — `/assets/…` in the HTML and CSS, `import … from './x.js'`
    /// in the modules — is compiled in: a file missing from the table fails here, not in a
    /// browser.
    #[test]
    fn every_referenced_file_is_served() {
        let mut missing = Vec::new();
        for a in ASSETS {
            let mut refs: Vec<&str> = a
                .body
                .split("/assets/")
                .skip(1)
                .map(|r| r.split(['"', '\'', ')', '?']).next().unwrap_or(""))
                .collect();
            if a.name.ends_with(".js") {
                refs.extend(
                    a.body
                        .split("from './")
                        .skip(1)
                        .chain(a.body.split("import('./").skip(1))
                        .map(|r| r.split('\'').next().unwrap_or("")),
                );
            }
            for r in refs {
                if find(r).is_none() {
                    missing.push(format!("{} -> {r}", a.name));
                }
            }
        }
        assert!(missing.is_empty(), "not in ASSETS: {missing:?}");
    }

    #[test]
    fn pages_forbid_inline_scripts_and_framing() {
        assert!(CSP.contains("script-src 'self'"));
        assert!(!CSP.contains("unsafe-inline") && !CSP.contains("unsafe-eval"));
        assert!(CSP.contains("frame-ancestors 'none'"));
        let resp = serve("index.html", &HeaderMap::new()).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[X_FRAME_OPTIONS], "DENY");
        assert!(h[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        // No inline script in the page: its scripts are files of this origin.
        let html = find("index.html").unwrap().body;
        for tag in html.split("<script").skip(1) {
            assert!(tag.contains("src=\"/assets/"), "inline script: {tag}");
        }
        // Nor inline event handlers (` onclick=`, …), which the policy would block anyway.
        for part in html.split(" on").skip(1) {
            let name: String = part.chars().take_while(char::is_ascii_lowercase).collect();
            assert!(
                name.is_empty() || !part[name.len()..].starts_with('='),
                "inline handler on{name}"
            );
        }
    }

    #[test]
    fn unchanged_files_answer_304() {
        let resp = serve("app.js", &HeaderMap::new()).unwrap();
        let etag = resp.headers()[ETAG].clone();
        assert!(
            resp.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, etag);
        assert_eq!(
            serve("app.js", &h).unwrap().status(),
            StatusCode::NOT_MODIFIED
        );
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"0\""));
        assert_eq!(serve("app.js", &h).unwrap().status(), StatusCode::OK);
        assert!(serve("nope.js", &h).is_none());
        assert!(serve("../Cargo.toml", &h).is_none());
    }
}
