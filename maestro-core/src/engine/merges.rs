//! Task worktrees and the merge queues (SPEC §11): what the store keeps of them. The git
//! work (creating worktrees, merging) is [`crate::worktree`]'s; the runner (a host, or the
//! CLI's `maestro merge`) reports each step here, and these operations persist it with its
//! effect on the task, by the rules of [`crate::rules::merge`].

use super::resolve::resolve;
use super::tasks::persist;
use super::{ReadOp, Rows, WriteOp, emit, load_task};
use crate::error::{Error, Result};
use crate::id::IdKind;
use crate::model::*;
use crate::rules::effects::Effects;
use crate::rules::merge::{self as rule, Applied};
use crate::rules::ownership::Actor;
use crate::store::{MergeEnqueue, MergeResult, ProjectQueue};
use crate::worktree::{MergeQueue, Progress, QueueEntry};
use serde::Serialize;
use serde_json::json;

/// How long a merging entry no process works on is left alone before it is put back in
/// line (its runner is between taking it and writing its journal, or died).
pub const ORPHAN_GRACE_MS: i64 = 60_000;

/// Records a task's worktree.
#[derive(Debug, Clone, Serialize)]
pub struct SetTaskWorktree {
    pub task_id: String,
    pub worktree: Option<TaskWorktree>,
}

impl WriteOp for SetTaskWorktree {
    type Output = Task;
    const NAME: &'static str = "task.worktree";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Task> {
        let id = resolve(rows, IdKind::Task, &self.task_id).await?;
        let mut task = load_task(rows, &id).await?;
        rule::check_recorder(actor)?;
        if task.worktree == self.worktree {
            return Ok(task);
        }
        task.worktree = self.worktree.clone();
        super::tasks::save(rows, &mut task).await?;
        Ok(task)
    }
}

/// A queue changed: its `merge:updated` event (the queue, the task and what happened).
async fn updated<R: Rows>(
    rows: &mut R,
    project_id: &str,
    queue: &MergeQueue,
    task_id: &str,
    action: &str,
) -> Result<()> {
    rows.save_merge_queue(project_id, queue).await?;
    emit(
        rows,
        EventType::MergeUpdated,
        project_id,
        &json!({ "projectId": project_id, "taskId": task_id, "action": action,
                 "target": queue.target, "entries": queue.entries }),
    )
    .await
}

/// Drops a deleted task from its project's merge queues.
pub(crate) async fn drop_from_queues<R: Rows>(
    rows: &mut R,
    project_id: &str,
    task_id: &str,
) -> Result<()> {
    for mut pq in rows.merge_queues(Some(project_id)).await? {
        if pq.queue.remove(task_id) {
            updated(rows, project_id, &pq.queue, task_id, "removed").await?;
        }
    }
    Ok(())
}

async fn queue_of<R: Rows>(rows: &mut R, project_id: &str, target: &str) -> Result<MergeQueue> {
    Ok(rows
        .merge_queue(project_id, target)
        .await?
        .unwrap_or_else(|| MergeQueue::new(target)))
}

#[derive(Debug, Clone, Serialize)]
pub struct EnqueueMerge(pub MergeEnqueue);

