//! The domain model: projects, tasks, subtasks, timeline entries, sessions and events.
//!
//! Every type serializes to the JSON shapes of SPEC §2: camelCase fields, snake_case enum
//! values, RFC 3339 UTC timestamps.

use crate::error::{Code, Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;
use std::str::FromStr;

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// The timestamp of `ms` milliseconds since the Unix epoch.
pub fn ts(ms: i64) -> Timestamp {
    use chrono::TimeZone;
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Milliseconds since the Unix epoch of `t`.
pub fn ms(t: &Timestamp) -> i64 {
    t.timestamp_millis()
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $code:expr, $what:literal { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        /// Read leniently, like the command line: any case, `-` for `_`; a bad value fails
        /// with the same error (code, allowed values, suggestion) wherever it came from.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse()
                    .map_err(|e: Error| serde::de::Error::custom(e.to_serde_message()))
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                let norm = s.trim().to_ascii_lowercase().replace('-', "_");
                $name::ALL.iter().copied().find(|v| v.as_str() == norm).ok_or_else(|| {
                    let allowed: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    Error::new($code, format!("'{}' is not a valid {}; use one of: {}", s, $what, allowed.join(", ")))
                        .with_details(json!({ "value": s, "allowed": allowed }))
                        .with_suggestion(format!("Use one of: {}", allowed.join(", ")))
                })
            }
        }
    };
}

string_enum!(
    /// Task status; see [`crate::rules::task_status`] for the allowed transitions.
    TaskStatus, Code::InvalidStatus, "task status" {
        Pending => "pending",
        InProgress => "in_progress",
        Blocked => "blocked",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// Task priority; the ready queue serves `high` first.
    Priority, Code::InvalidPriority, "priority" {
        High => "high",
        Medium => "medium",
        Low => "low",
    }
);

string_enum!(
    /// Status of a session (one running agent); see [`crate::rules::session_status`].
    SessionStatus, Code::InvalidStatus, "session status" {
        Waiting => "waiting",
        Spawning => "spawning",
        Starting => "starting",
        Active => "active",
        Completed => "completed",
        Failed => "failed",
        Stopped => "stopped",
        Lost => "lost",
    }
);

string_enum!(
    /// What a session does.
    Role, Code::InvalidArgument, "role" {
        Orchestrator => "orchestrator",
        Worker => "worker",
    }
);

impl Priority {
    /// Sort rank: lower is served first.
    pub fn rank(self) -> u8 {
        match self {
            Priority::High => 0,
            Priority::Medium => 1,
            Priority::Low => 2,
        }
    }
}

impl SessionStatus {
    /// Whether the session has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionStatus::Completed
                | SessionStatus::Failed
                | SessionStatus::Stopped
                | SessionStatus::Lost
        )
    }

    /// Whether a process is (or is about to be) running for the session: its lease counts.
    pub fn is_live(self) -> bool {
        matches!(self, SessionStatus::Starting | SessionStatus::Active)
    }

    /// Whether the session is a request no host has launched yet.
    pub fn is_request(self) -> bool {
        matches!(self, SessionStatus::Waiting | SessionStatus::Spawning)
    }
}

/// A project: the unit most commands act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    /// Whether this is the store's default project (the one commands act on when none is
    /// named).
    #[serde(default)]
    pub default: bool,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub project_id: String,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: Priority,
    /// Ids of the tasks this one depends on.
    pub dependencies: Vec<String>,
    pub labels: Vec<String>,
    /// Ids of the sessions the task is assigned to.
    pub session_ids: Vec<String>,
    pub metadata: Map<String, Value>,
    /// +1 on every change.
    pub version: i64,
    /// Fencing token: +1 whenever the task gets owners after having none, and whenever an
    /// owner's claim is released or taken over. A session's write is checked against the
    /// epoch of its claim.
    pub claim_epoch: i64,
    /// Why the task is blocked (the latest reason), while it is.
    #[serde(default)]
    pub blocked_reason: Option<String>,
    /// The git worktree its agents work in (SPEC §11), once a host made one.
    #[serde(default)]
    pub worktree: Option<TaskWorktree>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

/// A task's git worktree: a folder of its own on a branch of its own (SPEC §11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskWorktree {
    /// The worktree's folder, under `$MAESTRO_HOME/worktrees`.
    pub path: String,
    /// The task branch, `maestro/<task-id>-<slug>`.
    pub branch: String,
    /// What the branch started from, as named (a branch, tag or commit): the default target
    /// of its merge.
    pub base: String,
    #[serde(default)]
    pub base_commit: Option<String>,
    /// The repository's main work tree (where merges and gc run from).
    pub repo: String,
    /// The branch's commit that was merged last; the worktree counts as merged (for gc)
    /// while the branch still points there.
    #[serde(default)]
    pub merged_head: Option<String>,
}

