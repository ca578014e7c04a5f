//! Worktree planning as plain data: names, slugs, folders, settings, the output tail of a
//! gate and the decisions of garbage collection. No I/O here.

use crate::config::Config;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The folder below `$MAESTRO_HOME` holding every worktree Maestro creates.
pub const WORKTREES_DIR: &str = "worktrees";
/// The prefix of every task branch.
pub const BRANCH_PREFIX: &str = "maestro/";
/// Longest slug taken from a task title.
pub const MAX_SLUG: usize = 40;
/// Longest repository name in a folder name.
pub const MAX_REPO_NAME: usize = 40;
/// Lines and bytes of a gate's output kept in its result.
pub const TAIL_LINES: usize = 60;
pub const TAIL_BYTES: usize = 8 * 1024;
/// Default limit of one gate run.
pub const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often a merge rebuilds on a target that moved before it gives up (and waits).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Checks that a task id can name a folder and a branch: letters, digits, `-` and `_`, not
/// starting with `-`, at most 64 characters.
pub fn validate_task_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(
            Error::invalid_argument(format!("'{id}' cannot name a worktree"))
                .with_details(json!({ "taskId": id }))
                .with_suggestion("Use the task's id as Maestro gives it, e.g. t-7k2m9q4x"),
        )
    }
}

/// A branch-safe slug of a title: lower-case ASCII letters and digits joined by single
/// `-`, at most [`MAX_SLUG`] characters, cut at a word boundary when possible; `task` when
/// nothing is left.
pub fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    if s.len() > MAX_SLUG {
        let cut = &s[..MAX_SLUG];
        // Prefer ending at a word boundary, unless that drops most of the slug.
        let at_boundary = s.as_bytes()[MAX_SLUG] == b'-';
        s = match cut.rfind('-') {
            Some(i) if !at_boundary && i >= MAX_SLUG / 2 => cut[..i].to_string(),
            _ => cut.to_string(),
        };
    }
    let s = s.trim_matches('-');
    if s.is_empty() {
        "task".into()
    } else {
        s.to_string()
    }
}

/// `maestro/<task-id>-<slug>`.
pub fn branch_name(task_id: &str, title: &str) -> String {
    format!("{BRANCH_PREFIX}{task_id}-{}", slug(title))
}

/// Whether `branch` is one of the branches Maestro names for `task_id`.
pub fn is_task_branch(branch: &str, task_id: &str) -> bool {
    branch
        .strip_prefix(BRANCH_PREFIX)
        .and_then(|rest| rest.strip_prefix(task_id))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// A short, stable hash (FNV-1a, 64 bits, first 8 hex digits) of a path's bytes.
pub fn short_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")[..8].to_string()
}

/// A repository's name from its (common) git folder: `/src/app/.git` → `app`,
/// `/srv/app.git` → `app`.
pub fn repo_name(git_common_dir: &Path) -> String {
    let named = if git_common_dir.file_name().is_some_and(|n| n == ".git") {
        git_common_dir.parent().unwrap_or(git_common_dir)
    } else {
        git_common_dir
    };
    let raw = named
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let raw = raw.strip_suffix(".git").unwrap_or(&raw);
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_REPO_NAME)
        .collect();
    name = name.trim_matches(|c| c == '-' || c == '.').to_string();
    if name.is_empty() { "repo".into() } else { name }
}

/// `<repo-name>-<short-hash>`: the folder of one repository's worktrees, from its canonical
/// common git folder.
pub fn repo_dir_name(git_common_dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    format!(
        "{}-{}",
        repo_name(git_common_dir),
        short_hash(git_common_dir.as_os_str().as_bytes())
    )
}

