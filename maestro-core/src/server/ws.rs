//! The WebSocket endpoint: `hello`, `subscribe` (replay, then live with no gap and no
//! duplicate), `ping`, and `op` frames answered by `ack`.

use super::AppState;
use super::api::{self, ApiError};
use super::conn::ConnSlot;
use super::hub::{EndReason, LiveEvent, Subscription};
use crate::error::{Error, Result};
use crate::model::Event;
use crate::protocol::{ClientFrame, Op, PROTOCOL_VERSION, ServerFrame};
use crate::store::{ClaimRequest, OpContext};
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{
    CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code,
    rejection::WebSocketUpgradeRejection,
};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events read per replay query.
const REPLAY_BATCH: usize = 500;
/// Live events written before one flush.
const LIVE_BATCH: usize = 256;

/// `GET /ws`.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    slot: Option<Extension<ConnSlot>>,
    headers: HeaderMap,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::from(
                Error::invalid_argument(format!("Not a WebSocket upgrade: {}", e.body_text()))
                    .with_suggestion("Connect with a WebSocket client to ws://<host>/ws"),
            )
            .into_response();
        }
    };
    let (session, client) = match api::from_headers(&headers) {
        // Op ids are scoped to the caller: its session, else the client instance it names,
        // else this connection alone.
        Ok(ctx) => (
            ctx.op.session_id,
            ctx.op
                .client_id
                .unwrap_or_else(|| crate::id::new_id(crate::id::IdKind::Op)),
        ),
        Err(e) => return e.into_response(),
    };
    let max = state.opts.max_body_bytes;
    // Clients mostly listen: small eagerly allocated read buffers keep a thousand
    // connections cheap (the default is 128 KiB each); bigger messages still fit.
    // A browser offers "maestro" (with its token as a second protocol): answer "maestro".
    ws.protocols([api::WS_PROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            // The socket keeps its connection's place under the cap until it closes.
            let _slot = slot;
            state.metrics.ws_connected();
            let mut conn = Conn {
                state: state.clone(),
                socket,
                session,
                client,
                sub: None,
                projects: Vec::new(),
                last_sent: 0,
            };
            let reason = conn.run().await;
            if let Some(sub) = conn.sub.take() {
                state.hub.unregister(sub.id);
            }
            tracing::debug!(reason, "websocket closed");
            state.metrics.ws_disconnected();
        })
}

/// Waits (up to `timeout`) until every WebSocket connection has ended.
pub(crate) async fn wait_closed(state: &AppState, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while state.metrics.ws_clients() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if state.metrics.ws_clients() > 0 {
        tracing::warn!(
            clients = state.metrics.ws_clients(),
            "websocket clients still open after the shutdown timeout"
        );
    }
}

/// The socket failed or timed out: the connection is over.
struct Gone;

struct Conn {
    state: AppState,
    socket: WebSocket,
    /// `X-Maestro-Session` of the upgrade request: the acting session of `op` frames.
    session: Option<String>,
    /// `X-Maestro-Client` of the upgrade request (or this connection's own id).
    client: String,
    sub: Option<Subscription>,
    projects: Vec<String>,
    /// The seq of the last event sent on this subscription.
    last_sent: i64,
}

