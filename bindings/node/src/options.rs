//! Option objects accepted from JavaScript and their conversion to the core's inputs.
//!
//! Enum values arrive as strings and are parsed by the core, so a wrong value fails with the
//! core's error (`invalid_priority`, `invalid_status`, …) and its list of allowed values.

use crate::error::OrNapi;
use maestro_core::{
    NewSession, NewTask, Priority, Role, SessionFilter, SessionStatus, SubtaskPatch, TaskFilter,
    TaskPatch, TaskStatus,
};
use napi_derive::napi;
use serde_json::{Map, Value};
use std::str::FromStr;

fn parse<T: FromStr<Err = maestro_core::Error>>(s: Option<String>) -> napi::Result<Option<T>> {
    s.map(|s| s.parse::<T>()).transpose().or_napi()
}

fn limit(n: Option<u32>) -> Option<usize> {
    n.map(|n| n as usize)
}

/// Options of `open` and `connect`.
#[napi(object)]
#[derive(Default)]
pub struct ClientOptions {
    /// Bearer token for `connect` (default `MAESTRO_TOKEN`, then config `token`).
    pub token: Option<String>,
    /// The acting session (default `MAESTRO_SESSION_ID`).
    pub session_id: Option<String>,
    /// The project acted on (default `MAESTRO_PROJECT_ID`, else the store's default project).
    pub project_id: Option<String>,
}

/// Options of `createProject`.
#[napi(object)]
#[derive(Default)]
pub struct CreateProjectOptions {
    /// Make it the store's default project (the first project always is).
    pub make_default: Option<bool>,
}

/// Options of `createTask`.
#[napi(object)]
#[derive(Default)]
pub struct CreateTaskOptions {
    pub description: Option<String>,
    /// `high`, `medium` (default) or `low`.
    #[napi(ts_type = "Priority")]
    pub priority: Option<String>,
    /// Ids (or unique prefixes) of the tasks this one depends on.
    pub depends_on: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
    #[napi(ts_type = "JsonObject")]
    pub metadata: Option<Map<String, Value>>,
    pub project_id: Option<String>,
}

impl CreateTaskOptions {
    pub fn into_new_task(self, title: String, project: Option<String>) -> napi::Result<NewTask> {
        Ok(NewTask {
            project_id: self.project_id.or(project),
            title,
            description: self.description,
            priority: parse::<Priority>(self.priority)?,
            depends_on: self.depends_on.unwrap_or_default(),
            labels: self.labels.unwrap_or_default(),
            metadata: self.metadata,
        })
    }
}

/// Filters of `listTasks`.
#[napi(object)]
#[derive(Default)]
pub struct ListTasksOptions {
    #[napi(ts_type = "TaskStatus")]
    pub status: Option<String>,
    #[napi(ts_type = "Priority")]
    pub priority: Option<String>,
    pub label: Option<String>,
    /// Only tasks in the ready queue.
    pub ready: Option<bool>,
    /// Only tasks assigned to this session.
    pub session_id: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    pub project_id: Option<String>,
}

impl ListTasksOptions {
    pub fn into_filter(self, project: Option<String>) -> napi::Result<TaskFilter> {
        Ok(TaskFilter {
            project_id: self.project_id.or(project),
            status: parse::<TaskStatus>(self.status)?,
            priority: parse::<Priority>(self.priority)?,
            label: self.label,
            ready: self.ready.unwrap_or(false),
            session_id: self.session_id,
            limit: limit(self.limit),
            cursor: self.cursor,
        })
    }
}

/// Changes of `updateTask`; absent fields stay as they are.
#[napi(object)]
#[derive(Default)]
pub struct UpdateTaskOptions {
    pub title: Option<String>,
    pub description: Option<String>,
    #[napi(ts_type = "Priority")]
    pub priority: Option<String>,
    #[napi(ts_type = "TaskStatus")]
    pub status: Option<String>,
    pub add_dependencies: Option<Vec<String>>,
    pub remove_dependencies: Option<Vec<String>>,
    /// Replaces the labels.
    pub labels: Option<Vec<String>>,
    /// Merged into the metadata (a `null` value removes the key).
    #[napi(ts_type = "JsonObject")]
    pub metadata: Option<Map<String, Value>>,
    /// Fail with `version_conflict` unless the task is at this version.
    pub expected_version: Option<i64>,
    /// Skip the dependency and force-only transition checks.
    pub force: Option<bool>,
}

impl UpdateTaskOptions {
    pub fn into_patch(self) -> napi::Result<TaskPatch> {
        Ok(TaskPatch {
            title: self.title,
            description: self.description,
            priority: parse::<Priority>(self.priority)?,
            status: parse::<TaskStatus>(self.status)?,
            add_dependencies: self.add_dependencies.unwrap_or_default(),
            remove_dependencies: self.remove_dependencies.unwrap_or_default(),
            labels: self.labels,
            metadata: self.metadata,
            expected_version: self.expected_version,
            force: self.force.unwrap_or(false),
        })
    }
}

/// Options of `startTask` and `completeTask`.
#[napi(object)]
#[derive(Default)]
pub struct ForceOptions {
    /// Start despite unfinished dependencies, or complete a blocked task.
    pub force: Option<bool>,
}

