//! The merge queue's rules (SPEC §11): which tasks may join a queue and who may ask, where
//! they merge to, and what a merge's outcome does to the task (a `merged` entry, or
//! `blocked` with `merge_conflict` / `gate_failed`, the details and a subtask saying what to
//! resolve).

use crate::error::{Code, Error, Result};
use crate::model::{Task, TaskStatus, TaskWorktree, TimelineKind};
use crate::rules::effects::Effects;
use crate::rules::ownership::Actor;
use crate::worktree::MergeOutcome;
use serde_json::{Value, json};

/// The block reason of a task whose branch does not apply to its target.
pub const MERGE_CONFLICT: &str = "merge_conflict";
/// The block reason of a task whose merged tree failed the gate.
pub const GATE_FAILED: &str = "gate_failed";
/// Finished entries a queue keeps (the newest), for `merge status`.
pub const KEEP_FINISHED: usize = 50;

/// Checks that `actor` may put `task` in the merge queue and returns its worktree. A task
/// joins once it is completed (`force`: also while open, never cancelled); a worker session
/// may only queue a task of its own.
pub fn check_enqueue<'t>(
    task: &'t Task,
    actor: Actor<'_>,
    force: bool,
) -> Result<&'t TaskWorktree> {
    let Some(wt) = task.worktree.as_ref() else {
        return Err(Error::invalid_argument(format!(
            "Task '{}' has no worktree: there is no branch to merge",
            task.id
        ))
        .with_details(json!({ "taskId": task.id, "reason": "no_worktree" }))
        .with_suggestion(
            "Only tasks whose agents ran in a worktree (spawned in a git repository) can be merged",
        ));
    };
    if let Some(s) = actor.session()
        && actor.is_worker()
        && !task.session_ids.contains(&s.id)
        && !s.task_ids.contains(&task.id)
    {
        return Err(Error::new(
            Code::TaskClaimed,
            format!("Session '{}' does not work on task '{}'", s.id, task.id),
        )
        .with_details(json!({ "taskId": task.id, "sessionId": s.id }))
        .with_suggestion("A worker merges only its own task; ask the orchestrator to merge it"));
    }
    let ok = match task.status {
        TaskStatus::Completed => true,
        TaskStatus::Cancelled => false,
        _ => force,
    };
    if !ok {
        let mut e = Error::new(
            Code::InvalidTransition,
            format!(
                "Task '{}' is {}: only completed tasks join the merge queue",
                task.id, task.status
            ),
        )
        .with_details(json!({ "taskId": task.id, "status": task.status }));
        if task.status != TaskStatus::Cancelled {
            e = e.with_suggestion(format!(
                "Complete it first (maestro task complete {}), or merge it anyway with --force",
                task.id
            ));
        }
        return Err(e);
    }
    Ok(wt)
}

/// The branch a task merges into: `into` when given, else config `merge.into`, else the
/// branch its worktree started from.
pub fn target(wt: &TaskWorktree, into: Option<&str>, configured: Option<&str>) -> Result<String> {
    let t = into
        .or(configured)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(wt.base.as_str());
    if t.starts_with('-') || t == wt.branch {
        return Err(Error::invalid_argument(format!(
            "'{t}' cannot be the target of the merge of {}",
            wt.branch
        ))
        .with_details(json!({ "target": t, "branch": wt.branch }))
        .with_suggestion("Name the branch to merge into, e.g. --into main"));
    }
    Ok(t.to_string())
}

/// Only the process that ran a merge (a host or a person's CLI, never a worker session)
/// records its steps and outcome.
pub fn check_recorder(actor: Actor<'_>) -> Result<()> {
    if actor.is_worker() {
        return Err(Error::new(
            Code::InvalidArgument,
            "Worker sessions do not record merges: the merge queue does",
        )
        .with_suggestion("Queue the task with 'maestro merge <task>' instead"));
    }
    Ok(())
}

/// What a failed merge asks of the task's next worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolve {
    pub reason: &'static str,
    pub details: Value,
    pub subtask_title: String,
    pub subtask_description: String,
}

/// What a merge's outcome does to its task: the `merged` entry, or the block and subtask.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Merged(TimelineKind),
    Blocked(Resolve),
    /// Nothing on the task (the merge waits).
    Nothing,
}

