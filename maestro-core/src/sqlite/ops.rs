//! The operations, each run inside one transaction handed in by the store.

use super::rows::{self, SESSION_COLS, SUBTASK_COLS, TASK_COLS};
use crate::dag;
use crate::error::{Code, Error, Result};
use crate::id::{self, IdKind};
use crate::model::*;
use crate::status::{self, Transition};
use crate::store::*;
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::{Map, Value, json};

mod lease;
pub use lease::{any_expired, claim_spawn, reap_expired};

type Tx<'a> = Transaction<'a>;

/// Runs a statement through the connection's statement cache: the same few statements
/// run on every operation, and parsing them each time was a visible share of the work.
fn exec<P: rusqlite::Params>(tx: &Tx, sql: &str, params: P) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// Reads one row through the statement cache.
fn row<T, P, F>(tx: &Tx, sql: &str, params: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    tx.prepare_cached(sql)?.query_row(params, f)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---- plumbing --------------------------------------------------------------------------

pub fn recorded_op(tx: &Tx, op_id: &str) -> Result<Option<String>> {
    Ok(
        row(tx, "SELECT result FROM ops WHERE id = ?1", [op_id], |r| {
            r.get(0)
        })
        .optional()?,
    )
}

pub fn record_op(tx: &Tx, op_id: &str, result: &str, now: i64) -> Result<()> {
    exec(
        tx,
        "INSERT INTO ops (id, result, created_at) VALUES (?1, ?2, ?3)",
        params![op_id, result, now],
    )?;
    Ok(())
}

pub fn latest_seq(tx: &Tx) -> Result<i64> {
    Ok(row(
        tx,
        "SELECT COALESCE(MAX(seq), 0) FROM events",
        [],
        |r| r.get(0),
    )?)
}

/// Refreshes the lease of the acting session.
pub fn touch_session(tx: &Tx, session_id: &str, now: i64) -> Result<()> {
    lease::check_not_lost(tx, session_id)?;
    exec(
        tx,
        "UPDATE sessions SET last_seen = ?2 WHERE id = ?1",
        params![session_id, now],
    )?;
    Ok(())
}

/// Appends an event to the durable log.
fn emit(tx: &Tx, ty: EventType, project_id: &str, data: &impl Serialize, now: i64) -> Result<()> {
    exec(
        tx,
        "INSERT INTO events (type, ts, project_id, data) VALUES (?1, ?2, ?3, ?4)",
        params![ty.as_str(), now, project_id, serde_json::to_string(data)?],
    )?;
    Ok(())
}

/// Resolves an id or unique id prefix in `table`.
fn resolve(
    tx: &Tx,
    table: &str,
    kind: IdKind,
    input: &str,
    not_found: fn(&str) -> Error,
) -> Result<String> {
    let norm = id::normalize(kind, input)?;
    let exact: Option<String> = row(
        tx,
        &format!("SELECT id FROM {table} WHERE id = ?1"),
        [&norm],
        |r| r.get(0),
    )
    .optional()?;
    if let Some(id) = exact {
        return Ok(id);
    }
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT id FROM {table} WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 6"
    ))?;
    let matches: Vec<String> = stmt
        .query_map(params![norm, id::prefix_upper_bound(&norm)], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    match matches.len() {
        0 => Err(not_found(input.trim())),
        1 => Ok(matches.into_iter().next().expect("one match")),
        _ => Err(
            Error::new(Code::AmbiguousId, format!("'{input}' matches several ids"))
                .with_details(json!({ "prefix": input, "matches": matches }))
                .with_suggestion("Type more characters of the id"),
        ),
    }
}

pub fn resolve_task(tx: &Tx, input: &str) -> Result<String> {
    resolve(tx, "tasks", IdKind::Task, input, Error::task_not_found)
}
pub fn resolve_session(tx: &Tx, input: &str) -> Result<String> {
    resolve(
        tx,
        "sessions",
        IdKind::Session,
        input,
        Error::session_not_found,
    )
}
fn resolve_subtask(tx: &Tx, input: &str) -> Result<String> {
    resolve(
        tx,
        "subtasks",
        IdKind::Subtask,
        input,
        Error::subtask_not_found,
    )
}

/// A page cursor: the insertion `seq` of the last row of the previous page.
fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    match c.parse::<i64>() {
        Ok(seq) if seq >= 0 && c.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(seq)),
        _ => Err(
            Error::invalid_argument(format!("'{c}' is not a valid cursor"))
                .with_details(json!({ "cursor": c }))
                .with_suggestion("Pass the nextCursor value of the previous page unchanged"),
        ),
    }
}

/// Rows fetched with their `seq`, `limit + 1` of them, as a page.
fn page<T>(mut rows: Vec<(T, i64)>, limit: usize) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, seq)| seq.to_string())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(item, _)| item).collect(),
        next_cursor,
    }
}

// ---- projects --------------------------------------------------------------------------

pub fn create_project(tx: &Tx, name: &str, make_default: bool, now: i64) -> Result<Project> {
    let project = Project {
        id: id::new_id(IdKind::Project),
        name: name.to_string(),
        created_at: rows::ts(now),
    };
    exec(
        tx,
        "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![project.id, project.name, now],
    )?;
    let has_default = default_project_id(tx)?.is_some();
    if make_default || !has_default {
        exec(
            tx,
            "INSERT INTO meta (key, value) VALUES ('default_project', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [&project.id],
        )?;
    }
    emit(tx, EventType::ProjectCreated, &project.id, &project, now)?;
    Ok(project)
}

fn default_project_id(tx: &Tx) -> Result<Option<String>> {
    Ok(row(
        tx,
        "SELECT value FROM meta WHERE key = 'default_project'",
        [],
        |r| r.get(0),
    )
    .optional()?)
}

