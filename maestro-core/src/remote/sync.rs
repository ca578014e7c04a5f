//! [`SyncClient`]: the WebSocket sync client of SPEC §6.
//!
//! A background task owns the connection. It reconnects with bounded exponential backoff and
//! jitter, resubscribes from the last seq it received (so every event is delivered exactly
//! once and in seq order), queues operations while disconnected and flushes them in order on
//! reconnect (each keeping its op id, so the server applies it once), and sends a `ping`
//! every heartbeat interval, treating two silent intervals as a dead connection.
//!
//! ```no_run
//! # async fn run() -> maestro_core::Result<()> {
//! use maestro_core::protocol::Op;
//! use maestro_core::remote::{SyncClient, SyncEvent, SyncOptions};
//! let mut client = SyncClient::connect(
//!     SyncOptions::new("http://127.0.0.1:3000").token(Some("s3cret".into())).since(Some(0)),
//! )
//! .await?;
//! let acked = client.send_op(Op::SessionHeartbeat { id: "s-1".into() }).await?;
//! while let Some(item) = client.next_event().await {
//!     match item {
//!         SyncEvent::Event(e) => println!("{} {}", e.seq, e.event_type.as_str()),
//!         // Events were pruned before we saw them: reload what we mirror.
//!         SyncEvent::ResyncRequired { .. } => {}
//!     }
//! }
//! # Ok(()) }
//! ```

use super::http::{UNREACHABLE_SUGGESTION, error_from_response};
use super::url::ws_url;
use crate::error::{Code, Error, Result};
use crate::id::{IdKind, new_id};
use crate::model::Event;
use crate::protocol::{
    CLIENT_HEADER, ClientFrame, Op, PROTOCOL_VERSION, SESSION_HEADER, ServerFrame,
};
use crate::retry::{RetryPolicy, debug_from_env, random_unit};
use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connection that lasts this long resets the backoff; one that drops sooner counts as a
/// failed attempt, so a server that accepts and drops at once is not hammered.
const STABLE_CONNECTION: Duration = Duration::from_secs(2);

/// The connection state of a [`SyncClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Subscribed and receiving live events.
    Connected,
    /// The connection is down (or not yet up); the client is trying to (re)connect.
    Reconnecting,
    /// Closed for good: [`SyncClient::close`] was called, the reconnect limit was reached, or
    /// the server refused the client (see [`SyncClient::last_error`]).
    Disconnected,
}

impl ConnectionState {
    /// `connected`, `reconnecting` or `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Disconnected => "disconnected",
        }
    }
}

impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`SyncClient`] delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEvent {
    /// The next event: each seq exactly once, in increasing order.
    Event(Event),
    /// The server no longer retains the events after `last_seq` up to `oldest - 1`, so they
    /// cannot be replayed. The caller should reload the state it mirrors (e.g. list the
    /// tasks or sessions again); the client then continues with the event `oldest` onwards.
    ResyncRequired { last_seq: i64, oldest: i64 },
}

impl SyncEvent {
    /// The event, when this is one.
    pub fn event(&self) -> Option<&Event> {
        match self {
            SyncEvent::Event(e) => Some(e),
            SyncEvent::ResyncRequired { .. } => None,
        }
    }

    /// The event, when this is one.
    pub fn into_event(self) -> Option<Event> {
        match self {
            SyncEvent::Event(e) => Some(e),
            SyncEvent::ResyncRequired { .. } => None,
        }
    }
}

/// The result of [`SyncClient::recv_timeout`].
#[derive(Debug, Clone, PartialEq)]
pub enum Recv {
    /// The next event (or a resync notice).
    Event(SyncEvent),
    /// Nothing arrived in time; the client is still running.
    Timeout,
    /// The client is closed and every received event has been delivered.
    Closed,
}