impl WriteOp for EnqueueMerge {
    type Output = ProjectQueue;
    const NAME: &'static str = "merge.enqueue";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<ProjectQueue> {
        let id = resolve(rows, IdKind::Task, &self.0.task_id).await?;
        let task = load_task(rows, &id).await?;
        let wt = rule::check_enqueue(&task, actor, self.0.force)?;
        let target = rule::target(
            wt,
            self.0.into.as_deref(),
            self.0.configured_into.as_deref(),
        )?;
        let mut queue = queue_of(rows, &task.project_id, &target).await?;
        let how = queue.enqueue(&task.id, &wt.branch, Some(&task.title));
        if how != crate::worktree::queue::Enqueued::AlreadyQueued {
            queue.prune_finished(rule::KEEP_FINISHED);
            updated(rows, &task.project_id, &queue, &task.id, "queued").await?;
        }
        Ok(ProjectQueue {
            project_id: task.project_id,
            queue,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StartMerge {
    pub project_id: String,
    pub target: String,
}

impl WriteOp for StartMerge {
    type Output = Option<QueueEntry>;
    const NAME: &'static str = "merge.start";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Option<QueueEntry>> {
        rule::check_recorder(actor)?;
        let project = resolve(rows, IdKind::Project, &self.project_id).await?;
        let Some(mut queue) = rows.merge_queue(&project, &self.target).await? else {
            return Ok(None);
        };
        let Some(next) = queue.next().map(|e| e.task_id.clone()) else {
            return Ok(None);
        };
        queue.start(&next);
        let now = rows.now();
        let entry = queue
            .entries
            .iter_mut()
            .find(|e| e.task_id == next)
            .map(|e| {
                e.started_at = Some(now);
                e.clone()
            });
        updated(rows, &project, &queue, &next, "merging").await?;
        Ok(entry)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FinishMerge {
    pub task_id: String,
    pub target: String,
    pub result: MergeResult,
}

impl WriteOp for FinishMerge {
    type Output = ProjectQueue;
    const NAME: &'static str = "merge.finish";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<ProjectQueue> {
        rule::check_recorder(actor)?;
        let id = resolve(rows, IdKind::Task, &self.task_id).await?;
        let mut task = load_task(rows, &id).await?;
        let mut queue = queue_of(rows, &task.project_id, &self.target).await?;
        if queue.get(&task.id).is_none() {
            return Err(Error::invalid_argument(format!(
                "Task '{}' is not in the merge queue of '{}'",
                task.id, self.target
            ))
            .with_details(json!({ "taskId": task.id, "target": self.target }))
            .with_suggestion("Queue it first: maestro merge <task>"));
        }
        let action = match &self.result {
            MergeResult::Requeue => {
                queue.requeue(&task.id);
                "requeued"
            }
            MergeResult::Error { code, message } => {
                queue.fail(
                    &task.id,
                    &Error::new(crate::error::Code::parse(code), message.clone()),
                );
                "failed"
            }
            MergeResult::Outcome { outcome } => {
                queue.finish(&task.id, outcome);
                apply_outcome(rows, &mut task, &self.target, outcome, actor).await?;
                outcome.kind()
            }
        };
        updated(rows, &task.project_id, &queue, &task.id, action).await?;
        Ok(ProjectQueue {
            project_id: task.project_id,
            queue,
        })
    }
}

/// What a merge's outcome does to its task: a `merged` entry, or blocked with the details
/// and a subtask saying what to resolve.
async fn apply_outcome<R: Rows>(
    rows: &mut R,
    task: &mut Task,
    target: &str,
    outcome: &crate::worktree::MergeOutcome,
    actor: Actor<'_>,
) -> Result<()> {
    let Some(wt) = task.worktree.clone() else {
        return Ok(());
    };
    let mut fx = Effects::default();
    match rule::outcome_effects(&wt, target, outcome) {
        Applied::Nothing => return Ok(()),
        Applied::Merged(entry) => {
            let head = match outcome {
                crate::worktree::MergeOutcome::Merged { task_head, .. } => task_head.clone(),
                _ => String::new(),
            };
            rule::merged(task, entry, &head, &mut fx);
        }
        Applied::Blocked(r) => {
            let sub =
                super::subtasks::add(rows, task, &r.subtask_title, &r.subtask_description, actor)
                    .await?;
            let mut details = r.details;
            details["subtaskId"] = json!(sub.id);
            rule::block(task, r.reason, details, &mut fx);
        }
    }
    persist(rows, task, fx, actor.session_id()).await
}

/// A step of a running merge: a `merge:step` event.
#[derive(Debug, Clone, Serialize)]
pub struct MergeStep {
    pub task_id: String,
    pub target: String,
    pub step: Progress,
}

impl WriteOp for MergeStep {
    type Output = ();
    const NAME: &'static str = "merge.step";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<()> {
        rule::check_recorder(actor)?;
        let id = resolve(rows, IdKind::Task, &self.task_id).await?;
        let task = load_task(rows, &id).await?;
        emit(
            rows,
            EventType::MergeStep,
            &task.project_id,
            &json!({ "projectId": task.project_id, "taskId": task.id, "target": self.target,
                     "step": self.step }),
        )
        .await
    }
}

/// The merge queues of a project, or of every project; entries whose merge's process died
/// are shown as they are stored (a runner puts them back in line, see [`ORPHAN_GRACE_MS`]).
pub struct ListMergeQueues(pub Option<String>);

impl ReadOp for ListMergeQueues {
    type Output = Vec<ProjectQueue>;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Vec<ProjectQueue>> {
        let project = match &self.0 {
            Some(p) => Some(resolve(rows, IdKind::Project, p).await?),
            None => None,
        };
        rows.merge_queues(project.as_deref()).await
    }
}
