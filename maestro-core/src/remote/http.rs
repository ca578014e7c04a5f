//! [`HttpStore`]: the [`Store`] trait over the REST API of `maestro serve`.

use super::url::{encode_segment, http_base};
use crate::error::{Code, Error, Result};
use crate::id::{IdKind, new_id};
use crate::model::*;
use crate::protocol::{CLIENT_HEADER, IDEMPOTENCY_HEADER, SESSION_HEADER};
use crate::retry::{RetryPolicy, debug_from_env, should_retry};
use crate::store::*;
use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest time spent establishing one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to suggest when the server cannot be reached.
pub const UNREACHABLE_SUGGESTION: &str =
    "Start the server with 'maestro serve' or check --server / MAESTRO_API_URL";

/// A [`Store`] backed by a Maestro server's REST API.
///
/// Every call is retried according to its [`RetryPolicy`] (connection failures, timeouts
/// and retryable 5xx answers; never 4xx). Every mutating request carries an
/// `Idempotency-Key` chosen once per logical call (the caller's `OpContext::op_id`, or a
/// fresh op id) and reused by all its retries, so a retry whose first answer was lost is not
/// applied twice. `OpContext::session_id` travels as `X-Maestro-Session`.
#[derive(Clone)]
pub struct HttpStore {
    base: String,
    token: Option<String>,
    policy: RetryPolicy,
    timeout: Duration,
    debug: bool,
    client: reqwest::Client,
    /// This client instance, for the server to scope idempotency keys of calls without a
    /// session.
    client_id: String,
}

impl std::fmt::Debug for HttpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStore")
            .field("url", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One logical REST call, repeatable across retries.
struct Call<'a> {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// The idempotency key (mutations only), chosen once for all attempts.
    key: Option<String>,
    session: Option<&'a str>,
    /// The caller's client identity, when it names one (else this store's own).
    client: Option<&'a str>,
    if_match: Option<i64>,
}

impl<'a> Call<'a> {
    fn get(path: String) -> Self {
        Call {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            key: None,
            session: None,
            client: None,
            if_match: None,
        }
    }

    /// A mutation: the key is the caller's op id or a fresh one.
    fn mutate(method: Method, path: String, op: Option<&'a OpContext>, body: Value) -> Self {
        Call {
            method,
            path,
            query: Vec::new(),
            body: Some(body),
            key: Some(
                op.and_then(|o| o.op_id.clone())
                    .unwrap_or_else(|| new_id(IdKind::Op)),
            ),
            session: op.and_then(|o| o.session_id.as_deref()),
            client: op.and_then(|o| o.client_id.as_deref()),
            if_match: None,
        }
    }

    fn query(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.query.push((name, v.to_string()));
        }
        self
    }
}

fn seg(s: &str) -> String {
    encode_segment(s)
}

fn to_body<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("request bodies always serialize")
}

/// Query pairs of a filter: its non-null camelCase fields, booleans only when true.
fn filter_query<T: serde::Serialize>(filter: &T) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Value::Object(m) = to_body(filter) {
        for (k, v) in m {
            let k: &'static str = match k.as_str() {
                "projectId" => "projectId",
                "status" => "status",
                "priority" => "priority",
                "label" => "label",
                "ready" => "ready",
                "sessionId" => "sessionId",
                "active" => "active",
                "limit" => "limit",
                "cursor" => "cursor",
                _ => continue,
            };
            match v {
                Value::Null | Value::Bool(false) => {}
                Value::String(s) => out.push((k, s)),
                other => out.push((k, other.to_string())),
            }
        }
    }
    out
}

fn status_route(action: &StatusAction) -> &'static str {
    match action {
        StatusAction::Start => "start",
        StatusAction::Complete => "complete",
        StatusAction::Block { .. } => "block",
        StatusAction::Reopen => "reopen",
        StatusAction::Cancel => "cancel",
        StatusAction::Release { .. } => "release",
    }
}