/// How to connect a [`SyncClient`].
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The server URL: `http(s)://host:port` (the `/ws` URL is derived) or `ws(s)://…/ws`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The acting session of the ops sent through this client (`X-Maestro-Session`).
    pub session_id: Option<String>,
    /// This client's identity (`X-Maestro-Client`), kept across reconnections, so the op
    /// ids it resends after a drop are recognised as its own (default: a fresh id).
    pub client_id: String,
    /// Deliver the events after this seq (replay, then live); `None` = only the events after
    /// the server's latest seq when the first connection succeeds.
    pub since: Option<i64>,
    /// Only events of these projects (empty = all).
    pub projects: Vec<String>,
    /// The delays between reconnection attempts (its `retries` field is not used; see
    /// `max_reconnects`).
    pub backoff: RetryPolicy,
    /// How many consecutive reconnection attempts may fail before the client gives up
    /// (`Disconnected`): `Some(0)` = never reconnect (and [`SyncClient::connect`] fails when
    /// its first attempt does); `None` (the default) = keep trying forever. A connection that
    /// drops within 2 s of being established counts as a failed attempt.
    pub max_reconnects: Option<u32>,
    /// A `ping` is sent at this interval; no traffic for twice as long = dead connection.
    pub heartbeat: Duration,
    /// The limit of one connection attempt (TCP, WebSocket handshake and `hello`).
    pub connect_timeout: Duration,
    /// How many received events may wait for the consumer; when full, the client stops
    /// reading the socket (the server then drops it, and it resumes from its last seq).
    pub buffer: usize,
    /// Print reconnections to stderr (default: `MAESTRO_DEBUG`).
    pub debug: bool,
}

impl SyncOptions {
    /// Defaults: live events only, all projects, reconnect forever with a backoff from
    /// 200 ms to 5 s (jitter 0.5), heartbeat 15 s, connect timeout 10 s, buffer 10 000.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            session_id: None,
            client_id: crate::id::new_id(crate::id::IdKind::Op),
            since: None,
            projects: Vec::new(),
            backoff: RetryPolicy {
                retries: 0,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(5),
                jitter: 0.5,
            },
            max_reconnects: None,
            heartbeat: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            buffer: 10_000,
            debug: debug_from_env(),
        }
    }

    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }
    pub fn session_id(mut self, session_id: Option<String>) -> Self {
        self.session_id = session_id;
        self
    }
    pub fn since(mut self, since: Option<i64>) -> Self {
        self.since = since;
        self
    }
    pub fn projects(mut self, projects: Vec<String>) -> Self {
        self.projects = projects;
        self
    }
    pub fn backoff(mut self, backoff: RetryPolicy) -> Self {
        self.backoff = backoff;
        self
    }
    pub fn max_reconnects(mut self, max: Option<u32>) -> Self {
        self.max_reconnects = max;
        self
    }
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self
    }
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// An operation waiting for its ack.
struct PendingOp {
    id: String,
    op: Op,
    reply: oneshot::Sender<Result<Value>>,
}

enum Cmd {
    Op(Box<PendingOp>),
    Close,
}

/// State shared between the handle and the background task.
#[derive(Default)]
struct Shared {
    last_error: Mutex<Option<Error>>,
}

