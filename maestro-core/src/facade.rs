//! [`Maestro`]: the one facade every front end (CLI, server, bindings) calls.
//!
//! It validates arguments before any I/O, keeps leases (lazily, before any call that shows
//! or changes tasks or sessions), then runs the operation on a [`Store`]: the embedded
//! SQLite store, or a remote server (which keeps leases itself).

use crate::error::{Error, Result};
use crate::model::*;
use crate::rules::{lease, limits};
use crate::sqlite::SqliteStore;
use crate::store::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub mod agents;
pub mod subscribe;

pub use subscribe::{SubscribeOptions, Subscription, SubscriptionItem};

/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest accepted description or message, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The Maestro facade. Cheap to clone; clones share their lease upkeep.
#[derive(Clone)]
pub struct Maestro {
    store: Arc<dyn Store>,
    /// Where on-disk skills override the bundled ones (`None`: bundled skills only).
    skills_dir: Option<Arc<std::path::Path>>,
    /// A session silent longer than this is declared lost.
    lease: Duration,
    /// When (store clock, ms) this process last looked for expired sessions.
    last_reap: Arc<AtomicI64>,
    /// The agent profiles a spawn request may name, when known (the host's config).
    profiles: Option<Arc<crate::host::plan::Profiles>>,
    /// The folders spawn requests may name as `cwd`, when known (the host's config).
    spawn_roots: Option<Arc<crate::host::plan::SpawnRoots>>,
}

impl std::fmt::Debug for Maestro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maestro")
            .field("store", &self.store.location())
            .field("lease", &self.lease)
            .finish()
    }
}

fn check_title(title: &str) -> Result<()> {
    if title.trim().is_empty() {
        return Err(Error::missing_field("title").with_suggestion("Give a non-empty title"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::invalid_argument(format!(
            "The title is longer than {MAX_TITLE_CHARS} characters"
        ))
        .with_details(json!({ "field": "title", "max": MAX_TITLE_CHARS }))
        .with_suggestion("Shorten the title and put details in --desc"));
    }
    Ok(())
}

fn check_text(field: &str, text: &str) -> Result<()> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::invalid_argument(format!(
            "'{field}' is longer than {MAX_TEXT_BYTES} bytes"
        ))
        .with_details(json!({ "field": field, "max": MAX_TEXT_BYTES })));
    }
    Ok(())
}

fn check_message(field: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(
            Error::missing_field(field).with_suggestion(format!("Give a non-empty {field}"))
        );
    }
    check_text(field, text)
}

fn check_labels(labels: &[String]) -> Result<()> {
    for l in labels {
        if l.trim().is_empty() || l.len() > 100 {
            return Err(
                Error::invalid_argument(format!("'{l}' is not a valid label"))
                    .with_details(json!({ "field": "labels", "value": l }))
                    .with_suggestion("Labels are non-empty words of at most 100 characters"),
            );
        }
    }
    Ok(())
}

fn check_new_task(n: &NewTask) -> Result<()> {
    check_title(&n.title)?;
    check_text("description", n.description.as_deref().unwrap_or(""))?;
    check_labels(&n.labels)
}

fn check_id(field: &str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(
            Error::invalid_argument(format!("The {field} must not be empty"))
                .with_details(json!({ "field": field }))
                .with_suggestion(format!("Give the {field}: an id or a unique prefix of one")),
        );
    }
    Ok(())
}

/// What a call needs from lease upkeep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upkeep {
    /// A read: refresh the calling session (refusing one that ended).
    Read,
    /// A read of sessions themselves: a session that ended may still look at its record.
    Inspect,
    /// A write: the store refreshes (and checks) the caller in the write's transaction.
    Write,
}

/// Stands for the PostgreSQL options in a build without the `postgres` feature.
#[cfg(not(feature = "postgres"))]
#[derive(Debug, Clone, Default)]
pub struct PgOptionsUnavailable;

