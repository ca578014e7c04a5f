//! Git worktrees per task and the merge queue that brings their work back (SPEC §11).
//!
//! Everything here runs the real `git` binary on plain data the caller passes in and hands
//! back plain data; nothing touches the store. The blocking calls (git processes, the gate)
//! belong on a blocking thread in async code (`tokio::task::spawn_blocking`).
//!
//! - [`Repo::discover`] finds the repository of a directory.
//! - [`Worktrees::ensure`] creates (or reuses) the worktree of a task under
//!   `$MAESTRO_HOME/worktrees/<repo>-<hash>/<task-id>` on branch `maestro/<task-id>-<slug>`,
//!   serialised per repository; [`Repo::lock_worktree`] / [`Repo::unlock_worktree`] mark it
//!   held; [`verify`] checks a worktree is what it claims before an agent starts in it.
//! - [`commit_pending`] commits whatever a session left (nothing lost).
//! - [`merge::MergeJob`] merges one task branch onto a target in a detached worktree of the
//!   repository's pool (never the user's tree), with a
//!   journal so a killed merge is finished or rolled back by [`merge::recover`];
//!   [`queue::MergeQueue`] orders the merges of one target.
//! - [`Worktrees::list`] and [`Worktrees::gc`] compare the store's records with git and the
//!   disk; [`plan::plan_gc`] decides, [`Worktrees::apply_gc`] acts.

mod flock;
pub mod gc;
pub mod git;
pub mod journal;
pub mod merge;
pub mod plan;
mod pool;
pub mod queue;

use crate::error::{Code, Error, Result};
use flock::{FileLock, io_error};
use git::{Git, ListedWorktree, parse_worktree_list};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use journal::Step;
pub use merge::{MergeJob, MergeOutcome, MergeRequest, Progress, Recovered, recover};
pub use plan::{
    Gate, GcAction, GcPlan, Kept, Settings, Strategy, WorktreeInfo, WorktreeRecord, WorktreeState,
};
pub use queue::{MergeQueue, QueueEntry, QueueState};

/// The file in a worktree's git folder that marks it as Maestro's.
const MARKER: &str = "maestro.json";
/// The file in a repository's worktrees folder naming the repository.
const REPO_FILE: &str = "repo.json";
/// How long adding or removing a worktree waits for another process doing so in the same
/// repository.
const ADMIN_WAIT: Duration = Duration::from_secs(120);

/// What a repository's `HEAD` is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Head {
    Branch {
        name: String,
        commit: String,
    },
    Detached {
        commit: String,
    },
    /// A branch without commits yet (a fresh `git init`).
    Unborn {
        name: String,
    },
}

/// A git repository found from a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repo {
    /// The work tree holding the directory (canonical).
    pub toplevel: PathBuf,
    /// The repository's common git folder (canonical), the same from each of its worktrees.
    pub common_dir: PathBuf,
    /// The repository's name: its folder name without `.git`.
    pub name: String,
    /// `HEAD` of the work tree holding the directory.
    pub head: Head,
}