async fn next_live(sub: &mut Option<Subscription>) -> Option<Arc<LiveEvent>> {
    match sub {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Conn {
    /// Serves the connection; returns why it ended.
    async fn run(&mut self) -> &'static str {
        let mut stop = self.state.stop.subscribe();
        let latest = match self.state.maestro.latest_seq().await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the latest seq for hello");
                let _ = self.close(close_code::ERROR, "storage unavailable").await;
                return "storage error";
            }
        };
        let hello = ServerFrame::Hello {
            protocol: PROTOCOL_VERSION,
            seq: latest,
        };
        if self.send(hello.encode()).await.is_err() {
            return "write failed";
        }
        let ping_every = self.state.opts.ping_interval;
        let idle_timeout = self.state.opts.idle_timeout;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                _ = super::stopped(&mut stop) => {
                    let _ = self.close(close_code::AWAY, "server shutting down").await;
                    return "shutdown";
                }
                msg = self.socket.recv() => {
                    last_heard = Instant::now();
                    let text = match msg {
                        None => return "client closed",
                        Some(Ok(Message::Close(_))) => {
                            // Completes the closing handshake: the answer queued on reading
                            // the client's close (its code echoed, 1002 for a code that is not
                            // allowed) goes out before the socket is dropped.
                            let flush = futures_util::SinkExt::flush(&mut self.socket);
                            let _ = tokio::time::timeout(self.state.opts.write_timeout, flush).await;
                            return "client closed";
                        }
                        Some(Err(e)) => return self.on_read_error(e).await,
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Binary(_))) => {
                            let _ = self.close(close_code::UNSUPPORTED, "send JSON text frames").await;
                            return "binary frame";
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    };
                    if self.on_text(&text).await.is_err() {
                        return "write failed";
                    }
                }
                ev = next_live(&mut self.sub) => {
                    let res = match ev {
                        Some(ev) => self.send_live(ev).await,
                        None => self.on_subscription_end().await,
                    };
                    match res {
                        Ok(true) => {}
                        Ok(false) => return "slow consumer",
                        Err(Gone) => return "write failed",
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle_timeout {
                        return "idle timeout";
                    }
                    if self.write(Message::Ping(Default::default())).await.is_err() {
                        return "write failed";
                    }
                }
            }
        }
    }

    async fn write(&mut self, msg: Message) -> std::result::Result<(), Gone> {
        match tokio::time::timeout(self.state.opts.write_timeout, self.socket.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Gone),
        }
    }

    async fn send(&mut self, text: String) -> std::result::Result<(), Gone> {
        self.write(Message::Text(Utf8Bytes::from(text))).await
    }

    async fn close(&mut self, code: u16, reason: &str) -> std::result::Result<(), Gone> {
        self.write(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_string()),
        })))
        .await
    }

    /// Writes `frames` and flushes once.
    async fn send_all(&mut self, frames: Vec<Utf8Bytes>) -> std::result::Result<(), Gone> {
        if frames.is_empty() {
            return Ok(());
        }
        let n = frames.len() as u64;
        let socket = &mut self.socket;
        let io = async move {
            for f in frames {
                socket.feed(Message::Text(f)).await?;
            }
            socket.flush().await
        };
        match tokio::time::timeout(self.state.opts.write_timeout, io).await {
            Ok(Ok(())) => {
                self.state.metrics.delivered(n);
                Ok(())
            }
            _ => Err(Gone),
        }
    }

    /// The socket failed to read a message: a violation of the WebSocket protocol is
    /// answered with its close code (RFC 6455 §7.4.1) before the connection ends.
    async fn on_read_error(&mut self, e: axum::Error) -> &'static str {
        let Some((code, reason)) = close_for(&e) else {
            return "client gone";
        };
        tracing::debug!(code, error = %e, "closing a websocket that broke the protocol");
        if self.close(code, reason).await.is_ok() {
            // Give the client a moment to answer the close, so it reads ours before the
            // connection goes (closing with unread input would reset it).
            let socket = &mut self.socket;
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Some(Ok(msg)) = socket.recv().await {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        "protocol error"
    }

    async fn on_text(&mut self, text: &str) -> std::result::Result<(), Gone> {
        let frame = match ClientFrame::decode(text) {
            Ok(f) => f,
            Err(e) => {
                // A frame we cannot act on is answered and the connection kept: an op gets
                // its ack so the client is not left waiting, anything else an error frame
                // (a newer client's frame type must not cost it the connection).
                let parsed = serde_json::from_str::<Value>(text).ok();
                let id = parsed
                    .as_ref()
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
                return match id {
                    Some(id) => self.send(ack(id, Err(e))).await,
                    None => {
                        let ty = parsed
                            .as_ref()
                            .and_then(|v| v.get("type").and_then(Value::as_str))
                            .map(|t| truncate(t, 100));
                        let error = e.with_details(serde_json::json!({ "type": ty })).to_json();
                        self.send(ServerFrame::Error { error }.encode()).await
                    }
                };
            }
        };
        match frame {
            ClientFrame::Ping => self.send(ServerFrame::Pong.encode()).await,
            ClientFrame::Subscribe { since, projects } => self.subscribe(since, projects).await,
            ClientFrame::Op { id, op } => {
                self.state.metrics.ws_op();
                let result =
                    execute(&self.state, self.session.clone(), &self.client, &id, op).await;
                self.send(ack(id, result)).await
            }
        }
    }

    /// Replays the log after `since`, then switches to live delivery.
    async fn subscribe(
        &mut self,
        since: i64,
        projects: Vec<String>,
    ) -> std::result::Result<(), Gone> {
        if let Some(old) = self.sub.take() {
            self.state.hub.unregister(old.id);
        }
        self.projects = projects;
        let since = since.max(0);
        self.last_sent = since;
        let maestro = self.state.maestro.clone();
        if since > 0 {
            // A resume point beyond the log means the client saw another database.
            match maestro.latest_seq().await {
                Ok(latest) if since > latest => {
                    let oldest = maestro.oldest_seq().await.unwrap_or(1);
                    return self
                        .send(ServerFrame::ResyncRequired { oldest }.encode())
                        .await;
                }
                _ => {}
            }
        }
        let mut registered = false;
        loop {
            let batch = match replay_batch(&maestro, self.last_sent, &self.projects).await {
                Ok(Replay::Events(b)) => b,
                Ok(Replay::Pruned(oldest)) => {
                    if let Some(sub) = self.sub.take() {
                        self.state.hub.unregister(sub.id);
                    }
                    return self
                        .send(ServerFrame::ResyncRequired { oldest }.encode())
                        .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replay failed");
                    if let Some(sub) = self.sub.take() {
                        self.state.hub.unregister(sub.id);
                    }
                    let _ = self
                        .close(close_code::AGAIN, "storage unavailable, retry")
                        .await;
                    return Err(Gone);
                }
            };
            let caught_up = batch.len() < REPLAY_BATCH;
            if let Some(last) = batch.last() {
                self.last_sent = last.seq;
            }
            let frames = batch
                .into_iter()
                .map(|e| Utf8Bytes::from(ServerFrame::Event(e).encode()))
                .collect();
            self.send_all(frames).await?;
            if caught_up {
                if registered {
                    return Ok(());
                }
                // Live events after `published` now queue up for us; one more pass replays
                // whatever was committed up to that point. Duplicates are skipped by seq.
                let sub = self.state.hub.register(self.projects.clone());
                tracing::debug!(since, replayed_to = self.last_sent, live_after = sub.published, projects = ?self.projects, "subscribed");
                registered = true;
                self.sub = Some(sub);
            }
        }
    }

    /// Sends `first` and whatever else is queued, skipping what the replay already sent.
    async fn send_live(&mut self, first: Arc<LiveEvent>) -> std::result::Result<bool, Gone> {
        let mut frames = Vec::new();
        let mut next = Some(first);
        while let Some(ev) = next.take() {
            if ev.seq > self.last_sent {
                self.last_sent = ev.seq;
                frames.push(ev.text.clone());
            }
            if frames.len() < LIVE_BATCH {
                next = self.sub.as_mut().and_then(|s| s.rx.try_recv().ok());
            }
        }
        self.send_all(frames).await?;
        Ok(true)
    }

    /// The hub closed our channel: we were too slow, or the log lost events for us.
    async fn on_subscription_end(&mut self) -> std::result::Result<bool, Gone> {
        let reason = self.sub.take().and_then(|s| s.end_reason());
        match reason {
            Some(EndReason::SlowConsumer) => {
                self.state.metrics.slow_consumer();
                tracing::warn!(
                    last_sent = self.last_sent,
                    buffer = self.state.opts.client_buffer,
                    "disconnecting a slow websocket consumer"
                );
                let _ = self
                    .close(
                        close_code::AGAIN,
                        "slow consumer: too many undelivered events; reconnect and resubscribe from your last seq",
                    )
                    .await;
                Ok(false)
            }
            Some(EndReason::Resync { oldest }) => {
                self.send(ServerFrame::ResyncRequired { oldest }.encode())
                    .await?;
                Ok(true)
            }
            // The hub only lets go of a subscriber for a reason; without one the server is
            // stopping and the shutdown branch closes the socket.
            None => Ok(true),
        }
    }
}

