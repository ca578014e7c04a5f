//! The wire protocol between clients and `maestro serve`: REST routes and WebSocket frames.
//!
//! This module is the codec only (no transport), shared by the server and the clients.
//!
//! # REST (JSON bodies; camelCase)
//!
//! A success answers with the resource itself (2xx); a list answers with a [`Page`]
//! (`{"items": [...], "nextCursor": ...}`); an error answers with the error object of
//! [`crate::Error::to_json`] and [`crate::Code::http_status`]. Ids may be unique prefixes.
//! Mutations accept `Idempotency-Key` (a retry returns the first result) and, where the
//! acting session matters, `X-Maestro-Session: <session id>`.
//!
//! | route | store operation | body / query |
//! |---|---|---|
//! | `GET /api/projects` | `list_projects` | → `[Project]` |
//! | `POST /api/projects` | `create_project` | `{name, makeDefault?}` |
//! | `GET /api/projects/default` | `resolve_project(None)` | |
//! | `GET /api/projects/:id` | `get_project` | |
//! | `GET /api/tasks` | `list_tasks` | query: [`TaskFilter`] fields (`projectId, status, priority, label, ready, sessionId, limit, cursor`) |
//! | `POST /api/tasks` | `create_task` | [`NewTask`] |
//! | `GET /api/tasks/ready` | `ready_tasks` | query `projectId, limit` → `[Task]` |
//! | `POST /api/tasks/claim` | `claim_next` | `{sessionId, projectId?}` |
//! | `GET /api/tasks/:id` | `get_task` | → [`TaskDetail`] |
//! | `PATCH /api/tasks/:id` | `update_task` | [`TaskPatch`]; `If-Match: <version>` sets `expectedVersion` |
//! | `DELETE /api/tasks/:id` | `delete_task` | → the deleted `Task` |
//! | `POST /api/tasks/:id/{start,complete,reopen,cancel}` | `change_status` | `{force?, expectedVersion?}` |
//! | `POST /api/tasks/:id/block` | `change_status` | `{reason, force?, expectedVersion?}` |
//! | `POST /api/tasks/:id/release` | `change_status` | `{reason}` |
//! | `POST /api/tasks/:id/claim` | `claim_task` | `{sessionId}` |
//! | `GET /api/tasks/:id/timeline` | `timeline` | query `limit` → `[TimelineEntry]` |
//! | `POST /api/tasks/:id/timeline` | `add_timeline` | `{type: "progress", message}` or `{type: "comment", author, message}` |
//! | `GET /api/tasks/:id/subtasks` | `list_subtasks` | → `[Subtask]` |
//! | `POST /api/tasks/:id/subtasks` | `create_subtask` | `{title, description?}` |
//! | `PATCH /api/tasks/:id/subtasks/:sid` | `update_subtask` | [`SubtaskPatch`] |
//! | `DELETE /api/tasks/:id/subtasks/:sid` | `delete_subtask` | |
//! | `GET /api/sessions` | `list_sessions` | query: [`SessionFilter`] fields |
//! | `POST /api/sessions` | `create_session` (register) | [`NewSession`] |
//! | `POST /api/sessions/spawn` | `create_session` (spawn) | [`NewSession`] |
//! | `GET /api/sessions/:id` | `get_session` | |
//! | `PATCH /api/sessions/:id` | `update_session` | [`SessionPatch`] |
//! | `POST /api/sessions/:id/heartbeat` | `heartbeat` | |
//! | `POST /api/sessions/:id/claim-spawn` | `claim_spawn` | `{host}` → the session now `starting`, or `null` when another host took it |
//! | `GET /api/events` | `events_since` | query `since, limit, projects` (comma-separated) → `{events, latestSeq}` |
//! | `GET /api/status` | `status` | query `projectId` → [`StatusReport`] |
//!
//! [`Page`]: crate::Page
//! [`TaskFilter`]: crate::TaskFilter
//! [`NewTask`]: crate::NewTask
//! [`TaskPatch`]: crate::TaskPatch
//! [`TaskDetail`]: crate::TaskDetail
//! [`SubtaskPatch`]: crate::SubtaskPatch
//! [`SessionFilter`]: crate::SessionFilter
//! [`NewSession`]: crate::NewSession
//! [`SessionPatch`]: crate::SessionPatch
//! [`StatusReport`]: crate::StatusReport
//!
//! # WebSocket `/ws` (JSON text frames)
//!
//! See [`ServerFrame`] and [`ClientFrame`]. After `hello`, a client sends `subscribe` with
//! the last seq it has seen; the server replays every later event in order, then streams
//! live events. `op` frames run a mutation ([`Op`]) and are answered by `ack`, idempotently
//! by op id. A frame the server cannot decode is answered by `ack` with the error when it
//! carries an `id`, else by an `error` frame; either way the connection stays open, so a
//! newer client's frames do not cost an older server its connections.

