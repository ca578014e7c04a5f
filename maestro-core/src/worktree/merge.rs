//! The merge engine: one task branch onto one target branch, never in the user's own work
//! tree.
//!
//! A [`MergeJob`] takes a detached worktree of the repository's pool under its
//! `merges/` folder, rebases or squashes the task branch onto the target there, runs the gate (if
//! any), then moves the target with a compare-and-swap `git update-ref <ref> <new> <old>`.
//! If another process moved the target first, the swap fails and the job builds again on
//! the new target. A work tree that has the target checked out is brought along when clean
//! (`read-tree -u -m <old> <new>`); a dirty one makes the merge wait instead.
//!
//! Each step is written to a [`journal`] first, so [`recover`] can finish or
//! roll back a merge whose process died: the target is either before or after, never half.
//! [`MergeJob::step`] runs one step at a time (the caller sees every step, and tests can
//! stop between steps as a crash would); [`MergeJob::run`] runs them all.

use super::flock::{FileLock, io_error};
use super::git::Git;
use super::journal::{self, Decision, Journal, Paths, Step};
use super::plan::{self, Gate, Strategy};
use super::{Repo, Worktrees, pool};
use crate::error::{Code, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a merge waits for another one to finish moving the same target.
const LAND_WAIT: Duration = Duration::from_secs(300);

/// What to merge, where and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeRequest {
    pub task_id: String,
    /// The task branch (without `refs/heads/`).
    pub branch: String,
    /// The target branch (without `refs/heads/`).
    pub target: String,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default)]
    pub gate: Option<Gate>,
    /// The squash commit's message (default names the task and its branch).
    #[serde(default)]
    pub message: Option<String>,
    /// How often to build again when the target moved under the merge (default 5).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn default_attempts() -> u32 {
    plan::DEFAULT_MAX_ATTEMPTS
}

impl MergeRequest {
    pub fn new(task_id: &str, branch: &str, target: &str) -> Self {
        Self {
            task_id: task_id.into(),
            branch: branch.into(),
            target: target.into(),
            strategy: Strategy::Rebase,
            gate: None,
            message: None,
            max_attempts: plan::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// How a merge ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The target now points at `commit` (it was at `previous`).
    #[serde(rename_all = "camelCase")]
    Merged {
        commit: String,
        previous: String,
        /// The task branch's commit that was merged (gc deletes the branch only while it
        /// still points here).
        task_head: String,
        /// The target had the task's change already; nothing moved.
        up_to_date: bool,
        attempts: u32,
        /// Work trees with the target checked out that were brought to `commit`.
        synced: Vec<PathBuf>,
        /// Work trees with the target checked out that could not be brought along.
        stale: Vec<PathBuf>,
    },
    /// The task's change does not apply to the target: these paths conflict.
    #[serde(rename_all = "camelCase")]
    Conflict {
        paths: Vec<String>,
        target_commit: String,
        task_head: String,
        message: String,
    },
    /// The gate failed on the merged tree; `tail` is the end of its output.
    #[serde(rename_all = "camelCase")]
    GateFailed {
        tail: String,
        exit_code: Option<i32>,
        timed_out: bool,
        target_commit: String,
        task_head: String,
    },
    /// The merge cannot land now (e.g. the target's checked-out tree has uncommitted
    /// changes); nothing moved, and running it again later may succeed.
    #[serde(rename_all = "camelCase")]
    Waiting {
        reason: String,
        tree: Option<PathBuf>,
    },
}

impl MergeOutcome {
    pub fn kind(&self) -> &'static str {
        match self {
            MergeOutcome::Merged { .. } => "merged",
            MergeOutcome::Conflict { .. } => "conflict",
            MergeOutcome::GateFailed { .. } => "gate_failed",
            MergeOutcome::Waiting { .. } => "waiting",
        }
    }
}

/// A step a merge went through, for live events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Progress {
    #[serde(rename_all = "camelCase")]
    Prepared {
        merge_id: String,
        target_commit: String,
        task_head: String,
        attempt: u32,
    },
    Built {
        commit: String,
    },
    GateStarted {
        command: String,
    },
    #[serde(rename_all = "camelCase")]
    GatePassed {
        millis: u64,
    },
    Advancing {
        from: String,
        to: String,
    },
    Advanced {
        from: String,
        to: String,
    },
    TreeSynced {
        path: PathBuf,
    },
    /// Another merge moved the target first; building again on `now`.
    TargetMoved {
        now: String,
        attempt: u32,
    },
}