impl Shared {
    fn set_error(&self, e: Option<Error>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
    fn error(&self) -> Option<Error> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn closed_error(shared: &Shared) -> Error {
    let e = Error::new(Code::NetworkError, "The sync client is closed")
        .with_suggestion("Connect a new sync client");
    match shared.error() {
        Some(last) => e.with_details(json!({ "lastError": last.to_json() })),
        None => e,
    }
}

/// Sends operations through a [`SyncClient`]; cheap to clone, usable from any task.
#[derive(Clone)]
pub struct OpSender {
    cmd: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
}

impl OpSender {
    /// Runs `op` on the server with a fresh op id; see [`SyncClient::send_op`].
    pub async fn send_op(&self, op: Op) -> Result<Value> {
        self.send_op_with_id(new_id(IdKind::Op), op).await
    }

    /// Runs `op` with the caller's op id (a repeat of an id returns the first result).
    pub async fn send_op_with_id(&self, id: impl Into<String>, op: Op) -> Result<Value> {
        let (reply, rx) = oneshot::channel();
        let pending = PendingOp {
            id: id.into(),
            op,
            reply,
        };
        if self.cmd.send(Cmd::Op(Box::new(pending))).is_err() {
            return Err(closed_error(&self.shared));
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(closed_error(&self.shared)),
        }
    }
}

/// A live subscription to a server's event stream, with automatic reconnection.
///
/// Created by [`SyncClient::connect`]; needs a tokio runtime. Dropping it stops the
/// background task (like [`SyncClient::close`], without waiting).
pub struct SyncClient {
    events: mpsc::Receiver<SyncEvent>,
    sender: OpSender,
    state: watch::Receiver<ConnectionState>,
    task: Option<JoinHandle<()>>,
    runtime: tokio::runtime::Handle,
    delivered: Option<i64>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("state", &self.state())
            .field("last_seq", &self.delivered)
            .finish()
    }
}

impl SyncClient {
    /// Connects to the server's `/ws` endpoint and subscribes.
    ///
    /// The first attempt happens before this returns: a refusal that retrying cannot fix
    /// (bad URL, wrong token, not a Maestro server, other protocol version) is returned as
    /// the error. When the server is merely unreachable, the client is returned in state
    /// [`ConnectionState::Reconnecting`] and keeps trying in the background (unless
    /// `max_reconnects` is `Some(0)`, which returns the error).
    pub async fn connect(opts: SyncOptions) -> Result<SyncClient> {
        let url = ws_url(&opts.url)?;
        let request = build_request(
            &url,
            opts.token.as_deref(),
            opts.session_id.as_deref(),
            &opts.client_id,
        )?;
        if opts.heartbeat.is_zero() {
            return Err(Error::invalid_argument(
                "The heartbeat interval must not be zero",
            ));
        }
        let first = match handshake(request.clone(), opts.connect_timeout).await {
            Ok(c) => Some(c),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(e)) => {
                if opts.max_reconnects == Some(0) {
                    return Err(final_unreachable(e, &opts.url));
                }
                if opts.debug {
                    eprintln!("maestro: sync connection to {url} failed: {}", e.message());
                }
                None
            }
        };
        let initial = if first.is_some() {
            ConnectionState::Connected
        } else {
            ConnectionState::Reconnecting
        };
        let (state_tx, state_rx) = watch::channel(initial);
        let (events_tx, events_rx) = mpsc::channel(1);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            request,
            t: Tracker {
                last_seq: opts.since,
                ..Tracker::default()
            },
            events_tx,
            cmd_rx,
            state_tx,
            shared: shared.clone(),
            opts,
        };
        let task = tokio::spawn(worker.run(first));
        Ok(SyncClient {
            events: events_rx,
            sender: OpSender {
                cmd: cmd_tx,
                shared,
            },
            state: state_rx,
            task: Some(task),
            runtime: tokio::runtime::Handle::current(),
            delivered: None,
        })
    }

    /// The next event in seq order; `None` once the client is closed and drained.
    pub async fn next_event(&mut self) -> Option<SyncEvent> {
        let ev = self.events.recv().await?;
        self.note(&ev);
        Some(ev)
    }

    /// [`SyncClient::next_event`] waiting at most `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Recv {
        match tokio::time::timeout(timeout, self.events.recv()).await {
            Err(_) => Recv::Timeout,
            Ok(None) => Recv::Closed,
            Ok(Some(ev)) => {
                self.note(&ev);
                Recv::Event(ev)
            }
        }
    }

    /// [`SyncClient::recv_timeout`] for synchronous callers (a binding's iterator): blocks
    /// the calling thread on the runtime the client was connected on, which must be a
    /// multi-thread runtime (its workers run the timers). Must not be called from inside an
    /// async context.
    pub fn blocking_recv_timeout(&mut self, timeout: Duration) -> Recv {
        let rt = self.runtime.clone();
        rt.block_on(self.recv_timeout(timeout))
    }

    /// An event that is already waiting, without blocking.
    pub fn try_next_event(&mut self) -> Option<SyncEvent> {
        let ev = self.events.try_recv().ok()?;
        self.note(&ev);
        Some(ev)
    }

    fn note(&mut self, ev: &SyncEvent) {
        match ev {
            SyncEvent::Event(e) => self.delivered = Some(e.seq),
            SyncEvent::ResyncRequired { oldest, .. } => self.delivered = Some(oldest - 1),
        }
    }

    /// The seq of the last event this client delivered (to resume from later).
    pub fn last_seq(&self) -> Option<i64> {
        self.delivered
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// A receiver of state changes (`changed().await`, `borrow()`).
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Waits until the state is `state`; false when `timeout` passes first.
    pub async fn wait_for_state(&self, state: ConnectionState, timeout: Duration) -> bool {
        let mut rx = self.state.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s == state))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Why the client is reconnecting or disconnected, when it is.
    pub fn last_error(&self) -> Option<Error> {
        self.sender.shared.error()
    }

    /// Runs `op` on the server and returns the `data` of its ack (a failed ack is the
    /// error). The op gets a fresh op id; while disconnected it is queued, then sent in order
    /// on reconnect with the same id, so it is applied exactly once. Resolves with an error
    /// only if the client closes before the ack.
    pub async fn send_op(&self, op: Op) -> Result<Value> {
        self.sender.send_op(op).await
    }

    /// [`SyncClient::send_op`] with the caller's op id.
    pub async fn send_op_with_id(&self, id: impl Into<String>, op: Op) -> Result<Value> {
        self.sender.send_op_with_id(id, op).await
    }

    /// A cloneable handle sending ops through this client.
    pub fn op_sender(&self) -> OpSender {
        self.sender.clone()
    }

    /// Stops the background task: closes the socket, fails unacknowledged ops, and ends in
    /// [`ConnectionState::Disconnected`].
    pub async fn close(mut self) {
        let _ = self.sender.cmd.send(Cmd::Close);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SyncClient {
    fn drop(&mut self) {
        let _ = self.sender.cmd.send(Cmd::Close);
    }
}

impl Stream for SyncClient {
    type Item = SyncEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SyncEvent>> {
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(ev)) => {
                self.note(&ev);
                Poll::Ready(Some(ev))
            }
            other => other,
        }
    }
}

