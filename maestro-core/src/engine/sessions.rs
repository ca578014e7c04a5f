//! Sessions: registration, spawn requests, the session status machine, heartbeats, spawn
//! claims by hosts, and lease expiry.

use super::resolve::{self, resolve};
use super::tasks::persist;
use super::timeline::add_entry;
use super::{Gate, ReadOp, Rows, WriteOp, emit, load_session};
use crate::error::{Error, Result};
use crate::id::{self, IdKind};
use crate::model::*;
use crate::rules::effects::{self, Effects};
use crate::rules::ownership::Actor;
use crate::rules::{lease, limits, session_status, spawn};
use crate::store::*;
use serde::Serialize;
use std::time::Duration;

const REQUESTS: &[SessionStatus] = &[SessionStatus::Waiting, SessionStatus::Spawning];
const NOT_ENDED: &[SessionStatus] = &[
    SessionStatus::Waiting,
    SessionStatus::Spawning,
    SessionStatus::Starting,
    SessionStatus::Active,
];

async fn save_and_emit<R: Rows>(rows: &mut R, s: &Session) -> Result<()> {
    rows.save_session(s).await?;
    emit(rows, EventType::SessionUpdated, &s.project_id, s).await
}

/// Adds `task_id` to the task list of `session_id`.
pub(crate) async fn link_session<R: Rows>(
    rows: &mut R,
    session_id: &str,
    task_id: &str,
) -> Result<()> {
    let mut s = load_session(rows, session_id).await?;
    if !s.task_ids.iter().any(|t| t == task_id) {
        s.task_ids.push(task_id.to_string());
        save_and_emit(rows, &s).await?;
    }
    Ok(())
}

/// Ends a request that can no longer be launched (`stopped`, with the reason).
async fn stop_request<R: Rows>(rows: &mut R, mut s: Session, reason: String) -> Result<()> {
    s.status = SessionStatus::Stopped;
    s.reason = Some(reason);
    s.ended_at = Some(ts(rows.now()));
    save_and_emit(rows, &s).await
}

/// Stops the spawn requests of a task that was deleted or cancelled.
pub(crate) async fn stop_requests<R: Rows>(
    rows: &mut R,
    task_id: &str,
    reason: &str,
) -> Result<()> {
    for s in rows.sessions_of_task(task_id, REQUESTS).await? {
        stop_request(rows, s, reason.to_string()).await?;
    }
    Ok(())
}

/// Turns the `waiting` requests of `project_id` whose task became ready into spawn
/// requests for a host, and stops those whose task went away.
pub(crate) async fn activate_waiting<R: Rows>(rows: &mut R, project_id: &str) -> Result<()> {
    let waiting = rows
        .sessions_with_status(Some(project_id), &[SessionStatus::Waiting])
        .await?;
    for mut s in waiting {
        let Some(task_id) = s.task_ids.first().cloned() else {
            continue;
        };
        let task = rows.task(&task_id).await?;
        let ready = match &task {
            Some(t) => rows.is_ready(&t.id).await?,
            None => false,
        };
        match spawn::waiting(task.as_ref(), ready) {
            spawn::Waiting::Wait => {}
            spawn::Waiting::Stop(reason) => stop_request(rows, s, reason).await?,
            spawn::Waiting::Launch => {
                s.status = SessionStatus::Spawning;
                save_and_emit(rows, &s).await?;
                emit(rows, EventType::SessionSpawnRequest, &s.project_id, &s).await?;
            }
        }
    }
    Ok(())
}

/// Releases what a session that just ended held: each task it owned goes back to the
/// queue, or keeps its other owners.
async fn release_tasks_of<R: Rows>(rows: &mut R, session: &Session) -> Result<()> {
    let reason = match &session.reason {
        Some(r) => format!("session {}: {r}", session.status),
        None => format!("session {}", session.status),
    };
    let now = ts(rows.now());
    for task_id in &session.task_ids {
        let Some(mut task) = rows.task(task_id).await? else {
            continue; // deleted since
        };
        let mut fx = Effects::default();
        effects::release_ended_session(&mut task, &session.id, &reason, now, &mut fx)?;
        // Nobody acts: the store releases the claim of a session that ended.
        persist(rows, &mut task, fx, None).await?;
    }
    Ok(())
}