/// One merge in progress. Dropping it mid-way leaves its journal for [`recover`], as a
/// crash would; [`MergeJob::run`] cleans up on errors itself.
#[derive(Debug)]
pub struct MergeJob {
    repo: Repo,
    req: MergeRequest,
    paths: Paths,
    journal: Journal,
    _lock: FileLock,
    land: Option<FileLock>,
    land_lock: PathBuf,
    /// The pooled worktree this merge builds in, and git there.
    slot: pool::Slot,
    slot_git: Git,
    recovered: Vec<Recovered>,
    done: bool,
}

impl MergeJob {
    /// Starts a merge: settles merges of the repository whose process died (see
    /// [`MergeJob::take_recovered`]), resolves both branches, takes a worktree of the
    /// pool and writes the journal. Missing branches are `not_found` errors.
    pub fn begin(worktrees: &Worktrees, repo: &Repo, req: MergeRequest) -> Result<Self> {
        let recovered = recover(worktrees, repo)?;
        plan::validate_task_id(&req.task_id)?;
        if req.branch == req.target {
            return Err(Error::invalid_argument(format!(
                "Cannot merge '{}' into itself",
                req.branch
            ))
            .with_details(json!({ "branch": req.branch }))
            .with_suggestion("Pick another target, e.g. --into main"));
        }
        let old = branch_or_missing(repo, &req.target, "target branch")?;
        let task_head = branch_or_missing(repo, &req.branch, "task branch")?;
        let merges = worktrees.merges_dir(repo);
        let id = new_merge_id();
        let paths = Paths::new(&merges, &id);
        let lock = FileLock::try_acquire(&paths.lock)?
            .ok_or_else(|| Error::internal(format!("merge id {id} is taken")))?;
        let start = match req.strategy {
            Strategy::Rebase => &task_head,
            Strategy::Squash => &old,
        };
        let git = commit_git(&repo.git())?;
        let slot = pool::take(worktrees, repo, &git, start).inspect_err(|_| {
            let _ = std::fs::remove_file(&paths.lock);
        })?;
        let slot_git = git.at_dir(&slot.path);
        let journal = Journal {
            version: journal::VERSION,
            id,
            task_id: req.task_id.clone(),
            branch: req.branch.clone(),
            target: req.target.clone(),
            strategy: req.strategy,
            pid: std::process::id(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            attempt: 1,
            step: Step::Prepared,
            old,
            task_head,
            new: None,
            gate_pid: None,
            trees: Vec::new(),
            worktree: slot.path.clone(),
        };
        journal::write(&paths, &journal)?;
        let land_lock = merges.join(format!(
            "land-{}.lock",
            plan::short_hash(req.target.as_bytes())
        ));
        Ok(Self {
            repo: repo.clone(),
            req,
            paths,
            journal,
            _lock: lock,
            land: None,
            land_lock,
            slot,
            slot_git,
            recovered,
            done: false,
        })
    }

    /// What [`recover`] settled when this merge began: record those outcomes too.
    pub fn take_recovered(&mut self) -> Vec<Recovered> {
        std::mem::take(&mut self.recovered)
    }

    pub fn id(&self) -> &str {
        &self.journal.id
    }

    /// The journal as last written.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Runs every step; on an error the merge is rolled back (or, if the target already
    /// moved, finished) before the error is returned.
    pub fn run(mut self, mut on: impl FnMut(&Progress)) -> Result<MergeOutcome> {
        on(&self.prepared());
        loop {
            match self.step(&mut on) {
                Ok(Some(outcome)) => return Ok(outcome),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return match settle(&self.repo, &self.paths, &self.journal)? {
                        Settled::Landed { synced, stale } => Ok(self.merged(false, synced, stale)),
                        Settled::RolledBack => Err(e),
                    };
                }
            }
        }
    }

    fn prepared(&self) -> Progress {
        Progress::Prepared {
            merge_id: self.journal.id.clone(),
            target_commit: self.journal.old.clone(),
            task_head: self.journal.task_head.clone(),
            attempt: self.journal.attempt,
        }
    }

