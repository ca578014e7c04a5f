//! What the database backends (SQLite, PostgreSQL) share of their row primitives: the
//! column lists and conditions whose SQL both dialects read alike, and the conversions of
//! optional values into columns.

use crate::error::Result;
use crate::model::{DependencyRef, Timestamp, ms};

pub const SUBTASK_COLS: &str =
    "id, task_id, title, description, completed, ord, created_at, updated_at, completed_at";

pub const SESSION_COLS: &str = "id, project_id, name, role, skill, agent, task_ids, status, \
    spawned_by, pid, host, cwd, exit_code, reason, created_at, started_at, ended_at, last_seen, \
    agent_session_id, usage, result, budget, resume_of, no_worktree";

/// The number of columns in [`SESSION_COLS`].
pub const SESSION_COLS_LEN: usize = 24;

/// Ready: pending, with every dependency completed (`open_deps` counts the others).
pub const READY_CONDITION: &str = "t.status = 'pending' AND t.open_deps = 0";

/// A session that has not ended.
pub const NOT_ENDED: &str = "status NOT IN ('completed', 'failed', 'stopped', 'lost')";

/// Adds `n` to the count of `key` in a tally's `(key, count)` list (the rows of
/// `task_counts`, which both stores keep).
pub fn add<K: PartialEq>(counts: &mut Vec<(K, i64)>, key: K, n: i64) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, c)) => *c += n,
        None => counts.push((key, n)),
    }
}

pub fn opt_ms(t: &Option<Timestamp>) -> Option<i64> {
    t.as_ref().map(ms)
}

/// A nullable JSON column's text.
pub fn opt_json<T: serde::Serialize>(v: &Option<T>) -> Result<Option<String>> {
    Ok(match v {
        Some(v) => Some(serde_json::to_string(v)?),
        None => None,
    })
}

/// Dependency refs by their sort key (position or insertion), then id: a task's few rows
/// cost less to sort here than in the database.
pub fn sorted(mut refs: Vec<(i64, DependencyRef)>) -> Vec<DependencyRef> {
    refs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    refs.into_iter().map(|(_, d)| d).collect()
}