/// Moves `s` to `to` (checked by the session machine) and applies what that means.
async fn transition<R: Rows>(rows: &mut R, s: &mut Session, to: SessionStatus) -> Result<bool> {
    if !session_status::check(s, to)? {
        return Ok(false);
    }
    let now = ts(rows.now());
    if to.is_terminal() {
        s.ended_at.get_or_insert(now);
    } else if to == SessionStatus::Active {
        s.started_at.get_or_insert(now);
    }
    s.status = to;
    Ok(true)
}

// ---- create ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct CreateSession(pub NewSession);

impl WriteOp for CreateSession {
    type Output = Session;
    const NAME: &'static str = "session.create";

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Session> {
        let new = &self.0;
        let mut task_ids = Vec::with_capacity(new.task_ids.len());
        for t in &new.task_ids {
            task_ids.push(resolve(rows, IdKind::Task, t).await?);
        }
        let first = match task_ids.first() {
            Some(t) => Some(super::load_task(rows, t).await?),
            None => None,
        };
        let project = match (&new.project_id, &first) {
            (None, Some(t)) => resolve::get_project(rows, &t.project_id).await?,
            (p, _) => resolve::project(rows, p.as_deref()).await?,
        };
        let role = new.role.unwrap_or(Role::Worker);
        let status = match (&first, new.spawn) {
            (_, false) => SessionStatus::Active,
            (Some(task), true) if role == Role::Worker => {
                let unfinished = rows.unfinished_dependencies(&task.id).await?.len();
                let status = spawn::initial_status(task, unfinished, new.force)?;
                let live: Vec<Session> = rows
                    .sessions_of_task(&task.id, NOT_ENDED)
                    .await?
                    .into_iter()
                    .filter(|s| s.role == Role::Worker)
                    .filter(|s| {
                        s.status.is_request()
                            || s.status == SessionStatus::Starting
                            || task.session_ids.contains(&s.id)
                    })
                    .collect();
                spawn::check_live_sessions(task, &live, new.force)?;
                status
            }
            (_, true) => SessionStatus::Spawning,
        };
        let resume_of = match &new.resume {
            Some(input) => {
                let prev_id = resolve(rows, IdKind::Session, input).await?;
                let prev = load_session(rows, &prev_id).await?;
                if prev.agent_session_id.is_none() {
                    return Err(Error::invalid_argument(format!(
                        "Session '{}' has no agent conversation to resume",
                        prev.id
                    ))
                    .with_details(serde_json::json!({ "sessionId": prev.id }))
                    .with_suggestion(
                        "Resume a session whose agent reported its session id (see 'maestro session get <id>'), or spawn without --resume",
                    ));
                }
                Some(prev.id)
            }
            None => None,
        };
        let now = ts(rows.now());
        let id = id::new_id(IdKind::Session);
        let name = new
            .name
            .clone()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("{role}-{}", &id[2..6]));
        let session = Session {
            id,
            project_id: project.id.clone(),
            name,
            role,
            skill: new.skill.clone(),
            agent: new.agent.clone(),
            task_ids,
            status,
            spawned_by: if new.spawn {
                actor.session_id().map(str::to_string)
            } else {
                None
            },
            pid: new.pid,
            host: new.host.clone(),
            cwd: new.cwd.clone(),
            exit_code: None,
            reason: None,
            created_at: now,
            started_at: (!new.spawn).then_some(now),
            ended_at: None,
            last_seen: now,
            agent_session_id: None,
            usage: None,
            result: None,
            budget: new.budget.filter(|b| !b.is_empty()),
            resume_of,
            no_worktree: new.no_worktree,
        };
        rows.insert_session(&session).await?;
        emit(rows, EventType::SessionCreated, &project.id, &session).await?;
        if status == SessionStatus::Spawning {
            emit(rows, EventType::SessionSpawnRequest, &project.id, &session).await?;
        }
        Ok(session)
    }
}