pub fn list_projects(tx: &Tx) -> Result<Vec<Project>> {
    let mut stmt =
        tx.prepare_cached("SELECT id, name, created_at FROM projects ORDER BY created_at, rowid")?;
    let out = stmt
        .query_map([], rows::project)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(out)
}

pub fn get_project(tx: &Tx, input: &str) -> Result<Project> {
    let id = resolve(
        tx,
        "projects",
        IdKind::Project,
        input,
        Error::project_not_found,
    )?;
    Ok(row(
        tx,
        "SELECT id, name, created_at FROM projects WHERE id = ?1",
        [id],
        rows::project,
    )?)
}

pub fn resolve_project(tx: &Tx, input: Option<&str>) -> Result<Project> {
    match input {
        Some(id) => get_project(tx, id),
        None => match default_project_id(tx)? {
            Some(id) => get_project(tx, &id),
            None => Err(Error::no_project_context()),
        },
    }
}

// ---- tasks -----------------------------------------------------------------------------

pub fn load_task(tx: &Tx, id: &str) -> Result<Task> {
    let mut stmt =
        tx.prepare_cached(&format!("SELECT {TASK_COLS} FROM tasks t WHERE t.id = ?1"))?;
    stmt.query_row([id], rows::task)
        .optional()?
        .ok_or_else(|| Error::task_not_found(id))
}

fn save_task(tx: &Tx, t: &Task) -> Result<()> {
    exec(
        tx,
        "UPDATE tasks SET title = ?2, description = ?3, status = ?4, priority = ?5, priority_rank = ?6,
            labels = ?7, session_ids = ?8, metadata = ?9, version = ?10, claim_epoch = ?11,
            updated_at = ?12, started_at = ?13, completed_at = ?14
         WHERE id = ?1",
        params![
            t.id,
            t.title,
            t.description,
            t.status.as_str(),
            t.priority.as_str(),
            t.priority.rank(),
            serde_json::to_string(&t.labels)?,
            serde_json::to_string(&t.session_ids)?,
            serde_json::to_string(&t.metadata)?,
            t.version,
            t.claim_epoch,
            t.updated_at.timestamp_millis(),
            t.started_at.map(|d| d.timestamp_millis()),
            t.completed_at.map(|d| d.timestamp_millis()),
        ],
    )?;
    Ok(())
}

/// Appends a timeline entry (and its event).
fn add_entry(
    tx: &Tx,
    task: &Task,
    kind: TimelineKind,
    session: Option<&str>,
    now: i64,
) -> Result<TimelineEntry> {
    exec(
        tx,
        "INSERT INTO timeline (task_id, data, session_id, ts) VALUES (?1, ?2, ?3, ?4)",
        params![task.id, serde_json::to_string(&kind)?, session, now],
    )?;
    let entry = TimelineEntry {
        id: tx.last_insert_rowid(),
        task_id: task.id.clone(),
        kind,
        timestamp: rows::ts(now),
        session_id: session.map(str::to_string),
    };
    emit(tx, EventType::TimelineAdded, &task.project_id, &entry, now)?;
    Ok(entry)
}

fn deps_of(tx: &Tx, id: &str) -> Result<Vec<String>> {
    let mut stmt =
        tx.prepare_cached("SELECT depends_on FROM task_deps WHERE task_id = ?1 ORDER BY position")?;
    let out = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(out)
}

/// Adds dependency edges `task → deps` after checking for cycles. Returns the ids added.
///
/// `new_task` says the task was just inserted: it has no edges yet and nothing depends on
/// it, so no cycle can form and the graph walk (over every ancestor of every new
/// dependency) is skipped.
fn add_dependencies(tx: &Tx, task: &str, inputs: &[String], new_task: bool) -> Result<Vec<String>> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let mut resolved = Vec::with_capacity(inputs.len());
    for input in inputs {
        let dep = resolve_task(tx, input)?;
        if !resolved.contains(&dep) {
            resolved.push(dep);
        }
    }
    let mut position: i64 = 0;
    if !new_task {
        let existing = deps_of(tx, task)?;
        resolved.retain(|d| !existing.contains(d));
        dag::check_no_cycle(task, &resolved, |id| deps_of(tx, id))?;
        position = row(
            tx,
            "SELECT COALESCE(MAX(position), 0) FROM task_deps WHERE task_id = ?1",
            [task],
            |r| r.get(0),
        )?;
    }
    for dep in &resolved {
        position += 1;
        exec(
            tx,
            "INSERT INTO task_deps (task_id, depends_on, position) VALUES (?1, ?2, ?3)",
            params![task, dep, position],
        )?;
    }
    Ok(resolved)
}

/// Recomputes `open_deps` (dependencies not completed) of `task` after its edges changed.
fn recount_open_deps(tx: &Tx, task: &str) -> Result<()> {
    exec(
        tx,
        "UPDATE tasks SET open_deps = (
            SELECT COUNT(*) FROM task_deps d JOIN tasks x ON x.id = d.depends_on
            WHERE d.task_id = ?1 AND x.status <> 'completed')
         WHERE id = ?1",
        [task],
    )?;
    Ok(())
}

/// Adds `delta` to `open_deps` of every task that depends on `task`: -1 when `task`
/// becomes completed, +1 when it stops being completed or (-1) is deleted unfinished.
fn shift_dependents_open_deps(tx: &Tx, task: &str, delta: i64) -> Result<()> {
    exec(
        tx,
        "UPDATE tasks SET open_deps = open_deps + ?2
         WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on = ?1)",
        params![task, delta],
    )?;
    Ok(())
}

fn unfinished_deps(tx: &Tx, task: &str) -> Result<Vec<(String, String, TaskStatus)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT x.id, x.title, x.status FROM task_deps d JOIN tasks x ON x.id = d.depends_on
         WHERE d.task_id = ?1 AND x.status <> 'completed' ORDER BY d.position",
    )?;
    let out = stmt
        .query_map([task], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    out.into_iter()
        .map(|(id, title, s)| Ok((id, title, s.parse()?)))
        .collect()
}

