//! Tasks: create, read, list, update, status changes, claims, delete.

use super::resolve::{self, resolve};
use super::sessions::{activate_waiting, link_session, stop_requests};
use super::timeline::add_entry;
use super::{ReadOp, Rows, WriteOp, emit, load_session, load_task};
use crate::error::{Code, Error, Result};
use crate::id::{self, IdKind};
use crate::model::*;
use crate::rules::effects::{self, Effects};
use crate::rules::ownership::{self, Access, Actor, ClaimPlan};
use crate::rules::{dag, limits, session_status, task_status};
use crate::store::*;
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};

// ---- shared steps ----------------------------------------------------------------------

/// The ownership check of a write by `actor` to `task` (see [`ownership::check_write`]).
pub(crate) async fn check_access<R: Rows>(
    rows: &mut R,
    task: &Task,
    actor: Actor<'_>,
    force: bool,
) -> Result<Access> {
    let claim = match actor.session() {
        Some(s) if actor.is_worker() => rows.claim(&task.id, &s.id).await?,
        _ => None,
    };
    ownership::check_write(task, actor, claim.as_ref(), force)
}

/// Records an override of other sessions' ownership as the first entry of `fx`.
fn note_override(access: &Access, action: &str, fx: &mut Effects) {
    if let Access::Override { owners } = access {
        fx.timeline.insert(
            0,
            TimelineKind::Override {
                action: action.to_string(),
                session_ids: owners.clone(),
            },
        );
    }
}

/// Persists what an operation did to `task`: its timeline entries (with their events), the
/// claims, the dependents' counters, and the task row itself (+1 version, `task:updated`)
/// when it changed.
pub(crate) async fn persist<R: Rows>(
    rows: &mut R,
    task: &mut Task,
    fx: Effects,
    actor: Option<&str>,
) -> Result<()> {
    for kind in fx.timeline {
        add_entry(rows, task, kind, actor).await?;
    }
    for claim in &fx.claims {
        rows.put_claim(claim).await?;
    }
    if fx.dependents_delta != 0 {
        rows.shift_open_dependencies_of_dependents(&task.id, fx.dependents_delta)
            .await?;
    }
    if fx.changed {
        save(rows, task).await?;
    }
    Ok(())
}

/// +1 version, new `updated_at`, saved, `task:updated`.
pub(crate) async fn save<R: Rows>(rows: &mut R, task: &mut Task) -> Result<()> {
    task.version += 1;
    task.updated_at = ts(rows.now());
    rows.save_task(task).await?;
    emit(
        rows,
        EventType::TaskUpdated,
        &task.project_id.clone(),
        &*task,
    )
    .await
}

fn check_version(task: &Task, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(v) if v != task.version => Err(Error::version_conflict(&task.id, v, task.version)),
        _ => Ok(()),
    }
}

/// Recomputes the open-dependency count of `task` after its edges changed.
async fn recount_open_dependencies<R: Rows>(rows: &mut R, task: &str) -> Result<()> {
    let open = rows.unfinished_dependencies(task).await?.len() as i64;
    rows.set_open_dependencies(task, open).await
}

/// Adds edges `task → inputs` (resolved, deduplicated, without the ones it has) after
/// checking for cycles; returns the ids added. A task just inserted has no edges and no
/// dependents, so no cycle can form and the graph walk is skipped.
async fn add_dependencies<R: Rows>(
    rows: &mut R,
    task: &str,
    inputs: &[String],
    new_task: bool,
) -> Result<Vec<String>> {
    let mut resolved = Vec::with_capacity(inputs.len());
    for input in inputs {
        let dep = resolve(rows, IdKind::Task, input).await?;
        if !resolved.contains(&dep) {
            resolved.push(dep);
        }
    }
    if resolved.is_empty() {
        return Ok(resolved);
    }
    let mut position = 0;
    if !new_task {
        let existing = rows.dependencies(task).await?;
        resolved.retain(|d| !existing.contains(d));
        let graph = ancestors(rows, &resolved).await?;
        dag::check_no_cycle(task, &resolved, |id| {
            Ok(graph.get(id).cloned().unwrap_or_default())
        })?;
        position = rows.max_dependency_position(task).await?;
    }
    for dep in &resolved {
        position += 1;
        rows.insert_dependency(task, dep, position).await?;
    }
    Ok(resolved)
}

