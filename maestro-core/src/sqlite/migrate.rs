//! Numbered migrations over `PRAGMA user_version`, applied in one transaction on open.

use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_insertion_order.sql"),
    include_str!("../../migrations/0003_ready_queue_index.sql"),
    include_str!("../../migrations/0004_rules_in_the_core.sql"),
    include_str!("../../migrations/0005_agent_runs.sql"),
    include_str!("../../migrations/0006_worktrees.sql"),
    include_str!("../../migrations/0008_status_counts.sql"),
];

/// The schema version this code writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database to [`LATEST_VERSION`]; refuses a database newer than this code.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    // Fast path for every process but the first: nothing to do, no write lock taken.
    let current = version(conn)?;
    check_not_newer(current)?;
    if current == LATEST_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    let current = version(&tx)?;
    check_not_newer(current)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)
            .map_err(|e| Error::storage(format!("migration {} failed: {e}", i + 1)))?;
    }
    tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// For a store that cannot be migrated (read-only): its schema must be the current one.
pub fn check_current(conn: &Connection) -> Result<()> {
    let current = version(conn)?;
    check_not_newer(current)?;
    if current < LATEST_VERSION {
        return Err(Error::storage(format!(
            "the database has schema version {current} and needs migrating to {LATEST_VERSION}, which a read-only store cannot do"
        ))
        .with_suggestion("Open it once where it can be written, so it is migrated"));
    }
    Ok(())
}

fn check_not_newer(current: i64) -> Result<()> {
    if current > LATEST_VERSION {
        return Err(Error::storage(format!(
            "the database has schema version {current}, newer than this maestro ({LATEST_VERSION})"
        ))
        .with_suggestion("Upgrade to a newer Maestro, one that knows this database"));
    }
    Ok(())
}
