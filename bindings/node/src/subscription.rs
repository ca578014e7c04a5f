//! Event subscriptions: a native `next()` Promise that `index.js` exposes as an async
//! iterator.
//!
//! - Local store: the subscription tails the durable event log. It reads the events after
//!   the last seq it delivered; when there are none it waits for a commit of this process or
//!   the poll interval (events written by other processes), whichever comes first.
//! - Server: the core's [`SyncClient`] (WebSocket, reconnection, exactly-once in order).

use crate::error::{OrNapi, to_napi};
use maestro_core::remote::{ConnectionState, SyncClient, SyncEvent};
use maestro_core::{Error, Event, Maestro};
use napi_derive::napi;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// Events read from the log per query.
const BATCH: usize = 256;

/// Where a subscription reads its events.
pub enum Source {
    Local {
        maestro: Maestro,
        /// The latest seq committed by this process, when the store notifies.
        commits: Option<watch::Receiver<i64>>,
        poll: Duration,
    },
    Remote(SyncClient),
    /// Closed: the source was dropped (a remote connection is closed with it).
    Closed,
}

struct State {
    source: Source,
    last_seq: i64,
    projects: Vec<String>,
    buffer: VecDeque<Event>,
}

/// A live event subscription; `next()` resolves with the next event in seq order, or `null`
/// once closed.
#[napi(js_name = "NativeSubscription")]
pub struct Subscription {
    state: Arc<Mutex<State>>,
    closed: watch::Sender<bool>,
    connection: Option<watch::Receiver<ConnectionState>>,
}

impl Subscription {
    pub fn new(source: Source, since: i64, projects: Vec<String>) -> Self {
        let (closed, _) = watch::channel(false);
        let connection = match &source {
            Source::Remote(client) => Some(client.watch_state()),
            _ => None,
        };
        Self {
            state: Arc::new(Mutex::new(State {
                source,
                last_seq: since,
                projects,
                buffer: VecDeque::new(),
            })),
            closed,
            connection,
        }
    }
}

async fn wait_closed(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens when the subscription is dropped.
    let _ = rx.wait_for(|closed| *closed).await;
}

async fn changed(commits: &mut Option<watch::Receiver<i64>>) {
    match commits {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn to_js(event: &impl serde::Serialize) -> napi::Result<Option<String>> {
    serde_json::to_string(event)
        .map(Some)
        .map_err(|e| to_napi(e.into()))
}

#[napi]
impl Subscription {
    /// The next event (`{type, seq, ts, projectId, data}`), or `null` after `close()`. A
    /// server that no longer retains the missed events yields
    /// `{type: 'resync_required', lastSeq, oldest}`: reload what you mirror, then go on.
    #[napi(ts_return_type = "Promise<Json<MaestroEvent | ResyncRequired> | null>")]
    pub async fn next(&self) -> napi::Result<Option<String>> {
        let closed = self.closed.subscribe();
        if *closed.borrow() {
            return Ok(None);
        }
        let mut guard = tokio::select! {
            g = self.state.lock() => g,
            _ = wait_closed(closed.clone()) => return Ok(None),
        };
        let state = &mut *guard;
        loop {
            if *closed.borrow() {
                state.source = Source::Closed;
                return Ok(None);
            }
            if let Some(event) = state.buffer.pop_front() {
                return to_js(&event);
            }
            match &mut state.source {
                Source::Closed => return Ok(None),
                Source::Local {
                    maestro,
                    commits,
                    poll,
                } => {
                    if let Some(rx) = commits.as_mut() {
                        rx.mark_unchanged();
                    }
                    let events = maestro
                        .events_since(state.last_seq, BATCH, &state.projects)
                        .await
                        .or_napi()?;
                    if let Some(last) = events.last() {
                        state.last_seq = last.seq;
                        state.buffer.extend(events);
                        continue;
                    }
                    tokio::select! {
                        _ = changed(commits) => {}
                        _ = tokio::time::sleep(*poll) => {}
                        _ = wait_closed(closed.clone()) => {}
                    }
                }
                Source::Remote(client) => {
                    let next = tokio::select! {
                        next = client.next_event() => next,
                        _ = wait_closed(closed.clone()) => continue,
                    };
                    match next {
                        Some(SyncEvent::Event(event)) => {
                            state.last_seq = event.seq;
                            return to_js(&event);
                        }
                        Some(SyncEvent::ResyncRequired { last_seq, oldest }) => {
                            state.last_seq = oldest - 1;
                            return to_js(&json!({
                                "type": "resync_required",
                                "lastSeq": last_seq,
                                "oldest": oldest,
                            }));
                        }
                        None => {
                            // The client gave up (refused, or the reconnect limit was hit).
                            let error = client.last_error();
                            state.source = Source::Closed;
                            return match error {
                                Some(e) => Err(to_napi(e)),
                                None if *closed.borrow() => Ok(None),
                                None => Err(to_napi(Error::new(
                                    maestro_core::Code::NetworkError,
                                    "The event stream closed",
                                ))),
                            };
                        }
                    }
                }
            }
        }
    }

    /// `connected`, `reconnecting` (a server connection is down and being retried) or
    /// `disconnected` (closed).
    #[napi(
        getter,
        ts_return_type = "'connected' | 'reconnecting' | 'disconnected'"
    )]
    pub fn state(&self) -> &'static str {
        if *self.closed.borrow() {
            return ConnectionState::Disconnected.as_str();
        }
        match &self.connection {
            Some(rx) => rx.borrow().as_str(),
            None => ConnectionState::Connected.as_str(),
        }
    }

    /// Stops the subscription: pending and later `next()` calls resolve with `null`, and a
    /// server connection is closed.
    #[napi]
    pub fn close(&self) {
        self.closed.send_replace(true);
        if let Ok(mut state) = self.state.try_lock() {
            state.source = Source::Closed;
        }
    }
}
