//! HTTP plumbing: JSON errors, our own body/query/path extractors (so every rejection is
//! the JSON error object, never axum's plain text), the request context and authorization.

use super::AppState;
use crate::error::{Code, Error};
use crate::protocol::{CLIENT_HEADER, IDEMPOTENCY_HEADER, SESSION_HEADER};
use crate::store::OpContext;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, IF_MATCH, ORIGIN, SEC_WEBSOCKET_PROTOCOL,
    WWW_AUTHENTICATE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;

/// A failed request: the error object with the status of its code.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub error: Error,
    /// Overrides the status derived from the code (405, for instance).
    pub status: Option<StatusCode>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self {
            error,
            status: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.error.code().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        });
        if status.is_server_error() {
            tracing::error!(code = %self.error.code(), message = self.error.message(), "request failed");
        } else {
            tracing::debug!(code = %self.error.code(), message = self.error.message(), "request refused");
        }
        let mut resp = json_response(status, &self.error.to_json());
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// Serializes `value` as a JSON response.
pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => {
            let err = Error::internal(format!("cannot serialize the response: {e}"));
            (StatusCode::INTERNAL_SERVER_ERROR, err.to_json().to_string()).into_response()
        }
    }
}

/// 200 with `value`.
pub(crate) fn ok(value: &impl Serialize) -> ApiResult {
    Ok(json_response(StatusCode::OK, value))
}

/// 201 with the created `value`.
pub(crate) fn created(value: &impl Serialize) -> ApiResult {
    Ok(json_response(StatusCode::CREATED, value))
}

fn bad_request(message: String) -> ApiError {
    Error::invalid_argument(message)
        .with_suggestion("Check the request against the route table in the protocol documentation")
        .into()
}

/// A JSON body, read up to `max_body_bytes` (413 beyond). An empty body reads as `{}`.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.opts.max_body_bytes;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut stream = req.into_body().into_data_stream();
        let mut body = Vec::new();
        let mut total: u64 = 0;
        if declared.is_none_or(|n| n <= limit as u64) {
            let deadline = state.opts.body_read_timeout;
            let read = async {
                while let Some(chunk) = stream.next().await {
                    let chunk =
                        chunk.map_err(|e| bad_request(format!("cannot read the body: {e}")))?;
                    total += chunk.len() as u64;
                    if total > limit as u64 {
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok::<_, ApiError>(())
            };
            match tokio::time::timeout(deadline, read).await {
                Ok(read) => read?,
                // Hyper closes the connection after the answer: the body was not read out.
                Err(_) => return Err(body_timeout(deadline, total)),
            }
        }
        if declared.is_some_and(|n| n > limit as u64) || total > limit as u64 {
            // Read (and drop) a bounded remainder so the client gets to see the answer
            // instead of a connection reset while it is still sending.
            drain(stream, 16 * limit as u64, Duration::from_secs(2)).await;
            return Err(Error::new(
                Code::PayloadTooLarge,
                format!("The request body is larger than {limit} bytes"),
            )
            .with_details(json!({ "max": limit }))
            .with_suggestion("Send a smaller body: long texts belong in several timeline entries")
            .into());
        }
        let parsed = match body.iter().find(|b| !b.is_ascii_whitespace()) {
            None => serde_json::from_slice(b"{}"),
            Some(b'{') => serde_json::from_slice(&body),
            // Serde would read an array into a struct by position: refuse anything else.
            Some(_) => {
                return Err(Error::invalid_argument("The body must be a JSON object")
                    .with_suggestion(
                        "Send a JSON object with the fields listed in the protocol route table",
                    )
                    .into());
            }
        };
        parsed.map(JsonBody).map_err(json_error)
    }
}

/// 408: the body did not arrive in time.
fn body_timeout(deadline: Duration, received: u64) -> ApiError {
    ApiError {
        error: Error::new(
            Code::Timeout,
            format!(
                "The request body did not arrive within {} s",
                deadline.as_secs_f64()
            ),
        )
        .with_details(json!({ "received": received, "timeoutMs": deadline.as_millis() as u64 }))
        .with_suggestion("Send the whole body at once; Content-Length must match what is sent"),
        status: Some(StatusCode::REQUEST_TIMEOUT),
    }
}

async fn drain(mut stream: axum::body::BodyDataStream, max: u64, time: Duration) {
    let _ = tokio::time::timeout(time, async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > max {
                break;
            }
        }
    })
    .await;
}

/// Maps a body deserialization error to the error a refused value carries, else
/// `missing_required_field` or `invalid_argument`.
fn json_error(e: serde_json::Error) -> ApiError {
    let msg = e.to_string();
    if let Some(err) = Error::from_serde_message(&msg) {
        return err.into();
    }
    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some(field) = rest.split('`').next()
    {
        return Error::missing_field(field)
            .with_suggestion(format!("Add '{field}' to the JSON body"))
            .into();
    }
    let kind = if e.is_syntax() || e.is_eof() {
        "The body is not valid JSON"
    } else {
        "The body does not have the expected fields"
    };
    Error::invalid_argument(format!("{kind}: {msg}"))
        .with_suggestion("Send a JSON object with the fields listed in the protocol route table")
        .into()
}

