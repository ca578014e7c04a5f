//! A real git repository in a temporary folder, a Maestro home beside it, and git helpers.
#![allow(dead_code)]

use maestro_core::worktree::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs git in `dir`; panics with git's message when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "commit.gpgSign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn write(dir: &Path, file: &str, text: &str) {
    let p = dir.join(file);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

pub fn commit_all(dir: &Path, msg: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A repository on `main` with one commit, and a Maestro home, in one temporary folder.
pub struct Fx {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub repo_dir: PathBuf,
    pub wts: Worktrees,
}

impl Fx {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let repo_dir = dir.join("app");
        std::fs::create_dir_all(&repo_dir).unwrap();
        git(&repo_dir, &["init", "-q", "-b", "main"]);
        git(&repo_dir, &["config", "user.name", "Test"]);
        git(&repo_dir, &["config", "user.email", "test@example.com"]);
        write(&repo_dir, "README.md", "# app\n");
        write(&repo_dir, "shared.txt", "one\ntwo\nthree\n");
        write(&repo_dir, ".gitignore", ".env\nsecrets/\ntarget/\n");
        commit_all(&repo_dir, "init");
        let wts = Worktrees::open(&dir.join("home")).unwrap();
        Self {
            _tmp: tmp,
            dir,
            repo_dir,
            wts,
        }
    }

    pub fn repo(&self) -> Repo {
        Repo::discover(&self.repo_dir).unwrap()
    }

    pub fn request(&self, task: &str, title: &str) -> WorktreeRequest {
        WorktreeRequest {
            task_id: task.into(),
            project_id: "p-1".into(),
            title: title.into(),
            ..Default::default()
        }
    }

    /// A task worktree with `files` written and committed on its branch.
    pub fn task(&self, task: &str, files: &[(&str, &str)]) -> Worktree {
        let wt = self
            .wts
            .ensure(&self.repo(), &self.request(task, task))
            .unwrap();
        for (f, text) in files {
            write(&wt.path, f, text);
        }
        commit_pending(&wt.path, task, "s-1")
            .unwrap()
            .expect("a commit");
        wt
    }

    pub fn main(&self) -> String {
        git(&self.repo_dir, &["rev-parse", "main"])
    }

    pub fn merge(&self, wt: &Worktree, task: &str) -> MergeOutcome {
        let req = MergeRequest::new(task, &wt.branch, "main");
        MergeJob::begin(&self.wts, &self.repo(), req)
            .unwrap()
            .run(|_| {})
            .unwrap()
    }

    /// Journals and gate logs left in the merges folder (its pool of worktrees aside).
    pub fn merge_leftovers(&self) -> Vec<String> {
        let dir = self.wts.merges_dir(&self.repo());
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .map(|e| {
                e.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with("land-") && n != "pool")
                    .collect()
            })
            .unwrap_or_default();
        left.sort();
        left
    }

    /// A plain `git worktree add -b <branch> <path>`, made by hand, not by Maestro.
    pub fn linked(&self, path: &Path, branch: &str) {
        let path = path.to_str().unwrap();
        git(
            &self.repo_dir,
            &["worktree", "add", "-q", "-b", branch, path],
        );
    }

    /// Worktree paths git knows, besides the main one and the merges' pool.
    pub fn git_worktrees(&self) -> Vec<String> {
        git(&self.repo_dir, &["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .filter(|p| Path::new(p) != self.repo_dir && !p.contains("/merges/pool/"))
            .map(str::to_string)
            .collect()
    }
}

/// `(commit, task_head)` of a merged outcome.
pub fn merged(o: &MergeOutcome) -> (String, String) {
    match o {
        MergeOutcome::Merged {
            commit, task_head, ..
        } => (commit.clone(), task_head.clone()),
        other => panic!("expected merged, got {other:?}"),
    }
}

pub fn merged_commit(o: &MergeOutcome) -> String {
    merged(o).0
}

/// The worktrees of the merges' pool git knows.
pub fn pool_worktrees(fx: &Fx) -> Vec<String> {
    git(&fx.repo_dir, &["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .filter(|p| p.contains("/merges/pool/"))
        .map(str::to_string)
        .collect()
}
