//! [`Maestro`]: the one facade every front end (CLI, server, bindings) calls.
//!
//! It validates arguments before any I/O, then runs the operation on a [`Store`]: the
//! embedded SQLite store, or a remote server.

use crate::error::{Error, Result};
use crate::model::*;
use crate::sqlite::SqliteStore;
use crate::store::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

pub mod agents;

/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest accepted description or message, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The Maestro facade. Cheap to clone.
#[derive(Clone)]
pub struct Maestro {
    store: Arc<dyn Store>,
    /// Where on-disk skills override the bundled ones (`None`: bundled skills only).
    skills_dir: Option<Arc<std::path::Path>>,
}

impl std::fmt::Debug for Maestro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maestro")
            .field("store", &self.store.location())
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

impl Maestro {
    /// Wraps any store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            skills_dir: None,
        }
    }

    /// Opens (creating and migrating if needed) the SQLite store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(Arc::new(SqliteStore::open(path)?)))
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

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Where the data lives: a database path or a server URL.
    pub fn location(&self) -> String {
        self.store.location()
    }

    // ---- projects ----

    pub async fn create_project(
        &self,
        op: &OpContext,
        name: &str,
        make_default: bool,
    ) -> Result<Project> {
        check_title(name)
            .map_err(|_| Error::missing_field("name").with_suggestion("Give the project a name"))?;
        self.store
            .create_project(op, name.trim(), make_default)
            .await
    }
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        self.store.list_projects().await
    }
    pub async fn get_project(&self, id: &str) -> Result<Project> {
        self.store.get_project(id).await
    }
    /// The project `id` names, or the store's default project.
    pub async fn project(&self, id: Option<&str>) -> Result<Project> {
        self.store.resolve_project(id).await
    }

    // ---- tasks ----

    pub async fn create_task(&self, op: &OpContext, new: NewTask) -> Result<Task> {
        check_title(&new.title)?;
        check_text("description", new.description.as_deref().unwrap_or(""))?;
        check_labels(&new.labels)?;
        self.store.create_task(op, new).await
    }
    /// Creates several tasks at once (one transaction on the embedded store); each is
    /// validated like [`Maestro::create_task`] before anything is written.
    pub async fn create_tasks(&self, op: &OpContext, new: Vec<NewTask>) -> Result<Vec<Task>> {
        for n in &new {
            check_title(&n.title)?;
            check_text("description", n.description.as_deref().unwrap_or(""))?;
            check_labels(&n.labels)?;
        }
        self.store.create_tasks(op, new).await
    }
    pub async fn get_task(&self, id: &str) -> Result<TaskDetail> {
        self.store.get_task(id).await
    }
    pub async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>> {
        if filter.limit == Some(0) {
            return Err(Error::invalid_argument("--limit must be at least 1"));
        }
        self.store.list_tasks(filter).await
    }
    pub async fn update_task(&self, op: &OpContext, id: &str, patch: TaskPatch) -> Result<Task> {
        if let Some(t) = &patch.title {
            check_title(t)?;
        }
        check_text("description", patch.description.as_deref().unwrap_or(""))?;
        if let Some(l) = &patch.labels {
            check_labels(l)?;
        }
        if patch.is_empty() {
            return Err(Error::invalid_argument("Nothing to update")
                .with_suggestion("Pass at least one of --title, --desc, --priority, --status, --add-dep, --remove-dep"));
        }
        self.store.update_task(op, id, patch).await
    }
    pub async fn change_status(
        &self,
        op: &OpContext,
        id: &str,
        change: StatusChange,
    ) -> Result<Task> {
        match &change.action {
            StatusAction::Block { reason } => check_message("reason", reason)?,
            StatusAction::Release { reason } => check_text("reason", reason)?,
            _ => {}
        }
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
        self.store.delete_task(op, id).await
    }
    pub async fn ready_tasks(
        &self,
        project_id: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        self.store.ready_tasks(project_id, limit).await
    }
    pub async fn claim_task(&self, op: &OpContext, id: &str, session_id: &str) -> Result<Task> {
        self.store.claim_task(op, id, session_id).await
    }
    pub async fn claim_next(
        &self,
        op: &OpContext,
        project_id: Option<&str>,
        session_id: &str,
    ) -> Result<Task> {
        self.store.claim_next(op, project_id, session_id).await
    }

    // ---- timeline ----

    pub async fn add_progress(
        &self,
        op: &OpContext,
        task_id: &str,
        message: &str,
    ) -> Result<TimelineEntry> {
        check_message("message", message)?;
        let kind = TimelineKind::Progress {
            message: message.trim().to_string(),
        };
        self.store.add_timeline(op, task_id, kind).await
    }
    pub async fn add_comment(
        &self,
        op: &OpContext,
        task_id: &str,
        author: &str,
        message: &str,
    ) -> Result<TimelineEntry> {
        check_message("message", message)?;
        let kind = TimelineKind::Comment {
            author: author.to_string(),
            message: message.trim().to_string(),
        };
        self.store.add_timeline(op, task_id, kind).await
    }
    pub async fn timeline(
        &self,
        task_id: &str,
        limit: Option<usize>,
    ) -> Result<Vec<TimelineEntry>> {
        self.store.timeline(task_id, limit).await
    }

    // ---- subtasks ----

    pub async fn create_subtask(
        &self,
        op: &OpContext,
        task_id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<Subtask> {
        check_title(title)?;
        check_text("description", description.unwrap_or(""))?;
        self.store
            .create_subtask(op, task_id, title, description)
            .await
    }
    pub async fn list_subtasks(&self, task_id: &str) -> Result<Vec<Subtask>> {
        self.store.list_subtasks(task_id).await
    }
    pub async fn update_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
        patch: SubtaskPatch,
    ) -> Result<Subtask> {
        if let Some(t) = &patch.title {
            check_title(t)?;
        }
        check_text("description", patch.description.as_deref().unwrap_or(""))?;
        if patch.order.is_some_and(|o| o < 1) {
            return Err(Error::invalid_argument("--order starts at 1"));
        }
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
        self.store
            .update_subtask(op, task_id, subtask_id, patch)
            .await
    }
    pub async fn delete_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
    ) -> Result<Subtask> {
        self.store.delete_subtask(op, task_id, subtask_id).await
    }

    // ---- sessions ----

    /// Registers a manually started agent; the session is `active` at once.
    pub async fn register_session(&self, op: &OpContext, new: NewSession) -> Result<Session> {
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
    /// Records a spawn request (`spawning`, with a `session:spawn_request` event) for a host.
    pub async fn spawn_session(&self, op: &OpContext, new: NewSession) -> Result<Session> {
        if new.task_ids.is_empty() && new.role != Some(Role::Orchestrator) {
            return Err(Error::missing_field("task").with_suggestion(
                "Name the task the worker should do: maestro session spawn --task <id>",
            ));
        }
        self.store
            .create_session(op, NewSession { spawn: true, ..new })
            .await
    }
    pub async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>> {
        self.store.list_sessions(filter).await
    }
    pub async fn get_session(&self, id: &str) -> Result<Session> {
        self.store.get_session(id).await
    }
    pub async fn update_session(
        &self,
        op: &OpContext,
        id: &str,
        patch: SessionPatch,
    ) -> Result<Session> {
        self.store.update_session(op, id, patch).await
    }
    pub async fn heartbeat(&self, id: &str) -> Result<Session> {
        self.store.heartbeat(id).await
    }
    /// Ends a session with a terminal status (default `completed`).
    pub async fn end_session(
        &self,
        op: &OpContext,
        id: &str,
        status: Option<SessionStatus>,
    ) -> Result<Session> {
        let status = status.unwrap_or(SessionStatus::Completed);
        if !status.is_terminal() {
            return Err(Error::new(
                crate::Code::InvalidStatus,
                format!("'{status}' does not end a session"),
            )
            .with_details(json!({ "value": status, "allowed": ["completed", "failed", "stopped"] }))
            .with_suggestion("Use one of: completed, failed, stopped"));
        }
        self.store
            .update_session(
                op,
                id,
                SessionPatch {
                    status: Some(status),
                    ..Default::default()
                },
            )
            .await
    }

    // ---- events and status ----

    pub async fn events_since(
        &self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>> {
        self.store.events_since(since, limit, projects).await
    }
    pub async fn latest_seq(&self) -> Result<i64> {
        self.store.latest_seq().await
    }
    pub async fn status(&self, project_id: Option<&str>) -> Result<StatusReport> {
        self.store.status(project_id).await
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