/// The dependency edges of every task reachable from `from` by following dependencies.
async fn ancestors<R: Rows>(rows: &mut R, from: &[String]) -> Result<HashMap<String, Vec<String>>> {
    let mut graph = HashMap::new();
    let mut seen: HashSet<String> = from.iter().cloned().collect();
    let mut queue: VecDeque<String> = from.iter().cloned().collect();
    while let Some(id) = queue.pop_front() {
        let deps = rows.dependencies(&id).await?;
        for d in &deps {
            if seen.insert(d.clone()) {
                queue.push_back(d.clone());
            }
        }
        graph.insert(id, deps);
    }
    Ok(graph)
}

/// The unfinished dependencies a status change needs to see (none when it does not check).
async fn unfinished_for<R: Rows>(
    rows: &mut R,
    task: &Task,
    to: TaskStatus,
    force: bool,
) -> Result<Vec<DependencyRef>> {
    if effects::needs_dependency_check(task.status, to, force) {
        rows.unfinished_dependencies(&task.id).await
    } else {
        Ok(Vec::new())
    }
}

// ---- create ----------------------------------------------------------------------------

async fn create<R: Rows>(rows: &mut R, new: &NewTask, actor: Actor<'_>) -> Result<Task> {
    let project = resolve::project(rows, new.project_id.as_deref()).await?;
    let now = rows.now();
    let mut task = Task {
        id: id::new_id(IdKind::Task),
        project_id: project.id.clone(),
        title: new.title.trim().to_string(),
        description: new.description.clone().unwrap_or_default(),
        status: TaskStatus::Pending,
        priority: new.priority.unwrap_or(Priority::Medium),
        dependencies: Vec::new(),
        labels: new.labels.clone(),
        session_ids: Vec::new(),
        metadata: new.metadata.clone().unwrap_or_default(),
        version: 1,
        claim_epoch: 0,
        blocked_reason: None,
        worktree: None,
        created_at: ts(now),
        updated_at: ts(now),
        started_at: None,
        completed_at: None,
    };
    rows.insert_task(&task).await?;
    task.dependencies = add_dependencies(rows, &task.id, &new.depends_on, true).await?;
    if !task.dependencies.is_empty() {
        recount_open_dependencies(rows, &task.id).await?;
    }
    emit(rows, EventType::TaskCreated, &project.id, &task).await?;
    add_entry(rows, &task, TimelineKind::Created, actor.session_id()).await?;
    Ok(task)
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateTask(pub NewTask);

impl WriteOp for CreateTask {
    type Output = Task;
    const NAME: &'static str = "task.create";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Task> {
        create(rows, &self.0, actor).await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateTasks(pub Vec<NewTask>);

impl WriteOp for CreateTasks {
    type Output = Vec<Task>;
    const NAME: &'static str = "task.create_many";
    const LONG: bool = true;

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Vec<Task>> {
        let mut out = Vec::with_capacity(self.0.len());
        for n in &self.0 {
            out.push(create(rows, n, actor).await?);
        }
        Ok(out)
    }
}

// ---- read ------------------------------------------------------------------------------

/// A task with its subtasks, dependencies, dependents and newest timeline entries.
pub struct GetTask(pub String);

impl ReadOp for GetTask {
    type Output = TaskDetail;
    fn is_short(&self) -> bool {
        true
    }

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<TaskDetail> {
        // The exact id first (the usual case), then as a prefix.
        let norm = id::normalize(IdKind::Task, &self.0)?;
        let mut task = match rows.task(&norm).await? {
            Some(t) => t,
            None => {
                let id = resolve(rows, IdKind::Task, &self.0).await?;
                load_task(rows, &id).await?
            }
        };
        let (deps, dependents) = rows.dependency_refs(&task.id).await?;
        task.dependencies = deps.iter().map(|d| d.id.clone()).collect();
        let subtasks = rows.subtasks(&task.id).await?;
        let timeline = rows
            .timeline_newest(&task.id, limits::DETAIL_TIMELINE)
            .await?;
        let timeline_total = if timeline.len() < limits::DETAIL_TIMELINE {
            timeline.len() as i64
        } else {
            rows.timeline_count(&task.id).await?
        };
        Ok(TaskDetail {
            task,
            subtasks,
            dependency_details: deps,
            dependents,
            timeline,
            timeline_total,
        })
    }
}

pub struct ListTasks(pub TaskFilter);

impl ReadOp for ListTasks {
    type Output = Page<Task>;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Page<Task>> {
        let project = resolve::project(rows, self.0.project_id.as_deref()).await?;
        let limit = limits::page_size(self.0.limit, limits::DEFAULT_LIMIT, limits::MAX_LIMIT)?;
        let after = limits::parse_cursor(self.0.cursor.as_deref())?.unwrap_or(0);
        let mut filter = self.0.clone();
        if let Some(s) = &filter.session_id {
            filter.session_id = Some(resolve(rows, IdKind::Session, s).await?);
        }
        let found = rows.list_tasks(&project.id, &filter, after, limit).await?;
        Ok(limits::page(found, limit))
    }
}

pub struct ReadyTasks {
    pub project_id: Option<String>,
    pub limit: usize,
}

impl ReadOp for ReadyTasks {
    type Output = Vec<Task>;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Vec<Task>> {
        let project = resolve::project(rows, self.project_id.as_deref()).await?;
        rows.ready_tasks(&project.id, self.limit).await
    }
}

// ---- update ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct UpdateTask {
    pub id: String,
    pub patch: TaskPatch,
}

impl WriteOp for UpdateTask {
    type Output = Task;
    const NAME: &'static str = "task.update";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Task> {
        let p = &self.patch;
        let id = resolve(rows, IdKind::Task, &self.id).await?;
        let mut task = load_task(rows, &id).await?;
        let access = check_access(rows, &task, actor, p.force).await?;
        check_version(&task, p.expected_version)?;
        let mut fx = Effects::default();
        if let Some(t) = &p.title
            && t.trim() != task.title
        {
            task.title = t.trim().to_string();
            fx.changed = true;
        }
        if let Some(d) = &p.description
            && *d != task.description
        {
            task.description = d.clone();
            fx.changed = true;
        }
        if let Some(pr) = p.priority
            && pr != task.priority
        {
            task.priority = pr;
            fx.changed = true;
        }
        if let Some(l) = &p.labels
            && *l != task.labels
        {
            task.labels = l.clone();
            fx.changed = true;
        }
        if let Some(m) = &p.metadata {
            for (k, v) in m {
                if v.is_null() {
                    fx.changed |= task.metadata.remove(k).is_some();
                } else if task.metadata.get(k) != Some(v) {
                    task.metadata.insert(k.clone(), v.clone());
                    fx.changed = true;
                }
            }
        }
        let mut removed = false;
        for input in &p.remove_dependencies {
            let dep = resolve(rows, IdKind::Task, input).await?;
            removed |= rows.delete_dependency(&id, &dep).await?;
        }
        let added = if p.add_dependencies.is_empty() {
            false
        } else {
            !add_dependencies(rows, &id, &p.add_dependencies, false)
                .await?
                .is_empty()
        };
        if added || removed {
            task.dependencies = rows.dependencies(&id).await?;
            recount_open_dependencies(rows, &id).await?;
            fx.changed = true;
        }
        let mut joined = None;
        if let Some(to) = p.status {
            let reason = (to == TaskStatus::Blocked && task.status != TaskStatus::Blocked)
                .then_some("blocked via update");
            let unfinished = unfinished_for(rows, &task, to, p.force).await?;
            let now = ts(rows.now());
            effects::change_status(&mut task, to, p.force, reason, &unfinished, now, &mut fx)?;
            // Moving a task into progress makes the acting session its owner, as a start.
            if to == TaskStatus::InProgress
                && let Some(s) = actor.session_id()
                && !task.session_ids.iter().any(|o| o == s)
            {
                effects::assign(&mut task, s, &mut fx);
                joined = Some(s);
            }
        }
        if fx.changed {
            note_override(&access, "update", &mut fx);
        }
        let readiness = removed || fx.dependents_delta < 0;
        let cancelled = p.status == Some(TaskStatus::Cancelled);
        persist(rows, &mut task, fx, actor.session_id()).await?;
        if let Some(s) = joined {
            link_session(rows, s, &task.id).await?;
        }
        if cancelled {
            stop_requests(rows, &task.id, "task cancelled").await?;
        }
        if readiness {
            activate_waiting(rows, &task.project_id).await?;
        }
        Ok(task)
    }
}

