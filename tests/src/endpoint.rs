//! A scripted model endpoint on loopback for the real coding-agent CLIs.
//!
//! One [`ModelEndpoint`] serves the three wire protocols the CLIs speak:
//! - Anthropic Messages streaming, `POST /v1/messages` (Claude Code, `ANTHROPIC_BASE_URL`);
//! - the OpenAI Responses API streaming, `POST /v1/responses` (Codex, a `model_providers`
//!   entry with `wire_api = "responses"`);
//! - the Gemini API, `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` and
//!   `:generateContent` (Gemini CLI, `GOOGLE_GEMINI_BASE_URL`).
//!
//! A conversation is a [`Script`] of [`Turn`]s in neutral terms (run a shell command, write a
//! file with the agent's own file tool, say text, finish), each with the usage it reports.
//! Every request of a conversation carries its whole history, so the endpoint answers a
//! request with the turn whose index is the number of model turns already in that history
//! (a resumed conversation goes on where it stopped),
//! mapped onto the tool names the CLI offered in the request (`Bash`/`Write`,
//! `exec_command`/`apply_patch`, `run_shell_command`/`write_file`). Requests without tools
//! (titles, routing, summaries) are side calls: they get a short answer (JSON shaped by the
//! request's response schema when it has one) and report no usage.
//!
//! Everything is recorded: the requests, the tool results the CLIs sent back (so a test can
//! assert that none was a refusal), the usage served on the scripted turns, and any request
//! that was meant for another host. Point `HTTPS_PROXY`/`HTTP_PROXY` at [`ModelEndpoint::url`]
//! (with `NO_PROXY` for loopback) and a CLI that tries to reach anything else lands here as
//! an [`ModelEndpoint::escaped`] entry instead of leaving the machine.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Tokens one model turn reports. `input` counts every prompt token, cached ones included;
/// `cached` is the part read from the prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cached: u64,
}

impl Usage {
    pub fn new(input: u64, output: u64, cached: u64) -> Self {
        Self {
            input,
            output,
            cached,
        }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Self) {
        self.input += o.input;
        self.output += o.output;
        self.cached += o.cached;
    }
}

/// What the model does in a turn, besides talking.
///
/// Strings may hold `{cwd}` (the agent's working directory, read from its request) and
/// `{task}` (the word after "Your task is " in the prompt: the Maestro task id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a command with the agent's shell tool.
    Shell(String),
    /// Write a file (path relative to the working directory) with the agent's file tool.
    WriteFile { path: String, content: String },
    /// Call a tool the CLI offers by its name there (e.g. an MCP server's tool,
    /// `mcp__maestro__claim` in Claude Code), with these arguments.
    Tool { name: String, input: Value },
    /// Answer with an HTTP error instead of a turn (status, error type, message).
    Fail {
        status: u16,
        kind: String,
        message: String,
    },
}

/// One model turn: optional text, at most one action, the usage it reports. A turn without
/// an action ends the conversation (the model's final message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub text: Option<String>,
    pub action: Option<Action>,
    pub usage: Usage,
    /// How long the model "thinks" before answering this turn.
    pub delay: std::time::Duration,
}

impl Turn {
    pub fn shell(cmd: impl Into<String>) -> Self {
        Self::with(Action::Shell(cmd.into()))
    }
    pub fn write(path: impl Into<String>, content: impl Into<String>) -> Self {
        Self::with(Action::WriteFile {
            path: path.into(),
            content: content.into(),
        })
    }
    /// A call of the tool the CLI offers as `name`.
    pub fn tool(name: impl Into<String>, input: Value) -> Self {
        Self::with(Action::Tool {
            name: name.into(),
            input,
        })
    }
    /// The final turn: `text` and no tool call.
    pub fn finish(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            action: None,
            usage: Usage::new(100, 10, 0),
            delay: std::time::Duration::ZERO,
        }
    }
    /// An API error (e.g. 400 `invalid_request_error`; 4xx are not retried by the CLIs).
    pub fn fail(status: u16, kind: &str, message: &str) -> Self {
        Self::with(Action::Fail {
            status,
            kind: kind.into(),
            message: message.into(),
        })
    }
    fn with(action: Action) -> Self {
        Self {
            text: None,
            action: Some(action),
            usage: Usage::new(100, 10, 0),
            delay: std::time::Duration::ZERO,
        }
    }
    /// Text said before the action.
    pub fn say(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
    pub fn usage(mut self, input: u64, output: u64, cached: u64) -> Self {
        self.usage = Usage::new(input, output, cached);
        self
    }
    /// Answers this turn only after `delay` (a slow model, or a run to interrupt).
    pub fn after(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A conversation: the turns the model plays, in order, for every agent that calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub turns: Vec<Turn>,
}

impl Script {
    pub fn new(turns: Vec<Turn>) -> Self {
        Self { turns }
    }
    /// The sum of the usage the scripted turns report.
    pub fn total_usage(&self) -> Usage {
        let mut u = Usage::default();
        for t in &self.turns {
            u += t.usage;
        }
        u
    }
}

/// Which wire protocol a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    Anthropic,
    OpenAi,
    Gemini,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub api: Api,
    pub path: String,
    pub body: Value,
    /// A scripted turn (it offered tools) rather than a side call.
    pub main: bool,
    /// The turn index answered, for main requests.
    pub turn: Option<usize>,
}

