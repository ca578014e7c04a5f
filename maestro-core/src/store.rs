//! The storage contract: an async, operation-level trait.
//!
//! Each mutation is one atomic operation (validation, state change, timeline entries and
//! event-log entries commit together or not at all). Every database backend implements it
//! through [`crate::engine`] (the rules run once, over the backend's row primitives); the
//! HTTP client implements it against `maestro serve`, which in turn runs the same operations
//! on its own store.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who is calling, and the idempotency key of the call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpContext {
    /// The acting session (recorded in timelines; its lease is refreshed; a session that
    /// ended is refused).
    pub session_id: Option<String>,
    /// An idempotency key: a repeated mutation with the same key returns the first result.
    pub op_id: Option<String>,
    /// Who the caller is when it has no session (a client instance): idempotency keys are
    /// scoped to the session, else to this.
    pub client_id: Option<String>,
}

impl OpContext {
    pub fn session(session_id: Option<String>) -> Self {
        Self {
            session_id,
            ..Default::default()
        }
    }
    pub fn with_op_id(mut self, op_id: impl Into<String>) -> Self {
        self.op_id = Some(op_id.into());
        self
    }
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }
    /// The same caller, without the idempotency key (for calls made on its behalf).
    pub fn without_op_id(mut self) -> Self {
        self.op_id = None;
        self
    }
    /// The identity idempotency keys are scoped to.
    pub fn caller(&self) -> Option<&str> {
        self.session_id.as_deref().or(self.client_id.as_deref())
    }
}

/// How to reach the server a remote store talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub url: String,
    pub token: Option<String>,
}

/// The connections a store keeps to its database, as `/health` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections idle now.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// A project to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewProject {
    pub name: String,
    /// Make it the store's default project (a store's first project always is).
    pub make_default: bool,
    /// Return the project of that name when one exists instead of creating a second one
    /// (what `maestro init` does).
    pub reuse_by_name: bool,
}

/// A created (or reused) project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectInit {
    pub project: Project,
    /// `false` when a project of that name existed and was returned.
    pub created: bool,
}

/// A claim: of one task, or of the first of the ready queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClaimRequest {
    /// The task; `None` claims the first task of the ready queue of `project_id`.
    pub task_id: Option<String>,
    pub project_id: Option<String>,
    /// The session that gets the task (default: the caller's).
    pub session_id: Option<String>,
    /// Take the task over from its owners (they are released, and fenced off).
    pub force: bool,
}

/// A page of a task's timeline, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TimelineQuery {
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A task to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewTask {
    /// The project; `None` means the store's default project.
    pub project_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    /// Ids (or unique prefixes) of the tasks this one depends on.
    pub depends_on: Vec<String>,
    pub labels: Vec<String>,
    pub metadata: Option<Map<String, Value>>,
}

/// Changes to a task; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    /// A status change, checked against the status machine.
    pub status: Option<TaskStatus>,
    pub add_dependencies: Vec<String>,
    pub remove_dependencies: Vec<String>,
    /// Replaces the labels.
    pub labels: Option<Vec<String>>,
    /// Merged into the metadata object (a `null` value removes the key).
    pub metadata: Option<Map<String, Value>>,
    /// Optimistic concurrency: fail with `version_conflict` unless the task is at this version.
    pub expected_version: Option<i64>,
    /// Skip the dependency and force-only transition checks.
    pub force: bool,
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.priority.is_none()
            && self.status.is_none()
            && self.add_dependencies.is_empty()
            && self.remove_dependencies.is_empty()
            && self.labels.is_none()
            && self.metadata.is_none()
    }
}

/// A status action on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum StatusAction {
    Start,
    Complete,
    Block {
        reason: String,
    },
    Reopen,
    Cancel,
    /// Back to `pending`, releasing the task's sessions.
    Release {
        reason: String,
    },
}

/// A status action with its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    #[serde(flatten)]
    pub action: StatusAction,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub expected_version: Option<i64>,
}

impl StatusChange {
    pub fn new(action: StatusAction) -> Self {
        Self {
            action,
            force: false,
            expected_version: None,
        }
    }
}

/// Filters for listing tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskFilter {
    pub project_id: Option<String>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    /// Only tasks carrying every one of these comma-separated labels (`a,b`: both), as
    /// `task create --label a,b` gives them.
    pub label: Option<String>,
    /// Only tasks in the ready queue.
    pub ready: bool,
    /// Only tasks assigned to this session.
    pub session_id: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

pub use crate::rules::limits::{DEFAULT_LIMIT, MAX_LIMIT};

impl TaskFilter {
    /// The labels a task must all carry (see [`TaskFilter::label`]).
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.label
            .iter()
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }
}

/// Changes to a subtask.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubtaskPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub completed: Option<bool>,
    pub order: Option<i64>,
}

