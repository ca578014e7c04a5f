//! Task timelines: entries appended by operations, progress and comments, and paging.

use super::resolve::resolve;
use super::tasks::check_access;
use super::{ReadOp, Rows, WriteOp, emit, load_task};
use crate::error::{Error, Result};
use crate::id::IdKind;
use crate::model::*;
use crate::rules::limits;
use crate::rules::ownership::{Access, Actor};
use crate::store::TimelineQuery;
use serde::Serialize;
use serde_json::json;

/// Appends a timeline entry to `task` and its `timeline:added` event.
pub(crate) async fn add_entry<R: Rows>(
    rows: &mut R,
    task: &Task,
    kind: TimelineKind,
    actor: Option<&str>,
) -> Result<TimelineEntry> {
    let now = rows.now();
    let id = rows.insert_timeline(&task.id, &kind, actor, now).await?;
    let entry = TimelineEntry {
        id,
        task_id: task.id.clone(),
        kind,
        timestamp: ts(now),
        session_id: actor.map(str::to_string),
    };
    emit(rows, EventType::TimelineAdded, &task.project_id, &entry).await?;
    Ok(entry)
}

/// A change below the task (timeline, subtasks): the task was updated now, but its
/// `version` stays: the version guards the task's own fields (title, description, priority,
/// status, dependencies, labels, metadata, owners), so an orchestrator's `--if-version` edit
/// does not fail because a worker reported progress or ticked a subtask. No `task:updated`
/// event.
pub(crate) async fn touch<R: Rows>(rows: &mut R, task: &mut Task) -> Result<()> {
    task.updated_at = ts(rows.now());
    rows.save_task(task).await
}

/// A progress entry (the owners' report) or a comment (anyone's note).
#[derive(Debug, Clone, Serialize)]
pub struct AddTimeline {
    pub task_id: String,
    pub kind: TimelineKind,
}

impl WriteOp for AddTimeline {
    type Output = TimelineEntry;
    const NAME: &'static str = "task.timeline";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<TimelineEntry> {
        let progress = match &self.kind {
            TimelineKind::Progress { .. } => true,
            TimelineKind::Comment { .. } => false,
            other => {
                return Err(Error::invalid_argument(format!(
                    "Only progress and comment entries can be added directly, not '{}'",
                    other.type_name()
                ))
                .with_details(json!({ "allowed": ["progress", "comment"] })));
            }
        };
        let id = resolve(rows, IdKind::Task, &self.task_id).await?;
        let mut task = load_task(rows, &id).await?;
        if progress {
            let access = check_access(rows, &task, actor, false).await?;
            debug_assert!(!matches!(access, Access::Override { .. }));
        }
        let entry = add_entry(rows, &task, self.kind.clone(), actor.session_id()).await?;
        touch(rows, &mut task).await?;
        Ok(entry)
    }
}

pub struct ReadTimeline {
    pub task_id: String,
    pub query: TimelineQuery,
}

impl ReadOp for ReadTimeline {
    type Output = Page<TimelineEntry>;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Page<TimelineEntry>> {
        let id = resolve(rows, IdKind::Task, &self.task_id).await?;
        let limit = limits::page_size(self.query.limit, limits::DEFAULT_LIMIT, limits::MAX_LIMIT)?;
        let after = limits::parse_cursor(self.query.cursor.as_deref())?.unwrap_or(0);
        let entries = rows.timeline_after(&id, after, limit + 1).await?;
        let keyed = entries.into_iter().map(|e| {
            let key = e.id;
            (e, key)
        });
        Ok(limits::page(keyed.collect(), limit))
    }
}
