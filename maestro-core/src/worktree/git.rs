//! Running the `git` binary: one place that builds the command line, keeps the user's
//! environment from steering it (`GIT_DIR` and friends, prompts, editors, the locale of
//! messages), and turns a failure into a clear [`Error`] naming the command and git's own
//! words. Also the parsers of git's machine-readable output, which are pure.

use crate::error::{Code, Error, Result};
use serde_json::json;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Variables that would point git at another repository, index or work tree than the one
/// `-C` names (they are set inside git hooks, for example).
const STEERING_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
];

/// The identity of commits Maestro makes when the repository configures none.
pub const FALLBACK_NAME: &str = "Maestro";
pub const FALLBACK_EMAIL: &str = "maestro@localhost";

/// Git run in one directory (`git -C <dir>`), with optional `-c` settings for every call.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    config: Vec<String>,
    env: Vec<(String, String)>,
}

/// What a git command printed and how it ended.
#[derive(Debug, Clone)]
pub struct GitOutput {
    /// The exit code; `None` when a signal ended git.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl GitOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Standard output as text, without the trailing newline.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout)
            .trim_end_matches('\n')
            .to_string()
    }
}

impl Git {
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            config: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same git in another directory.
    pub fn at_dir(&self, dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            ..self.clone()
        }
    }

    /// For Maestro's own commits and rebases: no hooks (a repository's pre-commit hook must
    /// not decide whether a worker's files are kept), no signing prompts, no editors, no
    /// stashing or rerere, and an identity when the repository has none.
    pub fn for_commits(mut self) -> Result<Self> {
        for c in [
            "core.hooksPath=/dev/null",
            "commit.gpgSign=false",
            "tag.gpgSign=false",
            "rebase.autoStash=false",
            "rebase.autoSquash=false",
            "rebase.updateRefs=false",
            "rerere.enabled=false",
            "merge.autoStash=false",
        ] {
            self.config.push(c.to_string());
        }
        self.env.push(("GIT_EDITOR".into(), "true".into()));
        self.env.push(("GIT_SEQUENCE_EDITOR".into(), "true".into()));
        let email = self.cmd(["config", "--get", "user.email"]).output()?;
        let env_email = ["GIT_COMMITTER_EMAIL", "GIT_AUTHOR_EMAIL", "EMAIL"]
            .iter()
            .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
        if needs_fallback_identity(&email.text(), env_email) {
            for (k, v) in [
                ("GIT_AUTHOR_NAME", FALLBACK_NAME),
                ("GIT_AUTHOR_EMAIL", FALLBACK_EMAIL),
                ("GIT_COMMITTER_NAME", FALLBACK_NAME),
                ("GIT_COMMITTER_EMAIL", FALLBACK_EMAIL),
            ] {
                self.env.push((k.into(), v.into()));
            }
        }
        Ok(self)
    }

    /// A command with these arguments; add more with [`GitCmd::arg`].
    pub fn cmd<I, S>(&self, args: I) -> GitCmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        GitCmd {
            git: self.clone(),
            args: args
                .into_iter()
                .map(|a| a.as_ref().to_os_string())
                .collect(),
            env: Vec::new(),
        }
    }
}

/// Whether Maestro must supply an identity: the repository has no `user.email` and the
/// environment gives none.
pub fn needs_fallback_identity(configured_email: &str, env_has_email: bool) -> bool {
    configured_email.trim().is_empty() && !env_has_email
}

/// One git invocation being built.
pub struct GitCmd {
    git: Git,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl GitCmd {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    /// `git <args>` as text, for messages.
    pub fn describe(&self) -> String {
        let mut s = String::from("git");
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Runs git and returns its output whatever the exit code; fails only when git cannot
    /// be started.
    pub fn output(&self) -> Result<GitOutput> {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.git.dir);
        for c in &self.git.config {
            cmd.arg("-c").arg(c);
        }
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in STEERING_VARS {
            cmd.env_remove(k);
        }
        cmd.env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true");
        cmd.envs(self.git.env.iter().map(|(k, v)| (k, v)));
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(Code::GitFailed, "git is not installed (no 'git' on PATH)")
                    .with_suggestion(
                        "Install git (e.g. 'apt-get install git'), or turn worktrees off with 'maestro config set worktree.enabled false'",
                    )
            } else {
                Error::new(
                    Code::GitFailed,
                    format!("cannot run '{}': {e}", self.describe()),
                )
                .with_details(json!({ "command": self.describe(), "dir": self.git.dir }))
            }
        })?;
        Ok(GitOutput {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Runs git; a non-zero exit is a `git_failed` error with git's message.
    pub fn run(&self) -> Result<String> {
        let out = self.output()?;
        if out.success() {
            Ok(out.text())
        } else {
            Err(self.failed(&out))
        }
    }

    /// Runs git; a non-zero exit is a `git_failed` error. Standard output as bytes.
    pub fn run_bytes(&self) -> Result<Vec<u8>> {
        let out = self.output()?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.failed(&out))
        }
    }

    /// Runs a git command that answers yes (exit 0) or no (exit 1); anything else fails.
    pub fn check(&self) -> Result<bool> {
        let out = self.output()?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.failed(&out)),
        }
    }

    /// The error for a failed run.
    pub fn failed(&self, out: &GitOutput) -> Error {
        let first = out
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        Error::new(
            Code::GitFailed,
            format!("'{}' failed: {first}", self.describe()),
        )
        .with_details(json!({
            "command": self.describe(),
            "dir": self.git.dir,
            "exitCode": out.code,
            "stderr": out.stderr,
        }))
    }
}

