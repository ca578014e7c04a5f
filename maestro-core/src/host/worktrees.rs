//! The host's side of worktrees and the merge queue (SPEC §11): a worker spawned in a git
//! repository runs in its task's worktree ([`prepare`]), what it leaves is committed when its
//! session ends ([`release`]), and [`MergeRunner`] merges the queues one task at a time,
//! reporting every step to the store. The git work is [`crate::worktree`]'s, on blocking
//! threads; the store is reached through the [`Maestro`] facade, so this runs the same on a
//! local store and against a server.

use crate::error::{Code, Error, Result};
use crate::facade::Maestro;
use crate::model::*;
use crate::rules::merge as rule;
use crate::store::*;
use crate::worktree::{
    self, MergeJob, MergeOutcome, Progress, QueueState, Recovered, Repo, Settings, Worktrees,
    queue::QueueSettings,
};
use std::path::{Path, PathBuf};

/// A worktree a session holds: committed and unlocked when the session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub task_id: String,
    pub path: PathBuf,
    pub repo: PathBuf,
}

/// Runs blocking git work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("a git worker thread failed: {e}")))?
}

/// Creates or reuses the worktree of the session's task when `cwd` is inside a git
/// repository, records it on the task, checks it and locks it for the session. `None` when
/// worktrees are off (config, `--no-worktree`), the session is not a worker of one task, or
/// `cwd` is not in a repository: the agent then runs in `cwd` as it is.
pub async fn prepare(
    m: &Maestro,
    settings: &Settings,
    home: &Path,
    session: &Session,
    cwd: &Path,
) -> Result<Option<Held>> {
    let [task_id] = &session.task_ids[..] else {
        return Ok(None);
    };
    if !settings.enabled || session.no_worktree || session.role != Role::Worker {
        return Ok(None);
    }
    let task = m.get_task(task_id).await?.task;
    let (home, settings, cwd) = (home.to_path_buf(), settings.clone(), cwd.to_path_buf());
    let sid = session.id.clone();
    let t = task.clone();
    let made = blocking(move || {
        let repo = match Repo::discover(&cwd) {
            Ok(r) => r,
            Err(e) if e.code() == Code::NotARepository => return Ok(None),
            Err(e) => return Err(e),
        };
        let wts = Worktrees::open(&home)?;
        let same_repo = t.worktree.as_ref().filter(|w| {
            Repo::discover(Path::new(&w.repo)).is_ok_and(|r| r.common_dir == repo.common_dir)
        });
        let req = worktree::WorktreeRequest {
            task_id: t.id.clone(),
            project_id: t.project_id.clone(),
            title: t.title.clone(),
            base: same_repo
                .map(|w| w.base.clone())
                .or_else(|| settings.base.clone()),
            branch: same_repo.map(|w| w.branch.clone()),
            include: settings.include.clone(),
        };
        let made = wts.ensure(&repo, &req)?;
        worktree::verify(&made.path, &made.branch)?;
        repo.lock_worktree(
            &made.path,
            &format!("maestro session {sid} holds task {}", t.id),
        )?;
        Ok(Some((repo, made)))
    })
    .await?;
    let Some((repo, made)) = made else {
        return Ok(None);
    };
    let record = TaskWorktree {
        path: made.path.display().to_string(),
        branch: made.branch.clone(),
        base: made.base.clone(),
        base_commit: Some(made.base_commit.clone()),
        repo: repo.toplevel.display().to_string(),
        merged_head: task.worktree.as_ref().and_then(|w| w.merged_head.clone()),
    };
    if task.worktree.as_ref() != Some(&record) {
        m.set_task_worktree(&OpContext::default(), &task.id, Some(record))
            .await?;
    }
    Ok(Some(Held {
        task_id: task.id,
        path: made.path,
        repo: repo.toplevel,
    }))
}

