//! `maestro.Client`: the facade's operations as blocking Python methods.
//!
//! Every method converts its arguments, runs the core operation on the shared runtime with
//! the GIL released, and wraps the result in a result class.

use crate::convert::dict_to_map;
use crate::error::to_py_err;
use crate::runtime::run;
use crate::subscription::Subscription;
use crate::types::*;
use maestro_core::facade::subscribe::SubscribeOptions;
use maestro_core::{
    ClaimRequest, Error, Maestro, NewSession, NewTask, OpContext, SessionFilter, StatusAction,
    StatusChange, SubtaskPatch, TaskFilter, TaskPatch, TimelineQuery,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::str::FromStr;
use std::time::Duration;

/// A Maestro client: a local store opened with `maestro.open()` or a server reached with
/// `maestro.connect()`. Every method blocks the calling thread (not the interpreter: the
/// GIL is released) and raises a `MaestroError` subclass on failure. Safe to share between
/// threads.
#[pyclass(frozen, name = "Client", module = "maestro")]
pub struct Client {
    m: Maestro,
    session_id: Option<String>,
    project_id: Option<String>,
}

/// Parses an optional enum argument with the core's parser (so the error names the allowed
/// values).
fn parse<T: FromStr<Err = Error>>(py: Python<'_>, value: Option<&str>) -> PyResult<Option<T>> {
    value
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| to_py_err(py, e))
}

fn metadata(
    d: Option<&Bound<'_, PyDict>>,
) -> PyResult<Option<serde_json::Map<String, serde_json::Value>>> {
    d.map(dict_to_map).transpose()
}

impl Client {
    /// A client acting as `session_id` on `project_id` (both already resolved).
    pub fn new(m: Maestro, session_id: Option<String>, project_id: Option<String>) -> Self {
        Self {
            m,
            session_id,
            project_id,
        }
    }

    /// The facade this client calls.
    pub fn maestro(&self) -> &Maestro {
        &self.m
    }

    fn op(&self) -> OpContext {
        OpContext::session(self.session_id.clone())
    }

    fn project(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The given session id, else the client's; `no_session_context` without either.
    fn session_or(&self, py: Python<'_>, given: Option<String>) -> PyResult<String> {
        given
            .or_else(|| self.session_id.clone())
            .ok_or_else(|| to_py_err(py, Error::no_session_context()))
    }

    /// Claims for `session_id` (default: the client's session), acting as that session.
    fn claim(
        &self,
        py: Python<'_>,
        session_id: Option<String>,
        claim: ClaimRequest,
    ) -> PyResult<PyTask> {
        let sid = self.session_or(py, session_id)?;
        let op = OpContext::session(Some(sid.clone()));
        let claim = ClaimRequest {
            session_id: Some(sid),
            ..claim
        };
        run(py, self.m.claim(&op, claim)).map(PyTask)
    }

    fn change(&self, py: Python<'_>, id: String, change: StatusChange) -> PyResult<PyTask> {
        let op = self.op();
        run(py, self.m.change_status(&op, &id, change)).map(PyTask)
    }
}

#[pymethods]
impl Client {
    /// `"local"` (a SQLite file) or `"remote"` (a server).
    #[getter]
    fn mode(&self) -> &'static str {
        if self.m.store().is_remote() {
            "remote"
        } else {
            "local"
        }
    }

    /// Where the data lives: the database path or the server URL.
    #[getter]
    fn location(&self) -> String {
        self.m.location()
    }

    /// The acting session recorded in timelines (default: `MAESTRO_SESSION_ID`), or None.
    #[getter]
    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The project operations act on (default: `MAESTRO_PROJECT_ID`), or None for the
    /// store's default project.
    #[getter]
    fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// A client on the same store acting as session `session_id` (None: no session).
    #[pyo3(signature = (session_id))]
    fn with_session(&self, session_id: Option<String>) -> Self {
        Self {
            m: self.m.clone(),
            session_id,
            project_id: self.project_id.clone(),
        }
    }