/// Checks a `worktree.include` entry: a relative path inside the repository, not `.git`.
pub fn validate_include(entry: &str) -> Result<PathBuf> {
    let p = Path::new(entry.trim());
    let bad = |why: &str| {
        Error::invalid_argument(format!("worktree.include entry '{entry}' {why}"))
            .with_details(json!({ "field": "worktree.include", "value": entry }))
            .with_suggestion(
                "List paths relative to the repository root, e.g. maestro config set worktree.include '[\".env\"]'",
            )
    };
    if entry.trim().is_empty() {
        return Err(bad("is empty"));
    }
    if p.is_absolute() {
        return Err(bad("is absolute"));
    }
    let mut clean = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) if n == ".git" => return Err(bad("names the .git folder")),
            Component::Normal(n) => clean.push(n),
            Component::CurDir => {}
            _ => return Err(bad("leaves the repository")),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(bad("names the repository root"));
    }
    Ok(clean)
}

/// The end of a command's output: at most `max_lines` lines and `max_bytes` bytes, cut at
/// a character boundary, with a note when something was cut.
pub fn tail(text: &str, max_lines: usize, max_bytes: usize) -> String {
    let text = text.trim_end();
    let mut start = 0;
    let mut lines = 0;
    for (i, b) in text.bytes().enumerate().rev() {
        if b == b'\n' {
            lines += 1;
            if lines == max_lines {
                start = i + 1;
                break;
            }
        }
    }
    if text.len() - start > max_bytes {
        start = text.len() - max_bytes;
        while !text.is_char_boundary(start) {
            start += 1;
        }
    }
    if start == 0 {
        text.to_string()
    } else {
        format!("[… output cut …]\n{}", &text[start..])
    }
}

/// How a task branch lands on its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The task's commits replayed on the target, one by one.
    #[default]
    Rebase,
    /// One commit on the target with the task's whole change.
    Squash,
}

impl Strategy {
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rebase" => Ok(Strategy::Rebase),
            "squash" => Ok(Strategy::Squash),
            _ => Err(
                Error::invalid_argument(format!("'{s}' is not a merge strategy"))
                    .with_details(json!({ "field": "merge.strategy", "value": s }))
                    .with_suggestion(
                        "Use rebase or squash: maestro config set merge.strategy squash",
                    ),
            ),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Rebase => "rebase",
            Strategy::Squash => "squash",
        }
    }
}

/// The command that must pass before a merge lands (run with `sh -c` in the merged tree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    pub command: String,
    #[serde(with = "secs")]
    pub timeout: Duration,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// The worktree and merge settings of config (SPEC §11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `worktree.enabled` (default true).
    pub enabled: bool,
    /// `worktree.base`: what new task branches start from (default: the repository's HEAD).
    pub base: Option<String>,
    /// `worktree.include`: ignored files copied into new worktrees (e.g. `.env`).
    pub include: Vec<PathBuf>,
    /// `merge.strategy` (default rebase).
    pub strategy: Strategy,
    /// `merge.gate` with `merge.gateTimeoutSeconds` (default 30 minutes).
    pub gate: Option<Gate>,
    /// `merge.auto`: completed tasks join the merge queue by themselves (default false).
    pub auto: bool,
    /// `merge.into`: the target branch (default: the task's base branch).
    pub into: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: true,
            base: None,
            include: Vec::new(),
            strategy: Strategy::Rebase,
            gate: None,
            auto: false,
            into: None,
        }
    }
}

impl Settings {
    /// Reads the settings from the layered config files.
    pub fn from_config(config: &Config) -> Result<Self> {
        let bad = |key: &str, v: &Value, want: &str| {
            Error::invalid_argument(format!("config {key} = {v} is not {want}"))
                .with_details(json!({ "field": key, "value": v }))
                .with_suggestion(format!(
                    "Set it again, e.g. maestro config set {key} <{want}>"
                ))
        };
        let flag = |key: &str, default: bool| -> Result<bool> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(v @ Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "1" => Ok(true),
                    "false" | "no" | "off" | "0" => Ok(false),
                    _ => Err(bad(key, v, "true or false")),
                },
                Some(v) => Err(bad(key, v, "true or false")),
            }
        };
        let text =
            |key: &str| -> Option<String> { config.get_string(key).map(|s| s.trim().to_string()) };
        let include = match config.get("worktree.include") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => validate_include(s),
                    other => Err(bad("worktree.include", other, "a list of paths")),
                })
                .collect::<Result<_>>()?,
            Some(Value::String(s)) => s
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(validate_include)
                .collect::<Result<_>>()?,
            Some(v) => return Err(bad("worktree.include", v, "a list of paths")),
        };
        let timeout = match config.get("merge.gateTimeoutSeconds") {
            None | Some(Value::Null) => DEFAULT_GATE_TIMEOUT,
            Some(v) => {
                let secs = v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|s| *s > 0.0 && s.is_finite());
                match secs {
                    Some(s) => Duration::from_secs_f64(s),
                    None => return Err(bad("merge.gateTimeoutSeconds", v, "a positive number")),
                }
            }
        };
        Ok(Self {
            enabled: flag("worktree.enabled", true)?,
            base: text("worktree.base"),
            include,
            strategy: match text("merge.strategy") {
                Some(s) => Strategy::parse(&s)?,
                None => Strategy::Rebase,
            },
            gate: text("merge.gate").map(|command| Gate { command, timeout }),
            auto: flag("merge.auto", false)?,
            into: text("merge.into"),
        })
    }
}

