//! The retry policy of every remote call: bounded exponential backoff with jitter.
//!
//! Pure logic over plain data: which errors are worth repeating ([`should_retry`]) and how
//! long to wait before the next attempt ([`RetryPolicy::delay`]). The transports (the HTTP
//! store, the WebSocket sync client) run the loop.
//!
//! ```
//! use maestro_core::retry::RetryPolicy;
//! use std::time::Duration;
//! let p = RetryPolicy::new(3, Duration::from_millis(100));
//! // Attempt n waits about base * 2^n, never more than `max_delay`.
//! assert_eq!(p.delay(0, 1.0), Duration::from_millis(100));
//! assert_eq!(p.delay(2, 1.0), Duration::from_millis(400));
//! assert!(p.delay(2, 0.0) >= Duration::from_millis(200));
//! ```

use crate::error::{Code, Error, Result};
use serde_json::json;
use std::time::Duration;

/// The environment variable giving the number of retries after the first attempt.
pub const RETRIES_ENV: &str = "MAESTRO_RETRIES";
/// The environment variable giving the base delay between attempts, in milliseconds.
pub const RETRY_DELAY_ENV: &str = "MAESTRO_RETRY_DELAY";
/// The environment variable that makes the remote clients print each retry to stderr.
pub const DEBUG_ENV: &str = "MAESTRO_DEBUG";

/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 3;
/// Default base delay.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(1000);
/// Default upper bound of one delay.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// Default jitter: up to half of each delay is randomized.
pub const DEFAULT_JITTER: f64 = 0.5;

/// Largest accepted `MAESTRO_RETRIES`.
pub const MAX_RETRIES: u32 = 100;
/// Largest accepted `MAESTRO_RETRY_DELAY`, in milliseconds (10 minutes).
pub const MAX_RETRY_DELAY_MS: u64 = 600_000;

/// How often and how patiently to repeat a call that failed for a transient reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = try once).
    pub retries: u32,
    /// The delay before the first retry; each further retry doubles it.
    pub base_delay: Duration,
    /// The upper bound of any single delay.
    pub max_delay: Duration,
    /// The randomized fraction of each delay, in `[0, 1]`: with 0.5 a delay `d` becomes a
    /// value in `(d/2, d]`, so clients that failed together do not retry together.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_RETRIES, DEFAULT_BASE_DELAY)
    }
}

impl RetryPolicy {
    /// A policy with the default jitter and a maximum delay of at least 30 s.
    pub fn new(retries: u32, base_delay: Duration) -> Self {
        Self {
            retries,
            base_delay,
            max_delay: DEFAULT_MAX_DELAY.max(base_delay),
            jitter: DEFAULT_JITTER,
        }
    }

    /// Never retry: one attempt only.
    pub fn none() -> Self {
        Self::new(0, Duration::ZERO)
    }

    /// The policy of `MAESTRO_RETRIES` and `MAESTRO_RETRY_DELAY`, defaults for unset ones.
    pub fn from_env() -> Result<Self> {
        let retries = std::env::var(RETRIES_ENV).ok();
        let delay = std::env::var(RETRY_DELAY_ENV).ok();
        Self::from_values(retries.as_deref(), delay.as_deref())
    }

    /// Parses the values of `MAESTRO_RETRIES` and `MAESTRO_RETRY_DELAY` (ms); `None` or an
    /// empty value means the default.
    pub fn from_values(retries: Option<&str>, delay_ms: Option<&str>) -> Result<Self> {
        let retries = match non_empty(retries) {
            None => DEFAULT_RETRIES,
            Some(v) => parse_bounded(
                RETRIES_ENV,
                v,
                u64::from(MAX_RETRIES),
                "a number of retries",
            )? as u32,
        };
        let base = match non_empty(delay_ms) {
            None => DEFAULT_BASE_DELAY,
            Some(v) => Duration::from_millis(parse_bounded(
                RETRY_DELAY_ENV,
                v,
                MAX_RETRY_DELAY_MS,
                "a delay in milliseconds",
            )?),
        };
        Ok(Self::new(retries, base))
    }

    /// The total number of attempts (first try plus retries).
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The delay before retry number `attempt` (0 for the first retry): `base * 2^attempt`,
    /// capped at `max_delay`, of which the `jitter` fraction is scaled by `rng_value`
    /// (a uniform random number in `[0, 1]`; values outside are clamped).
    pub fn delay(&self, attempt: u32, rng_value: f64) -> Duration {
        let factor = 2f64.powi(attempt.min(62) as i32);
        let capped = (self.base_delay.as_secs_f64() * factor).min(self.max_delay.as_secs_f64());
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let r = if rng_value.is_finite() {
            rng_value.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let secs = capped * (1.0 - jitter * (1.0 - r));
        Duration::from_secs_f64(secs.max(0.0)).min(self.max_delay)
    }

    /// [`RetryPolicy::delay`] with a fresh random value.
    pub fn random_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, random_unit())
    }
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn parse_bounded(var: &str, value: &str, max: u64, what: &str) -> Result<u64> {
    let bad = || {
        Error::invalid_argument(format!(
            "{var}='{value}' is not valid: expected {what} between 0 and {max}"
        ))
        .with_details(json!({ "variable": var, "value": value, "max": max }))
        .with_suggestion(format!(
            "Set {var} to a whole number between 0 and {max}, or unset it to use the default"
        ))
    };
    let n: u64 = value.parse().map_err(|_| bad())?;
    if n > max {
        return Err(bad());
    }
    Ok(n)
}

