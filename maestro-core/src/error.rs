//! The one error type of Maestro.
//!
//! Every error carries a stable snake_case [`Code`], a human message, structured details,
//! an actionable suggestion and whether the same call may succeed if repeated. The variants
//! of [`Error`] say what the caller can do about it; the code says exactly what happened.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;

/// Delimits an error carried through serde (see [`Error::to_serde_message`]).
const SERDE_MARK: &str = "\u{1e}maestro-error\u{1e}";

/// `Result` with Maestro's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable error codes, serialized as snake_case strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Code {
    TaskNotFound,
    SubtaskNotFound,
    SessionNotFound,
    ProjectNotFound,
    SkillNotFound,
    NotFound,
    InvalidArgument,
    MissingRequiredField,
    InvalidStatus,
    InvalidPriority,
    AmbiguousId,
    InvalidTransition,
    DependencyCycle,
    DependenciesIncomplete,
    NothingReady,
    VersionConflict,
    TaskClaimed,
    SessionLost,
    SessionEnded,
    ClaimReleased,
    IdempotencyKeyReused,
    NoTaskContext,
    NoProjectContext,
    NoSessionContext,
    NotARepository,
    WorktreeConflict,
    Unauthorized,
    PayloadTooLarge,
    ConnectionRefused,
    NetworkError,
    Timeout,
    ServerError,
    StorageError,
    GitFailed,
    InternalError,
}