// ---- read ------------------------------------------------------------------------------

pub struct ListSessions(pub SessionFilter);

impl ReadOp for ListSessions {
    type Output = Page<Session>;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Page<Session>> {
        let project = resolve::project(rows, self.0.project_id.as_deref()).await?;
        let limit = limits::page_size(self.0.limit, limits::DEFAULT_LIMIT, limits::MAX_LIMIT)?;
        let after = limits::parse_cursor(self.0.cursor.as_deref())?.unwrap_or(0);
        let found = rows
            .list_sessions(&project.id, &self.0, after, limit)
            .await?;
        Ok(limits::page(found, limit))
    }
}

pub struct GetSession(pub String);

impl ReadOp for GetSession {
    type Output = Session;
    fn is_short(&self) -> bool {
        true
    }

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Session> {
        let id = resolve(rows, IdKind::Session, &self.0).await?;
        load_session(rows, &id).await
    }
}

// ---- update ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct UpdateSession {
    pub id: String,
    pub patch: SessionPatch,
}

impl WriteOp for UpdateSession {
    type Output = Session;
    const NAME: &'static str = "session.update";
    const GATE: Gate = Gate::Own;

    async fn run<R: Rows>(&self, rows: &mut R, actor: Actor<'_>) -> Result<Session> {
        let p = &self.patch;
        let id = resolve(rows, IdKind::Session, &self.id).await?;
        // Another session acting on this one must itself be live.
        if let Some(a) = actor.session().filter(|a| a.id != id) {
            session_status::gate(a)?;
            let now = rows.now();
            rows.touch_session(&a.id, now).await?;
        }
        let mut s = load_session(rows, &id).await?;
        let was_terminal = s.status.is_terminal();
        let mut changed = match p.status {
            Some(to) => transition(rows, &mut s, to).await?,
            None => false,
        };
        // An ended session keeps its record; only the host's bookkeeping may still arrive.
        if was_terminal && (p.name.is_some() || p.task_ids.is_some()) {
            session_status::gate(&s)?;
        }
        if let Some(n) = p.name.as_ref().map(|n| n.trim()).filter(|n| !n.is_empty())
            && n != s.name
        {
            s.name = n.to_string();
            changed = true;
        }
        for (field, value) in [(&mut s.pid, p.pid), (&mut s.exit_code, p.exit_code)] {
            if value.is_some() && *field != value {
                *field = value;
                changed = true;
            }
        }
        if p.agent.is_some() && s.agent != p.agent {
            s.agent = p.agent.clone();
            changed = true;
        }
        if p.host.is_some() && s.host != p.host {
            s.host = p.host.clone();
            changed = true;
        }
        if p.reason.is_some() && s.reason != p.reason {
            s.reason = p.reason.clone();
            changed = true;
        }
        if p.agent_session_id.is_some() && s.agent_session_id != p.agent_session_id {
            s.agent_session_id = p.agent_session_id.clone();
            changed = true;
        }
        if p.usage.is_some() && s.usage != p.usage {
            s.usage = p.usage.clone();
            changed = true;
        }
        let finished_run = p.result.is_some() && s.result.is_none();
        if finished_run {
            s.result = p.result.clone();
            changed = true;
        }
        if let Some(ids) = &p.task_ids {
            let mut resolved = Vec::with_capacity(ids.len());
            for t in ids {
                resolved.push(resolve(rows, IdKind::Task, t).await?);
            }
            if resolved != s.task_ids {
                s.task_ids = resolved;
                changed = true;
            }
        }
        if !changed {
            return Ok(s);
        }
        if !s.status.is_terminal() {
            s.last_seen = ts(rows.now());
        }
        save_and_emit(rows, &s).await?;
        if finished_run {
            record_run(rows, &s).await?;
        }
        if s.status.is_terminal() && !was_terminal {
            release_tasks_of(rows, &s).await?;
        }
        Ok(s)
    }
}