/// A dependency of a task as shown by `task get`: id, title and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyRef {
    pub id: String,
    pub title: String,
    pub status: TaskStatus,
}

/// A task with everything `task get` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: Task,
    pub subtasks: Vec<Subtask>,
    /// The dependencies with their titles and statuses (the ids are in `task.dependencies`).
    #[serde(rename = "dependencyDetails")]
    pub dependency_details: Vec<DependencyRef>,
    /// Tasks that depend on this one.
    pub dependents: Vec<DependencyRef>,
    /// The newest entries of the timeline (at most [`crate::rules::limits::DETAIL_TIMELINE`]),
    /// oldest first; `maestro task timeline` pages the whole history.
    pub timeline: Vec<TimelineEntry>,
    /// How many entries the whole timeline has.
    #[serde(default)]
    pub timeline_total: i64,
}

/// A subtask: an ordered checklist item of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subtask {
    pub id: String,
    pub task_id: String,
    pub title: String,
    pub description: String,
    pub completed: bool,
    pub order: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// What happened to a task, as a structured timeline event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum TimelineKind {
    Created,
    StatusChanged {
        from: TaskStatus,
        to: TaskStatus,
    },
    Progress {
        message: String,
    },
    SubtaskCreated {
        subtask_id: String,
    },
    SubtaskCompleted {
        subtask_id: String,
    },
    Blocked {
        reason: String,
        /// What the block is about, for reasons a machine sets: the conflicting `paths` of a
        /// `merge_conflict`, the gate's `tail` of a `gate_failed`, the `subtaskId` to resolve.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<Value>,
    },
    /// The task's branch landed on `target` at `commit` (the merge queue).
    Merged {
        target: String,
        branch: String,
        commit: String,
    },
    Assigned {
        session_id: String,
    },
    Released {
        session_id: String,
        reason: String,
    },
    Comment {
        author: String,
        message: String,
    },
    /// The actor wrote with `--force` to a task other sessions own.
    Override {
        action: String,
        session_ids: Vec<String>,
    },
    /// An agent's run ended: how (`success` or the error kind), its final message, what it
    /// used.
    AgentResult {
        session_id: String,
        outcome: String,
        message: Option<String>,
        usage: crate::agent::Usage,
    },
}

impl TimelineKind {
    /// What happened, in a few words: the human form every front end shows.
    pub fn summary(&self) -> String {
        match self {
            TimelineKind::Created => "created".into(),
            TimelineKind::StatusChanged { from, to } => format!("{from} → {to}"),
            TimelineKind::Progress { message } => message.clone(),
            TimelineKind::SubtaskCreated { subtask_id } => format!("subtask {subtask_id} added"),
            TimelineKind::SubtaskCompleted { subtask_id } => {
                format!("subtask {subtask_id} done")
            }
            TimelineKind::Blocked { reason, .. } => format!("blocked: {reason}"),
            TimelineKind::Merged {
                target,
                branch,
                commit,
            } => format!(
                "merged {branch} into {target} at {}",
                &commit[..commit.len().min(12)]
            ),
            TimelineKind::Assigned { session_id } => format!("assigned to {session_id}"),
            TimelineKind::Released { session_id, reason } => {
                format!("released from {session_id}: {reason}")
            }
            TimelineKind::Comment { author, message } => format!("{author}: {message}"),
            TimelineKind::Override {
                action,
                session_ids,
            } => format!("{action} forced over {}", session_ids.join(", ")),
            TimelineKind::AgentResult {
                session_id,
                outcome,
                message,
                usage,
            } => {
                let mut text = format!("agent run of {session_id}: {outcome}");
                if let Some(t) = usage.total_tokens() {
                    text.push_str(&format!(", {t} tokens"));
                }
                if let Some(c) = usage.cost_usd {
                    text.push_str(&format!(", ${c:.4}"));
                }
                if let Some(m) = message.as_deref().filter(|m| !m.trim().is_empty()) {
                    text.push_str(&format!(" — {}", m.trim()));
                }
                text
            }
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            TimelineKind::Created => "created",
            TimelineKind::StatusChanged { .. } => "status_changed",
            TimelineKind::Progress { .. } => "progress",
            TimelineKind::SubtaskCreated { .. } => "subtask_created",
            TimelineKind::SubtaskCompleted { .. } => "subtask_completed",
            TimelineKind::Blocked { .. } => "blocked",
            TimelineKind::Merged { .. } => "merged",
            TimelineKind::Assigned { .. } => "assigned",
            TimelineKind::Released { .. } => "released",
            TimelineKind::Comment { .. } => "comment",
            TimelineKind::Override { .. } => "override",
            TimelineKind::AgentResult { .. } => "agent_result",
        }
    }
}

