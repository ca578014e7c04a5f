//! Numbered migrations (`migrations-postgres/`), applied in one transaction under an advisory
//! lock, so replicas starting together migrate once.

use crate::error::{Error, Result};

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations-postgres/0001_init.sql"),
    include_str!("../../migrations-postgres/0002_worktrees.sql"),
    include_str!("../../migrations-postgres/0003_task_counts.sql"),
];

/// The schema version this code writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock migrations hold (any fixed number, unlikely to clash).
const LOCK: i64 = 0x006d_6165_7374_726f;

/// Brings the database to [`LATEST_VERSION`]; refuses a database newer than this code.
pub async fn migrate(client: &mut deadpool_postgres::Object) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS maestro_schema (version BIGINT NOT NULL)")
        .await?;
    let current: i64 = match tx
        .query_opt("SELECT version FROM maestro_schema", &[])
        .await?
    {
        Some(row) => row.try_get(0)?,
        None => {
            tx.execute("INSERT INTO maestro_schema (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    if current > LATEST_VERSION {
        return Err(Error::storage(format!(
            "the database has schema version {current}, newer than this maestro ({LATEST_VERSION})"
        ))
        .with_suggestion("Run a newer Maestro release, one that knows this database"));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await.map_err(|e| {
            Error::storage(format!(
                "migration {} failed: {}",
                i + 1,
                super::pg_message(&e)
            ))
        })?;
    }
    if current < LATEST_VERSION {
        tx.execute("UPDATE maestro_schema SET version = $1", &[&LATEST_VERSION])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