// ---- connection -----------------------------------------------------------------------

/// Why a connection attempt or a connection failed.
enum Failure {
    /// Worth another attempt (unreachable, dropped, timed out, 5xx).
    Transient(Error),
    /// Retrying cannot help (credentials, not a Maestro endpoint, protocol version).
    Fatal(Error),
}

fn build_request(
    url: &str,
    token: Option<&str>,
    session_id: Option<&str>,
    client_id: &str,
) -> Result<http::Request<()>> {
    let mut req = url.into_client_request().map_err(|e| {
        Error::invalid_argument(format!("'{url}' is not a valid WebSocket URL: {e}"))
            .with_suggestion("Pass the server's base URL, e.g. http://127.0.0.1:3000")
    })?;
    if let Some(t) = token.filter(|t| !t.trim().is_empty()) {
        let value = http::HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
            Error::invalid_argument("The token contains characters not allowed in a header")
                .with_suggestion(
                    "Check MAESTRO_TOKEN (or config token) against the server's --token",
                )
        })?;
        req.headers_mut().insert(http::header::AUTHORIZATION, value);
    }
    if let Some(s) = session_id.filter(|s| !s.trim().is_empty()) {
        let value = http::HeaderValue::from_str(s).map_err(|_| {
            Error::invalid_argument(format!("'{s}' is not a valid session id"))
                .with_suggestion("Check MAESTRO_SESSION_ID")
        })?;
        req.headers_mut().insert(SESSION_HEADER, value);
    }
    let value = http::HeaderValue::from_str(client_id).map_err(|_| {
        Error::invalid_argument(format!("'{client_id}' is not a valid client id"))
            .with_suggestion("Use letters, digits and dashes")
    })?;
    req.headers_mut().insert(CLIENT_HEADER, value);
    Ok(req)
}

fn classify(e: tungstenite::Error, url: &str) -> Failure {
    use tungstenite::Error as E;
    match e {
        E::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp.body().as_deref().unwrap_or_default();
            let err = error_from_response(status, body);
            if status >= 500 {
                Failure::Transient(err)
            } else {
                Failure::Fatal(err)
            }
        }
        E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => Failure::Transient(
            Error::new(
                Code::ConnectionRefused,
                format!("Could not connect to the Maestro server at {url}: connection refused"),
            )
            .with_details(json!({ "url": url })),
        ),
        E::Url(u) => Failure::Fatal(
            Error::invalid_argument(format!("Cannot connect to '{url}': {u}"))
                .with_details(json!({ "url": url }))
                .with_suggestion(
                    "Check --server / MAESTRO_API_URL (this build speaks plain ws:// only)",
                ),
        ),
        E::Tls(t) => Failure::Fatal(
            Error::invalid_argument(format!("Cannot connect to '{url}': {t}"))
                .with_details(json!({ "url": url })),
        ),
        other => Failure::Transient(
            Error::new(
                Code::NetworkError,
                format!("WebSocket error with the Maestro server at {url}: {other}"),
            )
            .with_details(json!({ "url": url })),
        ),
    }
}

fn timeout_error(url: &str, what: &str, limit: Duration) -> Error {
    Error::new(
        Code::Timeout,
        format!(
            "The Maestro server at {url} did not {what} within {} s",
            limit.as_secs_f64()
        ),
    )
    .with_details(json!({ "url": url }))
}

fn final_unreachable(e: Error, url: &str) -> Error {
    let suggestion = if e.code() == Code::ConnectionRefused {
        UNREACHABLE_SUGGESTION.to_string()
    } else {
        format!("Check that the server is up ('curl {url}/health') and reachable")
    };
    e.with_retryable(true).with_suggestion(suggestion)
}