    /// Runs the next step, reporting what happened to `on`; `Some` when the merge is over
    /// (its journal is gone then and its worktree back in the pool).
    pub fn step(&mut self, on: &mut dyn FnMut(&Progress)) -> Result<Option<MergeOutcome>> {
        if self.done {
            return Err(Error::internal("this merge is over"));
        }
        let outcome = match self.journal.step {
            Step::Prepared => self.build(on)?,
            Step::Built | Step::Gating => self.gate(on)?,
            Step::Gated => self.check_trees(on)?,
            Step::Advancing => self.swap(on)?,
            Step::Advanced => Some(self.sync(on)?),
        };
        if outcome.is_some() {
            self.done = true;
            // The outcome stands even if clean-up fails: the journal then stays behind and
            // the next `recover` settles it again (to the same result) and cleans up.
            let _ = cleanup(&self.paths);
        }
        Ok(outcome)
    }

    fn save(&mut self, step: Step) -> Result<()> {
        self.journal.step = step;
        journal::write(&self.paths, &self.journal)
    }

    /// Rebases or squashes the task's change onto the target in the merge's worktree.
    fn build(&mut self, on: &mut dyn FnMut(&Progress)) -> Result<Option<MergeOutcome>> {
        let git = self.slot_git.clone();
        let (old, head) = (self.journal.old.clone(), self.journal.task_head.clone());
        let start = match self.req.strategy {
            Strategy::Rebase => &head,
            Strategy::Squash => &old,
        };
        if self.journal.attempt > 1 {
            // Building again on a target that moved: back to the start (the pool reset the
            // worktree for the first attempt).
            git.cmd(["checkout", "--quiet", "--detach", "--force"])
                .arg(start)
                .run()?;
            git.cmd(["clean", "-fdq"]).run()?;
        }
        let result = match self.req.strategy {
            Strategy::Rebase => git.cmd(["rebase", "--quiet", "--no-verify"]).arg(&old),
            Strategy::Squash => git
                .cmd(["merge", "--squash", "--quiet", "--no-verify"])
                .arg(&head),
        };
        let out = result.output()?;
        if !out.success() {
            let paths = unmerged_paths(&git)?;
            match self.req.strategy {
                Strategy::Rebase => {
                    let _ = git.cmd(["rebase", "--abort"]).output();
                }
                Strategy::Squash => {
                    let _ = git.cmd(["reset", "--hard", "--quiet"]).output();
                }
            }
            if paths.is_empty() {
                return Err(result.failed(&out));
            }
            return Ok(Some(MergeOutcome::Conflict {
                paths,
                target_commit: old,
                task_head: head,
                message: first_line(&out.stderr, &out.text()),
            }));
        }
        if self.req.strategy == Strategy::Squash
            && !git.cmd(["diff", "--cached", "--quiet"]).check()?
        {
            let message = self.req.message.clone().unwrap_or_else(|| {
                format!(
                    "maestro: merge task {} ({})\n\nMaestro-Task: {}\n",
                    self.req.task_id, self.req.branch, self.req.task_id
                )
            });
            git.cmd(["commit", "--quiet", "--no-verify", "-m"])
                .arg(message)
                .run()?;
        }
        let new = git.cmd(["rev-parse", "HEAD"]).run()?;
        if new == old {
            return Ok(Some(self.merged(true, Vec::new(), Vec::new())));
        }
        on(&Progress::Built {
            commit: new.clone(),
        });
        self.journal.new = Some(new);
        self.save(Step::Built)?;
        Ok(None)
    }

    /// Runs the gate on the built tree, if there is one.
    fn gate(&mut self, on: &mut dyn FnMut(&Progress)) -> Result<Option<MergeOutcome>> {
        let Some(gate) = self.req.gate.clone() else {
            self.save(Step::Gated)?;
            return Ok(None);
        };
        on(&Progress::GateStarted {
            command: gate.command.clone(),
        });
        let started = Instant::now();
        let env = [
            ("MAESTRO_MERGE_TASK_ID", self.req.task_id.clone()),
            ("MAESTRO_MERGE_BRANCH", self.req.branch.clone()),
            ("MAESTRO_MERGE_TARGET", self.req.target.clone()),
            (
                "MAESTRO_MERGE_COMMIT",
                self.journal.new.clone().unwrap_or_default(),
            ),
        ];
        // Written before the gate starts: a merge that dies while the gate runs is known to
        // have left processes working in its worktree.
        self.save(Step::Gating)?;
        let paths = self.paths.clone();
        let tree = self.slot.path.clone();
        let result = run_gate(&gate, &tree, &paths.gate_log, &env, |pid| {
            self.journal.gate_pid = Some(pid);
            self.save(Step::Gating)
        })?;
        self.journal.gate_pid = None;
        if !result.passed {
            return Ok(Some(MergeOutcome::GateFailed {
                tail: result.tail,
                exit_code: result.exit_code,
                timed_out: result.timed_out,
                target_commit: self.journal.old.clone(),
                task_head: self.journal.task_head.clone(),
            }));
        }
        on(&Progress::GatePassed {
            millis: started.elapsed().as_millis() as u64,
        });
        self.save(Step::Gated)?;
        Ok(None)
    }