/// Runs one `op` frame through the facade, idempotently by its id.
async fn execute(
    state: &AppState,
    session: Option<String>,
    client: &str,
    id: &str,
    op: Op,
) -> Result<Value> {
    if id.trim().is_empty() || id.len() > 200 {
        return Err(
            Error::invalid_argument("An op id must have 1 to 200 characters")
                .with_suggestion("Give every op a unique id, e.g. a UUID"),
        );
    }
    let m = &state.maestro;
    let ctx = OpContext {
        session_id: session,
        op_id: Some(format!("ws:{id}")),
        client_id: Some(client.to_string()),
    };
    match op {
        Op::TaskCreate(new) => to_value(m.create_task(&ctx, new).await?),
        Op::TaskUpdate { id, patch } => to_value(m.update_task(&ctx, &id, patch).await?),
        Op::TaskStatus { id, change } => to_value(m.change_status(&ctx, &id, change).await?),
        Op::TaskDelete { id } => to_value(m.delete_task(&ctx, &id).await?),
        Op::TaskClaim {
            id,
            session_id,
            project_id,
        } => {
            let ctx = OpContext {
                session_id: ctx.session_id.or_else(|| Some(session_id.clone())),
                ..ctx
            };
            let claim = ClaimRequest {
                task_id: id,
                project_id,
                session_id: Some(session_id),
                force: false,
            };
            to_value(m.claim(&ctx, claim).await?)
        }
        Op::TaskProgress { id, message } => to_value(m.add_progress(&ctx, &id, &message).await?),
        Op::SubtaskCreate {
            task_id,
            title,
            description,
        } => to_value(
            m.create_subtask(&ctx, &task_id, &title, description.as_deref())
                .await?,
        ),
        Op::SubtaskUpdate { task_id, id, patch } => to_value(
            m.update_subtask(&ctx, task_id.as_deref(), &id, patch)
                .await?,
        ),
        Op::SessionUpdate { id, patch } => to_value(m.update_session(&ctx, &id, patch).await?),
        Op::SessionHeartbeat { id } => to_value(m.heartbeat(&ctx.without_op_id(), &id).await?),
    }
}

