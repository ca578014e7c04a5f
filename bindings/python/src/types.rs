//! The result types: frozen Python classes wrapping the core model.
//!
//! Each class holds the core value and converts a field only when its attribute is read, so
//! returning a result costs one allocation. Enums are their JSON strings (`"in_progress"`),
//! timestamps RFC 3339 UTC strings as in the JSON API (`"2026-01-01T12:00:00.123Z"`).
//! `to_dict()` gives plain Python data keyed by the attribute names.

use crate::convert::{json_to_py, map_to_py};
use chrono::SecondsFormat;
use maestro_core::skills::{Skill, SkillSource, SkillType};
use maestro_core::{
    DependencyRef, Event, Priority, Project, ProjectInit, Role, Session, SessionCounts,
    SessionStatus, StatusReport, Subtask, Task, TaskCounts, TaskDetail, TaskStatus, TimelineEntry,
    TimelineKind, Timestamp,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use serde_json::{Map, Value};

/// Converts a core value to Python: `to_py` gives the attribute value (model classes for
/// nested entities), `to_plain` the `to_dict()` value (nested entities as dicts).
pub trait ToPy {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.to_py(py)
    }
}

impl<T: ToPy + ?Sized> ToPy for &T {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (**self).to_py(py)
    }
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (**self).to_plain(py)
    }
}

impl ToPy for str {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyString::new(py, self).into_any())
    }
}

impl ToPy for String {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_str().to_py(py)
    }
}

impl ToPy for i64 {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
}

impl ToPy for bool {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pyo3::types::PyBool::new(py, *self).to_owned().into_any())
    }
}

impl ToPy for Timestamp {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.to_rfc3339_opts(SecondsFormat::AutoSi, true).to_py(py)
    }
}

impl ToPy for Value {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self)
    }
}

impl ToPy for Map<String, Value> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(map_to_py(py, self)?.into_any())
    }
}

impl<T: ToPy> ToPy for Option<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_py(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_plain(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

impl<T: ToPy> ToPy for Vec<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = PyList::empty(py);
        for item in self {
            list.append(item.to_py(py)?)?;
        }
        Ok(list.into_any())
    }
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = PyList::empty(py);
        for item in self {
            list.append(item.to_plain(py)?)?;
        }
        Ok(list.into_any())
    }
}

macro_rules! string_enums {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                self.as_str().to_py(py)
            }
        }
    )*};
}
string_enums!(TaskStatus, Priority, SessionStatus, Role);

/// The Python repr of an optional string: `'x'` or `None`.
pub fn repr_opt(py: Python<'_>, s: Option<&str>) -> PyResult<String> {
    match s {
        Some(s) => Ok(PyString::new(py, s).repr()?.to_cow()?.into_owned()),
        None => Ok("None".to_string()),
    }
}

/// Builds `Name(a='x', b=1)` from attribute values.
fn repr_of(py: Python<'_>, name: &str, fields: &[(&str, Bound<'_, PyAny>)]) -> PyResult<String> {
    let _ = py;
    let mut out = String::from(name);
    out.push('(');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&v.repr()?.to_cow()?);
    }
    out.push(')');
    Ok(out)
}