    /// A client on the same store acting on project `project_id` (None: the default project).
    #[pyo3(signature = (project_id))]
    fn with_project(&self, project_id: Option<String>) -> Self {
        Self {
            m: self.m.clone(),
            session_id: self.session_id.clone(),
            project_id,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Client(mode={}, location={}, session_id={}, project_id={})",
            repr_opt(py, Some(self.mode()))?,
            repr_opt(py, Some(&self.m.location()))?,
            repr_opt(py, self.session_id.as_deref())?,
            repr_opt(py, self.project_id.as_deref())?
        ))
    }

    // ---- projects ----

    /// Creates a project. The first project of a store, or one created with
    /// `make_default=True`, becomes the default project.
    #[pyo3(signature = (name, make_default = false))]
    fn create_project(
        &self,
        py: Python<'_>,
        name: String,
        make_default: bool,
    ) -> PyResult<PyProject> {
        let op = self.op();
        run(py, self.m.create_project(&op, &name, make_default)).map(PyProject)
    }

    /// `maestro init`: the project called `name` if the store has one, else a new one (the
    /// default project only when the store had none). Never switches the default project;
    /// `created` tells which happened.
    fn init_project(&self, py: Python<'_>, name: String) -> PyResult<PyProjectInit> {
        let op = self.op();
        run(py, self.m.init_project(&op, &name)).map(PyProjectInit)
    }

    /// Makes the project `id` (or unique prefix) names the store's default project (the one
    /// clients without a `project_id` act on); returns it.
    fn use_project(&self, py: Python<'_>, id: String) -> PyResult<PyProject> {
        let op = self.op();
        run(py, self.m.use_project(&op, &id)).map(PyProject)
    }

    /// Every project, oldest first; `default` marks the store's default project.
    fn list_projects(&self, py: Python<'_>) -> PyResult<Vec<PyProject>> {
        let v = run(py, self.m.list_projects())?;
        Ok(v.into_iter().map(PyProject).collect())
    }

    /// The project `id` (or unique prefix) names; with None, the client's project or the
    /// store's default project.
    #[pyo3(signature = (id = None))]
    fn get_project(&self, py: Python<'_>, id: Option<String>) -> PyResult<PyProject> {
        let id = id.or_else(|| self.project_id.clone());
        run(py, self.m.project(id.as_deref())).map(PyProject)
    }

    // ---- tasks ----

    /// Creates a task. `priority` is `high`, `medium` (default) or `low`; `depends_on` lists
    /// task ids (or unique prefixes) that must complete first.
    #[pyo3(signature = (title, description = None, priority = None, depends_on = None, labels = None, metadata = None))]
    #[allow(clippy::too_many_arguments)]
    fn create_task(
        &self,
        py: Python<'_>,
        title: String,
        description: Option<String>,
        priority: Option<&str>,
        depends_on: Option<Vec<String>>,
        labels: Option<Vec<String>>,
        metadata: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyTask> {
        let new = NewTask {
            project_id: self.project_id.clone(),
            title,
            description,
            priority: parse(py, priority)?,
            depends_on: depends_on.unwrap_or_default(),
            labels: labels.unwrap_or_default(),
            metadata: self::metadata(metadata)?,
        };
        let op = self.op();
        run(py, self.m.create_task(&op, new)).map(PyTask)
    }

    /// The task with its subtasks, dependencies, dependents and the newest 50 timeline
    /// entries (`timeline_total` counts them all; `timeline()` pages the whole history).
    fn get_task(&self, py: Python<'_>, id: String) -> PyResult<PyTaskDetail> {
        let op = self.op();
        run(py, self.m.get_task_as(&op, &id)).map(PyTaskDetail)
    }

    /// A page of tasks, filtered; pass the page's `next_cursor` as `cursor` for the next one.
    #[pyo3(signature = (status = None, priority = None, label = None, ready = None, session_id = None, limit = None, cursor = None))]
    #[allow(clippy::too_many_arguments)]
    fn list_tasks(
        &self,
        py: Python<'_>,
        status: Option<&str>,
        priority: Option<&str>,
        label: Option<String>,
        ready: Option<bool>,
        session_id: Option<String>,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> PyResult<PyPage> {
        let filter = TaskFilter {
            project_id: self.project_id.clone(),
            status: parse(py, status)?,
            priority: parse(py, priority)?,
            label,
            ready: ready.unwrap_or(false),
            session_id,
            limit,
            cursor,
        };
        let op = self.op();
        let page = run(py, self.m.list_tasks_as(&op, filter))?;
        PyPage::new(py, page)
    }

    /// Changes a task; absent arguments stay as they are. A `status` change follows the
    /// status machine; `expected_version` fails with `version_conflict` unless the task is at
    /// that version; `force` skips the dependency check.
    #[pyo3(signature = (id, title = None, description = None, priority = None, status = None, add_dependencies = None, remove_dependencies = None, labels = None, metadata = None, expected_version = None, force = false))]
    #[allow(clippy::too_many_arguments)]
    fn update_task(
        &self,
        py: Python<'_>,
        id: String,
        title: Option<String>,
        description: Option<String>,
        priority: Option<&str>,
        status: Option<&str>,
        add_dependencies: Option<Vec<String>>,
        remove_dependencies: Option<Vec<String>>,
        labels: Option<Vec<String>>,
        metadata: Option<&Bound<'_, PyDict>>,
        expected_version: Option<i64>,
        force: bool,
    ) -> PyResult<PyTask> {
        let patch = TaskPatch {
            title,
            description,
            priority: parse(py, priority)?,
            status: parse(py, status)?,
            add_dependencies: add_dependencies.unwrap_or_default(),
            remove_dependencies: remove_dependencies.unwrap_or_default(),
            labels,
            metadata: self::metadata(metadata)?,
            expected_version,
            force,
        };
        let op = self.op();
        run(py, self.m.update_task(&op, &id, patch)).map(PyTask)
    }

    /// Starts a task (`in_progress`); fails with `dependencies_incomplete` unless every
    /// dependency is completed or `force` is set.
    #[pyo3(signature = (id, force = false))]
    fn start_task(&self, py: Python<'_>, id: String, force: bool) -> PyResult<PyTask> {
        let op = self.op();
        run(py, self.m.start_task(&op, &id, force)).map(PyTask)
    }

    /// Completes a task (`force` completes a blocked one). Completing a completed task is a
    /// no-op.
    #[pyo3(signature = (id, force = false))]
    fn complete_task(&self, py: Python<'_>, id: String, force: bool) -> PyResult<PyTask> {
        let op = self.op();
        run(py, self.m.complete_task(&op, &id, force)).map(PyTask)
    }

    /// Blocks a task with the reason it cannot go on.
    fn block_task(&self, py: Python<'_>, id: String, reason: String) -> PyResult<PyTask> {
        let op = self.op();
        run(py, self.m.block_task(&op, &id, &reason)).map(PyTask)
    }

    /// Reopens a completed (back to `in_progress`) or cancelled (back to `pending`) task.
    fn reopen_task(&self, py: Python<'_>, id: String) -> PyResult<PyTask> {
        let op = self.op();
        run(py, self.m.reopen_task(&op, &id)).map(PyTask)
    }

    /// Cancels a task.
    fn cancel_task(&self, py: Python<'_>, id: String) -> PyResult<PyTask> {
        let op = self.op();
        run(py, self.m.cancel_task(&op, &id)).map(PyTask)
    }

    /// Gives an in-progress task back (`pending`), releasing its sessions, so another worker
    /// can claim it.
    #[pyo3(signature = (id, reason = None))]
    fn release_task(&self, py: Python<'_>, id: String, reason: Option<String>) -> PyResult<PyTask> {
        let reason = reason.unwrap_or_default();
        self.change(py, id, StatusChange::new(StatusAction::Release { reason }))
    }

    /// Deletes a task with its subtasks and timeline; returns it as it was.
    fn delete_task(&self, py: Python<'_>, id: String) -> PyResult<PyTask> {
        let op = self.op();
        run(py, self.m.delete_task(&op, &id)).map(PyTask)
    }

    /// The ready queue: pending tasks whose dependencies are all completed, by priority then
    /// age.
    #[pyo3(signature = (limit = None))]
    fn ready_tasks(&self, py: Python<'_>, limit: Option<usize>) -> PyResult<Vec<PyTask>> {
        let op = self.op();
        let v = run(py, self.m.ready_tasks_as(&op, self.project(), limit))?;
        Ok(v.into_iter().map(PyTask).collect())
    }

    /// Atomically assigns the pending task `id` to a session (default: the client's) and
    /// starts it. A task other sessions hold raises `TaskClaimedError` unless `force`, which
    /// takes it over (they are released and get `ClaimReleasedError` on their next write).
    #[pyo3(signature = (id, session_id = None, force = false))]
    fn claim_task(
        &self,
        py: Python<'_>,
        id: String,
        session_id: Option<String>,
        force: bool,
    ) -> PyResult<PyTask> {
        let claim = ClaimRequest {
            task_id: Some(id),
            force,
            ..Default::default()
        };
        self.claim(py, session_id, claim)
    }

    /// Atomically claims the first task of the ready queue for a session (default: the
    /// client's); raises `NotFoundError` with code `nothing_ready` when the queue is empty.
    #[pyo3(signature = (session_id = None))]
    fn claim_next(&self, py: Python<'_>, session_id: Option<String>) -> PyResult<PyTask> {
        let claim = ClaimRequest {
            project_id: self.project_id.clone(),
            ..Default::default()
        };
        self.claim(py, session_id, claim)
    }

    // ---- timeline ----

    /// Appends a progress entry to a task's timeline.
    fn add_progress(
        &self,
        py: Python<'_>,
        task_id: String,
        message: String,
    ) -> PyResult<PyTimelineEntry> {
        let op = self.op();
        run(py, self.m.add_progress(&op, &task_id, &message)).map(PyTimelineEntry)
    }

    /// Appends a comment to a task's timeline; `author` defaults to the client's session id,
    /// else `"user"`.
    #[pyo3(signature = (task_id, message, author = None))]
    fn add_comment(
        &self,
        py: Python<'_>,
        task_id: String,
        message: String,
        author: Option<String>,
    ) -> PyResult<PyTimelineEntry> {
        let author = author
            .or_else(|| self.session_id.clone())
            .unwrap_or_else(|| "user".to_string());
        let op = self.op();
        run(py, self.m.add_comment(&op, &task_id, &author, &message)).map(PyTimelineEntry)
    }

    /// A page of a task's whole timeline, oldest first; pass the page's `next_cursor` for
    /// the next one.
    #[pyo3(signature = (task_id, limit = None, cursor = None))]
    fn timeline(
        &self,
        py: Python<'_>,
        task_id: String,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> PyResult<PyPage> {
        let query = TimelineQuery { limit, cursor };
        let page = run(py, self.m.timeline(&task_id, query))?;
        PyPage::new(py, page)
    }

    // ---- subtasks ----

    /// Adds a subtask at the end of a task's checklist.
    #[pyo3(signature = (task_id, title, description = None))]
    fn create_subtask(
        &self,
        py: Python<'_>,
        task_id: String,
        title: String,
        description: Option<String>,
    ) -> PyResult<PySubtask> {
        let op = self.op();
        run(
            py,
            self.m
                .create_subtask(&op, &task_id, &title, description.as_deref()),
        )
        .map(PySubtask)
    }

    /// A task's subtasks, in order.
    fn list_subtasks(&self, py: Python<'_>, task_id: String) -> PyResult<Vec<PySubtask>> {
        let v = run(py, self.m.list_subtasks(&task_id))?;
        Ok(v.into_iter().map(PySubtask).collect())
    }

    /// Changes a subtask of `task_id`; absent arguments stay as they are. `order` moves it
    /// (from 1).
    #[pyo3(signature = (task_id, subtask_id, title = None, description = None, completed = None, order = None))]
    #[allow(clippy::too_many_arguments)]
    fn update_subtask(
        &self,
        py: Python<'_>,
        task_id: String,
        subtask_id: String,
        title: Option<String>,
        description: Option<String>,
        completed: Option<bool>,
        order: Option<i64>,
    ) -> PyResult<PySubtask> {
        let patch = SubtaskPatch {
            title,
            description,
            completed,
            order,
        };
        let op = self.op();
        run(
            py,
            self.m
                .update_subtask(&op, Some(&task_id), &subtask_id, patch),
        )
        .map(PySubtask)
    }

    /// Marks a subtask of `task_id` completed.
    fn complete_subtask(
        &self,
        py: Python<'_>,
        task_id: String,
        subtask_id: String,
    ) -> PyResult<PySubtask> {
        let op = self.op();
        run(
            py,
            self.m.complete_subtask(&op, Some(&task_id), &subtask_id),
        )
        .map(PySubtask)
    }

    /// Deletes a subtask of `task_id`; returns it as it was.
    fn delete_subtask(
        &self,
        py: Python<'_>,
        task_id: String,
        subtask_id: String,
    ) -> PyResult<PySubtask> {
        let op = self.op();
        run(py, self.m.delete_subtask(&op, Some(&task_id), &subtask_id)).map(PySubtask)
    }

    // ---- sessions ----

    /// Registers a manually started agent; the session is `active` at once. `role` is
    /// `worker` (default) or `orchestrator`. Use `with_session(s.id)` to act as it.
    #[pyo3(signature = (name = None, role = None, skill = None, agent = None, task_ids = None, cwd = None, pid = None))]
    #[allow(clippy::too_many_arguments)]
    fn register_session(
        &self,
        py: Python<'_>,
        name: Option<String>,
        role: Option<&str>,
        skill: Option<String>,
        agent: Option<String>,
        task_ids: Option<Vec<String>>,
        cwd: Option<String>,
        pid: Option<i64>,
    ) -> PyResult<PySession> {
        let new = NewSession {
            project_id: self.project_id.clone(),
            name,
            role: parse(py, role)?,
            skill,
            agent,
            task_ids: task_ids.unwrap_or_default(),
            cwd,
            pid,
            ..Default::default()
        };
        let op = self.op();
        run(py, self.m.register_session(&op, new)).map(PySession)
    }

    /// A page of sessions; `active=True` keeps those that have not ended.
    #[pyo3(signature = (active = false, status = None, limit = None, cursor = None))]
    fn list_sessions(
        &self,
        py: Python<'_>,
        active: bool,
        status: Option<&str>,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> PyResult<PyPage> {
        let filter = SessionFilter {
            project_id: self.project_id.clone(),
            active,
            status: parse(py, status)?,
            limit,
            cursor,
        };
        let op = self.op();
        let page = run(py, self.m.list_sessions_as(&op, filter))?;
        PyPage::new(py, page)
    }

    /// The session `id` (or unique prefix) names.
    fn get_session(&self, py: Python<'_>, id: String) -> PyResult<PySession> {
        run(py, self.m.get_session(&id)).map(PySession)
    }

    /// Requests a worker session for a task: the session is recorded as `spawning` (or
    /// `waiting` while the task's dependencies are open) with a `session:spawn_request`
    /// event, and a running host launches the agent. `agent` names an agent profile (the
    /// configured ones on a local store). A finished task, or one that already has a live
    /// worker, is refused (`ConflictError`) unless `force`; an unknown skill or agent
    /// profile, or a `cwd` that does not exist, raises `ValidationError`/`NotFoundError` at
    /// once.
    #[pyo3(signature = (task_id, agent = None, skill = None, name = None, cwd = None, force = false))]
    #[allow(clippy::too_many_arguments)]
    fn spawn_session(
        &self,
        py: Python<'_>,
        task_id: String,
        agent: Option<String>,
        skill: Option<String>,
        name: Option<String>,
        cwd: Option<String>,
        force: bool,
    ) -> PyResult<PySession> {
        let new = NewSession {
            project_id: self.project_id.clone(),
            name,
            skill,
            agent,
            task_ids: vec![task_id],
            cwd,
            force,
            ..Default::default()
        };
        let op = self.op();
        run(py, self.m.spawn_session(&op, new)).map(PySession)
    }

    /// Refreshes a session's lease (default: the client's session); a session that was
    /// declared lost raises `SessionLostError`, one that ended `SessionEndedError`.
    #[pyo3(signature = (session_id = None))]
    fn heartbeat(&self, py: Python<'_>, session_id: Option<String>) -> PyResult<PySession> {
        let sid = self.session_or(py, session_id)?;
        let op = self.op();
        run(py, self.m.heartbeat(&op, &sid)).map(PySession)
    }

    /// Ends a session (default: the client's) with `completed` (default), `failed` or
    /// `stopped`.
    #[pyo3(signature = (session_id = None, status = None))]
    fn end_session(
        &self,
        py: Python<'_>,
        session_id: Option<String>,
        status: Option<&str>,
    ) -> PyResult<PySession> {
        let sid = self.session_or(py, session_id)?;
        let status = parse(py, status)?;
        let op = self.op();
        run(py, self.m.end_session(&op, &sid, status)).map(PySession)
    }

    // ---- skills ----

    /// The skills directory this client reads (on-disk skills there override the bundled
    /// ones by name): `MAESTRO_SKILLS_DIR`, default `~/.agents-ui/maestro-skills`, as the
    /// CLI resolves it.
    #[getter]
    fn skills_dir(&self) -> Option<String> {
        self.m.skills_dir().map(|p| p.display().to_string())
    }

    /// Every skill, highest priority first: the bundled ones, overridden by name by those of
    /// the skills directory. Skills are read from this machine, also for a remote client.
    fn list_skills(&self, py: Python<'_>) -> PyResult<Vec<PySkill>> {
        let v = py
            .detach(|| self.m.list_skills())
            .map_err(|e| to_py_err(py, e))?;
        Ok(v.into_iter().map(PySkill).collect())
    }

    /// The skill called `name`; raises `NotFoundError` (code `skill_not_found`, with the
    /// available names in its suggestion) when there is none.
    fn get_skill(&self, py: Python<'_>, name: String) -> PyResult<PySkill> {
        py.detach(|| self.m.get_skill(&name))
            .map(PySkill)
            .map_err(|e| to_py_err(py, e))
    }

    /// The initial prompt of an agent, as `maestro skill prompt` prints it: `skill` (default:
    /// `maestro-worker` with a task, else `maestro-orchestrator`) with its dependencies, then
    /// the task's context (title, description, dependencies, subtasks, the next commands) or,
    /// for an orchestrator skill, the project's. The client's session and project are used.
    #[pyo3(signature = (task_id = None, skill = None))]
    fn skill_prompt(
        &self,
        py: Python<'_>,
        task_id: Option<String>,
        skill: Option<String>,
    ) -> PyResult<String> {
        run(
            py,
            self.m.skill_prompt(
                task_id.as_deref(),
                skill.as_deref(),
                self.session_id.as_deref(),
                self.project(),
            ),
        )
    }

    // ---- status and events ----

    /// Task counts by status and priority, the ready count and session counts.
    fn status(&self, py: Python<'_>) -> PyResult<PyStatusReport> {
        let op = self.op();
        run(py, self.m.status_as(&op, self.project())).map(PyStatusReport)
    }

    /// Events of the durable log with `seq > since`, oldest first (at most `limit`).
    #[pyo3(signature = (since = 0, limit = 100, project = None))]
    fn events(
        &self,
        py: Python<'_>,
        since: i64,
        limit: usize,
        project: Option<String>,
    ) -> PyResult<Vec<PyEvent>> {
        let projects: Vec<String> = project.into_iter().collect();
        let v = run(py, self.m.events_since(since, limit, &projects))?;
        Ok(v.into_iter().map(PyEvent).collect())
    }

    /// The latest `seq` of the event log (0 when it is empty).
    fn latest_seq(&self, py: Python<'_>) -> PyResult<i64> {
        run(py, self.m.latest_seq())
    }

    /// Streams the events after `since` in `seq` order, then live ones, optionally only of
    /// one project. `since` defaults to now (the latest seq): only what happens from now on;
    /// pass `since=0` to replay the whole log, or the `last_seq` you saw to resume. The
    /// result is an iterator and an async iterator; close it (or use it as a context
    /// manager) to stop the background work. On a server it is the core's sync client
    /// (WebSocket, reconnecting and resuming from the last seq); on a local store it tails
    /// the event log, woken by this process's writes and looking for other processes' every
    /// `poll_interval` seconds (default 0.1).
    #[pyo3(signature = (since = None, project = None, poll_interval = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        since: Option<i64>,
        project: Option<String>,
        poll_interval: Option<f64>,
    ) -> PyResult<Subscription> {
        let poll = poll_interval
            .map(|secs| {
                Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        let e = Error::invalid_argument(
                            "poll_interval must be a positive number of seconds",
                        )
                        .with_details(
                            serde_json::json!({ "field": "poll_interval", "value": secs }),
                        );
                        to_py_err(py, e)
                    })
            })
            .transpose()?;
        let opts = SubscribeOptions {
            since,
            projects: project.into_iter().collect(),
            session_id: self.session_id.clone(),
            poll,
        };
        Subscription::start(py, &self.m, opts)
    }
}