/// The `agent_result` entry of a finished run, on the session's first task.
async fn record_run<R: Rows>(rows: &mut R, s: &Session) -> Result<()> {
    let (Some(result), Some(task_id)) = (&s.result, s.task_ids.first()) else {
        return Ok(());
    };
    let Some(task) = rows.task(task_id).await? else {
        return Ok(());
    };
    let kind = TimelineKind::AgentResult {
        session_id: s.id.clone(),
        outcome: result
            .error
            .map_or("success", crate::agent::ErrorKind::as_str)
            .to_string(),
        message: result.message.clone(),
        usage: s.usage.clone().unwrap_or_default(),
    };
    add_entry(rows, &task, kind, Some(&s.id)).await?;
    Ok(())
}

/// Refreshes the lease of a session that has not ended.
#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    pub id: String,
}

impl WriteOp for Heartbeat {
    type Output = Session;
    const NAME: &'static str = "session.heartbeat";
    const GATE: Gate = Gate::Own;

    async fn run<R: Rows>(&self, rows: &mut R, _: Actor<'_>) -> Result<Session> {
        let id = resolve(rows, IdKind::Session, &self.id).await?;
        let mut s = load_session(rows, &id).await?;
        session_status::gate(&s)?;
        let now = rows.now();
        rows.touch_session(&s.id, now).await?;
        s.last_seen = ts(now);
        Ok(s)
    }
}

/// A host takes a spawn request (`spawning → starting`); `None` when it is no longer
/// waiting for one.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimSpawn {
    pub id: String,
    pub host: String,
}

impl WriteOp for ClaimSpawn {
    type Output = Option<Session>;
    const NAME: &'static str = "session.claim_spawn";

    async fn run<R: Rows>(&self, rows: &mut R, _: Actor<'_>) -> Result<Option<Session>> {
        let id = resolve(rows, IdKind::Session, &self.id).await?;
        let mut s = load_session(rows, &id).await?;
        if s.status != SessionStatus::Spawning {
            return Ok(None);
        }
        s.status = SessionStatus::Starting;
        s.host = Some(self.host.clone());
        s.last_seen = ts(rows.now());
        save_and_emit(rows, &s).await?;
        Ok(Some(s))
    }
}

// ---- leases ----------------------------------------------------------------------------

/// Whether any started session is past `lease`.
pub struct AnyExpired(pub Duration);

impl ReadOp for AnyExpired {
    type Output = bool;
    fn is_short(&self) -> bool {
        true
    }

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<bool> {
        let cutoff = lease::cutoff(rows.now(), self.0);
        rows.any_expired(cutoff).await
    }
}

/// Declares lost every started session past its lease and releases its tasks. The caller
/// (if any) was refreshed first, so it is never among them.
#[derive(Debug, Clone, Serialize)]
pub struct ReapExpired {
    pub lease: Duration,
}

impl WriteOp for ReapExpired {
    type Output = Vec<Session>;
    const NAME: &'static str = "session.reap";
    const LONG: bool = true;

    async fn run<R: Rows>(&self, rows: &mut R, _: Actor<'_>) -> Result<Vec<Session>> {
        let now = rows.now();
        let expired = rows
            .expired_sessions(lease::cutoff(now, self.lease))
            .await?;
        let mut lost = Vec::with_capacity(expired.len());
        for mut s in expired {
            let reason = lease::lost_reason(now, ms(&s.last_seen), self.lease);
            transition(rows, &mut s, SessionStatus::Lost).await?;
            s.reason = Some(reason);
            save_and_emit(rows, &s).await?;
            release_tasks_of(rows, &s).await?;
            lost.push(s);
        }
        Ok(lost)
    }
}
