//! Moving a team: copies a SQLite store into an empty PostgreSQL database, with its whole
//! event log (ids and seqs kept), in one transaction that checks every table's count before
//! it commits.

use super::PgStore;
use crate::error::{Error, Result};
use rusqlite::types::Value as SqlValue;
use serde::Serialize;
use tokio_postgres::types::{ToSql, Type};

/// The tables copied, each with its columns, in an order that satisfies foreign keys, and
/// the order rows are read in (insertion order, so generated positions come out alike).
pub const TABLES: &[(&str, &str, &str)] = &[
    ("meta", "key, value", "key"),
    ("projects", "id, name, created_at", "rowid"),
    (
        "tasks",
        "id, project_id, title, description, status, priority, priority_rank, labels, \
         session_ids, metadata, version, claim_epoch, created_at, updated_at, started_at, \
         completed_at, seq, open_deps, blocked_reason, worktree",
        "rowid",
    ),
    (
        "task_deps",
        "task_id, depends_on, position",
        "task_id, depends_on",
    ),
    (
        "task_claims",
        "task_id, session_id, epoch, released",
        "task_id, session_id",
    ),
    (
        "subtasks",
        "id, task_id, title, description, completed, ord, created_at, updated_at, completed_at",
        "rowid",
    ),
    ("timeline", "id, task_id, data, session_id, ts", "id"),
    (
        "sessions",
        "id, project_id, name, role, skill, agent, task_ids, status, spawned_by, pid, host, \
         cwd, exit_code, reason, created_at, started_at, ended_at, last_seen, seq, \
         agent_session_id, usage, result, budget, resume_of, no_worktree",
        "rowid",
    ),
    (
        "merge_queues",
        "project_id, target, queue, updated_at",
        "project_id, target",
    ),
    ("events", "seq, type, ts, project_id, data", "seq"),
    ("ops", "key, op, fingerprint, result, created_at", "key"),
];

/// Tables the store derives from the others (kept by triggers in both stores): not
/// copied; the copy counts the tasks it copied into them, and checks them against the tasks
/// before it commits.
pub const DERIVED: &[&str] = &["task_counts"];

/// What a copy moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    /// `(table, rows)`, every count checked equal in the target before the commit.
    pub tables: Vec<(String, i64)>,
    /// The latest seq of the event log: the target's next event gets the one after.
    pub latest_seq: i64,
}

/// Copies the SQLite store at `from` (migrated to the current schema first) into `to`,
/// which must hold no data yet.
pub async fn from_sqlite(from: &std::path::Path, to: &PgStore) -> Result<CopyReport> {
    if !from.exists() {
        return Err(Error::invalid_argument(format!(
            "There is no SQLite store at {}",
            from.display()
        ))
        .with_suggestion("Give the store's file with --from, e.g. --from .maestro/maestro.db"));
    }
    let (source, used) = read_source(from)?;
    let mut client = to.client().await?;
    let tx = client.transaction().await?;
    tx.execute("LOCK TABLE event_counter IN EXCLUSIVE MODE", &[])
        .await?;
    for (table, _, _) in TABLES {
        let any = tx
            .query_opt(&format!("SELECT 1 FROM {table} LIMIT 1"), &[])
            .await?;
        if any.is_some() {
            return Err(Error::invalid_argument(format!(
                "The target database {} is not empty (its table {table} has rows): a copy goes only into an empty store",
                to.url()
            ))
            .with_details(serde_json::json!({ "db": to.url(), "table": table }))
            .with_suggestion("Point --to at a new, empty database (CREATE DATABASE maestro_new)"));
        }
    }
    // The counts are made once at the end: kept row by row, the copy's thousands of tasks
    // would update the same few count rows thousands of times in one transaction (each
    // update a new version of the row), several times slower than the copy itself. Other
    // sessions never see the trigger off (ALTER TABLE is transactional, and locks tasks).
    tx.batch_execute("ALTER TABLE tasks DISABLE TRIGGER task_counts_insert")
        .await?;
    let mut tables = Vec::new();
    for ((table, cols, _), rows) in TABLES.iter().zip(source) {
        let n = cols.split(',').count();
        let placeholders: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {table} ({cols}) VALUES ({})",
                placeholders.join(", ")
            ))
            .await?;
        let types = insert.params().to_vec();
        let copied = rows.len() as i64;
        for row in rows {
            let values = row
                .into_iter()
                .zip(&types)
                .map(|(v, ty)| param(v, ty, table))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&(dyn ToSql + Sync)> = values
                .iter()
                .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                .collect();
            tx.execute(&insert, &refs).await?;
        }
        let there: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await?
            .try_get(0)?;
        if there != copied {
            return Err(Error::storage(format!(
                "the copy of {table} holds {there} rows, the source {copied}; nothing was committed"
            )));
        }
        tables.push((table.to_string(), copied));
    }
    tx.batch_execute(
        "INSERT INTO task_counts (project_id, status, priority, ready, n)
         SELECT project_id, status, priority, status = 'pending' AND open_deps = 0, COUNT(*)
           FROM tasks GROUP BY 1, 2, 3, 4;
         ALTER TABLE tasks ENABLE TRIGGER task_counts_insert",
    )
    .await?;
    let astray: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM (
                 SELECT project_id, status, priority, ready, n FROM task_counts WHERE n <> 0
                 EXCEPT ALL
                 SELECT project_id, status, priority, status = 'pending' AND open_deps = 0, COUNT(*)
                   FROM tasks GROUP BY 1, 2, 3, 4
             ) astray",
            &[],
        )
        .await?
        .try_get(0)?;
    let groups: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks GROUP BY project_id, status, priority,
                 status = 'pending' AND open_deps = 0) g",
            &[],
        )
        .await?
        .try_get(0)?;
    let kept: i64 = tx
        .query_one("SELECT COUNT(*) FROM task_counts WHERE n <> 0", &[])
        .await?
        .try_get(0)?;
    if astray != 0 || kept != groups {
        return Err(Error::storage(
            "the copy's task counts disagree with its tasks; nothing was committed",
        ));
    }
    tx.execute("UPDATE event_counter SET seq = $1 WHERE id = 1", &[&used])
        .await?;
    for table in ["projects", "timeline"] {
        let col = if table == "projects" { "pos" } else { "id" };
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{col}'),
                    GREATEST((SELECT COALESCE(MAX({col}), 0) FROM {table}), 1))"
            ),
            &[],
        )
        .await?;
    }
    tx.commit().await?;
    to.note_commit(used);
    Ok(CopyReport {
        tables,
        latest_seq: used,
    })
}