use crate::error::{Error, Result};
use crate::model::{Event, EventType, Timestamp};
use crate::store::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The header carrying the acting session on REST mutations.
pub const SESSION_HEADER: &str = "x-maestro-session";
/// The header naming the client instance of a caller without a session: idempotency keys
/// (and WebSocket op ids) are scoped to it.
pub const CLIENT_HEADER: &str = "x-maestro-client";
/// The idempotency header of REST mutations.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello {
        protocol: u32,
        seq: i64,
    },
    Pong,
    Ack {
        id: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
        /// The error object when `ok` is false.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<Value>,
    },
    ResyncRequired {
        oldest: i64,
    },
    /// A client frame the server could not act on (an unknown `type`, say, from a newer
    /// client) and that had no op id to `ack`: the error object. The connection stays open.
    Error {
        error: Value,
    },
    /// An event: `{"type": "task:updated", "seq": 42, "ts": …, "projectId": …, "data": …}`.
    #[serde(untagged)]
    Event(Event),
}

/// Frames a client sends.
// Frames live only while being encoded or decoded; boxing the op would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Subscribe {
        #[serde(default)]
        since: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        projects: Vec<String>,
    },
    Ping,
    Op {
        id: String,
        #[serde(flatten)]
        op: Op,
    },
}

/// A mutation sent over the socket: `{"op": "task.update", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "args")]
pub enum Op {
    #[serde(rename = "task.create")]
    TaskCreate(NewTask),
    #[serde(rename = "task.update")]
    TaskUpdate {
        id: String,
        #[serde(flatten)]
        patch: TaskPatch,
    },
    #[serde(rename = "task.status")]
    TaskStatus {
        id: String,
        #[serde(flatten)]
        change: StatusChange,
    },
    #[serde(rename = "task.delete")]
    TaskDelete { id: String },
    #[serde(rename = "task.claim")]
    TaskClaim {
        #[serde(default)]
        id: Option<String>,
        #[serde(rename = "sessionId")]
        session_id: String,
        #[serde(default, rename = "projectId")]
        project_id: Option<String>,
    },
    #[serde(rename = "task.progress")]
    TaskProgress { id: String, message: String },
    #[serde(rename = "subtask.create")]
    SubtaskCreate {
        #[serde(rename = "taskId")]
        task_id: String,
        title: String,
        #[serde(default)]
        description: Option<String>,
    },
    #[serde(rename = "subtask.update")]
    SubtaskUpdate {
        #[serde(default, rename = "taskId")]
        task_id: Option<String>,
        id: String,
        #[serde(flatten)]
        patch: SubtaskPatch,
    },
    #[serde(rename = "session.update")]
    SessionUpdate {
        id: String,
        #[serde(flatten)]
        patch: SessionPatch,
    },
    #[serde(rename = "session.heartbeat")]
    SessionHeartbeat { id: String },
}

impl ServerFrame {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("frames always serialize")
    }

    pub fn decode(text: &str) -> Result<Self> {
        // Events are recognized by their `type` containing ':'; the rest by tag.
        let v: Value = serde_json::from_str(text).map_err(bad_frame)?;
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        if EventType::parse(ty).is_some() {
            return serde_json::from_value::<Event>(v)
                .map(ServerFrame::Event)
                .map_err(bad_frame);
        }
        serde_json::from_value(v).map_err(bad_frame)
    }

    /// The error carried by a failed `ack`.
    pub fn ack_error(&self) -> Option<Error> {
        match self {
            ServerFrame::Ack {
                ok: false, error, ..
            } => Some(
                error
                    .as_ref()
                    .and_then(Error::from_json)
                    .unwrap_or_else(|| Error::internal("the server refused the operation")),
            ),
            _ => None,
        }
    }
}