/// What a worktree is to Maestro, from the records the store gave and the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorktreeState {
    /// Its task exists and the branch is not merged (or moved on after the merge).
    Active,
    /// Its task's branch was merged and has not moved since.
    Merged,
    /// Its task was deleted.
    Deleted,
    /// Maestro's, but of a project the caller does not know (another store's).
    Unknown,
    /// In the worktrees folder but not created by Maestro, or not a worktree at all.
    Foreign,
}

impl WorktreeState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorktreeState::Active => "active",
            WorktreeState::Merged => "merged",
            WorktreeState::Deleted => "deleted",
            WorktreeState::Unknown => "unknown",
            WorktreeState::Foreign => "foreign",
        }
    }
}

/// What the store knows of a task's worktree: the input of listing and gc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeRecord {
    pub task_id: String,
    pub project_id: String,
    pub path: PathBuf,
    pub branch: String,
    /// `Some(head)` when the task's branch was merged at commit `head` of the branch.
    #[serde(default)]
    pub merged_head: Option<String>,
    /// The task was deleted but the store still remembers its worktree.
    #[serde(default)]
    pub deleted: bool,
}

/// The state of a record's branch: merged only if the branch still points where it was
/// merged (a later commit is unmerged work).
pub fn record_state(record: &WorktreeRecord, branch_head: Option<&str>) -> WorktreeState {
    if record.deleted {
        return WorktreeState::Deleted;
    }
    match (&record.merged_head, branch_head) {
        (Some(merged), Some(now)) if merged == now => WorktreeState::Merged,
        (Some(_), None) => WorktreeState::Merged,
        _ => WorktreeState::Active,
    }
}

/// One worktree as `maestro worktree list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeInfo {
    pub path: PathBuf,
    /// The repository's common git folder, when known.
    pub repo: Option<PathBuf>,
    pub task_id: Option<String>,
    pub project_id: Option<String>,
    pub branch: Option<String>,
    /// The commit checked out.
    pub head: Option<String>,
    /// The commit the branch points to now.
    pub branch_head: Option<String>,
    pub merged_head: Option<String>,
    pub state: WorktreeState,
    /// The folder exists.
    pub on_disk: bool,
    /// `git worktree list` knows it.
    pub registered: bool,
    /// Maestro's marker was found: Maestro created it.
    pub maestro: bool,
    /// Inside `$MAESTRO_HOME/worktrees`.
    pub inside_root: bool,
    /// Changed or untracked (not ignored) files.
    pub changes: usize,
    pub locked: Option<String>,
    pub size_bytes: u64,
    /// git's administrative folder of the worktree (`.git/worktrees/<name>`).
    pub admin_dir: Option<PathBuf>,
}

impl WorktreeInfo {
    pub fn dirty(&self) -> bool {
        self.changes > 0
    }
}

