//! `events`: read (and follow) the durable event log.

use crate::context::Ctx;
use crate::output::{relative, table};
use maestro_core::facade::SubscriptionItem;
use maestro_core::facade::subscribe::SubscribeOptions;
use maestro_core::{Event, Maestro, Result};

pub async fn run(ctx: &mut Ctx, since: Option<i64>, limit: usize, follow: bool) -> Result<()> {
    let project = ctx.project()?;
    let m = ctx.open(false)?;
    let projects: Vec<String> = match project {
        Some(p) => vec![m.project(Some(&p)).await?.id],
        None => Vec::new(),
    };
    if follow {
        return follow_events(ctx, &m, since, projects).await;
    }
    let since = since.unwrap_or(0);
    let events = m.events_since(since, limit, &projects).await?;
    ctx.out.success(&events, |s| {
        if events.is_empty() {
            return if s.quiet {
                String::new()
            } else {
                format!("No events after seq {since}")
            };
        }
        let rows: Vec<Vec<String>> = events.iter().map(|e| row(s, e)).collect();
        if s.quiet {
            // One event a line, without the header and the time.
            return rows
                .iter()
                .map(|r| r[..3].join(" ").trim_end().to_string())
                .collect::<Vec<_>>()
                .join("\n");
        }
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
    Ok(crate::output::print_line(&line))
}

/// Prints events as they are committed (JSON lines with --json), until interrupted: the
/// core's subscription, which tails a local store or follows a server through the sync
/// client (resuming after drops, each event once, in order).
async fn follow_events(
    ctx: &Ctx,
    m: &Maestro,
    since: Option<i64>,
    projects: Vec<String>,
) -> Result<()> {
    let style = crate::output::Style {
        color: ctx.out.color,
        quiet: ctx.out.quiet,
    };
    let opts = SubscribeOptions {
        since,
        projects,
        session_id: ctx.session_id(),
        poll: None,
    };
    let mut sub = m.subscribe(opts).await?;
    let mut failed = None;
    while let Some(item) = sub.next().await {
        match item {
            Ok(SubscriptionItem::Event(e)) => {
                if !print_event(ctx, &style, &e)? {
                    break;
                }
            }
            Ok(SubscriptionItem::ResyncRequired { last_seq, oldest }) => {
                eprintln!(
                    "events {} to {} are no longer retained; continuing from {oldest}",
                    last_seq + 1,
                    oldest - 1
                );
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    sub.close().await;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