// ---- status changes --------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct ChangeStatus {
    pub id: String,
    pub change: StatusChange,
}

impl WriteOp for ChangeStatus {
    type Output = Task;
    const NAME: &'static str = "task.status";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Task> {
        let c = &self.change;
        let id = resolve(rows, IdKind::Task, &self.id).await?;
        let mut task = load_task(rows, &id).await?;
        let access = check_access(rows, &task, actor, c.force).await?;
        check_version(&task, c.expected_version)?;
        let (to, reason) = match &c.action {
            StatusAction::Start => (TaskStatus::InProgress, None),
            StatusAction::Complete => (TaskStatus::Completed, None),
            StatusAction::Block { reason } => (TaskStatus::Blocked, Some(reason.as_str())),
            StatusAction::Cancel => (TaskStatus::Cancelled, None),
            StatusAction::Release { reason } => match task.status {
                TaskStatus::InProgress | TaskStatus::Blocked | TaskStatus::Pending => {
                    (TaskStatus::Pending, Some(reason.as_str()))
                }
                finished => return Err(not_releasable(&task.id, finished)),
            },
            StatusAction::Reopen => match task.status {
                TaskStatus::Pending | TaskStatus::InProgress => return Ok(task),
                s => (task_status::reopen_target(s), None),
            },
        };
        let unfinished = unfinished_for(rows, &task, to, c.force).await?;
        let now = ts(rows.now());
        let mut fx = Effects::default();
        effects::change_status(&mut task, to, c.force, reason, &unfinished, now, &mut fx)?;
        let joined = to == TaskStatus::InProgress
            && actor
                .session_id()
                .is_some_and(|s| !task.session_ids.iter().any(|o| o == s));
        if joined && let Some(s) = actor.session_id() {
            effects::assign(&mut task, s, &mut fx);
        }
        if fx.changed {
            note_override(&access, action_name(&c.action), &mut fx);
        }
        let readiness = fx.dependents_delta < 0;
        persist(rows, &mut task, fx, actor.session_id()).await?;
        if joined && let Some(s) = actor.session_id() {
            link_session(rows, s, &task.id).await?;
        }
        if to == TaskStatus::Cancelled {
            stop_requests(rows, &task.id, "task cancelled").await?;
        }
        if readiness {
            activate_waiting(rows, &task.project_id).await?;
        }
        Ok(task)
    }
}