/// Connects, and reads `hello`: the connection and the server's latest seq.
async fn handshake(request: http::Request<()>, limit: Duration) -> Result<(Ws, i64), Failure> {
    let url = request.uri().to_string();
    let attempt = async {
        let (mut ws, _resp) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| classify(e, &url))?;
        loop {
            let msg = match ws.next().await {
                None => {
                    return Err(Failure::Transient(Error::new(
                        Code::NetworkError,
                        format!("The server at {url} closed the connection before 'hello'"),
                    )));
                }
                Some(Err(e)) => return Err(classify(e, &url)),
                Some(Ok(m)) => m,
            };
            let Message::Text(text) = msg else { continue };
            match ServerFrame::decode(&text) {
                Ok(ServerFrame::Hello { protocol, seq }) => {
                    if protocol != PROTOCOL_VERSION {
                        return Err(Failure::Fatal(
                            Error::invalid_argument(format!(
                                "The server at {url} speaks sync protocol {protocol}, this client {PROTOCOL_VERSION}"
                            ))
                            .with_details(json!({ "server": protocol, "client": PROTOCOL_VERSION }))
                            .with_suggestion("Use a client and server of the same Maestro version"),
                        ));
                    }
                    return Ok((ws, seq));
                }
                _ => {
                    return Err(Failure::Fatal(
                        Error::new(
                            Code::ServerError,
                            format!("The server at {url} did not start with 'hello'"),
                        )
                        .with_retryable(false)
                        .with_suggestion(
                            "Check that --server / MAESTRO_API_URL points at a Maestro server",
                        ),
                    ));
                }
            }
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Transient(timeout_error(&url, "answer", limit))),
    }
}

// ---- background task ------------------------------------------------------------------

/// How a phase of the background task ended.
enum Outcome {
    /// Close requested or the handle dropped.
    Closed,
    /// The connection failed; reconnect.
    Lost(Error),
}

/// The outcome of waiting for something while serving commands and delivering events.
enum Served<T> {
    Done(T),
    Closed,
}

/// What the client has received and still owes: the resume point, undelivered events and
/// unacknowledged operations. Survives reconnections.
#[derive(Default)]
struct Tracker {
    /// The seq of the last event received (queued); `None` until the first `hello`.
    last_seq: Option<i64>,
    /// Received events not yet handed to the consumer.
    buffer: VecDeque<SyncEvent>,
    /// Operations not yet acknowledged, in submission order.
    ops: VecDeque<PendingOp>,
}

struct Worker {
    opts: SyncOptions,
    request: http::Request<()>,
    t: Tracker,
    events_tx: mpsc::Sender<SyncEvent>,
    cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    state_tx: watch::Sender<ConnectionState>,
    shared: Arc<Shared>,
}

impl Worker {
    fn set_state(&self, s: ConnectionState) {
        self.state_tx.send_if_modified(|cur| {
            let changed = *cur != s;
            *cur = s;
            changed
        });
    }

    fn log(&self, msg: impl FnOnce() -> String) {
        if self.opts.debug {
            eprintln!("maestro: {}", msg());
        }
    }

    async fn run(mut self, mut first: Option<(Ws, i64)>) {
        // Consecutive failed attempts, the first one included (sets the backoff delay), and
        // consecutive failed reconnection attempts (checked against `max_reconnects`).
        // Connections that die at once count as failed attempts.
        let mut failures = u32::from(first.is_none());
        let mut failed_reconnects: u32 = 0;
        loop {
            let (ws, hello_seq) = match first.take() {
                Some(c) => c,
                None => {
                    if let Some(max) = self.opts.max_reconnects
                        && failed_reconnects >= max
                    {
                        break;
                    }
                    self.set_state(ConnectionState::Reconnecting);
                    if failures > 0 {
                        let delay = self.opts.backoff.delay(failures - 1, random_unit());
                        self.log(|| {
                            format!(
                                "sync: reconnecting in {} ms (attempt {})",
                                delay.as_millis(),
                                failures + 1
                            )
                        });
                        if let Served::Closed = self.serve(tokio::time::sleep(delay)).await {
                            break;
                        }
                    }
                    let attempt = handshake(self.request.clone(), self.opts.connect_timeout);
                    match self.serve(attempt).await {
                        Served::Closed => break,
                        Served::Done(Ok(c)) => c,
                        Served::Done(Err(Failure::Fatal(e))) => {
                            self.log(|| format!("sync: giving up: {}", e.message()));
                            self.shared.set_error(Some(e));
                            break;
                        }
                        Served::Done(Err(Failure::Transient(e))) => {
                            self.log(|| format!("sync: connection failed: {}", e.message()));
                            self.shared
                                .set_error(Some(final_unreachable(e, &self.opts.url)));
                            failures += 1;
                            failed_reconnects += 1;
                            continue;
                        }
                    }
                }
            };
            let since = *self.t.last_seq.get_or_insert(hello_seq);
            let started = Instant::now();
            match self.connected(ws, since).await {
                Outcome::Closed => break,
                Outcome::Lost(e) => {
                    self.log(|| format!("sync: connection lost: {}", e.message()));
                    self.shared
                        .set_error(Some(final_unreachable(e, &self.opts.url)));
                    // A connection that dies at once counts as a failed attempt, so a server
                    // that accepts and drops is not hammered.
                    if started.elapsed() >= STABLE_CONNECTION {
                        failures = 0;
                        failed_reconnects = 0;
                    } else {
                        failures += 1;
                        failed_reconnects += 1;
                    }
                }
            }
        }
        self.shutdown();
    }