/// A tool result a CLI sent back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    pub api: Api,
    pub call_id: String,
    pub text: String,
    pub is_error: bool,
}

impl ToolResult {
    /// Whether the result reads like a refusal rather than the tool's output.
    pub fn is_refusal(&self) -> bool {
        let t = self.text.to_lowercase();
        REFUSALS.iter().any(|r| t.contains(r))
    }
}

/// What a refused tool call says, across the three CLIs and their sandboxes.
pub const REFUSALS: &[&str] = &[
    "requires approval",
    "require approval",
    "permission",
    "denied",
    "not allowed",
    "haven't granted",
    "read-only file system",
    "readonly database",
    "rejected",
    "blocked by policy",
    "operation not permitted",
];

#[derive(Default)]
struct Inner {
    script: Script,
    requests: Vec<Recorded>,
    results: BTreeMap<(Api, String), ToolResult>,
    served: Vec<(Api, usize, Usage)>,
    escaped: Vec<String>,
    problems: Vec<String>,
    next_id: u64,
    /// The delay of the turn being answered.
    delay: std::time::Duration,
}

type Shared = Arc<Mutex<Inner>>;

/// The endpoint: an HTTP server on `127.0.0.1:<free port>` in a thread of its own; stops
/// when dropped.
pub struct ModelEndpoint {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ModelEndpoint {
    pub fn start(script: Script) -> Self {
        let state: Shared = Arc::new(Mutex::new(Inner {
            script,
            ..Default::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(state.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            url,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Every distinct tool result the CLIs sent back.
    pub fn tool_results(&self) -> Vec<ToolResult> {
        self.lock().results.values().cloned().collect()
    }

    /// The tool results that read like refusals.
    pub fn refusals(&self) -> Vec<ToolResult> {
        self.tool_results()
            .into_iter()
            .filter(ToolResult::is_refusal)
            .collect()
    }

    /// The scripted turns answered: (api, turn index, usage reported).
    pub fn served(&self) -> Vec<(Api, usize, Usage)> {
        self.lock().served.clone()
    }

    /// Requests meant for another host (through the proxy settings), e.g. `CONNECT host:443`.
    pub fn escaped(&self) -> Vec<String> {
        self.lock().escaped.clone()
    }

    /// What the endpoint could not do: a tool the script needs that the CLI did not offer, a
    /// request it could not read.
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// A readable account of the conversation so far, for assertion messages.
    pub fn transcript(&self) -> String {
        let s = self.lock();
        let mut out = String::new();
        for r in &s.requests {
            let _ = writeln!(
                out,
                "{:?} {} main={} turn={:?}",
                r.api, r.path, r.main, r.turn
            );
        }
        for r in s.results.values() {
            let text: String = r.text.chars().take(400).collect();
            let _ = writeln!(out, "  result {} error={}: {text}", r.call_id, r.is_error);
        }
        for e in &s.escaped {
            let _ = writeln!(out, "  escaped: {e}");
        }
        for p in &s.problems {
            let _ = writeln!(out, "  problem: {p}");
        }
        out
    }
}

impl Drop for ModelEndpoint {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let ours = uri.authority().is_none()
        || headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.starts_with("127.0.0.1") || h.starts_with("localhost"));
    if method == Method::CONNECT || uri.authority().is_some() && !ours {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.escaped.push(format!("{method} {uri}"));
        return plain(StatusCode::FORBIDDEN, "only loopback");
    }
    if method != Method::POST {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.problems
            .push(format!("unexpected request {method} {uri}"));
        return plain(StatusCode::NOT_FOUND, "not served here");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.problems.push(format!(
            "{path}: the body is not JSON ({} bytes)",
            body.len()
        ));
        return plain(StatusCode::BAD_REQUEST, "not JSON");
    };
    let (resp, delay) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.delay = std::time::Duration::ZERO;
        let resp = if path.starts_with("/v1/messages") {
            anthropic(&mut s, &path, req)
        } else if path.starts_with("/v1/responses") {
            openai(&mut s, &path, req)
        } else if let Some(rest) = path.strip_prefix("/v1beta/models/") {
            let streaming = rest.ends_with(":streamGenerateContent");
            gemini(&mut s, &path, req, streaming)
        } else {
            s.problems.push(format!("unexpected request POST {uri}"));
            plain(StatusCode::NOT_FOUND, "not served here")
        };
        (resp, s.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    resp
}

fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Body::from(text.to_string()))
        .unwrap()
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

fn sse(body: String) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from(body))
        .unwrap()
}

/// An SSE event with a name (Anthropic, OpenAI) or without (Gemini).
fn event(out: &mut String, name: Option<&str>, data: &Value) {
    if let Some(n) = name {
        let _ = writeln!(out, "event: {n}");
    }
    let _ = write!(out, "data: {data}\n\n");
}

/// Every string in a JSON value, concatenated with newlines (to search prompts).
fn all_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| all_text(x, out)),
        Value::Object(o) => o.values().for_each(|x| all_text(x, out)),
        _ => {}
    }
}