impl Repo {
    /// The repository of `dir`: clear errors outside a repository, in a bare repository or
    /// inside a `.git` folder.
    pub fn discover(dir: &Path) -> Result<Repo> {
        if !dir.is_dir() {
            return Err(
                Error::invalid_argument(format!("'{}' is not a directory", dir.display()))
                    .with_details(json!({ "path": dir }))
                    .with_suggestion("Pass the folder of an existing git repository"),
            );
        }
        let git = Git::at(dir);
        let probe = git.cmd([
            "rev-parse",
            "--is-bare-repository",
            "--is-inside-work-tree",
            "--path-format=absolute",
            "--git-common-dir",
        ]);
        let out = probe.output()?;
        if !out.success() {
            if out.stderr.contains("not a git repository") {
                return Err(not_a_repository(
                    dir,
                    format!("'{}' is not inside a git repository", dir.display()),
                    "Run it from inside a git repository, create one with 'git init', or turn worktrees off (--no-worktree, or maestro config set worktree.enabled false)",
                ));
            }
            return Err(probe.failed(&out));
        }
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        let [bare, inside, common] = lines[..] else {
            return Err(Error::new(
                Code::GitFailed,
                format!("unexpected answer from git rev-parse: {text:?}"),
            ));
        };
        if bare == "true" {
            return Err(not_a_repository(
                dir,
                format!(
                    "'{}' is a bare repository: it has no working tree",
                    dir.display()
                ),
                "Run it from a clone with a working tree ('git clone <bare> <folder>'), or turn worktrees off",
            ));
        }
        if inside != "true" {
            return Err(not_a_repository(
                dir,
                format!(
                    "'{}' is inside a .git folder, not a working tree",
                    dir.display()
                ),
                "Run it from the repository's working tree, not its .git folder",
            ));
        }
        let toplevel = canonical(Path::new(&git.cmd(["rev-parse", "--show-toplevel"]).run()?))?;
        let common_dir = canonical(Path::new(common))?;
        let git = Git::at(&toplevel);
        let symbolic = git.cmd(["symbolic-ref", "-q", "HEAD"]).output()?;
        let commit = git
            .cmd(["rev-parse", "-q", "--verify", "HEAD^{commit}"])
            .output()?;
        let commit = commit.success().then(|| commit.text());
        let head = match (symbolic.success(), commit) {
            (true, Some(commit)) => Head::Branch {
                name: short_branch(&symbolic.text()),
                commit,
            },
            (true, None) => Head::Unborn {
                name: short_branch(&symbolic.text()),
            },
            (false, Some(commit)) => Head::Detached { commit },
            (false, None) => {
                return Err(Error::new(
                    Code::GitFailed,
                    format!("cannot read HEAD in {}", toplevel.display()),
                ));
            }
        };
        Ok(Repo {
            name: plan::repo_name(&common_dir),
            toplevel,
            common_dir,
            head,
        })
    }

    /// Git in the repository's work tree.
    pub fn git(&self) -> Git {
        Git::at(&self.toplevel)
    }

    /// `(name, commit)` of a base: `base` when given (a branch, tag or commit), else the
    /// branch `HEAD` is on. A detached or unborn `HEAD` and an unknown base are errors.
    pub fn resolve_base(&self, base: Option<&str>) -> Result<(String, String)> {
        let Some(base) = base.map(str::trim).filter(|b| !b.is_empty()) else {
            return match &self.head {
                Head::Branch { name, commit } => Ok((name.clone(), commit.clone())),
                Head::Detached { commit } => Err(Error::invalid_argument(format!(
                    "HEAD is detached at {} in {}: there is no branch to start task branches from",
                    &commit[..commit.len().min(12)],
                    self.toplevel.display()
                ))
                .with_details(json!({ "repo": self.toplevel, "reason": "detached_head", "commit": commit }))
                .with_suggestion(
                    "Check out a branch ('git switch main'), or set the base: maestro config set worktree.base main",
                )),
                Head::Unborn { name } => Err(Error::invalid_argument(format!(
                    "The repository {} has no commits yet (branch '{name}' is unborn)",
                    self.toplevel.display()
                ))
                .with_details(json!({ "repo": self.toplevel, "reason": "unborn_head" }))
                .with_suggestion("Make a first commit, e.g. git commit --allow-empty -m init")),
            };
        };
        let missing = || {
            Error::new(
                Code::NotFound,
                format!(
                    "The base '{base}' does not exist in {}",
                    self.toplevel.display()
                ),
            )
            .with_details(json!({ "base": base, "repo": self.toplevel }))
            .with_suggestion(
                "Use an existing branch, tag or commit ('git branch -a' lists branches), or unset it: maestro config unset worktree.base",
            )
        };
        if base.starts_with('-') {
            return Err(missing());
        }
        let out = self
            .git()
            .cmd(["rev-parse", "-q", "--verify"])
            .arg(format!("{base}^{{commit}}"))
            .output()?;
        if out.success() {
            Ok((base.to_string(), out.text()))
        } else {
            Err(missing())
        }
    }

    /// The commit a local branch points to, if it exists.
    pub fn branch_commit(&self, branch: &str) -> Result<Option<String>> {
        let out = self
            .git()
            .cmd(["rev-parse", "-q", "--verify"])
            .arg(format!("refs/heads/{branch}^{{commit}}"))
            .output()?;
        Ok(out.success().then(|| out.text()))
    }

    /// `git worktree list --porcelain`.
    pub fn worktrees(&self) -> Result<Vec<ListedWorktree>> {
        list_worktrees(&self.git())
    }

    /// The listed worktree at `path`, comparing canonical paths.
    fn listed(&self, path: &Path) -> Result<Option<ListedWorktree>> {
        let want = canonical_or_same(path);
        Ok(self
            .worktrees()?
            .into_iter()
            .find(|w| canonical_or_same(&w.path) == want))
    }

