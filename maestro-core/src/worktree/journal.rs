//! The journal of a merge in progress: a small JSON file per merge, rewritten atomically at
//! each step, so a process killed mid-merge leaves enough behind for the next one to finish
//! the merge or roll it back. The merge holds an `flock` on a lock file beside its journal;
//! a journal whose lock is free belongs to a dead process.
//!
//! Files of merge `<id>` in `<repo folder>/merges/`: `<id>.json` (the journal),
//! `<id>.lock` and `<id>.gate.log` (the gate's output); it builds in a worktree of the
//! pool, `merges/pool/<n>`.

use super::flock::io_error;
use super::plan::Strategy;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The journal format's version.
pub const VERSION: u32 = 1;

/// How far a merge got. Every step before [`Step::Advancing`] leaves the target untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The merge has its worktree; nothing is built yet.
    Prepared,
    /// The task's change is rebased or squashed onto the target: commit `new`.
    Built,
    /// The gate runs (its process group is `gate_pid` once recorded); a dead merge in this
    /// step may have left processes working in its worktree.
    Gating,
    /// The gate passed (or there is none).
    Gated,
    /// About to move the target from `old` to `new` by compare-and-swap; it may have moved.
    Advancing,
    /// The target moved to `new`; checked-out trees of the target are being brought along.
    Advanced,
}

/// One merge's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub version: u32,
    pub id: String,
    pub task_id: String,
    pub branch: String,
    /// The target branch (without `refs/heads/`).
    pub target: String,
    pub strategy: Strategy,
    pub pid: u32,
    pub started_at: String,
    /// 1 for the first build; one more each time the target moved under the merge.
    pub attempt: u32,
    pub step: Step,
    /// The target's commit this attempt builds on.
    pub old: String,
    /// The task branch's commit being merged.
    pub task_head: String,
    /// The built commit (from [`Step::Built`] on).
    #[serde(default)]
    pub new: Option<String>,
    #[serde(default)]
    pub gate_pid: Option<u32>,
    /// Work trees with the target checked out, to bring to `new` (from [`Step::Advancing`]).
    #[serde(default)]
    pub trees: Vec<PathBuf>,
    /// The pooled worktree the merge builds in.
    pub worktree: PathBuf,
}

/// What the next process does with a journal whose merge died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The target never moved (or moved back): clean up; the merge can simply run again.
    RollBack,
    /// The target has the merged commit: finish (bring checked-out trees along), clean up.
    Finish,
}

/// Whether the target must be read to decide: only once the merge may have moved it.
pub fn may_have_landed(step: Step) -> bool {
    matches!(step, Step::Advancing | Step::Advanced)
}

/// Decides a dead merge: finished when the target contains the built commit (`new` is the
/// target or one of its ancestors, so later merges on top count too), else rolled back.
pub fn decide(journal: &Journal, new_in_target: bool) -> Decision {
    if may_have_landed(journal.step) && journal.new.is_some() && new_in_target {
        Decision::Finish
    } else {
        Decision::RollBack
    }
}

/// The files of one merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub id: String,
    pub dir: PathBuf,
    pub journal: PathBuf,
    pub lock: PathBuf,
    pub gate_log: PathBuf,
}

impl Paths {
    pub fn new(merges_dir: &Path, id: &str) -> Self {
        Self {
            id: id.to_string(),
            dir: merges_dir.to_path_buf(),
            journal: merges_dir.join(format!("{id}.json")),
            lock: merges_dir.join(format!("{id}.lock")),
            gate_log: merges_dir.join(format!("{id}.gate.log")),
        }
    }
}

/// Writes the journal atomically. Only the steps around the swap are synced to disk: if a
/// power loss takes an earlier step, the merge looks as if it never started, which is true
/// of the target.
pub fn write(paths: &Paths, journal: &Journal) -> Result<()> {
    super::write_replacing(
        &paths.journal,
        &serde_json::to_vec_pretty(journal)?,
        may_have_landed(journal.step),
    )
}

/// Reads a journal; `None` when it is gone.
pub fn read(path: &Path) -> Result<Option<Journal>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::storage(format!(
                "the merge journal {} is unreadable: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, &e)),
    }
}

/// The ids of the merges with a journal in `merges_dir`.
pub fn ids(merges_dir: &Path) -> Result<Vec<String>> {
    let mut ids: Vec<String> = super::dir_entries(merges_dir)?
        .into_iter()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(step: Step) -> Journal {
        Journal {
            version: VERSION,
            id: "m-1".into(),
            task_id: "t-1".into(),
            branch: "maestro/t-1-x".into(),
            target: "main".into(),
            strategy: Strategy::Rebase,
            pid: 1,
            started_at: "2026-01-01T00:00:00Z".into(),
            attempt: 1,
            step,
            old: "a".into(),
            task_head: "b".into(),
            new: (step != Step::Prepared).then(|| "c".to_string()),
            gate_pid: None,
            trees: Vec::new(),
            worktree: "/h/merges/pool/0".into(),
        }
    }

    #[test]
    fn only_a_merge_that_reached_the_swap_can_have_landed() {
        for step in [Step::Prepared, Step::Built, Step::Gating, Step::Gated] {
            // Even if the target happens to contain the commit, the swap never ran.
            assert_eq!(decide(&journal(step), true), Decision::RollBack, "{step:?}");
        }
        for step in [Step::Advancing, Step::Advanced] {
            assert_eq!(decide(&journal(step), true), Decision::Finish);
            assert_eq!(decide(&journal(step), false), Decision::RollBack);
        }
    }

    #[test]
    fn journals_round_trip_and_list_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let p = Paths::new(dir.path(), "m-1");
        assert_eq!(read(&p.journal).unwrap(), None);
        let j = journal(Step::Gated);
        write(&p, &j).unwrap();
        assert_eq!(read(&p.journal).unwrap(), Some(j));
        std::fs::write(dir.path().join("m-1.lock"), b"").unwrap();
        assert_eq!(ids(dir.path()).unwrap(), vec!["m-1"]);
        std::fs::write(&p.journal, b"{").unwrap();
        assert!(read(&p.journal).is_err());
        assert!(ids(&dir.path().join("missing")).unwrap().is_empty());
    }
}
