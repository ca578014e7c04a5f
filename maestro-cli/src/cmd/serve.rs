//! `serve`: the HTTP + WebSocket server over the local store.

use crate::cli::{LogFormat, ServeArgs};
use crate::context::Ctx;
use maestro_core::server::{self, ServerOptions};
use maestro_core::{Error, Maestro, Result};
use serde_json::json;
use std::net::SocketAddr;

pub async fn run(ctx: &mut Ctx, a: ServeArgs) -> Result<()> {
    init_logging(a.log_format);
    let addr: SocketAddr = a.addr.parse().map_err(|_| {
        Error::invalid_argument(format!("'{}' is not a HOST:PORT address", a.addr))
            .with_details(json!({ "addr": a.addr }))
            .with_suggestion("Use e.g. --addr 127.0.0.1:3000 (port 0 picks a free port)")
    })?;
    let token = a
        .token
        .or_else(|| ctx.env.var("MAESTRO_TOKEN").map(str::to_string));
    server::check_bind_allowed(addr, token.as_deref())?;
    // The server always serves a local store, even when apiUrl is configured.
    let db = ctx.db_path();
    let maestro = Maestro::open(&db)?;
    let mut opts = ServerOptions::new(maestro);
    opts.token = token;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::invalid_argument(format!("Cannot listen on {addr}: {e}"))
            .with_details(json!({ "addr": addr.to_string() }))
            .with_suggestion(
                "Choose another address with --addr, or stop the process using this port",
            )
    })?;
    // Handle SIGTERM/SIGINT from the moment we announce the URL.
    let shutdown = shutdown_signals()?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("cannot read the bound address: {e}")))?;
    let url = format!("http://{local}");
    // One line for whoever started us (scripts read the URL when binding port 0).
    ctx.out.success(&json!({ "url": url, "addr": local.to_string(), "db": db.display().to_string() }), |s| {
        format!(
            "{}\n  store: {}\n  clients: maestro --server {url} …  or  export MAESTRO_API_URL={url}",
            s.ok(&format!("Maestro server listening on {url}")),
            db.display()
        )
    });
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
