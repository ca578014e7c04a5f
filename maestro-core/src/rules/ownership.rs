//! Who may write to a task (SPEC §11).
//!
//! A task in progress (or blocked) belongs to the sessions that claimed or started it. A
//! write by another worker session fails with `task_claimed`, naming the owners. A worker
//! whose claim was released or taken over is fenced off by its claim's epoch and gets
//! `claim_released`, so a revived worker cannot overwrite its successor. People (calls with
//! no session) and orchestrator sessions may act on any task. `--force` overrides, and the
//! override is recorded in the timeline.

use crate::error::{Code, Error, Result};
use crate::model::{Role, Session, Task, TaskStatus};
use crate::rules::effects::Claim;
use serde_json::json;

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A person or script with no session.
    Anonymous,
    /// A registered session.
    Session(&'a Session),
}

impl<'a> Actor<'a> {
    pub fn session(&self) -> Option<&'a Session> {
        match self {
            Actor::Anonymous => None,
            Actor::Session(s) => Some(s),
        }
    }

    pub fn session_id(&self) -> Option<&'a str> {
        self.session().map(|s| s.id.as_str())
    }

    /// A worker session: bound by ownership.
    pub fn is_worker(&self) -> bool {
        self.session().is_some_and(|s| s.role == Role::Worker)
    }
}

/// What a permitted write is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The actor owns the task through a current claim.
    Owner,
    /// Nobody else owns the task, or the actor may act on any task.
    Free,
    /// A worker wrote with `--force` to a task it does not own: record it.
    Override { owners: Vec<String> },
}

/// Whether a task's owners keep others out: while it is being worked on.
fn is_held(task: &Task) -> bool {
    matches!(task.status, TaskStatus::InProgress | TaskStatus::Blocked)
        && !task.session_ids.is_empty()
}

/// Checks a write by `actor` to `task`; `claim` is the actor's claim on the task, if it ever
/// had one.
pub fn check_write(
    task: &Task,
    actor: Actor<'_>,
    claim: Option<&Claim>,
    force: bool,
) -> Result<Access> {
    let Some(session) = actor.session().filter(|_| actor.is_worker()) else {
        return Ok(Access::Free);
    };
    if let Some(c) = claim {
        if c.is_current(task) {
            return Ok(Access::Owner);
        }
        if force {
            return Ok(Access::Override {
                owners: task.session_ids.clone(),
            });
        }
        return Err(claim_released(task, session, c));
    }
    if is_held(task) && !task.session_ids.contains(&session.id) {
        if force {
            return Ok(Access::Override {
                owners: task.session_ids.clone(),
            });
        }
        return Err(task_claimed(task, &session.id));
    }
    Ok(Access::Free)
}

/// What claiming `task` for `session` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPlan {
    /// The session already owns it: return it unchanged (a retried claim succeeds).
    AlreadyOwned,
    /// Pending: start it and make the session its owner.
    Take,
    /// Owned by others and `--force`: release them, then take it.
    TakeOver { owners: Vec<String> },
}

/// Checks a claim of `task` by `session` (any role: an explicit claim is how a session takes
/// work, or takes a released task back).
pub fn check_claim(task: &Task, session: &Session, force: bool) -> Result<ClaimPlan> {
    let owned = task.session_ids.contains(&session.id);
    match task.status {
        TaskStatus::InProgress | TaskStatus::Blocked if owned => Ok(ClaimPlan::AlreadyOwned),
        TaskStatus::InProgress | TaskStatus::Blocked if is_held(task) => {
            if force {
                Ok(ClaimPlan::TakeOver {
                    owners: task.session_ids.clone(),
                })
            } else {
                Err(task_claimed(task, &session.id))
            }
        }
        TaskStatus::Pending => Ok(ClaimPlan::Take),
        other => Err(Error::new(
            Code::InvalidTransition,
            format!(
                "Task '{}' is {other}; only pending tasks can be claimed",
                task.id
            ),
        )
        .with_details(json!({ "taskId": task.id, "status": other, "allowed": ["pending"] }))
        .with_suggestion("See claimable tasks with 'maestro task ready'")),
    }
}

/// The refusal of a write to a task other sessions own.
pub fn task_claimed(task: &Task, session_id: &str) -> Error {
    let owners = task.session_ids.join(", ");
    Error::new(
        Code::TaskClaimed,
        format!(
            "Task '{}' is claimed by {owners} ({}); session '{session_id}' does not own it",
            task.id, task.status
        ),
    )
    .with_details(json!({
        "taskId": task.id,
        "status": task.status,
        "sessionIds": task.session_ids,
        "sessionId": session_id,
    }))
    .with_suggestion(
        "Work on your own task: claim another one with 'maestro task claim --next' (an orchestrator can reassign this one)",
    )
}