fn status_body(change: &StatusChange) -> Value {
    let mut body = json!({ "force": change.force });
    if let Some(v) = change.expected_version {
        body["expectedVersion"] = json!(v);
    }
    match &change.action {
        StatusAction::Block { reason } => body["reason"] = json!(reason),
        StatusAction::Release { reason } => body = json!({ "reason": reason }),
        _ => {}
    }
    body
}

/// The error of a non-2xx answer: the server's error object, or one made from the status.
pub(crate) fn error_from_response(status: u16, body: &[u8]) -> Error {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(e) = Error::from_json(&v)
    {
        return e;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let snippet: String = text.chars().take(200).collect();
    let details = json!({ "status": status, "body": snippet });
    match status {
        401 | 403 => Error::new(
            Code::Unauthorized,
            format!("The server refused the credentials (HTTP {status})"),
        )
        .with_details(details)
        .with_suggestion("Pass the server's token with --token or MAESTRO_TOKEN"),
        413 => Error::new(
            Code::PayloadTooLarge,
            "The request body is too large (HTTP 413)",
        )
        .with_details(details)
        .with_suggestion("Send less data in one request (bodies are limited to 1 MiB)"),
        s => {
            let msg = if snippet.is_empty() {
                format!("The server answered HTTP {s}")
            } else {
                format!("The server answered HTTP {s}: {snippet}")
            };
            let e = Error::new(Code::ServerError, msg)
                .with_details(details)
                .with_retryable(s >= 500);
            if s >= 500 {
                e.with_suggestion("Retry later; check the server's logs if it persists")
            } else {
                e.with_suggestion(
                    "Check that --server / MAESTRO_API_URL points at a Maestro server of the same version",
                )
            }
        }
    }
}

/// Classifies a transport failure of one attempt.
fn transport_error(e: &reqwest::Error, url: &str, timeout: Duration) -> Error {
    if e.is_builder() {
        return Error::invalid_argument(format!("Cannot send a request to '{url}': {e}"))
            .with_details(json!({ "url": url }))
            .with_suggestion(
                "Check --server / MAESTRO_API_URL (this build speaks plain http:// only)",
            );
    }
    if e.is_timeout() {
        return Error::new(
            Code::Timeout,
            format!(
                "The server at {url} did not answer within {} s",
                timeout.as_secs_f64()
            ),
        )
        .with_details(json!({ "url": url, "timeoutMs": timeout.as_millis() as u64 }));
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut refused = false;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            refused = true;
            break;
        }
        source = s.source();
    }
    if refused {
        Error::new(
            Code::ConnectionRefused,
            format!("Could not connect to the Maestro server at {url}: connection refused"),
        )
        .with_details(json!({ "url": url }))
    } else {
        let mut msg = e.to_string();
        let mut s = std::error::Error::source(e);
        while let Some(inner) = s {
            msg.push_str(": ");
            msg.push_str(&inner.to_string());
            s = inner.source();
        }
        Error::new(
            Code::NetworkError,
            format!("Network error talking to the Maestro server at {url}: {msg}"),
        )
        .with_details(json!({ "url": url }))
    }
}

/// Gives a transport error its final form after the last attempt: retryable, with the number
/// of attempts and an actionable suggestion.
fn finalize(err: Error, attempts: u32, base: &str) -> Error {
    if !matches!(
        err.code(),
        Code::ConnectionRefused | Code::NetworkError | Code::Timeout
    ) {
        return err;
    }
    let mut details = err.details().clone();
    if let Value::Object(m) = &mut details {
        m.insert("attempts".into(), json!(attempts));
        m.entry("url").or_insert_with(|| json!(base));
    }
    let suggestion = match err.code() {
        Code::ConnectionRefused => UNREACHABLE_SUGGESTION.to_string(),
        Code::Timeout => format!(
            "The server is slow or overloaded; retry later, or check it with 'curl {base}/health'"
        ),
        _ => format!(
            "Check the network and that the server is up ('curl {base}/health'); the call is safe to retry"
        ),
    };
    let message = if attempts > 1 {
        format!("{} (after {attempts} attempts)", err.message())
    } else {
        err.message().to_string()
    };
    Error::from_body(crate::ErrorBody {
        code: err.code(),
        message,
        details,
        suggestion: Some(suggestion),
        retryable: true,
    })
}

