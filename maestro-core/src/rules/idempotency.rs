//! Idempotency keys (SPEC §6): a mutation carrying a key (`Idempotency-Key`, a WebSocket op
//! id) returns its first result when retried, and applies once.
//!
//! A key is scoped to its caller (the session, else the client, else nobody), so two clients
//! that pick the same key never see each other's results; and it is stored with the
//! operation's name and a fingerprint of the request, so reusing a key for another operation
//! or another body fails with `idempotency_key_reused` instead of returning a result that
//! belongs to a different request.

use crate::error::{Code, Error, Result};
use serde_json::json;
use std::time::Duration;

/// How long stored results are kept by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// A stored result of an idempotent operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// The scoped key ([`scoped_key`]).
    pub key: String,
    /// The operation's name, e.g. `task.create`.
    pub op: String,
    pub fingerprint: String,
    /// The first result, as JSON.
    pub result: String,
    pub created_at: i64,
}

/// The key as stored: the caller's identity and the key it sent.
pub fn scoped_key(caller: Option<&str>, key: &str) -> String {
    format!("{}\u{1f}{key}", caller.unwrap_or("-"))
}

/// A stable fingerprint of a request (FNV-1a over its canonical JSON text).
pub fn fingerprint(request_json: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in request_json.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Checks a retried request against the record of the first one.
pub fn check_reuse(record: &OpRecord, op: &str, fingerprint: &str, key: &str) -> Result<()> {
    if record.op == op && record.fingerprint == fingerprint {
        return Ok(());
    }
    let what = if record.op != op {
        format!("the operation '{}'", record.op)
    } else {
        "a request with a different body".to_string()
    };
    Err(Error::new(
        Code::IdempotencyKeyReused,
        format!("The idempotency key '{key}' was already used for {what}"),
    )
    .with_details(json!({ "key": key, "operation": op, "firstOperation": record.op }))
    .with_suggestion(
        "Use a new key for every distinct request; reuse a key only to retry the very same request",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_scoped_to_its_caller_and_bound_to_its_request() {
        assert_ne!(scoped_key(Some("s-1"), "k"), scoped_key(Some("s-2"), "k"));
        assert_ne!(scoped_key(None, "k"), scoped_key(Some("-"), "k\u{1f}"));
        let rec = OpRecord {
            key: scoped_key(None, "k"),
            op: "task.create".into(),
            fingerprint: fingerprint(r#"{"title":"first"}"#),
            result: "{}".into(),
            created_at: 0,
        };
        assert!(
            check_reuse(
                &rec,
                "task.create",
                &fingerprint(r#"{"title":"first"}"#),
                "k"
            )
            .is_ok()
        );
        let e = check_reuse(
            &rec,
            "task.create",
            &fingerprint(r#"{"title":"second"}"#),
            "k",
        )
        .unwrap_err();
        assert_eq!(e.code(), Code::IdempotencyKeyReused);
        assert_eq!(e.exit_code(), 2);
        assert_eq!(Code::IdempotencyKeyReused.http_status(), 422);
        let e = check_reuse(&rec, "task.cancel", &rec.fingerprint, "k").unwrap_err();
        assert!(e.message().contains("task.create"));
    }
}
