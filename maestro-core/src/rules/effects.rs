//! What a change to a task does, beyond its own fields: the timeline entries it records, the
//! claims it grants, releases or re-stamps, the dependency counters of the tasks that
//! depend on it, and its block reason.
//!
//! Each function here changes a [`Task`] in memory and adds to an [`Effects`]; the engine
//! persists both in the operation's transaction.

use crate::error::Result;
use crate::model::{DependencyRef, Task, TaskStatus, TimelineKind, Timestamp};
use crate::rules::dag;
use crate::rules::task_status::{self, Transition};

/// A session's claim on a task: the fence of its writes. A claim is current while it is not
/// released and its epoch is the task's `claim_epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub task_id: String,
    pub session_id: String,
    pub epoch: i64,
    /// Why the claim ended (released, taken over, the session ended), once it has.
    pub released: Option<String>,
}

impl Claim {
    /// Whether the claim still lets its session write to `task`.
    pub fn is_current(&self, task: &Task) -> bool {
        self.released.is_none()
            && self.epoch == task.claim_epoch
            && task.session_ids.contains(&self.session_id)
    }
}

/// What an operation must persist besides the task row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Timeline entries, in order.
    pub timeline: Vec<TimelineKind>,
    /// Claims to write (granted, released or re-stamped).
    pub claims: Vec<Claim>,
    /// Added to the open-dependency count of every task that depends on this one: -1 when it
    /// becomes completed, +1 when it stops being completed.
    pub dependents_delta: i64,
    /// Whether the task row changed (its version goes up and `task:updated` is emitted).
    pub changed: bool,
}

/// Whether moving a task from `from` to `to` requires its dependencies to be completed.
pub fn needs_dependency_check(from: TaskStatus, to: TaskStatus, force: bool) -> bool {
    to == TaskStatus::InProgress && from != TaskStatus::Completed && !force && from != to
}

/// Applies a status change. `unfinished` are the task's unfinished dependencies, read when
/// [`needs_dependency_check`] says so (else ignored). `reason` is the block or release
/// reason. A change to the status the task already has is a no-op, except that blocking a
/// blocked task with a new reason records the new reason.
pub fn change_status(
    task: &mut Task,
    to: TaskStatus,
    force: bool,
    reason: Option<&str>,
    unfinished: &[DependencyRef],
    now: Timestamp,
    fx: &mut Effects,
) -> Result<()> {
    let (from, to) = match task_status::check(&task.id, task.status, to, force)? {
        Transition::NoOp => {
            if to == TaskStatus::Blocked
                && let Some(r) = reason.filter(|r| task.blocked_reason.as_deref() != Some(r))
            {
                task.blocked_reason = Some(r.to_string());
                fx.timeline.push(TimelineKind::Blocked {
                    reason: r.to_string(),
                    details: None,
                });
                fx.changed = true;
            }
            return Ok(());
        }
        Transition::Change { from, to } => (from, to),
    };
    if needs_dependency_check(from, to, force) && !unfinished.is_empty() {
        return Err(dag::dependencies_incomplete(&task.id, unfinished));
    }
    if (from == TaskStatus::Completed) != (to == TaskStatus::Completed) {
        fx.dependents_delta += if to == TaskStatus::Completed { -1 } else { 1 };
    }
    task.status = to;
    match to {
        TaskStatus::InProgress => {
            task.started_at.get_or_insert(now);
            task.completed_at = None;
        }
        TaskStatus::Completed => task.completed_at = Some(now),
        // Back to the queue: whoever owned the task does not any more.
        TaskStatus::Pending => {
            let owners = task.session_ids.clone();
            release(task, &owners, reason.unwrap_or("released"), fx);
        }
        _ => {}
    }
    fx.timeline.push(TimelineKind::StatusChanged { from, to });
    if to == TaskStatus::Blocked {
        let reason = reason.unwrap_or("").to_string();
        task.blocked_reason = Some(reason.clone());
        fx.timeline.push(TimelineKind::Blocked {
            reason,
            details: None,
        });
    } else {
        task.blocked_reason = None;
    }
    fx.changed = true;
    Ok(())
}

