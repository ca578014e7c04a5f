//! The operations, written once over a backend's row primitives.
//!
//! # The store seam
//!
//! A backend (the embedded SQLite store, or another database) implements two things:
//!
//! 1. [`Rows`]: transactional row primitives — read a task, save a task, append a timeline
//!    entry, append an event, list the ready queue, … — with no rules in them. A `Rows`
//!    value is one open transaction.
//! 2. [`Backend`]: how to run one operation in one transaction: open it, hand its `Rows` to
//!    [`ReadOp::run`] or [`write()`], commit (retrying transient conflicts if the database has
//!    them). Every [`Backend`] is a [`crate::Store`] through the implementation in this file,
//!    so the facade, the server and the bindings use it like any other store.
//!
//! The operations (`engine/*.rs`, one file per entity) read rows, ask [`crate::rules`] what
//! the operation means (status machine, dependency gating, ownership and fencing, session
//! machine, leases, spawn checks, idempotency), and persist what the rules decide: the rows,
//! the timeline entries and the events, all in the same transaction. A second backend
//! therefore gets every rule for free, and proves it by passing the store contract suite
//! (`maestro-core/tests/contract/`).
//!
//! Operations are plain values (`CreateTask`, `ChangeStatus`, …): a write is named and
//! serializable, which is what idempotency keys are scoped to and fingerprinted by.

mod log;
mod merges;
mod projects;
mod resolve;
mod sessions;
mod subtasks;
mod tasks;
mod timeline;

pub use log::*;
pub use merges::*;
pub use projects::*;
pub use resolve::resolve;
pub use sessions::*;
pub use subtasks::*;
pub use tasks::*;
pub use timeline::*;

use crate::error::{Error, Result};
use crate::id::IdKind;
use crate::model::*;
use crate::rules::effects::Claim;
use crate::rules::idempotency::{self, OpRecord};
use crate::rules::ownership::Actor;
use crate::rules::session_status;
use crate::store::*;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;

/// Counts of a project's tasks, for `status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskTally {
    /// `(status, count)` for the statuses that occur.
    pub by_status: Vec<(TaskStatus, i64)>,
    /// `(priority, count)` for the priorities that occur.
    pub by_priority: Vec<(Priority, i64)>,
    pub ready: i64,
}

/// Counts of a project's sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SessionTally {
    /// Sessions that have not ended.
    pub active: i64,
    pub total: i64,
    /// What their agent runs used.
    pub usage: UsageTotals,
}

/// The row primitives of one transaction. No rules here: a backend stores and finds rows;
/// [`crate::engine`] decides what to store.
///
/// Ids passed in are exact (the engine resolves prefixes first with [`Rows::id_exists`] and
/// [`Rows::ids_with_prefix`]). Times are milliseconds since the Unix epoch.
pub trait Rows: Send {
    /// The time of this transaction (the backend's clock, or the database's).
    fn now(&self) -> i64;

