//! Leases (SPEC §8): a session proves it is alive by acting (every call it makes refreshes
//! `last_seen`) or by heartbeats from its agent or its host. A session that has started
//! (`starting`, `active`) and stays silent past its lease is declared `lost`; spawn
//! requests (`waiting`, `spawning`) wait for a host and never expire.

use std::time::Duration;

/// The default lease: silent longer than this, a session is declared `lost`.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// A lease in milliseconds.
pub fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// Sessions last seen before this instant are past their lease at `now`.
pub fn cutoff(now_ms: i64, lease: Duration) -> i64 {
    now_ms.saturating_sub(lease_ms(lease))
}

/// Whether a session last seen at `last_seen_ms` is past its lease at `now_ms`.
pub fn expired(now_ms: i64, last_seen_ms: i64, lease: Duration) -> bool {
    last_seen_ms < cutoff(now_ms, lease)
}

/// The reason recorded on a session declared lost.
pub fn lost_reason(now_ms: i64, last_seen_ms: i64, lease: Duration) -> String {
    format!(
        "no sign of life for {} s (lease {} s)",
        (now_ms - last_seen_ms).max(0) / 1000,
        lease.as_secs_f64()
    )
}

/// How often one process looks for expired sessions before an operation: often enough that
/// a lapse is noticed well within a lease, rarely enough to cost nothing on a busy server.
pub fn reap_interval(lease: Duration) -> Duration {
    (lease / 8).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_strictly_after_its_lease() {
        let lease = Duration::from_secs(2);
        assert!(!expired(10_000, 8_000, lease));
        assert!(expired(10_001, 8_000, lease));
        assert_eq!(cutoff(10_000, lease), 8_000);
        assert_eq!(
            lost_reason(13_500, 8_000, lease),
            "no sign of life for 5 s (lease 2 s)"
        );
        assert_eq!(reap_interval(DEFAULT_LEASE), Duration::from_secs(1));
        assert_eq!(
            reap_interval(Duration::from_secs(2)),
            Duration::from_millis(250)
        );
    }
}
