//! The row primitives of the PostgreSQL store: one open transaction on one pooled
//! connection. Statements go through the connection's statement cache.

use crate::engine::{Rows, SessionTally, TaskTally};
use crate::error::Result;
use crate::id::{self, IdKind};
use crate::model::*;
use crate::rules::effects::Claim;
use crate::rules::idempotency::OpRecord;
use crate::sql::{
    NOT_ENDED, READY_CONDITION, SESSION_COLS, SESSION_COLS_LEN, SUBTASK_COLS, add, opt_json,
    opt_ms, sorted,
};
use crate::store::{SessionFilter, TaskFilter};
use deadpool_postgres::Transaction;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

type Param<'a> = &'a (dyn ToSql + Sync);

/// One transaction: its connection, its time (the database's) and, in a write, the last seq
/// handed out (the counter row it holds locked).
pub(crate) struct PgRows<'a> {
    pub tx: &'a Transaction<'a>,
    pub now: i64,
    pub seq: i64,
    /// Events appended by this transaction.
    pub appended: u64,
}

/// A task's own columns, then its dependency ids as a JSON array in declaration order.
const TASK_COLS: &str = "t.id, t.project_id, t.title, t.description, t.status, t.priority, \
    t.labels, t.session_ids, t.metadata, t.version, t.claim_epoch, t.created_at, t.updated_at, \
    t.started_at, t.completed_at, t.blocked_reason, t.worktree, \
    COALESCE((SELECT json_agg(d.depends_on ORDER BY d.position) FROM task_deps d \
        WHERE d.task_id = t.id), '[]')::text";
const TASK_COLS_LEN: usize = 18;

fn table(kind: IdKind) -> (&'static str, &'static str) {
    match kind {
        IdKind::Project => ("projects", "id"),
        IdKind::Task => ("tasks", "id"),
        IdKind::Subtask => ("subtasks", "id"),
        IdKind::Session => ("sessions", "id"),
        IdKind::Op => ("ops", "key"),
    }
}

fn json_col<T: DeserializeOwned>(r: &Row, idx: usize) -> Result<T> {
    Ok(serde_json::from_str(r.try_get::<_, &str>(idx)?)?)
}

fn opt_json_col<T: DeserializeOwned>(r: &Row, idx: usize) -> Result<Option<T>> {
    match r.try_get::<_, Option<&str>>(idx)? {
        Some(text) => Ok(Some(serde_json::from_str(text)?)),
        None => Ok(None),
    }
}

fn parsed<T: std::str::FromStr<Err = crate::Error>>(r: &Row, idx: usize) -> Result<T> {
    r.try_get::<_, &str>(idx)?.parse()
}

fn opt_ts(r: &Row, idx: usize) -> Result<Option<Timestamp>> {
    Ok(r.try_get::<_, Option<i64>>(idx)?.map(ts))
}

fn time(r: &Row, idx: usize) -> Result<Timestamp> {
    Ok(ts(r.try_get(idx)?))
}

fn task(r: &Row) -> Result<Task> {
    Ok(Task {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        title: r.try_get(2)?,
        description: r.try_get(3)?,
        status: parsed(r, 4)?,
        priority: parsed(r, 5)?,
        labels: json_col(r, 6)?,
        session_ids: json_col(r, 7)?,
        metadata: json_col(r, 8)?,
        version: r.try_get(9)?,
        claim_epoch: r.try_get(10)?,
        created_at: time(r, 11)?,
        updated_at: time(r, 12)?,
        started_at: opt_ts(r, 13)?,
        completed_at: opt_ts(r, 14)?,
        blocked_reason: r.try_get(15)?,
        worktree: opt_json_col(r, 16)?,
        dependencies: json_col(r, 17)?,
    })
}

