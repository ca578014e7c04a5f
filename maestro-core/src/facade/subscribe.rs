//! Following the event log: one implementation for every front end (`maestro events
//! --follow`, the host, the Python and Node subscriptions).
//!
//! On a local store it tails the durable log: batches after the last seq, woken by this
//! process's commits and polling for other processes' writes. On a server it is the sync
//! client, which reconnects and resumes from the last seq. Either way every event arrives
//! once, in `seq` order, and a replay from before what the log retains is reported as
//! [`SubscriptionItem::ResyncRequired`] before the stream continues from the oldest event.

use super::Maestro;
use crate::error::Result;
use crate::model::Event;
use crate::rules::limits;
use std::collections::VecDeque;
use std::time::Duration;

/// How often a local subscription looks for events written by other processes.
pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

/// What to follow.
#[derive(Debug, Clone, Default)]
pub struct SubscribeOptions {
    /// Replay the events after this seq first; `None` (the default everywhere): only what
    /// happens from now on.
    pub since: Option<i64>,
    /// Only these projects' events (all when empty).
    pub projects: Vec<String>,
    /// The session following (sent to a server, whose leases it refreshes).
    pub session_id: Option<String>,
    /// Local polling interval for other processes' writes (default [`DEFAULT_POLL`]).
    pub poll: Option<Duration>,
}

/// One item of a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionItem {
    Event(Event),
    /// Events after `last_seq` up to `oldest - 1` are no longer retained; the stream goes on
    /// from `oldest`. A consumer keeping state should reload it.
    ResyncRequired {
        last_seq: i64,
        oldest: i64,
    },
}

/// A live stream of events; see the module docs.
pub struct Subscription {
    source: Source,
    last_seq: i64,
}

enum Source {
    Local {
        m: Maestro,
        projects: Vec<String>,
        buffer: VecDeque<Event>,
        commits: Option<tokio::sync::watch::Receiver<i64>>,
        poll: Duration,
    },
    #[cfg(feature = "remote")]
    Remote(Box<crate::remote::SyncClient>),
}

impl Maestro {
    /// Follows the event log from `opts.since` (default: now).
    pub async fn subscribe(&self, opts: SubscribeOptions) -> Result<Subscription> {
        let since = match opts.since {
            Some(s) if s < 0 => {
                return Err(crate::Error::invalid_argument("since must be 0 or a seq")
                    .with_suggestion("Pass 0 to replay the whole log, or the last seq you saw"));
            }
            Some(s) => s,
            None => self.latest_seq().await?,
        };
        #[cfg(feature = "remote")]
        if let Some(server) = self.store().server() {
            let sync = crate::remote::SyncOptions::new(server.url)
                .token(server.token)
                .session_id(opts.session_id)
                .since(Some(since))
                .projects(opts.projects);
            let client = crate::remote::SyncClient::connect(sync).await?;
            return Ok(Subscription {
                source: Source::Remote(Box::new(client)),
                last_seq: since,
            });
        }
        Ok(Subscription {
            source: Source::Local {
                m: self.clone(),
                projects: opts.projects,
                buffer: VecDeque::new(),
                commits: self.store().commit_notifications(),
                poll: opts.poll.unwrap_or(DEFAULT_POLL),
            },
            last_seq: since,
        })
    }
}

impl Subscription {
    /// The next item; `None` when a remote stream ended for good (the server refused it, or
    /// every reconnection failed: see the error it then returns once).
    ///
    /// Cancel-safe: dropping the future before it completes loses no event (a local read
    /// that did not finish is done again; a remote event stays queued), so it can race other
    /// futures in a `select!`.
    pub async fn next(&mut self) -> Option<Result<SubscriptionItem>> {
        let item = match &mut self.source {
            Source::Local {
                m,
                projects,
                buffer,
                commits,
                poll,
            } => loop {
                if let Some(e) = buffer.pop_front() {
                    break Ok(SubscriptionItem::Event(e));
                }
                match fill(m, projects, buffer, self.last_seq).await {
                    Ok(Some(resync)) => break Ok(resync),
                    Ok(None) if !buffer.is_empty() => continue,
                    Ok(None) => {}
                    // A busy database is worth another try after the pause.
                    Err(e) if e.retryable() => {}
                    Err(e) => break Err(e),
                }
                match commits {
                    Some(rx) => {
                        let _ = tokio::time::timeout(*poll, rx.changed()).await;
                    }
                    None => tokio::time::sleep(*poll).await,
                }
            },
            #[cfg(feature = "remote")]
            Source::Remote(client) => match client.next_event().await {
                Some(crate::remote::SyncEvent::Event(e)) => Ok(SubscriptionItem::Event(e)),
                Some(crate::remote::SyncEvent::ResyncRequired { last_seq, oldest }) => {
                    Ok(SubscriptionItem::ResyncRequired { last_seq, oldest })
                }
                None => return client.last_error().map(Err),
            },
        };
        match &item {
            Ok(SubscriptionItem::Event(e)) => self.last_seq = e.seq,
            Ok(SubscriptionItem::ResyncRequired { oldest, .. }) => {
                self.last_seq = self.last_seq.max(oldest - 1)
            }
            Err(_) => {}
        }
        Some(item)
    }

    /// The seq of the last event handed out (the start point before the first).
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// The connection state of a remote subscription (`None` for a local one).
    #[cfg(feature = "remote")]
    pub fn connection_state(&self) -> Option<crate::remote::ConnectionState> {
        match &self.source {
            Source::Remote(c) => Some(c.state()),
            Source::Local { .. } => None,
        }
    }

    /// A watch of the connection state of a remote subscription (`None` for a local one),
    /// for a front end that shows it.
    #[cfg(feature = "remote")]
    pub fn watch_connection(
        &self,
    ) -> Option<tokio::sync::watch::Receiver<crate::remote::ConnectionState>> {
        match &self.source {
            Source::Remote(c) => Some(c.watch_state()),
            Source::Local { .. } => None,
        }
    }

    /// Ends the subscription (closing a remote connection cleanly).
    pub async fn close(self) {
        #[cfg(feature = "remote")]
        if let Source::Remote(c) = self.source {
            c.close().await;
        }
    }
}

/// Reads the next batch after `last` into `buffer`; a resync when the log no longer holds
/// the events right after `last`.
async fn fill(
    m: &Maestro,
    projects: &[String],
    buffer: &mut VecDeque<Event>,
    last: i64,
) -> Result<Option<SubscriptionItem>> {
    let oldest = m.oldest_seq().await?;
    if last + 1 < oldest {
        return Ok(Some(SubscriptionItem::ResyncRequired {
            last_seq: last,
            oldest,
        }));
    }
    buffer.extend(
        m.events_since(last, limits::DEFAULT_EVENTS, projects)
            .await?,
    );
    Ok(None)
}
