//! `serve()`: the core's HTTP + WebSocket server (the one `maestro serve` runs), embedded in
//! a Node process. It runs on the addon's tokio runtime, never on the JavaScript thread.

use crate::error::OrNapi;
use maestro_core::config::ServerFlags;
use maestro_core::server::{BackgroundServer, bind, check_bind_allowed, resolve_addr};
use napi_derive::napi;

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
    inner: BackgroundServer,
    db: String,
}

/// Starts a Maestro server on a local store (resolved like `open`, and kept with the same
/// settings: sessions silent past the lease are declared lost, and their tasks released,
/// before the next request that shows or changes tasks or sessions) in this process.
#[napi(ts_return_type = "Promise<Server>")]
pub async fn serve(path: Option<String>, options: Option<ServeOptions>) -> napi::Result<Server> {
    let o = options.unwrap_or_default();
    let host = o.host.unwrap_or_else(|| "127.0.0.1".to_string());
    let port = o.port.unwrap_or(0);
    let s = crate::settings(path, None, Default::default());
    let (opts, db, addr) = crate::blocking(move || {
        let addr = resolve_addr(&host, port)?;
        let db = s.db_path();
        let m = s.local(s.open_store(&db)?)?;
        let flags = ServerFlags {
            token: o.token,
            ..Default::default()
        };
        let opts = s.server_options(m, flags)?;
        check_bind_allowed(addr, opts.token.as_deref())?;
        Ok((opts, db, addr))
    })
    .await?;
    let listener = bind(addr, opts.token.as_deref()).await.or_napi()?;
    let inner =
        BackgroundServer::spawn(&tokio::runtime::Handle::current(), opts, listener).or_napi()?;
    Ok(Server {
        inner,
        db: db.display().to_string(),
    })
}

#[napi]
impl Server {
    /// The base URL to pass to `connect()`, e.g. `http://127.0.0.1:40123`.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.inner.url()
    }

    /// The port the server listens on.
    #[napi(getter)]
    pub fn port(&self) -> u16 {
        self.inner.addr().port()
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
        self.inner.close().await.or_napi()
    }
}
