//! `serve`: the HTTP + WebSocket server over the local store.

use crate::cli::{LogFormat, ServeArgs};
use crate::context::Ctx;
use maestro_core::host::plan::StoreContext;
use maestro_core::host::{Host, HostControl, HostEvent};
use maestro_core::server::{self, ServerOptions};
use maestro_core::{Error, Maestro, OpContext, Result};
use serde_json::json;
use std::time::Duration;

pub async fn run(ctx: &mut Ctx, a: ServeArgs) -> Result<()> {
    init_logging(a.log_format);
    let addr = server::parse_addr(&a.addr)?;
    let token = a
        .token
        .or_else(|| ctx.env.var("MAESTRO_TOKEN").map(str::to_string));
    server::check_bind_allowed(addr, token.as_deref())?;
    // The server always serves a local store, even when apiUrl is configured.
    let db = ctx.db_path();
    let maestro = ctx.local(Maestro::open(&db)?)?;
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
    let mut opts = ServerOptions::new(maestro.clone());
    opts.token = token.clone();
    if let Some(hours) = op_retention(ctx)? {
        opts.op_retention = hours;
    }
    limits(ctx, a.max_connections, a.body_timeout, &mut opts)?;
    let listener = server::bind(addr, token.as_deref()).await?;
    // Handle SIGTERM/SIGINT from the moment we announce the URL.
    let shutdown = shutdown_signals()?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("cannot read the bound address: {e}")))?;
    let url = format!("http://{local}");
    // One line for whoever started us (scripts read the URL when binding port 0).
    ctx.out.success(&json!({ "url": url, "addr": local.to_string(), "db": db.display().to_string() }), |s| {
        format!(
            "{}\n  store: {}\n  dashboard: {url}/\n  clients: maestro --server {url} …  or  export MAESTRO_API_URL={url}",
            s.ok(&format!("Maestro server listening on {url}")),
            db.display()
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
                HostEvent::Lost { sessions } => {
                    tracing::warn!(count = sessions.len(), "sessions lost, tasks released")
                }
                HostEvent::Trouble { message, retry_in } => {
                    tracing::warn!(%message, retry_in_ms = retry_in.map(|d| d.as_millis() as u64), "host trouble")
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

/// How long idempotency records are kept: `MAESTRO_OP_RETENTION_HOURS` > config
/// `opRetentionHours` > 24 h.
fn op_retention(ctx: &mut Ctx) -> Result<Option<Duration>> {
    let env = ctx.env.clone();
    let config = ctx.config()?;
    let Some(text) = maestro_core::config::setting(
        None,
        &env,
        "MAESTRO_OP_RETENTION_HOURS",
        config,
        "opRetentionHours",
    ) else {
        return Ok(None);
    };
    match text.trim().parse::<f64>() {
        Ok(h) if h > 0.0 && h.is_finite() => Ok(Some(Duration::from_secs_f64(h * 3600.0))),
        _ => Err(
            Error::invalid_argument(format!("'{text}' is not a valid retention (hours)"))
                .with_details(json!({ "field": "opRetentionHours", "value": text }))
                .with_suggestion(
                    "Use a positive number of hours, e.g. MAESTRO_OP_RETENTION_HOURS=24",
                ),
        ),
    }
}

/// The connection cap and the body deadline: flag, else environment, else the default.
fn limits(
    ctx: &Ctx,
    max_connections: Option<usize>,
    body_timeout: Option<f64>,
    opts: &mut ServerOptions,
) -> Result<()> {
    // The value and where it came from, for the error message.
    let setting = |flag: Option<String>, name: &'static str, var: &'static str| match flag {
        Some(v) => Some((v, name)),
        None => ctx.env.var(var).map(|v| (v.to_string(), var)),
    };
    if let Some((v, var)) = setting(
        max_connections.map(|n| n.to_string()),
        "--max-connections",
        "MAESTRO_MAX_CONNECTIONS",
    ) {
        let most = tokio::sync::Semaphore::MAX_PERMITS;
        let parsed = v.trim().parse().ok().filter(|n| (1..=most).contains(n));
        opts.max_connections = parsed.ok_or_else(|| {
            Error::invalid_argument(format!(
                "{var} must be a whole number of connections from 1 to {most}, got '{v}'"
            ))
            .with_suggestion(
                "Pass e.g. --max-connections 2000, or unset MAESTRO_MAX_CONNECTIONS for the default",
            )
        })?;
    }
    if let Some((v, var)) = setting(
        body_timeout.map(|s| s.to_string()),
        "--body-timeout",
        "MAESTRO_BODY_TIMEOUT",
    ) {
        opts.body_read_timeout = v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                Error::invalid_argument(format!("{var} must be a number of seconds, got '{v}'"))
                    .with_suggestion(
                        "Pass e.g. --body-timeout 30, or unset MAESTRO_BODY_TIMEOUT for the default",
                    )
            })?;
    }
    Ok(())
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