impl Maestro {
    /// Wraps any store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            skills_dir: None,
            lease: lease::DEFAULT_LEASE,
            last_reap: Arc::new(AtomicI64::new(i64::MIN)),
            profiles: None,
            spawn_roots: None,
        }
    }

    /// Opens (creating and migrating if needed) the SQLite store at `path`, or the
    /// PostgreSQL database when `path` is a `postgres://…` URL (default options; see
    /// [`Maestro::open_postgres`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if crate::config::is_database_url(path) {
            return Self::open_postgres(&path.to_string_lossy(), Default::default());
        }
        Ok(Self::new(Arc::new(SqliteStore::open(path)?)))
    }

    /// The PostgreSQL store at `url`; it connects and migrates on its first call.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, opts: crate::postgres::PgOptions) -> Result<Self> {
        Ok(Self::new(Arc::new(crate::postgres::PgStore::open_with(
            url, opts,
        )?)))
    }

    #[cfg(not(feature = "postgres"))]
    pub fn open_postgres(url: &str, _opts: PgOptionsUnavailable) -> Result<Self> {
        Err(Error::invalid_argument(format!(
            "This build of maestro has no PostgreSQL store ({})",
            url.split('@').next_back().unwrap_or("")
        ))
        .with_suggestion("Use a build with the `postgres` feature, or a SQLite file for --db"))
    }

    /// A client of the Maestro server at `url` (e.g. `http://127.0.0.1:3000`), with the
    /// retry policy of `MAESTRO_RETRIES` / `MAESTRO_RETRY_DELAY`. No I/O happens here.
    #[cfg(feature = "remote")]
    pub fn connect(url: &str, token: Option<String>) -> Result<Self> {
        let policy = crate::retry::RetryPolicy::from_env()?;
        Ok(Self::new(Arc::new(crate::remote::HttpStore::new(
            url, token, policy,
        )?)))
    }

    /// A private in-memory store.
    pub fn in_memory() -> Result<Self> {
        Ok(Self::new(Arc::new(SqliteStore::open_in_memory()?)))
    }

    /// Uses `lease` for sessions (default [`lease::DEFAULT_LEASE`]).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Refuses spawn requests naming an agent profile not among `profiles` (those of the
    /// host that launches them), or asking a resume of one that cannot.
    pub fn with_agent_profiles(mut self, profiles: crate::host::plan::Profiles) -> Self {
        self.profiles = Some(Arc::new(profiles));
        self
    }

    /// Refuses spawn requests whose `cwd` is outside `roots` (those of the host that will
    /// launch them); without, a local store only checks that the folder exists.
    pub fn with_spawn_roots(mut self, roots: crate::host::plan::SpawnRoots) -> Self {
        self.spawn_roots = Some(Arc::new(roots));
        self
    }

    /// The storage error writes fail with at the moment, if they do (see
    /// [`Store::write_failure`]).
    pub fn write_failure(&self) -> Option<Error> {
        self.store.write_failure()
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Where the data lives: a database path or a server URL.
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// The store's pool of database connections (see [`Store::pool_status`]).
    pub fn pool_status(&self) -> Option<crate::store::PoolStatus> {
        self.store.pool_status()
    }

    // ---- leases ----

    /// Lazily declares lost the sessions past their lease, at most once per
    /// [`lease::reap_interval`] in this process, with the caller refreshed first so it is
    /// never expired by its own call; for reads, refreshes the calling session (refusing
    /// one that ended). A remote store's server reaps itself, and sees the caller of its
    /// writes; a read's caller is refreshed there with a heartbeat. A read-only store is
    /// left as it is.
    async fn upkeep(&self, op: &OpContext, kind: Upkeep) -> Result<()> {
        if self.store.is_remote() {
            if kind == Upkeep::Read
                && let Some(id) = op.session_id.as_deref()
            {
                self.store.heartbeat(op, id).await?;
            }
            return Ok(());
        }
        if self.store.read_only() {
            // Nothing can be refreshed or reaped; reads go on, writes are refused.
            return Ok(());
        }
        let now = self.store.clock().now_ms();
        let every = i64::try_from(lease::reap_interval(self.lease).as_millis()).unwrap_or(i64::MAX);
        let last = self.last_reap.load(Ordering::Relaxed);
        let due = now.saturating_sub(last) >= every
            && self
                .last_reap
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if due && self.store.any_expired(self.lease).await? {
            let reap = match kind {
                Upkeep::Inspect => OpContext::default(),
                _ => op.clone().without_op_id(),
            };
            self.store.reap_expired(&reap, self.lease).await?;
            return Ok(());
        }
        if kind == Upkeep::Read
            && let Some(id) = op.session_id.as_deref()
        {
            self.store.heartbeat(op, id).await?;
        }
        Ok(())
    }

    /// Declares `lost` the sessions silent past the lease and releases their tasks, now.
    pub async fn reap_expired(&self, op: &OpContext) -> Result<Vec<Session>> {
        if self.lease.is_zero() {
            return Err(
                Error::invalid_argument("The lease must be longer than zero")
                    .with_suggestion("Set MAESTRO_LEASE_SECONDS or leaseSeconds to 1 or more"),
            );
        }
        self.last_reap
            .store(self.store.clock().now_ms(), Ordering::Relaxed);
        self.store.reap_expired(op, self.lease).await
    }

    // ---- projects ----

    /// Creates a project (`make_default`: it becomes the store's default project).
    pub async fn create_project(
        &self,
        op: &OpContext,
        name: &str,
        make_default: bool,
    ) -> Result<Project> {
        Ok(self
            .store
            .create_project(
                op,
                NewProject {
                    name: Self::project_name(name)?,
                    make_default,
                    reuse_by_name: false,
                },
            )
            .await?
            .project)
    }
    /// `maestro init`: the project of that name if the store has one, else a new one (the
    /// default only when the store has none). Never switches the default.
    pub async fn init_project(&self, op: &OpContext, name: &str) -> Result<ProjectInit> {
        self.store
            .create_project(
                op,
                NewProject {
                    name: Self::project_name(name)?,
                    make_default: false,
                    reuse_by_name: true,
                },
            )
            .await
    }
    fn project_name(name: &str) -> Result<String> {
        check_title(name)
            .map_err(|_| Error::missing_field("name").with_suggestion("Give the project a name"))?;
        Ok(name.trim().to_string())
    }
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        self.store.list_projects().await
    }
    pub async fn get_project(&self, id: &str) -> Result<Project> {
        check_id("project id", id)?;
        self.store.get_project(id).await
    }
    /// The project `id` names, or the store's default project.
    pub async fn project(&self, id: Option<&str>) -> Result<Project> {
        self.store.resolve_project(id).await
    }
    /// Makes `id` the store's default project.
    pub async fn use_project(&self, op: &OpContext, id: &str) -> Result<Project> {
        check_id("project id", id)?;
        self.store.set_default_project(op, id).await
    }

    // ---- tasks ----

    pub async fn create_task(&self, op: &OpContext, new: NewTask) -> Result<Task> {
        check_new_task(&new)?;
        self.upkeep(op, Upkeep::Write).await?;
        self.store.create_task(op, new).await
    }
    /// Creates several tasks at once (one transaction on a database store); each is
    /// validated like [`Maestro::create_task`] before anything is written.
    pub async fn create_tasks(&self, op: &OpContext, new: Vec<NewTask>) -> Result<Vec<Task>> {
        for n in &new {
            check_new_task(n)?;
        }
        self.upkeep(op, Upkeep::Write).await?;
        self.store.create_tasks(op, new).await
    }
    /// A task with its subtasks, dependencies and newest timeline entries, as `op`'s caller.
    pub async fn get_task_as(&self, op: &OpContext, id: &str) -> Result<TaskDetail> {
        check_id("task id", id)?;
        self.upkeep(op, Upkeep::Read).await?;
        self.store.get_task(id).await
    }
    pub async fn get_task(&self, id: &str) -> Result<TaskDetail> {
        self.get_task_as(&OpContext::default(), id).await
    }
    pub async fn list_tasks_as(&self, op: &OpContext, filter: TaskFilter) -> Result<Page<Task>> {
        limits::page_size(filter.limit, limits::DEFAULT_LIMIT, limits::MAX_LIMIT)?;
        limits::parse_cursor(filter.cursor.as_deref())?;
        self.upkeep(op, Upkeep::Read).await?;
        self.store.list_tasks(filter).await
    }
    pub async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>> {
        self.list_tasks_as(&OpContext::default(), filter).await
    }
    pub async fn update_task(&self, op: &OpContext, id: &str, patch: TaskPatch) -> Result<Task> {
        check_id("task id", id)?;
        if let Some(t) = &patch.title {
            check_title(t)?;
        }
        check_text("description", patch.description.as_deref().unwrap_or(""))?;
        if let Some(l) = &patch.labels {
            check_labels(l)?;
        }
        if patch.is_empty() {
            return Err(Error::invalid_argument("Nothing to update")
                .with_details(json!({ "taskId": id }))
                .with_suggestion(format!("Pass at least one of --title, --desc, --priority, --status, --add-dep, --remove-dep, --label, --metadata, e.g. 'maestro task update {id} --priority high'")));
        }
        self.upkeep(op, Upkeep::Write).await?;
        self.store.update_task(op, id, patch).await
    }
    pub async fn change_status(
        &self,
        op: &OpContext,
        id: &str,
        change: StatusChange,
    ) -> Result<Task> {
        check_id("task id", id)?;
        match &change.action {
            StatusAction::Block { reason } => check_message("reason", reason)?,
            StatusAction::Release { reason } => check_text("reason", reason)?,
            _ => {}
        }
        self.upkeep(op, Upkeep::Write).await?;
        self.store.change_status(op, id, change).await
    }
    pub async fn start_task(&self, op: &OpContext, id: &str, force: bool) -> Result<Task> {
        self.change_status(
            op,
            id,
            StatusChange {
                force,
                ..StatusChange::new(StatusAction::Start)
            },
        )
        .await
    }
    pub async fn complete_task(&self, op: &OpContext, id: &str, force: bool) -> Result<Task> {
        self.change_status(
            op,
            id,
            StatusChange {
                force,
                ..StatusChange::new(StatusAction::Complete)
            },
        )
        .await
    }
    pub async fn block_task(&self, op: &OpContext, id: &str, reason: &str) -> Result<Task> {
        self.change_status(
            op,
            id,
            StatusChange::new(StatusAction::Block {
                reason: reason.to_string(),
            }),
        )
        .await
    }
    pub async fn reopen_task(&self, op: &OpContext, id: &str) -> Result<Task> {
        self.change_status(op, id, StatusChange::new(StatusAction::Reopen))
            .await
    }
    pub async fn cancel_task(&self, op: &OpContext, id: &str) -> Result<Task> {
        self.change_status(op, id, StatusChange::new(StatusAction::Cancel))
            .await
    }
    pub async fn delete_task(&self, op: &OpContext, id: &str) -> Result<Task> {
        check_id("task id", id)?;
        self.upkeep(op, Upkeep::Write).await?;
        self.store.delete_task(op, id).await
    }
    /// The ready queue (at most `limit`, default 100).
    pub async fn ready_tasks_as(
        &self,
        op: &OpContext,
        project_id: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        let limit = limits::page_size(limit, limits::DEFAULT_LIMIT, limits::MAX_LIMIT)?;
        self.upkeep(op, Upkeep::Read).await?;
        self.store.ready_tasks(project_id, limit).await
    }
    pub async fn ready_tasks(
        &self,
        project_id: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        self.ready_tasks_as(&OpContext::default(), project_id, limit)
            .await
    }
    /// Claims a task (or the first ready one) for a session, atomically.
    pub async fn claim(&self, op: &OpContext, claim: ClaimRequest) -> Result<Task> {
        if let Some(id) = &claim.task_id {
            check_id("task id", id)?;
        }
        if claim.session_id.is_none() && op.session_id.is_none() {
            return Err(Error::no_session_context());
        }
        self.upkeep(op, Upkeep::Write).await?;
        self.store.claim(op, claim).await
    }
    pub async fn claim_task(&self, op: &OpContext, id: &str, session_id: &str) -> Result<Task> {
        self.claim(
            op,
            ClaimRequest {
                task_id: Some(id.to_string()),
                session_id: Some(session_id.to_string()),
                ..Default::default()
            },
        )
        .await
    }
    pub async fn claim_next(
        &self,
        op: &OpContext,
        project_id: Option<&str>,
        session_id: &str,
    ) -> Result<Task> {
        self.claim(
            op,
            ClaimRequest {
                project_id: project_id.map(str::to_string),
                session_id: Some(session_id.to_string()),
                ..Default::default()
            },
        )
        .await
    }

    /// The tasks a command without an explicit task id acts on: `explicit`, else
    /// `context_ids` (`MAESTRO_TASK_IDS`), else the calling session's tasks in progress. A
    /// calling session that is lost or has ended is told so first, whatever form the call
    /// takes.
    pub async fn context_tasks(
        &self,
        op: &OpContext,
        explicit: Option<&str>,
        context_ids: &[String],
    ) -> Result<Vec<String>> {
        let session = match op.session_id.as_deref() {
            Some(id) => {
                let s = self.get_session(id).await?;
                crate::rules::session_status::gate(&s)?;
                Some(s)
            }
            None => None,
        };
        if let Some(id) = explicit {
            check_id("task id", id)?;
            return Ok(vec![id.to_string()]);
        }
        if !context_ids.is_empty() {
            return Ok(context_ids.to_vec());
        }
        let Some(s) = session else {
            return Err(Error::no_task_context());
        };
        let mut active = Vec::new();
        for id in &s.task_ids {
            if let Ok(d) = self.store.get_task(id).await
                && d.task.status == TaskStatus::InProgress
                && d.task.session_ids.contains(&s.id)
            {
                active.push(d.task.id);
            }
        }
        if active.is_empty() {
            return Err(Error::no_task_context()
                .with_details(json!({ "sessionId": s.id }))
                .with_suggestion(
                    "Session has no task in progress: claim one with 'maestro task claim --next', or pass a task id",
                ));
        }
        Ok(active)
    }

    // ---- timeline ----

    pub async fn add_progress(
        &self,
        op: &OpContext,
        task_id: &str,
        message: &str,
    ) -> Result<TimelineEntry> {
        check_id("task id", task_id)?;
        check_message("message", message)?;
        let kind = TimelineKind::Progress {
            message: message.trim().to_string(),
        };
        self.upkeep(op, Upkeep::Write).await?;
        self.store.add_timeline(op, task_id, kind).await
    }
    pub async fn add_comment(
        &self,
        op: &OpContext,
        task_id: &str,
        author: &str,
        message: &str,
    ) -> Result<TimelineEntry> {
        check_id("task id", task_id)?;
        check_message("message", message)?;
        let kind = TimelineKind::Comment {
            author: author.to_string(),
            message: message.trim().to_string(),
        };
        self.upkeep(op, Upkeep::Write).await?;
        self.store.add_timeline(op, task_id, kind).await
    }
    /// A page of a task's whole timeline, oldest first.
    pub async fn timeline(
        &self,
        task_id: &str,
        query: TimelineQuery,
    ) -> Result<Page<TimelineEntry>> {
        check_id("task id", task_id)?;
        limits::page_size(query.limit, limits::DEFAULT_LIMIT, limits::MAX_LIMIT)?;
        limits::parse_cursor(query.cursor.as_deref())?;
        self.store.timeline(task_id, query).await
    }

    // ---- subtasks ----

    pub async fn create_subtask(
        &self,
        op: &OpContext,
        task_id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<Subtask> {
        check_id("task id", task_id)?;
        check_title(title)?;
        check_text("description", description.unwrap_or(""))?;
        self.upkeep(op, Upkeep::Write).await?;
        self.store
            .create_subtask(op, task_id, title, description)
            .await
    }
    pub async fn list_subtasks(&self, task_id: &str) -> Result<Vec<Subtask>> {
        check_id("task id", task_id)?;
        self.store.list_subtasks(task_id).await
    }
    pub async fn update_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
        patch: SubtaskPatch,
    ) -> Result<Subtask> {
        check_id("subtask id", subtask_id)?;
        if let Some(t) = &patch.title {
            check_title(t)?;
        }
        check_text("description", patch.description.as_deref().unwrap_or(""))?;
        if patch.order.is_some_and(|o| o < 1) {
            return Err(Error::invalid_argument("--order starts at 1")
                .with_details(json!({ "field": "order", "min": 1 }))
                .with_suggestion("Pass --order 1 to move the subtask first"));
        }
        self.upkeep(op, Upkeep::Write).await?;
        self.store
            .update_subtask(op, task_id, subtask_id, patch)
            .await
    }
    pub async fn complete_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
    ) -> Result<Subtask> {
        let patch = SubtaskPatch {
            completed: Some(true),
            ..Default::default()
        };
        self.update_subtask(op, task_id, subtask_id, patch).await
    }
    pub async fn delete_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
    ) -> Result<Subtask> {
        check_id("subtask id", subtask_id)?;
        self.upkeep(op, Upkeep::Write).await?;
        self.store.delete_subtask(op, task_id, subtask_id).await
    }

    // ---- sessions ----

    /// Registers a manually started agent; the session is `active` at once.
    pub async fn register_session(&self, op: &OpContext, new: NewSession) -> Result<Session> {
        self.upkeep(op, Upkeep::Write).await?;
        self.store
            .create_session(
                op,
                NewSession {
                    spawn: false,
                    ..new
                },
            )
            .await
    }
    /// Records a spawn request for a host: `spawning`, or `waiting` while the task's
    /// dependencies are open. Refuses at once what the host could not launch: no task for a
    /// worker, an unknown skill or agent profile, a working directory that does not exist;
    /// and (in the store) a finished task or one that already has a live worker, unless
    /// `force`.
    pub async fn spawn_session(&self, op: &OpContext, new: NewSession) -> Result<Session> {
        if new.task_ids.is_empty() && new.role != Some(Role::Orchestrator) {
            return Err(Error::missing_field("task").with_suggestion(
                "Name the task the worker should do: maestro session spawn --task <id>",
            ));
        }
        if let Some(skill) = &new.skill {
            self.get_skill(skill)?;
        }
        if let (Some(agent), Some(profiles)) = (&new.agent, &self.profiles) {
            let profile = profiles.get(agent)?;
            if new.resume.is_some() && profile.resume.is_none() {
                return Err(Error::invalid_argument(format!(
                    "Agent profile '{agent}' cannot resume a conversation"
                ))
                .with_details(json!({ "profile": agent }))
                .with_suggestion("Spawn without --resume, or with a profile that resumes (claude, codex, gemini)"));
            }
        }
        if let Some(b) = &new.budget {
            let bad_cost = b.max_cost_usd.is_some_and(|c| !(c.is_finite() && c > 0.0));
            if bad_cost || b.max_tokens == Some(0) {
                return Err(Error::invalid_argument("A budget must be positive")
                    .with_details(json!({ "field": "budget", "value": b }))
                    .with_suggestion(
                        "Pass --max-cost with dollars above 0 and --max-tokens with 1 or more",
                    ));
            }
        }
        if !self.store.is_remote()
            && let Some(cwd) = &new.cwd
        {
            match &self.spawn_roots {
                Some(roots) => {
                    roots.resolve(cwd)?;
                }
                None if !Path::new(cwd).is_dir() => {
                    return Err(crate::host::plan::no_such_cwd(cwd));
                }
                None => {}
            }
        }
        self.upkeep(op, Upkeep::Write).await?;
        self.store
            .create_session(op, NewSession { spawn: true, ..new })
            .await
    }
    pub async fn list_sessions_as(
        &self,
        op: &OpContext,
        filter: SessionFilter,
    ) -> Result<Page<Session>> {
        limits::page_size(filter.limit, limits::DEFAULT_LIMIT, limits::MAX_LIMIT)?;
        limits::parse_cursor(filter.cursor.as_deref())?;
        self.upkeep(op, Upkeep::Inspect).await?;
        self.store.list_sessions(filter).await
    }
    pub async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>> {
        self.list_sessions_as(&OpContext::default(), filter).await
    }
    pub async fn get_session(&self, id: &str) -> Result<Session> {
        check_id("session id", id)?;
        self.upkeep(&OpContext::default(), Upkeep::Inspect).await?;
        self.store.get_session(id).await
    }
    pub async fn update_session(
        &self,
        op: &OpContext,
        id: &str,
        patch: SessionPatch,
    ) -> Result<Session> {
        check_id("session id", id)?;
        if patch == SessionPatch::default() {
            return Err(
                Error::invalid_argument("Nothing to update").with_suggestion(
                    "Send at least one of status, name, pid, host, exitCode, reason, taskIds",
                ),
            );
        }
        self.upkeep(op, Upkeep::Write).await?;
        self.store.update_session(op, id, patch).await
    }
    /// Refreshes a session's lease; a session that ended is told so.
    pub async fn heartbeat(&self, op: &OpContext, id: &str) -> Result<Session> {
        check_id("session id", id)?;
        self.store.heartbeat(op, id).await
    }
    /// Ends a session with a terminal status (default `completed`).
    pub async fn end_session(
        &self,
        op: &OpContext,
        id: &str,
        status: Option<SessionStatus>,
    ) -> Result<Session> {
        let status = status.unwrap_or(SessionStatus::Completed);
        if !status.is_terminal() || status == SessionStatus::Lost {
            return Err(Error::new(
                crate::Code::InvalidStatus,
                format!("'{status}' does not end a session"),
            )
            .with_details(json!({ "value": status, "allowed": ["completed", "failed", "stopped"] }))
            .with_suggestion("Use one of: completed, failed, stopped"));
        }
        self.update_session(
            op,
            id,
            SessionPatch {
                status: Some(status),
                ..Default::default()
            },
        )
        .await
    }

    // ---- worktrees and the merge queue (SPEC §11) ----

    /// Records the worktree a host made for a task (`None` forgets it).
    pub async fn set_task_worktree(
        &self,
        op: &OpContext,
        task_id: &str,
        worktree: Option<TaskWorktree>,
    ) -> Result<Task> {
        check_id("task id", task_id)?;
        self.store.set_task_worktree(op, task_id, worktree).await
    }
    /// Puts a completed task in the merge queue of its target branch.
    pub async fn enqueue_merge(&self, op: &OpContext, req: MergeEnqueue) -> Result<ProjectQueue> {
        check_id("task id", &req.task_id)?;
        self.store.enqueue_merge(op, req).await
    }
    /// Takes the next entry of a queue for merging (`None`: nothing to do, or it is taken).
    pub async fn start_merge(
        &self,
        op: &OpContext,
        project_id: &str,
        target: &str,
    ) -> Result<Option<crate::worktree::QueueEntry>> {
        check_id("project id", project_id)?;
        check_id("target", target)?;
        self.store.start_merge(op, project_id, target).await
    }
    /// Records how a merge ended, with its effect on the task.
    pub async fn finish_merge(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        result: MergeResult,
    ) -> Result<ProjectQueue> {
        check_id("task id", task_id)?;
        check_id("target", target)?;
        self.store.finish_merge(op, task_id, target, result).await
    }
    /// Reports a step of a running merge (a `merge:step` event).
    pub async fn merge_step(
        &self,
        op: &OpContext,
        task_id: &str,
        target: &str,
        step: crate::worktree::Progress,
    ) -> Result<()> {
        self.store.merge_step(op, task_id, target, step).await
    }
    /// The merge queues of a project (every project with `None`).
    pub async fn merge_queues(&self, project_id: Option<&str>) -> Result<Vec<ProjectQueue>> {
        self.store.merge_queues(project_id).await
    }

    // ---- events and status ----

    /// Events after `since`, oldest first (at most `limit`, 1 to 10,000).
    pub async fn events_since(
        &self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>> {
        if since < 0 {
            return Err(Error::invalid_argument("since must be 0 or a seq")
                .with_details(json!({ "field": "since", "value": since }))
                .with_suggestion("Pass --since 0 for the whole log, or the last seq you saw"));
        }
        limits::page_size(Some(limit), limits::DEFAULT_EVENTS, limits::MAX_EVENTS)?;
        self.store.events_since(since, limit, projects).await
    }
    /// A page of the event log after `since` (at most `limit`, default 1000, at most
    /// 10 000): `nextCursor` is the seq to read on from (`--since`/`--cursor`), set while
    /// more events may follow. The same rules in local and remote mode.
    pub async fn events_page(
        &self,
        since: i64,
        limit: Option<usize>,
        projects: &[String],
    ) -> Result<Page<Event>> {
        let limit = limits::page_size(limit, limits::DEFAULT_EVENTS, limits::MAX_EVENTS)?;
        // One more than the page tells whether more follow (a full page of the largest
        // size says "maybe").
        let fetch = (limit + 1).min(limits::MAX_EVENTS);
        let mut events = self.events_since(since, fetch, projects).await?;
        let more = events.len() > limit || (fetch == limit && events.len() == limit);
        events.truncate(limit);
        let next_cursor = events.last().filter(|_| more).map(|e| e.seq.to_string());
        Ok(Page {
            items: events,
            next_cursor,
        })
    }
    pub async fn latest_seq(&self) -> Result<i64> {
        self.store.latest_seq().await
    }
    pub async fn status_as(
        &self,
        op: &OpContext,
        project_id: Option<&str>,
    ) -> Result<StatusReport> {
        self.upkeep(op, Upkeep::Inspect).await?;
        self.store.status(project_id).await
    }
    pub async fn status(&self, project_id: Option<&str>) -> Result<StatusReport> {
        self.status_as(&OpContext::default(), project_id).await
    }
    /// The first seq the event log still retains.
    pub async fn oldest_seq(&self) -> Result<i64> {
        self.store.oldest_seq().await
    }
    /// Deletes all but the newest `keep` events; returns how many were deleted.
    pub async fn prune_events(&self, keep: usize) -> Result<u64> {
        if keep == 0 {
            return Err(Error::invalid_argument("keep must be at least 1")
                .with_suggestion("Keep at least one event so the latest seq is preserved"));
        }
        self.store.prune_events(keep).await
    }
    /// Deletes stored results of idempotent operations older than `retention`.
    pub async fn prune_op_records(&self, retention: Duration) -> Result<u64> {
        if retention.is_zero() {
            return Err(Error::invalid_argument(
                "The retention must be longer than zero",
            ));
        }
        self.store.prune_op_records(retention).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn lifecycle_on_an_in_memory_store() {
        rt().block_on(async {
            let m = Maestro::in_memory().unwrap();
            let op = OpContext::default();
            assert_eq!(
                m.status(None).await.unwrap_err().code(),
                Code::NoProjectContext
            );
            m.create_project(&op, "demo", true).await.unwrap();
            let new = |title: &str, deps: Vec<String>| NewTask {
                title: title.into(),
                depends_on: deps,
                ..Default::default()
            };
            let a = m.create_task(&op, new("A", vec![])).await.unwrap();
            let b = m
                .create_task(&op, new("B", vec![a.id.clone()]))
                .await
                .unwrap();
            let c = m
                .create_task(&op, new("C", vec![b.id[..5].to_string()]))
                .await
                .unwrap();
            assert_eq!(c.dependencies, vec![b.id.clone()]);
            let ready: Vec<_> = m
                .ready_tasks(None, None)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(ready, vec![a.id.clone()]);
            let e = m.start_task(&op, &b.id, false).await.unwrap_err();
            assert_eq!(e.code(), Code::DependenciesIncomplete);
            let patch = TaskPatch {
                add_dependencies: vec![c.id.clone()],
                ..Default::default()
            };
            let e = m.update_task(&op, &a.id, patch).await.unwrap_err();
            assert_eq!(e.code(), Code::DependencyCycle);
            let s = m
                .register_session(&op, NewSession::default())
                .await
                .unwrap();
            let sop = OpContext::session(Some(s.id.clone()));
            let claimed = m.claim_next(&sop, None, &s.id).await.unwrap();
            assert_eq!(claimed.id, a.id);
            assert_eq!(claimed.status, TaskStatus::InProgress);
            assert_eq!(claimed.session_ids, vec![s.id.clone()]);
            m.add_progress(&sop, &a.id, "half way").await.unwrap();
            let st = m.create_subtask(&sop, &a.id, "sub", None).await.unwrap();
            m.complete_subtask(&sop, Some(&a.id), &st.id).await.unwrap();
            m.complete_task(&sop, &a.id, false).await.unwrap();
            let ready: Vec<_> = m
                .ready_tasks(None, None)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(ready, vec![b.id.clone()]);
            m.block_task(&sop, &b.id, "waiting").await.unwrap();
            let status = m.status(None).await.unwrap();
            assert_eq!(status.tasks.total, 3);
            assert_eq!(status.tasks.by_status["completed"], 1);
            assert_eq!(status.tasks.by_status["blocked"], 1);
            assert_eq!(status.tasks.by_status["pending"], 1);
            assert_eq!(status.tasks.ready, 0);
            let d = m.get_task(&a.id).await.unwrap();
            assert_eq!(d.subtasks.len(), 1);
            assert!(d.subtasks[0].completed);
            assert_eq!(d.dependents.len(), 1);
            let types: Vec<_> = d.timeline.iter().map(|e| e.kind.type_name()).collect();
            assert!(
                types.contains(&"progress")
                    && types.contains(&"assigned")
                    && types.contains(&"subtask_completed"),
                "{types:?}"
            );
            let page = m
                .list_tasks(TaskFilter {
                    limit: Some(2),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(page.items.len(), 2);
            let next = m
                .list_tasks(TaskFilter {
                    limit: Some(2),
                    cursor: page.next_cursor,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(next.items.len(), 1);
            assert!(next.next_cursor.is_none());
            m.delete_task(&op, &b.id).await.unwrap();
            assert!(
                m.get_task(&c.id)
                    .await
                    .unwrap()
                    .task
                    .dependencies
                    .is_empty()
            );
            let events = m.events_since(0, 1000, &[]).await.unwrap();
            assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        });
    }
}
