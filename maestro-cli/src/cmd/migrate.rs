//! `migrate`: copies a SQLite store into an empty PostgreSQL database.

use crate::cli::MigrateArgs;
use crate::context::Ctx;
use maestro_core::postgres::{self, PgStore};
use maestro_core::{Error, Result};
use serde_json::json;

pub async fn run(ctx: &mut Ctx, a: MigrateArgs) -> Result<()> {
    if !postgres::is_url(&a.to) {
        return Err(Error::invalid_argument(format!(
            "--to must be a PostgreSQL URL, got '{}'",
            postgres::redacted(&a.to)
        ))
        .with_suggestion("Use e.g. --to postgres://maestro:secret@db.internal:5432/maestro"));
    }
    let from = ctx.env.absolute(&a.from);
    let to = PgStore::open_with(&a.to, ctx.settings().pg_options()?)?;
    let report = postgres::copy::from_sqlite(&from, &to).await?;
    let tables: serde_json::Map<String, serde_json::Value> = report
        .tables
        .iter()
        .map(|(t, n)| (t.clone(), json!(n)))
        .collect();
    let data = json!({
        "from": from.display().to_string(),
        "to": to.url(),
        "tables": tables,
        "latestSeq": report.latest_seq,
    });
    ctx.out.success(&data, |s| {
        let counts: Vec<String> = report
            .tables
            .iter()
            .map(|(t, n)| format!("  {t:<12} {n}"))
            .collect();
        format!(
            "{}\n{}\n  event log up to seq {}\nPoint clients and servers at it: --db {} (or MAESTRO_DB)",
            s.ok(&format!("Copied {} into {}", from.display(), to.url())),
            counts.join("\n"),
            report.latest_seq,
            to.url()
        )
    });
    Ok(())
}