/// Options of `readyTasks`.
#[napi(object)]
#[derive(Default)]
pub struct ReadyOptions {
    pub limit: Option<u32>,
    pub project_id: Option<String>,
}

/// Options of `timeline`.
#[napi(object)]
#[derive(Default)]
pub struct TimelineOptions {
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Options of `addComment`.
#[napi(object)]
#[derive(Default)]
pub struct CommentOptions {
    /// Who wrote it (default: the client's session id, else `user`).
    pub author: Option<String>,
}

/// Options of `createSubtask`.
#[napi(object)]
#[derive(Default)]
pub struct CreateSubtaskOptions {
    pub description: Option<String>,
}

/// Changes of `updateSubtask`.
#[napi(object)]
#[derive(Default)]
pub struct UpdateSubtaskOptions {
    pub title: Option<String>,
    pub description: Option<String>,
    pub completed: Option<bool>,
    /// New position, from 1.
    pub order: Option<i64>,
}

impl From<UpdateSubtaskOptions> for SubtaskPatch {
    fn from(o: UpdateSubtaskOptions) -> Self {
        SubtaskPatch {
            title: o.title,
            description: o.description,
            completed: o.completed,
            order: o.order,
        }
    }
}

/// Options of `registerSession`.
#[napi(object)]
#[derive(Default)]
pub struct RegisterSessionOptions {
    pub name: Option<String>,
    /// `worker` (default) or `orchestrator`.
    #[napi(ts_type = "Role")]
    pub role: Option<String>,
    pub skill: Option<String>,
    pub agent: Option<String>,
    pub task_ids: Option<Vec<String>>,
    pub cwd: Option<String>,
    pub pid: Option<i64>,
    pub host: Option<String>,
    pub project_id: Option<String>,
}

impl RegisterSessionOptions {
    pub fn into_new_session(self, project: Option<String>) -> napi::Result<NewSession> {
        Ok(NewSession {
            project_id: self.project_id.or(project),
            name: self.name,
            role: parse::<Role>(self.role)?,
            skill: self.skill,
            agent: self.agent,
            task_ids: self.task_ids.unwrap_or_default(),
            force: false,
            cwd: self.cwd,
            pid: self.pid,
            host: self.host,
            spawn: false,
        })
    }
}

/// Options of `skillPrompt`.
#[napi(object)]
#[derive(Default)]
pub struct SkillPromptOptions {
    /// The skill to render (default: `maestro-worker` with a task, else
    /// `maestro-orchestrator`).
    pub skill: Option<String>,
}

/// Options of `spawnSession`.
#[napi(object)]
#[derive(Default)]
pub struct SpawnSessionOptions {
    /// Agent profile the host launches (`claude`, `codex`, a configured name …).
    pub agent: Option<String>,
    pub skill: Option<String>,
    pub name: Option<String>,
    #[napi(ts_type = "Role")]
    pub role: Option<String>,
    pub cwd: Option<String>,
    pub project_id: Option<String>,
}

impl SpawnSessionOptions {
    pub fn into_new_session(
        self,
        task_id: String,
        project: Option<String>,
    ) -> napi::Result<NewSession> {
        Ok(NewSession {
            project_id: self.project_id.or(project),
            name: self.name,
            role: parse::<Role>(self.role)?,
            skill: self.skill,
            agent: self.agent,
            task_ids: vec![task_id],
            force: false,
            cwd: self.cwd,
            pid: None,
            host: None,
            spawn: true,
        })
    }
}

/// Filters of `listSessions`.
#[napi(object)]
#[derive(Default)]
pub struct ListSessionsOptions {
    /// Only sessions that have not ended.
    pub active: Option<bool>,
    #[napi(ts_type = "SessionStatus")]
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub project_id: Option<String>,
}

impl ListSessionsOptions {
    pub fn into_filter(self, project: Option<String>) -> napi::Result<SessionFilter> {
        Ok(SessionFilter {
            project_id: self.project_id.or(project),
            active: self.active.unwrap_or(false),
            status: parse::<SessionStatus>(self.status)?,
            limit: limit(self.limit),
            cursor: self.cursor,
        })
    }
}

/// Parses an optional session status (`endSession`).
pub fn session_status(s: Option<String>) -> napi::Result<Option<SessionStatus>> {
    parse::<SessionStatus>(s)
}

/// Options of `status`.
#[napi(object)]
#[derive(Default)]
pub struct StatusOptions {
    pub project_id: Option<String>,
}

/// Options of `events`.
#[napi(object)]
#[derive(Default)]
pub struct EventsOptions {
    /// Events with a greater seq (default 0: from the start).
    pub since: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only events of this project.
    pub project: Option<String>,
}

/// Options of `subscribe`.
#[napi(object)]
#[derive(Default)]
pub struct SubscribeOptions {
    /// Replay events after this seq first (default: only events from now on).
    pub since: Option<i64>,
    /// Only events of this project.
    pub project: Option<String>,
    /// Local stores: how often to look for events written by other processes (default 100).
    pub poll_interval_ms: Option<u32>,
}