/// After a session ended: commits what it left in its worktree on the task branch (a
/// comment on the task names the commit), unlocks the worktree, and with `merge.auto`
/// queues a completed task for merging. Returns the commit, if one was made.
pub async fn release(
    m: &Maestro,
    settings: &Settings,
    session_id: &str,
    held: &Held,
) -> Result<Option<String>> {
    let (h, sid) = (held.clone(), session_id.to_string());
    let commit = blocking(move || {
        let commit = worktree::commit_pending(&h.path, &h.task_id, &sid);
        let unlocked = Repo::discover(&h.repo).and_then(|r| r.unlock_worktree(&h.path));
        let commit = commit?;
        unlocked?;
        Ok(commit)
    })
    .await?;
    let op = OpContext::default();
    if let Some(c) = &commit {
        m.add_comment(
            &op,
            &held.task_id,
            "maestro",
            &format!(
                "Committed what session {session_id} left in its worktree: {} on its branch",
                &c[..c.len().min(12)]
            ),
        )
        .await?;
    }
    if settings.auto {
        let task = m.get_task(&held.task_id).await?.task;
        if task.status == TaskStatus::Completed && task.worktree.is_some() {
            m.enqueue_merge(
                &op,
                MergeEnqueue {
                    task_id: task.id,
                    configured_into: settings.into.clone(),
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    Ok(commit)
}

/// One merge the runner ran (or settled for a dead process).
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub project_id: String,
    pub task_id: String,
    pub target: String,
    pub result: MergeResult,
}

/// Merges the pending entries of the merge queues, one task at a time per target: takes
/// the head from the store (so of two runners one gets it; the other finds nothing and
/// tries again later), merges it with a [`MergeJob`] on a blocking thread, reports every
/// step (`merge:step`) and the outcome. Merges a dead process left are finished or rolled
/// back first ([`worktree::recover`]), and entries no process works on go back in line.
#[derive(Clone)]
pub struct MergeRunner {
    m: Maestro,
    home: PathBuf,
    settings: Settings,
}

impl MergeRunner {
    pub fn new(m: Maestro, home: PathBuf, settings: Settings) -> Self {
        Self { m, home, settings }
    }

    /// Runs the queues of a project (every project with `None`) until none has an entry to
    /// merge now (a waiting head stays for the next run).
    pub async fn run_pending(&self, project_id: Option<&str>) -> Result<Vec<Ran>> {
        let mut ran = Vec::new();
        for pq in self.m.merge_queues(project_id).await? {
            if pq.queue.pending().next().is_none() {
                continue;
            }
            self.settle(&pq, &mut ran).await?;
            self.drain(&pq.project_id, &pq.queue.target, &mut ran)
                .await?;
        }
        Ok(ran)
    }

    /// Settles dead merges of the queue's repositories and requeues orphaned entries.
    async fn settle(&self, pq: &ProjectQueue, ran: &mut Vec<Ran>) -> Result<()> {
        let target = pq.queue.target.clone();
        for e in pq
            .queue
            .entries
            .iter()
            .filter(|e| e.state == QueueState::Merging)
        {
            let Some(repo) = self.repo_of(&e.task_id).await? else {
                continue;
            };
            let home = self.home.clone();
            let (recovered, running) = blocking(move || {
                let wts = Worktrees::open(&home)?;
                let recovered = worktree::recover(&wts, &repo)?;
                let running = worktree::merge::in_progress(&wts, &repo)?;
                Ok((recovered, running))
            })
            .await?;
            self.apply_recovered(&pq.project_id, &recovered, ran)
                .await?;
            if recovered.iter().any(|r| r.task_id == e.task_id) {
                continue;
            }
            let now = chrono::Utc::now().timestamp_millis();
            let alive = running.contains(&e.task_id);
            if rule::is_orphan(e.started_at, alive, now, crate::engine::ORPHAN_GRACE_MS) {
                self.finish(
                    &pq.project_id,
                    &e.task_id,
                    &target,
                    MergeResult::Requeue,
                    ran,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn apply_recovered(
        &self,
        project_id: &str,
        recovered: &[Recovered],
        ran: &mut Vec<Ran>,
    ) -> Result<()> {
        for r in recovered {
            let result = match &r.outcome {
                Some(o) => MergeResult::Outcome { outcome: o.clone() },
                None => MergeResult::Requeue,
            };
            // The entry may have been recorded already (the process died after that).
            match self
                .finish(project_id, &r.task_id, &r.target, result, ran)
                .await
            {
                Ok(()) => {}
                Err(e) if e.code() == Code::InvalidArgument || e.code() == Code::TaskNotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn finish(
        &self,
        project_id: &str,
        task_id: &str,
        target: &str,
        result: MergeResult,
        ran: &mut Vec<Ran>,
    ) -> Result<()> {
        match self
            .m
            .finish_merge(&OpContext::default(), task_id, target, result.clone())
            .await
        {
            Ok(_) => {}
            // The task was deleted (and left its queue), or its entry was recorded already
            // (the process that ran it died after that): nothing left to record.
            Err(e) if e.code() == Code::TaskNotFound || e.code() == Code::InvalidArgument => {
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        ran.push(Ran {
            project_id: project_id.to_string(),
            task_id: task_id.to_string(),
            target: target.to_string(),
            result,
        });
        Ok(())
    }

    /// The main work tree of a task's repository, if the task has a worktree.
    async fn repo_of(&self, task_id: &str) -> Result<Option<Repo>> {
        let task = match self.m.get_task(task_id).await {
            Ok(t) => t.task,
            Err(e) if e.code() == Code::TaskNotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(wt) = task.worktree else {
            return Ok(None);
        };
        Ok(Some(
            blocking(move || Repo::discover(Path::new(&wt.repo))).await?,
        ))
    }

    /// Merges the queue's entries one after the other until none can go now.
    async fn drain(&self, project_id: &str, target: &str, ran: &mut Vec<Ran>) -> Result<()> {
        let op = OpContext::default();
        loop {
            let Some(entry) = self.m.start_merge(&op, project_id, target).await? else {
                return Ok(());
            };
            let repo = match self.repo_of(&entry.task_id).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    let result = MergeResult::Error {
                        code: Code::NotFound.as_str().into(),
                        message: format!("task {} has no worktree to merge", entry.task_id),
                    };
                    self.finish(project_id, &entry.task_id, target, result, ran)
                        .await?;
                    continue;
                }
                Err(e) => {
                    let result = MergeResult::Error {
                        code: e.code().as_str().into(),
                        message: e.message().into(),
                    };
                    self.finish(project_id, &entry.task_id, target, result, ran)
                        .await?;
                    continue;
                }
            };
            let settings = QueueSettings {
                strategy: self.settings.strategy,
                gate: self.settings.gate.clone(),
                max_attempts: 0,
            };
            let req = worktree::queue::request(&entry, target, &settings);
            let home = self.home.clone();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
            let job = tokio::task::spawn_blocking(move || {
                let wts = Worktrees::open(&home)?;
                let mut job = MergeJob::begin(&wts, &repo, req)?;
                let late = job.take_recovered();
                let outcome = job.run(|p| {
                    let _ = tx.send(p.clone());
                });
                Ok::<_, Error>((late, outcome))
            });
            while let Some(step) = rx.recv().await {
                // A step that cannot be reported does not stop the merge.
                let _ = self.m.merge_step(&op, &entry.task_id, target, step).await;
            }
            let joined = job
                .await
                .map_err(|e| Error::internal(format!("the merge thread failed: {e}")))?;
            let (late, outcome) = match joined {
                Ok(v) => v,
                Err(e) => (Vec::new(), Err(e)),
            };
            self.apply_recovered(project_id, &late, ran).await?;
            let waiting = matches!(outcome, Ok(MergeOutcome::Waiting { .. }));
            let result = match outcome {
                Ok(outcome) => MergeResult::Outcome { outcome },
                Err(e) => MergeResult::Error {
                    code: e.code().as_str().into(),
                    message: e.message().into(),
                },
            };
            self.finish(project_id, &entry.task_id, target, result, ran)
                .await?;
            if waiting {
                return Ok(());
            }
        }
    }
}