fn check_version(task: &Task, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(v) if v != task.version => {
            Err(Error::version_conflict("Task", &task.id, v, task.version))
        }
        _ => Ok(()),
    }
}

pub fn create_task(tx: &Tx, op: &OpContext, new: &NewTask, now: i64) -> Result<Task> {
    let project = resolve_project(tx, new.project_id.as_deref())?;
    let priority = new.priority.unwrap_or(Priority::Medium);
    let id = id::new_id(IdKind::Task);
    exec(
        tx,
        "INSERT INTO tasks (id, project_id, title, description, status, priority, priority_rank,
            labels, metadata, created_at, updated_at, seq)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9, ?9,
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks WHERE project_id = ?2))",
        params![
            id,
            project.id,
            new.title.trim(),
            new.description.as_deref().unwrap_or(""),
            priority.as_str(),
            priority.rank(),
            serde_json::to_string(&new.labels)?,
            serde_json::to_string(&new.metadata.clone().unwrap_or_default())?,
            now,
        ],
    )?;
    if !add_dependencies(tx, &id, &new.depends_on, true)?.is_empty() {
        recount_open_deps(tx, &id)?;
    }
    let task = load_task(tx, &id)?;
    emit(tx, EventType::TaskCreated, &project.id, &task, now)?;
    add_entry(
        tx,
        &task,
        TimelineKind::Created,
        op.session_id.as_deref(),
        now,
    )?;
    Ok(task)
}

/// The detail of one task in five indexed queries: the task row (by exact id first, the
/// usual case, before trying `input` as a prefix), its dependencies and dependents in one
/// query (which also gives `task.dependencies`), its subtasks and its newest timeline
/// entries.
pub fn get_task_detail(tx: &Tx, input: &str) -> Result<TaskDetail> {
    let norm = id::normalize(IdKind::Task, input)?;
    let by_id = |id: &str| -> Result<Option<Task>> {
        let mut stmt = tx.prepare_cached(concat!(
            "SELECT ",
            rows::task_row_cols!(),
            " FROM tasks t WHERE t.id = ?1"
        ))?;
        Ok(stmt
            .query_row([id], |r| rows::task_fields(r, Vec::new()))
            .optional()?)
    };
    let mut task = match by_id(&norm)? {
        Some(t) => t,
        None => {
            let id = resolve_task(tx, input)?;
            by_id(&id)?.ok_or_else(|| Error::task_not_found(&id))?
        }
    };
    // side 0: dependencies, keyed by declaration order; side 1: dependents, keyed by
    // insertion order. Sorted here: a task's few rows cost less to sort than the temporary
    // b-trees an ORDER BY over the union makes SQLite build.
    let mut stmt = tx.prepare_cached(
        "SELECT 0, d.position, x.id, x.title, x.status
           FROM task_deps d JOIN tasks x ON x.id = d.depends_on WHERE d.task_id = ?1
         UNION ALL
         SELECT 1, x.seq, x.id, x.title, x.status
           FROM task_deps d JOIN tasks x ON x.id = d.task_id WHERE d.depends_on = ?1",
    )?;
    let mut rows_ = stmt.query([&task.id])?;
    let (mut deps, mut dependents) = (Vec::new(), Vec::new());
    while let Some(r) = rows_.next()? {
        let dep = DependencyRef {
            id: r.get(2)?,
            title: r.get(3)?,
            status: r
                .get_ref(4)?
                .as_str()
                .map_err(rusqlite::Error::from)?
                .parse()?,
        };
        let key: i64 = r.get(1)?;
        if r.get::<_, i64>(0)? == 0 {
            deps.push((key, dep));
        } else {
            dependents.push((key, dep));
        }
    }
    let by_key = |a: &(i64, DependencyRef), b: &(i64, DependencyRef)| {
        a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id))
    };
    deps.sort_by(by_key);
    dependents.sort_by(by_key);
    let deps: Vec<DependencyRef> = deps.into_iter().map(|(_, d)| d).collect();
    let dependents: Vec<DependencyRef> = dependents.into_iter().map(|(_, d)| d).collect();
    task.dependencies = deps.iter().map(|d| d.id.clone()).collect();
    Ok(TaskDetail {
        subtasks: subtasks_of(tx, &task.id)?,
        dependency_details: deps,
        dependents,
        timeline: timeline(tx, &task.id, 200)?,
        task,
    })
}

/// Ready: pending, with every dependency completed (see [`recount_open_deps`]).
const READY_CONDITION: &str = "t.status = 'pending' AND t.open_deps = 0";

pub fn list_tasks(tx: &Tx, f: &TaskFilter) -> Result<Page<Task>> {
    let project = resolve_project(tx, f.project_id.as_deref())?;
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut sql = format!("SELECT {TASK_COLS}, t.seq FROM tasks t WHERE t.project_id = ?1");
    let mut params: Vec<SqlValue> = vec![SqlValue::Text(project.id)];
    let mut bind = |sql: &mut String, clause: &str, v: SqlValue| {
        params.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", params.len())));
    };
    if let Some(s) = f.status {
        bind(
            &mut sql,
            " AND t.status = ?",
            SqlValue::Text(s.as_str().into()),
        );
    }
    if let Some(p) = f.priority {
        bind(
            &mut sql,
            " AND t.priority = ?",
            SqlValue::Text(p.as_str().into()),
        );
    }
    if let Some(l) = &f.label {
        bind(
            &mut sql,
            " AND EXISTS (SELECT 1 FROM json_each(t.labels) WHERE value = ?)",
            SqlValue::Text(l.clone()),
        );
    }
    if let Some(s) = &f.session_id {
        bind(
            &mut sql,
            " AND EXISTS (SELECT 1 FROM json_each(t.session_ids) WHERE value = ?)",
            SqlValue::Text(s.clone()),
        );
    }
    if let Some(seq) = parse_cursor(f.cursor.as_deref())? {
        bind(&mut sql, " AND t.seq > ?", SqlValue::Integer(seq));
    }
    if f.ready {
        sql.push_str(" AND ");
        sql.push_str(READY_CONDITION);
    }
    sql.push_str(&format!(" ORDER BY t.seq LIMIT {}", limit + 1));
    let mut stmt = tx.prepare_cached(&sql)?;
    let items = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((rows::task(r)?, r.get(rows::TASK_COLS_LEN)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page(items, limit))
}

pub fn ready_tasks(tx: &Tx, project_id: &str, limit: usize) -> Result<Vec<Task>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {TASK_COLS} FROM tasks t WHERE t.project_id = ?1 AND {READY_CONDITION}
         ORDER BY t.priority_rank, t.seq LIMIT ?2"
    ))?;
    let out = stmt
        .query_map(params![project_id, limit as i64], rows::task)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(out)
}