/// Whether a failed call may succeed if repeated: connection failures, timeouts and
/// server-side (5xx-class) errors flagged retryable. Never a 4xx-class error (not found,
/// invalid input, conflict, unauthorized, payload too large), whatever its flag says.
pub fn should_retry(err: &Error) -> bool {
    let code = err.code();
    if code.http_status() < 500 {
        return false;
    }
    // A server error that came from a 4xx HTTP answer (e.g. an unknown route).
    if let Some(status) = err.details().get("status").and_then(|s| s.as_u64())
        && (400..500).contains(&status)
    {
        return false;
    }
    match code {
        Code::ConnectionRefused | Code::NetworkError | Code::Timeout => true,
        _ => err.retryable(),
    }
}

/// Whether a value of `MAESTRO_DEBUG` turns debug output on: any non-empty value but `0`.
pub fn debug_enabled(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some(v) if !v.is_empty() && v != "0")
}

/// Whether `MAESTRO_DEBUG` is set in the environment (see [`debug_enabled`]).
pub fn debug_from_env() -> bool {
    debug_enabled(std::env::var(DEBUG_ENV).ok().as_deref())
}

/// A uniform random number in `[0, 1)` from the operating system's random source.
pub fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 1.0;
    }
    // 53 random bits, the precision of an f64 mantissa.
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn defaults_match_the_spec() {
        let p = RetryPolicy::from_values(None, None).unwrap();
        assert_eq!(p.retries, 3);
        assert_eq!(p.base_delay, ms(1000));
        assert_eq!(p.attempts(), 4);
        assert_eq!(p, RetryPolicy::default());
        assert_eq!(RetryPolicy::from_values(Some(""), Some("  ")).unwrap(), p);
    }

    #[test]
    fn env_values_are_parsed() {
        let p = RetryPolicy::from_values(Some("5"), Some("250")).unwrap();
        assert_eq!(p.retries, 5);
        assert_eq!(p.base_delay, ms(250));
        let p = RetryPolicy::from_values(Some("0"), Some("0")).unwrap();
        assert_eq!(p.retries, 0);
        assert_eq!(p.delay(3, 0.7), Duration::ZERO);
    }

    #[test]
    fn bad_env_values_are_invalid_arguments() {
        for (r, d, var) in [
            (Some("-1"), None, RETRIES_ENV),
            (Some("three"), None, RETRIES_ENV),
            (Some("101"), None, RETRIES_ENV),
            (None, Some("1.5"), RETRY_DELAY_ENV),
            (None, Some("600001"), RETRY_DELAY_ENV),
            (None, Some("abc"), RETRY_DELAY_ENV),
        ] {
            let e = RetryPolicy::from_values(r, d).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{r:?} {d:?}");
            assert_eq!(e.details()["variable"], var);
            assert!(e.message().contains(var));
            assert!(e.suggestion().unwrap().contains(var));
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn delays_grow_exponentially_and_stay_bounded() {
        let p = RetryPolicy {
            retries: 10,
            base_delay: ms(100),
            max_delay: ms(1000),
            jitter: 0.0,
        };
        let d: Vec<_> = (0..6).map(|a| p.delay(a, 0.3)).collect();
        assert_eq!(
            d,
            vec![ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(p.delay(u32::MAX, 0.5), ms(1000));
    }

    #[test]
    fn jitter_scales_part_of_the_delay() {
        let p = RetryPolicy {
            retries: 3,
            base_delay: ms(1000),
            max_delay: ms(30_000),
            jitter: 0.5,
        };
        assert_eq!(p.delay(1, 1.0), ms(2000));
        assert_eq!(p.delay(1, 0.0), ms(1000));
        assert_eq!(p.delay(1, 0.5), ms(1500));
        // Out-of-range random values and jitter are clamped, never exceeding the bound.
        assert_eq!(p.delay(1, 7.0), ms(2000));
        assert_eq!(p.delay(1, -3.0), ms(1000));
        assert_eq!(p.delay(1, f64::NAN), ms(2000));
        let wild = RetryPolicy { jitter: 4.0, ..p };
        assert_eq!(wild.delay(1, 0.0), Duration::ZERO);
        for _ in 0..1000 {
            let d = p.random_delay(2);
            assert!(d >= ms(2000) && d <= ms(4000), "{d:?}");
        }
    }

    #[test]
    fn random_unit_is_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }

    #[test]
    fn transient_failures_are_retried() {
        for code in [Code::ConnectionRefused, Code::NetworkError, Code::Timeout] {
            assert!(should_retry(&Error::new(code, "x")), "{code}");
            // Transport failures are retried whatever their flag says.
            assert!(should_retry(&Error::new(code, "x").with_retryable(false)));
        }
        assert!(should_retry(&Error::new(Code::ServerError, "boom")));
        assert!(should_retry(
            &Error::storage("database is locked").with_retryable(true)
        ));
        assert!(!should_retry(&Error::storage("disk full")));
        assert!(!should_retry(&Error::internal("bug")));
        assert!(!should_retry(
            &Error::new(Code::ServerError, "x").with_retryable(false)
        ));
    }

    #[test]
    fn client_errors_are_never_retried() {
        for &code in Code::ALL {
            if code.http_status() < 500 {
                let e = Error::new(code, "x").with_retryable(true);
                assert!(!should_retry(&e), "{code} must not be retried");
            }
        }
        let from_404 = Error::new(Code::ServerError, "no route")
            .with_details(json!({ "status": 404 }))
            .with_retryable(true);
        assert!(!should_retry(&from_404));
        let from_502 =
            Error::new(Code::ServerError, "bad gateway").with_details(json!({ "status": 502 }));
        assert!(should_retry(&from_502));
    }

    #[test]
    fn debug_flag_values() {
        assert!(!debug_enabled(None));
        assert!(!debug_enabled(Some("")));
        assert!(!debug_enabled(Some("0")));
        assert!(debug_enabled(Some("1")));
        assert!(debug_enabled(Some("yes")));
    }
}