fn subtask(r: &Row) -> Result<Subtask> {
    Ok(Subtask {
        id: r.try_get(0)?,
        task_id: r.try_get(1)?,
        title: r.try_get(2)?,
        description: r.try_get(3)?,
        completed: r.try_get(4)?,
        order: r.try_get(5)?,
        created_at: time(r, 6)?,
        updated_at: time(r, 7)?,
        completed_at: opt_ts(r, 8)?,
    })
}

fn session(r: &Row) -> Result<Session> {
    Ok(Session {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        name: r.try_get(2)?,
        role: parsed(r, 3)?,
        skill: r.try_get(4)?,
        agent: r.try_get(5)?,
        task_ids: json_col(r, 6)?,
        status: parsed(r, 7)?,
        spawned_by: r.try_get(8)?,
        pid: r.try_get(9)?,
        host: r.try_get(10)?,
        cwd: r.try_get(11)?,
        exit_code: r.try_get(12)?,
        reason: r.try_get(13)?,
        created_at: time(r, 14)?,
        started_at: opt_ts(r, 15)?,
        ended_at: opt_ts(r, 16)?,
        last_seen: time(r, 17)?,
        agent_session_id: r.try_get(18)?,
        usage: opt_json_col(r, 19)?,
        result: opt_json_col(r, 20)?,
        budget: opt_json_col(r, 21)?,
        resume_of: r.try_get(22)?,
        no_worktree: r.try_get(23)?,
    })
}

/// `id, task_id, data, session_id, ts`
fn timeline(r: &Row) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        id: r.try_get(0)?,
        task_id: r.try_get(1)?,
        kind: json_col(r, 2)?,
        session_id: r.try_get(3)?,
        timestamp: time(r, 4)?,
    })
}

/// `seq, type, ts, project_id, data`
pub(crate) fn event(r: &Row) -> Result<Event> {
    let ty: &str = r.try_get(1)?;
    Ok(Event {
        seq: r.try_get(0)?,
        event_type: EventType::parse(ty).ok_or_else(|| {
            crate::Error::storage(format!("the event log holds an unknown event type {ty}"))
        })?,
        ts: time(r, 2)?,
        project_id: r.try_get(3)?,
        data: json_col(r, 4)?,
    })
}

/// `id, name, created_at`
fn project(r: &Row) -> Result<Project> {
    Ok(Project {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: time(r, 2)?,
        default: false,
    })
}

fn statuses(statuses: &[SessionStatus]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

impl PgRows<'_> {
    async fn exec(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.execute(&stmt, params).await?)
    }

    async fn all(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query(&stmt, params).await?)
    }

    async fn opt(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query_opt(&stmt, params).await?)
    }

    async fn map<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.all(sql, params).await?.iter().map(f).collect()
    }

    async fn one<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: impl Fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.opt(sql, params).await?.as_ref().map(f).transpose()
    }

    async fn int(&self, sql: &str, params: &[Param<'_>]) -> Result<i64> {
        Ok(self
            .opt(sql, params)
            .await?
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?
            .unwrap_or(0))
    }

    async fn refs(&self, sql: &str, task: &str) -> Result<Vec<(i64, DependencyRef)>> {
        self.map(sql, &[&task], |r| {
            Ok((
                r.try_get(0)?,
                DependencyRef {
                    id: r.try_get(1)?,
                    title: r.try_get(2)?,
                    status: parsed(r, 3)?,
                },
            ))
        })
        .await
    }
}