/// The Python attribute name of a getter (`r#type` → `type`).
fn attr_name(s: &'static str) -> &'static str {
    s.trim_start_matches("r#")
}

/// Declares a frozen Python class around a core type: one getter per field, `to_dict()`,
/// `__repr__` (from the listed fields) and `__eq__`.
macro_rules! model {
    (
        $(#[$meta:meta])*
        $py:ident($inner:ty) as $name:literal, |$it:ident| {
            $( $(#[$fmeta:meta])* $field:ident = $e:expr; )*
        }
        repr($($rfield:ident),*)
    ) => {
        $(#[$meta])*
        #[pyclass(frozen, eq, name = $name, module = "maestro")]
        #[derive(Clone, PartialEq)]
        pub struct $py(pub $inner);

        impl ToPy for $inner {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok(Bound::new(py, $py(self.clone()))?.into_any())
            }
            fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok($py::dict_of(py, self)?.into_any())
            }
        }

        impl $py {
            fn dict_of<'py>(py: Python<'py>, $it: &$inner) -> PyResult<Bound<'py, PyDict>> {
                let dict = PyDict::new(py);
                $( dict.set_item(attr_name(stringify!($field)), ToPy::to_plain(&$e, py)?)?; )*
                Ok(dict)
            }
        }

        #[pymethods]
        impl $py {
            $(
                $(#[$fmeta])*
                #[getter]
                fn $field<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    let $it = &self.0;
                    ToPy::to_py(&$e, py)
                }
            )*

            /// The value as plain Python data (dicts, lists, strings, numbers), keyed by the
            /// attribute names; nested entities become dicts too.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                Self::dict_of(py, &self.0)
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                repr_of(py, $name, &[$( (attr_name(stringify!($rfield)), self.$rfield(py)?) ),*])
            }
        }
    };
}

model! {
    /// A project: the unit most operations act on.
    PyProject(Project) as "Project", |p| {
        /// The project id, e.g. `p-4f8a2c`.
        id = p.id;
        /// The project name.
        name = p.name;
        /// When the project was created (RFC 3339 UTC string).
        created_at = p.created_at;
        /// Whether it is the store's default project (the one clients without a project act
        /// on).
        default = p.default;
    }
    repr(id, name, default)
}

model! {
    /// What `init_project` did: the project, and whether it was created.
    PyProjectInit(ProjectInit) as "ProjectInit", |i| {
        /// The project of that name.
        project = i.project;
        /// False when a project of that name existed and was returned.
        created = i.created;
    }
    repr(project, created)
}

model! {
    /// A task.
    PyTask(Task) as "Task", |t| {
        /// The task id, e.g. `t-7k2m9q`.
        id = t.id;
        /// The project the task belongs to.
        project_id = t.project_id;
        /// The title.
        title = t.title;
        /// The description (empty when none was given).
        description = t.description;
        /// `pending`, `in_progress`, `blocked`, `completed` or `cancelled`.
        status = t.status;
        /// `high`, `medium` or `low`.
        priority = t.priority;
        /// Ids of the tasks this one depends on.
        dependencies = t.dependencies;
        /// The labels.
        labels = t.labels;
        /// Ids of the sessions the task is assigned to.
        session_ids = t.session_ids;
        /// Free-form JSON object.
        metadata = t.metadata;
        /// Incremented on every change; pass it as `expected_version` for optimistic updates.
        version = t.version;
        /// Fencing token: incremented when the task gets owners after having none, and when
        /// an owner's claim is released or taken over.
        claim_epoch = t.claim_epoch;
        /// Why the task is blocked (the latest reason), while it is; else None.
        blocked_reason = t.blocked_reason;
        /// When the task was created (RFC 3339 UTC string).
        created_at = t.created_at;
        /// When the task last changed (RFC 3339 UTC string).
        updated_at = t.updated_at;
        /// When the task was started, if it was.
        started_at = t.started_at;
        /// When the task was completed, if it was.
        completed_at = t.completed_at;
    }
    repr(id, title, status, priority)
}

model! {
    /// A dependency (or dependent) of a task: id, title and status.
    PyDependencyRef(DependencyRef) as "DependencyRef", |d| {
        /// The task id.
        id = d.id;
        /// The task title.
        title = d.title;
        /// The task status.
        status = d.status;
    }
    repr(id, title, status)
}