/// One entry of `git worktree list --porcelain -z`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListedWorktree {
    pub path: PathBuf,
    pub head: Option<String>,
    /// The branch checked out, without `refs/heads/`.
    pub branch: Option<String>,
    pub bare: bool,
    pub detached: bool,
    /// `Some(reason)` when locked (the reason may be empty).
    pub locked: Option<String>,
    /// `Some(reason)` when git considers it prunable (its folder is gone).
    pub prunable: Option<String>,
}

/// Parses `git worktree list --porcelain -z`: attributes end with NUL, records with an
/// extra NUL. Unknown attributes are ignored, so newer git versions parse too.
pub fn parse_worktree_list(out: &[u8]) -> Vec<ListedWorktree> {
    let mut list = Vec::new();
    let mut cur: Option<ListedWorktree> = None;
    for field in out.split(|b| *b == 0) {
        if field.is_empty() {
            list.extend(cur.take());
            continue;
        }
        let (key, value) = match field.iter().position(|b| *b == b' ') {
            Some(i) => (&field[..i], Some(&field[i + 1..])),
            None => (field, None),
        };
        let text = || value.map(|v| String::from_utf8_lossy(v).into_owned());
        match key {
            b"worktree" => {
                list.extend(cur.take());
                cur = Some(ListedWorktree {
                    path: PathBuf::from(OsStr::from_bytes(value.unwrap_or_default())),
                    ..Default::default()
                });
            }
            _ => {
                let Some(w) = cur.as_mut() else { continue };
                match key {
                    b"HEAD" => w.head = text(),
                    b"branch" => {
                        w.branch = text().map(|b| {
                            b.strip_prefix("refs/heads/")
                                .map(str::to_string)
                                .unwrap_or(b)
                        })
                    }
                    b"bare" => w.bare = true,
                    b"detached" => w.detached = true,
                    b"locked" => w.locked = Some(text().unwrap_or_default()),
                    b"prunable" => w.prunable = Some(text().unwrap_or_default()),
                    _ => {}
                }
            }
        }
    }
    list.extend(cur);
    list
}

/// Splits NUL-separated output (`-z`) into paths.
pub fn split_z(out: &[u8]) -> Vec<String> {
    out.split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// The paths of `git status --porcelain -z` (a rename's source is skipped).
pub fn parse_status_paths(out: &[u8]) -> Vec<String> {
    let mut paths = Vec::new();
    let mut fields = out.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(f) = fields.next() {
        if f.len() < 4 {
            continue;
        }
        let (xy, path) = (&f[..2], &f[3..]);
        paths.push(String::from_utf8_lossy(path).into_owned());
        if xy.contains(&b'R') || xy.contains(&b'C') {
            fields.next();
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktree_list_parses_every_kind_of_entry() {
        let out = b"worktree /r\0HEAD aaa\0branch refs/heads/main\0\0\
worktree /w/t-1\0HEAD bbb\0branch refs/heads/maestro/t-1-x\0locked session s-1 holds it\0\0\
worktree /w/m-1\0HEAD ccc\0detached\0locked\0\0\
worktree /gone\0HEAD ddd\0detached\0prunable gitdir file points to non-existent location\0\0";
        let l = parse_worktree_list(out);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].path, PathBuf::from("/r"));
        assert_eq!(l[0].branch.as_deref(), Some("main"));
        assert_eq!(l[0].locked, None);
        assert_eq!(l[1].branch.as_deref(), Some("maestro/t-1-x"));
        assert_eq!(l[1].locked.as_deref(), Some("session s-1 holds it"));
        assert!(l[2].detached && l[2].branch.is_none());
        assert_eq!(l[2].locked.as_deref(), Some(""));
        assert!(l[3].prunable.is_some());
        // A bare main repository and output without the final record separator.
        let l = parse_worktree_list(b"worktree /b.git\0bare\0\0worktree /x\0HEAD e\0detached\0");
        assert!(l[0].bare);
        assert_eq!(l[1].head.as_deref(), Some("e"));
        assert!(parse_worktree_list(b"").is_empty());
    }

    #[test]
    fn status_paths_skip_rename_sources() {
        let out = b" M a.txt\0R  new.txt\0old.txt\0?? dir/u.txt\0";
        assert_eq!(
            parse_status_paths(out),
            vec!["a.txt", "new.txt", "dir/u.txt"]
        );
        assert!(parse_status_paths(b"").is_empty());
    }

    #[test]
    fn a_fallback_identity_only_when_none_is_configured() {
        assert!(needs_fallback_identity("", false));
        assert!(needs_fallback_identity("  ", false));
        assert!(!needs_fallback_identity("a@b", false));
        assert!(!needs_fallback_identity("", true));
    }
}