impl Rows for PgRows<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    // ---- ids ----

    async fn id_exists(&mut self, kind: IdKind, id: &str) -> Result<bool> {
        let (table, col) = table(kind);
        let sql = format!("SELECT 1 FROM {table} WHERE {col} = $1");
        Ok(self.opt(&sql, &[&id]).await?.is_some())
    }

    async fn ids_with_prefix(
        &mut self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let (table, col) = table(kind);
        let sql = format!(
            "SELECT {col} FROM {table} WHERE {col} >= $1 AND {col} < $2 ORDER BY {col} LIMIT $3"
        );
        let upper = id::prefix_upper_bound(prefix);
        self.map(&sql, &[&prefix, &upper, &(limit as i64)], |r| {
            Ok(r.try_get(0)?)
        })
        .await
    }

    // ---- meta and projects ----

    async fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.one("SELECT value FROM meta WHERE key = $1", &[&key], |r| {
            Ok(r.try_get(0)?)
        })
        .await
    }

    async fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .await?;
        Ok(())
    }

    async fn insert_project(&mut self, p: &Project) -> Result<()> {
        self.exec(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)",
            &[&p.id, &p.name, &ms(&p.created_at)],
        )
        .await?;
        Ok(())
    }

    async fn project(&mut self, id: &str) -> Result<Option<Project>> {
        self.one(
            "SELECT id, name, created_at FROM projects WHERE id = $1",
            &[&id],
            project,
        )
        .await
    }

    async fn projects(&mut self) -> Result<Vec<Project>> {
        self.map(
            "SELECT id, name, created_at FROM projects ORDER BY created_at, pos",
            &[],
            project,
        )
        .await
    }

    // ---- tasks ----

    async fn task(&mut self, id: &str) -> Result<Option<Task>> {
        self.one(
            &format!("SELECT {TASK_COLS} FROM tasks t WHERE t.id = $1"),
            &[&id],
            task,
        )
        .await
    }

    async fn insert_task(&mut self, t: &Task) -> Result<()> {
        self.exec(
            "INSERT INTO tasks (id, project_id, title, description, status, priority, priority_rank,
                labels, session_ids, metadata, version, claim_epoch, created_at, updated_at,
                started_at, completed_at, blocked_reason, worktree, seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks WHERE project_id = $2))",
            &[
                &t.id,
                &t.project_id,
                &t.title,
                &t.description,
                &t.status.as_str(),
                &t.priority.as_str(),
                &i64::from(t.priority.rank()),
                &serde_json::to_string(&t.labels)?,
                &serde_json::to_string(&t.session_ids)?,
                &serde_json::to_string(&t.metadata)?,
                &t.version,
                &t.claim_epoch,
                &ms(&t.created_at),
                &ms(&t.updated_at),
                &opt_ms(&t.started_at),
                &opt_ms(&t.completed_at),
                &t.blocked_reason,
                &opt_json(&t.worktree)?,
            ],
        )
        .await?;
        Ok(())
    }

    async fn save_task(&mut self, t: &Task) -> Result<()> {
        self.exec(
            "UPDATE tasks SET title = $2, description = $3, status = $4, priority = $5,
                priority_rank = $6, labels = $7, session_ids = $8, metadata = $9, version = $10,
                claim_epoch = $11, updated_at = $12, started_at = $13, completed_at = $14,
                blocked_reason = $15, worktree = $16
             WHERE id = $1",
            &[
                &t.id,
                &t.title,
                &t.description,
                &t.status.as_str(),
                &t.priority.as_str(),
                &i64::from(t.priority.rank()),
                &serde_json::to_string(&t.labels)?,
                &serde_json::to_string(&t.session_ids)?,
                &serde_json::to_string(&t.metadata)?,
                &t.version,
                &t.claim_epoch,
                &ms(&t.updated_at),
                &opt_ms(&t.started_at),
                &opt_ms(&t.completed_at),
                &t.blocked_reason,
                &opt_json(&t.worktree)?,
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_task(&mut self, id: &str) -> Result<()> {
        self.exec("DELETE FROM tasks WHERE id = $1", &[&id]).await?;
        Ok(())
    }

    async fn list_tasks(
        &mut self,
        project_id: &str,
        f: &TaskFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(Task, i64)>> {
        let status = f.status.map(|s| s.as_str());
        let priority = f.priority.map(|p| p.as_str());
        let mut sql = format!("SELECT {TASK_COLS}, t.seq FROM tasks t WHERE t.project_id = $1");
        let mut params: Vec<Param<'_>> = vec![&project_id];
        fn bind<'p>(sql: &mut String, params: &mut Vec<Param<'p>>, clause: &str, v: Param<'p>) {
            params.push(v);
            sql.push_str(&clause.replace('$', &format!("${}", params.len())));
        }
        if let Some(s) = &status {
            bind(&mut sql, &mut params, " AND t.status = $", s);
        }
        if let Some(p) = &priority {
            bind(&mut sql, &mut params, " AND t.priority = $", p);
        }
        if let Some(l) = &f.label {
            bind(&mut sql, &mut params, " AND t.labels::jsonb ? $", l);
        }
        if let Some(s) = &f.session_id {
            bind(&mut sql, &mut params, " AND t.session_ids::jsonb ? $", s);
        }
        if after > 0 {
            bind(&mut sql, &mut params, " AND t.seq > $", &after);
        }
        if f.ready {
            sql.push_str(" AND ");
            sql.push_str(READY_CONDITION);
        }
        sql.push_str(&format!(" ORDER BY t.seq LIMIT {}", limit + 1));
        self.map(&sql, &params, |r| Ok((task(r)?, r.try_get(TASK_COLS_LEN)?)))
            .await
    }

    async fn ready_tasks(&mut self, project_id: &str, limit: usize) -> Result<Vec<Task>> {
        self.map(
            &format!(
                "SELECT {TASK_COLS} FROM tasks t WHERE t.project_id = $1 AND {READY_CONDITION}
                 ORDER BY t.priority_rank, t.seq LIMIT $2"
            ),
            &[&project_id, &(limit as i64)],
            task,
        )
        .await
    }

    /// From `task_counts`, which triggers keep exact (migration 0003): a few rows per
    /// project instead of three passes over its tasks.
    async fn tally_tasks(&mut self, project_id: &str) -> Result<TaskTally> {
        let stmt = self
            .tx
            .prepare_cached(
                "SELECT status, priority, ready, n FROM task_counts WHERE project_id = $1 AND n <> 0",
            )
            .await?;
        let mut tally = TaskTally::default();
        for r in self.tx.query(&stmt, &[&project_id]).await? {
            let n: i64 = r.try_get(3)?;
            add(&mut tally.by_status, parsed(&r, 0)?, n);
            add(&mut tally.by_priority, parsed(&r, 1)?, n);
            if r.try_get::<_, bool>(2)? {
                tally.ready += n;
            }
        }
        Ok(tally)
    }

    // ---- dependencies ----

    async fn insert_dependency(&mut self, task: &str, dep: &str, position: i64) -> Result<()> {
        self.exec(
            "INSERT INTO task_deps (task_id, depends_on, position) VALUES ($1, $2, $3)",
            &[&task, &dep, &position],
        )
        .await?;
        Ok(())
    }

    async fn delete_dependency(&mut self, task: &str, dep: &str) -> Result<bool> {
        Ok(self
            .exec(
                "DELETE FROM task_deps WHERE task_id = $1 AND depends_on = $2",
                &[&task, &dep],
            )
            .await?
            > 0)
    }

    async fn dependencies(&mut self, task: &str) -> Result<Vec<String>> {
        self.map(
            "SELECT depends_on FROM task_deps WHERE task_id = $1 ORDER BY position",
            &[&task],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }

    async fn max_dependency_position(&mut self, task: &str) -> Result<i64> {
        self.int(
            "SELECT COALESCE(MAX(position), 0)::int8 FROM task_deps WHERE task_id = $1",
            &[&task],
        )
        .await
    }

    async fn dependents(&mut self, task: &str) -> Result<Vec<String>> {
        self.map(
            "SELECT task_id FROM task_deps WHERE depends_on = $1",
            &[&task],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }

    async fn dependency_refs(
        &mut self,
        task: &str,
    ) -> Result<(Vec<DependencyRef>, Vec<DependencyRef>)> {
        let deps = self
            .refs(
                "SELECT d.position, x.id, x.title, x.status
                   FROM task_deps d JOIN tasks x ON x.id = d.depends_on WHERE d.task_id = $1",
                task,
            )
            .await?;
        let dependents = self
            .refs(
                "SELECT x.seq, x.id, x.title, x.status
                   FROM task_deps d JOIN tasks x ON x.id = d.task_id WHERE d.depends_on = $1",
                task,
            )
            .await?;
        Ok((sorted(deps), sorted(dependents)))
    }

    async fn unfinished_dependencies(&mut self, task: &str) -> Result<Vec<DependencyRef>> {
        let refs = self
            .refs(
                "SELECT d.position, x.id, x.title, x.status
                   FROM task_deps d JOIN tasks x ON x.id = d.depends_on
                  WHERE d.task_id = $1 AND x.status <> 'completed'",
                task,
            )
            .await?;
        Ok(sorted(refs))
    }

    async fn set_open_dependencies(&mut self, task: &str, count: i64) -> Result<()> {
        self.exec(
            "UPDATE tasks SET open_deps = $2 WHERE id = $1",
            &[&task, &count],
        )
        .await?;
        Ok(())
    }

    async fn shift_open_dependencies_of_dependents(
        &mut self,
        task: &str,
        delta: i64,
    ) -> Result<()> {
        self.exec(
            "UPDATE tasks SET open_deps = open_deps + $2
             WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on = $1)",
            &[&task, &delta],
        )
        .await?;
        Ok(())
    }

    async fn is_ready(&mut self, task: &str) -> Result<bool> {
        Ok(self
            .opt(
                &format!("SELECT 1 FROM tasks t WHERE t.id = $1 AND {READY_CONDITION}"),
                &[&task],
            )
            .await?
            .is_some())
    }

    // ---- claims ----

    async fn claim(&mut self, task: &str, session: &str) -> Result<Option<Claim>> {
        self.one(
            "SELECT epoch, released FROM task_claims WHERE task_id = $1 AND session_id = $2",
            &[&task, &session],
            |r| {
                Ok(Claim {
                    task_id: task.to_string(),
                    session_id: session.to_string(),
                    epoch: r.try_get(0)?,
                    released: r.try_get(1)?,
                })
            },
        )
        .await
    }

    async fn put_claim(&mut self, c: &Claim) -> Result<()> {
        self.exec(
            "INSERT INTO task_claims (task_id, session_id, epoch, released) VALUES ($1, $2, $3, $4)
             ON CONFLICT (task_id, session_id)
             DO UPDATE SET epoch = excluded.epoch, released = excluded.released",
            &[&c.task_id, &c.session_id, &c.epoch, &c.released],
        )
        .await?;
        Ok(())
    }

    // ---- subtasks ----

    async fn subtasks(&mut self, task: &str) -> Result<Vec<Subtask>> {
        let mut out = self
            .map(
                &format!("SELECT {SUBTASK_COLS} FROM subtasks WHERE task_id = $1"),
                &[&task],
                subtask,
            )
            .await?;
        out.sort_by(|a, b| (a.order, a.created_at, &a.id).cmp(&(b.order, b.created_at, &b.id)));
        Ok(out)
    }

    async fn subtask(&mut self, id: &str) -> Result<Option<Subtask>> {
        self.one(
            &format!("SELECT {SUBTASK_COLS} FROM subtasks WHERE id = $1"),
            &[&id],
            subtask,
        )
        .await
    }

    async fn insert_subtask(&mut self, s: &Subtask) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO subtasks ({SUBTASK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                &s.id,
                &s.task_id,
                &s.title,
                &s.description,
                &s.completed,
                &s.order,
                &ms(&s.created_at),
                &ms(&s.updated_at),
                &opt_ms(&s.completed_at),
            ],
        )
        .await?;
        Ok(())
    }

    async fn save_subtask(&mut self, s: &Subtask) -> Result<()> {
        self.exec(
            "UPDATE subtasks SET title = $2, description = $3, completed = $4, ord = $5,
                updated_at = $6, completed_at = $7 WHERE id = $1",
            &[
                &s.id,
                &s.title,
                &s.description,
                &s.completed,
                &s.order,
                &ms(&s.updated_at),
                &opt_ms(&s.completed_at),
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_subtask(&mut self, id: &str) -> Result<()> {
        self.exec("DELETE FROM subtasks WHERE id = $1", &[&id])
            .await?;
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
        let data = serde_json::to_string(kind)?;
        let row = self
            .opt(
                "INSERT INTO timeline (task_id, data, session_id, ts) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[&task, &data, &actor, &ts],
            )
            .await?
            .ok_or_else(|| crate::Error::storage("a timeline insert returned no id"))?;
        Ok(row.try_get(0)?)
    }

    async fn timeline_after(
        &mut self,
        task: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>> {
        self.map(
            "SELECT id, task_id, data, session_id, ts FROM timeline
             WHERE task_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            &[&task, &after, &(limit as i64)],
            timeline,
        )
        .await
    }

    async fn timeline_newest(&mut self, task: &str, limit: usize) -> Result<Vec<TimelineEntry>> {
        let mut out = self
            .map(
                "SELECT id, task_id, data, session_id, ts FROM timeline
                 WHERE task_id = $1 ORDER BY id DESC LIMIT $2",
                &[&task, &(limit as i64)],
                timeline,
            )
            .await?;
        out.reverse();
        Ok(out)
    }

    async fn timeline_count(&mut self, task: &str) -> Result<i64> {
        self.int("SELECT COUNT(*) FROM timeline WHERE task_id = $1", &[&task])
            .await
    }

    // ---- sessions ----

    async fn session(&mut self, id: &str) -> Result<Option<Session>> {
        self.one(
            &format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1"),
            &[&id],
            session,
        )
        .await
    }

    async fn insert_session(&mut self, s: &Session) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO sessions ({SESSION_COLS}, seq) VALUES
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                  $19, $20, $21, $22, $23, $24,
                  (SELECT COALESCE(MAX(seq), 0) + 1 FROM sessions WHERE project_id = $2))"
            ),
            &[
                &s.id,
                &s.project_id,
                &s.name,
                &s.role.as_str(),
                &s.skill,
                &s.agent,
                &serde_json::to_string(&s.task_ids)?,
                &s.status.as_str(),
                &s.spawned_by,
                &s.pid,
                &s.host,
                &s.cwd,
                &s.exit_code,
                &s.reason,
                &ms(&s.created_at),
                &opt_ms(&s.started_at),
                &opt_ms(&s.ended_at),
                &ms(&s.last_seen),
                &s.agent_session_id,
                &opt_json(&s.usage)?,
                &opt_json(&s.result)?,
                &opt_json(&s.budget)?,
                &s.resume_of,
                &s.no_worktree,
            ],
        )
        .await?;
        Ok(())
    }

    async fn save_session(&mut self, s: &Session) -> Result<()> {
        self.exec(
            "UPDATE sessions SET name = $2, task_ids = $3, status = $4, pid = $5, host = $6,
                exit_code = $7, reason = $8, started_at = $9, ended_at = $10, last_seen = $11,
                agent_session_id = $12, usage = $13, result = $14, agent = $15
             WHERE id = $1",
            &[
                &s.id,
                &s.name,
                &serde_json::to_string(&s.task_ids)?,
                &s.status.as_str(),
                &s.pid,
                &s.host,
                &s.exit_code,
                &s.reason,
                &opt_ms(&s.started_at),
                &opt_ms(&s.ended_at),
                &ms(&s.last_seen),
                &s.agent_session_id,
                &opt_json(&s.usage)?,
                &opt_json(&s.result)?,
                &s.agent,
            ],
        )
        .await?;
        Ok(())
    }

    async fn touch_session(&mut self, id: &str, at: i64) -> Result<()> {
        self.exec(
            "UPDATE sessions SET last_seen = $2 WHERE id = $1",
            &[&id, &at],
        )
        .await?;
        Ok(())
    }

    async fn list_sessions(
        &mut self,
        project_id: &str,
        f: &SessionFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(Session, i64)>> {
        self.map(
            &format!(
                "SELECT {SESSION_COLS}, seq FROM sessions
                 WHERE project_id = $1
                   AND (NOT $2 OR {NOT_ENDED})
                   AND ($3::text IS NULL OR status = $3)
                   AND seq > $4
                 ORDER BY seq LIMIT $5"
            ),
            &[
                &project_id,
                &f.active,
                &f.status.map(|s| s.as_str()),
                &after,
                &(limit as i64 + 1),
            ],
            |r| Ok((session(r)?, r.try_get(SESSION_COLS_LEN)?)),
        )
        .await
    }

    async fn sessions_with_status(
        &mut self,
        project_id: Option<&str>,
        wanted: &[SessionStatus],
    ) -> Result<Vec<Session>> {
        self.map(
            &format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE status = ANY($1) AND ($2::text IS NULL OR project_id = $2)
                 ORDER BY created_at, seq"
            ),
            &[&statuses(wanted), &project_id],
            session,
        )
        .await
    }

    async fn sessions_of_task(
        &mut self,
        task: &str,
        wanted: &[SessionStatus],
    ) -> Result<Vec<Session>> {
        self.map(
            &format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE status = ANY($1) AND task_ids::jsonb ? $2
                 ORDER BY created_at, seq"
            ),
            &[&statuses(wanted), &task],
            session,
        )
        .await
    }

    async fn expired_sessions(&mut self, cutoff: i64) -> Result<Vec<Session>> {
        self.map(
            &format!(
                "SELECT {SESSION_COLS} FROM sessions
                 WHERE status IN ('starting', 'active') AND last_seen < $1 ORDER BY last_seen, id"
            ),
            &[&cutoff],
            session,
        )
        .await
    }

    async fn any_expired(&mut self, cutoff: i64) -> Result<bool> {
        Ok(self
            .opt(
                "SELECT 1 FROM sessions
                 WHERE status IN ('starting', 'active') AND last_seen < $1 LIMIT 1",
                &[&cutoff],
            )
            .await?
            .is_some())
    }

    async fn tally_sessions(&mut self, project_id: &str) -> Result<SessionTally> {
        let tally = self
            .one(
                &format!(
                    "SELECT COUNT(*) FILTER (WHERE {NOT_ENDED}), COUNT(*),
                        COALESCE(SUM((usage::jsonb->>'inputTokens')::numeric), 0)::int8,
                        COALESCE(SUM((usage::jsonb->>'outputTokens')::numeric), 0)::int8,
                        COALESCE(SUM((usage::jsonb->>'cachedInputTokens')::numeric), 0)::int8,
                        COALESCE(SUM((usage::jsonb->>'costUsd')::float8), 0)::float8,
                        COUNT(usage)
                     FROM sessions WHERE project_id = $1"
                ),
                &[&project_id],
                |r| {
                    Ok(SessionTally {
                        active: r.try_get(0)?,
                        total: r.try_get(1)?,
                        usage: UsageTotals {
                            input_tokens: r.try_get::<_, i64>(2)?.max(0) as u64,
                            output_tokens: r.try_get::<_, i64>(3)?.max(0) as u64,
                            cached_input_tokens: r.try_get::<_, i64>(4)?.max(0) as u64,
                            cost_usd: r.try_get(5)?,
                            sessions: r.try_get::<_, i64>(6)?.max(0) as u64,
                        },
                    })
                },
            )
            .await?;
        Ok(tally.unwrap_or_default())
    }

    // ---- the event log ----

    /// The next seq of the counter this write holds locked: commit order is seq order.
    async fn append_event(
        &mut self,
        ty: EventType,
        project_id: Option<&str>,
        data: &Value,
        ts: i64,
    ) -> Result<()> {
        let seq = self.seq + 1;
        self.exec(
            "INSERT INTO events (seq, type, ts, project_id, data) VALUES ($1, $2, $3, $4, $5)",
            &[
                &seq,
                &ty.as_str(),
                &ts,
                &project_id,
                &serde_json::to_string(data)?,
            ],
        )
        .await?;
        self.seq = seq;
        self.appended += 1;
        Ok(())
    }

    async fn events_since(
        &mut self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>> {
        if projects.is_empty() {
            self.map(
                "SELECT seq, type, ts, project_id, data FROM events
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&since, &(limit as i64)],
                event,
            )
            .await
        } else {
            self.map(
                "SELECT seq, type, ts, project_id, data FROM events
                 WHERE seq > $1 AND project_id = ANY($3) ORDER BY seq LIMIT $2",
                &[&since, &(limit as i64), &projects],
                event,
            )
            .await
        }
    }

    async fn latest_seq(&mut self) -> Result<i64> {
        self.int("SELECT COALESCE(MAX(seq), 0)::int8 FROM events", &[])
            .await
    }

    async fn oldest_seq(&mut self) -> Result<i64> {
        let oldest = self
            .one("SELECT MIN(seq) FROM events", &[], |r| {
                Ok(r.try_get::<_, Option<i64>>(0)?)
            })
            .await?
            .flatten();
        match oldest {
            Some(seq) => Ok(seq),
            None => Ok(self.latest_seq().await? + 1),
        }
    }

    async fn prune_events(&mut self, keep: usize) -> Result<u64> {
        // At least one event survives, so MAX(seq) and with it latest_seq never go back (the
        // counter never hands a seq out twice anyway).
        let keep = keep.max(1) as i64;
        self.exec(
            "DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - $1",
            &[&keep],
        )
        .await
    }

    // ---- idempotency records ----

    async fn op_record(&mut self, key: &str) -> Result<Option<OpRecord>> {
        self.one(
            "SELECT op, fingerprint, result, created_at FROM ops WHERE key = $1",
            &[&key],
            |r| {
                Ok(OpRecord {
                    key: key.to_string(),
                    op: r.try_get(0)?,
                    fingerprint: r.try_get(1)?,
                    result: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            },
        )
        .await
    }

    async fn put_op_record(&mut self, r: &OpRecord) -> Result<()> {
        self.exec(
            "INSERT INTO ops (key, op, fingerprint, result, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&r.key, &r.op, &r.fingerprint, &r.result, &r.created_at],
        )
        .await?;
        Ok(())
    }

    async fn prune_op_records(&mut self, before: i64) -> Result<u64> {
        self.exec("DELETE FROM ops WHERE created_at < $1", &[&before])
            .await
    }

    // ---- merge queues ----

    async fn merge_queue(
        &mut self,
        project_id: &str,
        target: &str,
    ) -> Result<Option<crate::worktree::MergeQueue>> {
        match self
            .opt(
                "SELECT queue FROM merge_queues WHERE project_id = $1 AND target = $2",
                &[&project_id, &target],
            )
            .await?
        {
            Some(r) => Ok(Some(json_col(&r, 0)?)),
            None => Ok(None),
        }
    }

    async fn merge_queues(
        &mut self,
        project_id: Option<&str>,
    ) -> Result<Vec<crate::store::ProjectQueue>> {
        self.map(
            "SELECT project_id, queue FROM merge_queues
             WHERE $1::text IS NULL OR project_id = $1 ORDER BY project_id, target",
            &[&project_id],
            |r| {
                Ok(crate::store::ProjectQueue {
                    project_id: r.try_get(0)?,
                    queue: json_col(r, 1)?,
                })
            },
        )
        .await
    }

    async fn save_merge_queue(
        &mut self,
        project_id: &str,
        queue: &crate::worktree::MergeQueue,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO merge_queues (project_id, target, queue, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, target) DO UPDATE SET queue = $3, updated_at = $4",
            &[
                &project_id,
                &queue.target,
                &serde_json::to_string(queue)?,
                &self.now,
            ],
        )
        .await?;
        Ok(())
    }
}