/// The refusal of a write by a session whose claim was released or taken over.
pub fn claim_released(task: &Task, session: &Session, claim: &Claim) -> Error {
    let why = claim.released.as_deref().unwrap_or("taken over");
    let again = if task.status == TaskStatus::Pending {
        format!(", or claim it again with 'maestro task claim {}'", task.id)
    } else {
        String::new()
    };
    Error::new(
        Code::ClaimReleased,
        format!(
            "The claim of session '{}' on task '{}' was released ({why}); its writes to the task are refused",
            session.id, task.id
        ),
    )
    .with_details(json!({
        "taskId": task.id,
        "sessionId": session.id,
        "claimEpoch": claim.epoch,
        "taskClaimEpoch": task.claim_epoch,
        "reason": why,
        "status": task.status,
        "sessionIds": task.session_ids,
    }))
    .with_suggestion(format!(
        "Stop working on task '{}': another worker may own it now. Pick new work with 'maestro task claim --next'{again}",
        task.id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, role: Role) -> Session {
        Session::fixture(id, role, crate::SessionStatus::Active)
    }

    fn task(status: TaskStatus, owners: &[&str], epoch: i64) -> Task {
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
            claim_epoch: epoch,
            blocked_reason: None,
            worktree: None,
            created_at: t,
            updated_at: t,
            started_at: None,
            completed_at: None,
        }
    }

    fn claim(session: &str, epoch: i64, released: Option<&str>) -> Claim {
        Claim {
            task_id: "t-1".into(),
            session_id: session.into(),
            epoch,
            released: released.map(str::to_string),
        }
    }

    #[test]
    fn only_owners_write_to_a_task_in_progress() {
        let t = task(TaskStatus::InProgress, &["s-1"], 3);
        let (w1, w2) = (session("s-1", Role::Worker), session("s-2", Role::Worker));
        let c1 = claim("s-1", 3, None);
        assert_eq!(
            check_write(&t, Actor::Session(&w1), Some(&c1), false).unwrap(),
            Access::Owner
        );
        let e = check_write(&t, Actor::Session(&w2), None, false).unwrap_err();
        assert_eq!(e.code(), Code::TaskClaimed);
        assert_eq!(e.details()["sessionIds"], json!(["s-1"]));
        assert!(e.suggestion().unwrap().contains("task claim --next"));
        assert_eq!(e.exit_code(), 4);
        assert_eq!(
            check_write(&t, Actor::Session(&w2), None, true).unwrap(),
            Access::Override {
                owners: vec!["s-1".into()]
            }
        );
        // Blocked tasks stay held; finished and pending ones are free.
        let blocked = task(TaskStatus::Blocked, &["s-1"], 3);
        assert!(check_write(&blocked, Actor::Session(&w2), None, false).is_err());
        for s in [
            TaskStatus::Pending,
            TaskStatus::Completed,
            TaskStatus::Cancelled,
        ] {
            assert_eq!(
                check_write(&task(s, &["s-1"], 3), Actor::Session(&w2), None, false).unwrap(),
                Access::Free
            );
        }
    }

    #[test]
    fn people_and_orchestrators_act_on_any_task() {
        let t = task(TaskStatus::InProgress, &["s-1"], 3);
        let o = session("s-o", Role::Orchestrator);
        assert_eq!(
            check_write(&t, Actor::Anonymous, None, false).unwrap(),
            Access::Free
        );
        assert_eq!(
            check_write(&t, Actor::Session(&o), None, false).unwrap(),
            Access::Free
        );
    }

    #[test]
    fn the_claim_epoch_fences_a_released_worker() {
        let w1 = session("s-1", Role::Worker);
        // Released back to pending: the old owner is refused until it claims again.
        let t = task(TaskStatus::Pending, &[], 4);
        let c = claim("s-1", 3, Some("session lost"));
        let e = check_write(&t, Actor::Session(&w1), Some(&c), false).unwrap_err();
        assert_eq!(e.code(), Code::ClaimReleased);
        assert_eq!(e.details()["claimEpoch"], 3);
        assert_eq!(e.details()["taskClaimEpoch"], 4);
        assert!(e.suggestion().unwrap().contains("maestro task claim t-1"));
        // A stale epoch is refused even if the row was not marked released.
        let t = task(TaskStatus::InProgress, &["s-1"], 5);
        let stale = claim("s-1", 4, None);
        assert_eq!(
            check_write(&t, Actor::Session(&w1), Some(&stale), false)
                .unwrap_err()
                .code(),
            Code::ClaimReleased
        );
        assert!(check_claim(&task(TaskStatus::Pending, &[], 4), &w1, false).is_ok());
    }

    #[test]
    fn claims_take_pending_work_and_take_over_only_with_force() {
        let w1 = session("s-1", Role::Worker);
        let w2 = session("s-2", Role::Worker);
        let t = task(TaskStatus::InProgress, &["s-1"], 1);
        assert_eq!(
            check_claim(&t, &w1, false).unwrap(),
            ClaimPlan::AlreadyOwned
        );
        assert_eq!(
            check_claim(&t, &w2, false).unwrap_err().code(),
            Code::TaskClaimed
        );
        assert_eq!(
            check_claim(&t, &w2, true).unwrap(),
            ClaimPlan::TakeOver {
                owners: vec!["s-1".into()]
            }
        );
        assert_eq!(
            check_claim(&task(TaskStatus::Pending, &[], 0), &w2, false).unwrap(),
            ClaimPlan::Take
        );
        let e = check_claim(&task(TaskStatus::Completed, &[], 1), &w2, false).unwrap_err();
        assert_eq!(e.code(), Code::InvalidTransition);
    }
}