impl HttpStore {
    /// A store talking to the server at `url` (e.g. `http://127.0.0.1:3000`), sending
    /// `Authorization: Bearer <token>` when a token is given. No I/O happens here.
    pub fn new(url: &str, token: Option<String>, policy: RetryPolicy) -> Result<Self> {
        let base = http_base(url)?;
        let token = token.filter(|t| !t.trim().is_empty());
        if let Some(t) = &token
            && (t.contains('\n') || t.contains('\r'))
        {
            return Err(Error::invalid_argument("The token contains a line break")
                .with_suggestion(
                    "Check MAESTRO_TOKEN (or config token) against the server's --token",
                ));
        }
        let mut store = Self {
            base,
            token,
            policy,
            timeout: DEFAULT_TIMEOUT,
            debug: debug_from_env(),
            client: reqwest::Client::new(),
            client_id: new_id(IdKind::Op),
        };
        store.client = store.build_client()?;
        Ok(store)
    }

    /// The same store with another per-request timeout (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self> {
        self.timeout = timeout;
        self.client = self.build_client()?;
        Ok(self)
    }

    /// The same store with retries printed to stderr or not (default: `MAESTRO_DEBUG`).
    pub fn with_debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    fn build_client(&self) -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(self.timeout))
            // Below the server's 30 s deadline for a request's headers, so an idle pooled
            // connection is dropped here before the server closes it under a new request.
            .pool_idle_timeout(Duration::from_secs(20))
            .user_agent(concat!("maestro/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET /health`: `{status, version, uptime_s, db, ws_clients}` (with retries).
    pub async fn health(&self) -> Result<Value> {
        self.run(Call::get("/health".into())).await
    }

    /// Runs one logical call with retries.
    async fn run<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        let mut attempt: u32 = 0;
        loop {
            match self.attempt(&call).await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.policy.retries && should_retry(&e) => {
                    let delay = self.policy.random_delay(attempt);
                    if self.debug {
                        eprintln!(
                            "maestro: {} {} failed (attempt {}/{}): {} [{}]; retrying in {} ms",
                            call.method,
                            call.path,
                            attempt + 1,
                            self.policy.attempts(),
                            e.message(),
                            e.code(),
                            delay.as_millis()
                        );
                    }
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(finalize(e, attempt + 1, &self.base)),
            }
        }
    }

    /// One attempt of a call.
    async fn attempt<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T> {
        let url = format!("{}{}", self.base, call.path);
        let mut req = self.client.request(call.method.clone(), &url);
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = &call.key {
            req = req.header(IDEMPOTENCY_HEADER, k.as_str());
        }
        if let Some(s) = call.session {
            req = req.header(SESSION_HEADER, s);
        }
        req = req.header(
            CLIENT_HEADER,
            call.client.unwrap_or(self.client_id.as_str()),
        );
        if let Some(v) = call.if_match {
            req = req.header(reqwest::header::IF_MATCH, v.to_string());
        }
        if let Some(b) = call.body.as_ref().filter(|b| !b.is_null()) {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(&e, &self.base, self.timeout))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&e, &self.base, self.timeout))?;
        if !status.is_success() {
            return Err(error_from_response(status.as_u16(), &bytes));
        }
        let bytes: &[u8] = if bytes.is_empty() || status == StatusCode::NO_CONTENT {
            b"null"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                Code::ServerError,
                format!(
                    "Unexpected answer from the server to {} {}: {e}",
                    call.method, call.path
                ),
            )
            .with_details(json!({ "status": status.as_u16() }))
            .with_retryable(false)
            .with_suggestion("Check that the server runs the same Maestro version as this client")
        })
    }
}

#[derive(serde::Deserialize)]
struct EventsAnswer {
    events: Vec<Event>,
}