/// One step of garbage collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum GcAction {
    /// `git worktree remove` (never forced) of a clean worktree.
    RemoveWorktree {
        repo: PathBuf,
        path: PathBuf,
        task_id: String,
    },
    /// Drop git's record of a worktree whose folder is already gone.
    PruneWorktree {
        repo: PathBuf,
        path: PathBuf,
        admin_dir: PathBuf,
        task_id: String,
    },
    /// Delete a merged branch, only if it still points at `head`.
    DeleteBranch {
        repo: PathBuf,
        branch: String,
        head: String,
        task_id: String,
    },
}

/// A worktree gc leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    pub path: PathBuf,
    pub task_id: Option<String>,
    pub reason: String,
}

/// What gc would do (`--dry-run`) or does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GcPlan {
    pub actions: Vec<GcAction>,
    pub kept: Vec<Kept>,
}

impl GcPlan {
    /// The tasks whose worktrees the plan removes, in order.
    pub fn removals(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                GcAction::RemoveWorktree { task_id, .. } => Some(task_id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The branches the plan deletes, in order.
    pub fn branch_deletions(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                GcAction::DeleteBranch { branch, .. } => Some(branch.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Decides gc: only worktrees inside the worktrees folder, made by Maestro, of tasks merged
/// or deleted, clean and unlocked, are removed; a branch only when merged and unmoved.
pub fn plan_gc(infos: &[WorktreeInfo]) -> GcPlan {
    let mut plan = GcPlan::default();
    for w in infos {
        let keep = |reason: String| Kept {
            path: w.path.clone(),
            task_id: w.task_id.clone(),
            reason,
        };
        let (Some(repo), Some(task_id)) = (&w.repo, &w.task_id) else {
            plan.kept.push(keep(if w.maestro {
                "its repository is gone".into()
            } else {
                "not created by Maestro".into()
            }));
            continue;
        };
        if !w.inside_root {
            plan.kept.push(keep("outside the worktrees folder".into()));
            continue;
        }
        if !w.maestro {
            plan.kept.push(keep("not created by Maestro".into()));
            continue;
        }
        match w.state {
            WorktreeState::Active => {
                plan.kept
                    .push(keep("its task is active (branch not merged)".into()));
                continue;
            }
            WorktreeState::Unknown => {
                plan.kept
                    .push(keep("its project is not in this store".into()));
                continue;
            }
            WorktreeState::Foreign => {
                plan.kept.push(keep("not created by Maestro".into()));
                continue;
            }
            WorktreeState::Merged | WorktreeState::Deleted => {}
        }
        if let Some(reason) = &w.locked {
            let why = if reason.is_empty() {
                "locked".to_string()
            } else {
                format!("locked: {reason}")
            };
            plan.kept.push(keep(why));
            continue;
        }
        if w.on_disk {
            if w.dirty() {
                plan.kept.push(keep(format!(
                    "{} uncommitted change{}",
                    w.changes,
                    if w.changes == 1 { "" } else { "s" }
                )));
                continue;
            }
            if !w.registered {
                plan.kept
                    .push(keep("git does not list it as a worktree".into()));
                continue;
            }
            plan.actions.push(GcAction::RemoveWorktree {
                repo: repo.clone(),
                path: w.path.clone(),
                task_id: task_id.clone(),
            });
        } else if let (true, Some(admin)) = (w.registered, &w.admin_dir) {
            plan.actions.push(GcAction::PruneWorktree {
                repo: repo.clone(),
                path: w.path.clone(),
                admin_dir: admin.clone(),
                task_id: task_id.clone(),
            });
        }
        if w.state == WorktreeState::Merged
            && let (Some(branch), Some(head)) = (&w.branch, &w.branch_head)
            && w.merged_head.as_ref() == Some(head)
        {
            plan.actions.push(GcAction::DeleteBranch {
                repo: repo.clone(),
                branch: branch.clone(),
                head: head.clone(),
                task_id: task_id.clone(),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn slugs_are_ascii_bounded_and_never_empty() {
        assert_eq!(slug("Write the parser"), "write-the-parser");
        assert_eq!(slug("  Fix: crash on `--help`!  "), "fix-crash-on-help");
        assert_eq!(slug("Übersetzung für café"), "bersetzung-f-r-caf");
        assert_eq!(slug("日本語"), "task");
        assert_eq!(slug(""), "task");
        let long = slug("an extremely long title that goes on and on about many things");
        assert_eq!(long, "an-extremely-long-title-that-goes-on-and");
        let mid_word = slug("an extremely long title that goes on andromeda");
        assert_eq!(mid_word, "an-extremely-long-title-that-goes-on");
        let one_word = slug(&"x".repeat(100));
        assert_eq!(one_word.len(), MAX_SLUG);
        assert!(!slug("a-------b").contains("--"));
        assert_eq!(branch_name("t-1", "Add login"), "maestro/t-1-add-login");
    }

    #[test]
    fn task_branches_match_their_task_exactly() {
        assert!(is_task_branch("maestro/t-1-add-login", "t-1"));
        assert!(is_task_branch("maestro/t-1", "t-1"));
        assert!(!is_task_branch("maestro/t-12-add", "t-1"));
        assert!(!is_task_branch("feature/t-1-x", "t-1"));
    }

    #[test]
    fn task_ids_must_be_path_and_ref_safe() {
        assert!(validate_task_id("t-7k2m9q4x").is_ok());
        for bad in ["", "../x", "a/b", "-x", "a b", "t.1", &"x".repeat(65)] {
            assert!(validate_task_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repo_folders_are_named_and_hashed() {
        assert_eq!(repo_name(Path::new("/src/my app/.git")), "my-app");
        assert_eq!(repo_name(Path::new("/srv/tools.git")), "tools");
        assert_eq!(repo_name(Path::new("/")), "repo");
        let a = repo_dir_name(Path::new("/src/app/.git"));
        let b = repo_dir_name(Path::new("/other/app/.git"));
        assert!(a.starts_with("app-") && b.starts_with("app-"));
        assert_ne!(a, b, "same name, other path, other folder");
        assert_eq!(a, repo_dir_name(Path::new("/src/app/.git")), "stable");
        assert_eq!(a.len(), "app-".len() + 8);
        // FNV-1a of the empty input is its offset basis.
        assert_eq!(short_hash(b""), "cbf29ce4");
    }

    #[test]
    fn include_entries_stay_inside_the_repository() {
        assert_eq!(validate_include(".env").unwrap(), PathBuf::from(".env"));
        assert_eq!(
            validate_include("./config/local.toml").unwrap(),
            PathBuf::from("config/local.toml")
        );
        for bad in ["", "/etc/passwd", "../x", "a/../../b", ".git/config", "."] {
            assert!(validate_include(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tails_keep_the_end() {
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text, 3, 10_000);
        assert_eq!(t, "[… output cut …]\nline 98\nline 99\nline 100");
        assert_eq!(tail("a\nb", 3, 100), "a\nb");
        let t = tail(&"é".repeat(100), 10, 11);
        assert!(t.ends_with("éééé") && t.len() < 40, "{t}");
        assert_eq!(tail("", 3, 10), "");
    }

    fn config(values: Value) -> Config {
        Config {
            project: None,
            user: ConfigFile {
                path: "/x".into(),
                values: values.as_object().unwrap().clone(),
            },
        }
    }

    #[test]
    fn settings_come_from_config_with_defaults() {
        let s = Settings::from_config(&config(json!({}))).unwrap();
        assert_eq!(s, Settings::default());
        let s = Settings::from_config(&config(json!({
            "worktree": {"enabled": "false", "base": "develop", "include": [".env", "conf/x"]},
            "merge": {"strategy": "squash", "gate": "cargo test", "gateTimeoutSeconds": 90,
                      "auto": true, "into": "main"}
        })))
        .unwrap();
        assert!(!s.enabled);
        assert_eq!(s.base.as_deref(), Some("develop"));
        assert_eq!(
            s.include,
            vec![PathBuf::from(".env"), PathBuf::from("conf/x")]
        );
        assert_eq!(s.strategy, Strategy::Squash);
        assert_eq!(
            s.gate,
            Some(Gate {
                command: "cargo test".into(),
                timeout: Duration::from_secs(90)
            })
        );
        assert!(s.auto);
        assert_eq!(s.into.as_deref(), Some("main"));
        for bad in [
            json!({"merge": {"strategy": "octopus"}}),
            json!({"worktree": {"enabled": "maybe"}}),
            json!({"worktree": {"include": ["../up"]}}),
            json!({"worktree": {"include": 3}}),
            json!({"merge": {"gateTimeoutSeconds": -1}}),
        ] {
            let e = Settings::from_config(&config(bad.clone())).unwrap_err();
            assert!(e.suggestion().is_some(), "{bad}");
        }
    }

    fn info(task: &str, state: WorktreeState) -> WorktreeInfo {
        WorktreeInfo {
            path: PathBuf::from(format!("/h/worktrees/app-1/{task}")),
            repo: Some("/src/app/.git".into()),
            task_id: Some(task.into()),
            project_id: Some("p-1".into()),
            branch: Some(format!("maestro/{task}-x")),
            head: Some("c1".into()),
            branch_head: Some("c1".into()),
            merged_head: (state == WorktreeState::Merged).then(|| "c1".to_string()),
            state,
            on_disk: true,
            registered: true,
            maestro: true,
            inside_root: true,
            changes: 0,
            locked: None,
            size_bytes: 10,
            admin_dir: Some(format!("/src/app/.git/worktrees/{task}").into()),
        }
    }

    #[test]
    fn gc_removes_only_clean_merged_or_deleted_maestro_worktrees() {
        let mut dirty = info("t-dirty", WorktreeState::Merged);
        dirty.changes = 2;
        let mut locked = info("t-locked", WorktreeState::Deleted);
        locked.locked = Some("session s-1".into());
        let mut outside = info("t-out", WorktreeState::Merged);
        outside.inside_root = false;
        let mut foreign = info("t-foreign", WorktreeState::Deleted);
        foreign.maestro = false;
        let mut moved = info("t-moved", WorktreeState::Merged);
        moved.branch_head = Some("c2".into());
        let mut gone = info("t-gone", WorktreeState::Deleted);
        gone.on_disk = false;
        let infos = vec![
            info("t-merged", WorktreeState::Merged),
            info("t-deleted", WorktreeState::Deleted),
            info("t-active", WorktreeState::Active),
            info("t-unknown", WorktreeState::Unknown),
            dirty,
            locked,
            outside,
            foreign,
            moved,
            gone,
        ];
        let plan = plan_gc(&infos);
        assert_eq!(plan.removals(), vec!["t-merged", "t-deleted", "t-moved"]);
        assert_eq!(
            plan.branch_deletions(),
            vec!["maestro/t-merged-x"],
            "deleted or moved branches are kept"
        );
        assert!(
            plan.actions.iter().any(
                |a| matches!(a, GcAction::PruneWorktree { task_id, .. } if task_id == "t-gone")
            )
        );
        let kept: Vec<(&str, &str)> = plan
            .kept
            .iter()
            .map(|k| (k.task_id.as_deref().unwrap(), k.reason.as_str()))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("t-active", "its task is active (branch not merged)"),
                ("t-unknown", "its project is not in this store"),
                ("t-dirty", "2 uncommitted changes"),
                ("t-locked", "locked: session s-1"),
                ("t-out", "outside the worktrees folder"),
                ("t-foreign", "not created by Maestro"),
            ]
        );
    }

    #[test]
    fn a_merged_record_counts_only_while_the_branch_is_unmoved() {
        let mut r = WorktreeRecord {
            task_id: "t-1".into(),
            project_id: "p-1".into(),
            path: "/x".into(),
            branch: "maestro/t-1-x".into(),
            merged_head: Some("c1".into()),
            deleted: false,
        };
        assert_eq!(record_state(&r, Some("c1")), WorktreeState::Merged);
        assert_eq!(record_state(&r, Some("c2")), WorktreeState::Active);
        assert_eq!(record_state(&r, None), WorktreeState::Merged);
        r.merged_head = None;
        assert_eq!(record_state(&r, Some("c1")), WorktreeState::Active);
        r.deleted = true;
        assert_eq!(record_state(&r, Some("c1")), WorktreeState::Deleted);
    }
}
