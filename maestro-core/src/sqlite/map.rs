//! Mapping between SQLite rows and model types.

use crate::model::*;
use rusqlite::Row;
use serde::de::DeserializeOwned;

/// The columns of [`task_fields`]: a task's own row, without its dependencies.
macro_rules! task_row_cols {
    () => {
        "t.id, t.project_id, t.title, t.description, t.status, t.priority, \
        t.labels, t.session_ids, t.metadata, t.version, t.claim_epoch, t.created_at, t.updated_at, \
        t.started_at, t.completed_at, t.blocked_reason, t.worktree"
    };
}

pub const TASK_COLS: &str = concat!(
    task_row_cols!(),
    ", (SELECT json_group_array(depends_on) FROM \
        (SELECT depends_on FROM task_deps WHERE task_id = t.id ORDER BY position))"
);

/// The number of columns in [`TASK_COLS`].
pub const TASK_COLS_LEN: usize = 18;

pub use crate::sql::{SESSION_COLS, SESSION_COLS_LEN, SUBTASK_COLS};

pub use crate::model::ts;

pub fn opt_ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(ts)
}

fn conversion_error(
    idx: usize,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

/// A text column, borrowed from the row (no copy).
fn text<'r>(row: &'r Row<'_>, idx: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(idx)?
        .as_str()
        .map_err(|e| conversion_error(idx, e))
}

fn json_col<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    serde_json::from_str(text(row, idx)?).map_err(|e| conversion_error(idx, e))
}

fn parsed<T: std::str::FromStr<Err = crate::Error>>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    text(row, idx)?
        .parse()
        .map_err(|e: crate::Error| conversion_error(idx, e))
}

/// `TASK_COLS`: the task with its dependencies.
pub fn task(row: &Row<'_>) -> rusqlite::Result<Task> {
    task_fields(row, json_col(row, 17)?)
}

/// The columns of `task_row_cols!()`, with the dependencies read apart.
pub fn task_fields(row: &Row<'_>, dependencies: Vec<String>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: row.get(0)?,
        project_id: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        status: parsed(row, 4)?,
        priority: parsed(row, 5)?,
        labels: json_col(row, 6)?,
        session_ids: json_col(row, 7)?,
        metadata: json_col(row, 8)?,
        version: row.get(9)?,
        claim_epoch: row.get(10)?,
        created_at: ts(row.get(11)?),
        updated_at: ts(row.get(12)?),
        started_at: opt_ts(row.get(13)?),
        completed_at: opt_ts(row.get(14)?),
        blocked_reason: row.get(15)?,
        worktree: opt_json(row, 16)?,
        dependencies,
    })
}

pub fn subtask(row: &Row<'_>) -> rusqlite::Result<Subtask> {
    Ok(Subtask {
        id: row.get(0)?,
        task_id: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        completed: row.get(4)?,
        order: row.get(5)?,
        created_at: ts(row.get(6)?),
        updated_at: ts(row.get(7)?),
        completed_at: opt_ts(row.get(8)?),
    })
}

pub fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        project_id: row.get(1)?,
        name: row.get(2)?,
        role: parsed(row, 3)?,
        skill: row.get(4)?,
        agent: row.get(5)?,
        task_ids: json_col(row, 6)?,
        status: parsed(row, 7)?,
        spawned_by: row.get(8)?,
        pid: row.get(9)?,
        host: row.get(10)?,
        cwd: row.get(11)?,
        exit_code: row.get(12)?,
        reason: row.get(13)?,
        created_at: ts(row.get(14)?),
        started_at: opt_ts(row.get(15)?),
        ended_at: opt_ts(row.get(16)?),
        last_seen: ts(row.get(17)?),
        agent_session_id: row.get(18)?,
        usage: opt_json(row, 19)?,
        result: opt_json(row, 20)?,
        budget: opt_json(row, 21)?,
        resume_of: row.get(22)?,
        no_worktree: row.get(23)?,
    })
}

/// A nullable JSON column.
fn opt_json<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => json_col(row, idx).map(Some),
    }
}

/// `id, task_id, data, session_id, ts`
pub fn timeline(row: &Row<'_>) -> rusqlite::Result<TimelineEntry> {
    Ok(TimelineEntry {
        id: row.get(0)?,
        task_id: row.get(1)?,
        kind: json_col(row, 2)?,
        session_id: row.get(3)?,
        timestamp: ts(row.get(4)?),
    })
}

/// `seq, type, ts, project_id, data`
pub fn event(row: &Row<'_>) -> rusqlite::Result<Event> {
    let ty: String = row.get(1)?;
    Ok(Event {
        seq: row.get(0)?,
        event_type: EventType::parse(&ty).ok_or_else(|| {
            conversion_error(1, std::io::Error::other(format!("unknown event type {ty}")))
        })?,
        ts: ts(row.get(2)?),
        project_id: row.get(3)?,
        data: json_col(row, 4)?,
    })
}

/// `id, name, created_at`
pub fn project(row: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: ts(row.get(2)?),
        default: false,
    })
}
