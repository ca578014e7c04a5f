//! The task status machine (SPEC §2): which changes are allowed, and which are no-ops.

use crate::error::{Code, Error, Result};
use crate::model::TaskStatus;
use serde_json::json;

/// The statuses a task in `from` may move to. `blocked → completed` needs `force`.
pub fn allowed_targets(from: TaskStatus, force: bool) -> Vec<TaskStatus> {
    use TaskStatus::*;
    match from {
        Pending => vec![InProgress, Blocked, Cancelled],
        InProgress => vec![Blocked, Completed, Pending, Cancelled],
        Blocked if force => vec![InProgress, Pending, Completed, Cancelled],
        Blocked => vec![InProgress, Pending, Cancelled],
        Completed => vec![InProgress],
        Cancelled => vec![Pending],
    }
}

/// What applying a requested status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The task already has the status: a successful no-op, so agents may retry safely.
    NoOp,
    /// A real change.
    Change { from: TaskStatus, to: TaskStatus },
}

/// Checks a status change of task `task_id` from `from` to `to`.
pub fn check(task_id: &str, from: TaskStatus, to: TaskStatus, force: bool) -> Result<Transition> {
    if from == to {
        return Ok(Transition::NoOp);
    }
    let allowed = allowed_targets(from, force);
    if allowed.contains(&to) {
        return Ok(Transition::Change { from, to });
    }
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let mut hint = if names.is_empty() {
        format!("Task '{task_id}' cannot leave '{from}'")
    } else {
        format!("From '{from}' the task can move to: {}", names.join(", "))
    };
    if from == TaskStatus::Blocked && to == TaskStatus::Completed {
        hint.push_str(" (or complete it anyway with --force)");
    } else if from == TaskStatus::Completed && to == TaskStatus::Pending {
        hint.push_str(&format!(
            "; run 'maestro task reopen {task_id}' to work on it again"
        ));
    }
    Err(Error::new(
        Code::InvalidTransition,
        format!("Task '{task_id}' cannot go from '{from}' to '{to}'"),
    )
    .with_details(json!({ "taskId": task_id, "from": from, "to": to, "allowed": names }))
    .with_suggestion(hint))
}

/// The status `task reopen` moves a task to.
pub fn reopen_target(from: TaskStatus) -> TaskStatus {
    match from {
        TaskStatus::Completed => TaskStatus::InProgress,
        _ => TaskStatus::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    #[test]
    fn table_matches_the_spec() {
        let cases = [
            (Pending, InProgress, true),
            (Pending, Blocked, true),
            (Pending, Cancelled, true),
            (Pending, Completed, false),
            (InProgress, Blocked, true),
            (InProgress, Completed, true),
            (InProgress, Pending, true),
            (InProgress, Cancelled, true),
            (Blocked, InProgress, true),
            (Blocked, Pending, true),
            (Blocked, Completed, false),
            (Blocked, Cancelled, true),
            (Completed, InProgress, true),
            (Completed, Pending, false),
            (Completed, Cancelled, false),
            (Cancelled, Pending, true),
            (Cancelled, InProgress, false),
        ];
        for (from, to, ok) in cases {
            assert_eq!(check("t-1", from, to, false).is_ok(), ok, "{from} -> {to}");
        }
    }

    #[test]
    fn force_allows_completing_a_blocked_task() {
        assert!(check("t-1", Blocked, Completed, true).is_ok());
        assert!(check("t-1", Pending, Completed, true).is_err());
    }

    #[test]
    fn same_status_is_a_no_op() {
        for &s in TaskStatus::ALL {
            assert_eq!(check("t-1", s, s, false).unwrap(), Transition::NoOp);
        }
    }

    #[test]
    fn refusal_names_the_allowed_targets() {
        let e = check("t-1", Completed, Cancelled, false).unwrap_err();
        assert_eq!(e.code(), Code::InvalidTransition);
        assert_eq!(e.details()["allowed"], json!(["in_progress"]));
        assert!(e.suggestion().unwrap().contains("in_progress"));
        let e = check("t-1", Blocked, Completed, false).unwrap_err();
        assert!(e.suggestion().unwrap().contains("--force"));
    }
}
