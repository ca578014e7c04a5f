//! `host`: launch agents for spawn requests until stopped.

use crate::cli::HostArgs;
use crate::context::Ctx;
use crate::output::Out;
use maestro_core::host::plan::{Profiles, StoreContext};
use maestro_core::host::{Host, HostControl, HostEvent, HostOptions};
use maestro_core::{Error, Result};
use serde_json::json;

use std::time::Duration;

/// The host settings of this CLI call: profiles and lease from config, context from flags.
pub fn options(ctx: &mut Ctx, agent: Option<String>) -> Result<HostOptions> {
    // Agents reach the store the way this host does: the server in remote mode.
    let store = match ctx.server_url()? {
        Some(url) => StoreContext::Remote {
            url,
            token: ctx.token()?,
        },
        None => StoreContext::Local { db: ctx.db_path() },
    };
    let env = ctx.env.clone();
    let config = ctx.config()?.clone();
    let mut opts = HostOptions::new(env.maestro_home(), store);
    opts.profiles = Profiles::from_config(config.get("agents"))?;
    opts.lease = ctx.lease()?;
    opts.default_agent = agent
        .or_else(|| config.get_string("defaultAgent"))
        .unwrap_or_else(|| "claude".into());
    opts.path_prefix = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    opts.prices = ctx.settings().prices()?;
    opts.default_budget = ctx.settings().default_budget()?;
    opts.spawn_roots = ctx.settings().spawn_roots()?;
    opts.worktrees = maestro_core::worktree::Settings::from_config(&config)?;
    Ok(opts)
}

/// Whether a usable tmux is installed.
fn tmux_available() -> bool {
    std::process::Command::new("tmux")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub async fn run(ctx: &mut Ctx, a: HostArgs) -> Result<()> {
    if a.max_concurrent == 0 {
        return Err(Error::invalid_argument(
            "--max-concurrent must be at least 1",
        ));
    }
    let m = ctx.open(false)?;
    let mut opts = options(ctx, a.agent)?;
    opts.profiles.get(&opts.default_agent)?;
    opts.max_concurrent = a.max_concurrent;
    opts.poll = Duration::from_millis(a.poll_ms.clamp(5, 10_000));
    let out = ctx.out;
    if a.tmux {
        if tmux_available() {
            opts.tmux = true;
        } else {
            note(
                out,
                "tmux is not installed: launching agents detached instead",
            );
        }
    }
    let location = match &opts.store {
        StoreContext::Local { db } => db.display().to_string(),
        StoreContext::Remote { url, .. } => url.clone(),
    };
    note(
        out,
        &format!(
            "Host {} on {}: up to {} agents, default profile '{}', profiles {}, lease {} s.\nWaiting for spawn requests (maestro session spawn --task <id>); Ctrl-C to stop.",
            opts.host_name,
            location,
            opts.max_concurrent,
            opts.default_agent,
            opts.profiles.names().join(", "),
            opts.lease.as_secs_f64()
        ),
    );
    let (control, rx) = tokio::sync::watch::channel(HostControl::Run);
    let host = Host::new(m, opts).on_event(move |e| report(out, e));
    let signals = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::internal(format!("cannot watch SIGTERM: {e}")))?;
        let mut stops = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stops += 1;
            if stops == 1 {
                note(
                    out,
                    "Stopping: no new agents; waiting for running ones (Ctrl-C again leaves them running)",
                );
                let _ = control.send(HostControl::Drain);
            } else {
                let _ = control.send(HostControl::Stop);
                return Ok::<(), Error>(());
            }
        }
    };
    let summary = tokio::select! {
        r = host.run(rx) => r?,
        r = signals => { r?; return Ok(()); }
    };
    let data = json!({
        "launched": summary.launched,
        "completed": summary.completed,
        "failed": summary.failed,
        "launchFailures": summary.launch_failures,
        "lost": summary.lost,
    });
    ctx.out.success(&data, |s| {
        s.ok(&format!(
            "Host stopped: {} launched, {} completed, {} failed, {} could not start, {} lost",
            summary.launched,
            summary.completed,
            summary.failed,
            summary.launch_failures,
            summary.lost
        ))
    });
    Ok(())
}

/// A human note on stderr (JSON mode keeps stdout for JSON lines).
fn note(out: Out, text: &str) {
    out.note(text);
}

/// One line per host event: JSON lines with --json, else readable text.
fn report(out: Out, e: &HostEvent) {
    let (value, text) = match e {
        HostEvent::Launched {
            session,
            pid,
            profile,
            log_file,
        } => (
            json!({"event": "launched", "sessionId": session.id, "taskIds": session.task_ids, "pid": pid, "profile": profile, "log": log_file}),
            format!(
                "▶ {} launched for {} ({profile}, pid {pid}) — log: {}",
                session.id,
                session.task_ids.join(","),
                log_file.display()
            ),
        ),
        HostEvent::Exited { session, outcome } => (
            json!({"event": "exited", "sessionId": session.id, "status": session.status, "exitCode": outcome.exit_code, "reason": outcome.reason}),
            format!(
                "{} {} {} (exit code {}{})",
                if outcome.success { "✓" } else { "✗" },
                session.id,
                session.status,
                outcome.exit_code,
                outcome
                    .reason
                    .as_deref()
                    .map(|r| format!(", {r}"))
                    .unwrap_or_default()
            ),
        ),
        HostEvent::LaunchFailed { session, reason } => (
            json!({"event": "launch_failed", "sessionId": session.id, "reason": reason}),
            format!("✗ {} could not start: {reason}", session.id),
        ),
        HostEvent::Trouble { message, retry_in } => (
            json!({"event": "trouble", "message": message, "retryInMs": retry_in.map(|d| d.as_millis() as u64)}),
            match retry_in {
                Some(d) => format!("⚠ {message} (retrying in {} ms)", d.as_millis()),
                None => format!("⚠ {message}"),
            },
        ),
        HostEvent::Recovered { sessions } => lost_line(
            "recovered",
            "their host died; agents stopped, tasks released",
            sessions,
        ),
        HostEvent::Committed {
            session_id,
            task_id,
            commit,
        } => (
            json!({"event": "committed", "sessionId": session_id, "taskId": task_id, "commit": commit}),
            format!(
                "● {session_id} left work in {task_id}'s worktree: committed {}",
                &commit[..commit.len().min(12)]
            ),
        ),
        HostEvent::Merge(r) => (
            json!({"event": "merge", "taskId": r.task_id, "target": r.target, "result": r.result}),
            format!(
                "⇢ {}",
                crate::cmd::merge::describe(&r.task_id, &r.target, &r.result)
            ),
        ),
        HostEvent::Lost { sessions } => {
            lost_line("lost", "lease expired, tasks released", sessions)
        }
    };
    if out.json {
        crate::output::print_line(&value.to_string());
    } else if !out.quiet {
        crate::output::print_line(&text);
    }
}

/// The JSON line and the text line of sessions declared lost, and why.
fn lost_line(
    event: &str,
    why: &str,
    sessions: &[maestro_core::Session],
) -> (serde_json::Value, String) {
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    (
        json!({"event": event, "sessionIds": ids}),
        format!("⚠ lost ({why}): {}", ids.join(", ")),
    )
}