    /// Ends: fails waiting ops, announces `Disconnected`.
    fn shutdown(&mut self) {
        let err = closed_error(&self.shared);
        while let Some(p) = self.t.ops.pop_front() {
            let _ = p.reply.send(Err(err.clone()));
        }
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            if let Cmd::Op(p) = cmd {
                let _ = p.reply.send(Err(err.clone()));
            }
        }
        self.set_state(ConnectionState::Disconnected);
    }

    /// Waits for `fut` while queueing ops and delivering buffered events.
    async fn serve<T>(&mut self, fut: impl Future<Output = T>) -> Served<T> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return Served::Done(r),
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(Cmd::Op(p)) => self.t.ops.push_back(*p),
                    Some(Cmd::Close) | None => return Served::Closed,
                },
                permit = self.events_tx.reserve(), if !self.t.buffer.is_empty() => match permit {
                    Ok(p) => p.send(self.t.buffer.pop_front().expect("buffer is not empty")),
                    Err(_) => return Served::Closed,
                },
                _ = self.events_tx.closed() => return Served::Closed,
            }
        }
    }

    /// Runs one established connection until it fails or the client closes.
    async fn connected(&mut self, ws: Ws, since: i64) -> Outcome {
        let (mut sink, mut stream) = ws.split();
        let subscribe = ClientFrame::Subscribe {
            since,
            projects: self.opts.projects.clone(),
        };
        if let Err(e) = sink.send(Message::text(subscribe.encode())).await {
            return Outcome::Lost(classify_lost(e));
        }
        // Flush unacknowledged ops in submission order, each with its op id.
        for p in &self.t.ops {
            let frame = ClientFrame::Op {
                id: p.id.clone(),
                op: p.op.clone(),
            };
            if let Err(e) = sink.send(Message::text(frame.encode())).await {
                return Outcome::Lost(classify_lost(e));
            }
        }
        self.shared.set_error(None);
        self.set_state(ConnectionState::Connected);
        self.log(|| format!("sync: connected, resuming after seq {since}"));

        let hb = self.opts.heartbeat;
        let mut ticker = tokio::time::interval_at(Instant::now() + hb, hb);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();
        let outcome = loop {
            let reading = self.t.buffer.len() < self.opts.buffer.max(1);
            if !reading {
                // Not reading on purpose: silence is not a dead connection.
                last_rx = Instant::now();
            }
            tokio::select! {
                msg = stream.next(), if reading => {
                    last_rx = Instant::now();
                    let text = match msg {
                        None => break Outcome::Lost(Error::new(
                            Code::NetworkError,
                            "The server closed the connection",
                        )),
                        Some(Err(e)) => break Outcome::Lost(classify_lost(e)),
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame
                                .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                                .unwrap_or_default();
                            break Outcome::Lost(Error::new(
                                Code::NetworkError,
                                format!("The server closed the connection {why}").trim_end().to_string(),
                            ));
                        }
                        Some(Ok(_)) => continue,
                    };
                    match ServerFrame::decode(&text) {
                        Ok(frame) => {
                            if let Some(since) = self.t.on_frame(frame) {
                                // Resume after the resync point on the same connection.
                                let sub = ClientFrame::Subscribe {
                                    since,
                                    projects: self.opts.projects.clone(),
                                };
                                if let Err(e) = sink.send(Message::text(sub.encode())).await {
                                    break Outcome::Lost(classify_lost(e));
                                }
                            }
                        }
                        Err(e) => {
                            tracing::debug!("ignoring an unknown frame: {}", e.message());
                        }
                    }
                }
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(Cmd::Op(p)) => {
                        let frame = ClientFrame::Op { id: p.id.clone(), op: p.op.clone() };
                        self.t.ops.push_back(*p);
                        if let Err(e) = sink.send(Message::text(frame.encode())).await {
                            break Outcome::Lost(classify_lost(e));
                        }
                    }
                    Some(Cmd::Close) | None => break Outcome::Closed,
                },
                permit = self.events_tx.reserve(), if !self.t.buffer.is_empty() => match permit {
                    Ok(p) => p.send(self.t.buffer.pop_front().expect("buffer is not empty")),
                    Err(_) => break Outcome::Closed,
                },
                _ = self.events_tx.closed() => break Outcome::Closed,
                _ = ticker.tick() => {
                    if last_rx.elapsed() >= hb * 2 {
                        break Outcome::Lost(Error::new(
                            Code::Timeout,
                            format!("No traffic from the server for {} s", (hb * 2).as_secs_f64()),
                        ));
                    }
                    if let Err(e) = sink.send(Message::text(ClientFrame::Ping.encode())).await {
                        break Outcome::Lost(classify_lost(e));
                    }
                }
            }
        };
        if matches!(outcome, Outcome::Closed) {
            // A clean goodbye; bounded so a dead peer cannot hold the task.
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        }
        outcome
    }
}