/// Applies a status change to `task` in memory and records its timeline entries.
/// Returns whether anything changed.
fn apply_status(
    tx: &Tx,
    task: &mut Task,
    to: TaskStatus,
    force: bool,
    session: Option<&str>,
    reason: Option<&str>,
    now: i64,
) -> Result<bool> {
    let (from, to) = match status::check(&task.id, task.status, to, force)? {
        Transition::NoOp => return Ok(false),
        Transition::Change { from, to } => (from, to),
    };
    if to == TaskStatus::InProgress && from != TaskStatus::Completed && !force {
        let unfinished = unfinished_deps(tx, &task.id)?;
        if !unfinished.is_empty() {
            return Err(dag::dependencies_incomplete(&task.id, &unfinished));
        }
    }
    if (from == TaskStatus::Completed) != (to == TaskStatus::Completed) {
        let delta = if to == TaskStatus::Completed { -1 } else { 1 };
        shift_dependents_open_deps(tx, &task.id, delta)?;
    }
    let at = rows::ts(now);
    task.status = to;
    match to {
        TaskStatus::InProgress => {
            task.started_at.get_or_insert(at);
            task.completed_at = None;
        }
        TaskStatus::Completed => task.completed_at = Some(at),
        // Back to pending from work that had (or may have had) owners: a release.
        TaskStatus::Pending if matches!(from, TaskStatus::InProgress | TaskStatus::Blocked) => {
            let reason = reason.unwrap_or("released");
            for sid in std::mem::take(&mut task.session_ids) {
                let kind = TimelineKind::Released {
                    session_id: sid,
                    reason: reason.to_string(),
                };
                add_entry(tx, task, kind, session, now)?;
            }
            task.claim_epoch += 1;
        }
        _ => {}
    }
    add_entry(
        tx,
        task,
        TimelineKind::StatusChanged { from, to },
        session,
        now,
    )?;
    if to == TaskStatus::Blocked {
        let reason = reason.unwrap_or("").to_string();
        add_entry(tx, task, TimelineKind::Blocked { reason }, session, now)?;
    }
    Ok(true)
}

/// Assigns `session` to `task` (in memory) and to the session's task list.
fn assign(tx: &Tx, task: &mut Task, session: &str, now: i64) -> Result<bool> {
    if task.session_ids.iter().any(|s| s == session) {
        return Ok(false);
    }
    task.session_ids.push(session.to_string());
    let assigned = TimelineKind::Assigned {
        session_id: session.to_string(),
    };
    add_entry(tx, task, assigned, Some(session), now)?;
    let exists: Option<String> = row(
        tx,
        "SELECT task_ids FROM sessions WHERE id = ?1",
        [session],
        |r| r.get(0),
    )
    .optional()?;
    if let Some(ids) = exists {
        let mut ids: Vec<String> = serde_json::from_str(&ids)?;
        if !ids.contains(&task.id) {
            ids.push(task.id.clone());
            exec(
                tx,
                "UPDATE sessions SET task_ids = ?2 WHERE id = ?1",
                params![session, serde_json::to_string(&ids)?],
            )?;
            let s = load_session(tx, session)?;
            emit(tx, EventType::SessionUpdated, &s.project_id, &s, now)?;
        }
    }
    Ok(true)
}

fn finish_update(tx: &Tx, task: &mut Task, now: i64) -> Result<()> {
    task.version += 1;
    task.updated_at = rows::ts(now);
    save_task(tx, task)?;
    emit(tx, EventType::TaskUpdated, &task.project_id, &*task, now)
}

pub fn update_task(tx: &Tx, op: &OpContext, input: &str, p: &TaskPatch, now: i64) -> Result<Task> {
    let id = resolve_task(tx, input)?;
    let mut task = load_task(tx, &id)?;
    lease::fence(tx, op, &task)?;
    check_version(&task, p.expected_version)?;
    let session = op.session_id.as_deref();
    let mut changed = false;
    if let Some(t) = &p.title
        && t.trim() != task.title
    {
        task.title = t.trim().to_string();
        changed = true;
    }
    if let Some(d) = &p.description
        && *d != task.description
    {
        task.description = d.clone();
        changed = true;
    }
    if let Some(pr) = p.priority
        && pr != task.priority
    {
        task.priority = pr;
        changed = true;
    }
    if let Some(l) = &p.labels
        && *l != task.labels
    {
        task.labels = l.clone();
        changed = true;
    }
    if let Some(m) = &p.metadata {
        for (k, v) in m {
            if v.is_null() {
                changed |= task.metadata.remove(k).is_some();
            } else if task.metadata.get(k) != Some(v) {
                task.metadata.insert(k.clone(), v.clone());
                changed = true;
            }
        }
    }
    for input in &p.remove_dependencies {
        let dep = resolve_task(tx, input)?;
        changed |= exec(
            tx,
            "DELETE FROM task_deps WHERE task_id = ?1 AND depends_on = ?2",
            params![id, dep],
        )? > 0;
    }
    if !p.add_dependencies.is_empty() {
        changed |= !add_dependencies(tx, &id, &p.add_dependencies, false)?.is_empty();
    }
    if !p.add_dependencies.is_empty() || !p.remove_dependencies.is_empty() {
        task.dependencies = deps_of(tx, &id)?;
        recount_open_deps(tx, &id)?;
    }
    if let Some(to) = p.status {
        let reason = (to == TaskStatus::Blocked).then_some("blocked via update");
        changed |= apply_status(tx, &mut task, to, p.force, session, reason, now)?;
    }
    if changed {
        finish_update(tx, &mut task, now)?;
    }
    Ok(task)
}