impl HttpStore {
    /// The smallest page of the log; its answer carries the bounds of the log.
    async fn event_bounds(&self) -> Result<EventBounds> {
        self.run(
            Call::get("/api/events".into())
                .query("since", Some(0))
                .query("limit", Some(1)),
        )
        .await
    }
}

#[derive(serde::Deserialize)]
struct EventBounds {
    #[serde(rename = "latestSeq")]
    latest_seq: i64,
    #[serde(rename = "oldestSeq")]
    oldest_seq: i64,
}

/// The server's answer to a project creation: the project, and whether it was created.
#[derive(serde::Deserialize)]
struct CreatedProject {
    #[serde(flatten)]
    project: Project,
    #[serde(default = "yes")]
    created: bool,
}

fn yes() -> bool {
    true
}

fn kept_by_server(what: &str) -> Error {
    Error::invalid_argument(format!("The server {what} on its own schedule"))
        .with_suggestion("Configure it on the server (maestro serve); clients cannot ask for it")
}

#[async_trait]
impl Store for HttpStore {
    fn location(&self) -> String {
        self.base.clone()
    }

    fn server(&self) -> Option<ServerInfo> {
        Some(ServerInfo {
            url: self.base.clone(),
            token: self.token.clone(),
        })
    }

    // ---- projects ----

    async fn create_project(&self, op: &OpContext, new: NewProject) -> Result<ProjectInit> {
        let answer: CreatedProject = self
            .run(Call::mutate(
                Method::POST,
                "/api/projects".into(),
                Some(op),
                to_body(&new),
            ))
            .await?;
        Ok(ProjectInit {
            project: answer.project,
            created: answer.created,
        })
    }

    async fn set_default_project(&self, op: &OpContext, id: &str) -> Result<Project> {
        self.run(Call::mutate(
            Method::POST,
            format!("/api/projects/{}/default", seg(id)),
            Some(op),
            json!({}),
        ))
        .await
    }

    async fn list_projects(&self) -> Result<Vec<Project>> {
        self.run(Call::get("/api/projects".into())).await
    }

    async fn get_project(&self, id: &str) -> Result<Project> {
        self.run(Call::get(format!("/api/projects/{}", seg(id))))
            .await
    }

    async fn resolve_project(&self, project_id: Option<&str>) -> Result<Project> {
        match project_id {
            Some(id) => self.get_project(id).await,
            None => self.run(Call::get("/api/projects/default".into())).await,
        }
    }

    // ---- tasks ----

    async fn create_task(&self, op: &OpContext, new: NewTask) -> Result<Task> {
        self.run(Call::mutate(
            Method::POST,
            "/api/tasks".into(),
            Some(op),
            to_body(&new),
        ))
        .await
    }

    async fn create_tasks(&self, op: &OpContext, new: Vec<NewTask>) -> Result<Vec<Task>> {
        self.run(Call::mutate(
            Method::POST,
            "/api/tasks/batch".into(),
            Some(op),
            json!({ "tasks": new }),
        ))
        .await
    }

    async fn get_task(&self, id: &str) -> Result<TaskDetail> {
        self.run(Call::get(format!("/api/tasks/{}", seg(id)))).await
    }

    async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>> {
        let mut call = Call::get("/api/tasks".into());
        call.query = filter_query(&filter);
        self.run(call).await
    }

    async fn update_task(&self, op: &OpContext, id: &str, patch: TaskPatch) -> Result<Task> {
        let mut call = Call::mutate(
            Method::PATCH,
            format!("/api/tasks/{}", seg(id)),
            Some(op),
            to_body(&patch),
        );
        call.if_match = patch.expected_version;
        self.run(call).await
    }

    async fn change_status(&self, op: &OpContext, id: &str, change: StatusChange) -> Result<Task> {
        let path = format!("/api/tasks/{}/{}", seg(id), status_route(&change.action));
        self.run(Call::mutate(
            Method::POST,
            path,
            Some(op),
            status_body(&change),
        ))
        .await
    }

