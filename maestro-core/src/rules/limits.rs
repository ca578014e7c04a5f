//! Page sizes and limits, checked once for every front end.

use crate::error::{Error, Result};
use serde_json::json;

/// Items a list returns when no limit is given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most items one page of tasks, sessions or timeline entries may hold.
pub const MAX_LIMIT: usize = 1000;
/// Most events one read of the event log may return.
pub const MAX_EVENTS: usize = 10_000;
/// Events a read returns when no limit is given.
pub const DEFAULT_EVENTS: usize = 1000;
/// Timeline entries `task get` shows (the newest ones); the rest are paged.
pub const DETAIL_TIMELINE: usize = 50;

/// The page size for `limit` (default `default`), refusing 0 and anything over `max`.
pub fn page_size(limit: Option<usize>, default: usize, max: usize) -> Result<usize> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(Error::invalid_argument(format!(
            "--limit must be between 1 and {max}, not {n}"
        ))
        .with_details(json!({ "field": "limit", "value": n, "min": 1, "max": max }))
        .with_suggestion(format!(
            "Pass --limit between 1 and {max}, and follow nextCursor for more"
        ))),
    }
}

/// A page cursor: a non-negative integer given back unchanged from `nextCursor`.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    match c.parse::<i64>() {
        Ok(seq) if seq >= 0 && c.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(seq)),
        _ => Err(
            Error::invalid_argument(format!("'{c}' is not a valid cursor"))
                .with_details(json!({ "cursor": c }))
                .with_suggestion("Pass the nextCursor value of the previous page unchanged"),
        ),
    }
}

/// Rows fetched with their cursor key, `limit + 1` of them, as a page.
pub fn page<T>(mut rows: Vec<(T, i64)>, limit: usize) -> crate::model::Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, key)| key.to_string())
    } else {
        None
    };
    crate::model::Page {
        items: rows.into_iter().map(|(item, _)| item).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded_and_default() {
        assert_eq!(page_size(None, 100, 1000).unwrap(), 100);
        assert_eq!(page_size(Some(1), 100, 1000).unwrap(), 1);
        assert_eq!(page_size(Some(1000), 100, 1000).unwrap(), 1000);
        for bad in [0, 1001] {
            let e = page_size(Some(bad), 100, 1000).unwrap_err();
            assert_eq!(e.code(), crate::Code::InvalidArgument);
            assert!(e.suggestion().unwrap().contains("1000"));
        }
    }

    #[test]
    fn cursors_are_plain_integers() {
        assert_eq!(parse_cursor(None).unwrap(), None);
        assert_eq!(parse_cursor(Some("")).unwrap(), None);
        assert_eq!(parse_cursor(Some("42")).unwrap(), Some(42));
        for bad in ["-1", "x", "+3", "1.5"] {
            assert!(parse_cursor(Some(bad)).is_err(), "{bad}");
        }
        let p = page(vec![("a", 1), ("b", 2), ("c", 3)], 2);
        assert_eq!(p.items, vec!["a", "b"]);
        assert_eq!(p.next_cursor.as_deref(), Some("2"));
        assert!(page(vec![("a", 1)], 2).next_cursor.is_none());
    }
}
