//! The row primitives of the SQLite store: one open transaction on one connection.
//!
//! Every method runs its statements at once through the connection's statement cache (the
//! same few statements run for every operation, and parsing them each time was a visible
//! share of the work), so each returned future is already complete.

use super::map::{self, SESSION_COLS, SUBTASK_COLS, TASK_COLS};
use crate::engine::{Rows, SessionTally, TaskTally};
use crate::error::Result;
use crate::id::{self, IdKind};
use crate::model::*;
use crate::rules::effects::Claim;
use crate::rules::idempotency::OpRecord;
use crate::sql::{NOT_ENDED, READY_CONDITION, add, opt_json, opt_ms, sorted};
use crate::store::{SessionFilter, TaskFilter};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

/// One transaction: the connection it runs on and its time.
pub(crate) struct SqliteRows<'a> {
    pub conn: &'a mut Connection,
    pub now: i64,
}

fn table(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Project => "projects",
        IdKind::Task => "tasks",
        IdKind::Subtask => "subtasks",
        IdKind::Session => "sessions",
        IdKind::Op => "ops",
    }
}

fn statuses_json(statuses: &[SessionStatus]) -> Result<String> {
    Ok(serde_json::to_string(
        &statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    )?)
}

impl SqliteRows<'_> {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<usize> {
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<Option<T>>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params, f)
            .optional()?)
    }

    fn all<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<Vec<T>>
    where
        P: rusqlite::Params,
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let out = stmt
            .query_map(params, f)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    fn count(&self, sql: &str, params: impl rusqlite::Params) -> Result<i64> {
        Ok(self.row(sql, params, |r| r.get(0))?.unwrap_or(0))
    }

    fn refs(&self, sql: &str, task: &str) -> Result<Vec<(i64, DependencyRef)>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query([task])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let status: String = r.get(3)?;
            out.push((
                r.get(0)?,
                DependencyRef {
                    id: r.get(1)?,
                    title: r.get(2)?,
                    status: status.parse()?,
                },
            ));
        }
        Ok(out)
    }
}