    async fn delete_task(&self, op: &OpContext, id: &str) -> Result<Task> {
        self.run(Call::mutate(
            Method::DELETE,
            format!("/api/tasks/{}", seg(id)),
            Some(op),
            Value::Null,
        ))
        .await
    }

    async fn ready_tasks(&self, project_id: Option<&str>, limit: usize) -> Result<Vec<Task>> {
        self.run(
            Call::get("/api/tasks/ready".into())
                .query("projectId", project_id)
                .query("limit", Some(limit)),
        )
        .await
    }

    async fn claim(&self, op: &OpContext, claim: ClaimRequest) -> Result<Task> {
        let path = match &claim.task_id {
            Some(id) => format!("/api/tasks/{}/claim", seg(id)),
            None => "/api/tasks/claim".into(),
        };
        self.run(Call::mutate(Method::POST, path, Some(op), to_body(&claim)))
            .await
    }

    // ---- timeline ----

    async fn add_timeline(
        &self,
        op: &OpContext,
        task_id: &str,
        kind: TimelineKind,
    ) -> Result<TimelineEntry> {
        self.run(Call::mutate(
            Method::POST,
            format!("/api/tasks/{}/timeline", seg(task_id)),
            Some(op),
            to_body(&kind),
        ))
        .await
    }

    async fn timeline(&self, task_id: &str, query: TimelineQuery) -> Result<Page<TimelineEntry>> {
        self.run(
            Call::get(format!("/api/tasks/{}/timeline", seg(task_id)))
                .query("limit", query.limit)
                .query("cursor", query.cursor),
        )
        .await
    }

    // ---- subtasks ----

    async fn create_subtask(
        &self,
        op: &OpContext,
        task_id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<Subtask> {
        let mut body = json!({ "title": title });
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        self.run(Call::mutate(
            Method::POST,
            format!("/api/tasks/{}/subtasks", seg(task_id)),
            Some(op),
            body,
        ))
        .await
    }

    async fn list_subtasks(&self, task_id: &str) -> Result<Vec<Subtask>> {
        self.run(Call::get(format!("/api/tasks/{}/subtasks", seg(task_id))))
            .await
    }

    async fn update_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
        patch: SubtaskPatch,
    ) -> Result<Subtask> {
        self.run(Call::mutate(
            Method::PATCH,
            subtask_path(task_id, subtask_id)?,
            Some(op),
            to_body(&patch),
        ))
        .await
    }