pub fn change_status(
    tx: &Tx,
    op: &OpContext,
    input: &str,
    c: &StatusChange,
    now: i64,
) -> Result<Task> {
    let id = resolve_task(tx, input)?;
    let mut task = load_task(tx, &id)?;
    lease::fence(tx, op, &task)?;
    check_version(&task, c.expected_version)?;
    let session = op.session_id.as_deref();
    let (to, reason) = match &c.action {
        StatusAction::Start => (TaskStatus::InProgress, None),
        StatusAction::Complete => (TaskStatus::Completed, None),
        StatusAction::Block { reason } => (TaskStatus::Blocked, Some(reason.as_str())),
        StatusAction::Cancel => (TaskStatus::Cancelled, None),
        StatusAction::Release { reason } => match task.status {
            TaskStatus::InProgress | TaskStatus::Blocked | TaskStatus::Pending => {
                (TaskStatus::Pending, Some(reason.as_str()))
            }
            finished => return Err(not_releasable(&task.id, finished)),
        },
        StatusAction::Reopen => match task.status {
            TaskStatus::Pending | TaskStatus::InProgress => return Ok(task),
            s => (status::reopen_target(s), None),
        },
    };
    let mut changed = apply_status(tx, &mut task, to, c.force, session, reason, now)?;
    if to == TaskStatus::InProgress
        && let Some(s) = session
    {
        changed |= assign(tx, &mut task, s, now)?;
    }
    if changed {
        finish_update(tx, &mut task, now)?;
    }
    Ok(task)
}

/// Only open work can be released; finished work is reopened instead.
fn not_releasable(task_id: &str, status: TaskStatus) -> Error {
    Error::new(
        Code::InvalidTransition,
        format!("Task '{task_id}' is {status} and cannot be released"),
    )
    .with_details(json!({
        "taskId": task_id,
        "from": status,
        "to": TaskStatus::Pending,
        "releasableFrom": [TaskStatus::InProgress, TaskStatus::Blocked],
    }))
    .with_suggestion(format!(
        "Only in_progress or blocked tasks can be released; run 'maestro task reopen {task_id}' to work on it again"
    ))
}

