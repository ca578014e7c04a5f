//! Listing and garbage collection of task worktrees: the store's records compared with
//! `git worktree list --porcelain` and the disk. The decisions are [`plan::plan_gc`]'s;
//! applying one checks everything again right before it acts, and never forces git.

use super::flock::io_error;
use super::git::Git;
use super::plan::{self, GcAction, GcPlan, WorktreeInfo, WorktreeRecord, WorktreeState};
use super::{
    REPO_FILE, RepoFile, admin_dir_of, canonical_or_same, change_count, find_admin_dir,
    read_marker, read_marker_in,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One applied gc action and whether it worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GcResult {
    pub action: GcAction,
    /// `None` when done; otherwise why it was not.
    pub error: Option<String>,
}

impl super::Worktrees {
    /// Every worktree in the worktrees folder, plus the recorded ones elsewhere, with its
    /// task, branch, state, changes and size on disk. `records` are the store's task
    /// worktrees; `projects` the projects the store holds (a Maestro worktree of one of
    /// them without a record belongs to a deleted task).
    pub fn list(
        &self,
        records: &[WorktreeRecord],
        projects: &[String],
    ) -> Result<Vec<WorktreeInfo>> {
        let mut out = Vec::new();
        let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
        for repo_dir in subdirs(self.root())? {
            let repo_file: Option<RepoFile> = std::fs::read(repo_dir.join(REPO_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let common = repo_file
                .map(|r| r.common_dir)
                .filter(|c| c.join("HEAD").exists());
            let listed = match &common {
                Some(c) => super::list_worktrees(&Git::at(c))?,
                None => Vec::new(),
            };
            let mut paths: BTreeSet<PathBuf> = subdirs(&repo_dir)?
                .into_iter()
                .filter(|p| p.file_name().is_some_and(|n| n != "merges"))
                .collect();
            paths.extend(
                listed
                    .iter()
                    .map(|w| w.path.clone())
                    .filter(|p| p.parent() == Some(repo_dir.as_path())),
            );
            paths.extend(
                records
                    .iter()
                    .map(|r| r.path.clone())
                    .filter(|p| p.parent() == Some(repo_dir.as_path())),
            );
            for path in paths {
                let info = describe(&path, common.as_deref(), &listed, records, projects)?;
                seen.insert(canonical_or_same(&path));
                out.push(info);
            }
        }
        for r in records {
            if seen.contains(&canonical_or_same(&r.path)) {
                continue;
            }
            out.push(describe_outside(self.root(), r)?);
        }
        Ok(out)
    }

    /// What gc would do: the `--dry-run` plan.
    pub fn gc(&self, records: &[WorktreeRecord], projects: &[String]) -> Result<GcPlan> {
        Ok(plan::plan_gc(&self.list(records, projects)?))
    }

    /// Applies a gc plan, checking each action again first: a worktree is removed only if it
    /// is still inside the worktrees folder, Maestro's, clean and unlocked (and then with a
    /// plain `git worktree remove`, which refuses dirty trees itself); a branch is deleted
    /// only if it is Maestro's, checked out nowhere and still at the planned commit.
    pub fn apply_gc(&self, plan: &GcPlan) -> Vec<GcResult> {
        plan.actions
            .iter()
            .map(|action| GcResult {
                action: action.clone(),
                error: self
                    .apply_one(action)
                    .err()
                    .map(|e| e.message().to_string()),
            })
            .collect()
    }

    fn apply_one(&self, action: &GcAction) -> Result<()> {
        match action {
            GcAction::RemoveWorktree {
                repo,
                path,
                task_id,
            } => {
                self.check_inside(path)?;
                let marker =
                    read_marker(path).ok_or_else(|| refused("it has no Maestro marker"))?;
                if &marker.task_id != task_id {
                    return Err(refused(&format!("it belongs to task {}", marker.task_id)));
                }
                let listed =
                    listed_at(repo, path)?.ok_or_else(|| refused("git does not list it"))?;
                if listed.locked.is_some() {
                    return Err(refused("it is locked"));
                }
                let changes = change_count(path)?;
                if changes > 0 {
                    return Err(refused(&format!("it has {changes} uncommitted changes")));
                }
                let _admin = self.admin_lock_of(repo)?;
                Git::at(repo)
                    .cmd(["worktree", "remove"])
                    .arg(&listed.path)
                    .run()?;
                Ok(())
            }
            GcAction::PruneWorktree {
                repo,
                path,
                admin_dir,
                ..
            } => {
                self.check_inside(path)?;
                if path.symlink_metadata().is_ok() {
                    return Err(refused("its folder exists again"));
                }
                let found = find_admin_dir(repo, path);
                if found.as_deref() != Some(admin_dir.as_path())
                    || !admin_dir.starts_with(repo.join("worktrees"))
                {
                    return Err(refused("git's record of it changed"));
                }
                if admin_dir.join("locked").exists() {
                    return Err(refused("it is locked"));
                }
                let _admin = self.admin_lock_of(repo)?;
                std::fs::remove_dir_all(admin_dir).map_err(|e| io_error("remove", admin_dir, &e))
            }
            GcAction::DeleteBranch {
                repo, branch, head, ..
            } => {
                if !branch.starts_with(plan::BRANCH_PREFIX) {
                    return Err(refused("it is not a Maestro branch"));
                }
                if let Some(w) = super::list_worktrees(&Git::at(repo))?
                    .into_iter()
                    .find(|w| w.branch.as_deref() == Some(branch.as_str()))
                {
                    return Err(refused(&format!(
                        "it is checked out in {}",
                        w.path.display()
                    )));
                }
                Git::at(repo)
                    .cmd(["update-ref", "-d"])
                    .arg(format!("refs/heads/{branch}"))
                    .arg(head)
                    .run()?;
                Ok(())
            }
        }
    }

    fn check_inside(&self, path: &Path) -> Result<()> {
        let real = canonical_or_same(path);
        let repo_dir = real.parent().unwrap_or(&real);
        if real.starts_with(self.root())
            && repo_dir.parent() == Some(self.root())
            && real.file_name().is_some_and(|n| n != "merges")
        {
            Ok(())
        } else {
            Err(refused(
                "it is not a task folder inside the worktrees folder",
            ))
        }
    }
}

fn refused(why: &str) -> Error {
    Error::new(
        crate::error::Code::WorktreeConflict,
        format!("left alone: {why}"),
    )
}

fn listed_at(repo: &Path, path: &Path) -> Result<Option<super::git::ListedWorktree>> {
    let want = canonical_or_same(path);
    Ok(super::list_worktrees(&Git::at(repo))?
        .into_iter()
        .find(|w| canonical_or_same(&w.path) == want))
}

/// The folders directly in `dir` (not dot-folders).
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = super::dir_entries(dir)?
        .into_iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// One path in a repository's folder.
fn describe(
    path: &Path,
    common: Option<&Path>,
    listed: &[super::git::ListedWorktree],
    records: &[WorktreeRecord],
    projects: &[String],
) -> Result<WorktreeInfo> {
    let on_disk = path.is_dir();
    let want = canonical_or_same(path);
    let entry = listed.iter().find(|w| canonical_or_same(&w.path) == want);
    let admin = if on_disk {
        admin_dir_of(path)
    } else {
        common.and_then(|c| find_admin_dir(c, path))
    };
    let marker = admin.as_deref().and_then(read_marker_in);
    let record = records.iter().find(|r| canonical_or_same(&r.path) == want);
    let branch = entry
        .and_then(|w| w.branch.clone())
        .or_else(|| marker.as_ref().map(|m| m.branch.clone()))
        .or_else(|| record.map(|r| r.branch.clone()));
    let branch_head = match (common, &branch) {
        (Some(c), Some(b)) => {
            let out = Git::at(c)
                .cmd(["rev-parse", "-q", "--verify"])
                .arg(format!("refs/heads/{b}^{{commit}}"))
                .output()?;
            out.success().then(|| out.text())
        }
        _ => None,
    };
    let state = match (&marker, record) {
        (None, _) => WorktreeState::Foreign,
        (Some(_), Some(r)) => plan::record_state(r, branch_head.as_deref()),
        (Some(m), None) if projects.contains(&m.project_id) => WorktreeState::Deleted,
        (Some(_), None) => WorktreeState::Unknown,
    };
    let changes = if on_disk && entry.is_some() {
        // A tree git cannot read counts as changed: gc must never remove it.
        change_count(path).unwrap_or(1)
    } else {
        0
    };
    Ok(WorktreeInfo {
        path: path.to_path_buf(),
        repo: common.map(Path::to_path_buf),
        task_id: marker
            .as_ref()
            .map(|m| m.task_id.clone())
            .or_else(|| record.map(|r| r.task_id.clone())),
        project_id: marker
            .as_ref()
            .map(|m| m.project_id.clone())
            .or_else(|| record.map(|r| r.project_id.clone())),
        branch,
        head: entry.and_then(|w| w.head.clone()),
        branch_head,
        merged_head: record.and_then(|r| r.merged_head.clone()),
        state,
        on_disk,
        registered: entry.is_some(),
        maestro: marker.is_some(),
        inside_root: true,
        changes,
        locked: entry.and_then(|w| w.locked.clone()),
        size_bytes: if on_disk { disk_usage(path) } else { 0 },
        admin_dir: if entry.is_some() { admin } else { None },
    })
}

/// A recorded worktree outside the worktrees folder: listed, never collected.
fn describe_outside(root: &Path, r: &WorktreeRecord) -> Result<WorktreeInfo> {
    let on_disk = r.path.is_dir();
    let changes = if on_disk {
        change_count(&r.path).unwrap_or(1)
    } else {
        0
    };
    Ok(WorktreeInfo {
        path: r.path.clone(),
        repo: None,
        task_id: Some(r.task_id.clone()),
        project_id: Some(r.project_id.clone()),
        branch: Some(r.branch.clone()),
        head: None,
        branch_head: None,
        merged_head: r.merged_head.clone(),
        state: plan::record_state(r, None),
        on_disk,
        registered: false,
        maestro: on_disk && read_marker(&r.path).is_some(),
        inside_root: canonical_or_same(&r.path).starts_with(root),
        changes,
        locked: None,
        size_bytes: if on_disk { disk_usage(&r.path) } else { 0 },
        admin_dir: None,
    })
}

/// Bytes a folder takes on disk (allocated blocks), symlinks not followed.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = path.symlink_metadata() else {
        return 0;
    };
    let mut total = meta.blocks() * 512;
    if meta.is_dir()
        && let Ok(entries) = std::fs::read_dir(path)
    {
        for e in entries.flatten() {
            total += disk_usage(&e.path());
        }
    }
    total
}