    async fn delete_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
    ) -> Result<Subtask> {
        self.run(Call::mutate(
            Method::DELETE,
            subtask_path(task_id, subtask_id)?,
            Some(op),
            Value::Null,
        ))
        .await
    }

    // ---- sessions ----

    async fn create_session(&self, op: &OpContext, new: NewSession) -> Result<Session> {
        let path = if new.spawn {
            "/api/sessions/spawn"
        } else {
            "/api/sessions"
        };
        self.run(Call::mutate(
            Method::POST,
            path.into(),
            Some(op),
            to_body(&new),
        ))
        .await
    }

    async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>> {
        let mut call = Call::get("/api/sessions".into());
        call.query = filter_query(&filter);
        self.run(call).await
    }

    async fn get_session(&self, id: &str) -> Result<Session> {
        self.run(Call::get(format!("/api/sessions/{}", seg(id))))
            .await
    }

    async fn update_session(
        &self,
        op: &OpContext,
        id: &str,
        patch: SessionPatch,
    ) -> Result<Session> {
        self.run(Call::mutate(
            Method::PATCH,
            format!("/api/sessions/{}", seg(id)),
            Some(op),
            to_body(&patch),
        ))
        .await
    }

    async fn heartbeat(&self, op: &OpContext, id: &str) -> Result<Session> {
        self.run(Call::mutate(
            Method::POST,
            format!("/api/sessions/{}/heartbeat", seg(id)),
            Some(op),
            json!({}),
        ))
        .await
    }

    async fn claim_spawn(&self, op: &OpContext, id: &str, host: &str) -> Result<Option<Session>> {
        self.run(Call::mutate(
            Method::POST,
            format!("/api/sessions/{}/claim-spawn", seg(id)),
            Some(op),
            json!({ "host": host }),
        ))
        .await
    }

    /// The server keeps leases: it reaps on its own schedule and before its operations.
    async fn any_expired(&self, _lease: Duration) -> Result<bool> {
        Ok(false)
    }

    async fn reap_expired(&self, _op: &OpContext, _lease: Duration) -> Result<Vec<Session>> {
        Ok(Vec::new())
    }

    // ---- events and status ----

    // ---- worktrees and the merge queue ----

    async fn set_task_worktree(
        &self,
        op: &OpContext,
        task_id: &str,
        worktree: Option<TaskWorktree>,
    ) -> Result<Task> {
        self.run(Call::mutate(
            Method::PUT,
            format!("/api/tasks/{}/worktree", seg(task_id)),
            Some(op),
            json!({ "worktree": worktree }),
        ))
        .await
    }

    async fn enqueue_merge(&self, op: &OpContext, req: MergeEnqueue) -> Result<ProjectQueue> {
        self.run(Call::mutate(
            Method::POST,
            "/api/merges".into(),
            Some(op),
            to_body(&req),
        ))
        .await
    }

    async fn start_merge(
        &self,
        op: &OpContext,
        project_id: &str,
        target: &str,
    ) -> Result<Option<crate::worktree::QueueEntry>> {
        self.run(Call::mutate(
            Method::POST,
            "/api/merges/start".into(),
            Some(op),
            json!({ "projectId": project_id, "target": target }),
        ))
        .await
    }

    async fn finish_merge(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        result: MergeResult,
    ) -> Result<ProjectQueue> {
        self.run(Call::mutate(
            Method::POST,
            "/api/merges/finish".into(),
            Some(op),
            json!({ "taskId": task_id, "target": target, "result": result }),
        ))
        .await
    }

    async fn merge_step(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        step: crate::worktree::Progress,
    ) -> Result<()> {
        let _: Value = self
            .run(Call::mutate(
                Method::POST,
                "/api/merges/step".into(),
                Some(op),
                json!({ "taskId": task_id, "target": target, "step": step }),
            ))
            .await?;
        Ok(())
    }

    async fn merge_queues(&self, project_id: Option<&str>) -> Result<Vec<ProjectQueue>> {
        self.run(Call::get("/api/merges".into()).query("projectId", project_id))
            .await
    }

    async fn events_since(
        &self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>> {
        let projects = (!projects.is_empty()).then(|| projects.join(","));
        let answer: EventsAnswer = self
            .run(
                Call::get("/api/events".into())
                    .query("since", Some(since))
                    .query("limit", Some(limit))
                    .query("projects", projects),
            )
            .await?;
        Ok(answer.events)
    }

    async fn latest_seq(&self) -> Result<i64> {
        Ok(self.event_bounds().await?.latest_seq)
    }

    async fn oldest_seq(&self) -> Result<i64> {
        Ok(self.event_bounds().await?.oldest_seq)
    }

    async fn prune_events(&self, _keep: usize) -> Result<u64> {
        Err(kept_by_server("prunes its event log"))
    }

    async fn prune_op_records(&self, _retention: Duration) -> Result<u64> {
        Err(kept_by_server("prunes idempotency records"))
    }

    async fn status(&self, project_id: Option<&str>) -> Result<StatusReport> {
        self.run(Call::get("/api/status".into()).query("projectId", project_id))
            .await
    }
}