/// One entry of a task's append-only timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub id: i64,
    pub task_id: String,
    #[serde(flatten)]
    pub kind: TimelineKind,
    pub timestamp: Timestamp,
    /// The acting session, when known. In JSON `actorSessionId`: `sessionId` belongs to the
    /// `assigned` and `released` entries (the session assigned or released), and one JSON
    /// object cannot carry the same key twice.
    #[serde(rename = "actorSessionId")]
    pub session_id: Option<String>,
}

/// A session: one running agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub role: Role,
    pub skill: Option<String>,
    /// Agent profile (`claude`, `codex`, a configured name …).
    pub agent: Option<String>,
    pub task_ids: Vec<String>,
    pub status: SessionStatus,
    pub spawned_by: Option<String>,
    pub pid: Option<i64>,
    pub host: Option<String>,
    pub cwd: Option<String>,
    pub exit_code: Option<i64>,
    /// Why the session failed or was lost, when known.
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub last_seen: Timestamp,
    /// The agent CLI's own session id (what `--resume` continues), read from its output.
    #[serde(default)]
    pub agent_session_id: Option<String>,
    /// Tokens, cost and turns of the agent's run, as the host read them from its output.
    #[serde(default)]
    pub usage: Option<crate::agent::Usage>,
    /// How the agent's run ended.
    #[serde(default)]
    pub result: Option<crate::agent::RunResult>,
    /// The spawn's limits; the host stops an agent past them.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// The session whose agent conversation this one continues (`session spawn --resume`).
    #[serde(default)]
    pub resume_of: Option<String>,
    /// The agent runs in the spawn's directory itself, not in a worktree of its task
    /// (`session spawn --no-worktree`).
    #[serde(default)]
    pub no_worktree: bool,
}

#[cfg(test)]
impl Session {
    /// A session for unit tests: `id` (also its name) in project `p-1`, created and last seen
    /// at the start of 2026, nothing else set.
    pub(crate) fn fixture(id: &str, role: Role, status: SessionStatus) -> Session {
        let t = "2026-01-01T00:00:00Z".parse().unwrap();
        Session {
            id: id.into(),
            project_id: "p-1".into(),
            name: id.into(),
            role,
            skill: None,
            agent: None,
            task_ids: vec![],
            status,
            spawned_by: None,
            pid: None,
            host: None,
            cwd: None,
            exit_code: None,
            reason: None,
            created_at: t,
            started_at: None,
            ended_at: None,
            last_seen: t,
            agent_session_id: None,
            usage: None,
            result: None,
            budget: None,
            resume_of: None,
            no_worktree: false,
        }
    }
}

/// What an agent's run may spend before its host stops it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// US dollars, as the agent reports them or the price table computes them.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// Input plus output tokens.
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl Budget {
    pub fn is_empty(&self) -> bool {
        self.max_cost_usd.is_none() && self.max_tokens.is_none()
    }
}

/// Event types of the durable event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "project:created")]
    ProjectCreated,
    #[serde(rename = "project:updated")]
    ProjectUpdated,
    #[serde(rename = "task:created")]
    TaskCreated,
    #[serde(rename = "task:updated")]
    TaskUpdated,
    #[serde(rename = "task:deleted")]
    TaskDeleted,
    #[serde(rename = "subtask:created")]
    SubtaskCreated,
    #[serde(rename = "subtask:updated")]
    SubtaskUpdated,
    #[serde(rename = "subtask:deleted")]
    SubtaskDeleted,
    #[serde(rename = "timeline:added")]
    TimelineAdded,
    #[serde(rename = "session:created")]
    SessionCreated,
    #[serde(rename = "session:updated")]
    SessionUpdated,
    #[serde(rename = "session:spawn_request")]
    SessionSpawnRequest,
    /// A merge queue changed (a task joined, started merging, or its merge ended): `data`
    /// is the queue.
    #[serde(rename = "merge:updated")]
    MergeUpdated,
    /// A step of a running merge (built, gate started, target advanced, …).
    #[serde(rename = "merge:step")]
    MergeStep,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::ProjectCreated,
        EventType::ProjectUpdated,
        EventType::TaskCreated,
        EventType::TaskUpdated,
        EventType::TaskDeleted,
        EventType::SubtaskCreated,
        EventType::SubtaskUpdated,
        EventType::SubtaskDeleted,
        EventType::TimelineAdded,
        EventType::SessionCreated,
        EventType::SessionUpdated,
        EventType::SessionSpawnRequest,
        EventType::MergeUpdated,
        EventType::MergeStep,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ProjectCreated => "project:created",
            EventType::ProjectUpdated => "project:updated",
            EventType::TaskCreated => "task:created",
            EventType::TaskUpdated => "task:updated",
            EventType::TaskDeleted => "task:deleted",
            EventType::SubtaskCreated => "subtask:created",
            EventType::SubtaskUpdated => "subtask:updated",
            EventType::SubtaskDeleted => "subtask:deleted",
            EventType::TimelineAdded => "timeline:added",
            EventType::SessionCreated => "session:created",
            EventType::SessionUpdated => "session:updated",
            EventType::SessionSpawnRequest => "session:spawn_request",
            EventType::MergeUpdated => "merge:updated",
            EventType::MergeStep => "merge:step",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventType::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the durable event log; `seq` is global, gap-free and increasing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub seq: i64,
    pub ts: Timestamp,
    pub project_id: Option<String>,
    /// The entity after the change (for deletions: its id).
    pub data: Value,
}