/// The working directory and task id an agent's request names.
#[derive(Debug, Default)]
struct Context {
    cwd: String,
    task: String,
}

impl Context {
    fn read(text: &str, cwd_markers: &[&str]) -> Self {
        let after = |marker: &str| {
            text.find(marker).map(|i| {
                text[i + marker.len()..]
                    .trim_start()
                    .split(['\n', '<', '"'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
        };
        let cwd = cwd_markers
            .iter()
            .find_map(|m| after(m))
            .unwrap_or_default();
        let task = text
            .find("Your task is ")
            .map(|i| {
                text[i + "Your task is ".len()..]
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default();
        Self { cwd, task }
    }
    fn fill(&self, s: &str) -> String {
        s.replace("{cwd}", &self.cwd).replace("{task}", &self.task)
    }
    /// `input` with its strings filled in.
    fn fill_json(&self, input: &Value) -> Value {
        match input {
            Value::String(s) => Value::String(self.fill(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.fill_json(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.fill_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    fn abs(&self, path: &str) -> String {
        let p = self.fill(path);
        if p.starts_with('/') || self.cwd.is_empty() {
            p
        } else {
            format!("{}/{p}", self.cwd.trim_end_matches('/'))
        }
    }
}

/// The turn to play for a history of `calls` model turns, recorded as served.
fn next_turn(s: &mut Inner, api: Api, calls: usize) -> Option<Turn> {
    let turn = s.script.turns.get(calls).cloned();
    s.delay = turn.as_ref().map(|t| t.delay).unwrap_or_default();
    match &turn {
        Some(t) if !matches!(t.action, Some(Action::Fail { .. })) => {
            s.served.push((api, calls, t.usage))
        }
        Some(_) => {}
        None => s.problems.push(format!(
            "{api:?}: asked for turn {calls}, the script has {}",
            s.script.turns.len()
        )),
    }
    turn
}

fn id(s: &mut Inner, prefix: &str) -> String {
    s.next_id += 1;
    format!("{prefix}_{:04}", s.next_id)
}

fn record(s: &mut Inner, api: Api, path: &str, body: Value, main: bool, turn: Option<usize>) {
    s.requests.push(Recorded {
        api,
        path: path.to_string(),
        body,
        main,
        turn,
    });
}

fn fail(status: u16, body: &Value) -> Response {
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
}

/// The call for a turn's action on a CLI whose shell tool takes `{command}` and whose file
/// tool takes `{file_path, content}`; a tool the CLI did not offer is noted as a problem.
fn simple_call(
    s: &mut Inner,
    cli: &str,
    offered: &[String],
    turn: &Turn,
    ctx: &Context,
    shell: &str,
    write: &str,
) -> Option<(String, Value)> {
    let (name, args) = match turn.action.as_ref()? {
        Action::Tool { name, input } => (name.as_str(), ctx.fill_json(input)),
        Action::Shell(cmd) => (
            shell,
            json!({"command": ctx.fill(cmd), "description": "Run a command"}),
        ),
        Action::WriteFile { path, content } => (
            write,
            json!({"file_path": ctx.abs(path), "content": ctx.fill(content)}),
        ),
        Action::Fail { .. } => return None,
    };
    // A CLI may hold MCP tools back behind its tool search, so only its own are checked.
    let own = !matches!(turn.action, Some(Action::Tool { .. }));
    if own && !offered.iter().any(|t| t == name) {
        s.problems.push(format!(
            "{cli} offered no {name} tool (offered: {offered:?})"
        ));
    }
    Some((name.to_string(), args))
}

fn tool_names(tools: Option<&Value>, pick: impl Fn(&Value) -> Option<&str>) -> Vec<String> {
    tools
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(&pick).map(str::to_string).collect())
        .unwrap_or_default()
}

/// A JSON value shaped like `schema` (for side calls that ask for structured output).
fn sample(schema: &Value) -> Value {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_ascii_lowercase();
    if let Some(e) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return e.clone();
    }
    match ty.as_str() {
        "object" => {
            let mut o = serde_json::Map::new();
            if let Some(p) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in p {
                    o.insert(k.clone(), sample(v));
                }
            }
            Value::Object(o)
        }
        "array" => json!([]),
        "string" => json!("ok"),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

// ---------------------------------------------------------------------------------------
// Anthropic Messages

fn anthropic(s: &mut Inner, path: &str, req: Value) -> Response {
    if path.ends_with("/count_tokens") {
        record(s, Api::Anthropic, path, req, false, None);
        return json_response(StatusCode::OK, &json!({"input_tokens": 100}));
    }
    let tools = tool_names(req.get("tools"), |t| t.get("name")?.as_str());
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Tool results sent back.
    for m in &messages {
        for b in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if b.get("type").and_then(Value::as_str) == Some("tool_result") {
                let mut text = String::new();
                all_text(b.get("content").unwrap_or(&Value::Null), &mut text);
                let call_id = b["tool_use_id"].as_str().unwrap_or("").to_string();
                s.results.insert(
                    (Api::Anthropic, call_id.clone()),
                    ToolResult {
                        api: Api::Anthropic,
                        call_id,
                        text,
                        is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                    },
                );
            }
        }
    }
    let model = req["model"].as_str().unwrap_or("claude").to_string();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let main = tools.iter().any(|t| t == "Bash");
    if !main {
        record(s, Api::Anthropic, path, req, false, None);
        let msg_id = id(s, "msg");
        return anthropic_reply(&msg_id, &model, stream, Some("ok"), None, Usage::default());
    }
    let calls = messages
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .count();
    let mut text = String::new();
    all_text(req.get("system").unwrap_or(&Value::Null), &mut text);
    all_text(&Value::Array(messages), &mut text);
    let ctx = Context::read(&text, &["Primary working directory:"]);
    record(s, Api::Anthropic, path, req, true, Some(calls));
    let Some(turn) = next_turn(s, Api::Anthropic, calls) else {
        let msg_id = id(s, "msg");
        return anthropic_reply(
            &msg_id,
            &model,
            stream,
            Some("(end of script)"),
            None,
            Usage::default(),
        );
    };
    if let Some(Action::Fail {
        status,
        kind,
        message,
    }) = &turn.action
    {
        let body = json!({"type": "error", "error": {"type": kind, "message": message}});
        return fail(*status, &body);
    }
    let tool = simple_call(s, "Claude Code", &tools, &turn, &ctx, "Bash", "Write");
    let msg_id = id(s, "msg");
    let call = tool.map(|(n, input)| (id(s, "toolu"), n, input));
    anthropic_reply(
        &msg_id,
        &model,
        stream,
        turn.text.as_deref().map(|t| ctx.fill(t)).as_deref(),
        call,
        turn.usage,
    )
}

fn anthropic_reply(
    msg_id: &str,
    model: &str,
    stream: bool,
    text: Option<&str>,
    call: Option<(String, String, Value)>,
    u: Usage,
) -> Response {
    let stop = if call.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    let usage = json!({
        "input_tokens": u.input - u.cached,
        "cache_read_input_tokens": u.cached,
        "cache_creation_input_tokens": 0,
        "output_tokens": u.output,
    });
    if !stream {
        let mut content = Vec::new();
        if let Some(t) = text {
            content.push(json!({"type": "text", "text": t}));
        }
        if let Some((id, name, input)) = &call {
            content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        return json_response(
            StatusCode::OK,
            &json!({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                    "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage}),
        );
    }
    let mut out = String::new();
    let mut start_usage = usage.clone();
    start_usage["output_tokens"] = json!(1);
    event(
        &mut out,
        Some("message_start"),
        &json!({"type": "message_start", "message": {"id": msg_id, "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
    );
    let mut index = 0;
    if let Some(t) = text {
        event(
            &mut out,
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        );
        event(
            &mut out,
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}}),
        );
        event(
            &mut out,
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    if let Some((id, name, input)) = &call {
        event(
            &mut out,
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        );
        event(
            &mut out,
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
        );
        event(
            &mut out,
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": index}),
        );
    }
    event(
        &mut out,
        Some("message_delta"),
        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
    );
    event(
        &mut out,
        Some("message_stop"),
        &json!({"type": "message_stop"}),
    );
    sse(out)
}

// ---------------------------------------------------------------------------------------
// OpenAI Responses

fn openai(s: &mut Inner, path: &str, req: Value) -> Response {
    let tools = tool_names(req.get("tools"), |t| t.get("name")?.as_str());
    let input = req
        .get("input")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Model turns in the history: each call, and each assistant message not followed by
    // the call of the same turn.
    let is_call = |i: &Value| {
        matches!(
            i.get("type").and_then(Value::as_str),
            Some("function_call" | "custom_tool_call" | "local_shell_call")
        )
    };
    let mut calls = 0;
    for (n, item) in input.iter().enumerate() {
        if item.get("type").and_then(Value::as_str) == Some("message")
            && item.get("role").and_then(Value::as_str) == Some("assistant")
            && !input.get(n + 1).is_some_and(is_call)
        {
            calls += 1;
        }
        match item.get("type").and_then(Value::as_str) {
            Some("function_call" | "custom_tool_call" | "local_shell_call") => calls += 1,
            Some("function_call_output" | "custom_tool_call_output") => {
                let mut text = String::new();
                all_text(item.get("output").unwrap_or(&Value::Null), &mut text);
                let call_id = item["call_id"].as_str().unwrap_or("").to_string();
                s.results.insert(
                    (Api::OpenAi, call_id.clone()),
                    ToolResult {
                        api: Api::OpenAi,
                        call_id,
                        text,
                        is_error: false,
                    },
                );
            }
            _ => {}
        }
    }
    let model = req["model"].as_str().unwrap_or("gpt").to_string();
    let shell = ["exec_command", "shell_command", "shell"]
        .into_iter()
        .find(|n| tools.iter().any(|t| t == n));
    let main = shell.is_some();
    if !main {
        record(s, Api::OpenAi, path, req, false, None);
        return openai_reply(s, &model, Some("ok"), None, Usage::default());
    }
    let mut text = String::new();
    all_text(&Value::Array(input), &mut text);
    let ctx = Context::read(&text, &["<cwd>"]);
    let patch_kind = req["tools"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "apply_patch"))
        .and_then(|t| t["type"].as_str())
        .map(str::to_string);
    record(s, Api::OpenAi, path, req, true, Some(calls));
    let Some(turn) = next_turn(s, Api::OpenAi, calls) else {
        return openai_reply(s, &model, Some("(end of script)"), None, Usage::default());
    };
    let call = match &turn.action {
        Some(Action::Fail {
            status,
            kind,
            message,
        }) => {
            let body = json!({"error": {"type": kind, "code": kind, "message": message}});
            return fail(*status, &body);
        }
        Some(Action::Shell(cmd)) => {
            let cmd = ctx.fill(cmd);
            let name = shell.unwrap_or("exec_command");
            let args = match name {
                "exec_command" => json!({"cmd": cmd, "yield_time_ms": 30000}),
                "shell_command" => json!({"command": cmd}),
                _ => json!({"command": ["bash", "-lc", cmd]}),
            };
            Some(OpenAiCall::Function(name.to_string(), args.to_string()))
        }
        Some(Action::Tool { name, input }) => Some(OpenAiCall::Function(
            name.clone(),
            ctx.fill_json(input).to_string(),
        )),
        Some(Action::WriteFile { path, content }) => {
            let mut patch = format!("*** Begin Patch\n*** Add File: {}\n", ctx.fill(path));
            for line in ctx.fill(content).lines() {
                let _ = writeln!(patch, "+{line}");
            }
            patch.push_str("*** End Patch\n");
            match patch_kind.as_deref() {
                Some("custom") => Some(OpenAiCall::Custom("apply_patch".into(), patch)),
                Some(_) => Some(OpenAiCall::Function(
                    "apply_patch".into(),
                    json!({"input": patch}).to_string(),
                )),
                None => {
                    s.problems.push(format!(
                        "Codex offered no apply_patch tool (offered: {tools:?})"
                    ));
                    None
                }
            }
        }
        None => None,
    };
    openai_reply(
        s,
        &model,
        turn.text.as_deref().map(|t| ctx.fill(t)).as_deref(),
        call,
        turn.usage,
    )
}

enum OpenAiCall {
    Function(String, String),
    Custom(String, String),
}

fn openai_reply(
    s: &mut Inner,
    model: &str,
    text: Option<&str>,
    call: Option<OpenAiCall>,
    u: Usage,
) -> Response {
    let resp_id = id(s, "resp");
    let mut out = String::new();
    let mut seq = 0u64;
    let mut ev = |out: &mut String, mut v: Value| {
        v["sequence_number"] = json!(seq);
        seq += 1;
        let name = v["type"].as_str().unwrap_or("").to_string();
        event(out, Some(&name), &v);
    };
    ev(
        &mut out,
        json!({"type": "response.created", "response": {"id": resp_id, "object": "response",
            "status": "in_progress", "model": model, "output": []}}),
    );
    let mut output = Vec::new();
    if let Some(t) = text {
        let item_id = id(s, "msg");
        let item = json!({"type": "message", "id": item_id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": t, "annotations": []}]});
        let idx = output.len();
        ev(
            &mut out,
            json!({"type": "response.output_item.added", "output_index": idx,
                "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}}),
        );
        ev(
            &mut out,
            json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": idx,
                "content_index": 0, "delta": t}),
        );
        ev(
            &mut out,
            json!({"type": "response.output_item.done", "output_index": idx, "item": item}),
        );
        output.push(item);
    }
    if let Some(c) = call {
        let call_id = id(s, "call");
        let item_id = id(s, "fc");
        let item = match c {
            OpenAiCall::Function(name, arguments) => json!({"type": "function_call", "id": item_id,
                "call_id": call_id, "name": name, "arguments": arguments, "status": "completed"}),
            OpenAiCall::Custom(name, input) => json!({"type": "custom_tool_call", "id": item_id,
                "call_id": call_id, "name": name, "input": input, "status": "completed"}),
        };
        let idx = output.len();
        ev(
            &mut out,
            json!({"type": "response.output_item.added", "output_index": idx, "item": item}),
        );
        ev(
            &mut out,
            json!({"type": "response.output_item.done", "output_index": idx, "item": item}),
        );
        output.push(item);
    }
    ev(
        &mut out,
        json!({"type": "response.completed", "response": {"id": resp_id, "object": "response",
            "status": "completed", "model": model, "output": output,
            "usage": {"input_tokens": u.input, "input_tokens_details": {"cached_tokens": u.cached},
                      "output_tokens": u.output, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": u.input + u.output}}}),
    );
    sse(out)
}

// ---------------------------------------------------------------------------------------
// Gemini

fn gemini(s: &mut Inner, path: &str, req: Value, streaming: bool) -> Response {
    let tools: Vec<String> = req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t.get("functionDeclarations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|f| f.get("name")?.as_str().map(str::to_string))
        .collect();
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Model turns in the history: one model content each.
    let calls = contents
        .iter()
        .filter(|c| c.get("role").and_then(Value::as_str) == Some("model"))
        .count();
    for (i, c) in contents.iter().enumerate() {
        for (j, p) in c
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(r) = p.get("functionResponse") {
                let mut text = String::new();
                all_text(r.get("response").unwrap_or(&Value::Null), &mut text);
                let call_id = r
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{i}.{j}"));
                let is_error = r.get("response").and_then(|x| x.get("error")).is_some();
                s.results.insert(
                    (Api::Gemini, call_id.clone()),
                    ToolResult {
                        api: Api::Gemini,
                        call_id,
                        text,
                        is_error,
                    },
                );
            }
        }
    }
    let model = path
        .trim_start_matches("/v1beta/models/")
        .split(':')
        .next()
        .unwrap_or("gemini")
        .to_string();
    let main = !tools.is_empty();
    if !main {
        let schema = req
            .pointer("/generationConfig/responseJsonSchema")
            .or_else(|| req.pointer("/generationConfig/responseSchema"))
            .cloned();
        record(s, Api::Gemini, path, req, false, None);
        let text = match schema {
            Some(sc) => sample(&sc).to_string(),
            None => "ok".to_string(),
        };
        return gemini_reply(
            &model,
            streaming,
            Some(&text),
            None,
            Usage::default(),
            &id(s, "r"),
        );
    }
    let mut text = String::new();
    all_text(&Value::Array(contents), &mut text);
    all_text(
        req.get("systemInstruction").unwrap_or(&Value::Null),
        &mut text,
    );
    let ctx = Context::read(
        &text,
        &[
            "Workspace Directories:**\n  - ",
            "Workspace Directories:\n  - ",
        ],
    );
    record(s, Api::Gemini, path, req, true, Some(calls));
    let Some(turn) = next_turn(s, Api::Gemini, calls) else {
        return gemini_reply(
            &model,
            streaming,
            Some("(end of script)"),
            None,
            Usage::default(),
            &id(s, "r"),
        );
    };
    if let Some(Action::Fail {
        status,
        kind,
        message,
    }) = &turn.action
    {
        let body = json!({"error": {"code": status, "status": kind, "message": message}});
        return fail(*status, &body);
    }
    let call = simple_call(
        s,
        "Gemini CLI",
        &tools,
        &turn,
        &ctx,
        "run_shell_command",
        "write_file",
    );
    let rid = id(s, "r");
    gemini_reply(
        &model,
        streaming,
        turn.text.as_deref().map(|t| ctx.fill(t)).as_deref(),
        call,
        turn.usage,
        &rid,
    )
}

fn gemini_reply(
    model: &str,
    streaming: bool,
    text: Option<&str>,
    call: Option<(String, Value)>,
    u: Usage,
    response_id: &str,
) -> Response {
    let mut parts = Vec::new();
    if let Some(t) = text {
        parts.push(json!({"text": t}));
    }
    if let Some((name, args)) = call {
        parts.push(json!({"functionCall": {"name": name, "args": args}}));
    }
    let mut usage = json!({"promptTokenCount": u.input, "candidatesTokenCount": u.output,
        "totalTokenCount": u.input + u.output});
    if u.cached > 0 {
        usage["cachedContentTokenCount"] = json!(u.cached);
    }
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    });
    if !streaming {
        return json_response(StatusCode::OK, &body);
    }
    let mut out = String::new();
    event(&mut out, None, &body);
    sse(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_read_from_prompts() {
        let c = Context::read(
            "x\n - Primary working directory: /w/a\n - Is a git\nYou are a Maestro worker (session s-1). Your task is t-9x \"T\"",
            &["Primary working directory:"],
        );
        assert_eq!(c.cwd, "/w/a");
        assert_eq!(c.task, "t-9x");
        assert_eq!(c.abs("out.txt"), "/w/a/out.txt");
        assert_eq!(
            c.fill("maestro task start {task}"),
            "maestro task start t-9x"
        );
        let c = Context::read("<cwd>/w/b</cwd>", &["<cwd>"]);
        assert_eq!(c.cwd, "/w/b");
        let c = Context::read(
            "- **Workspace Directories:**\n  - /w/c\n- **Directory",
            &["Workspace Directories:**\n  - "],
        );
        assert_eq!(c.cwd, "/w/c");
    }

    #[test]
    fn schemas_get_sample_values() {
        let v = sample(&json!({"type": "OBJECT", "properties": {
            "complexity_reasoning": {"type": "STRING"}, "complexity_score": {"type": "INTEGER"},
            "next": {"type": "string", "enum": ["user", "model"]}}}));
        assert_eq!(
            v,
            json!({"complexity_reasoning": "ok", "complexity_score": 1, "next": "user"})
        );
    }

    #[test]
    fn refusals_are_recognised() {
        let r = |t: &str| ToolResult {
            api: Api::Anthropic,
            call_id: "1".into(),
            text: t.into(),
            is_error: true,
        };
        assert!(r("This command requires approval").is_refusal());
        assert!(r("bash: /x: Read-only file system").is_refusal());
        assert!(!r("{\"success\":true}").is_refusal());
    }
}
