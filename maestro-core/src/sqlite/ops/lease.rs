//! Leases, fencing and spawn claims (SPEC §8).
//!
//! A session proves it is alive by acting (every write it makes refreshes `last_seen`) or by
//! heartbeats from itself or its host. Past its lease it is declared `lost` and the tasks it
//! was working on go back to `pending`. Fencing then refuses its late writes: a lost session
//! writes nothing, and a session whose claim on a task was released cannot touch that task
//! again until it claims it anew (each release bumps the task's claim epoch).

use super::*;

/// The error a lost session gets for any write.
pub fn session_lost(session_id: &str) -> Error {
    Error::new(
        Code::VersionConflict,
        format!("Session '{session_id}' was declared lost; its writes are refused"),
    )
    .with_details(json!({ "sessionId": session_id, "status": SessionStatus::Lost }))
    .with_suggestion(
        "Its tasks went back to the queue for other workers: stop working on them. Register a new session with 'maestro session register' to start over",
    )
}

/// Refuses any write by a lost session.
pub fn check_not_lost(tx: &Tx, session_id: &str) -> Result<()> {
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM sessions WHERE id = ?1")?
        .query_row([session_id], |r| r.get(0))
        .optional()?;
    if status.as_deref() == Some(SessionStatus::Lost.as_str()) {
        return Err(session_lost(session_id));
    }
    Ok(())
}

/// Refuses a write to `task` by a session whose claim on it was released (and that has not
/// claimed it again since).
pub fn fence(tx: &Tx, op: &OpContext, task: &Task) -> Result<()> {
    let Some(session) = op.session_id.as_deref() else {
        return Ok(());
    };
    if task.session_ids.iter().any(|s| s == session) {
        return Ok(());
    }
    let released: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM timeline WHERE task_id = ?1
                AND json_extract(data, '$.type') = 'released'
                AND json_extract(data, '$.sessionId') = ?2)",
        )?
        .query_row(params![task.id, session], |r| r.get(0))?;
    if released {
        return Err(Error::new(
            Code::VersionConflict,
            format!(
                "The claim of session '{session}' on task '{}' was released; the task is at claim epoch {}",
                task.id, task.claim_epoch
            ),
        )
        .with_details(json!({
            "taskId": task.id,
            "sessionId": session,
            "claimEpoch": task.claim_epoch,
            "status": task.status,
            "sessionIds": task.session_ids,
        }))
        .with_suggestion(format!(
            "Another worker may own task '{}' now: stop working on it, or claim it again with 'maestro task claim {}' if it is pending",
            task.id, task.id
        )));
    }
    Ok(())
}

/// Releases the in-progress tasks held by `session`, which has just ended: back to `pending`
/// when it was their only session, else the session alone is removed.
pub fn release_tasks_of(tx: &Tx, session: &Session, now: i64) -> Result<()> {
    let reason = match &session.reason {
        Some(r) => format!("session {}: {r}", session.status),
        None => format!("session {}", session.status),
    };
    for task_id in &session.task_ids {
        let Ok(mut task) = load_task(tx, task_id) else {
            continue; // deleted since
        };
        if task.status != TaskStatus::InProgress || !task.session_ids.contains(&session.id) {
            continue;
        }
        // Nobody acts: the store releases the claim of a session that ended.
        let who = None;
        if task.session_ids.len() == 1 {
            apply_status(
                tx,
                &mut task,
                TaskStatus::Pending,
                false,
                who,
                Some(&reason),
                now,
            )?;
        } else {
            task.session_ids.retain(|s| *s != session.id);
            let kind = TimelineKind::Released {
                session_id: session.id.clone(),
                reason: reason.clone(),
            };
            add_entry(tx, &task, kind, who, now)?;
            task.claim_epoch += 1;
        }
        finish_update(tx, &mut task, now)?;
    }
    Ok(())
}

/// Moves a spawn request from `spawning` to `starting` for `host`. `None` when it is no
/// longer `spawning` (another host took it, or it was cancelled).
pub fn claim_spawn(tx: &Tx, input: &str, host: &str, now: i64) -> Result<Option<Session>> {
    let id = resolve_session(tx, input)?;
    let changed = tx
        .prepare_cached(
            "UPDATE sessions SET status = 'starting', host = ?2, last_seen = ?3
             WHERE id = ?1 AND status = 'spawning'",
        )?
        .execute(params![id, host, now])?;
    if changed == 0 {
        return Ok(None);
    }
    let s = load_session(tx, &id)?;
    emit(tx, EventType::SessionUpdated, &s.project_id, &s, now)?;
    Ok(Some(s))
}

const LIVE: &str = "status IN ('starting', 'active')";

/// Whether any session is past its lease.
pub fn any_expired(tx: &Tx, lease_ms: i64, now: i64) -> Result<bool> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE {LIVE} AND last_seen < ?1)"
        ))?
        .query_row([now - lease_ms], |r| r.get(0))?)
}

/// Declares `lost` every started session silent for longer than the lease and releases its
/// tasks. Spawn requests (`spawning`) wait for a host and do not expire.
pub fn reap_expired(tx: &Tx, lease_ms: i64, now: i64) -> Result<Vec<Session>> {
    let expired: Vec<(String, i64)> = tx
        .prepare_cached(&format!(
            "SELECT id, last_seen FROM sessions WHERE {LIVE} AND last_seen < ?1 ORDER BY last_seen, id"
        ))?
        .query_map([now - lease_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut lost = Vec::with_capacity(expired.len());
    for (id, last_seen) in expired {
        let reason = format!(
            "no sign of life for {} s (lease {} s)",
            (now - last_seen) / 1000,
            lease_ms / 1000
        );
        tx.prepare_cached(
            "UPDATE sessions SET status = 'lost', reason = ?2, ended_at = ?3 WHERE id = ?1",
        )?
        .execute(params![id, reason, now])?;
        let s = load_session(tx, &id)?;
        emit(tx, EventType::SessionUpdated, &s.project_id, &s, now)?;
        release_tasks_of(tx, &s, now)?;
        lost.push(s);
    }
    Ok(lost)
}
