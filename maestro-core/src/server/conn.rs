//! Accepting connections and serving each (HTTP/1.1, upgradable to WebSocket) in its own
//! task, with a deadline for every request's headers and a graceful shutdown.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How connections are served.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    /// A request's headers must arrive within this long of the connection being ready for
    /// them: after it opens, or after the previous response on a keep-alive connection.
    pub header_read_timeout: Duration,
    /// On shutdown, how long in-flight requests get to finish.
    pub drain: Duration,
}

/// Accepts connections until `shutdown` completes, then asks every connection to finish its
/// in-flight request and close, and waits for them (at most `limits.drain`). A connection
/// upgraded to WebSocket leaves this count: its socket task closes on `stop`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    stop: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) {
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
            stop.clone(),
            open_rx.clone(),
            limits.header_read_timeout,
        ));
    }
    drop(listener);
    drop(open_rx);
    if tokio::time::timeout(limits.drain, open_tx.closed())
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
            _ = stop.wait_for(|s| *s), if !stopping => {
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
