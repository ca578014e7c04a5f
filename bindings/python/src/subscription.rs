//! `maestro.Subscription`: a stream of events, both an iterator and an async iterator.
//!
//! A background task on the shared runtime forwards the core's [`Maestro::subscribe`] (the
//! sync client of a server, or a tail of a local store's event log) into a bounded channel.
//! Consumers move events from the channel to a ready queue
//! (while holding the receiver, so the queue keeps `seq` order) with the GIL released, then
//! take them from the front. An event received for an `async for` step that was cancelled
//! stays in the queue and is handed out by the next step, so none is lost.

use crate::error::to_py_err;
use crate::runtime::rt;
use crate::types::PyEvent;
use maestro_core::facade::subscribe::{self, SubscribeOptions, SubscriptionItem};
use maestro_core::{Error, Event, Maestro};
use pyo3::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Events buffered between the background task and the consumer.
const CHANNEL_CAPACITY: usize = 1024;
/// How often a blocked `next()` wakes up to let Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

type Item = Result<Event, Error>;

/// The outcome of waiting for an event.
enum Fill {
    /// The ready queue has an item.
    Ready,
    TimedOut,
    Closed,
}

/// A stream of events in `seq` order. Iterate it (`for ev in sub`), or `async for ev in sub`;
/// `next_event(timeout)` waits a bounded time. `close()` (or leaving a `with` block) stops
/// the background work and ends the iteration.
#[pyclass(frozen, name = "Subscription", module = "maestro")]
pub struct Subscription {
    rx: tokio::sync::Mutex<mpsc::Receiver<Item>>,
    /// Received events not yet handed out, oldest first.
    ready: Mutex<VecDeque<Item>>,
    stop: watch::Sender<bool>,
    last_seq: AtomicI64,
    /// The latest `(last_seq, oldest)` gap the event log could not replay.
    resync: Arc<Mutex<Option<(i64, i64)>>>,
}

impl Subscription {
    /// Subscribes (with the GIL released: a server is connected to first) and starts the
    /// background task feeding the subscription.
    pub fn start(py: Python<'_>, m: &Maestro, opts: SubscribeOptions) -> PyResult<Self> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (stop, stop_rx) = watch::channel(false);
        let resync = Arc::new(Mutex::new(None));
        let rt = rt()?;
        let sub = py
            .detach(|| rt.block_on(m.subscribe(opts)))
            .map_err(|e| to_py_err(py, e))?;
        let since = sub.last_seq();
        rt.spawn(forward(sub, tx, stop_rx, resync.clone()));
        Ok(Self {
            rx: tokio::sync::Mutex::new(rx),
            ready: Mutex::new(VecDeque::new()),
            stop,
            last_seq: AtomicI64::new(since),
            resync,
        })
    }

    fn ready(&self) -> MutexGuard<'_, VecDeque<Item>> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_closed(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits up to `timeout`, with the GIL released, until the ready queue has an item.
    fn fill(&self, py: Python<'_>, timeout: Duration) -> PyResult<Fill> {
        if self.is_closed() {
            return Ok(Fill::Closed);
        }
        if !self.ready().is_empty() {
            return Ok(Fill::Ready);
        }
        let rt = rt()?;
        let mut stop = self.stop.subscribe();
        Ok(py.detach(|| {
            rt.block_on(async {
                let sleep = tokio::time::sleep(timeout);
                tokio::pin!(sleep);
                let mut rx = tokio::select! {
                    rx = self.rx.lock() => rx,
                    _ = stop.wait_for(|s| *s) => return Fill::Closed,
                    _ = &mut sleep => return Fill::TimedOut,
                };
                // Another consumer may have filled the queue while this one waited for `rx`.
                if !self.ready().is_empty() {
                    return Fill::Ready;
                }
                tokio::select! {
                    item = rx.recv() => match item {
                        // Queued while `rx` is held, so the queue stays in channel order.
                        Some(item) => {
                            self.ready().push_back(item);
                            Fill::Ready
                        }
                        None => Fill::Closed,
                    },
                    _ = stop.wait_for(|s| *s) => Fill::Closed,
                    _ = &mut sleep => Fill::TimedOut,
                }
            })
        }))
    }