/// The route of a subtask: through its task when the caller names it (which the server
/// then checks), else by its own id.
fn subtask_path(task_id: Option<&str>, subtask_id: &str) -> Result<String> {
    Ok(match task_id {
        Some(t) => format!("/api/tasks/{}/subtasks/{}", seg(t), seg(subtask_id)),
        None => format!("/api/subtasks/{}", seg(subtask_id)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_query_pairs() {
        let q = filter_query(&TaskFilter {
            project_id: Some("p-1".into()),
            status: Some(TaskStatus::InProgress),
            ready: true,
            limit: Some(5),
            ..Default::default()
        });
        let mut q: Vec<_> = q.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        q.sort();
        assert_eq!(
            q,
            [
                "limit=5",
                "projectId=p-1",
                "ready=true",
                "status=in_progress"
            ]
        );
        assert!(filter_query(&SessionFilter::default()).is_empty());
        let q = filter_query(&SessionFilter {
            active: true,
            ..Default::default()
        });
        assert_eq!(q, [("active", "true".to_string())]);
    }

    #[test]
    fn status_changes_map_to_routes_and_bodies() {
        let block = StatusChange::new(StatusAction::Block {
            reason: "waiting".into(),
        });
        assert_eq!(status_route(&block.action), "block");
        assert_eq!(
            status_body(&block),
            json!({"force": false, "reason": "waiting"})
        );
        let mut start = StatusChange::new(StatusAction::Start);
        start.force = true;
        start.expected_version = Some(3);
        assert_eq!(status_route(&start.action), "start");
        assert_eq!(
            status_body(&start),
            json!({"force": true, "expectedVersion": 3})
        );
        let rel = StatusChange::new(StatusAction::Release { reason: "r".into() });
        assert_eq!(status_route(&rel.action), "release");
        assert_eq!(status_body(&rel), json!({"reason": "r"}));
    }

    #[test]
    fn error_answers_are_decoded() {
        let body = serde_json::to_vec(&Error::task_not_found("t-9").to_json()).unwrap();
        let e = error_from_response(404, &body);
        assert_eq!(e.code(), Code::TaskNotFound);
        assert!(e.suggestion().unwrap().contains("task list"));

        let e = error_from_response(502, b"<html>Bad Gateway</html>");
        assert_eq!(e.code(), Code::ServerError);
        assert_eq!(e.details()["status"], 502);
        assert!(e.retryable() && should_retry(&e));

        let e = error_from_response(404, b"");
        assert_eq!(e.code(), Code::ServerError);
        assert!(!e.retryable() && !should_retry(&e));

        assert_eq!(error_from_response(401, b"").code(), Code::Unauthorized);
        assert_eq!(
            error_from_response(413, b"too big").code(),
            Code::PayloadTooLarge
        );
    }

    #[test]
    fn final_transport_errors_are_retryable_with_a_suggestion() {
        let e = finalize(
            Error::new(Code::ConnectionRefused, "refused").with_retryable(false),
            4,
            "http://127.0.0.1:9",
        );
        assert!(e.retryable());
        assert_eq!(e.suggestion(), Some(UNREACHABLE_SUGGESTION));
        assert_eq!(e.details()["attempts"], 4);
        assert_eq!(e.details()["url"], "http://127.0.0.1:9");
        assert_eq!(e.exit_code(), 5);
        let nf = finalize(Error::task_not_found("t-1"), 1, "http://h");
        assert_eq!(nf.details(), Error::task_not_found("t-1").details());
    }

    #[test]
    fn subtask_paths() {
        assert_eq!(
            subtask_path(Some("t-1"), "st-2").unwrap(),
            "/api/tasks/t-1/subtasks/st-2"
        );
        assert_eq!(subtask_path(None, "st-2").unwrap(), "/api/subtasks/st-2");
    }

    #[test]
    fn construction_validates_the_url() {
        let s = HttpStore::new("127.0.0.1:3000/", Some("tok".into()), RetryPolicy::none()).unwrap();
        assert_eq!(s.location(), "http://127.0.0.1:3000");
        assert!(!format!("{s:?}").contains("tok\""));
        assert!(HttpStore::new("ftp://x", None, RetryPolicy::none()).is_err());
        assert!(HttpStore::new("http://h", Some("a\nb".into()), RetryPolicy::none()).is_err());
    }
}