impl Code {
    /// Every code, for documentation and round-trip tests.
    pub const ALL: &'static [Code] = &[
        Code::TaskNotFound,
        Code::SubtaskNotFound,
        Code::SessionNotFound,
        Code::ProjectNotFound,
        Code::SkillNotFound,
        Code::NotFound,
        Code::InvalidArgument,
        Code::MissingRequiredField,
        Code::InvalidStatus,
        Code::InvalidPriority,
        Code::AmbiguousId,
        Code::InvalidTransition,
        Code::DependencyCycle,
        Code::DependenciesIncomplete,
        Code::NothingReady,
        Code::VersionConflict,
        Code::TaskClaimed,
        Code::SessionLost,
        Code::SessionEnded,
        Code::ClaimReleased,
        Code::IdempotencyKeyReused,
        Code::NoTaskContext,
        Code::NoProjectContext,
        Code::NoSessionContext,
        Code::NotARepository,
        Code::WorktreeConflict,
        Code::Unauthorized,
        Code::PayloadTooLarge,
        Code::ConnectionRefused,
        Code::NetworkError,
        Code::Timeout,
        Code::ServerError,
        Code::StorageError,
        Code::GitFailed,
        Code::InternalError,
    ];

    /// The wire form, e.g. `task_not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::TaskNotFound => "task_not_found",
            Code::SubtaskNotFound => "subtask_not_found",
            Code::SessionNotFound => "session_not_found",
            Code::ProjectNotFound => "project_not_found",
            Code::SkillNotFound => "skill_not_found",
            Code::NotFound => "not_found",
            Code::InvalidArgument => "invalid_argument",
            Code::MissingRequiredField => "missing_required_field",
            Code::InvalidStatus => "invalid_status",
            Code::InvalidPriority => "invalid_priority",
            Code::AmbiguousId => "ambiguous_id",
            Code::InvalidTransition => "invalid_transition",
            Code::DependencyCycle => "dependency_cycle",
            Code::DependenciesIncomplete => "dependencies_incomplete",
            Code::NothingReady => "nothing_ready",
            Code::VersionConflict => "version_conflict",
            Code::TaskClaimed => "task_claimed",
            Code::SessionLost => "session_lost",
            Code::SessionEnded => "session_ended",
            Code::ClaimReleased => "claim_released",
            Code::IdempotencyKeyReused => "idempotency_key_reused",
            Code::NoTaskContext => "no_task_context",
            Code::NoProjectContext => "no_project_context",
            Code::NoSessionContext => "no_session_context",
            Code::NotARepository => "not_a_repository",
            Code::WorktreeConflict => "worktree_conflict",
            Code::Unauthorized => "unauthorized",
            Code::PayloadTooLarge => "payload_too_large",
            Code::ConnectionRefused => "connection_refused",
            Code::NetworkError => "network_error",
            Code::Timeout => "timeout",
            Code::ServerError => "server_error",
            Code::StorageError => "storage_error",
            Code::GitFailed => "git_failed",
            Code::InternalError => "internal_error",
        }
    }

    /// Parses the wire form; unknown codes (from a newer server) become `internal_error`.
    pub fn parse(s: &str) -> Code {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .unwrap_or(Code::InternalError)
    }

    /// The category of error this code belongs to.
    pub fn kind(self) -> Kind {
        use Code::*;
        match self {
            TaskNotFound | SubtaskNotFound | SessionNotFound | ProjectNotFound | SkillNotFound
            | NotFound | NothingReady => Kind::NotFound,
            InvalidArgument | MissingRequiredField | InvalidStatus | InvalidPriority
            | AmbiguousId | NoTaskContext | NoProjectContext | NoSessionContext
            | PayloadTooLarge | IdempotencyKeyReused | NotARepository => Kind::InvalidInput,
            InvalidTransition
            | DependencyCycle
            | DependenciesIncomplete
            | VersionConflict
            | TaskClaimed
            | SessionLost
            | SessionEnded
            | ClaimReleased
            | WorktreeConflict => Kind::Conflict,
            Unauthorized => Kind::Unauthorized,
            ConnectionRefused | NetworkError | Timeout => Kind::Unavailable,
            ServerError | StorageError | GitFailed | InternalError => Kind::Internal,
        }
    }

    /// Whether the same call may succeed if simply repeated.
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            Code::ConnectionRefused | Code::NetworkError | Code::Timeout | Code::ServerError
        )
    }

    /// What to do about an error of this code when the place that raises it knows no better:
    /// every error carries a suggestion (SPEC §3). Commands named here exist and parse.
    pub fn default_suggestion(self) -> &'static str {
        use Code::*;
        match self {
            TaskNotFound => "Run 'maestro task list' to see available tasks",
            SubtaskNotFound => "Run 'maestro subtask list <task-id>' to see the task's subtasks",
            SessionNotFound => "Run 'maestro session list' to see sessions",
            ProjectNotFound => "Run 'maestro project list' to see projects",
            SkillNotFound => "Run 'maestro skill list' to see the skills",
            NotFound => "Check the name or id; 'maestro status' shows what exists",
            InvalidArgument | MissingRequiredField => {
                "Fix the argument; the command's --help lists the allowed forms with examples"
            }
            InvalidStatus => "Use one of: pending, in_progress, blocked, completed, cancelled",
            InvalidPriority => "Use one of: high, medium, low",
            AmbiguousId => "Give more characters of the id; 'maestro task list' shows full ids",
            InvalidTransition => {
                "Re-read the task with 'maestro task get <id>' and pick a move its status allows"
            }
            DependencyCycle => {
                "Remove a dependency with 'maestro task update <id> --remove-dep <dep-id>'"
            }
            DependenciesIncomplete => {
                "Complete the dependencies first, or pick another task with 'maestro task ready'"
            }
            NothingReady => {
                "Nothing is ready; see 'maestro task list --status pending' for what waits"
            }
            VersionConflict => {
                "Re-read it with 'maestro task get <id>' and apply your change to the current version"
            }
            TaskClaimed => "Pick another task with 'maestro task claim --next'",
            SessionLost | ClaimReleased => {
                "Register again with 'maestro session register' and claim work with 'maestro task claim --next'"
            }
            SessionEnded => "Register a new session with 'maestro session register'",
            IdempotencyKeyReused => "Use a new idempotency key for a different request",
            NoTaskContext => {
                "Pass a task id ('maestro task list' shows them), or set MAESTRO_TASK_IDS"
            }
            NoProjectContext => "Run 'maestro init' to create a project, or pass --project <id>",
            NoSessionContext => "Run 'maestro session register' and export MAESTRO_SESSION_ID=<id>",
            NotARepository => "Run it inside a git repository ('git init' makes one)",
            WorktreeConflict => "See the worktrees git knows with 'git worktree list'",
            Unauthorized => {
                "Set MAESTRO_TOKEN (or 'maestro config set token <token>') to the server's token"
            }
            PayloadTooLarge => "Send less at once: shorten the text or split the request",
            ConnectionRefused | NetworkError => {
                "Check that the server runs ('maestro serve') and that --server / MAESTRO_API_URL names it; 'maestro whoami' shows which"
            }
            Timeout => "Retry the command; the server or database was slow to answer",
            ServerError => "Retry the command; if it keeps failing, see the server's log",
            StorageError => {
                "Check that the database file is readable and writable and the disk has room; 'maestro whoami' shows which store is used"
            }
            GitFailed => "Run the git command shown in the details to see what git says",
            InternalError => "Retry the command; if it keeps failing, report it with the message",
        }
    }

    /// The HTTP status the server answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Code::PayloadTooLarge => 413,
            Code::IdempotencyKeyReused => 422,
            Code::Unauthorized => 401,
            c if c.kind() == Kind::Conflict => 409,
            Code::ConnectionRefused | Code::NetworkError | Code::Timeout => 503,
            Code::StorageError => 503,
            Code::ServerError | Code::InternalError => 500,
            c => match c.kind() {
                Kind::NotFound => 404,
                Kind::InvalidInput => 400,
                _ => 500,
            },
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure an error is: what the caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    InvalidInput,
    Conflict,
    Unauthorized,
    Unavailable,
    Internal,
}

