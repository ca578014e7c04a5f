//! Event subscriptions: a native `next()` Promise that `index.js` exposes as an async
//! iterator.
//!
//! On a local store the subscription tails the durable event log: it reads the events after
//! the last seq it delivered, and when there are none it waits for a commit of this process
//! or the poll interval (events written by other processes), whichever comes first.

use crate::error::OrNapi;
use maestro_core::{Event, Maestro};
use napi_derive::napi;
use serde_json::Value;
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
        /// The latest seq committed by this process.
        commits: watch::Receiver<i64>,
        poll: Duration,
    },
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
}

impl Subscription {
    pub fn new(source: Source, since: i64, projects: Vec<String>) -> Self {
        let (closed, _) = watch::channel(false);
        Self {
            state: Arc::new(Mutex::new(State {
                source,
                last_seq: since,
                projects,
                buffer: VecDeque::new(),
            })),
            closed,
        }
    }
}

async fn wait_closed(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens when the subscription is dropped.
    let _ = rx.wait_for(|closed| *closed).await;
}

#[napi]
impl Subscription {
    /// The next event (`{type, seq, ts, projectId, data}`), or `null` after `close()`.
    #[napi(ts_return_type = "Promise<MaestroEvent | null>")]
    pub async fn next(&self) -> napi::Result<Option<Value>> {
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
                return Ok(None);
            }
            if let Some(event) = state.buffer.pop_front() {
                return serde_json::to_value(event)
                    .map(Some)
                    .map_err(|e| crate::error::to_napi(e.into()));
            }
            match &mut state.source {
                Source::Local {
                    maestro,
                    commits,
                    poll,
                } => {
                    commits.mark_unchanged();
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
                        _ = commits.changed() => {}
                        _ = tokio::time::sleep(*poll) => {}
                        _ = wait_closed(closed.clone()) => return Ok(None),
                    }
                }
            }
        }
    }

    /// Stops the subscription: pending and later `next()` calls resolve with `null`.
    #[napi]
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}
