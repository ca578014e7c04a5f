//! `events`: read (and follow) the durable event log.

use crate::context::Ctx;
use crate::output::{relative, table};
use maestro_core::facade::SubscriptionItem;
use maestro_core::facade::subscribe::SubscribeOptions;
use maestro_core::{Event, Maestro, Result};

pub async fn run(
    ctx: &mut Ctx,
    since: Option<i64>,
    limit: Option<usize>,
    follow: bool,
) -> Result<()> {
    let project = ctx.project()?;
    let m = ctx.open(false)?;
    // The project like every other command: the named one, else the store's default (a
    // store without projects has only project-less events).
    let projects: Vec<String> = match m.project(project.as_deref()).await {
        Ok(p) => vec![p.id],
        Err(e) if project.is_none() && e.code() == maestro_core::Code::NoProjectContext => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    if follow {
        return follow_events(ctx, &m, since, projects).await;
    }
    let since = since.unwrap_or(0);
    let page = m.events_page(since, limit, &projects).await?;
    let events = &page.items;
    ctx.out.page(&page, |s| {
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