/// Makes `session` an owner of `task`. A task that had no owners starts a new claim epoch;
/// a session joining other owners shares theirs. No-op for an owner.
pub fn assign(task: &mut Task, session: &str, fx: &mut Effects) {
    if task.session_ids.iter().any(|s| s == session) {
        return;
    }
    if task.session_ids.is_empty() {
        task.claim_epoch += 1;
    }
    task.session_ids.push(session.to_string());
    fx.timeline.push(TimelineKind::Assigned {
        session_id: session.to_string(),
    });
    fx.claims.push(Claim {
        task_id: task.id.clone(),
        session_id: session.to_string(),
        epoch: task.claim_epoch,
        released: None,
    });
    fx.changed = true;
}

/// Releases the claims of `sessions` on `task` (each must be an owner; others are
/// skipped): a `released` entry each, a new claim epoch, and the remaining owners'
/// claims re-stamped with it so only the released ones are fenced off.
pub fn release(task: &mut Task, sessions: &[String], reason: &str, fx: &mut Effects) {
    let released: Vec<String> = sessions
        .iter()
        .filter(|s| task.session_ids.contains(s))
        .cloned()
        .collect();
    if released.is_empty() {
        return;
    }
    let old_epoch = task.claim_epoch;
    task.session_ids.retain(|s| !released.contains(s));
    task.claim_epoch += 1;
    for sid in released {
        fx.timeline.push(TimelineKind::Released {
            session_id: sid.clone(),
            reason: reason.to_string(),
        });
        fx.claims.push(Claim {
            task_id: task.id.clone(),
            session_id: sid,
            epoch: old_epoch,
            released: Some(reason.to_string()),
        });
    }
    for sid in &task.session_ids {
        fx.claims.push(Claim {
            task_id: task.id.clone(),
            session_id: sid.clone(),
            epoch: task.claim_epoch,
            released: None,
        });
    }
    fx.changed = true;
}