impl Tracker {
    /// Handles one frame; `Some(since)` asks to subscribe again after `since`.
    fn on_frame(&mut self, frame: ServerFrame) -> Option<i64> {
        match frame {
            ServerFrame::Event(ev) => {
                if self.last_seq.is_none_or(|last| ev.seq > last) {
                    self.last_seq = Some(ev.seq);
                    self.buffer.push_back(SyncEvent::Event(ev));
                }
                None
            }
            ServerFrame::Ack {
                ref id,
                ok,
                ref data,
                ..
            } => {
                if let Some(pos) = self.ops.iter().position(|p| &p.id == id) {
                    let p = self.ops.remove(pos).expect("position is in range");
                    let result = if ok {
                        Ok(data.clone().unwrap_or(Value::Null))
                    } else {
                        Err(frame.ack_error().expect("a failed ack carries an error"))
                    };
                    let _ = p.reply.send(result);
                }
                None
            }
            ServerFrame::ResyncRequired { oldest } => {
                // Either the events after our resume point were pruned (oldest is ahead of
                // us), or the server's log is behind us (another database): in both cases
                // the caller must reload its state, and the stream resumes at `oldest`.
                let last = self.last_seq.unwrap_or(0);
                let since = (oldest - 1).max(0);
                self.buffer.push_back(SyncEvent::ResyncRequired {
                    last_seq: last,
                    oldest,
                });
                self.last_seq = Some(since);
                Some(since)
            }
            ServerFrame::Error { error } => {
                tracing::debug!(%error, "the server could not act on a frame");
                None
            }
            ServerFrame::Hello { .. } | ServerFrame::Pong => None,
        }
    }
}

