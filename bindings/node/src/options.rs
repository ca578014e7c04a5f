//! Option objects accepted from JavaScript, and their conversion to the core's inputs.
//!
//! Each options object has the camelCase field names of the core input it becomes (`NewTask`,
//! `TaskPatch`, `TaskFilter`, …), so serde converts it ([`to_core`]). Enum values arrive as
//! strings and are read by the core's parsers first ([`parsed`]), so a wrong value fails with
//! the core's error (`invalid_priority`, `invalid_status`, …) and its list of allowed values,
//! and `'in-progress'` or `'HIGH'` are accepted as the CLI accepts them.

use crate::error::{OrNapi, to_napi};
use maestro_core::{
    Error, NewSession, NewTask, Priority, Role, SessionFilter, SessionStatus, SubtaskPatch,
    TaskFilter, TaskPatch, TaskStatus, TimelineQuery,
};
use napi_derive::napi;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::str::FromStr;

/// The core input with the same fields as `options` (absent and `null` fields take the core's
/// defaults).
fn to_core<T: DeserializeOwned>(options: impl Serialize) -> napi::Result<T> {
    let mut value = serde_json::to_value(options).map_err(|e| to_napi(e.into()))?;
    if let Value::Object(fields) = &mut value {
        fields.retain(|_, v| !v.is_null());
    }
    serde_json::from_value(value)
        .map_err(|e| to_napi(Error::invalid_argument(format!("Invalid options: {e}"))))
}

/// An enum value in the core's spelling, read by the core's parser.
fn parsed<T: FromStr<Err = Error> + Serialize>(
    value: Option<String>,
) -> napi::Result<Option<String>> {
    let Some(text) = value else { return Ok(None) };
    let v = text.parse::<T>().or_napi()?;
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => Ok(Some(s)),
        _ => Ok(Some(text)),
    }
}

/// Options of `open` and `connect`.
#[napi(object)]
#[derive(Default)]
pub struct ClientOptions {
    /// Bearer token for `connect` (default `MAESTRO_TOKEN`, then config `token`).
    pub token: Option<String>,
    /// The acting session (default `MAESTRO_SESSION_ID`).
    pub session_id: Option<String>,
    /// The project acted on (default `MAESTRO_PROJECT_ID`, then config `projectId`, else the
    /// store's default project).
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
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
    pub fn into_new_task(
        mut self,
        title: String,
        project: Option<String>,
    ) -> napi::Result<NewTask> {
        self.priority = parsed::<Priority>(self.priority)?;
        self.project_id = self.project_id.or(project);
        Ok(NewTask {
            title,
            ..to_core(self)?
        })
    }
}

/// Filters of `listTasks`.
#[napi(object)]
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
    pub fn into_filter(mut self, project: Option<String>) -> napi::Result<TaskFilter> {
        self.status = parsed::<TaskStatus>(self.status)?;
        self.priority = parsed::<Priority>(self.priority)?;
        self.project_id = self.project_id.or(project);
        to_core(self)
    }
}

/// Changes of `updateTask`; absent fields stay as they are.
#[napi(object)]
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
    /// Skip the dependency and force-only transition checks, and write to a task other
    /// sessions own (recorded as an `override` timeline entry).
    pub force: Option<bool>,
}

impl UpdateTaskOptions {
    pub fn into_patch(mut self) -> napi::Result<TaskPatch> {
        self.status = parsed::<TaskStatus>(self.status)?;
        self.priority = parsed::<Priority>(self.priority)?;
        to_core(self)
    }
}

/// Options of `startTask`, `completeTask` and `claimTask`.
#[napi(object)]
#[derive(Default)]
pub struct ForceOptions {
    /// Override the checks: start despite unfinished dependencies, complete a blocked task,
    /// act on a task other sessions own (recorded as an `override` timeline entry); for
    /// `claimTask`, take the task over from its owners (they get `claim_released`).
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
#[derive(Default, Serialize)]
pub struct TimelineOptions {
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl TimelineOptions {
    pub fn into_query(self) -> napi::Result<TimelineQuery> {
        to_core(self)
    }
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
#[derive(Default, Serialize)]
pub struct UpdateSubtaskOptions {
    pub title: Option<String>,
    pub description: Option<String>,
    pub completed: Option<bool>,
    /// New position, from 1.
    pub order: Option<i64>,
}

impl UpdateSubtaskOptions {
    pub fn into_patch(self) -> napi::Result<SubtaskPatch> {
        to_core(self)
    }
}

/// Options of `registerSession`.
#[napi(object)]
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
    pub fn into_new_session(mut self, project: Option<String>) -> napi::Result<NewSession> {
        self.role = parsed::<Role>(self.role)?;
        self.project_id = self.project_id.or(project);
        to_core(self)
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
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpawnSessionOptions {
    /// Agent profile the host launches (`claude`, `codex`, a configured name …).
    pub agent: Option<String>,
    pub skill: Option<String>,
    pub name: Option<String>,
    #[napi(ts_type = "Role")]
    pub role: Option<String>,
    pub cwd: Option<String>,
    pub project_id: Option<String>,
    /// Spawn even for a finished task, or one that already has a live worker session.
    pub force: Option<bool>,
}

impl SpawnSessionOptions {
    pub fn into_new_session(
        mut self,
        task_id: String,
        project: Option<String>,
    ) -> napi::Result<NewSession> {
        self.role = parsed::<Role>(self.role)?;
        self.project_id = self.project_id.or(project);
        Ok(NewSession {
            task_ids: vec![task_id],
            ..to_core(self)?
        })
    }
}

/// Filters of `listSessions`.
#[napi(object)]
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
    pub fn into_filter(mut self, project: Option<String>) -> napi::Result<SessionFilter> {
        self.status = parsed::<SessionStatus>(self.status)?;
        self.project_id = self.project_id.or(project);
        to_core(self)
    }
}

/// Parses an optional session status (`endSession`).
pub fn session_status(s: Option<String>) -> napi::Result<Option<SessionStatus>> {
    s.map(|s| s.parse::<SessionStatus>()).transpose().or_napi()
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
    /// Replay the events after this seq first (`0`: the whole log). Default: now, only
    /// events from now on.
    pub since: Option<i64>,
    /// Only events of this project.
    pub project: Option<String>,
    /// Local stores: how often to look for events written by other processes (default 100).
    pub poll_interval_ms: Option<u32>,
}