pub fn delete_task(tx: &Tx, input: &str, now: i64) -> Result<Task> {
    let id = resolve_task(tx, input)?;
    let task = load_task(tx, &id)?;
    let dependents: Vec<String> = tx
        .prepare_cached("SELECT task_id FROM task_deps WHERE depends_on = ?1")?
        .query_map([&id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if task.status != TaskStatus::Completed {
        shift_dependents_open_deps(tx, &id, -1)?;
    }
    exec(tx, "DELETE FROM tasks WHERE id = ?1", [&id])?;
    for dep_id in dependents {
        let mut t = load_task(tx, &dep_id)?;
        finish_update(tx, &mut t, now)?;
    }
    emit(
        tx,
        EventType::TaskDeleted,
        &task.project_id,
        &json!({ "id": task.id, "projectId": task.project_id }),
        now,
    )?;
    Ok(task)
}

/// Claims `id`, or the first ready task of `project` when `id` is `None`.
pub fn claim_task(
    tx: &Tx,
    op: &OpContext,
    id: Option<&str>,
    project: Option<Option<&str>>,
    session_input: &str,
    now: i64,
) -> Result<Task> {
    let session_id = resolve_session(tx, session_input)?;
    let session = load_session(tx, &session_id)?;
    if session.status.is_terminal() {
        return Err(Error::new(
            Code::VersionConflict,
            format!(
                "Session '{session_id}' has ended ({}) and cannot claim tasks",
                session.status
            ),
        )
        .with_details(json!({ "sessionId": session_id, "status": session.status }))
        .with_suggestion("Register a new session with 'maestro session register'"));
    }
    let task_id = match id {
        Some(input) => resolve_task(tx, input)?,
        None => {
            let project = resolve_project(tx, project.flatten())?;
            match ready_tasks(tx, &project.id, 1)?.into_iter().next() {
                Some(t) => t.id,
                None => {
                    return Err(Error::new(Code::NothingReady, "No task is ready to be claimed")
                        .with_details(json!({ "projectId": project.id }))
                        .with_suggestion(
                            "Wait for dependencies to complete, or see pending work with 'maestro task list --status pending'",
                        ));
                }
            }
        }
    };
    let mut task = load_task(tx, &task_id)?;
    match task.status {
        TaskStatus::InProgress if task.session_ids.contains(&session_id) => return Ok(task),
        TaskStatus::InProgress => {
            return Err(Error::new(
                Code::InvalidTransition,
                format!(
                    "Task '{task_id}' is already claimed by {}",
                    task.session_ids.join(", ")
                ),
            )
            .with_details(
                json!({ "taskId": task_id, "status": task.status, "sessionIds": task.session_ids }),
            )
            .with_suggestion("Claim another task with 'maestro task claim --next'"));
        }
        TaskStatus::Pending => {}
        other => {
            return Err(Error::new(
                Code::InvalidTransition,
                format!("Task '{task_id}' is {other}; only pending tasks can be claimed"),
            )
            .with_details(json!({ "taskId": task_id, "status": other, "allowed": ["pending"] }))
            .with_suggestion("See claimable tasks with 'maestro task ready'"));
        }
    }
    let op = OpContext {
        session_id: Some(session_id.clone()),
        ..op.clone()
    };
    apply_status(
        tx,
        &mut task,
        TaskStatus::InProgress,
        false,
        op.session_id.as_deref(),
        None,
        now,
    )?;
    assign(tx, &mut task, &session_id, now)?;
    task.claim_epoch += 1;
    finish_update(tx, &mut task, now)?;
    Ok(task)
}

// ---- timeline --------------------------------------------------------------------------

pub fn add_timeline(
    tx: &Tx,
    op: &OpContext,
    input: &str,
    kind: TimelineKind,
    now: i64,
) -> Result<TimelineEntry> {
    match &kind {
        TimelineKind::Progress { .. } | TimelineKind::Comment { .. } => {}
        other => {
            return Err(Error::invalid_argument(format!(
                "Only progress and comment entries can be added directly, not '{}'",
                other.type_name()
            ))
            .with_details(json!({ "allowed": ["progress", "comment"] })));
        }
    }
    let id = resolve_task(tx, input)?;
    let mut task = load_task(tx, &id)?;
    lease::fence(tx, op, &task)?;
    let entry = add_entry(tx, &task, kind, op.session_id.as_deref(), now)?;
    bump_version(tx, &mut task, now)?;
    Ok(entry)
}

/// A change below the task (timeline, subtasks): +1 version, no `task:updated` event.
fn bump_version(tx: &Tx, task: &mut Task, now: i64) -> Result<()> {
    task.version += 1;
    exec(
        tx,
        "UPDATE tasks SET version = version + 1, updated_at = ?2 WHERE id = ?1",
        params![task.id, now],
    )?;
    Ok(())
}

pub fn timeline(tx: &Tx, task_id: &str, limit: usize) -> Result<Vec<TimelineEntry>> {
    // Newest first straight from the index, reversed here rather than sorted by SQLite.
    let mut stmt = tx.prepare_cached(
        "SELECT id, task_id, data, session_id, ts FROM timeline
         WHERE task_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut out: Vec<TimelineEntry> = stmt
        .query_map(params![task_id, limit as i64], rows::timeline)?
        .collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

// ---- subtasks --------------------------------------------------------------------------

/// A task's subtasks by `order`, then creation, then id: sorted here rather than in a
/// temporary b-tree of SQLite's, which costs more for a task's few rows.
pub fn subtasks_of(tx: &Tx, task_id: &str) -> Result<Vec<Subtask>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {SUBTASK_COLS} FROM subtasks WHERE task_id = ?1"
    ))?;
    let mut out: Vec<Subtask> = stmt
        .query_map([task_id], rows::subtask)?
        .collect::<rusqlite::Result<_>>()?;
    out.sort_by(|a, b| (a.order, a.created_at, &a.id).cmp(&(b.order, b.created_at, &b.id)));
    Ok(out)
}

fn load_subtask(tx: &Tx, id: &str) -> Result<Subtask> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {SUBTASK_COLS} FROM subtasks WHERE id = ?1"
    ))?;
    stmt.query_row([id], rows::subtask)
        .optional()?
        .ok_or_else(|| Error::subtask_not_found(id))
}

/// Resolves a subtask and checks that it belongs to `task_input` when one is given.
fn owned_subtask(tx: &Tx, task_input: Option<&str>, input: &str) -> Result<Subtask> {
    let sub = load_subtask(tx, &resolve_subtask(tx, input)?)?;
    if let Some(t) = task_input {
        let task_id = resolve_task(tx, t)?;
        if sub.task_id != task_id {
            return Err(Error::subtask_not_found(input)
                .with_details(
                    json!({ "subtaskId": sub.id, "taskId": task_id, "ownerTaskId": sub.task_id }),
                )
                .with_suggestion(format!(
                    "Subtask '{}' belongs to task '{}'; run 'maestro subtask list {task_id}'",
                    sub.id, sub.task_id
                )));
        }
    }
    Ok(sub)
}

fn renumber_subtasks(tx: &Tx, task_id: &str, ordered: &[String]) -> Result<()> {
    for (i, id) in ordered.iter().enumerate() {
        exec(
            tx,
            "UPDATE subtasks SET ord = ?2 WHERE id = ?1 AND task_id = ?3",
            params![id, i as i64 + 1, task_id],
        )?;
    }
    Ok(())
}

pub fn create_subtask(
    tx: &Tx,
    op: &OpContext,
    task_input: &str,
    title: &str,
    desc: Option<&str>,
    now: i64,
) -> Result<Subtask> {
    let task_id = resolve_task(tx, task_input)?;
    let mut task = load_task(tx, &task_id)?;
    lease::fence(tx, op, &task)?;
    let ord: i64 = row(
        tx,
        "SELECT COALESCE(MAX(ord), 0) + 1 FROM subtasks WHERE task_id = ?1",
        [&task_id],
        |r| r.get(0),
    )?;
    let id = id::new_id(IdKind::Subtask);
    exec(
        tx,
        "INSERT INTO subtasks (id, task_id, title, description, ord, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![id, task_id, title.trim(), desc.unwrap_or(""), ord, now],
    )?;
    let sub = load_subtask(tx, &id)?;
    emit(tx, EventType::SubtaskCreated, &task.project_id, &sub, now)?;
    add_entry(
        tx,
        &task,
        TimelineKind::SubtaskCreated { subtask_id: id },
        op.session_id.as_deref(),
        now,
    )?;
    bump_version(tx, &mut task, now)?;
    Ok(sub)
}

