//! The merge queue of one target branch: plain data the store persists, with the rules of
//! its order as pure functions. Tasks merge one at a time, in the order they joined; a
//! finished entry keeps its result until the task joins again.
//!
//! [`process_next`] is the one function with I/O: it settles dead merges, then merges the
//! queue's head with a [`MergeJob`].

use super::merge::{self, MergeJob, MergeOutcome, MergeRequest, Progress, Recovered};
use super::plan::{Gate, Strategy};
use super::{Repo, Worktrees};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where an entry of the queue stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QueueState {
    /// Waiting for its turn.
    Queued,
    /// Being merged now.
    Merging,
    /// Tried, could not land yet (e.g. the target's tree is dirty); tried again in turn.
    Waiting {
        reason: String,
    },
    Merged {
        commit: String,
    },
    Conflict {
        paths: Vec<String>,
    },
    GateFailed {
        tail: String,
    },
    /// The merge could not run (e.g. the branch is gone).
    Failed {
        code: String,
        message: String,
    },
}

impl QueueState {
    /// Still to be merged (or being merged).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            QueueState::Queued | QueueState::Merging | QueueState::Waiting { .. }
        )
    }

    /// The state a merge's outcome puts an entry in.
    pub fn from_outcome(outcome: &MergeOutcome) -> Self {
        match outcome {
            MergeOutcome::Merged { commit, .. } => QueueState::Merged {
                commit: commit.clone(),
            },
            MergeOutcome::Conflict { paths, .. } => QueueState::Conflict {
                paths: paths.clone(),
            },
            MergeOutcome::GateFailed { tail, .. } => QueueState::GateFailed { tail: tail.clone() },
            MergeOutcome::Waiting { reason, .. } => QueueState::Waiting {
                reason: reason.clone(),
            },
        }
    }
}

/// One task in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntry {
    pub task_id: String,
    pub branch: String,
    /// Used in a squash commit's message.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(flatten)]
    pub state: QueueState,
    /// How many times a merge of it ran.
    #[serde(default)]
    pub runs: u32,
    /// When its current merge started (milliseconds since the epoch), while it is merging:
    /// the store stamps it, so an entry whose process died can be told from a live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
}

/// What [`MergeQueue::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Added,
    /// It had finished (merged, conflict, …) and joins again at the end.
    Requeued,
    /// It is still pending; nothing changed.
    AlreadyQueued,
}

/// The queue of one target branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeQueue {
    pub target: String,
    pub entries: Vec<QueueEntry>,
}

