//! Starting the server from a host program: address parsing, binding, and a server running
//! in the background of the process (what the CLI and the bindings' `serve()` use).

use super::{ServerOptions, check_bind_allowed, launch_with_listener};
use crate::error::{Error, Result};
use serde_json::json;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Resolves `host` and `port` (port 0: any free port) to one address.
pub fn resolve_addr(host: &str, port: u16) -> Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            Error::invalid_argument(format!("Cannot resolve the address {host}:{port}"))
                .with_details(json!({ "host": host, "port": port }))
                .with_suggestion("Use 127.0.0.1 or another address of this machine")
        })
}

/// Parses `HOST:PORT` (a name such as `localhost:3000` is resolved).
pub fn parse_addr(text: &str) -> Result<SocketAddr> {
    let bad = || {
        Error::invalid_argument(format!("'{text}' is not a HOST:PORT address"))
            .with_details(json!({ "addr": text }))
            .with_suggestion("Use e.g. 127.0.0.1:3000 (port 0 picks a free port)")
    };
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    resolve_addr(host.trim_start_matches('[').trim_end_matches(']'), port)
}

/// Binds `addr` for the server, refusing a non-loopback address without a token.
pub async fn bind(addr: SocketAddr, token: Option<&str>) -> Result<TcpListener> {
    check_bind_allowed(addr, token)?;
    TcpListener::bind(addr).await.map_err(|e| {
        Error::invalid_argument(format!("Cannot listen on {addr}: {e}"))
            .with_details(json!({ "addr": addr.to_string() }))
            .with_suggestion(
                "Choose another address or port (0 picks a free one), or stop the process using it",
            )
    })
}

/// A server running in the background of this process until closed or dropped.
pub struct BackgroundServer {
    addr: SocketAddr,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<Result<()>>>>,
}

impl BackgroundServer {
    /// Starts serving `listener` on the runtime behind `runtime`.
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        opts: ServerOptions,
        listener: TcpListener,
    ) -> Result<Self> {
        opts.validate()?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("cannot read the listener address: {e}")))?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = runtime.spawn(launch_with_listener(opts, listener, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            shutdown: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients connect to, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Asks the server to stop (in-flight requests finish, WebSockets close with 1001).
    pub fn signal_shutdown(&self) {
        if let Some(tx) = self
            .shutdown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
    }

    /// Stops the server and waits for it; calling it again does nothing.
    pub async fn close(&self) -> Result<()> {
        self.signal_shutdown();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        match task {
            None => Ok(()),
            Some(task) => task
                .await
                .map_err(|e| Error::internal(format!("the server task failed: {e}")))?,
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_resolve() {
        assert_eq!(parse_addr("127.0.0.1:3000").unwrap().port(), 3000);
        assert!(parse_addr("localhost:0").unwrap().ip().is_loopback());
        assert_eq!(parse_addr("[::1]:8080").unwrap().port(), 8080);
        assert_eq!(
            parse_addr("nonsense").unwrap_err().code(),
            crate::Code::InvalidArgument
        );
        assert!(parse_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn a_background_server_serves_and_closes() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = bind(parse_addr("127.0.0.1:0").unwrap(), None)
                .await
                .unwrap();
            let opts = ServerOptions::new(crate::Maestro::in_memory().unwrap());
            let server =
                BackgroundServer::spawn(&tokio::runtime::Handle::current(), opts, listener)
                    .unwrap();
            let stream = tokio::net::TcpStream::connect(server.addr()).await;
            assert!(stream.is_ok());
            server.close().await.unwrap();
            server.close().await.unwrap();
            assert!(tokio::net::TcpStream::connect(server.addr()).await.is_err());
        });
        assert!(bind_refuses_open_address());
    }

    fn bind_refuses_open_address() -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(bind("0.0.0.0:0".parse().unwrap(), None))
            .is_err()
    }
}