pub fn update_subtask(
    tx: &Tx,
    op: &OpContext,
    task_input: Option<&str>,
    input: &str,
    p: &SubtaskPatch,
    now: i64,
) -> Result<Subtask> {
    let mut sub = owned_subtask(tx, task_input, input)?;
    let mut task = load_task(tx, &sub.task_id)?;
    lease::fence(tx, op, &task)?;
    let mut changed = false;
    let mut newly_completed = false;
    if let Some(t) = &p.title
        && t.trim() != sub.title
    {
        sub.title = t.trim().to_string();
        changed = true;
    }
    if let Some(d) = &p.description
        && *d != sub.description
    {
        sub.description = d.clone();
        changed = true;
    }
    if let Some(c) = p.completed
        && c != sub.completed
    {
        sub.completed = c;
        sub.completed_at = c.then(|| rows::ts(now));
        newly_completed = c;
        changed = true;
    }
    if let Some(order) = p.order {
        let mut ids: Vec<String> = subtasks_of(tx, &sub.task_id)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let from = ids.iter().position(|i| *i == sub.id).unwrap_or(0);
        let to = (order.max(1) as usize - 1).min(ids.len() - 1);
        if from != to {
            let moved = ids.remove(from);
            ids.insert(to, moved);
            renumber_subtasks(tx, &sub.task_id, &ids)?;
            sub.order = to as i64 + 1;
            changed = true;
        }
    }
    if !changed {
        return Ok(sub);
    }
    sub.updated_at = rows::ts(now);
    exec(
        tx,
        "UPDATE subtasks SET title = ?2, description = ?3, completed = ?4, updated_at = ?5, completed_at = ?6
         WHERE id = ?1",
        params![sub.id, sub.title, sub.description, sub.completed, now, sub.completed_at.map(|d| d.timestamp_millis())],
    )?;
    emit(tx, EventType::SubtaskUpdated, &task.project_id, &sub, now)?;
    if newly_completed {
        let kind = TimelineKind::SubtaskCompleted {
            subtask_id: sub.id.clone(),
        };
        add_entry(tx, &task, kind, op.session_id.as_deref(), now)?;
    }
    bump_version(tx, &mut task, now)?;
    Ok(sub)
}

pub fn delete_subtask(tx: &Tx, task_input: Option<&str>, input: &str, now: i64) -> Result<Subtask> {
    let sub = owned_subtask(tx, task_input, input)?;
    let mut task = load_task(tx, &sub.task_id)?;
    exec(tx, "DELETE FROM subtasks WHERE id = ?1", [&sub.id])?;
    let ids: Vec<String> = subtasks_of(tx, &sub.task_id)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    renumber_subtasks(tx, &sub.task_id, &ids)?;
    emit(
        tx,
        EventType::SubtaskDeleted,
        &task.project_id,
        &json!({ "id": sub.id, "taskId": sub.task_id }),
        now,
    )?;
    bump_version(tx, &mut task, now)?;
    Ok(sub)
}

// ---- sessions --------------------------------------------------------------------------

pub fn load_session(tx: &Tx, id: &str) -> Result<Session> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE id = ?1"
    ))?;
    stmt.query_row([id], rows::session)
        .optional()?
        .ok_or_else(|| Error::session_not_found(id))
}

pub fn create_session(tx: &Tx, op: &OpContext, new: &NewSession, now: i64) -> Result<Session> {
    let mut task_ids = Vec::with_capacity(new.task_ids.len());
    for t in &new.task_ids {
        task_ids.push(resolve_task(tx, t)?);
    }
    let project = match (&new.project_id, task_ids.first()) {
        (None, Some(t)) => get_project(tx, &load_task(tx, t)?.project_id)?,
        (p, _) => resolve_project(tx, p.as_deref())?,
    };
    let id = id::new_id(IdKind::Session);
    let role = new.role.unwrap_or(Role::Worker);
    let status = if new.spawn {
        SessionStatus::Spawning
    } else {
        SessionStatus::Active
    };
    let name = new
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("{role}-{}", &id[2..6]));
    let spawned_by = if new.spawn {
        op.session_id.clone()
    } else {
        None
    };
    exec(
        tx,
        &format!(
            "INSERT INTO sessions ({SESSION_COLS}, seq) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, ?13, ?14, NULL, ?13,
              (SELECT COALESCE(MAX(seq), 0) + 1 FROM sessions WHERE project_id = ?2))"
        ),
        params![
            id,
            project.id,
            name,
            role.as_str(),
            new.skill,
            new.agent,
            serde_json::to_string(&task_ids)?,
            status.as_str(),
            spawned_by,
            new.pid,
            new.host,
            new.cwd,
            now,
            (!new.spawn).then_some(now),
        ],
    )?;
    let session = load_session(tx, &id)?;
    emit(tx, EventType::SessionCreated, &project.id, &session, now)?;
    if new.spawn {
        emit(
            tx,
            EventType::SessionSpawnRequest,
            &project.id,
            &session,
            now,
        )?;
    }
    Ok(session)
}