impl MergeQueue {
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            entries: Vec::new(),
        }
    }

    fn position(&self, task_id: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.task_id == task_id)
    }

    pub fn get(&self, task_id: &str) -> Option<&QueueEntry> {
        self.entries.iter().find(|e| e.task_id == task_id)
    }

    /// Puts a task at the end of the queue, unless it is pending already.
    pub fn enqueue(&mut self, task_id: &str, branch: &str, title: Option<&str>) -> Enqueued {
        let how = match self.position(task_id) {
            Some(i) if self.entries[i].state.is_pending() => return Enqueued::AlreadyQueued,
            Some(i) => {
                self.entries.remove(i);
                Enqueued::Requeued
            }
            None => Enqueued::Added,
        };
        self.entries.push(QueueEntry {
            task_id: task_id.into(),
            branch: branch.into(),
            title: title.map(str::to_string),
            state: QueueState::Queued,
            runs: 0,
            started_at: None,
        });
        how
    }

    /// The entry to merge next: the first pending one, unless one is being merged (one at
    /// a time).
    pub fn next(&self) -> Option<&QueueEntry> {
        if self.entries.iter().any(|e| e.state == QueueState::Merging) {
            return None;
        }
        self.entries.iter().find(|e| e.state.is_pending())
    }

    /// The pending entries, in order.
    pub fn pending(&self) -> impl Iterator<Item = &QueueEntry> {
        self.entries.iter().filter(|e| e.state.is_pending())
    }

    /// Marks an entry as being merged.
    pub fn start(&mut self, task_id: &str) -> bool {
        self.set(task_id, QueueState::Merging, true)
    }

    /// Records a merge's outcome.
    pub fn finish(&mut self, task_id: &str, outcome: &MergeOutcome) -> bool {
        self.set(task_id, QueueState::from_outcome(outcome), false)
    }

    /// Records that the merge could not run.
    pub fn fail(&mut self, task_id: &str, error: &Error) -> bool {
        self.set(
            task_id,
            QueueState::Failed {
                code: error.code().as_str().into(),
                message: error.message().into(),
            },
            false,
        )
    }

    fn set(&mut self, task_id: &str, state: QueueState, run: bool) -> bool {
        match self.position(task_id) {
            Some(i) => {
                if state != QueueState::Merging {
                    self.entries[i].started_at = None;
                }
                self.entries[i].state = state;
                if run {
                    self.entries[i].runs += 1;
                }
                true
            }
            None => false,
        }
    }

    /// Puts an entry back in line (its merge's process died, or its merge was rolled back).
    pub fn requeue(&mut self, task_id: &str) -> bool {
        self.set(task_id, QueueState::Queued, false)
    }

    /// Drops a task from the queue (e.g. it was deleted).
    pub fn remove(&mut self, task_id: &str) -> bool {
        self.position(task_id)
            .map(|i| self.entries.remove(i))
            .is_some()
    }

    /// Applies what [`merge::recover`] found: a merge that landed is merged, one rolled back
    /// is queued again.
    pub fn reconcile(&mut self, recovered: &[Recovered]) {
        let target = self.target.clone();
        for r in recovered.iter().filter(|r| r.target == target) {
            let state = match &r.outcome {
                Some(o) => QueueState::from_outcome(o),
                None => QueueState::Queued,
            };
            self.set(&r.task_id, state, false);
        }
    }

    /// Queues again the entries marked as merging that no process is merging (`running`
    /// are the task ids of [`merge::in_progress`]): their process died before it wrote a
    /// journal, or after it removed one but before the outcome was stored. Merging again
    /// is safe: a change the target has already merges as up to date.
    pub fn requeue_orphans(&mut self, running: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for e in &mut self.entries {
            if e.state == QueueState::Merging && !running.contains(&e.task_id) {
                e.state = QueueState::Queued;
                e.started_at = None;
                out.push(e.task_id.clone());
            }
        }
        out
    }

    /// Keeps at most `keep` finished entries (the latest).
    pub fn prune_finished(&mut self, keep: usize) {
        let finished = self
            .entries
            .iter()
            .filter(|e| !e.state.is_pending())
            .count();
        let mut drop = finished.saturating_sub(keep);
        self.entries.retain(|e| {
            if drop > 0 && !e.state.is_pending() {
                drop -= 1;
                false
            } else {
                true
            }
        });
    }
}

/// How the queue merges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSettings {
    pub strategy: Strategy,
    pub gate: Option<Gate>,
    /// 0 means the default.
    pub max_attempts: u32,
}

/// What one [`process_next`] did.
#[derive(Debug)]
pub struct Processed {
    /// Dead merges settled first (already applied to the queue).
    pub recovered: Vec<Recovered>,
    /// The task merged and how it went; `None` when nothing was pending.
    pub merged: Option<(String, Result<MergeOutcome>)>,
}

/// The merge of `entry` into `target` with the queue's settings (a squash commit is named
/// after the task's title).
pub fn request(entry: &QueueEntry, target: &str, settings: &QueueSettings) -> MergeRequest {
    let mut req = MergeRequest::new(&entry.task_id, &entry.branch, target);
    req.strategy = settings.strategy;
    req.gate = settings.gate.clone();
    if settings.max_attempts > 0 {
        req.max_attempts = settings.max_attempts;
    }
    req.message = entry.title.as_ref().map(|t| {
        format!(
            "{t}\n\nMerged by Maestro from {}.\n\nMaestro-Task: {}\n",
            entry.branch, entry.task_id
        )
    });
    req
}

