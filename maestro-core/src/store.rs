//! The storage contract: an async, operation-level trait.
//!
//! Each mutation is one atomic operation (validation, state change, timeline entries and
//! event-log entries commit together or not at all). The embedded SQLite store implements it
//! locally; the HTTP client implements it against `maestro serve`, which in turn runs the
//! same operations on its own store.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who is calling, and the idempotency key of the call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpContext {
    /// The acting session (recorded in timelines; its lease is refreshed).
    pub session_id: Option<String>,
    /// An idempotency key: a repeated mutation with the same key returns the first result.
    pub op_id: Option<String>,
}

impl OpContext {
    pub fn session(session_id: Option<String>) -> Self {
        Self {
            session_id,
            op_id: None,
        }
    }
    pub fn with_op_id(mut self, op_id: impl Into<String>) -> Self {
        self.op_id = Some(op_id.into());
        self
    }
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
    pub label: Option<String>,
    /// Only tasks in the ready queue.
    pub ready: bool,
    /// Only tasks assigned to this session.
    pub session_id: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The default and maximum page sizes.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

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
    /// `true` for a spawn request: status `spawning` and a `session:spawn_request` event.
    pub spawn: bool,
}

/// Changes to a session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionPatch {
    pub status: Option<SessionStatus>,
    pub name: Option<String>,
    pub pid: Option<i64>,
    pub host: Option<String>,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub task_ids: Option<Vec<String>>,
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

/// The storage contract. Ids may be given as unique prefixes; `project_id: None` means the
/// store's default project.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Where the data lives (a file path or a server URL), for `whoami`.
    fn location(&self) -> String;

    // ---- projects ----
    async fn create_project(
        &self,
        op: &OpContext,
        name: &str,
        make_default: bool,
    ) -> Result<Project>;
    async fn list_projects(&self) -> Result<Vec<Project>>;
    async fn get_project(&self, id: &str) -> Result<Project>;
    /// The project that `project_id` names, or the default project.
    async fn resolve_project(&self, project_id: Option<&str>) -> Result<Project>;

    // ---- tasks ----
    async fn create_task(&self, op: &OpContext, new: NewTask) -> Result<Task>;
    /// Creates several tasks, in order; a store may do it in one transaction (all or
    /// nothing), which is much faster for a whole plan. Dependencies may name tasks
    /// created earlier in the same call only by id, so they must already exist.
    ///
    /// The default creates them one by one, with op ids `<op_id>/<index>`.
    async fn create_tasks(&self, op: &OpContext, new: Vec<NewTask>) -> Result<Vec<Task>> {
        let mut out = Vec::with_capacity(new.len());
        for (i, n) in new.into_iter().enumerate() {
            let op_i = OpContext {
                session_id: op.session_id.clone(),
                op_id: op.op_id.as_ref().map(|id| format!("{id}/{i}")),
            };
            out.push(self.create_task(&op_i, n).await?);
        }
        Ok(out)
    }
    async fn get_task(&self, id: &str) -> Result<TaskDetail>;
    async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>>;
    async fn update_task(&self, op: &OpContext, id: &str, patch: TaskPatch) -> Result<Task>;
    async fn change_status(&self, op: &OpContext, id: &str, change: StatusChange) -> Result<Task>;
    /// Deletes a task (subtasks and timeline with it) and removes it from dependency lists.
    async fn delete_task(&self, op: &OpContext, id: &str) -> Result<Task>;
    /// The ready queue: pending tasks whose dependencies are completed, by priority then age.
    async fn ready_tasks(
        &self,
        project_id: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>>;
    /// Assigns a ready task to `session_id` and starts it, atomically.
    async fn claim_task(&self, op: &OpContext, id: &str, session_id: &str) -> Result<Task>;
    /// Claims the first task of the ready queue; `nothing_ready` when the queue is empty.
    async fn claim_next(
        &self,
        op: &OpContext,
        project_id: Option<&str>,
        session_id: &str,
    ) -> Result<Task>;

    // ---- timeline ----
    /// Appends a `progress` or `comment` entry.
    async fn add_timeline(
        &self,
        op: &OpContext,
        task_id: &str,
        kind: TimelineKind,
    ) -> Result<TimelineEntry>;
    /// The newest `limit` entries, oldest first.
    async fn timeline(&self, task_id: &str, limit: Option<usize>) -> Result<Vec<TimelineEntry>>;

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
    /// Refreshes `last_seen`.
    async fn heartbeat(&self, id: &str) -> Result<Session>;

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
    async fn status(&self, project_id: Option<&str>) -> Result<StatusReport>;

    // ---- spawning and leases ----
    /// Moves a spawn request from `spawning` to `starting` on behalf of `host`, atomically:
    /// of several hosts racing for one request exactly one gets `Some`; the others (and any
    /// call on a session that is no longer `spawning`) get `None`.
    async fn claim_spawn(&self, _op: &OpContext, id: &str, _host: &str) -> Result<Option<Session>> {
        Err(crate::Error::new(
            crate::Code::ServerError,
            format!("This store cannot claim spawn request '{id}'"),
        )
        .with_suggestion(
            "Run the host on the database itself, or let the server launch agents (maestro serve --spawn)",
        ))
    }
    /// Declares `lost` every started session silent for longer than `lease`, releases its
    /// in-progress tasks back to `pending` (with a `released` timeline entry) and returns the
    /// sessions declared lost. A store that delegates to a server leaves this to the server,
    /// which reaps on its own schedule.
    async fn reap_expired(
        &self,
        _op: &OpContext,
        _lease: std::time::Duration,
    ) -> Result<Vec<Session>> {
        Ok(Vec::new())
    }

    // ---- event-log retention and change notifications ----
    /// The first `seq` the event log still retains (`latest_seq() + 1` when it is empty):
    /// a replay after `since` is complete only if `since + 1 >= oldest_seq()`. A store that
    /// never prunes retains everything, from seq 1.
    async fn oldest_seq(&self) -> Result<i64> {
        Ok(1)
    }
    /// Deletes all but the newest `keep` events (the newest one is always kept) and returns
    /// how many were deleted. A store without retention keeps everything.
    async fn prune_events(&self, _keep: usize) -> Result<u64> {
        Ok(0)
    }
    /// A watch of the latest seq committed through this store by this process, when the
    /// store can notify; writes by other processes are found by polling [`Store::latest_seq`].
    fn commit_notifications(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        None
    }
}