/// A page of results; `next_cursor` is set when more remain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Counts for `maestro status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub project_id: String,
    pub tasks: TaskCounts,
    pub sessions: SessionCounts,
    /// What the project's agent runs used, summed over its sessions.
    #[serde(default)]
    pub usage: UsageTotals,
}

/// Tokens and cost summed over sessions (sessions that reported none count zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cost_usd: f64,
    /// Sessions whose run reported a usage.
    pub sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCounts {
    pub total: i64,
    /// Every status, with zero counts included.
    pub by_status: Map<String, Value>,
    /// Every priority, with zero counts included.
    pub by_priority: Map<String, Value>,
    pub ready: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCounts {
    pub active: i64,
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_deserialize_like_they_parse_and_keep_their_error() {
        let p: Priority = serde_json::from_str("\"HIGH\"").unwrap();
        assert_eq!(p, Priority::High);
        let s: TaskStatus = serde_json::from_str("\"in-progress\"").unwrap();
        assert_eq!(s, TaskStatus::InProgress);
        let e = serde_json::from_str::<Priority>("\"urgent\"").unwrap_err();
        let back = Error::from_serde_message(&e.to_string()).expect("the error travels");
        assert_eq!(back.code(), Code::InvalidPriority);
        assert_eq!(back.details()["allowed"], json!(["high", "medium", "low"]));
        assert!(Error::from_serde_message("plain serde text").is_none());
    }

    #[test]
    fn enums_parse_leniently_and_fail_with_allowed_values() {
        assert_eq!(
            "in-progress".parse::<TaskStatus>().unwrap(),
            TaskStatus::InProgress
        );
        assert_eq!("HIGH".parse::<Priority>().unwrap(), Priority::High);
        let e = "urgent".parse::<Priority>().unwrap_err();
        assert_eq!(e.code(), Code::InvalidPriority);
        assert_eq!(e.details()["allowed"], json!(["high", "medium", "low"]));
        assert_eq!(
            "done".parse::<TaskStatus>().unwrap_err().code(),
            Code::InvalidStatus
        );
    }

    #[test]
    fn timeline_entries_serialize_flat_and_camel_case() {
        let e = TimelineEntry {
            id: 1,
            task_id: "t-1".into(),
            kind: TimelineKind::StatusChanged {
                from: TaskStatus::Pending,
                to: TaskStatus::InProgress,
            },
            timestamp: "2026-01-01T00:00:00Z".parse().unwrap(),
            session_id: Some("s-1".into()),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "status_changed");
        assert_eq!(v["from"], "pending");
        assert_eq!(v["to"], "in_progress");
        assert_eq!(v["actorSessionId"], "s-1");
        assert_eq!(v["taskId"], "t-1");
        let r = TimelineKind::Released {
            session_id: "s-2".into(),
            reason: "lease".into(),
        };
        assert_eq!(serde_json::to_value(&r).unwrap()["sessionId"], "s-2");
        let back: TimelineEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        // An entry whose kind names a session keeps both sessions apart.
        let assigned = TimelineEntry {
            kind: TimelineKind::Assigned {
                session_id: "s-2".into(),
            },
            ..e
        };
        let v = serde_json::to_value(&assigned).unwrap();
        assert_eq!(v["sessionId"], "s-2");
        assert_eq!(v["actorSessionId"], "s-1");
        let text = serde_json::to_string(&assigned).unwrap();
        assert_eq!(
            serde_json::from_str::<TimelineEntry>(&text).unwrap(),
            assigned
        );
    }

    #[test]
    fn event_types_round_trip() {
        for &t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
    }
}
