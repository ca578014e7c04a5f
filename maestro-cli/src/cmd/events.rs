//! `events`: read (and follow) the durable event log.

use crate::context::Ctx;
use crate::output::{relative, table};
use maestro_core::{Event, Maestro, Result};
use std::io::Write;
use std::time::Duration;

/// How often `--follow` looks for new events in local mode.
const POLL: Duration = Duration::from_millis(100);

pub async fn run(ctx: &mut Ctx, since: i64, limit: usize, follow: bool) -> Result<()> {
    let project = ctx.project()?;
    let m = ctx.open(false)?;
    let projects: Vec<String> = match project {
        Some(p) => vec![m.project(Some(&p)).await?.id],
        None => Vec::new(),
    };
    if follow {
        return follow_log(ctx, &m, since, &projects).await;
    }
    let events = m.events_since(since, limit.max(1), &projects).await?;
    ctx.out.success(&events, |s| {
        if events.is_empty() {
            return format!("No events after seq {since}");
        }
        let rows: Vec<Vec<String>> = events.iter().map(|e| row(s, e)).collect();
        table(s, &["seq", "type", "entity", "when"], &rows)
    });
    Ok(())
}

fn row(s: &crate::output::Style, e: &Event) -> Vec<String> {
    let id = e
        .data
        .get("id")
        .and_then(|v| v.as_str())
        .or_else(|| e.data.get("taskId").and_then(|v| v.as_str()));
    vec![
        e.seq.to_string(),
        s.cyan(e.event_type.as_str()),
        id.unwrap_or("").to_string(),
        s.dim(&relative(&e.ts)),
    ]
}

/// Prints events as they are committed (JSON lines with --json), until interrupted.
async fn follow_log(ctx: &Ctx, m: &Maestro, mut since: i64, projects: &[String]) -> Result<()> {
    let style = crate::output::Style {
        color: ctx.out.color,
        quiet: ctx.out.quiet,
    };
    loop {
        let batch = m.events_since(since, 1000, projects).await?;
        let mut stdout = std::io::stdout().lock();
        for e in &batch {
            since = e.seq;
            let line = if ctx.out.json {
                serde_json::to_string(e)?
            } else {
                row(&style, e).join("  ")
            };
            if writeln!(stdout, "{line}").is_err() {
                return Ok(()); // the reader went away
            }
        }
        let _ = stdout.flush();
        drop(stdout);
        if batch.len() < 1000 {
            tokio::time::sleep(POLL).await;
        }
    }
}
