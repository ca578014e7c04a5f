//! `maestro serve`: the HTTP API and the WebSocket sync endpoint over one [`Maestro`].
//!
//! The routes and frames are those of [`crate::protocol`]. Every request runs through the
//! facade (validation, then the store). One event-log tailer per server reads new events
//! once — woken by this process's commits and polling for other processes' writes — and
//! fans them out to every WebSocket subscriber through a bounded per-client buffer.
//!
//! ```no_run
//! # async fn run() -> maestro_core::Result<()> {
//! use maestro_core::{Maestro, server::{self, ServerOptions}};
//! let mut opts = ServerOptions::new(Maestro::open("maestro.db")?);
//! opts.token = Some("s3cret".into());
//! server::serve(opts, "127.0.0.1:7420".parse().unwrap()).await
//! # }
//! ```

mod api;
mod conn;
mod dashboard;
mod embed;
mod hub;
mod metrics;
mod rest;
mod ws;

pub use embed::{BackgroundServer, bind, parse_addr, resolve_addr};

use crate::error::{Error, Result};
use crate::facade::Maestro;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Default largest accepted request body (and WebSocket message).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default number of events the event log keeps.
pub const DEFAULT_RETAIN_EVENTS: usize = 100_000;

/// How the server runs. Build it with [`ServerOptions::new`] and adjust the fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The facade to serve; every request goes through it.
    pub maestro: Maestro,
    /// When set, `/api`, `/ws` and `/metrics` need `Authorization: Bearer <token>` (on
    /// `/ws` also `Sec-WebSocket-Protocol: maestro, bearer.<base64url(token)>`, as browsers
    /// send it, or `?token=`). `/health` and the dashboard's files stay open.
    pub token: Option<String>,
    /// How often the event log is polled for writes made by other processes.
    pub poll_interval: Duration,
    /// How often a WebSocket ping is sent to each client.
    pub ping_interval: Duration,
    /// A client that sends nothing (not even a pong) for this long is dropped.
    pub idle_timeout: Duration,
    /// Live events buffered per WebSocket client; a client that falls this far behind is
    /// disconnected (close code 1013) and resumes from its last seq.
    pub client_buffer: usize,
    /// A socket write that takes longer than this drops the client.
    pub write_timeout: Duration,
    /// Events kept in the log; older ones are pruned. `0` never prunes.
    pub retain_events: usize,
    /// How often the event log is pruned to `retain_events` (and idempotency records to
    /// `op_retention`).
    pub prune_interval: Duration,
    /// How long the results of idempotent requests (`Idempotency-Key`, WebSocket op ids)
    /// are kept for retries.
    pub op_retention: Duration,
    /// Largest accepted request body and WebSocket message; larger bodies get 413.
    pub max_body_bytes: usize,
    /// On shutdown, how long to wait for in-flight requests to finish and for WebSocket
    /// clients to be closed.
    pub shutdown_timeout: Duration,
    /// An HTTP connection must send a request's headers within this long of being ready
    /// for them (after it opens, or after the previous response), or it is closed: idle
    /// keep-alive connections and clients that send their headers too slowly.
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this long of the handler starting to read
    /// it, or the request gets 408 and its connection is closed: a client that stalls
    /// mid-body cannot hold a connection for good.
    pub body_read_timeout: Duration,
    /// Most connections served at once (HTTP and WebSocket). At the cap the server stops
    /// accepting, and new connections wait in the listen backlog until one closes, so it
    /// never runs out of file descriptors for its store. Default: [`default_max_connections`].
    pub max_connections: usize,
    /// Web origins (`https://maestro.example.com`) besides the server's own whose pages may
    /// change data (`POST`/`PATCH`/`PUT`/`DELETE` under `/api`) or open `/ws`: requests a
    /// browser sends with another `Origin` are refused with 403, so a page elsewhere cannot
    /// drive a server on the user's loopback. Clients that send no `Origin` (the CLI, the
    /// bindings) are not concerned.
    pub allowed_origins: Vec<String>,
}