model! {
    /// A subtask: an ordered checklist item of a task.
    PySubtask(Subtask) as "Subtask", |s| {
        /// The subtask id, e.g. `st-3n8x1w`.
        id = s.id;
        /// The task it belongs to.
        task_id = s.task_id;
        /// The title.
        title = s.title;
        /// The description (empty when none was given).
        description = s.description;
        /// Whether it is done.
        completed = s.completed;
        /// Its position in the task's checklist, from 1.
        order = s.order;
        /// When it was created (RFC 3339 UTC string).
        created_at = s.created_at;
        /// When it last changed (RFC 3339 UTC string).
        updated_at = s.updated_at;
        /// When it was completed, if it was.
        completed_at = s.completed_at;
    }
    repr(id, title, completed)
}

/// `subtaskId` → `subtask_id`.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The type-specific fields of a timeline entry (its JSON form without `type`), keyed like
/// the attributes of Python code.
fn timeline_data(kind: &TimelineKind) -> Map<String, Value> {
    let Ok(Value::Object(fields)) = serde_json::to_value(kind) else {
        return Map::new();
    };
    fields
        .into_iter()
        .filter(|(k, _)| k != "type")
        .map(|(k, v)| (snake_case(&k), v))
        .collect()
}

/// The message of a progress entry or comment, the reason of a block or release.
fn timeline_message(kind: &TimelineKind) -> Option<String> {
    let data = timeline_data(kind);
    data.get("message")
        .or_else(|| data.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

model! {
    /// One entry of a task's append-only timeline.
    PyTimelineEntry(TimelineEntry) as "TimelineEntry", |e| {
        /// The entry id (increasing).
        id = e.id;
        /// The task it belongs to.
        task_id = e.task_id;
        /// `created`, `status_changed`, `progress`, `subtask_created`, `subtask_completed`,
        /// `blocked`, `assigned`, `released`, `comment` or `override`.
        r#type = e.kind.type_name();
        /// The type-specific fields: `from`/`to` (status_changed), `message` (progress,
        /// comment), `author` (comment), `subtask_id`, `reason` (blocked, released),
        /// `session_id` (assigned, released), `action` and `session_ids` (override: a write
        /// forced over the sessions that owned the task).
        data = timeline_data(&e.kind);
        /// The message or reason of the entry, when it has one.
        message = timeline_message(&e.kind);
        /// What happened, in a few words (the text every Maestro front end shows).
        summary = e.kind.summary();
        /// When it happened (RFC 3339 UTC string).
        timestamp = e.timestamp;
        /// The acting session, when known.
        session_id = e.session_id;
    }
    repr(id, r#type, message)
}

model! {
    /// A task with its subtasks, dependencies, dependents and timeline (what `get_task` gives).
    PyTaskDetail(TaskDetail) as "TaskDetail", |d| {
        /// The task itself.
        task = d.task;
        /// The task id.
        id = d.task.id;
        /// The project the task belongs to.
        project_id = d.task.project_id;
        /// The title.
        title = d.task.title;
        /// The description (empty when none was given).
        description = d.task.description;
        /// `pending`, `in_progress`, `blocked`, `completed` or `cancelled`.
        status = d.task.status;
        /// `high`, `medium` or `low`.
        priority = d.task.priority;
        /// Ids of the tasks this one depends on.
        dependencies = d.task.dependencies;
        /// The labels.
        labels = d.task.labels;
        /// Ids of the sessions the task is assigned to.
        session_ids = d.task.session_ids;
        /// Free-form JSON object.
        metadata = d.task.metadata;
        /// Incremented on every change.
        version = d.task.version;
        /// Fencing token: incremented when the task gets owners after having none, and when
        /// an owner's claim is released or taken over.
        claim_epoch = d.task.claim_epoch;
        /// Why the task is blocked (the latest reason), while it is; else None.
        blocked_reason = d.task.blocked_reason;
        /// When the task was created (RFC 3339 UTC string).
        created_at = d.task.created_at;
        /// When the task last changed (RFC 3339 UTC string).
        updated_at = d.task.updated_at;
        /// When the task was started, if it was.
        started_at = d.task.started_at;
        /// When the task was completed, if it was.
        completed_at = d.task.completed_at;
        /// The subtasks, in order.
        subtasks = d.subtasks;
        /// The dependencies with their titles and statuses.
        dependency_details = d.dependency_details;
        /// The tasks that depend on this one.
        dependents = d.dependents;
        /// The newest timeline entries (at most 50), oldest first; `Client.timeline()` pages
        /// the whole history.
        timeline = d.timeline;
        /// How many entries the whole timeline has.
        timeline_total = d.timeline_total;
    }
    repr(id, title, status, priority)
}

model! {
    /// A session: one running agent.
    PySession(Session) as "Session", |s| {
        /// The session id, e.g. `s-9c2k4m`.
        id = s.id;
        /// The project it works on.
        project_id = s.project_id;
        /// Its name.
        name = s.name;
        /// `orchestrator` or `worker`.
        role = s.role;
        /// The skill it runs, if any.
        skill = s.skill;
        /// The agent profile (`claude`, `codex`, a configured name), if any.
        agent = s.agent;
        /// The tasks it was given.
        task_ids = s.task_ids;
        /// `waiting` (a spawn request for a task whose dependencies are open), `spawning`,
        /// `starting`, `active`, `completed`, `failed`, `stopped` or `lost`.
        status = s.status;
        /// The session that requested it, if any.
        spawned_by = s.spawned_by;
        /// The process id, when running.
        pid = s.pid;
        /// The host it runs on, when known.
        host = s.host;
        /// Its working directory, when known.
        cwd = s.cwd;
        /// The exit code, once ended.
        exit_code = s.exit_code;
        /// Why it failed or was lost, when known.
        reason = s.reason;
        /// When it was created (RFC 3339 UTC string).
        created_at = s.created_at;
        /// When it started, if it did.
        started_at = s.started_at;
        /// When it ended, if it did.
        ended_at = s.ended_at;
        /// Its last heartbeat (RFC 3339 UTC string).
        last_seen = s.last_seen;
    }
    repr(id, name, role, status)
}

model! {
    /// One entry of the durable event log.
    PyEvent(Event) as "Event", |e| {
        /// `task:created`, `task:updated`, `session:spawn_request`, …
        r#type = e.event_type.as_str();
        /// The global, gap-free, increasing sequence number.
        seq = e.seq;
        /// When it was recorded (RFC 3339 UTC string).
        ts = e.ts;
        /// The project it concerns, if any.
        project_id = e.project_id;
        /// The entity after the change, in its JSON form (camelCase keys); for a deletion
        /// its id (`{"id", "projectId"}` or `{"id", "taskId"}`).
        data = e.data;
    }
    repr(seq, r#type, project_id)
}

model! {
    /// Task counts of a project.
    PyTaskCounts(TaskCounts) as "TaskCounts", |c| {
        /// Number of tasks.
        total = c.total;
        /// Count per status, every status included.
        by_status = c.by_status;
        /// Count per priority, every priority included.
        by_priority = c.by_priority;
        /// Number of tasks in the ready queue.
        ready = c.ready;
    }
    repr(total, ready)
}

model! {
    /// Session counts of a project.
    PySessionCounts(SessionCounts) as "SessionCounts", |c| {
        /// Sessions that have not ended.
        active = c.active;
        /// All sessions.
        total = c.total;
    }
    repr(active, total)
}

model! {
    /// What `status()` reports: task counts by status and priority, ready count, sessions.
    PyStatusReport(StatusReport) as "StatusReport", |r| {
        /// The project reported on.
        project_id = r.project_id;
        /// Task counts.
        tasks = r.tasks;
        /// Session counts.
        sessions = r.sessions;
    }
    repr(project_id)
}

fn skill_type(s: &Skill) -> &'static str {
    match s.manifest.kind {
        SkillType::System => "system",
        SkillType::Role => "role",
    }
}

fn skill_source(s: &Skill) -> &'static str {
    match s.source {
        SkillSource::Bundled => "bundled",
        SkillSource::Dir(_) => "dir",
    }
}

fn skill_path(s: &Skill) -> Option<String> {
    match &s.source {
        SkillSource::Bundled => None,
        SkillSource::Dir(p) => Some(p.display().to_string()),
    }
}

model! {
    /// A skill: instructions an agent loads (a `manifest.json` and a `SKILL.md`). Skills of
    /// the skills directory override the bundled ones by name.
    PySkill(Skill) as "Skill", |s| {
        /// The skill name, e.g. `maestro-worker`.
        name = s.manifest.name;
        /// Its version (from `manifest.json`).
        version = s.manifest.version;
        /// What it is for.
        description = s.manifest.description;
        /// `system` (for every agent) or `role` (for the roles in `assign_to`).
        r#type = skill_type(s);
        /// The roles a `role` skill is meant for.
        assign_to = s.manifest.assign_to;
        /// Higher comes first when skills are composed into a prompt.
        priority = s.manifest.priority;
        /// The capabilities it declares.
        capabilities = s.manifest.capabilities;
        /// Names of the skills it needs (loaded with it, transitively).
        dependencies = s.manifest.dependencies;
        /// The free-form `config` object of its manifest.
        config = s.manifest.config;
        /// `bundled` (compiled into Maestro) or `dir` (a folder of the skills directory).
        source = skill_source(s);
        /// The folder it was loaded from, or None for a bundled skill.
        path = skill_path(s);
        /// The whole `SKILL.md`, front matter included.
        skill_md = s.skill_md;
        /// The instructions: `SKILL.md` without its front matter.
        instructions = s.instructions();
    }
    repr(name, version, r#type, source)
}

/// A page of results; `next_cursor` (when not None) fetches the next page.
#[pyclass(frozen, name = "Page", module = "maestro")]
pub struct PyPage {
    items: Py<PyList>,
    next_cursor: Option<String>,
}

impl PyPage {
    pub fn new<T: ToPy>(py: Python<'_>, page: maestro_core::Page<T>) -> PyResult<Self> {
        let items = page.items.to_py(py)?.cast_into::<PyList>()?.unbind();
        Ok(Self {
            items,
            next_cursor: page.next_cursor,
        })
    }
}

#[pymethods]
impl PyPage {
    /// The items of this page.
    #[getter]
    fn items<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        self.items.bind(py).clone()
    }

    /// The cursor of the next page, or None when this is the last one.
    #[getter]
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }

    /// `{"items": [...], "next_cursor": ...}` with the items as dicts.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let items = PyList::empty(py);
        for item in self.items.bind(py).iter() {
            items.append(item.call_method0("to_dict")?)?;
        }
        let dict = PyDict::new(py);
        dict.set_item("items", items)?;
        dict.set_item("next_cursor", self.next_cursor.as_deref())?;
        Ok(dict)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.items.bind(py).len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.items.bind(py).try_iter()?.into_any())
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyAny>> {
        self.items.bind(py).as_any().get_item(index)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Page(items={}, next_cursor={})",
            self.items.bind(py).len(),
            repr_opt(py, self.next_cursor.as_deref())?
        ))
    }

    /// `Page[Task]` in annotations evaluated at run time.
    #[classmethod]
    fn __class_getitem__<'py>(
        cls: &Bound<'py, PyType>,
        item: &Bound<'py, PyAny>,
    ) -> Bound<'py, PyType> {
        let _ = item;
        cls.clone()
    }
}

/// Adds the result classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyProject>()?;
    m.add_class::<PyProjectInit>()?;
    m.add_class::<PyTask>()?;
    m.add_class::<PyDependencyRef>()?;
    m.add_class::<PySubtask>()?;
    m.add_class::<PyTimelineEntry>()?;
    m.add_class::<PyTaskDetail>()?;
    m.add_class::<PySession>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<PyTaskCounts>()?;
    m.add_class::<PySessionCounts>()?;
    m.add_class::<PyStatusReport>()?;
    m.add_class::<PySkill>()?;
    m.add_class::<PyPage>()?;
    Ok(())
}
