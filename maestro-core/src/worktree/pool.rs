//! The detached worktrees merges build in, kept between merges of a repository.
//!
//! A merge takes a free slot (`merges/pool/<n>`, held by an `flock` on `merges/pool/<n>.lock`
//! for the merge's life), resets it to its start commit and builds there. Reusing a slot
//! instead of checking out a fresh tree makes a merge in a large repository update only the
//! files that changed since the last one, and keeps the gate's ignored build output (e.g.
//! `target/`) for an incremental build. A slot is never the user's tree and never has a
//! branch checked out. Whatever a killed merge left in a slot (a rebase in progress, files,
//! processes of its gate) is cleared by the next merge that takes it.

use super::flock::FileLock;
use super::git::Git;
use super::{Repo, Worktrees, canonical_or_same, dir_entries, force_remove};
use crate::error::{Code, Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Most merges building at once in one repository.
pub const MAX_SLOTS: usize = 32;

/// A slot taken by a merge.
#[derive(Debug)]
pub struct Slot {
    pub path: PathBuf,
    _lock: FileLock,
}

/// The lock file of the slot at `path`.
pub fn lock_of(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{name}.lock"))
}

/// Takes a free slot of the repository's pool and resets it to `start` (a commit), making
/// it when it does not exist (or is broken).
pub fn take(worktrees: &Worktrees, repo: &Repo, git: &Git, start: &str) -> Result<Slot> {
    let pool = worktrees.merges_dir(repo).join("pool");
    for n in 0..MAX_SLOTS {
        let path = pool.join(n.to_string());
        let Some(lock) = FileLock::try_acquire(&lock_of(&path))? else {
            continue;
        };
        // Nobody holds the slot, so anything still working in it is a dead merge's.
        kill_processes_in(&path);
        if path.exists() && reset(git, &path, start).is_ok() {
            return Ok(Slot { path, _lock: lock });
        }
        let _admin = worktrees.admin_lock(repo)?;
        force_remove(repo, &path)?;
        git.cmd(["worktree", "add", "--detach", "--quiet"])
            .arg(&path)
            .arg(start)
            .run()?;
        return Ok(Slot { path, _lock: lock });
    }
    Err(Error::new(
        Code::Timeout,
        format!("{MAX_SLOTS} merges are already building in this repository"),
    )
    .with_suggestion("Retry when one of them is done"))
}

/// Clears what a merge left in a slot and checks out `start`, detached.
fn reset(git: &Git, path: &Path, start: &str) -> Result<()> {
    let g = git.at_dir(path);
    let _ = g.cmd(["rebase", "--quit"]).output()?;
    let _ = g.cmd(["merge", "--abort"]).output()?;
    g.cmd(["checkout", "--quiet", "--detach", "--force"])
        .arg(start)
        .run()?;
    // Untracked files go; ignored ones (build output) stay for the next gate.
    g.cmd(["clean", "-fdq"]).run()?;
    Ok(())
}

/// Kills the processes a dead merge's gate left in the slot at `path`, unless a live merge
/// holds the slot now (it cleared the slot when it took it).
pub fn kill_strays_if_free(path: &Path) -> Result<()> {
    if let Some(_lock) = FileLock::try_acquire(&lock_of(path))? {
        kill_processes_in(path);
    }
    Ok(())
}

/// Whether any process is in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|p| {
        let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
        // Fields after the command name (in parentheses): state, ppid, pgrp, ...
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok())
            == Some(pgid)
    })
}

/// Kills every process working in `dir` (found by its current directory, so a reused pid is
/// never hit).
fn kill_processes_in(dir: &Path) {
    let dir = canonical_or_same(dir);
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let pids: Vec<String> = procs
        .flatten()
        .filter_map(|p| p.file_name().into_string().ok())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .filter(|n| std::fs::read_link(format!("/proc/{n}/cwd")).is_ok_and(|c| c.starts_with(&dir)))
        .collect();
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Worktrees {
    /// Removes the merge slots of a repository that no merge is using (they only save
    /// time); returns the folders removed.
    pub fn clear_merge_pool(&self, repo: &Repo) -> Result<Vec<PathBuf>> {
        let pool = self.merges_dir(repo).join("pool");
        let mut removed = Vec::new();
        for e in dir_entries(&pool)? {
            let path = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let lock_path = lock_of(&path);
            let Some(lock) = FileLock::try_acquire(&lock_path)? else {
                continue;
            };
            kill_processes_in(&path);
            let admin = self.admin_lock(repo)?;
            force_remove(repo, &path)?;
            drop(admin);
            let _ = std::fs::remove_file(&lock_path);
            drop(lock);
            removed.push(path);
        }
        removed.sort();
        Ok(removed)
    }
}