    /// Locks a worktree (`git worktree lock --reason`), e.g. while a session holds its task:
    /// `git worktree prune` and `maestro worktree gc` leave it alone. Locking again with
    /// another reason replaces the reason.
    pub fn lock_worktree(&self, path: &Path, reason: &str) -> Result<()> {
        let w = self
            .listed(path)?
            .ok_or_else(|| not_a_worktree(self, path))?;
        match w.locked.as_deref() {
            Some(r) if r == reason => return Ok(()),
            Some(_) => {
                self.git().cmd(["worktree", "unlock"]).arg(&w.path).run()?;
            }
            None => {}
        }
        self.git()
            .cmd(["worktree", "lock", "--reason", reason])
            .arg(&w.path)
            .run()?;
        Ok(())
    }

    /// Unlocks a worktree; unlocking one that is not locked does nothing.
    pub fn unlock_worktree(&self, path: &Path) -> Result<()> {
        let w = self
            .listed(path)?
            .ok_or_else(|| not_a_worktree(self, path))?;
        if w.locked.is_some() {
            self.git().cmd(["worktree", "unlock"]).arg(&w.path).run()?;
        }
        Ok(())
    }
}

/// `git worktree list --porcelain`, tried again a few times: it fails while another process
/// is half-way through adding a worktree.
pub(crate) fn list_worktrees(git: &Git) -> Result<Vec<ListedWorktree>> {
    let mut tries = 0;
    loop {
        match git
            .cmd(["worktree", "list", "--porcelain", "-z"])
            .run_bytes()
        {
            Ok(out) => return Ok(parse_worktree_list(&out)),
            Err(_) if tries < 5 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20 << tries));
            }
            Err(e) => return Err(e),
        }
    }
}

fn short_branch(full_ref: &str) -> String {
    full_ref
        .strip_prefix("refs/heads/")
        .unwrap_or(full_ref)
        .to_string()
}

fn not_a_repository(dir: &Path, message: String, suggestion: &str) -> Error {
    Error::new(Code::NotARepository, message)
        .with_details(json!({ "path": dir }))
        .with_suggestion(suggestion)
}

fn not_a_worktree(repo: &Repo, path: &Path) -> Error {
    Error::new(
        Code::NotFound,
        format!(
            "'{}' is not a worktree of {}",
            path.display(),
            repo.toplevel.display()
        ),
    )
    .with_details(json!({ "path": path, "repo": repo.toplevel }))
    .with_suggestion("Run 'git worktree list' in the repository to see its worktrees")
}

/// The entries of a folder; none when it does not exist.
pub(crate) fn dir_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(e) => Ok(e.flatten().collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error("read", dir, &e)),
    }
}

/// The canonical form of a path that must exist.
fn canonical(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| io_error("resolve", p, &e))
}

/// The canonical form of a path, or the path itself when it does not exist (any more).
fn canonical_or_same(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What [`Worktrees::ensure`] needs to know of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeRequest {
    pub task_id: String,
    /// Recorded in Maestro's marker: gc only treats a worktree as its task's when the
    /// caller's store knows this project.
    pub project_id: String,
    /// The branch's slug comes from it.
    pub title: String,
    /// What the branch starts from: a branch, tag or commit (default: the repository's HEAD).
    pub base: Option<String>,
    /// The branch the task already has (recorded by the store); reused as it is.
    pub branch: Option<String>,
    /// Ignored files to copy from the repository's work tree (`worktree.include`).
    pub include: Vec<PathBuf>,
}

/// A task's worktree, as the task records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    /// The base as named (`main`, a tag, a commit).
    pub base: String,
    /// The commit the branch started from.
    pub base_commit: String,
    /// False when an existing worktree was reused.
    pub created: bool,
    /// `worktree.include` entries copied in.
    #[serde(default)]
    pub copied: Vec<PathBuf>,
    /// `worktree.include` entries not copied, with the reason.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

/// An include entry that was not copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Maestro's marker in a worktree's git folder: who made it, for which task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub task_id: String,
    pub project_id: String,
    pub branch: String,
    pub base: String,
    pub base_commit: String,
    pub path: PathBuf,
    pub created_at: String,
}

/// The repository a folder below the worktrees root belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoFile {
    common_dir: PathBuf,
    name: String,
}