/// Query parameters, with JSON errors.
pub(crate) struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Q(q.0))
            .map_err(|e| {
                let text = e.body_text();
                match Error::from_serde_message(&text) {
                    Some(err) => err.into(),
                    None => bad_request(format!("Invalid query string: {text}")),
                }
            })
    }
}

/// Path parameters, with JSON errors.
pub(crate) struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e| bad_request(format!("Invalid path: {}", e.body_text())))
    }
}

/// Who is calling and with which idempotency key, from the request headers.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub op: OpContext,
    /// `If-Match: <version>`.
    pub if_match: Option<i64>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        from_headers(&parts.headers)
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()).filter(|s| !s.is_empty()))
            .map_err(|_| bad_request(format!("The {name} header is not visible ASCII"))),
    }
}

pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Ctx, ApiError> {
    let key = header_str(headers, IDEMPOTENCY_HEADER)?;
    if key.is_some_and(|k| k.len() > 200) {
        return Err(bad_request(
            "The Idempotency-Key header is longer than 200 characters".into(),
        ));
    }
    let session = header_str(headers, SESSION_HEADER)?;
    let client = header_str(headers, CLIENT_HEADER)?;
    if client.is_some_and(|c| c.len() > 200) {
        return Err(bad_request(
            "The X-Maestro-Client header is longer than 200 characters".into(),
        ));
    }
    let if_match = match header_str(headers, IF_MATCH.as_str())? {
        None => None,
        Some(v) => {
            let v = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
            Some(v.parse::<i64>().map_err(|_| {
                ApiError::from(
                    Error::invalid_argument(format!("If-Match must be a task version, got '{v}'"))
                        .with_suggestion("Send the task's version, e.g. If-Match: 3"),
                )
            })?)
        }
    };
    Ok(Ctx {
        op: OpContext {
            session_id: session.map(str::to_string),
            op_id: key.map(|k| format!("http:{k}")),
            client_id: client.map(str::to_string),
        },
        if_match,
    })
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The WebSocket subprotocol a browser offers to say it speaks Maestro's frames; the
/// upgrade answers with it (a browser cannot set `Authorization` on a WebSocket).
pub(crate) const WS_PROTOCOL: &str = "maestro";
/// The prefix of the subprotocol carrying the token: `bearer.<token in base64url>`.
const WS_BEARER_PREFIX: &str = "bearer.";

/// The token a request carries: `Authorization: Bearer <t>`; on `/ws` also the
/// `bearer.<base64url(t)>` entry of `Sec-WebSocket-Protocol`, or `?token=<t>`.
fn presented_token(req: &Request) -> Option<String> {
    if let Some(v) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim().to_string());
        }
        return None;
    }
    if req.uri().path() == "/ws" {
        if let Some(t) = subprotocol_token(req.headers()) {
            return Some(t);
        }
        #[derive(serde::Deserialize)]
        struct TokenQuery {
            token: Option<String>,
        }
        return axum::extract::Query::<TokenQuery>::try_from_uri(req.uri())
            .ok()
            .and_then(|q| q.0.token);
    }
    None
}

/// The token of a `bearer.<base64url>` entry in `Sec-WebSocket-Protocol` (entries are
/// comma-separated, possibly over several header lines).
fn subprotocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_BEARER_PREFIX))
        .and_then(base64url_decode)
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Decodes unpadded base64url (RFC 4648 §5); `None` on any other character.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// With a token configured, `/api/*`, `/ws` and `/metrics` need it: the 401 answer when a
/// request does not carry it.
pub(crate) fn refuse_unauthorized(state: &AppState, req: &Request) -> Option<Response> {
    let expected = state.opts.token.as_ref()?;
    let path = req.uri().path();
    let guarded =
        path == "/api" || path.starts_with("/api/") || path == "/ws" || path == "/metrics";
    if !guarded || presented_token(req).is_some_and(|t| same_secret(&t, expected)) {
        return None;
    }
    let what = if req.headers().contains_key(AUTHORIZATION) {
        "The bearer token is not valid"
    } else {
        "This server needs a bearer token"
    };
    Some(
        ApiError::from(Error::new(Code::Unauthorized, what).with_suggestion(
            "Send 'Authorization: Bearer <token>' (the CLI sends MAESTRO_TOKEN, or config token: 'maestro config set token <token>')",
        ))
        .into_response(),
    )
}