fn action_name(a: &StatusAction) -> &'static str {
    match a {
        StatusAction::Start => "start",
        StatusAction::Complete => "complete",
        StatusAction::Block { .. } => "block",
        StatusAction::Reopen => "reopen",
        StatusAction::Cancel => "cancel",
        StatusAction::Release { .. } => "release",
    }
}

/// Only open work can be released; finished work is reopened instead.
fn not_releasable(task_id: &str, status: TaskStatus) -> Error {
    Error::new(
        Code::InvalidTransition,
        format!("Task '{task_id}' is {status} and cannot be released"),
    )
    .with_details(json!({
        "taskId": task_id,
        "from": status,
        "to": TaskStatus::Pending,
        "releasableFrom": [TaskStatus::InProgress, TaskStatus::Blocked],
    }))
    .with_suggestion(format!(
        "Only in_progress or blocked tasks can be released; run 'maestro task reopen {task_id}' to work on it again"
    ))
}

// ---- delete ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct DeleteTask {
    pub id: String,
}

impl WriteOp for DeleteTask {
    type Output = Task;
    const NAME: &'static str = "task.delete";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Task> {
        let id = resolve(rows, IdKind::Task, &self.id).await?;
        let task = load_task(rows, &id).await?;
        check_access(rows, &task, actor, false).await?;
        let dependents = rows.dependents(&id).await?;
        if task.status != TaskStatus::Completed {
            rows.shift_open_dependencies_of_dependents(&id, -1).await?;
        }
        stop_requests(rows, &id, "task deleted").await?;
        super::merges::drop_from_queues(rows, &task.project_id, &id).await?;
        rows.delete_task(&id).await?;
        for dep_id in dependents {
            let mut t = load_task(rows, &dep_id).await?;
            save(rows, &mut t).await?;
        }
        emit(
            rows,
            EventType::TaskDeleted,
            &task.project_id,
            &json!({ "id": task.id, "projectId": task.project_id }),
        )
        .await?;
        activate_waiting(rows, &task.project_id).await?;
        Ok(task)
    }
}