    /// Finds the work trees with the target checked out; a dirty one makes the merge wait.
    /// From here until the merge is over, it holds the target's landing lock, so merges
    /// that finished building land one after the other.
    fn check_trees(&mut self, on: &mut dyn FnMut(&Progress)) -> Result<Option<MergeOutcome>> {
        if self.land.is_none() {
            self.land = Some(FileLock::acquire(
                &self.land_lock,
                LAND_WAIT,
                "the merge target",
            )?);
        }
        let trees: Vec<PathBuf> = self
            .repo
            .worktrees()?
            .into_iter()
            .filter(|w| w.branch.as_deref() == Some(self.req.target.as_str()) && !w.bare)
            .map(|w| w.path)
            .filter(|p| p.is_dir())
            .collect();
        for tree in &trees {
            let out = Git::at(tree)
                .cmd(["status", "--porcelain", "-z", "--untracked-files=no"])
                .env("GIT_OPTIONAL_LOCKS", "0")
                .run_bytes()?;
            let changes = super::git::parse_status_paths(&out);
            if !changes.is_empty() {
                return Ok(Some(MergeOutcome::Waiting {
                    reason: format!(
                        "'{}' is checked out in {} with {} uncommitted change{} ({}); commit or stash them, then merge again",
                        self.req.target,
                        tree.display(),
                        changes.len(),
                        if changes.len() == 1 { "" } else { "s" },
                        preview(&changes)
                    ),
                    tree: Some(tree.clone()),
                }));
            }
        }
        let new = self.journal.new.clone().unwrap_or_default();
        self.journal.trees = trees;
        self.save(Step::Advancing)?;
        on(&Progress::Advancing {
            from: self.journal.old.clone(),
            to: new,
        });
        Ok(None)
    }

    /// The compare-and-swap of the target.
    fn swap(&mut self, on: &mut dyn FnMut(&Progress)) -> Result<Option<MergeOutcome>> {
        let new = self.journal.new.clone().unwrap_or_default();
        let old = self.journal.old.clone();
        let swap = self
            .repo
            .git()
            .cmd(["update-ref", "-m"])
            .arg(format!(
                "maestro: merge task {} ({})",
                self.req.task_id, self.req.branch
            ))
            .arg(format!("refs/heads/{}", self.req.target))
            .arg(&new)
            .arg(&old);
        let out = swap.output()?;
        if out.success() {
            self.save(Step::Advanced)?;
            on(&Progress::Advanced { from: old, to: new });
            return Ok(None);
        }
        let now = branch_or_missing(&self.repo, &self.req.target, "target branch")?;
        if self.journal.attempt >= self.req.max_attempts.max(1) {
            return Ok(Some(MergeOutcome::Waiting {
                reason: format!(
                    "the target '{}' kept moving: {} attempts, each beaten by another merge; merge again",
                    self.req.target, self.journal.attempt
                ),
                tree: None,
            }));
        }
        self.journal.attempt += 1;
        if now == old {
            // The ref was locked by another git command for a moment: swap again.
            std::thread::sleep(Duration::from_millis(20));
            journal::write(&self.paths, &self.journal)?;
            return Ok(None);
        }
        self.land = None;
        self.journal.old = now.clone();
        self.journal.new = None;
        self.journal.trees.clear();
        self.save(Step::Prepared)?;
        on(&Progress::TargetMoved {
            now,
            attempt: self.journal.attempt,
        });
        on(&self.prepared());
        Ok(None)
    }

