//! Event subscriptions: the core's [`Maestro::subscribe`](maestro_core::Maestro::subscribe)
//! (a tail of a local store's event log, or the sync client of a server) behind a native
//! `next()` Promise that `index.js` exposes as an async iterator.

use crate::error::to_napi;
use maestro_core::facade::subscribe::{self, SubscriptionItem};
use maestro_core::remote::ConnectionState;
use napi_derive::napi;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// How often a pending `next()` of a server subscription refreshes `state`.
const STATE_REFRESH: Duration = Duration::from_millis(100);

/// `ConnectionState` as stored for the `state` getter.
fn state_code(s: ConnectionState) -> u8 {
    match s {
        ConnectionState::Connected => 0,
        ConnectionState::Reconnecting => 1,
        ConnectionState::Disconnected => 2,
    }
}

fn state_name(code: u8) -> &'static str {
    match code {
        0 => ConnectionState::Connected.as_str(),
        1 => ConnectionState::Reconnecting.as_str(),
        _ => ConnectionState::Disconnected.as_str(),
    }
}

/// A live event subscription; `next()` resolves with the next event in seq order, or `null`
/// once closed.
#[napi(js_name = "NativeSubscription")]
pub struct Subscription {
    /// `None` once closed or ended.
    inner: Arc<Mutex<Option<subscribe::Subscription>>>,
    closed: watch::Sender<bool>,
    /// The connection state of a server subscription as last seen (`None` for a local one).
    remote: Option<Arc<AtomicU8>>,
}

impl Subscription {
    pub fn new(sub: subscribe::Subscription) -> Self {
        let (closed, _) = watch::channel(false);
        let remote = sub
            .connection_state()
            .map(|s| Arc::new(AtomicU8::new(state_code(s))));
        Self {
            inner: Arc::new(Mutex::new(Some(sub))),
            closed,
            remote,
        }
    }
}

async fn wait_closed(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens when the subscription is dropped.
    let _ = rx.wait_for(|closed| *closed).await;
}

fn to_js(value: &impl serde::Serialize) -> napi::Result<Option<String>> {
    serde_json::to_string(value)
        .map(Some)
        .map_err(|e| to_napi(e.into()))
}

#[napi]
impl Subscription {
    /// The next event (`{type, seq, ts, projectId, data}`), or `null` after `close()`. When
    /// the log no longer holds the missed events (they were pruned) it yields
    /// `{type: 'resync_required', lastSeq, oldest}`: reload what you mirror, then go on.
    #[napi(ts_return_type = "Promise<Json<MaestroEvent | ResyncRequired> | null>")]
    pub async fn next(&self) -> napi::Result<Option<String>> {
        let closed = self.closed.subscribe();
        let mut guard = tokio::select! {
            g = self.inner.lock() => g,
            _ = wait_closed(closed.clone()) => return Ok(None),
        };
        loop {
            if *closed.borrow() {
                *guard = None;
                return Ok(None);
            }
            let Some(sub) = guard.as_mut() else {
                return Ok(None);
            };
            // The core's `next()` loses nothing when it is dropped before it resolves, so it
            // can give way to `close()` and, on a server, to a refresh of `state`.
            let item = tokio::select! {
                item = sub.next() => item,
                _ = wait_closed(closed.clone()) => continue,
                _ = tokio::time::sleep(STATE_REFRESH), if self.remote.is_some() => {
                    self.note_state(sub);
                    continue;
                }
            };
            self.note_state(sub);
            return match item {
                Some(Ok(SubscriptionItem::Event(event))) => to_js(&event),
                Some(Ok(SubscriptionItem::ResyncRequired { last_seq, oldest })) => to_js(&json!({
                    "type": "resync_required",
                    "lastSeq": last_seq,
                    "oldest": oldest,
                })),
                Some(Err(e)) => Err(to_napi(e)),
                // A server stream that ended for good.
                None => {
                    *guard = None;
                    Ok(None)
                }
            };
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
        match &self.remote {
            Some(state) => state_name(state.load(Ordering::Relaxed)),
            None => ConnectionState::Connected.as_str(),
        }
    }

    /// Stops the subscription: pending and later `next()` calls resolve with `null`, and a
    /// server connection is closed.
    #[napi]
    pub fn close(&self) {
        self.closed.send_replace(true);
        // Dropped, a server subscription stops its connection; a pending `next()` drops it
        // itself when it sees `closed`.
        if let Ok(mut inner) = self.inner.try_lock() {
            inner.take();
        }
    }
}

impl Subscription {
    fn note_state(&self, sub: &subscribe::Subscription) {
        if let (Some(state), Some(now)) = (&self.remote, sub.connection_state()) {
            state.store(state_code(now), Ordering::Relaxed);
        }
    }
}