// ---- claims ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct ClaimTask(pub ClaimRequest);

impl WriteOp for ClaimTask {
    type Output = Task;
    const NAME: &'static str = "task.claim";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Task> {
        let req = &self.0;
        let claimant = match (&req.session_id, actor.session()) {
            (Some(input), caller) => {
                let id = resolve(rows, IdKind::Session, input).await?;
                match caller {
                    Some(c) if c.id == id => c.clone(),
                    Some(c) if actor.is_worker() => {
                        return Err(Error::invalid_argument(format!(
                            "Worker session '{}' cannot claim a task for session '{id}'",
                            c.id
                        ))
                        .with_suggestion("Claim for yourself: maestro task claim --next"));
                    }
                    _ => {
                        let s = load_session(rows, &id).await?;
                        session_status::gate(&s)?;
                        let now = rows.now();
                        rows.touch_session(&s.id, now).await?;
                        s
                    }
                }
            }
            (None, Some(c)) => c.clone(),
            (None, None) => return Err(Error::no_session_context()),
        };
        let task_id = match &req.task_id {
            Some(input) => resolve(rows, IdKind::Task, input).await?,
            None => {
                let project = resolve::project(rows, req.project_id.as_deref()).await?;
                match rows.ready_tasks(&project.id, 1).await?.into_iter().next() {
                    Some(t) => t.id,
                    None => return Err(nothing_ready(&project.id)),
                }
            }
        };
        let mut task = load_task(rows, &task_id).await?;
        let mut fx = Effects::default();
        match ownership::check_claim(&task, &claimant, req.force)? {
            ClaimPlan::AlreadyOwned => return Ok(task),
            ClaimPlan::Take => {}
            ClaimPlan::TakeOver { owners } => {
                fx.timeline.push(TimelineKind::Override {
                    action: "claim".into(),
                    session_ids: owners.clone(),
                });
                let reason = format!("taken over by {}", claimant.id);
                effects::release(&mut task, &owners, &reason, &mut fx);
            }
        }
        let unfinished = unfinished_for(rows, &task, TaskStatus::InProgress, req.force).await?;
        let now = ts(rows.now());
        effects::change_status(
            &mut task,
            TaskStatus::InProgress,
            req.force,
            None,
            &unfinished,
            now,
            &mut fx,
        )?;
        effects::assign(&mut task, &claimant.id, &mut fx);
        persist(rows, &mut task, fx, Some(&claimant.id)).await?;
        link_session(rows, &claimant.id, &task.id).await?;
        Ok(task)
    }
}

fn nothing_ready(project_id: &str) -> Error {
    Error::new(Code::NothingReady, "No task is ready to be claimed")
        .with_details(json!({ "projectId": project_id }))
        .with_suggestion(
            "Wait for dependencies to complete, or see pending work with 'maestro task list --status pending'",
        )
}
