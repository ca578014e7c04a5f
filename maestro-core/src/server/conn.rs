//! Accepting connections and serving each (HTTP/1.1, upgradable to WebSocket) in its own
//! task, with a deadline for every request's headers, a cap on open connections and a
//! graceful shutdown.

use super::{AppState, router, stopped};
use axum::Router;
use axum::http::{Request, header::UPGRADE};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, watch};

/// The soft open-file limit of this process, when it has one.
pub(crate) fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// A connection's place under the cap. An upgrade request carries it to the WebSocket
/// task, which outlives the HTTP connection: the place is free once both are done.
#[derive(Clone)]
pub(crate) struct ConnSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// Accepts connections until `shutdown` completes, then asks every connection to finish its
/// in-flight request and close, and waits for them (at most the shutdown timeout). A
/// connection upgraded to WebSocket leaves this count: its socket task closes on `stop`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    state: &AppState,
    shutdown: impl Future<Output = ()>,
) {
    let app = router(state.clone());
    let header_read_timeout = state.opts.header_read_timeout;
    // Every connection holds a receiver; all are gone once the last connection closed.
    let (open_tx, open_rx) = watch::channel(());
    let mut at_cap_since: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        // At the cap, wait for a connection to close before accepting: the kernel queues
        // new ones in the listen backlog meanwhile, and no descriptor is spent on them.
        if state.connections.available_permits() == 0 {
            if at_cap_since.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                tracing::warn!(
                    max_connections = state.opts.max_connections,
                    "at the connection limit: new connections wait until one closes"
                );
                at_cap_since = Some(Instant::now());
            }
            tokio::select! {
                _ = &mut shutdown => break,
                place = state.connections.acquire() => drop(place),
            }
        }
        let tcp = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin on the error.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        // Only this loop takes places, and one was free before the accept.
        let Ok(place) = state.connections.clone().try_acquire_owned() else {
            continue;
        };
        // Small JSON responses must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve_connection(
            tcp,
            app.clone(),
            ConnSlot(Arc::new(place)),
            state.stop.subscribe(),
            open_rx.clone(),
            header_read_timeout,
        ));
    }
    drop(listener);
    drop(open_rx);
    if tokio::time::timeout(state.opts.shutdown_timeout, open_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the shutdown timeout");
    }
}

/// The router as hyper calls it, handing the connection's slot to upgrade requests.
struct Service {
    inner: TowerToHyperService<Router>,
    slot: ConnSlot,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response =
        <TowerToHyperService<Router> as hyper::service::Service<Request<Incoming>>>::Response;
    type Error = <TowerToHyperService<Router> as hyper::service::Service<Request<Incoming>>>::Error;
    type Future =
        <TowerToHyperService<Router> as hyper::service::Service<Request<Incoming>>>::Future;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        if req.headers().contains_key(UPGRADE) {
            req.extensions_mut().insert(self.slot.clone());
        }
        self.inner.call(req)
    }
}

/// Serves one connection until it closes, or until `stop` and its in-flight request done.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    app: Router,
    slot: ConnSlot,
    mut stop: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
    header_read_timeout: Duration,
) {
    let service = Service {
        inner: TowerToHyperService::new(app),
        slot,
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    // A client gone mid-request, headers too slow, a malformed request.
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopped(&mut stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Errors that concern one connection only; the accept loop goes on at once.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}
