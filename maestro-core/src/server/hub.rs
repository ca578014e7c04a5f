//! Live event fan-out: one tailer reads the event log once and hands each event, encoded
//! once, to every subscriber through a bounded per-subscriber channel.
//!
//! Registration and publication happen under one lock, so a subscriber registered when
//! `published == P` receives exactly the events with `seq > P` (those it asked for); it
//! replays `(since, P]` from the store itself.

use super::AppState;
use crate::model::Event;
use crate::protocol::ServerFrame;
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Events read per query by the tailer.
const TAIL_BATCH: usize = 1000;

/// An event ready to send: its seq and project for filtering, its frame encoded once.
#[derive(Debug)]
pub(crate) struct LiveEvent {
    pub seq: i64,
    pub project_id: Option<String>,
    pub text: Utf8Bytes,
}

impl LiveEvent {
    pub fn encode(event: Event) -> Self {
        let seq = event.seq;
        let project_id = event.project_id.clone();
        let text = Utf8Bytes::from(ServerFrame::Event(event).encode());
        Self {
            seq,
            project_id,
            text,
        }
    }
}

/// Why the hub ended a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The subscriber's buffer was full.
    SlowConsumer,
    /// Events were pruned before the tailer could read them.
    Resync { oldest: i64 },
}

type EndSlot = Arc<Mutex<Option<EndReason>>>;

struct Sub {
    tx: mpsc::Sender<Arc<LiveEvent>>,
    /// Empty: every project.
    projects: Arc<[String]>,
    end: EndSlot,
}

struct Inner {
    published: i64,
    next_id: u64,
    subs: HashMap<u64, Sub>,
}

/// The fan-out point.
pub(crate) struct Hub {
    inner: Mutex<Inner>,
    capacity: usize,
}

/// A live subscription: receive events with `seq > published`.
pub(crate) struct Subscription {
    pub id: u64,
    pub rx: mpsc::Receiver<Arc<LiveEvent>>,
    pub published: i64,
    end: EndSlot,
}

impl Subscription {
    /// Why the hub closed the channel (`None`: the server is stopping).
    pub fn end_reason(&self) -> Option<EndReason> {
        *self.end.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn matches(projects: &[String], project_id: Option<&str>) -> bool {
    projects.is_empty() || project_id.is_some_and(|p| projects.iter().any(|x| x == p))
}

impl Hub {
    pub fn new(published: i64, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                published,
                next_id: 1,
                subs: HashMap::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, projects: Vec<String>) -> Subscription {
        let (tx, rx) = mpsc::channel(self.capacity);
        let end: EndSlot = Arc::new(Mutex::new(None));
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.subs.insert(
            id,
            Sub {
                tx,
                projects: projects.into(),
                end: end.clone(),
            },
        );
        Subscription {
            id,
            rx,
            published: inner.published,
            end,
        }
    }

    pub fn unregister(&self, id: u64) {
        self.lock().subs.remove(&id);
    }

    /// Hands `events` (contiguous, after `published`) to every matching subscriber; a
    /// subscriber whose buffer is full is dropped as a slow consumer. Returns how many
    /// slow consumers were dropped.
    pub fn publish(&self, events: &[Arc<LiveEvent>]) -> usize {
        let Some(last) = events.last() else {
            return 0;
        };
        let mut inner = self.lock();
        let mut dropped = Vec::new();
        let mut slow = 0;
        for (id, sub) in inner.subs.iter() {
            for ev in events {
                if !matches(&sub.projects, ev.project_id.as_deref()) {
                    continue;
                }
                match sub.tx.try_send(ev.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        *sub.end.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(EndReason::SlowConsumer);
                        dropped.push(*id);
                        slow += 1;
                        break;
                    }
                    Err(TrySendError::Closed(_)) => {
                        dropped.push(*id);
                        break;
                    }
                }
            }
        }
        for id in dropped {
            inner.subs.remove(&id);
        }
        inner.published = last.seq;
        slow
    }

    /// Ends every subscription with `resync_required` and moves `published` to `seq`.
    pub fn resync_all(&self, oldest: i64, seq: i64) {
        let mut inner = self.lock();
        for (_, sub) in inner.subs.drain() {
            *sub.end.lock().unwrap_or_else(|p| p.into_inner()) = Some(EndReason::Resync { oldest });
        }
        inner.published = seq;
    }

    /// With nobody subscribed there is nobody to deliver to: moves `published` to `seq`
    /// without reading the events (a later subscriber replays them from the store).
    /// Returns whether it did.
    pub fn skip_if_idle(&self, seq: i64) -> bool {
        let mut inner = self.lock();
        if inner.subs.is_empty() {
            inner.published = inner.published.max(seq);
            true
        } else {
            false
        }
    }

    pub fn published(&self) -> i64 {
        self.lock().published
    }

    pub fn subscribers(&self) -> usize {
        self.lock().subs.len()
    }
}

/// The event-log tailer: wakes on this process's commits (instantly) and every
/// `poll_interval` (for other processes' writes), reads the new events once and publishes
/// them; prunes the log every `prune_interval`. Runs until the server stops.
pub(crate) async fn run_tailer(state: AppState, mut last: i64) {
    let mut stop = state.stop.subscribe();
    let store = state.maestro.store().clone();
    let mut commits = store.commit_notifications();
    let mut poll = tokio::time::interval(state.opts.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(state.opts.prune_interval);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let mut known: Option<i64> = None;
        tokio::select! {
            _ = super::stopped(&mut stop) => break,
            changed = async {
                match commits.as_mut() {
                    Some(rx) => rx.changed().await.map(|_| *rx.borrow_and_update()),
                    None => std::future::pending().await,
                }
            } => match changed {
                Ok(seq) => known = Some(seq),
                // The store is gone; keep polling.
                Err(_) => commits = None,
            },
            _ = poll.tick() => {}
            _ = prune.tick() => {
                if state.opts.retain_events > 0 {
                    match store.prune_events(state.opts.retain_events).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, keep = state.opts.retain_events, "pruned the event log"),
                        Err(e) => tracing::warn!(error = %e, "cannot prune the event log"),
                    }
                }
                match store.prune_op_records(state.opts.op_retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned idempotency records"),
                    Err(e) => tracing::warn!(error = %e, "cannot prune idempotency records"),
                }
                continue;
            }
        }
        let latest = match known {
            Some(seq) => seq,
            None => match store.latest_seq().await {
                Ok(seq) => seq,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the event log; retrying");
                    }
                    failing = true;
                    continue;
                }
            },
        };
        if latest <= last {
            continue;
        }
        if state.hub.skip_if_idle(latest) {
            last = latest;
            continue;
        }
        match read_new(&state, &mut last).await {
            Ok(()) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read new events; retrying");
                }
                failing = true;
                // Wait for the next tick rather than spinning on a failing store.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Reads and publishes every event after `last`.