impl ServerOptions {
    /// Defaults: no token, 100 ms polling, 20 s pings, 60 s idle timeout, 1,024 buffered
    /// events per client, 10 s write timeout, 100,000 retained events, 1 MiB bodies, 30 s
    /// to send a request's headers, 30 s to send its body, and as many connections as the
    /// descriptor limit leaves room for ([`default_max_connections`]).
    pub fn new(maestro: Maestro) -> Self {
        Self {
            maestro,
            token: None,
            poll_interval: Duration::from_millis(100),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            client_buffer: 1024,
            write_timeout: Duration::from_secs(10),
            retain_events: DEFAULT_RETAIN_EVENTS,
            prune_interval: Duration::from_secs(60),
            op_retention: crate::rules::idempotency::DEFAULT_RETENTION,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: default_max_connections(),
            allowed_origins: Vec::new(),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let positive = |name: &str, d: Duration| {
            if d.is_zero() {
                Err(Error::invalid_argument(format!("{name} must be positive")))
            } else {
                Ok(())
            }
        };
        positive("poll_interval", self.poll_interval)?;
        positive("ping_interval", self.ping_interval)?;
        positive("idle_timeout", self.idle_timeout)?;
        positive("write_timeout", self.write_timeout)?;
        positive("prune_interval", self.prune_interval)?;
        positive("op_retention", self.op_retention)?;
        positive("header_read_timeout", self.header_read_timeout)?;
        positive("body_read_timeout", self.body_read_timeout)?;
        if self.client_buffer == 0 || self.max_body_bytes == 0 || self.max_connections == 0 {
            return Err(Error::invalid_argument(
                "client_buffer, max_body_bytes and max_connections must be at least 1",
            ));
        }
        if self.max_connections > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(Error::invalid_argument(format!(
                "max_connections must be at most {}",
                tokio::sync::Semaphore::MAX_PERMITS
            )));
        }
        if let Some(bad) = self
            .allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            return Err(
                Error::invalid_argument(format!("'{bad}' is not a web origin"))
                    .with_details(serde_json::json!({ "field": "allowedOrigins", "value": bad }))
                    .with_suggestion(
                        "Give scheme, host and port only, e.g. https://maestro.example.com",
                    ),
            );
        }
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(Error::invalid_argument("The token is empty")
                .with_suggestion("Pass a non-empty --token or unset MAESTRO_TOKEN"));
        }
        Ok(())
    }
}

/// The default connection cap: the process's open-file limit (`ulimit -n`) less a reserve
/// for everything else that needs a descriptor (the store's files, agents' pipes and logs):
/// an eighth of the limit, at least 64. 1,024 without a readable limit.
pub fn default_max_connections() -> usize {
    connections_for_fd_limit(conn::open_file_limit())
}

fn connections_for_fd_limit(limit: Option<u64>) -> usize {
    // Past a million the reserve no longer matters and the count stays a sane usize.
    let limit = limit.unwrap_or(1024 + 128).min(1 << 20) as usize;
    let reserve = (limit / 8).max(64);
    limit.saturating_sub(reserve).max(16)
}

/// Refuses to serve a non-loopback address without a token.
pub fn check_bind_allowed(addr: SocketAddr, token: Option<&str>) -> Result<()> {
    let has_token = token.is_some_and(|t| !t.trim().is_empty());
    if !addr.ip().is_loopback() && !has_token {
        return Err(Error::invalid_argument(format!(
            "Refusing to serve {addr} without a token: anyone on the network could change the data"
        ))
        .with_details(serde_json::json!({ "addr": addr.to_string() }))
        .with_suggestion(
            "Pass --token <secret> (or set MAESTRO_TOKEN), or bind a loopback address such as 127.0.0.1",
        ));
    }
    Ok(())
}

/// State shared by every handler and connection.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub maestro: Maestro,
    pub opts: ServerOptions,
    pub hub: hub::Hub,
    pub metrics: metrics::Metrics,
    pub started: Instant,
    /// Flips to `true` when the server shuts down.
    pub stop: watch::Sender<bool>,
    /// One permit per open connection, `opts.max_connections` in all.
    pub connections: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The complete router (REST, WebSocket, health, metrics) over `state`.
