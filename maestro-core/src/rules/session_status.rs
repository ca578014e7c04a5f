//! The session status machine (SPEC §2), and what a session that can no longer act is told.
//!
//! ```text
//! waiting → spawning → starting → active → completed | failed | stopped | lost
//! ```
//! `waiting` is a spawn request for a task whose dependencies are open; a host launches it
//! once the task is ready. A registered session starts `active`. Terminal states are final:
//! a lost session cannot be revived by an update, an ended one cannot be relaunched.

use crate::error::{Code, Error, Result};
use crate::model::{Session, SessionStatus};
use serde_json::json;

/// The statuses a session in `from` may move to.
pub fn allowed_targets(from: SessionStatus) -> &'static [SessionStatus] {
    use SessionStatus::*;
    match from {
        Waiting => &[Spawning, Failed, Stopped],
        Spawning => &[Starting, Failed, Stopped],
        Starting => &[Active, Completed, Failed, Stopped, Lost],
        Active => &[Completed, Failed, Stopped, Lost],
        Completed | Failed | Stopped | Lost => &[],
    }
}

/// Checks a change of `session` to `to`: `Ok(false)` when it already has that status (a
/// no-op, so a retried `session end` succeeds), `Ok(true)` for a real change.
pub fn check(session: &Session, to: SessionStatus) -> Result<bool> {
    if session.status == to {
        return Ok(false);
    }
    if session.status.is_terminal() {
        return Err(refusal(session));
    }
    let allowed = allowed_targets(session.status);
    if allowed.contains(&to) {
        return Ok(true);
    }
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Err(Error::new(
        Code::InvalidTransition,
        format!(
            "Session '{}' cannot go from '{}' to '{to}'",
            session.id, session.status
        ),
    )
    .with_details(json!({
        "sessionId": session.id,
        "from": session.status,
        "to": to,
        "allowed": names,
    }))
    .with_suggestion(format!(
        "From '{}' the session can move to: {}",
        session.status,
        names.join(", ")
    )))
}

/// Refuses anything a session that ended would do: `session_lost` when its lease lapsed,
/// `session_ended` otherwise. `Ok` for a session that has not ended.
pub fn gate(session: &Session) -> Result<()> {
    if session.status.is_terminal() {
        Err(refusal(session))
    } else {
        Ok(())
    }
}

fn refusal(session: &Session) -> Error {
    if session.status == SessionStatus::Lost {
        session_lost(session)
    } else {
        session_ended(session)
    }
}

/// The error a session whose lease lapsed gets for anything it tries.
pub fn session_lost(session: &Session) -> Error {
    let reason = session.reason.as_deref().unwrap_or("its lease expired");
    Error::new(
        Code::SessionLost,
        format!(
            "Session '{}' was declared lost ({reason}); it can no longer act",
            session.id
        ),
    )
    .with_details(json!({
        "sessionId": session.id,
        "status": session.status,
        "reason": session.reason,
        "taskIds": session.task_ids,
    }))
    .with_suggestion(
        "Stop working: your tasks went back to the queue for other workers. To start over, register a new session with 'maestro session register' and claim work with 'maestro task claim --next'",
    )
}

/// The error an ended (completed, failed, stopped) session gets for anything it tries.
pub fn session_ended(session: &Session) -> Error {
    Error::new(
        Code::SessionEnded,
        format!(
            "Session '{}' has ended ({}); it can no longer act",
            session.id, session.status
        ),
    )
    .with_details(json!({
        "sessionId": session.id,
        "status": session.status,
        "endedAt": session.ended_at,
    }))
    .with_suggestion(
        "Stop working under this session. To do more work, register a new one with 'maestro session register' (or ask for a worker with 'maestro session spawn')",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionStatus::*;

    fn session(status: SessionStatus) -> Session {
        Session {
            name: "w".into(),
            ..Session::fixture("s-1", crate::Role::Worker, status)
        }
    }

    #[test]
    fn the_table_matches_the_spec() {
        let ok = [
            (Waiting, Spawning),
            (Waiting, Stopped),
            (Spawning, Starting),
            (Spawning, Failed),
            (Starting, Active),
            (Starting, Lost),
            (Active, Completed),
            (Active, Failed),
            (Active, Stopped),
            (Active, Lost),
        ];
        for (from, to) in ok {
            assert!(check(&session(from), to).unwrap(), "{from} -> {to}");
        }
        let refused = [
            (Waiting, Active),
            (Spawning, Active),
            (Active, Spawning),
            (Active, Starting),
            (Completed, Spawning),
            (Completed, Active),
            (Lost, Active),
            (Failed, Completed),
            (Stopped, Active),
        ];
        for (from, to) in refused {
            assert!(check(&session(from), to).is_err(), "{from} -> {to}");
        }
    }

    #[test]
    fn repeating_a_status_is_a_no_op_even_when_terminal() {
        for &s in SessionStatus::ALL {
            assert!(!check(&session(s), s).unwrap());
        }
    }

    #[test]
    fn ended_sessions_are_told_which_way_they_ended() {
        let e = check(&session(Lost), Active).unwrap_err();
        assert_eq!(e.code(), Code::SessionLost);
        assert!(e.suggestion().unwrap().contains("Stop working"));
        let e = check(&session(Completed), Failed).unwrap_err();
        assert_eq!(e.code(), Code::SessionEnded);
        assert_eq!(
            gate(&session(Stopped)).unwrap_err().code(),
            Code::SessionEnded
        );
        assert_eq!(gate(&session(Lost)).unwrap_err().code(), Code::SessionLost);
        for s in [Waiting, Spawning, Starting, Active] {
            assert!(gate(&session(s)).is_ok());
        }
        let e = check(&session(Active), Spawning).unwrap_err();
        assert_eq!(e.code(), Code::InvalidTransition);
        assert_eq!(
            e.details()["allowed"],
            json!(["completed", "failed", "stopped", "lost"])
        );
        assert_eq!(e.exit_code(), 4);
    }
}
