//! `maestro.serve()`: the core's HTTP + WebSocket server, embedded in a Python process.

use crate::error::to_py_err;
use crate::runtime::rt;
use maestro_core::config::Env;
use maestro_core::server::{ServerOptions, check_bind_allowed, launch_with_listener};
use maestro_core::{Error, Maestro};
use pyo3::prelude::*;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running Maestro server (the same server as `maestro serve`) on the store it was given.
/// `close()` (or leaving a `with` block) shuts it down gracefully.
#[pyclass(frozen, name = "Server", module = "maestro")]
pub struct Server {
    addr: SocketAddr,
    db: String,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<maestro_core::Result<()>>>>,
}

/// Starts a Maestro server on a local store, in the background of this process.
///
/// The store is resolved like `maestro.open()`. `port=0` picks a free port (read it from
/// `server.url`). A non-loopback `host` needs a `token`, which clients then send as a bearer
/// token.
#[pyfunction]
#[pyo3(signature = (path = None, *, host = "127.0.0.1", port = 0, token = None))]
pub fn serve(
    py: Python<'_>,
    path: Option<PathBuf>,
    host: &str,
    port: u16,
    token: Option<String>,
) -> PyResult<Server> {
    let rt = rt()?;
    let started = py.detach(|| -> maestro_core::Result<Server> {
        let db = Env::current().db_path(path.as_deref());
        let addr = (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error::invalid_argument(format!("Cannot resolve the address {host}:{port}"))
                    .with_suggestion("Pass host='127.0.0.1' or another address of this machine")
            })?;
        check_bind_allowed(addr, token.as_deref())?;
        let m = Maestro::open(&db)?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| {
                Error::invalid_argument(format!("Cannot listen on {addr}: {e}"))
                    .with_suggestion("Choose another port, or port=0 for a free one")
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("cannot read the listener address: {e}")))?;
        let mut opts = ServerOptions::new(m);
        opts.token = token;
        let (tx, rx) = oneshot::channel::<()>();
        let task = rt.spawn(launch_with_listener(opts, listener, async move {
            let _ = rx.await;
        }));
        Ok(Server {
            addr,
            db: db.display().to_string(),
            shutdown: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
        })
    });
    started.map_err(|e| to_py_err(py, e))
}

impl Server {
    fn signal_shutdown(&self) {
        if let Some(tx) = self
            .shutdown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
    }
}

#[pymethods]
impl Server {
    /// The base URL to pass to `maestro.connect()`, e.g. `http://127.0.0.1:40123`.
    #[getter]
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port the server listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The database file it serves.
    #[getter]
    fn db(&self) -> &str {
        &self.db
    }

    /// Shuts the server down gracefully (in-flight requests finish, WebSockets are closed)
    /// and waits for it. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.signal_shutdown();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(task) = task else { return Ok(()) };
        let rt = rt()?;
        let ended = py.detach(|| rt.block_on(task));
        match ended {
            Ok(result) => result.map_err(|e| to_py_err(py, e)),
            Err(e) => Err(to_py_err(
                py,
                Error::internal(format!("the server task failed: {e}")),
            )),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("Server(url='{}', db='{}')", self.url(), self.db)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}