    /// Brings the checked-out trees of the target along; if one refuses, the target moves
    /// back (by compare-and-swap) and the merge waits.
    fn sync(&mut self, on: &mut dyn FnMut(&Progress)) -> Result<MergeOutcome> {
        let old = self.journal.old.clone();
        let new = self.journal.new.clone().unwrap_or_default();
        let mut synced = Vec::new();
        for tree in self.journal.trees.clone() {
            match sync_tree(&tree, &self.req.target, &old, &new)? {
                TreeSync::Synced | TreeSync::AlreadyThere => {
                    on(&Progress::TreeSynced { path: tree.clone() });
                    synced.push(tree);
                }
                TreeSync::Blocked(why) => {
                    let back = self
                        .repo
                        .git()
                        .cmd(["update-ref", "-m", "maestro: merge rolled back"])
                        .arg(format!("refs/heads/{}", self.req.target))
                        .arg(&old)
                        .arg(&new)
                        .output()?;
                    if back.success() {
                        for done in &synced {
                            let _ = sync_tree(done, &self.req.target, &new, &old);
                        }
                        return Ok(MergeOutcome::Waiting {
                            reason: format!(
                                "{} (where '{}' is checked out) could not be brought to the merged commit: {why}; the target stays at {}",
                                tree.display(),
                                self.req.target,
                                short(&old)
                            ),
                            tree: Some(tree),
                        });
                    }
                    let stale: Vec<PathBuf> = self
                        .journal
                        .trees
                        .iter()
                        .filter(|t| !synced.contains(t))
                        .cloned()
                        .collect();
                    return Ok(self.merged(false, synced, stale));
                }
            }
        }
        Ok(self.merged(false, synced, Vec::new()))
    }

    fn merged(&self, up_to_date: bool, synced: Vec<PathBuf>, stale: Vec<PathBuf>) -> MergeOutcome {
        MergeOutcome::Merged {
            commit: if up_to_date {
                self.journal.old.clone()
            } else {
                self.journal.new.clone().unwrap_or_default()
            },
            previous: self.journal.old.clone(),
            task_head: self.journal.task_head.clone(),
            up_to_date,
            attempts: self.journal.attempt,
            synced,
            stale,
        }
    }
}

/// Git for the engine's own commits and rebases (no hooks, no prompts).
fn commit_git(git: &Git) -> Result<Git> {
    git.clone().for_commits()
}

fn branch_or_missing(repo: &Repo, branch: &str, what: &str) -> Result<String> {
    if branch.starts_with('-') || branch.is_empty() {
        return Err(Error::invalid_argument(format!(
            "'{branch}' is not a branch name"
        )));
    }
    repo.branch_commit(branch)?.ok_or_else(|| {
        Error::new(
            Code::NotFound,
            format!(
                "The {what} '{branch}' does not exist in {}",
                repo.toplevel.display()
            ),
        )
        .with_details(json!({ "branch": branch, "repo": repo.toplevel }))
        .with_suggestion("Run 'git branch' in the repository to see its branches")
    })
}

fn new_merge_id() -> String {
    let mut bytes = [0u8; 5];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("m-{hex}")
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

fn first_line(stderr: &str, stdout: &str) -> String {
    stderr
        .lines()
        .chain(stdout.lines())
        .find(|l| l.contains("CONFLICT") || l.starts_with("error"))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("the change does not apply")
        .trim()
        .to_string()
}

fn preview(paths: &[String]) -> String {
    let mut s = paths.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if paths.len() > 3 {
        s.push_str(", …");
    }
    s
}

/// The paths with conflicts in a stopped rebase or merge.
fn unmerged_paths(git: &Git) -> Result<Vec<String>> {
    let out = git
        .cmd(["diff", "--name-only", "--diff-filter=U", "-z"])
        .run_bytes()?;
    Ok(super::git::split_z(&out))
}

/// How bringing a checked-out tree along went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TreeSync {
    Synced,
    AlreadyThere,
    Blocked(String),
}