/// A session to create: registered by a running agent, or requested for a host to spawn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewSession {
    pub project_id: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub skill: Option<String>,
    pub agent: Option<String>,
    pub task_ids: Vec<String>,
    pub cwd: Option<String>,
    pub pid: Option<i64>,
    pub host: Option<String>,
    /// `true` for a spawn request: status `spawning` (or `waiting` while the task's
    /// dependencies are open) and a `session:spawn_request` event.
    pub spawn: bool,
    /// Spawn even for a finished task, or one that already has a live worker session.
    pub force: bool,
    /// Limits of the agent's run (the host stops it past them).
    pub budget: Option<Budget>,
    /// Continue the agent conversation of this earlier session (its profile must resume).
    pub resume: Option<String>,
    /// Run the agent in `cwd` itself, not in a worktree of its task.
    pub no_worktree: bool,
}

/// Changes to a session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionPatch {
    pub status: Option<SessionStatus>,
    pub name: Option<String>,
    /// The agent profile the session was launched with (set by the host that launched it).
    pub agent: Option<String>,
    pub pid: Option<i64>,
    pub host: Option<String>,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub task_ids: Option<Vec<String>>,
    /// What a host read from the agent's output.
    pub agent_session_id: Option<String>,
    pub usage: Option<crate::agent::Usage>,
    /// Set once, when the run ends: it adds an `agent_result` entry to the session's task.
    pub result: Option<crate::agent::RunResult>,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionFilter {
    pub project_id: Option<String>,
    /// Only sessions that have not ended.
    pub active: bool,
    pub status: Option<SessionStatus>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// A task to put in the merge queue of its target branch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MergeEnqueue {
    pub task_id: String,
    /// The target branch (default: config `merge.into`, else the task's base branch).
    pub into: Option<String>,
    /// What config `merge.into` says (the caller reads config; the store does not).
    pub configured_into: Option<String>,
    /// Queue a task that is not completed yet.
    pub force: bool,
}

/// How a merge the queue started ended, as its runner reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MergeResult {
    /// The merge ran to an outcome (merged, conflict, gate failed, waiting).
    Outcome {
        outcome: crate::worktree::MergeOutcome,
    },
    /// The merge could not run (e.g. the branch is gone).
    Error { code: String, message: String },
    /// The merge was rolled back, or its process died: back in line.
    Requeue,
}

/// The merge queue of one target branch of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectQueue {
    pub project_id: String,
    #[serde(flatten)]
    pub queue: crate::worktree::MergeQueue,
}

