//! Accepting connections and serving each (HTTP/1.1, upgradable to WebSocket) in its own
//! task, with a deadline for every request's headers and a graceful shutdown.

use super::{AppState, router, stopped};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

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
    tokio::pin!(shutdown);
    loop {
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
        // Small JSON responses must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve_connection(
            tcp,
            app.clone(),
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

/// Serves one connection until it closes, or until `stop` and its in-flight request done.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    app: Router,
    mut stop: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
    header_read_timeout: Duration,
) {
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app))
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