/// Brings a work tree with `target` checked out from `old` to `new` (index and files),
/// keeping any local change git can keep; refuses when its index is at neither commit.
fn sync_tree(tree: &Path, target: &str, old: &str, new: &str) -> Result<TreeSync> {
    let git = Git::at(tree);
    let head = git.cmd(["symbolic-ref", "-q", "HEAD"]).output()?;
    if head.text() != format!("refs/heads/{target}") {
        return Ok(TreeSync::Blocked(format!("it is no longer on '{target}'")));
    }
    let _ = git.cmd(["update-index", "-q", "--refresh"]).output()?;
    if git
        .cmd(["diff-index", "--cached", "--quiet", new, "--"])
        .check()?
    {
        return Ok(TreeSync::AlreadyThere);
    }
    if !git
        .cmd(["diff-index", "--cached", "--quiet", old, "--"])
        .check()?
    {
        return Ok(TreeSync::Blocked("its index has changes of its own".into()));
    }
    let out = git.cmd(["read-tree", "-u", "-m", old, new]).output()?;
    if out.success() {
        Ok(TreeSync::Synced)
    } else {
        Ok(TreeSync::Blocked(
            out.stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("git read-tree refused")
                .trim()
                .to_string(),
        ))
    }
}

/// The result of one gate run.
struct GateRun {
    passed: bool,
    exit_code: Option<i32>,
    timed_out: bool,
    tail: String,
}

/// Runs the gate with `sh -c` in `dir`, its output (stdout and stderr) in `log`, killing its
/// whole process group at the timeout. `started` is told the group's id first.
fn run_gate(
    gate: &Gate,
    dir: &Path,
    log: &Path,
    env: &[(&str, String)],
    started: impl FnOnce(u32) -> Result<()>,
) -> Result<GateRun> {
    use std::os::unix::process::CommandExt;
    let file = std::fs::File::create(log).map_err(|e| io_error("create", log, &e))?;
    let err = file.try_clone().map_err(|e| io_error("open", log, &e))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&gate.command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .process_group(0);
    for k in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.spawn().map_err(|e| {
        Error::internal(format!("cannot start the gate '{}': {e}", gate.command))
            .with_details(json!({ "command": gate.command }))
    })?;
    let pid = child.id();
    if let Err(e) = started(pid) {
        kill_group(pid);
        let _ = child.wait();
        return Err(e);
    }
    let begun = Instant::now();
    let deadline = begun + gate.timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), false),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(pid);
                break (child.wait().ok(), true);
            }
            // Short gates are noticed quickly, long ones cost few wake-ups.
            Ok(None) if begun.elapsed() < Duration::from_millis(200) => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(pid);
                let _ = child.wait();
                return Err(Error::internal(format!("cannot wait for the gate: {e}")));
            }
        }
    };
    // Whatever the gate left running in the background goes too.
    if pool::group_alive(pid) {
        kill_group(pid);
    }
    let mut tail = read_tail(log)?;
    if timed_out {
        tail.push_str(&format!(
            "\n[gate timed out after {} s and was killed]",
            gate.timeout.as_secs_f64()
        ));
    }
    Ok(GateRun {
        passed: !timed_out && status.is_some_and(|s| s.success()),
        exit_code: status.and_then(|s| s.code()),
        timed_out,
        tail,
    })
}