/// Settles dead merges, then merges the queue's next entry; the queue is updated in place
/// (persist it after). Blocking: run it on a blocking thread in async code.
pub fn process_next(
    worktrees: &Worktrees,
    repo: &Repo,
    queue: &mut MergeQueue,
    settings: &QueueSettings,
    on: impl FnMut(&Progress),
) -> Result<Processed> {
    let recovered = merge::recover(worktrees, repo)?;
    queue.reconcile(&recovered);
    let Some(entry) = queue.next().cloned() else {
        return Ok(Processed {
            recovered,
            merged: None,
        });
    };
    queue.start(&entry.task_id);
    let req = request(&entry, &queue.target, settings);
    let mut recovered = recovered;
    let result = MergeJob::begin(worktrees, repo, req).and_then(|mut job| {
        let late = job.take_recovered();
        queue.reconcile(&late);
        recovered.extend(late);
        job.run(on)
    });
    match &result {
        Ok(o) => queue.finish(&entry.task_id, o),
        Err(e) => queue.fail(&entry.task_id, e),
    };
    Ok(Processed {
        recovered,
        merged: Some((entry.task_id, result)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    fn merged(commit: &str) -> MergeOutcome {
        MergeOutcome::Merged {
            commit: commit.into(),
            previous: "p".into(),
            task_head: "h".into(),
            up_to_date: false,
            attempts: 1,
            synced: vec![],
            stale: vec![],
        }
    }

    #[test]
    fn tasks_merge_one_at_a_time_in_order() {
        let mut q = MergeQueue::new("main");
        assert_eq!(q.enqueue("t-1", "maestro/t-1-a", None), Enqueued::Added);
        assert_eq!(q.enqueue("t-2", "maestro/t-2-b", None), Enqueued::Added);
        assert_eq!(
            q.enqueue("t-1", "maestro/t-1-a", None),
            Enqueued::AlreadyQueued
        );
        assert_eq!(q.next().unwrap().task_id, "t-1");
        q.start("t-1");
        assert!(q.next().is_none(), "one merge at a time");
        q.finish("t-1", &merged("c1"));
        assert_eq!(q.next().unwrap().task_id, "t-2");
        q.start("t-2");
        q.finish(
            "t-2",
            &MergeOutcome::Conflict {
                paths: vec!["a.txt".into()],
                target_commit: "c1".into(),
                task_head: "h2".into(),
                message: "x".into(),
            },
        );
        assert!(q.next().is_none());
        assert_eq!(
            q.get("t-2").unwrap().state,
            QueueState::Conflict {
                paths: vec!["a.txt".into()]
            }
        );
        // Resolved: it joins again at the end.
        q.enqueue("t-3", "maestro/t-3-c", None);
        assert_eq!(q.enqueue("t-2", "maestro/t-2-b", None), Enqueued::Requeued);
        let order: Vec<&str> = q.pending().map(|e| e.task_id.as_str()).collect();
        assert_eq!(order, vec!["t-3", "t-2"]);
    }

    #[test]
    fn a_waiting_head_keeps_its_place() {
        let mut q = MergeQueue::new("main");
        q.enqueue("t-1", "b1", None);
        q.enqueue("t-2", "b2", None);
        q.start("t-1");
        q.finish(
            "t-1",
            &MergeOutcome::Waiting {
                reason: "dirty".into(),
                tree: None,
            },
        );
        assert_eq!(q.next().unwrap().task_id, "t-1");
        assert_eq!(q.get("t-1").unwrap().runs, 1);
        q.fail("t-1", &Error::new(Code::NotFound, "branch gone"));
        assert_eq!(q.next().unwrap().task_id, "t-2");
    }

    #[test]
    fn dead_merges_are_reconciled() {
        let mut q = MergeQueue::new("main");
        for t in ["t-1", "t-2", "t-3"] {
            q.enqueue(t, &format!("maestro/{t}"), None);
            q.start(t);
        }
        let rec = |task: &str, outcome: Option<MergeOutcome>| Recovered {
            merge_id: "m-1".into(),
            task_id: task.into(),
            branch: format!("maestro/{task}"),
            target: "main".into(),
            step: crate::worktree::journal::Step::Advanced,
            outcome,
        };
        q.reconcile(&[rec("t-1", Some(merged("c9"))), rec("t-2", None)]);
        assert_eq!(
            q.get("t-1").unwrap().state,
            QueueState::Merged {
                commit: "c9".into()
            }
        );
        assert_eq!(q.get("t-2").unwrap().state, QueueState::Queued);
        assert_eq!(q.get("t-3").unwrap().state, QueueState::Merging);
        assert!(q.requeue_orphans(&["t-3".to_string()]).is_empty());
        assert_eq!(q.requeue_orphans(&[]), vec!["t-3"]);
        assert_eq!(q.next().unwrap().task_id, "t-2");
    }

    #[test]
    fn the_state_serialises_flat_and_old_results_are_pruned() {
        let mut q = MergeQueue::new("main");
        q.enqueue("t-1", "b1", Some("Add login"));
        q.finish("t-1", &merged("c1"));
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(v["entries"][0]["state"], "merged");
        assert_eq!(v["entries"][0]["commit"], "c1");
        assert_eq!(v["entries"][0]["taskId"], "t-1");
        let back: MergeQueue = serde_json::from_value(v).unwrap();
        assert_eq!(back, q);
        q.enqueue("t-2", "b2", None);
        q.finish("t-2", &merged("c2"));
        q.enqueue("t-3", "b3", None);
        q.prune_finished(1);
        let left: Vec<&str> = q.entries.iter().map(|e| e.task_id.as_str()).collect();
        assert_eq!(left, vec!["t-2", "t-3"]);
        assert!(q.remove("t-3") && !q.remove("t-3"));
    }
}