impl Rows for SqliteRows<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    // ---- ids ----

    async fn id_exists(&mut self, kind: IdKind, id: &str) -> Result<bool> {
        let sql = format!("SELECT 1 FROM {} WHERE id = ?1", table(kind));
        Ok(self.row(&sql, [id], |_| Ok(()))?.is_some())
    }

    async fn ids_with_prefix(
        &mut self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT id FROM {} WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3",
            table(kind)
        );
        self.all(
            &sql,
            params![prefix, id::prefix_upper_bound(prefix), limit as i64],
            |r| r.get(0),
        )
    }

    // ---- meta and projects ----

    async fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
    }

    async fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    async fn insert_project(&mut self, p: &Project) -> Result<()> {
        self.exec(
            "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![p.id, p.name, ms(&p.created_at)],
        )?;
        Ok(())
    }

    async fn project(&mut self, id: &str) -> Result<Option<Project>> {
        self.row(
            "SELECT id, name, created_at FROM projects WHERE id = ?1",
            [id],
            map::project,
        )
    }

    async fn projects(&mut self) -> Result<Vec<Project>> {
        self.all(
            "SELECT id, name, created_at FROM projects ORDER BY created_at, rowid",
            [],
            map::project,
        )
    }

    // ---- tasks ----

    async fn task(&mut self, id: &str) -> Result<Option<Task>> {
        self.row(
            &format!("SELECT {TASK_COLS} FROM tasks t WHERE t.id = ?1"),
            [id],
            map::task,
        )
    }

    async fn insert_task(&mut self, t: &Task) -> Result<()> {
        self.exec(
            "INSERT INTO tasks (id, project_id, title, description, status, priority, priority_rank,
                labels, session_ids, metadata, version, claim_epoch, created_at, updated_at,
                started_at, completed_at, blocked_reason, worktree, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks WHERE project_id = ?2))",
            params![
                t.id,
                t.project_id,
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
                ms(&t.created_at),
                ms(&t.updated_at),
                opt_ms(&t.started_at),
                opt_ms(&t.completed_at),
                t.blocked_reason,
                opt_json(&t.worktree)?,
            ],
        )?;
        Ok(())
    }

    async fn save_task(&mut self, t: &Task) -> Result<()> {
        self.exec(
            "UPDATE tasks SET title = ?2, description = ?3, status = ?4, priority = ?5, priority_rank = ?6,
                labels = ?7, session_ids = ?8, metadata = ?9, version = ?10, claim_epoch = ?11,
                updated_at = ?12, started_at = ?13, completed_at = ?14, blocked_reason = ?15,
                worktree = ?16
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
                ms(&t.updated_at),
                opt_ms(&t.started_at),
                opt_ms(&t.completed_at),
                t.blocked_reason,
                opt_json(&t.worktree)?,
            ],
        )?;
        Ok(())
    }

    async fn delete_task(&mut self, id: &str) -> Result<()> {
        self.exec("DELETE FROM tasks WHERE id = ?1", [id])?;
        Ok(())
    }

    async fn list_tasks(
        &mut self,
        project_id: &str,
        f: &TaskFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(Task, i64)>> {
        let mut sql = format!("SELECT {TASK_COLS}, t.seq FROM tasks t WHERE t.project_id = ?1");
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(project_id.to_string())];
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
        for l in f.labels() {
            bind(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM json_each(t.labels) WHERE value = ?)",
                SqlValue::Text(l.to_string()),
            );
        }
        if let Some(s) = &f.session_id {
            bind(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM json_each(t.session_ids) WHERE value = ?)",
                SqlValue::Text(s.clone()),
            );
        }
        if after > 0 {
            bind(&mut sql, " AND t.seq > ?", SqlValue::Integer(after));
        }
        if f.ready {
            sql.push_str(" AND ");
            sql.push_str(READY_CONDITION);
        }
        sql.push_str(&format!(" ORDER BY t.seq LIMIT {}", limit + 1));
        self.all(&sql, rusqlite::params_from_iter(params), |r| {
            Ok((map::task(r)?, r.get(map::TASK_COLS_LEN)?))
        })
    }

    async fn ready_tasks(&mut self, project_id: &str, limit: usize) -> Result<Vec<Task>> {
        self.all(
            &format!(
                "SELECT {TASK_COLS} FROM tasks t WHERE t.project_id = ?1 AND {READY_CONDITION}
                 ORDER BY t.priority_rank, t.seq LIMIT ?2"
            ),
            params![project_id, limit as i64],
            map::task,
        )
    }

    /// From `task_counts`, which triggers keep exact (migration 0008): a few rows per
    /// project instead of a pass over its tasks.
    async fn tally_tasks(&mut self, project_id: &str) -> Result<TaskTally> {
        let counts: Vec<(String, String, bool, i64)> = self.all(
            "SELECT status, priority, ready, n FROM task_counts WHERE project_id = ?1 AND n <> 0",
            [project_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let mut tally = TaskTally::default();
        for (status, priority, ready, n) in counts {
            add(&mut tally.by_status, status.parse()?, n);
            add(&mut tally.by_priority, priority.parse()?, n);
            if ready {
                tally.ready += n;
            }
        }
        Ok(tally)
    }

    // ---- dependencies ----

    async fn insert_dependency(&mut self, task: &str, dep: &str, position: i64) -> Result<()> {
        self.exec(
            "INSERT INTO task_deps (task_id, depends_on, position) VALUES (?1, ?2, ?3)",
            params![task, dep, position],
        )?;
        Ok(())
    }

    async fn delete_dependency(&mut self, task: &str, dep: &str) -> Result<bool> {
        Ok(self.exec(
            "DELETE FROM task_deps WHERE task_id = ?1 AND depends_on = ?2",
            params![task, dep],
        )? > 0)
    }

    async fn dependencies(&mut self, task: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT depends_on FROM task_deps WHERE task_id = ?1 ORDER BY position",
            [task],
            |r| r.get(0),
        )
    }

    async fn max_dependency_position(&mut self, task: &str) -> Result<i64> {
        self.count(
            "SELECT COALESCE(MAX(position), 0) FROM task_deps WHERE task_id = ?1",
            [task],
        )
    }

    async fn dependents(&mut self, task: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT task_id FROM task_deps WHERE depends_on = ?1",
            [task],
            |r| r.get(0),
        )
    }

    async fn dependency_refs(
        &mut self,
        task: &str,
    ) -> Result<(Vec<DependencyRef>, Vec<DependencyRef>)> {
        // Sorted here: a task's few rows cost less to sort than the temporary b-trees an
        // ORDER BY makes SQLite build.
        let deps = self.refs(
            "SELECT d.position, x.id, x.title, x.status
               FROM task_deps d JOIN tasks x ON x.id = d.depends_on WHERE d.task_id = ?1",
            task,
        )?;
        let dependents = self.refs(
            "SELECT x.seq, x.id, x.title, x.status
               FROM task_deps d JOIN tasks x ON x.id = d.task_id WHERE d.depends_on = ?1",
            task,
        )?;
        Ok((sorted(deps), sorted(dependents)))
    }

    async fn unfinished_dependencies(&mut self, task: &str) -> Result<Vec<DependencyRef>> {
        let refs = self.refs(
            "SELECT d.position, x.id, x.title, x.status
               FROM task_deps d JOIN tasks x ON x.id = d.depends_on
              WHERE d.task_id = ?1 AND x.status <> 'completed'",
            task,
        )?;
        Ok(sorted(refs))
    }

    async fn set_open_dependencies(&mut self, task: &str, count: i64) -> Result<()> {
        self.exec(
            "UPDATE tasks SET open_deps = ?2 WHERE id = ?1",
            params![task, count],
        )?;
        Ok(())
    }

    async fn shift_open_dependencies_of_dependents(
        &mut self,
        task: &str,
        delta: i64,
    ) -> Result<()> {
        self.exec(
            "UPDATE tasks SET open_deps = open_deps + ?2
             WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on = ?1)",
            params![task, delta],
        )?;
        Ok(())
    }

    async fn is_ready(&mut self, task: &str) -> Result<bool> {
        Ok(self
            .row(
                &format!("SELECT 1 FROM tasks t WHERE t.id = ?1 AND {READY_CONDITION}"),
                [task],
                |_| Ok(()),
            )?
            .is_some())
    }

    // ---- claims ----

    async fn claim(&mut self, task: &str, session: &str) -> Result<Option<Claim>> {
        self.row(
            "SELECT epoch, released FROM task_claims WHERE task_id = ?1 AND session_id = ?2",
            [task, session],
            |r| {
                Ok(Claim {
                    task_id: task.to_string(),
                    session_id: session.to_string(),
                    epoch: r.get(0)?,
                    released: r.get(1)?,
                })
            },
        )
    }

    async fn put_claim(&mut self, c: &Claim) -> Result<()> {
        self.exec(
            "INSERT INTO task_claims (task_id, session_id, epoch, released) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(task_id, session_id) DO UPDATE SET epoch = excluded.epoch, released = excluded.released",
            params![c.task_id, c.session_id, c.epoch, c.released],
        )?;
        Ok(())
    }

    // ---- subtasks ----

    async fn subtasks(&mut self, task: &str) -> Result<Vec<Subtask>> {
        let mut out = self.all(
            &format!("SELECT {SUBTASK_COLS} FROM subtasks WHERE task_id = ?1"),
            [task],
            map::subtask,
        )?;
        out.sort_by(|a, b| (a.order, a.created_at, &a.id).cmp(&(b.order, b.created_at, &b.id)));
        Ok(out)
    }

    async fn subtask(&mut self, id: &str) -> Result<Option<Subtask>> {
        self.row(
            &format!("SELECT {SUBTASK_COLS} FROM subtasks WHERE id = ?1"),
            [id],
            map::subtask,
        )
    }

    async fn insert_subtask(&mut self, s: &Subtask) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO subtasks ({SUBTASK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                s.id,
                s.task_id,
                s.title,
                s.description,
                s.completed,
                s.order,
                ms(&s.created_at),
                ms(&s.updated_at),
                opt_ms(&s.completed_at),
            ],
        )?;
        Ok(())
    }

    async fn save_subtask(&mut self, s: &Subtask) -> Result<()> {
        self.exec(
            "UPDATE subtasks SET title = ?2, description = ?3, completed = ?4, ord = ?5,
                updated_at = ?6, completed_at = ?7 WHERE id = ?1",
            params![
                s.id,
                s.title,
                s.description,
                s.completed,
                s.order,
                ms(&s.updated_at),
                opt_ms(&s.completed_at),
            ],
        )?;
        Ok(())
    }

    async fn delete_subtask(&mut self, id: &str) -> Result<()> {
        self.exec("DELETE FROM subtasks WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- timeline ----

    async fn insert_timeline(
        &mut self,
        task: &str,
        kind: &TimelineKind,
        actor: Option<&str>,
        ts: i64,
    ) -> Result<i64> {
        self.exec(
            "INSERT INTO timeline (task_id, data, session_id, ts) VALUES (?1, ?2, ?3, ?4)",
            params![task, serde_json::to_string(kind)?, actor, ts],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    async fn timeline_after(
        &mut self,
        task: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>> {
        self.all(
            "SELECT id, task_id, data, session_id, ts FROM timeline
             WHERE task_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            params![task, after, limit as i64],
            map::timeline,
        )
    }

    async fn timeline_newest(&mut self, task: &str, limit: usize) -> Result<Vec<TimelineEntry>> {
        // Newest first straight from the index, reversed here rather than sorted by SQLite.
        let mut out = self.all(
            "SELECT id, task_id, data, session_id, ts FROM timeline
             WHERE task_id = ?1 ORDER BY id DESC LIMIT ?2",
            params![task, limit as i64],
            map::timeline,
        )?;
        out.reverse();
        Ok(out)
    }

    async fn timeline_count(&mut self, task: &str) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM timeline WHERE task_id = ?1", [task])
    }

    // ---- sessions ----

    async fn session(&mut self, id: &str) -> Result<Option<Session>> {
        self.row(
            &format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1"),
            [id],
            map::session,
        )
    }

    async fn insert_session(&mut self, s: &Session) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO sessions ({SESSION_COLS}, seq) VALUES
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                  ?19, ?20, ?21, ?22, ?23, ?24,
                  (SELECT COALESCE(MAX(seq), 0) + 1 FROM sessions WHERE project_id = ?2))"
            ),
            params![
                s.id,
                s.project_id,
                s.name,
                s.role.as_str(),
                s.skill,
                s.agent,
                serde_json::to_string(&s.task_ids)?,
                s.status.as_str(),
                s.spawned_by,
                s.pid,
                s.host,
                s.cwd,
                s.exit_code,
                s.reason,
                ms(&s.created_at),
                opt_ms(&s.started_at),
                opt_ms(&s.ended_at),
                ms(&s.last_seen),
                s.agent_session_id,
                opt_json(&s.usage)?,
                opt_json(&s.result)?,
                opt_json(&s.budget)?,
                s.resume_of,
                s.no_worktree,
            ],
        )?;
        Ok(())
    }

    async fn save_session(&mut self, s: &Session) -> Result<()> {
        self.exec(
            "UPDATE sessions SET name = ?2, task_ids = ?3, status = ?4, pid = ?5, host = ?6,
                exit_code = ?7, reason = ?8, started_at = ?9, ended_at = ?10, last_seen = ?11,
                agent_session_id = ?12, usage = ?13, result = ?14, agent = ?15
             WHERE id = ?1",
            params![
                s.id,
                s.name,
                serde_json::to_string(&s.task_ids)?,
                s.status.as_str(),
                s.pid,
                s.host,
                s.exit_code,
                s.reason,
                opt_ms(&s.started_at),
                opt_ms(&s.ended_at),
                ms(&s.last_seen),
                s.agent_session_id,
                opt_json(&s.usage)?,
                opt_json(&s.result)?,
                s.agent,
            ],
        )?;
        Ok(())
    }

    async fn touch_session(&mut self, id: &str, at: i64) -> Result<()> {
        self.exec(
            "UPDATE sessions SET last_seen = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    async fn list_sessions(
        &mut self,
        project_id: &str,
        f: &SessionFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(Session, i64)>> {
        self.all(
            &format!(
                "SELECT {SESSION_COLS}, seq FROM sessions
                 WHERE project_id = ?1
                   AND (?2 = 0 OR {NOT_ENDED})
                   AND (?3 IS NULL OR status = ?3)
                   AND seq > ?4
                 ORDER BY seq LIMIT ?5"
            ),
            params![
                project_id,
                f.active,
                f.status.map(|s| s.as_str()),
                after,
                limit as i64 + 1
            ],
            |r| Ok((map::session(r)?, r.get(map::SESSION_COLS_LEN)?)),
        )
    }

    async fn sessions_with_status(
        &mut self,
        project_id: Option<&str>,
        statuses: &[SessionStatus],
    ) -> Result<Vec<Session>> {
        self.all(
            &format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE status IN (SELECT value FROM json_each(?1))
                   AND (?2 IS NULL OR project_id = ?2)
                 ORDER BY created_at, seq"
            ),
            params![statuses_json(statuses)?, project_id],
            map::session,
        )
    }

    async fn sessions_of_task(
        &mut self,
        task: &str,
        statuses: &[SessionStatus],
    ) -> Result<Vec<Session>> {
        self.all(
            &format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE status IN (SELECT value FROM json_each(?1))
                   AND EXISTS (SELECT 1 FROM json_each(task_ids) WHERE value = ?2)
                 ORDER BY created_at, seq"
            ),
            params![statuses_json(statuses)?, task],
            map::session,
        )
    }

    async fn expired_sessions(&mut self, cutoff: i64) -> Result<Vec<Session>> {
        self.all(
            &format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE status IN ('starting', 'active') AND last_seen < ?1 ORDER BY last_seen, id"
            ),
            [cutoff],
            map::session,
        )
    }

    async fn any_expired(&mut self, cutoff: i64) -> Result<bool> {
        Ok(self
            .row(
                "SELECT 1 FROM sessions WHERE status IN ('starting', 'active') AND last_seen < ?1 LIMIT 1",
                [cutoff],
                |_| Ok(()),
            )?
            .is_some())
    }

    async fn tally_sessions(&mut self, project_id: &str) -> Result<SessionTally> {
        Ok(self
            .row(
                &format!(
                    "SELECT COALESCE(SUM({NOT_ENDED}), 0), COUNT(*),
                        COALESCE(SUM(json_extract(usage, '$.inputTokens')), 0),
                        COALESCE(SUM(json_extract(usage, '$.outputTokens')), 0),
                        COALESCE(SUM(json_extract(usage, '$.cachedInputTokens')), 0),
                        COALESCE(SUM(json_extract(usage, '$.costUsd')), 0.0),
                        COUNT(usage)
                     FROM sessions WHERE project_id = ?1"
                ),
                [project_id],
                |r| {
                    Ok(SessionTally {
                        active: r.get(0)?,
                        total: r.get(1)?,
                        usage: UsageTotals {
                            input_tokens: r.get::<_, i64>(2)?.max(0) as u64,
                            output_tokens: r.get::<_, i64>(3)?.max(0) as u64,
                            cached_input_tokens: r.get::<_, i64>(4)?.max(0) as u64,
                            cost_usd: r.get(5)?,
                            sessions: r.get::<_, i64>(6)?.max(0) as u64,
                        },
                    })
                },
            )?
            .unwrap_or_default())
    }

    // ---- the event log ----

    async fn append_event(
        &mut self,
        ty: EventType,
        project_id: Option<&str>,
        data: &Value,
        ts: i64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO events (type, ts, project_id, data) VALUES (?1, ?2, ?3, ?4)",
            params![ty.as_str(), ts, project_id, serde_json::to_string(data)?],
        )?;
        Ok(())
    }

    async fn events_since(
        &mut self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>> {
        if projects.is_empty() {
            self.all(
                "SELECT seq, type, ts, project_id, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                params![since, limit as i64],
                map::event,
            )
        } else {
            self.all(
                "SELECT seq, type, ts, project_id, data FROM events
                 WHERE seq > ?1 AND project_id IN (SELECT value FROM json_each(?3)) ORDER BY seq LIMIT ?2",
                params![since, limit as i64, serde_json::to_string(projects)?],
                map::event,
            )
        }
    }

    async fn latest_seq(&mut self) -> Result<i64> {
        self.count("SELECT COALESCE(MAX(seq), 0) FROM events", [])
    }

    async fn oldest_seq(&mut self) -> Result<i64> {
        let oldest: Option<i64> = self
            .row("SELECT MIN(seq) FROM events", [], |r| r.get(0))?
            .flatten();
        match oldest {
            Some(seq) => Ok(seq),
            None => Ok(self.latest_seq().await? + 1),
        }
    }

    async fn prune_events(&mut self, keep: usize) -> Result<u64> {
        // At least one event survives, so MAX(seq) and with it latest_seq never go back
        // (AUTOINCREMENT never reuses a seq anyway).
        let keep = keep.max(1) as i64;
        Ok(self.exec(
            "DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?1",
            [keep],
        )? as u64)
    }

    // ---- idempotency records ----

    async fn op_record(&mut self, key: &str) -> Result<Option<OpRecord>> {
        self.row(
            "SELECT op, fingerprint, result, created_at FROM ops WHERE key = ?1",
            [key],
            |r| {
                Ok(OpRecord {
                    key: key.to_string(),
                    op: r.get(0)?,
                    fingerprint: r.get(1)?,
                    result: r.get(2)?,
                    created_at: r.get(3)?,
                })
            },
        )
    }

    async fn put_op_record(&mut self, r: &OpRecord) -> Result<()> {
        self.exec(
            "INSERT INTO ops (key, op, fingerprint, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![r.key, r.op, r.fingerprint, r.result, r.created_at],
        )?;
        Ok(())
    }

    async fn prune_op_records(&mut self, before: i64) -> Result<u64> {
        Ok(self.exec("DELETE FROM ops WHERE created_at < ?1", [before])? as u64)
    }

    async fn merge_queue(
        &mut self,
        project_id: &str,
        target: &str,
    ) -> Result<Option<crate::worktree::MergeQueue>> {
        let text: Option<String> = self.row(
            "SELECT queue FROM merge_queues WHERE project_id = ?1 AND target = ?2",
            params![project_id, target],
            |r| r.get(0),
        )?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    async fn merge_queues(
        &mut self,
        project_id: Option<&str>,
    ) -> Result<Vec<crate::store::ProjectQueue>> {
        let rows: Vec<(String, String)> = self.all(
            "SELECT project_id, queue FROM merge_queues
             WHERE ?1 IS NULL OR project_id = ?1 ORDER BY project_id, target",
            params![project_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        rows.into_iter()
            .map(|(project_id, q)| {
                Ok(crate::store::ProjectQueue {
                    project_id,
                    queue: serde_json::from_str(&q)?,
                })
            })
            .collect()
    }

    async fn save_merge_queue(
        &mut self,
        project_id: &str,
        queue: &crate::worktree::MergeQueue,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO merge_queues (project_id, target, queue, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (project_id, target) DO UPDATE SET queue = ?3, updated_at = ?4",
            params![
                project_id,
                queue.target,
                serde_json::to_string(queue)?,
                self.now
            ],
        )?;
        Ok(())
    }
}