/// Kills a process group (no-op when it is gone).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The end of a log file, as [`plan::tail`] keeps it.
fn read_tail(log: &Path) -> Result<String> {
    let mut f = std::fs::File::open(log).map_err(|e| io_error("open", log, &e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let keep = (plan::TAIL_BYTES * 2) as u64;
    if len > keep {
        f.seek(SeekFrom::Start(len - keep))
            .map_err(|e| io_error("read", log, &e))?;
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| io_error("read", log, &e))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut t = plan::tail(&text, plan::TAIL_LINES, plan::TAIL_BYTES);
    if len > keep && !t.starts_with("[…") {
        t = format!("[… output cut …]\n{t}");
    }
    Ok(t)
}

/// Removes a merge's gate log, journal and lock file, in that order (the journal goes last
/// but the lock, so a crash during clean-up is cleaned up again). Its pooled worktree stays
/// for the next merge.
fn cleanup(paths: &Paths) -> Result<()> {
    // A journal write cut short by a kill leaves its temporary file.
    let partial = format!(".{}.json.", paths.id);
    for e in super::dir_entries(&paths.dir)? {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&partial) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    for f in [&paths.gate_log, &paths.journal, &paths.lock] {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove", f, &e)),
        }
    }
    Ok(())
}

/// How a dead (or failed) merge was settled.
enum Settled {
    Landed {
        synced: Vec<PathBuf>,
        stale: Vec<PathBuf>,
    },
    RolledBack,
}

/// Finishes or rolls back the merge of `journal` (whose lock the caller holds), then cleans
/// up after it.
fn settle(repo: &Repo, paths: &Paths, journal: &Journal) -> Result<Settled> {
    if journal.step == Step::Gating {
        pool::kill_strays_if_free(&journal.worktree)?;
    }
    let new_in_target = match (&journal.new, journal::may_have_landed(journal.step)) {
        (Some(new), true) => match repo.branch_commit(&journal.target)? {
            Some(now) if &now == new => true,
            Some(now) => repo
                .git()
                .cmd(["merge-base", "--is-ancestor", new, &now])
                .check()?,
            None => false,
        },
        _ => false,
    };
    let settled = match journal::decide(journal, new_in_target) {
        Decision::RollBack => Settled::RolledBack,
        Decision::Finish => {
            let new = journal.new.clone().unwrap_or_default();
            let (mut synced, mut stale) = (Vec::new(), Vec::new());
            for tree in &journal.trees {
                match sync_tree(tree, &journal.target, &journal.old, &new) {
                    Ok(TreeSync::Synced | TreeSync::AlreadyThere) => synced.push(tree.clone()),
                    _ => stale.push(tree.clone()),
                }
            }
            Settled::Landed { synced, stale }
        }
    };
    cleanup(paths)?;
    Ok(settled)
}

/// A merge that a dead process left behind, settled by [`recover`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovered {
    pub merge_id: String,
    pub task_id: String,
    pub branch: String,
    pub target: String,
    /// The step the merge had reached.
    pub step: Step,
    /// `Some(Merged)` when the target had moved: record it as merged; `None` when rolled
    /// back: the merge can run again.
    pub outcome: Option<MergeOutcome>,
}

/// Settles every merge of `repo` whose process died: finished when the target already has
/// the merged commit, else rolled back; their journals are removed.
/// Merges still running (their lock is held) are left alone. Call it when a host starts
/// and before merging; [`super::queue::MergeQueue::reconcile`] applies the result.
pub fn recover(worktrees: &Worktrees, repo: &Repo) -> Result<Vec<Recovered>> {
    let dir = worktrees.merges_dir(repo);
    let mut out = Vec::new();
    for id in journal::ids(&dir)? {
        let paths = Paths::new(&dir, &id);
        let Some(_lock) = FileLock::try_acquire(&paths.lock)? else {
            continue; // alive
        };
        let journal = match journal::read(&paths.journal) {
            Ok(Some(j)) => j,
            Ok(None) => {
                // It finished between the listing and the lock.
                let _ = std::fs::remove_file(&paths.lock);
                continue;
            }
            // Journals are written atomically, so this is damage from outside: without
            // knowing the step, leave everything for a person to look at.
            Err(_) => continue,
        };
        let land = dir.join(format!(
            "land-{}.lock",
            plan::short_hash(journal.target.as_bytes())
        ));
        let _land = FileLock::acquire(&land, LAND_WAIT, "the merge target")?;
        let settled = settle(repo, &paths, &journal)?;
        out.push(Recovered {
            merge_id: journal.id.clone(),
            task_id: journal.task_id.clone(),
            branch: journal.branch.clone(),
            target: journal.target.clone(),
            step: journal.step,
            outcome: match settled {
                Settled::RolledBack => None,
                Settled::Landed { synced, stale } => Some(MergeOutcome::Merged {
                    commit: journal.new.clone().unwrap_or_default(),
                    previous: journal.old.clone(),
                    task_head: journal.task_head.clone(),
                    up_to_date: false,
                    attempts: journal.attempt,
                    synced,
                    stale,
                }),
            },
        });
    }
    Ok(out)
}

/// The task ids of the merges of `repo` running now (in any process).
pub fn in_progress(worktrees: &Worktrees, repo: &Repo) -> Result<Vec<String>> {
    let dir = worktrees.merges_dir(repo);
    let mut out = Vec::new();
    for id in journal::ids(&dir)? {
        let paths = Paths::new(&dir, &id);
        if FileLock::try_acquire(&paths.lock)?.is_none()
            && let Some(j) = journal::read(&paths.journal)?
        {
            out.push(j.task_id);
        }
    }
    Ok(out)
}