/// The worktrees folder of a Maestro home: `$MAESTRO_HOME/worktrees`.
#[derive(Debug, Clone)]
pub struct Worktrees {
    root: PathBuf,
}

impl Worktrees {
    /// The worktrees folder of `maestro_home` (created when missing).
    pub fn open(maestro_home: &Path) -> Result<Self> {
        let root = maestro_home.join(plan::WORKTREES_DIR);
        std::fs::create_dir_all(&root).map_err(|e| io_error("create", &root, &e))?;
        Ok(Self {
            root: canonical(&root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<repo-name>-<short-hash>`.
    pub fn repo_dir(&self, repo: &Repo) -> PathBuf {
        self.root.join(plan::repo_dir_name(&repo.common_dir))
    }

    /// Where the worktree of `task_id` lives.
    pub fn task_path(&self, repo: &Repo, task_id: &str) -> PathBuf {
        self.repo_dir(repo).join(task_id)
    }

    /// The folder of a repository's merges: journals, gate logs and the pool of worktrees.
    pub fn merges_dir(&self, repo: &Repo) -> PathBuf {
        self.repo_dir(repo).join("merges")
    }

    /// The repository's lock for adding and removing worktrees. git itself is not safe
    /// there: a `git worktree add` reading the record of another one being added fails.
    pub(crate) fn admin_lock(&self, repo: &Repo) -> Result<FileLock> {
        self.admin_lock_of(&repo.common_dir)
    }

    fn admin_lock_of(&self, common_dir: &Path) -> Result<FileLock> {
        let dir = self.root.join(plan::repo_dir_name(common_dir));
        FileLock::acquire(&dir.join(".lock"), ADMIN_WAIT, "adding worktrees")
    }

    /// Creates the repository's folder and records which repository it is.
    fn prepare_repo_dir(&self, repo: &Repo) -> Result<PathBuf> {
        let dir = self.repo_dir(repo);
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, &e))?;
        let file = dir.join(REPO_FILE);
        let want = RepoFile {
            common_dir: repo.common_dir.clone(),
            name: repo.name.clone(),
        };
        let current: Option<RepoFile> = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if current.as_ref() != Some(&want) {
            write_atomic(&file, &serde_json::to_vec_pretty(&want)?)?;
        }
        Ok(dir)
    }

    /// The worktree of a task: reused when it exists and is Maestro's, created otherwise.
    ///
    /// Creation is serialised per repository across processes. A path that exists but is
    /// not this task's Maestro worktree is refused (`worktree_conflict`); a worktree left
    /// half-made by a killed process is removed and made again (its branch is kept).
    pub fn ensure(&self, repo: &Repo, req: &WorktreeRequest) -> Result<Worktree> {
        plan::validate_task_id(&req.task_id)?;
        let dir = self.prepare_repo_dir(repo)?;
        let _lock = self.admin_lock(repo)?;
        let path = dir.join(&req.task_id);
        let note = dir.join(format!(".creating-{}", req.task_id));
        if note.exists() {
            self.remove_leftover(repo, &path)?;
            let _ = std::fs::remove_file(&note);
        }
        if path.symlink_metadata().is_ok() {
            return self.reuse(repo, req, &path);
        }
        if let Some(stale) = repo.listed(&path)? {
            // Registered but its folder is gone: drop git's record, keep the branch.
            drop_admin_entry(repo, &stale.path)?;
        }
        let (base, base_commit) = repo.resolve_base(req.base.as_deref())?;
        let branch = match &req.branch {
            Some(b) => {
                check_branch_name(repo, b)?;
                b.clone()
            }
            None => plan::branch_name(&req.task_id, &req.title),
        };
        let exists = repo.branch_commit(&branch)?.is_some();
        if exists
            && let Some(other) = repo
                .worktrees()?
                .into_iter()
                .find(|w| w.branch.as_deref() == Some(branch.as_str()))
        {
            return Err(Error::new(
                Code::WorktreeConflict,
                format!(
                    "Branch '{branch}' is already checked out in {}",
                    other.path.display()
                ),
            )
            .with_details(json!({ "branch": branch, "checkedOutIn": other.path }))
            .with_suggestion(
                "Switch that worktree to another branch, or remove it with 'git worktree remove'",
            ));
        }
        write_atomic(&note, b"")?;
        let add = repo.git().cmd(["worktree", "add", "--quiet"]);
        let add = if exists {
            add.arg(&path).arg(&branch)
        } else {
            add.arg("--no-track")
                .arg("-b")
                .arg(&branch)
                .arg(&path)
                .arg(&base_commit)
        };
        add.run()?;
        let marker = Marker {
            task_id: req.task_id.clone(),
            project_id: req.project_id.clone(),
            branch: branch.clone(),
            base: base.clone(),
            base_commit: base_commit.clone(),
            path: path.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let admin = admin_dir_of(&path)
            .ok_or_else(|| Error::internal(format!("{} has no .git file", path.display())))?;
        write_atomic(&admin.join(MARKER), &serde_json::to_vec_pretty(&marker)?)?;
        let (copied, skipped) = copy_includes(repo, &path, &req.include)?;
        std::fs::remove_file(&note).map_err(|e| io_error("remove", &note, &e))?;
        Ok(Worktree {
            path,
            branch,
            base,
            base_commit,
            created: true,
            copied,
            skipped,
        })
    }

    /// An existing path: this task's Maestro worktree of this repository, or refused.
    fn reuse(&self, repo: &Repo, req: &WorktreeRequest, path: &Path) -> Result<Worktree> {
        let refuse = |why: &str| {
            Error::new(
                Code::WorktreeConflict,
                format!(
                    "{} exists but is not Maestro's worktree of task {}: {why}",
                    path.display(),
                    req.task_id
                ),
            )
            .with_details(json!({ "path": path, "taskId": req.task_id, "reason": why }))
            .with_suggestion(
                "Move or delete that folder (nothing in it is touched), or set another MAESTRO_HOME",
            )
        };
        let Some(marker) = read_marker(path) else {
            return Err(refuse("it has no Maestro marker"));
        };
        if marker.task_id != req.task_id {
            return Err(refuse(&format!("it belongs to task {}", marker.task_id)));
        }
        let top = Git::at(path)
            .cmd(["rev-parse", "--show-toplevel"])
            .output()?;
        if !top.success() || canonical_or_same(Path::new(&top.text())) != canonical_or_same(path) {
            return Err(refuse("it is not a git work tree"));
        }
        let common = Git::at(path)
            .cmd(["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .run()?;
        if canonical_or_same(Path::new(&common)) != repo.common_dir {
            return Err(refuse("it belongs to another repository"));
        }
        let head = Git::at(path).cmd(["symbolic-ref", "-q", "HEAD"]).output()?;
        let branch = if head.success() {
            short_branch(&head.text())
        } else {
            marker.branch.clone()
        };
        Ok(Worktree {
            path: path.to_path_buf(),
            branch,
            base: marker.base,
            base_commit: marker.base_commit,
            created: false,
            copied: Vec::new(),
            skipped: Vec::new(),
        })
    }

    /// Removes what a killed creation left at `path` (its branch and commits stay).
    fn remove_leftover(&self, repo: &Repo, path: &Path) -> Result<()> {
        if !path.starts_with(&self.root) {
            return Ok(());
        }
        force_remove(repo, path)
    }
}

/// Removes a worktree Maestro made, whatever state it is in, and git's record of it (the
/// caller holds the admin lock and has checked that nothing in it is needed).
fn force_remove(repo: &Repo, path: &Path) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        let _ = repo
            .git()
            .cmd(["worktree", "remove", "--force", "--force"])
            .arg(path)
            .output()?;
        if path.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(path).map_err(|e| io_error("remove", path, &e))?;
        }
    }
    drop_admin_entry(repo, path)
}

/// Refuses a recorded branch name git would not accept.
fn check_branch_name(repo: &Repo, branch: &str) -> Result<()> {
    let ok = !branch.starts_with('-')
        && repo
            .git()
            .cmd(["check-ref-format", "--branch", branch])
            .output()?
            .success();
    if ok {
        Ok(())
    } else {
        Err(
            Error::invalid_argument(format!("'{branch}' is not a valid branch name"))
                .with_details(json!({ "branch": branch })),
        )
    }
}

/// The git folder of a worktree, from its `.git` file (`gitdir: <path>`).
fn admin_dir_of(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path.join(".git")).ok()?;
    let dir = text.strip_prefix("gitdir:")?.trim();
    let dir = Path::new(dir);
    Some(if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        path.join(dir)
    })
}

/// The git folder (`<common>/worktrees/<name>`) git keeps for the worktree at `path`, found
/// from its `gitdir` file, so it is found even when the worktree's folder is gone.
pub(crate) fn find_admin_dir(common_dir: &Path, path: &Path) -> Option<PathBuf> {
    let want = canonical_or_same(path).join(".git");
    let entries = std::fs::read_dir(common_dir.join("worktrees")).ok()?;
    entries.flatten().map(|e| e.path()).find(|admin| {
        std::fs::read_to_string(admin.join("gitdir"))
            .map(|g| {
                let g = PathBuf::from(g.trim());
                g == want || canonical_or_same(&g) == want
            })
            .unwrap_or(false)
    })
}

/// Maestro's marker of the worktree at `path`, if it has one.
pub(crate) fn read_marker(path: &Path) -> Option<Marker> {
    let admin = admin_dir_of(path)?;
    read_marker_in(&admin)
}

pub(crate) fn read_marker_in(admin: &Path) -> Option<Marker> {
    serde_json::from_slice(&std::fs::read(admin.join(MARKER)).ok()?).ok()
}

/// Drops git's record of the worktree at `path` whose folder is gone (what `git worktree
/// prune` does, for this one worktree only).
fn drop_admin_entry(repo: &Repo, path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(admin) = find_admin_dir(&repo.common_dir, path)
        && admin.starts_with(repo.common_dir.join("worktrees"))
    {
        std::fs::remove_dir_all(&admin).map_err(|e| io_error("remove", &admin, &e))?;
    }
    Ok(())
}

/// Copies the include entries that git ignores from the repository's work tree into a new
/// worktree. Tracked files are there already; untracked files git does not ignore are left
/// out, since the next commit would put them on the task branch.
fn copy_includes(
    repo: &Repo,
    dest: &Path,
    include: &[PathBuf],
) -> Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let mut copied = Vec::new();
    let mut skipped = Vec::new();
    let existing: Vec<&PathBuf> = include
        .iter()
        .filter(|p| {
            let there = repo.toplevel.join(p).symlink_metadata().is_ok();
            if !there {
                skipped.push(Skipped {
                    path: (*p).clone(),
                    reason: "not found in the repository's work tree".into(),
                });
            }
            there
        })
        .collect();
    if existing.is_empty() {
        return Ok((copied, skipped));
    }
    for p in existing {
        let ignored = repo
            .git()
            .cmd(["check-ignore", "-q", "--"])
            .arg(p)
            .check()?;
        if !ignored {
            let tracked = repo
                .git()
                .cmd(["ls-files", "--error-unmatch", "--"])
                .arg(p)
                .output()?
                .success();
            skipped.push(Skipped {
                path: p.clone(),
                reason: if tracked {
                    "tracked by git: the worktree has it already".into()
                } else {
                    "not ignored by git: a copy would be committed on the task branch".into()
                },
            });
            continue;
        }
        let to = dest.join(p);
        if to.symlink_metadata().is_ok() {
            skipped.push(Skipped {
                path: p.clone(),
                reason: "already in the worktree".into(),
            });
            continue;
        }
        copy_tree(&repo.toplevel.join(p), &to)?;
        copied.push(p.clone());
    }
    Ok((copied, skipped))
}

/// Copies a file, symlink or folder (recursively), keeping permissions.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    }
    let meta = from
        .symlink_metadata()
        .map_err(|e| io_error("read", from, &e))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(|e| io_error("read", from, &e))?;
        std::os::unix::fs::symlink(target, to).map_err(|e| io_error("create", to, &e))
    } else if meta.is_dir() {
        std::fs::create_dir_all(to).map_err(|e| io_error("create", to, &e))?;
        for entry in std::fs::read_dir(from).map_err(|e| io_error("read", from, &e))? {
            let entry = entry.map_err(|e| io_error("read", from, &e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| io_error("copy", from, &e))
    }
}

/// Writes a file atomically: a temporary file beside it, synced, then renamed over it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replacing(path, bytes, true)
}

/// Writes a file by replacing it (a temporary file renamed over it), so readers see the
/// old or the new content, never half; `durable` also syncs it to disk (a process killed
/// after the rename needs no sync, a machine that loses power does).
pub(crate) fn write_replacing(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    // A name of its own per writer, so concurrent writers never rename each other's file.
    let mut salt = [0u8; 4];
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}.{}-{:08x}.tmp",
        std::process::id(),
        u32::from_le_bytes(salt)
    ));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_error("write", &tmp, &e))?;
    f.write_all(bytes)
        .and_then(|()| if durable { f.sync_all() } else { Ok(()) })
        .map_err(|e| io_error("write", &tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error("rename", &tmp, &e))?;
    if durable && let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Checks that `path` is the top of a git work tree with `branch` checked out: what an agent
/// is about to be started in is what the task records.
pub fn verify(path: &Path, branch: &str) -> Result<()> {
    let wrong = |why: String| {
        Error::new(
            Code::WorktreeConflict,
            format!("The worktree {} is not usable: {why}", path.display()),
        )
        .with_details(json!({ "path": path, "branch": branch }))
        .with_suggestion("Spawn the task again: Maestro recreates or reuses its worktree")
    };
    if !path.is_dir() {
        return Err(wrong("the folder does not exist".into()));
    }
    let top = Git::at(path)
        .cmd(["rev-parse", "--show-toplevel"])
        .output()?;
    if !top.success() {
        return Err(wrong("it is not inside a git repository".into()));
    }
    if canonical_or_same(Path::new(&top.text())) != canonical_or_same(path) {
        return Err(wrong(format!(
            "git's top level there is {}, not the worktree itself",
            top.text()
        )));
    }
    let head = Git::at(path).cmd(["symbolic-ref", "-q", "HEAD"]).output()?;
    let on = head.success().then(|| short_branch(&head.text()));
    if on.as_deref() != Some(branch) {
        return Err(wrong(match on {
            Some(other) => format!("it is on branch '{other}', not '{branch}'"),
            None => format!("its HEAD is detached, not on '{branch}'"),
        }));
    }
    Ok(())
}

/// The message of the commit Maestro makes of a session's leftovers.
pub fn pending_commit_message(task_id: &str, session_id: &str) -> String {
    format!(
        "maestro: work left by session {session_id} on task {task_id}\n\n\
         Committed by Maestro when the session ended, so the next session and the merge see it.\n\n\
         Maestro-Task: {task_id}\nMaestro-Session: {session_id}\n"
    )
}

/// Commits everything left uncommitted in the worktree at `path` (changes and untracked
/// files; ignored files stay out) on its branch, naming the task and session. Returns the
/// new commit, or `None` when there was nothing to commit. Hooks do not run: a repository's
/// pre-commit hook must not decide whether a worker's files are kept.
pub fn commit_pending(path: &Path, task_id: &str, session_id: &str) -> Result<Option<String>> {
    let git = Git::at(path);
    let top = git.cmd(["rev-parse", "--show-toplevel"]).output()?;
    if !top.success() || canonical_or_same(Path::new(&top.text())) != canonical_or_same(path) {
        return Err(Error::new(
            Code::WorktreeConflict,
            format!("{} is not the top of a git worktree", path.display()),
        )
        .with_details(json!({ "path": path }))
        .with_suggestion("Pass the worktree's own folder, as the task records it"));
    }
    if !has_changes(path)? {
        return Ok(None);
    }
    let head = git.cmd(["symbolic-ref", "-q", "HEAD"]).output()?;
    if !head.success() {
        return Err(Error::new(
            Code::WorktreeConflict,
            format!(
                "HEAD is detached in {} (a rebase in progress?): the uncommitted work stays in the folder",
                path.display()
            ),
        )
        .with_details(json!({ "path": path, "taskId": task_id, "sessionId": session_id }))
        .with_suggestion(
            "Finish or abort the operation there ('git rebase --abort'), check out the task branch, and commit again",
        ));
    }
    let git = git.for_commits()?;
    git.cmd(["add", "-A", "--", "."]).run()?;
    let staged = git.cmd(["diff", "--cached", "--quiet"]).check()?;
    if staged {
        return Ok(None);
    }
    git.cmd(["commit", "--quiet", "--no-verify", "-m"])
        .arg(pending_commit_message(task_id, session_id))
        .run()?;
    Ok(Some(git.cmd(["rev-parse", "HEAD"]).run()?))
}

/// Whether a work tree has changed or untracked (not ignored) files.
pub fn has_changes(path: &Path) -> Result<bool> {
    Ok(change_count(path)? > 0)
}

/// How many paths are changed or untracked (not ignored) in a work tree.
pub fn change_count(path: &Path) -> Result<usize> {
    let out = Git::at(path)
        .cmd(["status", "--porcelain", "-z", "--untracked-files=all"])
        .env("GIT_OPTIONAL_LOCKS", "0")
        .run_bytes()?;
    Ok(git::parse_status_paths(&out).len())
}