fn router(state: AppState) -> Router {
    rest::routes()
        .route("/ws", axum::routing::get(ws::upgrade))
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Runs the server on an already bound listener until `shutdown` completes, then finishes
/// in-flight requests, closes WebSockets with 1001 (going away) and returns.
pub async fn launch_with_listener(
    opts: ServerOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    opts.validate()?;
    let maestro = opts.maestro.clone();
    // Live delivery starts after the current end of the log; older events are replayed.
    let latest = maestro.latest_seq().await?;
    let (stop, _) = watch::channel(false);
    let connections = Arc::new(tokio::sync::Semaphore::new(opts.max_connections));
    let state = AppState(Arc::new(Shared {
        hub: hub::Hub::new(latest, opts.client_buffer),
        metrics: metrics::Metrics::default(),
        maestro,
        opts,
        started: Instant::now(),
        stop,
        connections,
    }));
    let tailer = tokio::spawn(hub::run_tailer(state.clone(), latest));
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("cannot read the listener address: {e}")))?;
    tracing::info!(
        %addr,
        db = %state.maestro.location(),
        auth = state.opts.token.is_some(),
        "maestro server listening"
    );
    let stop = state.stop.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests and closing websockets");
        stop.send_replace(true);
    };
    conn::accept_loop(listener, &state, signal).await;
    // Whatever ended the accept loop, make sure every connection task is told to stop.
    state.stop.send_replace(true);
    ws::wait_closed(&state, state.opts.shutdown_timeout).await;
    let _ = tailer.await;
    tracing::info!("server stopped");
    Ok(())
}

/// Binds `addr` (refusing a non-loopback address without a token) and serves until
/// SIGTERM or SIGINT, then shuts down gracefully.
pub async fn serve(opts: ServerOptions, addr: SocketAddr) -> Result<()> {
    check_bind_allowed(addr, opts.token.as_deref())?;
    opts.validate()?;
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        Error::invalid_argument(format!("Cannot listen on {addr}: {e}"))
            .with_details(serde_json::json!({ "addr": addr.to_string() }))
            .with_suggestion("Choose another port with --port, or stop the process using it")
    })?;
    launch_with_listener(opts, listener, shutdown_signal()).await
}

/// Completes once the server is stopping.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_a_token() {
        let lo: SocketAddr = "127.0.0.1:7420".parse().unwrap();
        let lo6: SocketAddr = "[::1]:7420".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:7420".parse().unwrap();
        assert!(check_bind_allowed(lo, None).is_ok());
        assert!(check_bind_allowed(lo6, None).is_ok());
        let e = check_bind_allowed(any, None).unwrap_err();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
        assert!(e.suggestion().unwrap().contains("--token"));
        assert!(check_bind_allowed(any, Some("  ")).is_err());
        assert!(check_bind_allowed(any, Some("t")).is_ok());
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_rest() {
        assert_eq!(connections_for_fd_limit(Some(256)), 192);
        assert_eq!(connections_for_fd_limit(Some(1024)), 896);
        assert_eq!(connections_for_fd_limit(Some(65_536)), 57_344);
        assert_eq!(connections_for_fd_limit(Some(20)), 16);
        assert_eq!(connections_for_fd_limit(None), 1008);
        assert_eq!(
            connections_for_fd_limit(Some(u64::MAX)),
            (1 << 20) - (1 << 17)
        );
        assert!(default_max_connections() >= 16);
        let mut opts = ServerOptions::new(Maestro::in_memory().unwrap());
        assert!(opts.validate().is_ok());
        for bad in [0, usize::MAX] {
            opts.max_connections = bad;
            let e = opts.validate().unwrap_err();
            assert_eq!(e.code(), crate::Code::InvalidArgument);
            assert!(e.message().contains("max_connections"), "{}", e.message());
        }
    }
}