/// The rows of every table of [`TABLES`], read in one snapshot of the store at `from`
/// (migrated to the current schema first), and the highest seq it ever handed out (even one
/// pruned since), which the target must never hand out again.
fn read_source(from: &std::path::Path) -> Result<(Vec<Vec<Vec<SqlValue>>>, i64)> {
    crate::sqlite::SqliteStore::open(from)?;
    let mut src =
        rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let snapshot = src.transaction()?;
    let mut tables = Vec::new();
    for (table, cols, order) in TABLES {
        let n = cols.split(',').count();
        let mut stmt = snapshot.prepare(&format!("SELECT {cols} FROM {table} ORDER BY {order}"))?;
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get::<_, SqlValue>(i)).collect())?
            .collect::<rusqlite::Result<Vec<Vec<SqlValue>>>>()?;
        tables.push(rows);
    }
    let used: i64 = snapshot.query_row(
        "SELECT MAX(n) FROM (SELECT COALESCE(MAX(seq), 0) AS n FROM events
         UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'events')",
        [],
        |r| r.get(0),
    )?;
    Ok((tables, used))
}

/// A SQLite value as a parameter of the target column's type.
fn param(v: SqlValue, ty: &Type, table: &str) -> Result<Box<dyn ToSql + Sync + Send>> {
    let mismatch = |v: &SqlValue| {
        Error::storage(format!(
            "a value of {table} ({v:?}) does not fit its PostgreSQL column ({ty})"
        ))
    };
    Ok(match (*ty == Type::INT8, *ty == Type::BOOL, v) {
        (_, _, SqlValue::Null) if *ty == Type::INT8 => Box::new(None::<i64>),
        (_, _, SqlValue::Null) if *ty == Type::BOOL => Box::new(None::<bool>),
        (_, _, SqlValue::Null) => Box::new(None::<String>),
        (true, _, SqlValue::Integer(i)) => Box::new(i),
        (_, true, SqlValue::Integer(i)) => Box::new(i != 0),
        (false, false, SqlValue::Text(s)) if *ty == Type::TEXT => Box::new(s),
        (_, _, other) => return Err(mismatch(&other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table of the SQLite schema is copied, with every column: a new SQLite
    /// migration must be mirrored in `migrations-postgres/` and here.
    #[test]
    fn the_copy_covers_every_table_and_column_of_the_sqlite_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        crate::sqlite::SqliteStore::open(&db).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        let mut schema: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        schema.retain(|t| !DERIVED.contains(&t.as_str()));
        schema.sort();
        let mut copied: Vec<String> = TABLES.iter().map(|t| t.0.to_string()).collect();
        copied.sort();
        assert_eq!(schema, copied);
        for (table, cols, _) in TABLES {
            let mut info = conn
                .prepare(&format!("PRAGMA table_info({table})"))
                .unwrap();
            let mut have: Vec<String> = info
                .query_map([], |r| r.get(1))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            have.sort();
            let mut want: Vec<String> = cols.split(',').map(|c| c.trim().to_string()).collect();
            want.sort();
            assert_eq!(have, want, "{table}");
        }
    }
}