pub fn list_sessions(tx: &Tx, f: &SessionFilter) -> Result<Page<Session>> {
    let project = resolve_project(tx, f.project_id.as_deref())?;
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let cursor = parse_cursor(f.cursor.as_deref())?;
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {SESSION_COLS}, seq FROM sessions
         WHERE project_id = ?1
           AND (?2 = 0 OR status NOT IN ('completed', 'failed', 'stopped', 'lost'))
           AND (?3 IS NULL OR status = ?3)
           AND seq > ?4
         ORDER BY seq LIMIT ?5"
    ))?;
    let items = stmt
        .query_map(
            params![
                project.id,
                f.active,
                f.status.map(|s| s.as_str()),
                cursor.unwrap_or(0),
                limit as i64 + 1
            ],
            |r| Ok((rows::session(r)?, r.get(rows::SESSION_COLS_LEN)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page(items, limit))
}

pub fn update_session(tx: &Tx, input: &str, p: &SessionPatch, now: i64) -> Result<Session> {
    let id = resolve_session(tx, input)?;
    let mut s = load_session(tx, &id)?;
    let was_terminal = s.status.is_terminal();
    if let Some(st) = p.status
        && st != s.status
    {
        if st.is_terminal() {
            s.ended_at.get_or_insert(rows::ts(now));
        } else if st == SessionStatus::Active {
            s.started_at.get_or_insert(rows::ts(now));
        }
        s.status = st;
    }
    if let Some(n) = p.name.as_ref().filter(|n| !n.trim().is_empty()) {
        s.name = n.trim().to_string();
    }
    if p.pid.is_some() {
        s.pid = p.pid;
    }
    if p.host.is_some() {
        s.host = p.host.clone();
    }
    if p.exit_code.is_some() {
        s.exit_code = p.exit_code;
    }
    if p.reason.is_some() {
        s.reason = p.reason.clone();
    }
    if let Some(ids) = &p.task_ids {
        let mut resolved = Vec::with_capacity(ids.len());
        for t in ids {
            resolved.push(resolve_task(tx, t)?);
        }
        s.task_ids = resolved;
    }
    s.last_seen = rows::ts(now);
    exec(
        tx,
        "UPDATE sessions SET name = ?2, task_ids = ?3, status = ?4, pid = ?5, host = ?6, exit_code = ?7,
            reason = ?8, started_at = ?9, ended_at = ?10, last_seen = ?11 WHERE id = ?1",
        params![
            s.id,
            s.name,
            serde_json::to_string(&s.task_ids)?,
            s.status.as_str(),
            s.pid,
            s.host,
            s.exit_code,
            s.reason,
            s.started_at.map(|d| d.timestamp_millis()),
            s.ended_at.map(|d| d.timestamp_millis()),
            now,
        ],
    )?;
    emit(tx, EventType::SessionUpdated, &s.project_id, &s, now)?;
    if s.status.is_terminal() && !was_terminal {
        lease::release_tasks_of(tx, &s, now)?;
    }
    Ok(s)
}

pub fn heartbeat(tx: &Tx, input: &str, now: i64) -> Result<Session> {
    let id = resolve_session(tx, input)?;
    touch_session(tx, &id, now)?;
    load_session(tx, &id)
}

// ---- events and status -----------------------------------------------------------------

pub fn events_since(tx: &Tx, since: i64, limit: usize, projects: &[String]) -> Result<Vec<Event>> {
    let limit = limit.clamp(1, 10_000) as i64;
    let out = if projects.is_empty() {
        let mut stmt = tx.prepare_cached(
            "SELECT seq, type, ts, project_id, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        stmt.query_map(params![since, limit], rows::event)?
            .collect::<rusqlite::Result<_>>()?
    } else {
        let mut stmt = tx.prepare_cached(
            "SELECT seq, type, ts, project_id, data FROM events
             WHERE seq > ?1 AND project_id IN (SELECT value FROM json_each(?3)) ORDER BY seq LIMIT ?2",
        )?;
        stmt.query_map(
            params![since, limit, serde_json::to_string(projects)?],
            rows::event,
        )?
        .collect::<rusqlite::Result<_>>()?
    };
    Ok(out)
}

/// The first retained seq; `latest + 1` when the log is empty.
pub fn oldest_seq(tx: &Tx) -> Result<i64> {
    let oldest: Option<i64> = tx.query_row("SELECT MIN(seq) FROM events", [], |r| r.get(0))?;
    match oldest {
        Some(seq) => Ok(seq),
        None => Ok(latest_seq(tx)? + 1),
    }
}

/// Deletes all but the newest `keep` events (at least one survives, so `MAX(seq)` and with
/// it `latest_seq` never go back; AUTOINCREMENT never reuses a seq anyway).
pub fn prune_events(tx: &Tx, keep: usize) -> Result<u64> {
    let keep = keep.max(1) as i64;
    let deleted = tx.execute(
        "DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?1",
        [keep],
    )?;
    Ok(deleted as u64)
}

pub fn status(tx: &Tx, project: Option<&str>) -> Result<StatusReport> {
    let project = resolve_project(tx, project)?;
    let count_by = |col: &str, keys: Vec<&'static str>| -> Result<Map<String, Value>> {
        let mut map: Map<String, Value> = keys
            .into_iter()
            .map(|k| (k.to_string(), json!(0)))
            .collect();
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {col}, COUNT(*) FROM tasks WHERE project_id = ?1 GROUP BY {col}"
        ))?;
        for row in stmt.query_map([&project.id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (k, n) = row?;
            map.insert(k, json!(n));
        }
        Ok(map)
    };
    let by_status = count_by(
        "status",
        TaskStatus::ALL.iter().map(|s| s.as_str()).collect(),
    )?;
    let by_priority = count_by(
        "priority",
        Priority::ALL.iter().map(|p| p.as_str()).collect(),
    )?;
    let total = by_status.values().filter_map(Value::as_i64).sum();
    let ready: i64 = row(
        tx,
        &format!("SELECT COUNT(*) FROM tasks t WHERE t.project_id = ?1 AND {READY_CONDITION}"),
        [&project.id],
        |r| r.get(0),
    )?;
    let (active, sessions): (i64, i64) = row(
        tx,
        "SELECT COALESCE(SUM(status NOT IN ('completed', 'failed', 'stopped', 'lost')), 0), COUNT(*)
         FROM sessions WHERE project_id = ?1",
        [&project.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(StatusReport {
        project_id: project.id,
        tasks: TaskCounts {
            total,
            by_status,
            by_priority,
            ready,
        },
        sessions: SessionCounts {
            active,
            total: sessions,
        },
    })
}
