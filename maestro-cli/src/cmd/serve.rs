//! `serve`: the HTTP + WebSocket server over the local store.

use crate::cli::{LogFormat, ServeArgs};
use crate::context::Ctx;
use maestro_core::config::ServerFlags;
use maestro_core::host::plan::StoreContext;
use maestro_core::host::{Host, HostControl, HostEvent};
use maestro_core::server;
use maestro_core::{Error, OpContext, Result};
use serde_json::json;
use std::time::Duration;

pub async fn run(ctx: &mut Ctx, a: ServeArgs) -> Result<()> {
    init_logging(a.log_format);
    let addr = server::parse_addr(&a.addr)?;
    // The server always serves a local store, even when apiUrl is configured.
    let db = ctx.db_path();
    let maestro = ctx.local(ctx.settings().open_store(&db)?)?;
    // The file, or the database URL with its password hidden.
    let location = maestro.location();
    let flags = ServerFlags {
        token: a.token.clone(),
        max_connections: a.max_connections,
        body_timeout: a.body_timeout,
    };
    let opts = ctx.settings().server_options(maestro.clone(), flags)?;
    let token = opts.token.clone();
    server::check_bind_allowed(addr, token.as_deref())?;
    let lease = maestro.lease();
    let host_opts = if a.spawn {
        if a.max_concurrent == 0 {
            return Err(Error::invalid_argument(
                "--max-concurrent must be at least 1",
            ));
        }
        let mut o = super::host::options(ctx, a.agent.clone())?;
        o.profiles.get(&o.default_agent)?;
        o.max_concurrent = a.max_concurrent;
        Some(o)
    } else {
        None
    };
    let listener = server::bind(addr, token.as_deref()).await?;
    // Handle SIGTERM/SIGINT from the moment we announce the URL.
    let shutdown = shutdown_signals()?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("cannot read the bound address: {e}")))?;
    let url = format!("http://{local}");
    // One line for whoever started us (scripts read the URL when binding port 0).
    ctx.out.success(&json!({ "url": url, "addr": local.to_string(), "db": location }), |s| {
        format!(
            "{}\n  store: {}\n  dashboard: {url}/\n  clients: maestro --server {url} …  or  export MAESTRO_API_URL={url}",
            s.ok(&format!("Maestro server listening on {url}")),
            location
        )
    });
    let (control, rx) = tokio::sync::watch::channel(HostControl::Run);
    match host_opts {
        // The host launches agents (pointed at this server) and reaps expired sessions.
        Some(mut o) => {
            o.store = StoreContext::Remote {
                url: url.clone(),
                token,
            };
            let host = Host::new(maestro, o).on_event(|e| match e {
                HostEvent::Launched { session, pid, .. } => {
                    tracing::info!(session = %session.id, pid, "agent launched")
                }
                HostEvent::Exited { session, outcome } => {
                    tracing::info!(session = %session.id, code = outcome.exit_code, "agent exited")
                }
                HostEvent::LaunchFailed { session, reason } => {
                    tracing::warn!(session = %session.id, %reason, "agent could not start")
                }
                HostEvent::Recovered { sessions } => {
                    tracing::warn!(count = sessions.len(), "sessions of a dead host lost, agents stopped, tasks released")
                }
                HostEvent::Lost { sessions } => {
                    tracing::warn!(count = sessions.len(), "sessions lost, tasks released")
                }
                HostEvent::Trouble { message, retry_in } => {
                    tracing::warn!(%message, retry_in_ms = retry_in.map(|d| d.as_millis() as u64), "host trouble")
                }
                HostEvent::Committed { session_id, task_id, commit } => {
                    tracing::info!(session = %session_id, task = %task_id, %commit, "work left in a worktree committed")
                }
                HostEvent::Merge(r) => {
                    tracing::info!(task = %r.task_id, target = %r.target, "{}", crate::cmd::merge::describe(&r.task_id, &r.target, &r.result))
                }
            });
            // The host loop only ends when told to; should it ever end otherwise, it is
            // started again, so the server never serves on without launching agents.
            tokio::spawn(async move {
                loop {
                    let outcome = host.run(rx.clone()).await;
                    if *rx.borrow() == HostControl::Stop || rx.has_changed().is_err() {
                        break;
                    }
                    match outcome {
                        Ok(_) => tracing::warn!("the host loop ended; starting it again"),
                        Err(e) => {
                            tracing::error!(error = %e.message(), "the host loop failed; starting it again")
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
        // Sessions past their lease are declared lost here too, so abandoned tasks come
        // back to the queue without a host.
        None => {
            let mut stop = rx;
            let every = (lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {
                            if let Err(e) = maestro.reap_expired(&OpContext::default()).await {
                                tracing::warn!(error = %e.message(), "reaping expired sessions failed");
                            }
                        }
                        _ = stop.changed() => break,
                    }
                }
            });
        }
    }
    let shutdown = async move {
        shutdown.await;
        let _ = control.send(HostControl::Stop);
    };
    server::launch_with_listener(opts, listener, shutdown).await
}

/// Installs the SIGTERM and SIGINT handlers now; the future completes on either.
fn shutdown_signals() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let io = |e: std::io::Error| Error::internal(format!("cannot install signal handlers: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(io)?;
    let mut int = signal(SignalKind::interrupt()).map_err(io)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