/// The close code and reason for a read error that broke the protocol; `None` when the
/// connection itself is gone (nothing can be sent).
fn close_for(e: &axum::Error) -> Option<(u16, &'static str)> {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
    let inner = std::error::Error::source(e)?;
    match inner.downcast_ref::<WsError>()? {
        WsError::Utf8(_) => Some((close_code::INVALID, "text frames must be valid UTF-8")),
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            Some((close_code::SIZE, "message too big"))
        }
        WsError::Protocol(
            ProtocolError::ResetWithoutClosingHandshake | ProtocolError::SendAfterClosing,
        ) => None,
        WsError::Protocol(ProtocolError::UnmaskedFrameFromClient) => {
            Some((close_code::PROTOCOL, "client frames must be masked"))
        }
        WsError::Protocol(
            ProtocolError::UnknownControlFrameType(_) | ProtocolError::UnknownDataFrameType(_),
        ) => Some((close_code::PROTOCOL, "reserved opcode")),
        WsError::Protocol(ProtocolError::ControlFrameTooBig) => Some((
            close_code::PROTOCOL,
            "control frames carry at most 125 bytes",
        )),
        WsError::Protocol(_) => Some((close_code::PROTOCOL, "protocol violation")),
        _ => None,
    }
}

fn to_value(v: impl serde::Serialize) -> Result<Value> {
    Ok(serde_json::to_value(v)?)
}

fn ack(id: String, result: Result<Value>) -> String {
    match result {
        Ok(data) => ServerFrame::Ack {
            id,
            ok: true,
            data: Some(data),
            error: None,
        },
        Err(e) => ServerFrame::Ack {
            id,
            ok: false,
            data: None,
            error: Some(e.to_json()),
        },
    }
    .encode()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

enum Replay {
    Events(Vec<Event>),
    /// Events after the resume point were pruned; the oldest retained seq.
    Pruned(i64),
}

/// The next replay batch after `last`, or `Pruned` when the log no longer holds
/// `last + 1`. The bound is read after the batch, so a prune racing the read is caught.
async fn replay_batch(maestro: &crate::Maestro, last: i64, projects: &[String]) -> Result<Replay> {
    let batch = maestro.events_since(last, REPLAY_BATCH, projects).await?;
    if projects.is_empty() && batch.first().is_some_and(|e| e.seq == last + 1) {
        return Ok(Replay::Events(batch));
    }
    let oldest = maestro.oldest_seq().await?;
    if last + 1 < oldest {
        return Ok(Replay::Pruned(oldest));
    }
    Ok(Replay::Events(batch))
}