async fn read_new(state: &AppState, last: &mut i64) -> crate::Result<()> {
    loop {
        let batch = state.maestro.events_since(*last, TAIL_BATCH, &[]).await?;
        let Some(first) = batch.first() else {
            return Ok(());
        };
        if first.seq != *last + 1 {
            // The log was pruned past what we had read: nobody can be served without a gap.
            let oldest = state.maestro.oldest_seq().await.unwrap_or(first.seq);
            tracing::warn!(
                last = *last,
                next = first.seq,
                "the event log was pruned before it was delivered; subscribers must resync"
            );
            state.hub.resync_all(oldest, first.seq - 1);
        }
        let full = batch.len() == TAIL_BATCH;
        let events: Vec<Arc<LiveEvent>> = batch
            .into_iter()
            .map(|e| Arc::new(LiveEvent::encode(e)))
            .collect();
        *last = events.last().map_or(*last, |e| e.seq);
        state.metrics.published(events.len() as u64);
        let slow = state.hub.publish(&events);
        if slow > 0 {
            tracing::debug!(slow, "dropped slow subscribers");
        }
        if !full {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: i64, project: &str) -> Arc<LiveEvent> {
        Arc::new(LiveEvent {
            seq,
            project_id: Some(project.into()),
            text: Utf8Bytes::from(format!("{seq}")),
        })
    }

    #[test]
    fn subscribers_get_events_after_registration_filtered_by_project() {
        let hub = Hub::new(10, 8);
        let mut all = hub.register(vec![]);
        let mut only_b = hub.register(vec!["b".into()]);
        assert_eq!(all.published, 10);
        hub.publish(&[ev(11, "a"), ev(12, "b")]);
        let late = hub.register(vec![]);
        assert_eq!(late.published, 12);
        assert_eq!(all.rx.try_recv().unwrap().seq, 11);
        assert_eq!(all.rx.try_recv().unwrap().seq, 12);
        assert_eq!(only_b.rx.try_recv().unwrap().seq, 12);
        assert!(only_b.rx.try_recv().is_err());
        hub.unregister(late.id);
        assert_eq!(hub.subscribers(), 2);
    }

    #[test]
    fn a_full_buffer_drops_the_subscriber_as_slow() {
        let hub = Hub::new(0, 2);
        let mut sub = hub.register(vec![]);
        let dropped = hub.publish(&[ev(1, "a"), ev(2, "a"), ev(3, "a")]);
        assert_eq!(dropped, 1);
        assert_eq!(hub.subscribers(), 0);
        assert_eq!(sub.rx.try_recv().unwrap().seq, 1);
        assert_eq!(sub.rx.try_recv().unwrap().seq, 2);
        assert!(sub.rx.try_recv().is_err());
        assert_eq!(sub.end_reason(), Some(EndReason::SlowConsumer));
    }

    #[test]
    fn an_idle_hub_skips_ahead_and_a_busy_one_does_not() {
        let hub = Hub::new(5, 2);
        assert!(hub.skip_if_idle(9));
        assert_eq!(hub.register(vec![]).published, 9);
        assert!(!hub.skip_if_idle(12));
        assert_eq!(hub.published(), 9);
    }

    #[test]
    fn resync_ends_every_subscription() {
        let hub = Hub::new(0, 2);
        let sub = hub.register(vec![]);
        hub.resync_all(50, 60);
        assert_eq!(sub.end_reason(), Some(EndReason::Resync { oldest: 50 }));
        assert_eq!(hub.published(), 60);
        assert_eq!(hub.subscribers(), 0);
    }
}