    /// Hands out the oldest ready event (remembering its seq), raises its error, or returns
    /// None when the queue is empty.
    fn pop(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        match self.ready().pop_front() {
            Some(Ok(ev)) => {
                self.last_seq.store(ev.seq, Ordering::Relaxed);
                Ok(Some(PyEvent(ev)))
            }
            Some(Err(e)) => Err(to_py_err(py, e)),
            None => Ok(None),
        }
    }

    /// Blocks until an event arrives or the subscription ends (`None`), checking for signals
    /// between waits; `timeout` bounds the whole wait (`None` on expiry).
    fn next_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Option<PyEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let step = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            match self.fill(py, step)? {
                Fill::Ready => {
                    if let Some(ev) = self.pop(py)? {
                        return Ok(Some(ev));
                    }
                }
                Fill::Closed => return Ok(None),
                Fill::TimedOut => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

#[pymethods]
impl Subscription {
    /// The `seq` of the last event handed out (at first the seq it started after: `since`,
    /// or the latest seq when subscribing from now).
    #[getter]
    fn last_seq(&self) -> i64 {
        self.last_seq.load(Ordering::Relaxed)
    }

    /// `(last_seq, oldest)` when the event log no longer had the events after `last_seq` (they
    /// were pruned) and the stream went on from `oldest`: reload the state you mirror. None
    /// otherwise.
    #[getter]
    fn resync_required(&self) -> Option<(i64, i64)> {
        *self.resync.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.is_closed()
    }

    /// The next event, waiting at most `timeout` seconds (None: until one arrives). Returns
    /// None on timeout or once the subscription is closed.
    #[pyo3(signature = (timeout = None))]
    fn next_event(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyEvent>> {
        let timeout = timeout
            .map(|t| {
                Duration::try_from_secs_f64(t.max(0.0)).map_err(|_| {
                    to_py_err(
                        py,
                        Error::invalid_argument("timeout must be a number of seconds"),
                    )
                })
            })
            .transpose()?;
        self.next_blocking(py, timeout)
    }

    /// Stops the background work; iteration ends. Idempotent.
    fn close(&self) {
        self.stop.send_replace(true);
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        self.next_blocking(py, None)
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Awaits the next event; the wait runs in the event loop's default executor.
    fn __anext__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("maestro._aio")?
            .getattr("next_event")?
            .call1((slf,))
    }

    /// Waits up to `timeout` seconds for an event to be ready for `_take()`. Returns
    /// `"ready"`, `"timeout"` or `"closed"` (used by `async for`).
    fn _fill(&self, py: Python<'_>, timeout: f64) -> PyResult<&'static str> {
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(SIGNAL_CHECK);
        Ok(match self.fill(py, timeout)? {
            Fill::Ready => "ready",
            Fill::TimedOut => "timeout",
            Fill::Closed => "closed",
        })
    }

    /// Hands out the oldest ready event, or None when another consumer took it first.
    fn _take(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        self.pop(py)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "Subscription(last_seq={}, closed={})",
            self.last_seq(),
            if self.closed() { "True" } else { "False" }
        )
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Forwards the core subscription's events until stopped or the consumer is gone; an error
/// (a server that refused, or every reconnection failed) ends the stream after it is handed
/// out.
async fn forward(
    mut sub: subscribe::Subscription,
    tx: mpsc::Sender<Item>,
    mut stop: watch::Receiver<bool>,
    resync: Arc<Mutex<Option<(i64, i64)>>>,
) {
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            next = sub.next() => next,
        };
        match next {
            Some(Ok(SubscriptionItem::Event(ev))) => {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    sent = tx.send(Ok(ev)) => if sent.is_err() { break },
                }
            }
            Some(Ok(SubscriptionItem::ResyncRequired { last_seq, oldest })) => {
                *resync.lock().unwrap_or_else(|p| p.into_inner()) = Some((last_seq, oldest));
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                break;
            }
            None => break,
        }
    }
    sub.close().await;
}
