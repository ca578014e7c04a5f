//! Short, prefixed, random, URL-safe ids (`t-7k2m9q4x`), and prefix handling.

use crate::error::{Error, Result};

/// Lower-case alphabet without look-alikes (no i, l, o, u).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Random characters per id: 40 bits, so ids stay short yet do not collide across machines.
pub const ID_LEN: usize = 8;

/// The kinds of entity that have ids, with their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Project,
    Task,
    Subtask,
    Session,
    Op,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Project => "p-",
            IdKind::Task => "t-",
            IdKind::Subtask => "st-",
            IdKind::Session => "s-",
            IdKind::Op => "op-",
        }
    }
}

/// A new random id of the given kind.
pub fn new_id(kind: IdKind) -> String {
    let mut bytes = [0u8; ID_LEN];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let mut id = String::with_capacity(kind.prefix().len() + ID_LEN);
    id.push_str(kind.prefix());
    id.extend(bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char));
    id
}

/// Normalizes what a user typed as an id or id prefix: trims, lower-cases and adds the
/// kind's prefix when it is missing (`7k2m` → `t-7k2m`). Rejects empty and non-URL-safe input.
pub fn normalize(kind: IdKind, input: &str) -> Result<String> {
    let s = input.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Err(Error::invalid_argument("An id must not be empty"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            Error::invalid_argument(format!("'{input}' is not a valid id"))
                .with_details(serde_json::json!({ "id": input })),
        );
    }
    let prefix = kind.prefix();
    Ok(if s.starts_with(prefix) || s.contains('-') {
        s
    } else {
        format!("{prefix}{s}")
    })
}

/// The smallest string greater than every string starting with `prefix`, for range scans.
pub fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_prefixed_url_safe_and_unique() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = new_id(IdKind::Task);
            assert!(id.starts_with("t-"));
            assert_eq!(id.len(), 2 + ID_LEN);
            assert!(id[2..].bytes().all(|b| ALPHABET.contains(&b)));
            assert!(seen.insert(id));
        }
        assert!(new_id(IdKind::Subtask).starts_with("st-"));
        assert!(new_id(IdKind::Session).starts_with("s-"));
        assert!(new_id(IdKind::Project).starts_with("p-"));
    }

    #[test]
    fn normalize_adds_missing_prefix_and_rejects_junk() {
        assert_eq!(normalize(IdKind::Task, "7K2M").unwrap(), "t-7k2m");
        assert_eq!(normalize(IdKind::Task, " t-7k2m ").unwrap(), "t-7k2m");
        assert_eq!(normalize(IdKind::Subtask, "abc").unwrap(), "st-abc");
        assert!(normalize(IdKind::Task, "").is_err());
        assert!(normalize(IdKind::Task, "t-1; drop").is_err());
        assert!(normalize(IdKind::Task, "t-%").is_err());
    }

    #[test]
    fn upper_bound_sorts_after_all_extensions() {
        let ub = prefix_upper_bound("t-7k");
        assert!("t-7kzzzzzz" < ub.as_str());
        assert!("t-7l" > ub.as_str());
    }
}