    // ---- ids ----
    fn id_exists(&mut self, kind: IdKind, id: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Ids of `kind` starting with `prefix`, in order, at most `limit`.
    fn ids_with_prefix(
        &mut self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    // ---- meta and projects ----
    fn meta(&mut self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    fn set_meta(&mut self, key: &str, value: &str) -> impl Future<Output = Result<()>> + Send;
    fn insert_project(&mut self, p: &Project) -> impl Future<Output = Result<()>> + Send;
    /// A project row (its `default` flag is the engine's business).
    fn project(&mut self, id: &str) -> impl Future<Output = Result<Option<Project>>> + Send;
    /// Every project, oldest first.
    fn projects(&mut self) -> impl Future<Output = Result<Vec<Project>>> + Send;

    // ---- tasks ----
    /// A task with its dependency ids (in declaration order).
    fn task(&mut self, id: &str) -> impl Future<Output = Result<Option<Task>>> + Send;
    /// Inserts a new task (its dependencies are added with [`Rows::insert_dependency`]),
    /// giving it the next insertion position of its project.
    fn insert_task(&mut self, t: &Task) -> impl Future<Output = Result<()>> + Send;
    /// Saves a task's own columns (not its dependencies).
    fn save_task(&mut self, t: &Task) -> impl Future<Output = Result<()>> + Send;
    /// Deletes a task with its subtasks, timeline, claims and dependency edges.
    fn delete_task(&mut self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// A page of a project's tasks matching `filter` in insertion order, after insertion
    /// position `after`, with each task's position: `limit + 1` rows so the caller knows
    /// whether more remain.
    fn list_tasks(
        &mut self,
        project_id: &str,
        filter: &TaskFilter,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(Task, i64)>>> + Send;
    /// The ready queue: pending tasks with no open dependency, by priority then insertion.
    fn ready_tasks(
        &mut self,
        project_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Task>>> + Send;
    fn tally_tasks(&mut self, project_id: &str) -> impl Future<Output = Result<TaskTally>> + Send;

    // ---- dependencies ----
    /// Adds the edge `task → dep` at `position` (declaration order).
    fn insert_dependency(
        &mut self,
        task: &str,
        dep: &str,
        position: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Removes an edge; whether it existed.
    fn delete_dependency(
        &mut self,
        task: &str,
        dep: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The dependency ids of `task`, in declaration order.
    fn dependencies(&mut self, task: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The largest position among `task`'s edges (0 without edges).
    fn max_dependency_position(&mut self, task: &str) -> impl Future<Output = Result<i64>> + Send;
    /// The ids of the tasks that depend on `task`.
    fn dependents(&mut self, task: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// `task`'s dependencies (declaration order) and dependents (insertion order) with their
    /// titles and statuses.
    fn dependency_refs(
        &mut self,
        task: &str,
    ) -> impl Future<Output = Result<(Vec<DependencyRef>, Vec<DependencyRef>)>> + Send;
    /// `task`'s dependencies that are not completed, in declaration order.
    fn unfinished_dependencies(
        &mut self,
        task: &str,
    ) -> impl Future<Output = Result<Vec<DependencyRef>>> + Send;
    /// Sets the count of open (not completed) dependencies that the ready queue is served by.
    fn set_open_dependencies(
        &mut self,
        task: &str,
        count: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Adds `delta` to the open-dependency count of every task depending on `task`.
    fn shift_open_dependencies_of_dependents(
        &mut self,
        task: &str,
        delta: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Whether `task` is in the ready queue.
    fn is_ready(&mut self, task: &str) -> impl Future<Output = Result<bool>> + Send;

    // ---- claims ----
    fn claim(
        &mut self,
        task: &str,
        session: &str,
    ) -> impl Future<Output = Result<Option<Claim>>> + Send;
    /// Inserts or replaces the claim of `(task_id, session_id)`.
    fn put_claim(&mut self, c: &Claim) -> impl Future<Output = Result<()>> + Send;

    // ---- subtasks ----
    /// A task's subtasks by order, then creation, then id.
    fn subtasks(&mut self, task: &str) -> impl Future<Output = Result<Vec<Subtask>>> + Send;
    fn subtask(&mut self, id: &str) -> impl Future<Output = Result<Option<Subtask>>> + Send;
    fn insert_subtask(&mut self, s: &Subtask) -> impl Future<Output = Result<()>> + Send;
    /// Saves every column of a subtask, its order included.
    fn save_subtask(&mut self, s: &Subtask) -> impl Future<Output = Result<()>> + Send;
    fn delete_subtask(&mut self, id: &str) -> impl Future<Output = Result<()>> + Send;

    // ---- timeline ----
    /// Appends an entry; returns its id (increasing).
    fn insert_timeline(
        &mut self,
        task: &str,
        kind: &TimelineKind,
        actor: Option<&str>,
        ts: i64,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Entries of `task` with an id greater than `after`, oldest first, at most `limit`.
    fn timeline_after(
        &mut self,
        task: &str,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TimelineEntry>>> + Send;
    /// The newest `limit` entries of `task`, oldest first.
    fn timeline_newest(
        &mut self,
        task: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TimelineEntry>>> + Send;
    fn timeline_count(&mut self, task: &str) -> impl Future<Output = Result<i64>> + Send;

    // ---- sessions ----
    fn session(&mut self, id: &str) -> impl Future<Output = Result<Option<Session>>> + Send;
    /// Inserts a new session, giving it the next insertion position of its project.
    fn insert_session(&mut self, s: &Session) -> impl Future<Output = Result<()>> + Send;
    fn save_session(&mut self, s: &Session) -> impl Future<Output = Result<()>> + Send;
    /// Sets `last_seen`.
    fn touch_session(&mut self, id: &str, at: i64) -> impl Future<Output = Result<()>> + Send;
    /// A page of a project's sessions in insertion order (like [`Rows::list_tasks`]).
    fn list_sessions(
        &mut self,
        project_id: &str,
        filter: &SessionFilter,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(Session, i64)>>> + Send;
    /// Sessions in one of `statuses` (every project when `project_id` is `None`), oldest
    /// first.
    fn sessions_with_status(
        &mut self,
        project_id: Option<&str>,
        statuses: &[SessionStatus],
    ) -> impl Future<Output = Result<Vec<Session>>> + Send;
    /// Sessions in one of `statuses` whose task list names `task`.
    fn sessions_of_task(
        &mut self,
        task: &str,
        statuses: &[SessionStatus],
    ) -> impl Future<Output = Result<Vec<Session>>> + Send;
    /// Started sessions (`starting`, `active`) last seen before `cutoff`, oldest first.
    fn expired_sessions(
        &mut self,
        cutoff: i64,
    ) -> impl Future<Output = Result<Vec<Session>>> + Send;
    fn any_expired(&mut self, cutoff: i64) -> impl Future<Output = Result<bool>> + Send;
    fn tally_sessions(
        &mut self,
        project_id: &str,
    ) -> impl Future<Output = Result<SessionTally>> + Send;

    // ---- merge queues ----
    /// The merge queue of `target` in a project, if it was ever used.
    fn merge_queue(
        &mut self,
        project_id: &str,
        target: &str,
    ) -> impl Future<Output = Result<Option<crate::worktree::MergeQueue>>> + Send;
    /// Every merge queue of a project (of every project with `None`), by project and target.
    fn merge_queues(
        &mut self,
        project_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ProjectQueue>>> + Send;
    /// Inserts or replaces a project's merge queue of `queue.target`.
    fn save_merge_queue(
        &mut self,
        project_id: &str,
        queue: &crate::worktree::MergeQueue,
    ) -> impl Future<Output = Result<()>> + Send;

    // ---- the event log ----
    /// Appends an event; its seq is the next of the global, gap-free sequence, in commit
    /// order.
    fn append_event(
        &mut self,
        ty: EventType,
        project_id: Option<&str>,
        data: &Value,
        ts: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    fn events_since(
        &mut self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> impl Future<Output = Result<Vec<Event>>> + Send;
    fn latest_seq(&mut self) -> impl Future<Output = Result<i64>> + Send;
    /// The first retained seq; `latest + 1` when the log is empty.
    fn oldest_seq(&mut self) -> impl Future<Output = Result<i64>> + Send;
    /// Deletes all but the newest `keep` (at least 1) events; how many went.
    fn prune_events(&mut self, keep: usize) -> impl Future<Output = Result<u64>> + Send;

    // ---- idempotency records ----
    fn op_record(&mut self, key: &str) -> impl Future<Output = Result<Option<OpRecord>>> + Send;
    fn put_op_record(&mut self, r: &OpRecord) -> impl Future<Output = Result<()>> + Send;
    /// Deletes records created before `before`; how many went.
    fn prune_op_records(&mut self, before: i64) -> impl Future<Output = Result<u64>> + Send;
}

/// A read-only operation.
pub trait ReadOp: Send + Sync + 'static {
    type Output: Send + 'static;
    /// A short, bounded read (one row, one task's detail, a page of events) that a backend
    /// may run on the calling thread.
    fn is_short(&self) -> bool {
        false
    }
    fn run<R: Rows>(&self, rows: &mut R) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// What a write asks of its calling session before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The caller must not have ended (`session_lost`, `session_ended`); its lease is
    /// refreshed first.
    Live,
    /// The operation judges the caller itself (ending a session, heartbeats).
    Own,
}

/// A mutation: named and serializable (idempotency keys are scoped to the name and
/// fingerprinted by the serialized request).
pub trait WriteOp: Serialize + Send + Sync + 'static {
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// The operation's name, e.g. `task.create`.
    const NAME: &'static str;
    /// Of unbounded size (a batch, a prune, a reap): a backend runs it off the caller's
    /// thread.
    const LONG: bool = false;
    const GATE: Gate = Gate::Live;
    fn run<R: Rows>(
        &self,
        rows: &mut R,
        actor: Actor<'_>,
    ) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// Runs mutation `w` for `op`'s caller in the transaction `rows`: returns the first result
/// of a retried key, refuses a caller that ended and refreshes its lease, runs the
/// operation, and records the result under the key.
pub async fn write<R: Rows, W: WriteOp>(rows: &mut R, op: &OpContext, w: &W) -> Result<W::Output> {
    let keyed = match &op.op_id {
        Some(key) => {
            let scoped = idempotency::scoped_key(op.caller(), key);
            let request = serde_json::to_string(w)?;
            let fp = idempotency::fingerprint(&request);
            if let Some(prev) = rows.op_record(&scoped).await? {
                idempotency::check_reuse(&prev, W::NAME, &fp, key)?;
                return Ok(serde_json::from_str(&prev.result)?);
            }
            Some((scoped, fp))
        }
        None => None,
    };
    let caller = match op.session_id.as_deref() {
        Some(id) => Some(caller_session(rows, id, W::GATE).await?),
        None => None,
    };
    let actor = caller.as_ref().map_or(Actor::Anonymous, Actor::Session);
    let out = w.run(rows, actor).await?;
    if let Some((key, fingerprint)) = keyed {
        let record = OpRecord {
            key,
            op: W::NAME.to_string(),
            fingerprint,
            result: serde_json::to_string(&out)?,
            created_at: rows.now(),
        };
        rows.put_op_record(&record).await?;
    }
    Ok(out)
}

/// The calling session: it must exist; with [`Gate::Live`] it must not have ended, and its
/// lease is refreshed before anything else happens, so no operation expires its own caller.
async fn caller_session<R: Rows>(rows: &mut R, input: &str, gate: Gate) -> Result<Session> {
    let id = resolve(rows, IdKind::Session, input).await?;
    let mut s = load_session(rows, &id).await?;
    if gate == Gate::Live {
        session_status::gate(&s)?;
        let now = rows.now();
        rows.touch_session(&s.id, now).await?;
        s.last_seen = crate::model::ts(now);
    }
    Ok(s)
}

/// A session by exact id.
pub(crate) async fn load_session<R: Rows>(rows: &mut R, id: &str) -> Result<Session> {
    rows.session(id)
        .await?
        .ok_or_else(|| Error::session_not_found(id))
}

/// A task by exact id.
pub(crate) async fn load_task<R: Rows>(rows: &mut R, id: &str) -> Result<Task> {
    rows.task(id)
        .await?
        .ok_or_else(|| Error::task_not_found(id))
}

/// Appends an event with `data` serialized.
pub(crate) async fn emit<R: Rows>(
    rows: &mut R,
    ty: EventType,
    project_id: &str,
    data: &impl Serialize,
) -> Result<()> {
    let data = serde_json::to_value(data)?;
    let now = rows.now();
    rows.append_event(ty, Some(project_id), &data, now).await
}

/// A backend: runs operations in transactions over its [`Rows`]. Every backend is a
/// [`Store`].
pub trait Backend: Send + Sync + 'static {
    /// Where the data lives, for `whoami`.
    fn location(&self) -> String;
    /// Runs a read in one consistent snapshot.
    fn read<Q: ReadOp>(&self, q: Q) -> impl Future<Output = Result<Q::Output>> + Send;
    /// Runs a write with [`write()`] in one transaction, committed with its events.
    fn write<W: WriteOp>(
        &self,
        op: &OpContext,
        w: W,
    ) -> impl Future<Output = Result<W::Output>> + Send;
    /// See [`Store::commit_notifications`].
    fn commit_notifications(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        None
    }
    /// See [`Store::clock`].
    fn clock(&self) -> std::sync::Arc<dyn crate::clock::Clock> {
        crate::clock::system()
    }
    /// See [`Store::read_only`].
    fn read_only(&self) -> bool {
        false
    }
    /// See [`Store::write_failure`].
    fn write_failure(&self) -> Option<Error> {
        None
    }
    /// See [`Store::pool_status`].
    fn pool_status(&self) -> Option<crate::store::PoolStatus> {
        None
    }
}

#[async_trait]
impl<B: Backend> Store for B {
    fn location(&self) -> String {
        Backend::location(self)
    }
    fn clock(&self) -> std::sync::Arc<dyn crate::clock::Clock> {
        Backend::clock(self)
    }
    fn read_only(&self) -> bool {
        Backend::read_only(self)
    }
    fn write_failure(&self) -> Option<Error> {
        Backend::write_failure(self)
    }
    fn pool_status(&self) -> Option<crate::store::PoolStatus> {
        Backend::pool_status(self)
    }
    fn commit_notifications(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        Backend::commit_notifications(self)
    }

    async fn create_project(&self, op: &OpContext, new: NewProject) -> Result<ProjectInit> {
        self.write(op, CreateProject(new)).await
    }
    async fn list_projects(&self) -> Result<Vec<Project>> {
        self.read(ListProjects).await
    }
    async fn get_project(&self, id: &str) -> Result<Project> {
        self.read(GetProject(Some(id.to_string()))).await
    }
    async fn resolve_project(&self, project_id: Option<&str>) -> Result<Project> {
        self.read(GetProject(project_id.map(str::to_string))).await
    }
    async fn set_default_project(&self, op: &OpContext, id: &str) -> Result<Project> {
        self.write(op, SetDefaultProject { id: id.to_string() })
            .await
    }

    async fn create_task(&self, op: &OpContext, new: NewTask) -> Result<Task> {
        self.write(op, CreateTask(new)).await
    }
    async fn create_tasks(&self, op: &OpContext, new: Vec<NewTask>) -> Result<Vec<Task>> {
        self.write(op, CreateTasks(new)).await
    }
    async fn get_task(&self, id: &str) -> Result<TaskDetail> {
        self.read(GetTask(id.to_string())).await
    }
    async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>> {
        self.read(ListTasks(filter)).await
    }
    async fn update_task(&self, op: &OpContext, id: &str, patch: TaskPatch) -> Result<Task> {
        self.write(
            op,
            UpdateTask {
                id: id.to_string(),
                patch,
            },
        )
        .await
    }
    async fn change_status(&self, op: &OpContext, id: &str, change: StatusChange) -> Result<Task> {
        self.write(
            op,
            ChangeStatus {
                id: id.to_string(),
                change,
            },
        )
        .await
    }
    async fn delete_task(&self, op: &OpContext, id: &str) -> Result<Task> {
        self.write(op, DeleteTask { id: id.to_string() }).await
    }
    async fn ready_tasks(&self, project_id: Option<&str>, limit: usize) -> Result<Vec<Task>> {
        self.read(ReadyTasks {
            project_id: project_id.map(str::to_string),
            limit,
        })
        .await
    }
    async fn claim(&self, op: &OpContext, claim: ClaimRequest) -> Result<Task> {
        self.write(op, ClaimTask(claim)).await
    }

    async fn add_timeline(
        &self,
        op: &OpContext,
        task_id: &str,
        kind: TimelineKind,
    ) -> Result<TimelineEntry> {
        self.write(
            op,
            AddTimeline {
                task_id: task_id.to_string(),
                kind,
            },
        )
        .await
    }
    async fn timeline(&self, task_id: &str, query: TimelineQuery) -> Result<Page<TimelineEntry>> {
        self.read(ReadTimeline {
            task_id: task_id.to_string(),
            query,
        })
        .await
    }

    async fn create_subtask(
        &self,
        op: &OpContext,
        task_id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<Subtask> {
        self.write(
            op,
            CreateSubtask {
                task_id: task_id.to_string(),
                title: title.to_string(),
                description: description.map(str::to_string),
            },
        )
        .await
    }
    async fn list_subtasks(&self, task_id: &str) -> Result<Vec<Subtask>> {
        self.read(ListSubtasks(task_id.to_string())).await
    }
    async fn update_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
        patch: SubtaskPatch,
    ) -> Result<Subtask> {
        self.write(
            op,
            UpdateSubtask {
                task_id: task_id.map(str::to_string),
                id: subtask_id.to_string(),
                patch,
            },
        )
        .await
    }
    async fn delete_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
    ) -> Result<Subtask> {
        self.write(
            op,
            DeleteSubtask {
                task_id: task_id.map(str::to_string),
                id: subtask_id.to_string(),
            },
        )
        .await
    }

    async fn create_session(&self, op: &OpContext, new: NewSession) -> Result<Session> {
        self.write(op, CreateSession(new)).await
    }
    async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>> {
        self.read(ListSessions(filter)).await
    }
    async fn get_session(&self, id: &str) -> Result<Session> {
        self.read(GetSession(id.to_string())).await
    }
    async fn update_session(
        &self,
        op: &OpContext,
        id: &str,
        patch: SessionPatch,
    ) -> Result<Session> {
        self.write(
            op,
            UpdateSession {
                id: id.to_string(),
                patch,
            },
        )
        .await
    }
    async fn heartbeat(&self, op: &OpContext, id: &str) -> Result<Session> {
        self.write(op, Heartbeat { id: id.to_string() }).await
    }
    async fn claim_spawn(&self, op: &OpContext, id: &str, host: &str) -> Result<Option<Session>> {
        self.write(
            op,
            ClaimSpawn {
                id: id.to_string(),
                host: host.to_string(),
            },
        )
        .await
    }
    async fn any_expired(&self, lease: std::time::Duration) -> Result<bool> {
        self.read(AnyExpired(lease)).await
    }
    async fn reap_expired(
        &self,
        op: &OpContext,
        lease: std::time::Duration,
    ) -> Result<Vec<Session>> {
        self.write(op, ReapExpired { lease }).await
    }

    async fn set_task_worktree(
        &self,
        op: &OpContext,
        task_id: &str,
        worktree: Option<TaskWorktree>,
    ) -> Result<Task> {
        self.write(
            op,
            SetTaskWorktree {
                task_id: task_id.to_string(),
                worktree,
            },
        )
        .await
    }
    async fn enqueue_merge(&self, op: &OpContext, req: MergeEnqueue) -> Result<ProjectQueue> {
        self.write(op, EnqueueMerge(req)).await
    }
    async fn start_merge(
        &self,
        op: &OpContext,
        project_id: &str,
        target: &str,
    ) -> Result<Option<crate::worktree::QueueEntry>> {
        self.write(
            op,
            StartMerge {
                project_id: project_id.to_string(),
                target: target.to_string(),
            },
        )
        .await
    }
    async fn finish_merge(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        result: MergeResult,
    ) -> Result<ProjectQueue> {
        self.write(
            op,
            FinishMerge {
                task_id: task_id.to_string(),
                target: target.to_string(),
                result,
            },
        )
        .await
    }
    async fn merge_step(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        step: crate::worktree::Progress,
    ) -> Result<()> {
        self.write(
            op,
            MergeStep {
                task_id: task_id.to_string(),
                target: target.to_string(),
                step,
            },
        )
        .await
    }
    async fn merge_queues(&self, project_id: Option<&str>) -> Result<Vec<ProjectQueue>> {
        self.read(ListMergeQueues(project_id.map(str::to_string)))
            .await
    }

    async fn events_since(
        &self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>> {
        self.read(EventsSince {
            since,
            limit,
            projects: projects.to_vec(),
        })
        .await
    }
    async fn latest_seq(&self) -> Result<i64> {
        self.read(LatestSeq).await
    }
    async fn oldest_seq(&self) -> Result<i64> {
        self.read(OldestSeq).await
    }
    async fn status(&self, project_id: Option<&str>) -> Result<StatusReport> {
        self.read(Status(project_id.map(str::to_string))).await
    }
    async fn prune_events(&self, keep: usize) -> Result<u64> {
        self.write(&OpContext::default(), PruneEvents { keep })
            .await
    }
    async fn prune_op_records(&self, retention: std::time::Duration) -> Result<u64> {
        self.write(&OpContext::default(), PruneOpRecords { retention })
            .await
    }
}