impl ClientFrame {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("frames always serialize")
    }

    pub fn decode(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(bad_frame)
    }
}

fn bad_frame(e: serde_json::Error) -> Error {
    Error::invalid_argument(format!("malformed frame: {e}")).with_suggestion(
        "Send JSON text frames as described in the protocol: subscribe, ping or op",
    )
}

/// An event frame, as the server sends it.
pub fn event_frame(
    seq: i64,
    ty: EventType,
    ts: Timestamp,
    project_id: Option<String>,
    data: Value,
) -> ServerFrame {
    ServerFrame::Event(Event {
        event_type: ty,
        seq,
        ts,
        project_id,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_frames_match_the_spec() {
        let hello = ServerFrame::Hello {
            protocol: 1,
            seq: 7,
        };
        assert_eq!(
            serde_json::to_value(&hello).unwrap(),
            json!({"type": "hello", "protocol": 1, "seq": 7})
        );
        assert_eq!(ServerFrame::Pong.encode(), r#"{"type":"pong"}"#);
        let resync = ServerFrame::ResyncRequired { oldest: 5 };
        assert_eq!(
            serde_json::to_value(&resync).unwrap(),
            json!({"type": "resync_required", "oldest": 5})
        );
        let ev = event_frame(
            42,
            EventType::TaskUpdated,
            "2026-01-01T00:00:00Z".parse().unwrap(),
            Some("p-1".into()),
            json!({"id": "t-1"}),
        );
        let v: Value = serde_json::from_str(&ev.encode()).unwrap();
        assert_eq!(v["type"], "task:updated");
        assert_eq!(v["seq"], 42);
        assert_eq!(v["projectId"], "p-1");
        assert_eq!(v["data"]["id"], "t-1");
        let error = ServerFrame::Error {
            error: Error::invalid_argument("unknown frame type 'dance'").to_json(),
        };
        let v: Value = serde_json::from_str(&error.encode()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["error"], "invalid_argument");
        for f in [hello, ServerFrame::Pong, resync, error, ev] {
            assert_eq!(ServerFrame::decode(&f.encode()).unwrap(), f);
        }
    }

    #[test]
    fn acks_carry_data_or_errors() {
        let ok = ServerFrame::Ack {
            id: "op-1".into(),
            ok: true,
            data: Some(json!({"id": "t-1"})),
            error: None,
        };
        assert_eq!(ServerFrame::decode(&ok.encode()).unwrap(), ok);
        assert!(ok.ack_error().is_none());
        let err = ServerFrame::Ack {
            id: "op-2".into(),
            ok: false,
            data: None,
            error: Some(Error::task_not_found("t-9").to_json()),
        };
        assert_eq!(err.ack_error().unwrap().code(), crate::Code::TaskNotFound);
    }

    #[test]
    fn client_frames_match_the_spec() {
        let sub =
            ClientFrame::decode(r#"{"type":"subscribe","since":3,"projects":["p-1"]}"#).unwrap();
        assert_eq!(
            sub,
            ClientFrame::Subscribe {
                since: 3,
                projects: vec!["p-1".into()]
            }
        );
        assert_eq!(
            ClientFrame::decode(r#"{"type":"subscribe"}"#).unwrap(),
            ClientFrame::Subscribe {
                since: 0,
                projects: vec![]
            }
        );
        assert_eq!(
            ClientFrame::decode(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping
        );
        let op = ClientFrame::decode(
            r#"{"type":"op","id":"op-1","op":"task.update","args":{"id":"t-1","title":"New"}}"#,
        )
        .unwrap();
        match &op {
            ClientFrame::Op {
                id,
                op: Op::TaskUpdate { id: tid, patch },
            } => {
                assert_eq!(id, "op-1");
                assert_eq!(tid, "t-1");
                assert_eq!(patch.title.as_deref(), Some("New"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(ClientFrame::decode(&op.encode()).unwrap(), op);
        let claim = ClientFrame::decode(
            r#"{"type":"op","id":"op-2","op":"task.claim","args":{"sessionId":"s-1"}}"#,
        )
        .unwrap();
        assert!(matches!(
            claim,
            ClientFrame::Op {
                op: Op::TaskClaim { id: None, .. },
                ..
            }
        ));
        assert!(ClientFrame::decode(r#"{"type":"nope"}"#).is_err());
        assert!(ClientFrame::decode("not json").is_err());
    }
}