/// The storage contract. Ids may be given as unique prefixes; `project_id: None` means the
/// store's default project. Arguments are validated by the [`crate::Maestro`] facade before
/// they get here.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Where the data lives (a file path or a server URL), for `whoami`.
    fn location(&self) -> String;
    /// The server this store is a client of (which keeps leases itself), if any.
    fn server(&self) -> Option<ServerInfo> {
        None
    }
    /// Whether the store is a client of a server.
    fn is_remote(&self) -> bool {
        self.server().is_some()
    }
    /// Whether the store refuses writes (opened read-only).
    fn read_only(&self) -> bool {
        false
    }
    /// The storage error writes fail with at the moment (a full disk, say), if they do:
    /// what a server's `/health` reports as degraded.
    fn write_failure(&self) -> Option<crate::error::Error> {
        None
    }
    /// The store's pool of database connections, when it keeps one (a client of a server
    /// keeps none).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
    /// The clock the store stamps rows with.
    fn clock(&self) -> std::sync::Arc<dyn crate::clock::Clock> {
        crate::clock::system()
    }

    // ---- projects ----
    async fn create_project(&self, op: &OpContext, new: NewProject) -> Result<ProjectInit>;
    async fn list_projects(&self) -> Result<Vec<Project>>;
    async fn get_project(&self, id: &str) -> Result<Project>;
    /// The project that `project_id` names, or the default project.
    async fn resolve_project(&self, project_id: Option<&str>) -> Result<Project>;
    /// Makes `id` the store's default project.
    async fn set_default_project(&self, op: &OpContext, id: &str) -> Result<Project>;

    // ---- tasks ----
    async fn create_task(&self, op: &OpContext, new: NewTask) -> Result<Task>;
    /// Creates several tasks, in order, in one transaction (all or nothing). Dependencies
    /// may name tasks created earlier in the same call only by id.
    async fn create_tasks(&self, op: &OpContext, new: Vec<NewTask>) -> Result<Vec<Task>>;
    async fn get_task(&self, id: &str) -> Result<TaskDetail>;
    async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>>;
    async fn update_task(&self, op: &OpContext, id: &str, patch: TaskPatch) -> Result<Task>;
    async fn change_status(&self, op: &OpContext, id: &str, change: StatusChange) -> Result<Task>;
    /// Deletes a task (subtasks and timeline with it) and removes it from dependency lists;
    /// its spawn requests are stopped.
    async fn delete_task(&self, op: &OpContext, id: &str) -> Result<Task>;
    /// The ready queue: pending tasks whose dependencies are completed, by priority then age.
    async fn ready_tasks(&self, project_id: Option<&str>, limit: usize) -> Result<Vec<Task>>;
    /// Assigns a task (or the first ready one) to a session and starts it, atomically.
    async fn claim(&self, op: &OpContext, claim: ClaimRequest) -> Result<Task>;

    // ---- timeline ----
    /// Appends a `progress` or `comment` entry.
    async fn add_timeline(
        &self,
        op: &OpContext,
        task_id: &str,
        kind: TimelineKind,
    ) -> Result<TimelineEntry>;
    /// A page of the whole timeline, oldest first.
    async fn timeline(&self, task_id: &str, query: TimelineQuery) -> Result<Page<TimelineEntry>>;

    // ---- subtasks ----
    async fn create_subtask(
        &self,
        op: &OpContext,
        task_id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<Subtask>;
    async fn list_subtasks(&self, task_id: &str) -> Result<Vec<Subtask>>;
    /// `task_id`, when given, must own the subtask.
    async fn update_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
        patch: SubtaskPatch,
    ) -> Result<Subtask>;
    async fn delete_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
    ) -> Result<Subtask>;

    // ---- sessions ----
    async fn create_session(&self, op: &OpContext, new: NewSession) -> Result<Session>;
    async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>>;
    async fn get_session(&self, id: &str) -> Result<Session>;
    async fn update_session(
        &self,
        op: &OpContext,
        id: &str,
        patch: SessionPatch,
    ) -> Result<Session>;
    /// Refreshes `last_seen` of a session that has not ended.
    async fn heartbeat(&self, op: &OpContext, id: &str) -> Result<Session>;
    /// Moves a spawn request from `spawning` to `starting` on behalf of `host`, atomically:
    /// of several hosts racing for one request exactly one gets `Some`; the others (and any
    /// call on a session that is no longer `spawning`) get `None`.
    async fn claim_spawn(&self, op: &OpContext, id: &str, host: &str) -> Result<Option<Session>>;
    /// Whether a started session is silent past `lease` (a cheap, indexed read).
    async fn any_expired(&self, lease: std::time::Duration) -> Result<bool>;
    /// Declares `lost` every started session silent for longer than `lease` (never the
    /// caller's own, which is refreshed first), releases its tasks back to the queue (with a
    /// `released` timeline entry) and returns the sessions declared lost.
    async fn reap_expired(
        &self,
        op: &OpContext,
        lease: std::time::Duration,
    ) -> Result<Vec<Session>>;

    // ---- worktrees and the merge queue (SPEC §11) ----
    /// Records (or with `None` forgets) the worktree a task's agents work in.
    async fn set_task_worktree(
        &self,
        op: &OpContext,
        task_id: &str,
        worktree: Option<TaskWorktree>,
    ) -> Result<Task>;
    /// Puts a completed task at the end of its target's queue (a no-op while it is queued).
    async fn enqueue_merge(&self, op: &OpContext, req: MergeEnqueue) -> Result<ProjectQueue>;
    /// Takes the next entry of a queue for merging, atomically: of several runners racing for
    /// one queue exactly one gets it, the others `None` (also when one is merging already).
    async fn start_merge(
        &self,
        op: &OpContext,
        project_id: &str,
        target: &str,
    ) -> Result<Option<crate::worktree::QueueEntry>>;
    /// Records how a started merge ended, with its effect on the task (`merged` entry, or
    /// `blocked` with the details and a subtask).
    async fn finish_merge(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        result: MergeResult,
    ) -> Result<ProjectQueue>;
    /// A `merge:step` event for a step of a running merge.
    async fn merge_step(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        step: crate::worktree::Progress,
    ) -> Result<()>;
    /// The merge queues of a project (or of every project with `None`).
    async fn merge_queues(&self, project_id: Option<&str>) -> Result<Vec<ProjectQueue>>;

    // ---- events and status ----
    /// Events with `seq > since`, oldest first, optionally only of the given projects.
    async fn events_since(
        &self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>>;
    /// The latest `seq` (0 when the log is empty).
    async fn latest_seq(&self) -> Result<i64>;
    /// The first `seq` the event log still retains (`latest_seq() + 1` when it is empty):
    /// a replay after `since` is complete only if `since + 1 >= oldest_seq()`.
    async fn oldest_seq(&self) -> Result<i64>;
    async fn status(&self, project_id: Option<&str>) -> Result<StatusReport>;
    /// Deletes all but the newest `keep` events (the newest one is always kept) and returns
    /// how many were deleted.
    async fn prune_events(&self, keep: usize) -> Result<u64>;
    /// Deletes stored results of idempotent operations older than `retention`.
    async fn prune_op_records(&self, retention: std::time::Duration) -> Result<u64>;
    /// A watch of the latest seq committed through this store by this process, when the
    /// store can notify; writes by other processes are found by polling [`Store::latest_seq`].
    fn commit_notifications(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        None
    }
}
