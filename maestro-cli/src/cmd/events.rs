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
        return match ctx.server_url()? {
            Some(url) => {
                let token = ctx.token()?;
                follow_server(ctx, url, token, since, projects).await
            }
            None => follow_log(ctx, &m, since, &projects).await,
        };
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

/// Prints one followed event; false when the reader went away.
fn print_event(ctx: &Ctx, style: &crate::output::Style, e: &Event) -> Result<bool> {
    let line = if ctx.out.json {
        serde_json::to_string(e)?
    } else {
        row(style, e).join("  ")
    };
    let mut stdout = std::io::stdout().lock();
    Ok(writeln!(stdout, "{line}").is_ok() && stdout.flush().is_ok())
}

/// Remote: the sync client resumes after drops and delivers each event once, in order.
async fn follow_server(
    ctx: &Ctx,
    url: String,
    token: Option<String>,
    since: i64,
    projects: Vec<String>,
) -> Result<()> {
    use maestro_core::remote::{SyncClient, SyncEvent, SyncOptions};
    let style = crate::output::Style {
        color: ctx.out.color,
        quiet: ctx.out.quiet,
    };
    let opts = SyncOptions::new(url)
        .token(token)
        .session_id(ctx.session_id())
        .since(Some(since))
        .projects(projects);
    let mut client = SyncClient::connect(opts).await?;
    while let Some(item) = client.next_event().await {
        match item {
            SyncEvent::Event(e) => {
                if !print_event(ctx, &style, &e)? {
                    break;
                }
            }
            SyncEvent::ResyncRequired { last_seq, oldest } => {
                eprintln!(
                    "events {} to {} are no longer retained by the server; continuing from {oldest}",
                    last_seq + 1,
                    oldest - 1
                );
            }
        }
    }
    let err = client.last_error();
    client.close().await;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Local: prints events as they are committed (JSON lines with --json), until interrupted.
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
