//! Subtasks: an ordered checklist of a task, written by its owners.

use super::resolve::resolve;
use super::tasks::check_access;
use super::timeline::{add_entry, touch};
use super::{ReadOp, Rows, WriteOp, emit, load_task};
use crate::error::{Error, Result};
use crate::id::{self, IdKind};
use crate::model::*;
use crate::rules::ownership::Actor;
use crate::store::SubtaskPatch;
use serde::Serialize;
use serde_json::json;

/// Resolves a subtask and checks that it belongs to `task_input` when one is given.
async fn owned_subtask<R: Rows>(
    rows: &mut R,
    task_input: Option<&str>,
    input: &str,
) -> Result<Subtask> {
    let id = resolve(rows, IdKind::Subtask, input).await?;
    let sub = rows
        .subtask(&id)
        .await?
        .ok_or_else(|| Error::subtask_not_found(&id))?;
    if let Some(t) = task_input {
        let task_id = resolve(rows, IdKind::Task, t).await?;
        if sub.task_id != task_id {
            return Err(Error::new(
                crate::error::Code::SubtaskNotFound,
                format!(
                    "Subtask '{}' is not a subtask of task '{task_id}' (it belongs to '{}')",
                    sub.id, sub.task_id
                ),
            )
            .with_details(
                    json!({ "subtaskId": sub.id, "taskId": task_id, "ownerTaskId": sub.task_id }),
                )
            .with_suggestion(format!(
                "Use its own task: 'maestro subtask list {}', or see this task's with 'maestro subtask list {task_id}'",
                sub.task_id
            )));
        }
    }
    Ok(sub)
}

/// Gives the subtasks `ordered` the orders 1, 2, … (saving those that move).
async fn renumber<R: Rows>(rows: &mut R, ordered: Vec<Subtask>) -> Result<()> {
    for (i, mut s) in ordered.into_iter().enumerate() {
        let order = i as i64 + 1;
        if s.order != order {
            s.order = order;
            rows.save_subtask(&s).await?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateSubtask {
    pub task_id: String,
    pub title: String,
    pub description: Option<String>,
}

impl WriteOp for CreateSubtask {
    type Output = Subtask;
    const NAME: &'static str = "subtask.create";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Subtask> {
        let task_id = resolve(rows, IdKind::Task, &self.task_id).await?;
        let mut task = load_task(rows, &task_id).await?;
        check_access(rows, &task, actor, false).await?;
        add(
            rows,
            &mut task,
            self.title.trim(),
            self.description.as_deref().unwrap_or_default(),
            actor,
        )
        .await
    }
}

/// Appends a subtask to `task` (last in order), with its event and timeline entry.
pub(crate) async fn add<R: Rows>(
    rows: &mut R,
    task: &mut Task,
    title: &str,
    description: &str,
    actor: Actor<'_>,
) -> Result<Subtask> {
    let order = rows
        .subtasks(&task.id)
        .await?
        .iter()
        .map(|s| s.order)
        .max()
        .unwrap_or(0)
        + 1;
    let now = ts(rows.now());
    let sub = Subtask {
        id: id::new_id(IdKind::Subtask),
        task_id: task.id.clone(),
        title: title.to_string(),
        description: description.to_string(),
        completed: false,
        order,
        created_at: now,
        updated_at: now,
        completed_at: None,
    };
    rows.insert_subtask(&sub).await?;
    emit(rows, EventType::SubtaskCreated, &task.project_id, &sub).await?;
    let kind = TimelineKind::SubtaskCreated {
        subtask_id: sub.id.clone(),
    };
    add_entry(rows, task, kind, actor.session_id()).await?;
    touch(rows, task).await?;
    Ok(sub)
}

pub struct ListSubtasks(pub String);

impl ReadOp for ListSubtasks {
    type Output = Vec<Subtask>;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Vec<Subtask>> {
        let id = resolve(rows, IdKind::Task, &self.0).await?;
        rows.subtasks(&id).await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateSubtask {
    pub task_id: Option<String>,
    pub id: String,
    pub patch: SubtaskPatch,
}

impl WriteOp for UpdateSubtask {
    type Output = Subtask;
    const NAME: &'static str = "subtask.update";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Subtask> {
        let p = &self.patch;
        let mut sub = owned_subtask(rows, self.task_id.as_deref(), &self.id).await?;
        let mut task = load_task(rows, &sub.task_id).await?;
        check_access(rows, &task, actor, false).await?;
        let now = ts(rows.now());
        let mut changed = false;
        let mut newly_completed = false;
        if let Some(t) = &p.title
            && t.trim() != sub.title
        {
            sub.title = t.trim().to_string();
            changed = true;
        }
        if let Some(d) = &p.description
            && *d != sub.description
        {
            sub.description = d.clone();
            changed = true;
        }
        if let Some(c) = p.completed
            && c != sub.completed
        {
            sub.completed = c;
            sub.completed_at = c.then_some(now);
            newly_completed = c;
            changed = true;
        }
        if let Some(order) = p.order {
            let mut all = rows.subtasks(&sub.task_id).await?;
            let from = all.iter().position(|s| s.id == sub.id).unwrap_or(0);
            let to = (order.max(1) as usize - 1).min(all.len() - 1);
            if from != to {
                let moved = all.remove(from);
                all.insert(to, moved);
                renumber(rows, all).await?;
                sub.order = to as i64 + 1;
                changed = true;
            }
        }
        if !changed {
            return Ok(sub);
        }
        sub.updated_at = now;
        rows.save_subtask(&sub).await?;
        emit(rows, EventType::SubtaskUpdated, &task.project_id, &sub).await?;
        if newly_completed {
            let kind = TimelineKind::SubtaskCompleted {
                subtask_id: sub.id.clone(),
            };
            add_entry(rows, &task, kind, actor.session_id()).await?;
        }
        touch(rows, &mut task).await?;
        Ok(sub)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeleteSubtask {
    pub task_id: Option<String>,
    pub id: String,
}

impl WriteOp for DeleteSubtask {
    type Output = Subtask;
    const NAME: &'static str = "subtask.delete";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Subtask> {
        let sub = owned_subtask(rows, self.task_id.as_deref(), &self.id).await?;
        let mut task = load_task(rows, &sub.task_id).await?;
        check_access(rows, &task, actor, false).await?;
        rows.delete_subtask(&sub.id).await?;
        let rest = rows.subtasks(&sub.task_id).await?;
        renumber(rows, rest).await?;
        emit(
            rows,
            EventType::SubtaskDeleted,
            &task.project_id,
            &json!({ "id": sub.id, "taskId": sub.task_id }),
        )
        .await?;
        touch(rows, &mut task).await?;
        Ok(sub)
    }
}