/// What a session that ended leaves behind on a task it was working on: the task goes back
/// to `pending` when it was in progress with that session as its only owner; otherwise
/// (other owners, or blocked) the session's claim alone is released. Finished tasks keep
/// the sessions that did them.
pub fn release_ended_session(
    task: &mut Task,
    session_id: &str,
    reason: &str,
    now: Timestamp,
    fx: &mut Effects,
) -> Result<()> {
    let held = matches!(task.status, TaskStatus::InProgress | TaskStatus::Blocked);
    if !held || !task.session_ids.iter().any(|s| s == session_id) {
        return Ok(());
    }
    if task.status == TaskStatus::InProgress && task.session_ids.len() == 1 {
        change_status(task, TaskStatus::Pending, false, Some(reason), &[], now, fx)
    } else {
        release(task, &[session_id.to_string()], reason, fx);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus, owners: &[&str]) -> Task {
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
            session_ids: owners.iter().map(|s| s.to_string()).collect(),
            metadata: Default::default(),
            version: 1,
            claim_epoch: 1,
            blocked_reason: None,
            worktree: None,
            created_at: t,
            updated_at: t,
            started_at: None,
            completed_at: None,
        }
    }

    fn now() -> Timestamp {
        "2026-01-02T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn completing_counts_down_the_dependents_and_reopening_counts_up() {
        let mut t = task(TaskStatus::InProgress, &["s-a"]);
        let mut fx = Effects::default();
        change_status(
            &mut t,
            TaskStatus::Completed,
            false,
            None,
            &[],
            now(),
            &mut fx,
        )
        .unwrap();
        assert_eq!(fx.dependents_delta, -1);
        assert_eq!(t.completed_at, Some(now()));
        let mut fx = Effects::default();
        change_status(
            &mut t,
            TaskStatus::InProgress,
            false,
            None,
            &[],
            now(),
            &mut fx,
        )
        .unwrap();
        assert_eq!(fx.dependents_delta, 1);
        assert!(t.completed_at.is_none());
    }

    #[test]
    fn unfinished_dependencies_block_a_start_unless_forced() {
        let dep = DependencyRef {
            id: "t-0".into(),
            title: "first".into(),
            status: TaskStatus::Pending,
        };
        let mut t = task(TaskStatus::Pending, &[]);
        let mut fx = Effects::default();
        let e = change_status(
            &mut t,
            TaskStatus::InProgress,
            false,
            None,
            std::slice::from_ref(&dep),
            now(),
            &mut fx,
        )
        .unwrap_err();
        assert_eq!(e.code(), crate::Code::DependenciesIncomplete);
        assert_eq!(t.status, TaskStatus::Pending, "a refusal changes nothing");
        assert!(!needs_dependency_check(
            TaskStatus::Pending,
            TaskStatus::InProgress,
            true
        ));
        change_status(
            &mut t,
            TaskStatus::InProgress,
            true,
            None,
            &[dep],
            now(),
            &mut fx,
        )
        .unwrap();
        assert_eq!(t.status, TaskStatus::InProgress);
    }

    #[test]
    fn release_to_pending_fences_every_owner() {
        let mut t = task(TaskStatus::InProgress, &["s-a", "s-b"]);
        let mut fx = Effects::default();
        change_status(
            &mut t,
            TaskStatus::Pending,
            false,
            Some("reassigning"),
            &[],
            now(),
            &mut fx,
        )
        .unwrap();
        assert!(t.session_ids.is_empty());
        assert_eq!(t.claim_epoch, 2);
        let released: Vec<_> = fx.claims.iter().filter(|c| c.released.is_some()).collect();
        assert_eq!(released.len(), 2);
        assert_eq!(
            fx.timeline
                .iter()
                .map(|k| k.type_name())
                .collect::<Vec<_>>(),
            ["released", "released", "status_changed"]
        );
    }

    #[test]
    fn one_owner_leaving_restamps_the_others() {
        let mut t = task(TaskStatus::InProgress, &["s-a", "s-b"]);
        let mut fx = Effects::default();
        release_ended_session(&mut t, "s-a", "session lost", now(), &mut fx).unwrap();
        assert_eq!(t.status, TaskStatus::InProgress);
        assert_eq!(t.session_ids, vec!["s-b"]);
        let b = fx.claims.iter().find(|c| c.session_id == "s-b").unwrap();
        assert!(b.is_current(&t));
        let a = fx.claims.iter().find(|c| c.session_id == "s-a").unwrap();
        assert!(!a.is_current(&t));
        // The last owner leaving sends the task back to the queue.
        let mut fx = Effects::default();
        release_ended_session(&mut t, "s-b", "session failed", now(), &mut fx).unwrap();
        assert_eq!(t.status, TaskStatus::Pending);
        // A finished task keeps the session that did it.
        let mut done = task(TaskStatus::Completed, &["s-a"]);
        let mut fx = Effects::default();
        release_ended_session(&mut done, "s-a", "session completed", now(), &mut fx).unwrap();
        assert_eq!(done.session_ids, vec!["s-a"]);
        assert_eq!(fx, Effects::default());
    }

    #[test]
    fn assigning_starts_an_epoch_only_for_an_unowned_task() {
        let mut t = task(TaskStatus::InProgress, &[]);
        let mut fx = Effects::default();
        assign(&mut t, "s-a", &mut fx);
        assert_eq!(t.claim_epoch, 2);
        assign(&mut t, "s-b", &mut fx);
        assert_eq!(t.claim_epoch, 2, "joining shares the epoch");
        assert!(fx.claims.iter().all(|c| c.is_current(&t)));
        let before = fx.clone();
        assign(&mut t, "s-a", &mut fx);
        assert_eq!(fx, before, "an owner is assigned once");
    }

    #[test]
    fn blocking_records_the_reason_and_a_new_reason_again() {
        let mut t = task(TaskStatus::InProgress, &["s-a"]);
        let mut fx = Effects::default();
        change_status(
            &mut t,
            TaskStatus::Blocked,
            false,
            Some("needs a key"),
            &[],
            now(),
            &mut fx,
        )
        .unwrap();
        assert_eq!(t.blocked_reason.as_deref(), Some("needs a key"));
        let mut fx = Effects::default();
        change_status(
            &mut t,
            TaskStatus::Blocked,
            false,
            Some("needs a key"),
            &[],
            now(),
            &mut fx,
        )
        .unwrap();
        assert!(!fx.changed, "the same reason again is a no-op");
        change_status(
            &mut t,
            TaskStatus::Blocked,
            false,
            Some("needs review"),
            &[],
            now(),
            &mut fx,
        )
        .unwrap();
        assert!(fx.changed);
        assert_eq!(t.blocked_reason.as_deref(), Some("needs review"));
        let mut fx = Effects::default();
        change_status(
            &mut t,
            TaskStatus::InProgress,
            false,
            None,
            &[],
            now(),
            &mut fx,
        )
        .unwrap();
        assert!(t.blocked_reason.is_none());
        assert_eq!(t.session_ids, vec!["s-a"], "unblocking keeps the owner");
    }
}