/// Decides what `outcome` of the merge of `wt` into `target` does to the task.
pub fn outcome_effects(wt: &TaskWorktree, target: &str, outcome: &MergeOutcome) -> Applied {
    match outcome {
        MergeOutcome::Merged { commit, .. } => Applied::Merged(TimelineKind::Merged {
            target: target.to_string(),
            branch: wt.branch.clone(),
            commit: commit.clone(),
        }),
        MergeOutcome::Conflict {
            paths,
            target_commit,
            task_head,
            message,
        } => Applied::Blocked(Resolve {
            reason: MERGE_CONFLICT,
            details: json!({
                "target": target, "branch": wt.branch, "paths": paths,
                "targetCommit": target_commit, "taskHead": task_head, "message": message,
            }),
            subtask_title: format!(
                "Resolve the merge conflict with {target} in {}",
                list(paths)
            ),
            subtask_description: format!(
                "{branch} does not apply to {target} ({}): in the task's worktree, run \
                 'git rebase {target}', resolve {}, 'git add' them and 'git rebase --continue', \
                 run the tests, then complete the task again so it rejoins the merge queue.",
                &target_commit[..target_commit.len().min(12)],
                list(paths),
                branch = wt.branch,
            ),
        }),
        MergeOutcome::GateFailed {
            tail,
            exit_code,
            timed_out,
            target_commit,
            task_head,
        } => Applied::Blocked(Resolve {
            reason: GATE_FAILED,
            details: json!({
                "target": target, "branch": wt.branch, "tail": tail, "exitCode": exit_code,
                "timedOut": timed_out, "targetCommit": target_commit, "taskHead": task_head,
            }),
            subtask_title: format!("Make the merge gate pass on {target}"),
            subtask_description: format!(
                "{} merged onto {target} fails the gate{}. The end of its output is in the \
                 task's blocked entry. Fix it on {} (rebase on {target} first), then complete \
                 the task again so it rejoins the merge queue.",
                wt.branch,
                if *timed_out { " (it timed out)" } else { "" },
                wt.branch,
            ),
        }),
        MergeOutcome::Waiting { .. } => Applied::Nothing,
    }
}

/// Blocks a task for a failed merge, whatever its status (a completed task's work did not
/// land, so it is open again and its dependents wait): a status change, the `blocked` entry
/// with `details`, and the block reason.
pub fn block(task: &mut Task, reason: &str, details: Value, fx: &mut Effects) {
    let from = task.status;
    if from == TaskStatus::Completed {
        fx.dependents_delta += 1;
        task.completed_at = None;
    }
    if from != TaskStatus::Blocked {
        task.status = TaskStatus::Blocked;
        fx.timeline.push(TimelineKind::StatusChanged {
            from,
            to: TaskStatus::Blocked,
        });
    }
    task.blocked_reason = Some(reason.to_string());
    fx.timeline.push(TimelineKind::Blocked {
        reason: reason.to_string(),
        details: Some(details),
    });
    fx.changed = true;
}

/// Records a merge on the task: the `merged` entry and the merged head (gc removes the
/// worktree while the branch stays there).
pub fn merged(task: &mut Task, entry: TimelineKind, task_head: &str, fx: &mut Effects) {
    if let Some(wt) = task.worktree.as_mut() {
        wt.merged_head = Some(task_head.to_string());
    }
    fx.timeline.push(entry);
    fx.changed = true;
}

/// A merging entry is an orphan when no process merges it and it started longer than
/// `grace_ms` ago (a process between taking the entry and writing its journal is alive).
pub fn is_orphan(started_at: Option<i64>, running: bool, now: i64, grace_ms: i64) -> bool {
    !running && started_at.is_none_or(|t| now - t > grace_ms)
}