/// The body every error carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBody {
    pub code: Code,
    pub message: String,
    pub details: Value,
    pub suggestion: Option<String>,
    pub retryable: bool,
}

/// Maestro's error. Match on the variant for what to do, on [`Error::code`] for what happened.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The entity (or a ready task) does not exist: list what exists and pick again.
    #[error("{}", .0.message)]
    NotFound(Box<ErrorBody>),
    /// The arguments are wrong; fix them before retrying.
    #[error("{}", .0.message)]
    InvalidInput(Box<ErrorBody>),
    /// The request conflicts with the current state (transition, cycle, version); re-read first.
    #[error("{}", .0.message)]
    Conflict(Box<ErrorBody>),
    /// Missing or wrong credentials.
    #[error("{}", .0.message)]
    Unauthorized(Box<ErrorBody>),
    /// The server could not be reached; retrying later may work.
    #[error("{}", .0.message)]
    Unavailable(Box<ErrorBody>),
    /// Storage, server or internal failure.
    #[error("{}", .0.message)]
    Internal(Box<ErrorBody>),
}

impl Error {
    /// Builds an error from its code and message; the variant follows from the code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self::from_body(ErrorBody {
            code,
            message: message.into(),
            details: Value::Object(Map::new()),
            suggestion: Some(code.default_suggestion().to_string()),
            retryable: code.default_retryable(),
        })
    }

    /// Builds an error from a complete body (e.g. one received from a server).
    pub fn from_body(body: ErrorBody) -> Self {
        let b = Box::new(body);
        match b.code.kind() {
            Kind::NotFound => Error::NotFound(b),
            Kind::InvalidInput => Error::InvalidInput(b),
            Kind::Conflict => Error::Conflict(b),
            Kind::Unauthorized => Error::Unauthorized(b),
            Kind::Unavailable => Error::Unavailable(b),
            Kind::Internal => Error::Internal(b),
        }
    }

    pub fn body(&self) -> &ErrorBody {
        match self {
            Error::NotFound(b)
            | Error::InvalidInput(b)
            | Error::Conflict(b)
            | Error::Unauthorized(b)
            | Error::Unavailable(b)
            | Error::Internal(b) => b,
        }
    }

    fn body_mut(&mut self) -> &mut ErrorBody {
        match self {
            Error::NotFound(b)
            | Error::InvalidInput(b)
            | Error::Conflict(b)
            | Error::Unauthorized(b)
            | Error::Unavailable(b)
            | Error::Internal(b) => b,
        }
    }

    pub fn code(&self) -> Code {
        self.body().code
    }
    pub fn kind(&self) -> Kind {
        self.code().kind()
    }
    pub fn message(&self) -> &str {
        &self.body().message
    }
    pub fn details(&self) -> &Value {
        &self.body().details
    }
    pub fn suggestion(&self) -> Option<&str> {
        self.body().suggestion.as_deref()
    }
    pub fn retryable(&self) -> bool {
        self.body().retryable
    }
    /// SQLite answered busy or locked.
    pub(crate) fn is_busy(&self) -> bool {
        self.code() == Code::StorageError
            && self.retryable()
            && self.details().get("reason").and_then(Value::as_str) == Some("busy")
    }

    /// PostgreSQL rolled the transaction back for a serialization failure or a deadlock: the
    /// operation did not happen, and running it again may succeed.
    #[cfg(feature = "postgres")]
    pub(crate) fn is_transient_storage(&self) -> bool {
        self.code() == Code::StorageError
            && matches!(
                self.details().get("sqlstate").and_then(Value::as_str),
                Some("40001" | "40P01")
            )
    }

    /// Attaches structured details (a JSON object).
    pub fn with_details(mut self, details: Value) -> Self {
        self.body_mut().details = details;
        self
    }
    /// Attaches an actionable suggestion.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.body_mut().suggestion = Some(suggestion.into());
        self
    }
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.body_mut().retryable = retryable;
        self
    }

    /// The CLI exit code: 2 usage/validation, 3 not found, 4 conflict, 5 unreachable, 1 other.
    pub fn exit_code(&self) -> i32 {
        match self.kind() {
            Kind::InvalidInput => 2,
            Kind::NotFound => 3,
            Kind::Conflict => 4,
            Kind::Unavailable => 5,
            Kind::Unauthorized | Kind::Internal => 1,
        }
    }

    /// The JSON error object of SPEC §3.
    pub fn to_json(&self) -> Value {
        let b = self.body();
        json!({
            "success": false,
            "error": b.code.as_str(),
            "message": b.message,
            "details": b.details,
            "suggestion": b.suggestion,
            "retryable": b.retryable,
        })
    }

    /// Parses the JSON error object (as produced by [`Error::to_json`]).
    pub fn from_json(v: &Value) -> Option<Self> {
        let code = Code::parse(v.get("error")?.as_str()?);
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Some(Self::from_body(ErrorBody {
            code,
            message,
            details: v
                .get("details")
                .cloned()
                .unwrap_or(Value::Object(Map::new())),
            suggestion: Some(
                v.get("suggestion")
                    .and_then(Value::as_str)
                    .unwrap_or(code.default_suggestion())
                    .to_string(),
            ),
            retryable: v
                .get("retryable")
                .and_then(Value::as_bool)
                .unwrap_or(code.default_retryable()),
        }))
    }

    /// This error as the message of a serde error, so a value refused while deserializing
    /// (a request body, a query string) keeps its code, details and suggestion.
    pub fn to_serde_message(&self) -> String {
        format!("{SERDE_MARK}{}{SERDE_MARK}", self.to_json())
    }

    /// The error carried by a serde error message made with [`Error::to_serde_message`].
    pub fn from_serde_message(message: &str) -> Option<Self> {
        let (_, rest) = message.split_once(SERDE_MARK)?;
        let (json, _) = rest.split_once(SERDE_MARK)?;
        Error::from_json(&serde_json::from_str(json).ok()?)
    }

    // ---- constructors for the common cases -------------------------------------------

    pub fn task_not_found(id: &str) -> Self {
        Error::new(Code::TaskNotFound, format!("Task '{id}' does not exist"))
            .with_details(json!({ "taskId": id }))
            .with_suggestion("Run 'maestro task list' to see available tasks")
    }
    pub fn subtask_not_found(id: &str) -> Self {
        Error::new(
            Code::SubtaskNotFound,
            format!("Subtask '{id}' does not exist"),
        )
        .with_details(json!({ "subtaskId": id }))
        .with_suggestion("Run 'maestro subtask list <task-id>' to see the task's subtasks")
    }
    pub fn session_not_found(id: &str) -> Self {
        Error::new(
            Code::SessionNotFound,
            format!("Session '{id}' does not exist"),
        )
        .with_details(json!({ "sessionId": id }))
        .with_suggestion(
            "Run 'maestro session list' to see sessions, or 'maestro session register' to get one",
        )
    }
    pub fn project_not_found(id: &str) -> Self {
        Error::new(
            Code::ProjectNotFound,
            format!("Project '{id}' does not exist"),
        )
        .with_details(json!({ "projectId": id }))
        .with_suggestion(
            "Run 'maestro project list' to see projects, or 'maestro init' to create one",
        )
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(Code::InvalidArgument, message)
    }
    pub fn missing_field(field: &str) -> Self {
        Error::new(Code::MissingRequiredField, format!("'{field}' is required"))
            .with_details(json!({ "field": field }))
    }
    pub fn storage(message: impl Into<String>) -> Self {
        Error::new(Code::StorageError, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(Code::InternalError, message)
    }
    pub fn no_project_context() -> Self {
        Error::new(
            Code::NoProjectContext,
            "No project selected and the store has no default project",
        )
        .with_suggestion("Run 'maestro init' to create a project, or pass --project <id>")
    }
    pub fn no_session_context() -> Self {
        Error::new(
            Code::NoSessionContext,
            "No session: MAESTRO_SESSION_ID is not set",
        )
        .with_suggestion("Run 'maestro session register' and export MAESTRO_SESSION_ID=<id>")
    }
    pub fn no_task_context() -> Self {
        Error::new(
            Code::NoTaskContext,
            "No task id given and MAESTRO_TASK_IDS is not set",
        )
        .with_suggestion("Pass a task id ('maestro task list' shows them), or set MAESTRO_TASK_IDS")
    }
    /// A task that is not at the version an update expected.
    pub fn version_conflict(id: &str, expected: i64, actual: i64) -> Self {
        Error::new(
            Code::VersionConflict,
            format!("Task '{id}' is at version {actual}, not {expected}"),
        )
        .with_details(json!({ "id": id, "expectedVersion": expected, "actualVersion": actual }))
        .with_suggestion(format!(
            "Re-read it with 'maestro task get {id}' and apply your change to the current version"
        ))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let full = e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull);
        let err = Error::storage(format!("storage error: {e}"));
        if busy {
            err.with_retryable(true)
                .with_details(json!({ "reason": "busy" }))
                .with_suggestion("The database is busy; retry the command")
        } else if full {
            // Nothing was written; once there is room the same call succeeds.
            err.with_retryable(true)
                .with_details(json!({ "reason": "disk_full" }))
                .with_suggestion(
                    "Free disk space where the database lives ('maestro whoami' shows it), then retry: nothing was written",
                )
        } else if matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
        ) {
            err.with_details(json!({ "reason": "not_a_database" }))
                .with_suggestion(
                    "The file is not a readable Maestro database: point --db / MAESTRO_DB at the right store ('maestro whoami' shows which is used), or move the file away and run 'maestro init'",
                )
        } else {
            err
        }
    }
}

