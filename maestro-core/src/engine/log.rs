//! The event log, its retention, the idempotency records' retention, and status counts.

use super::resolve;
use super::{ReadOp, Rows, WriteOp};
use crate::error::Result;
use crate::model::*;
use crate::rules::limits;
use crate::rules::ownership::Actor;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct EventsSince {
    pub since: i64,
    pub limit: usize,
    pub projects: Vec<String>,
}

impl ReadOp for EventsSince {
    type Output = Vec<Event>;

    /// Unfiltered, at most a thousand rows of one range: the live tail's read.
    fn is_short(&self) -> bool {
        self.limit <= limits::MAX_LIMIT && self.projects.is_empty()
    }

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Vec<Event>> {
        let limit = self.limit.clamp(1, limits::MAX_EVENTS);
        rows.events_since(self.since, limit, &self.projects).await
    }
}

pub struct LatestSeq;

impl ReadOp for LatestSeq {
    type Output = i64;
    fn is_short(&self) -> bool {
        true
    }
    async fn run<R: Rows>(&self, rows: &mut R) -> Result<i64> {
        rows.latest_seq().await
    }
}

pub struct OldestSeq;

impl ReadOp for OldestSeq {
    type Output = i64;
    fn is_short(&self) -> bool {
        true
    }
    async fn run<R: Rows>(&self, rows: &mut R) -> Result<i64> {
        rows.oldest_seq().await
    }
}

/// Counts for `maestro status`.
pub struct Status(pub Option<String>);

impl ReadOp for Status {
    type Output = StatusReport;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<StatusReport> {
        let project = resolve::project(rows, self.0.as_deref()).await?;
        let tally = rows.tally_tasks(&project.id).await?;
        let mut by_status: Map<String, Value> = TaskStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), json!(0)))
            .collect();
        for (s, n) in &tally.by_status {
            by_status.insert(s.as_str().to_string(), json!(n));
        }
        let mut by_priority: Map<String, Value> = Priority::ALL
            .iter()
            .map(|p| (p.as_str().to_string(), json!(0)))
            .collect();
        for (p, n) in &tally.by_priority {
            by_priority.insert(p.as_str().to_string(), json!(n));
        }
        let total = tally.by_status.iter().map(|(_, n)| n).sum();
        let sessions = rows.tally_sessions(&project.id).await?;
        Ok(StatusReport {
            project_id: project.id,
            tasks: TaskCounts {
                total,
                by_status,
                by_priority,
                ready: tally.ready,
            },
            sessions: SessionCounts {
                active: sessions.active,
                total: sessions.total,
            },
            usage: sessions.usage,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneEvents {
    pub keep: usize,
}

impl WriteOp for PruneEvents {
    type Output = u64;
    const NAME: &'static str = "events.prune";
    const LONG: bool = true;

    async fn run<R: Rows>(&self, rows: &mut R, _: Actor<'_>) -> Result<u64> {
        rows.prune_events(self.keep.max(1)).await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneOpRecords {
    pub retention: Duration,
}

impl WriteOp for PruneOpRecords {
    type Output = u64;
    const NAME: &'static str = "ops.prune";
    const LONG: bool = true;

    async fn run<R: Rows>(&self, rows: &mut R, _: Actor<'_>) -> Result<u64> {
        let before = crate::rules::lease::cutoff(rows.now(), self.retention);
        rows.prune_op_records(before).await
    }
}