fn list(paths: &[String]) -> String {
    let mut s = paths.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if paths.len() > 5 {
        s.push_str(&format!(" and {} more", paths.len() - 5));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Priority, Role, Session, SessionStatus};

    fn task(status: TaskStatus, wt: bool) -> Task {
        let t = "2026-01-01T00:00:00Z".parse().unwrap();
        Task {
            id: "t-1".into(),
            project_id: "p-1".into(),
            title: "x".into(),
            description: String::new(),
            status,
            priority: Priority::Medium,
            dependencies: vec![],
            labels: vec![],
            session_ids: vec!["s-own".into()],
            metadata: Default::default(),
            version: 1,
            claim_epoch: 1,
            blocked_reason: None,
            worktree: wt.then(|| TaskWorktree {
                path: "/h/worktrees/app-1/t-1".into(),
                branch: "maestro/t-1-x".into(),
                base: "main".into(),
                base_commit: None,
                repo: "/src/app".into(),
                merged_head: None,
            }),
            created_at: t,
            updated_at: t,
            started_at: None,
            completed_at: Some(t),
        }
    }

    fn worker(id: &str) -> Session {
        Session::fixture(id, Role::Worker, SessionStatus::Active)
    }

    #[test]
    fn completed_tasks_with_a_worktree_join_the_queue() {
        let done = task(TaskStatus::Completed, true);
        assert!(check_enqueue(&done, Actor::Anonymous, false).is_ok());
        let e = check_enqueue(&task(TaskStatus::Completed, false), Actor::Anonymous, false)
            .unwrap_err();
        assert_eq!(e.details()["reason"], "no_worktree");
        let open = task(TaskStatus::InProgress, true);
        let e = check_enqueue(&open, Actor::Anonymous, false).unwrap_err();
        assert_eq!(e.code(), Code::InvalidTransition);
        assert!(e.suggestion().unwrap().contains("--force"));
        assert!(check_enqueue(&open, Actor::Anonymous, true).is_ok());
        let cancelled = task(TaskStatus::Cancelled, true);
        assert!(check_enqueue(&cancelled, Actor::Anonymous, true).is_err());
        let other = worker("s-other");
        assert_eq!(
            check_enqueue(&done, Actor::Session(&other), false)
                .unwrap_err()
                .code(),
            Code::TaskClaimed
        );
        let own = worker("s-own");
        assert!(check_enqueue(&done, Actor::Session(&own), false).is_ok());
        assert!(check_recorder(Actor::Session(&own)).is_err());
        assert!(check_recorder(Actor::Anonymous).is_ok());
    }

    #[test]
    fn the_target_defaults_to_the_base() {
        let t = task(TaskStatus::Completed, true);
        let wt = t.worktree.as_ref().unwrap();
        assert_eq!(target(wt, None, None).unwrap(), "main");
        assert_eq!(target(wt, None, Some("develop")).unwrap(), "develop");
        assert_eq!(target(wt, Some("rel"), Some("develop")).unwrap(), "rel");
        assert!(target(wt, Some("maestro/t-1-x"), None).is_err());
        assert!(target(wt, Some("-x"), None).is_err());
    }

    #[test]
    fn a_conflict_blocks_a_completed_task_with_paths_and_a_subtask() {
        let mut t = task(TaskStatus::Completed, true);
        let wt = t.worktree.clone().unwrap();
        let outcome = MergeOutcome::Conflict {
            paths: vec!["a.txt".into(), "b.txt".into()],
            target_commit: "c".repeat(40),
            task_head: "h".into(),
            message: "CONFLICT".into(),
        };
        let Applied::Blocked(r) = outcome_effects(&wt, "main", &outcome) else {
            panic!("a conflict blocks");
        };
        assert_eq!(r.reason, MERGE_CONFLICT);
        assert_eq!(r.details["paths"], json!(["a.txt", "b.txt"]));
        assert!(r.subtask_title.contains("a.txt, b.txt"));
        let mut fx = Effects::default();
        block(&mut t, r.reason, r.details, &mut fx);
        assert_eq!(t.status, TaskStatus::Blocked);
        assert_eq!(t.blocked_reason.as_deref(), Some(MERGE_CONFLICT));
        assert_eq!(fx.dependents_delta, 1);
        assert!(t.completed_at.is_none());
        assert_eq!(fx.timeline.len(), 2);
        let gate = MergeOutcome::GateFailed {
            tail: "1 failed".into(),
            exit_code: Some(1),
            timed_out: false,
            target_commit: "c".into(),
            task_head: "h".into(),
        };
        let Applied::Blocked(r) = outcome_effects(&wt, "main", &gate) else {
            panic!("a failed gate blocks");
        };
        assert_eq!(r.reason, GATE_FAILED);
        assert_eq!(r.details["tail"], "1 failed");
        let mut fx = Effects::default();
        block(&mut t, r.reason, r.details, &mut fx);
        assert_eq!(fx.timeline.len(), 1, "already blocked: a new reason only");
        assert_eq!(fx.dependents_delta, 0);
    }

    #[test]
    fn orphans_are_entries_nobody_merges_past_the_grace() {
        assert!(is_orphan(Some(0), false, 10_000, 5_000));
        assert!(!is_orphan(Some(8_000), false, 10_000, 5_000));
        assert!(!is_orphan(Some(0), true, 10_000, 5_000));
        assert!(is_orphan(None, false, 0, 5_000));
    }
}