/// A page of another web origin must not change data or open `/ws` (a browser sends such
/// requests to a loopback server on the page's behalf, with no token needed there): the 403
/// answer to a request whose `Origin` is neither the server's own (its `Host`, or the
/// `X-Forwarded-Host` a proxy set) nor one of `allowed_origins`. Reads need no check (a
/// browser does not let another origin read the answers) and clients that send no `Origin`
/// are not browsers.
pub(crate) fn refuse_cross_origin(state: &AppState, req: &Request) -> Option<Response> {
    let origin = req.headers().get(ORIGIN)?;
    let path = req.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !(path == "/ws" || api && !reads) {
        return None;
    }
    let origin = origin.to_str().unwrap_or_default();
    let allowed = state
        .opts
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin));
    if allowed || same_origin(origin, req.headers()) {
        return None;
    }
    let error = Error::new(
        Code::Unauthorized,
        format!("Requests from pages at {origin} may not change this server's data"),
    )
    .with_details(json!({ "origin": origin }))
    .with_suggestion(
        "Open the dashboard from the server's own address, or allow the origin with MAESTRO_ALLOWED_ORIGINS (config allowedOrigins)",
    );
    Some(
        ApiError {
            error,
            status: Some(StatusCode::FORBIDDEN),
        }
        .into_response(),
    )
}

/// Whether `origin` (`http://host:port`) names the host the request was sent to.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    [HOST.as_str(), "x-forwarded-host"].iter().any(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(authority))
    })
}

/// 404 for an unknown route.
pub(crate) async fn not_found(req: Request) -> ApiError {
    Error::new(
        Code::NotFound,
        format!("No route for {} {}", req.method(), req.uri().path()),
    )
    .with_suggestion(
        "See the route table: /api/projects, /api/tasks, /api/sessions, /api/events, /ws",
    )
    .into()
}

/// 405 for a known route with the wrong method.
pub(crate) async fn method_not_allowed(req: Request) -> ApiError {
    ApiError {
        error: Error::invalid_argument(format!(
            "{} is not allowed on {}",
            req.method(),
            req.uri().path()
        ))
        .with_suggestion("Check the method against the protocol route table"),
        status: Some(StatusCode::METHOD_NOT_ALLOWED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_make_the_op_context() {
        let mut h = HeaderMap::new();
        h.insert("idempotency-key", HeaderValue::from_static("k-1"));
        h.insert("x-maestro-session", HeaderValue::from_static("s-abc"));
        h.insert("if-match", HeaderValue::from_static("\"7\""));
        let ctx = from_headers(&h).unwrap();
        assert_eq!(ctx.op.op_id.as_deref(), Some("http:k-1"));
        assert_eq!(ctx.op.session_id.as_deref(), Some("s-abc"));
        assert_eq!(ctx.if_match, Some(7));
        h.insert("if-match", HeaderValue::from_static("seven"));
        assert_eq!(
            from_headers(&h).unwrap_err().error.code(),
            Code::InvalidArgument
        );
    }

    fn ws_request(protocols: &[&str]) -> Request {
        let mut b = Request::builder().uri("/ws");
        for p in protocols {
            b = b.header(SEC_WEBSOCKET_PROTOCOL, *p);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn websocket_subprotocol_carries_the_token() {
        // "s3cret/+=" in base64url, as a browser sends it next to "maestro".
        let req = ws_request(&["maestro, bearer.czNjcmV0Lys9"]);
        assert_eq!(presented_token(&req).as_deref(), Some("s3cret/+="));
        // Several header lines, padding tolerated.
        let req = ws_request(&["maestro", "bearer.czNjcmV0Lys9"]);
        assert_eq!(presented_token(&req).as_deref(), Some("s3cret/+="));
        let req = ws_request(&["bearer.dG9r=="]);
        assert_eq!(presented_token(&req).as_deref(), Some("tok"));
        // Not base64url, or no bearer entry: no token.
        assert_eq!(presented_token(&ws_request(&["bearer.a+b/"])), None);
        assert_eq!(presented_token(&ws_request(&["maestro"])), None);
        assert_eq!(presented_token(&ws_request(&["bearer.x"])), None);
        // Only on /ws: the REST API takes the Authorization header.
        let req = Request::builder()
            .uri("/api/tasks")
            .header(SEC_WEBSOCKET_PROTOCOL, "bearer.dG9r")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(presented_token(&req), None);
    }

    #[test]
    fn base64url_decodes_every_length() {
        for (enc, dec) in [
            ("", &b""[..]),
            ("Zg", b"f"),
            ("Zm8", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg", b"foob"),
            ("_-8", &[0xff, 0xef]),
        ] {
            assert_eq!(base64url_decode(enc).as_deref(), Some(dec), "{enc}");
        }
        assert_eq!(base64url_decode("Zm9vY"), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn missing_fields_get_their_own_code() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct B {
            name: String,
        }
        let e = serde_json::from_str::<B>("{}").unwrap_err();
        assert_eq!(json_error(e).error.code(), Code::MissingRequiredField);
        let e = serde_json::from_str::<B>("{").unwrap_err();
        assert_eq!(json_error(e).error.code(), Code::InvalidArgument);
    }
}