#[cfg(feature = "postgres")]
impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        let transient = crate::postgres::is_transient(&e);
        let err = Error::storage(format!(
            "storage error: {}",
            crate::postgres::pg_message(&e)
        ));
        match e.code() {
            Some(state) => {
                let err = err.with_details(json!({ "sqlstate": state.code() }));
                if transient {
                    err.with_retryable(true)
                        .with_suggestion("The database could not run the operation now; retry it")
                } else {
                    err
                }
            }
            // No answer from the database: the connection broke or timed out.
            None if e.is_closed() => err
                .with_retryable(true)
                .with_suggestion("The connection to the database was lost; retry the command"),
            None => err,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::internal(format!("JSON error: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_snake_case() {
        for &c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), c);
            let ser = serde_json::to_value(c).unwrap();
            assert_eq!(ser, Value::String(c.as_str().to_string()));
            assert!(
                c.as_str()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_')
            );
        }
        assert_eq!(Code::parse("something_new"), Code::InternalError);
    }

    #[test]
    fn variant_and_exit_code_follow_the_code() {
        let e = Error::task_not_found("t-1");
        assert!(matches!(e, Error::NotFound(_)));
        assert_eq!(e.exit_code(), 3);
        assert_eq!(Error::new(Code::DependencyCycle, "x").exit_code(), 4);
        assert_eq!(Error::new(Code::InvalidPriority, "x").exit_code(), 2);
        assert_eq!(Error::new(Code::ConnectionRefused, "x").exit_code(), 5);
        assert_eq!(Error::new(Code::StorageError, "x").exit_code(), 1);
        assert_eq!(Error::new(Code::NothingReady, "x").exit_code(), 3);
    }

    #[test]
    fn json_form_matches_the_spec_and_round_trips() {
        let e = Error::task_not_found("t-9zz");
        let v = e.to_json();
        assert_eq!(v["success"], false);
        assert_eq!(v["error"], "task_not_found");
        assert_eq!(v["message"], "Task 't-9zz' does not exist");
        assert_eq!(v["details"]["taskId"], "t-9zz");
        assert_eq!(v["retryable"], false);
        assert!(
            v["suggestion"]
                .as_str()
                .unwrap()
                .contains("maestro task list")
        );
        let back = Error::from_json(&v).unwrap();
        assert_eq!(back.body(), e.body());
    }

    #[test]
    fn a_full_disk_is_retryable_and_not_busy() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let e = Error::from(full);
        assert_eq!(e.code(), Code::StorageError);
        assert!(e.retryable());
        assert!(!e.is_busy());
        assert_eq!(e.details()["reason"], "disk_full");
        assert_eq!(e.code().http_status(), 503);
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(Error::from(busy).is_busy());
    }

    #[test]
    fn retryable_defaults() {
        assert!(Error::new(Code::Timeout, "t").retryable());
        assert!(!Error::new(Code::InvalidArgument, "t").retryable());
        assert_eq!(Code::VersionConflict.http_status(), 409);
        assert_eq!(Code::TaskNotFound.http_status(), 404);
        assert_eq!(Code::InvalidStatus.http_status(), 400);
        assert_eq!(Code::PayloadTooLarge.http_status(), 413);
    }
}