fn classify_lost(e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Error::new(Code::Timeout, format!("The connection timed out: {io}"))
        }
        other => Error::new(
            Code::NetworkError,
            format!("The connection failed: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SyncClient>();
        send_sync::<OpSender>();
        send_sync::<crate::remote::HttpStore>();
    }

    #[test]
    fn states_have_wire_names() {
        assert_eq!(ConnectionState::Connected.as_str(), "connected");
        assert_eq!(ConnectionState::Reconnecting.to_string(), "reconnecting");
        assert_eq!(ConnectionState::Disconnected.as_str(), "disconnected");
    }

    #[test]
    fn requests_carry_the_token() {
        let r = build_request("ws://127.0.0.1:1/ws", Some("secret"), Some("s-1"), "c-1").unwrap();
        assert_eq!(r.headers()[http::header::AUTHORIZATION], "Bearer secret");
        assert_eq!(r.headers()[SESSION_HEADER], "s-1");
        let r = build_request("ws://127.0.0.1:1/ws", None, None, "c-1").unwrap();
        assert!(r.headers().get(http::header::AUTHORIZATION).is_none());
        assert!(r.headers().get(SESSION_HEADER).is_none());
        assert!(build_request("ws://127.0.0.1:1/ws", Some("a\nb"), None, "c-1").is_err());
    }

    #[test]
    fn refused_websocket_upgrades_are_fatal_or_transient() {
        let body = serde_json::to_vec(
            &Error::new(Code::Unauthorized, "A bearer token is required").to_json(),
        )
        .unwrap();
        let resp = http::Response::builder()
            .status(401)
            .body(Some(body))
            .unwrap();
        match classify(tungstenite::Error::Http(Box::new(resp)), "ws://h/ws") {
            Failure::Fatal(e) => assert_eq!(e.code(), Code::Unauthorized),
            Failure::Transient(_) => panic!("401 must be fatal"),
        }
        let resp = http::Response::builder().status(503).body(None).unwrap();
        assert!(matches!(
            classify(tungstenite::Error::Http(Box::new(resp)), "ws://h/ws"),
            Failure::Transient(_)
        ));
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        match classify(tungstenite::Error::Io(io), "ws://h/ws") {
            Failure::Transient(e) => assert_eq!(e.code(), Code::ConnectionRefused),
            Failure::Fatal(_) => panic!("refused must be transient"),
        }
    }

    fn worker() -> (Worker, mpsc::Receiver<SyncEvent>) {
        let (events_tx, events_rx) = mpsc::channel(1);
        let (_cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (state_tx, _) = watch::channel(ConnectionState::Connected);
        let w = Worker {
            opts: SyncOptions::new("http://127.0.0.1:1"),
            request: build_request("ws://127.0.0.1:1/ws", None, None, "c-1").unwrap(),
            t: Tracker {
                last_seq: Some(5),
                ..Tracker::default()
            },
            events_tx,
            cmd_rx,
            state_tx,
            shared: Arc::new(Shared::default()),
        };
        (w, events_rx)
    }

    fn ev(seq: i64) -> ServerFrame {
        crate::protocol::event_frame(
            seq,
            crate::EventType::TaskUpdated,
            "2026-01-01T00:00:00Z".parse().unwrap(),
            None,
            json!({ "id": "t-1" }),
        )
    }

    #[test]
    fn duplicate_and_old_events_are_dropped() {
        let (mut w, _rx) = worker();
        for seq in [3, 5, 6, 6, 4, 7, 9] {
            assert!(w.t.on_frame(ev(seq)).is_none());
        }
        let seqs: Vec<i64> = w.t.buffer.iter().map(|e| e.event().unwrap().seq).collect();
        assert_eq!(seqs, [6, 7, 9]);
        assert_eq!(w.t.last_seq, Some(9));
    }

    #[test]
    fn acks_resolve_their_ops() {
        let (mut w, _rx) = worker();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        for (id, reply) in [("op-1", tx1), ("op-2", tx2)] {
            w.t.ops.push_back(PendingOp {
                id: id.into(),
                op: Op::SessionHeartbeat { id: "s-1".into() },
                reply,
            });
        }
        w.t.on_frame(ServerFrame::Ack {
            id: "op-2".into(),
            ok: false,
            data: None,
            error: Some(Error::session_not_found("s-1").to_json()),
        });
        w.t.on_frame(ServerFrame::Ack {
            id: "op-1".into(),
            ok: true,
            data: Some(json!({ "id": "s-1" })),
            error: None,
        });
        // An unknown ack is ignored.
        w.t.on_frame(ServerFrame::Ack {
            id: "op-9".into(),
            ok: true,
            data: None,
            error: None,
        });
        assert!(w.t.ops.is_empty());
        assert_eq!(rx1.try_recv().unwrap().unwrap()["id"], "s-1");
        assert_eq!(
            rx2.try_recv().unwrap().unwrap_err().code(),
            Code::SessionNotFound
        );
    }

    #[test]
    fn resync_is_surfaced_and_moves_the_cursor() {
        let (mut w, _rx) = worker();
        // Pruned past our resume point (5): resume at 20.
        assert_eq!(
            w.t.on_frame(ServerFrame::ResyncRequired { oldest: 20 }),
            Some(19)
        );
        assert_eq!(w.t.last_seq, Some(19));
        assert_eq!(
            w.t.buffer.pop_front(),
            Some(SyncEvent::ResyncRequired {
                last_seq: 5,
                oldest: 20
            })
        );
        // The server's log is behind us (another database): start over from its beginning.
        assert_eq!(
            w.t.on_frame(ServerFrame::ResyncRequired { oldest: 1 }),
            Some(0)
        );
        assert_eq!(w.t.last_seq, Some(0));
        assert_eq!(
            w.t.buffer.pop_front(),
            Some(SyncEvent::ResyncRequired {
                last_seq: 19,
                oldest: 1
            })
        );
        w.t.on_frame(ev(1));
        assert_eq!(w.t.buffer.pop_front().unwrap().event().unwrap().seq, 1);
    }
}
