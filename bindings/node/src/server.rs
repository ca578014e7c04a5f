//! `serve()`: the core's HTTP + WebSocket server (the one `maestro serve` runs), embedded in
//! a Node process. It runs on the addon's tokio runtime, never on the JavaScript thread.

use crate::error::{OrNapi, to_napi};
use maestro_core::config::Env;
use maestro_core::server::{ServerOptions, check_bind_allowed, launch_with_listener};
use maestro_core::{Error, Maestro};
use napi_derive::napi;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Options of `serve`.
#[napi(object)]
#[derive(Default)]
pub struct ServeOptions {
    /// The address to listen on (default `127.0.0.1`); a non-loopback one needs a token.
    pub host: Option<String>,
    /// The port (default 0: a free port, read it from `server.url`).
    pub port: Option<u16>,
    /// Clients must send `Authorization: Bearer <token>` (default `MAESTRO_TOKEN`).
    pub token: Option<String>,
}

/// A running Maestro server on a local store; `close()` shuts it down gracefully.
#[napi]
pub struct Server {
    addr: SocketAddr,
    db: String,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<maestro_core::Result<()>>>>,
}

/// Starts a Maestro server on a local store (resolved like `open`) in this process.
#[napi(ts_return_type = "Promise<Server>")]
pub async fn serve(path: Option<String>, options: Option<ServeOptions>) -> napi::Result<Server> {
    let o = options.unwrap_or_default();
    let host = o.host.unwrap_or_else(|| "127.0.0.1".to_string());
    let port = o.port.unwrap_or(0);
    let (maestro, db, addr, token) = crate::blocking(move || {
        let env = Env::current();
        let token = o
            .token
            .filter(|t| !t.trim().is_empty())
            .or_else(|| env.var("MAESTRO_TOKEN").map(str::to_string));
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error::invalid_argument(format!("Cannot resolve the address {host}:{port}"))
                    .with_suggestion("Pass host: '127.0.0.1' or another address of this machine")
            })?;
        check_bind_allowed(addr, token.as_deref())?;
        let db = env.db_path(
            path.as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(Path::new),
        );
        Ok((Maestro::open(&db)?, db, addr, token))
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| {
            Error::invalid_argument(format!("Cannot listen on {addr}: {e}"))
                .with_suggestion("Choose another port, or port: 0 for a free one")
        })
        .or_napi()?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("cannot read the listener address: {e}")))
        .or_napi()?;
    let mut opts = ServerOptions::new(maestro);
    opts.token = token;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(launch_with_listener(opts, listener, async move {
        let _ = rx.await;
    }));
    Ok(Server {
        addr,
        db: db.display().to_string(),
        shutdown: Mutex::new(Some(tx)),
        task: Mutex::new(Some(task)),
    })
}

impl Server {
    fn signal_shutdown(&self) {
        let tx = self
            .shutdown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
    }
}

#[napi]
impl Server {
    /// The base URL to pass to `connect()`, e.g. `http://127.0.0.1:40123`.
    #[napi(getter)]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port the server listens on.
    #[napi(getter)]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The database file it serves.
    #[napi(getter)]
    pub fn db(&self) -> String {
        self.db.clone()
    }

    /// Shuts the server down gracefully (in-flight requests finish, WebSockets are closed)
    /// and waits for it. Calling it again does nothing.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.signal_shutdown();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(task) = task else { return Ok(()) };
        match task.await {
            Ok(result) => result.or_napi(),
            Err(e) => Err(to_napi(Error::internal(format!(
                "the server task failed: {e}"
            )))),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}
