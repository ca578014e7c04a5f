//! Spawn requests (SPEC §8): which tasks can get a worker, and when a request waits.
//!
//! A request for a task that is finished, or that already has a live worker session, is
//! refused at once (unless forced) instead of failing later on the host. A request for a
//! task whose dependencies are open is accepted as `waiting` and becomes a spawn request
//! (`spawning`) when the task is ready. A task deleted or cancelled stops its requests.
//! An agent works only in a folder under the roots its host's operator allows.

use crate::error::{Code, Error, Result};
use crate::model::{Session, SessionStatus, Task, TaskStatus};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The status a worker's spawn request for `task` starts in. `unfinished` counts the task's
/// dependencies that are not completed.
pub fn initial_status(task: &Task, unfinished: usize, force: bool) -> Result<SessionStatus> {
    match task.status {
        TaskStatus::Completed | TaskStatus::Cancelled if !force => Err(Error::new(
            Code::InvalidTransition,
            format!("Task '{}' is {} and needs no worker", task.id, task.status),
        )
        .with_details(json!({ "taskId": task.id, "status": task.status }))
        .with_suggestion(format!(
            "Reopen it first with 'maestro task reopen {}', or spawn with --force",
            task.id
        ))),
        TaskStatus::Pending if unfinished > 0 => Ok(SessionStatus::Waiting),
        _ => Ok(SessionStatus::Spawning),
    }
}

/// Refuses a second live worker session for `task` (a request, or a launched worker).
pub fn check_live_sessions(task: &Task, live: &[Session], force: bool) -> Result<()> {
    if live.is_empty() || force {
        return Ok(());
    }
    let ids: Vec<&str> = live.iter().map(|s| s.id.as_str()).collect();
    let shown: Vec<String> = live
        .iter()
        .map(|s| format!("{} ({})", s.id, s.status))
        .collect();
    Err(Error::new(
        Code::TaskClaimed,
        format!(
            "Task '{}' already has a live worker session: {}",
            task.id,
            shown.join(", ")
        ),
    )
    .with_details(json!({ "taskId": task.id, "sessionIds": ids }))
    .with_suggestion(format!(
        "Watch it with 'maestro session get {}', or spawn another anyway with --force",
        ids[0]
    )))
}

/// What becomes of a `waiting` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The task is ready: the request becomes `spawning` for a host.
    Launch,
    /// Still waiting for dependencies.
    Wait,
    /// The task can no longer get this worker: the request is `stopped` with the reason.
    Stop(String),
}

/// Decides a waiting request for `task` (`None`: deleted), `ready` telling whether its
/// dependencies are all completed.
pub fn waiting(task: Option<&Task>, ready: bool) -> Waiting {
    match task {
        None => Waiting::Stop("task deleted".into()),
        Some(t) => match t.status {
            TaskStatus::Pending if ready => Waiting::Launch,
            TaskStatus::Pending => Waiting::Wait,
            TaskStatus::Cancelled => Waiting::Stop("task cancelled".into()),
            other => Waiting::Stop(format!("task {other} before the worker could start")),
        },
    }
}

/// Refuses a working directory outside the allowed `roots`. Both are resolved paths
/// (absolute, no `..`, symlinks followed), so `/work/p/../../etc` is `/etc` here; `asked`
/// is the directory as the request named it.
pub fn check_cwd(cwd: &Path, asked: &str, roots: &[PathBuf]) -> Result<()> {
    if roots.iter().any(|root| cwd.starts_with(root)) {
        return Ok(());
    }
    let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Err(Error::invalid_argument(format!(
        "The working directory {asked} is outside the folders agents may work in ({})",
        if shown.is_empty() {
            "none exists".to_string()
        } else {
            shown.join(", ")
        }
    ))
    .with_details(json!({
        "field": "cwd",
        "value": asked,
        "resolved": cwd.display().to_string(),
        "spawnRoots": shown,
    }))
    .with_suggestion(
        "Spawn in a folder under one of them (--cwd), or have the host's operator allow another root (MAESTRO_SPAWN_ROOTS or config spawnRoots)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus) -> Task {
        let t = "2026-01-01T00:00:00Z".parse().unwrap();
        Task {
            id: "t-1".into(),
            project_id: "p-1".into(),
            title: "T".into(),
            description: String::new(),
            status,
            priority: crate::Priority::Medium,
            dependencies: vec![],
            labels: vec![],
            session_ids: vec![],
            metadata: Default::default(),
            version: 1,
            claim_epoch: 0,
            blocked_reason: None,
            worktree: None,
            created_at: t,
            updated_at: t,
            started_at: None,
            completed_at: None,
        }
    }

    #[test]
    fn finished_tasks_get_no_worker_and_open_dependencies_wait() {
        let done = task(TaskStatus::Completed);
        assert_eq!(initial_status(&done, 0, false).unwrap_err().exit_code(), 4);
        assert_eq!(
            initial_status(&done, 0, true).unwrap(),
            SessionStatus::Spawning
        );
        assert!(initial_status(&task(TaskStatus::Cancelled), 0, false).is_err());
        let pending = task(TaskStatus::Pending);
        assert_eq!(
            initial_status(&pending, 2, false).unwrap(),
            SessionStatus::Waiting
        );
        assert_eq!(
            initial_status(&pending, 0, false).unwrap(),
            SessionStatus::Spawning
        );
    }

    #[test]
    fn waiting_requests_launch_wait_or_stop() {
        let pending = task(TaskStatus::Pending);
        assert_eq!(waiting(Some(&pending), true), Waiting::Launch);
        assert_eq!(waiting(Some(&pending), false), Waiting::Wait);
        assert_eq!(waiting(None, true), Waiting::Stop("task deleted".into()));
        assert_eq!(
            waiting(Some(&task(TaskStatus::Cancelled)), true),
            Waiting::Stop("task cancelled".into())
        );
        assert!(matches!(
            waiting(Some(&task(TaskStatus::InProgress)), true),
            Waiting::Stop(_)
        ));
    }

    #[test]
    fn a_cwd_must_be_a_root_or_below_one() {
        let roots = [PathBuf::from("/work/p"), PathBuf::from("/srv/repos")];
        assert!(check_cwd(Path::new("/work/p"), "/work/p", &roots).is_ok());
        assert!(check_cwd(Path::new("/srv/repos/a/b"), "b", &roots).is_ok());
        for outside in ["/etc", "/work/plan", "/work", "/"] {
            let e = check_cwd(Path::new(outside), outside, &roots).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{outside}");
            assert_eq!(e.details()["spawnRoots"][1], "/srv/repos");
        }
        let e = check_cwd(Path::new("/work/p"), "/work/p", &[]).unwrap_err();
        assert!(e.message().contains("none exists"), "{}", e.message());
    }
}
