//! `maestro.serve()`: the core's HTTP + WebSocket server, embedded in a Python process.

use crate::error::to_py_err;
use crate::runtime::rt;
use maestro_core::config::{Overrides, ServerFlags, Settings};
use maestro_core::server::{BackgroundServer, bind, check_bind_allowed, resolve_addr};
use pyo3::prelude::*;
use std::path::PathBuf;

/// A running Maestro server (the same server as `maestro serve`) on the store it was given.
/// `close()` (or leaving a `with` block) shuts it down gracefully.
#[pyclass(frozen, name = "Server", module = "maestro")]
pub struct Server {
    inner: BackgroundServer,
    db: String,
}

/// Starts a Maestro server on a local store, in the background of this process.
///
/// The store is resolved like `maestro.open()`, and served with the same settings as
/// `maestro serve`: sessions silent past the lease (`MAESTRO_LEASE_SECONDS`, config
/// `leaseSeconds`, default 120 s) are declared lost and their tasks released before the
/// next request that shows or changes tasks or sessions. `port=0` picks a free port (read it
/// from `server.url`). A non-loopback `host` needs a `token`, which clients then send as a
/// bearer token.
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
        let settings = Settings::current(Overrides {
            db: path,
            ..Default::default()
        });
        let db = settings.db_path();
        let addr = resolve_addr(host, port)?;
        let m = settings.local(settings.open_store(&db)?)?;
        let flags = ServerFlags {
            token,
            ..Default::default()
        };
        let opts = settings.server_options(m, flags)?;
        check_bind_allowed(addr, opts.token.as_deref())?;
        let listener = rt.block_on(bind(addr, opts.token.as_deref()))?;
        Ok(Server {
            inner: BackgroundServer::spawn(rt.handle(), opts, listener)?,
            db: db.display().to_string(),
        })
    });
    started.map_err(|e| to_py_err(py, e))
}

#[pymethods]
impl Server {
    /// The base URL to pass to `maestro.connect()`, e.g. `http://127.0.0.1:40123`.
    #[getter]
    fn url(&self) -> String {
        self.inner.url()
    }

    /// The port the server listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.inner.addr().port()
    }

    /// The database file it serves.
    #[getter]
    fn db(&self) -> &str {
        &self.db
    }

    /// Shuts the server down gracefully (in-flight requests finish, WebSockets are closed)
    /// and waits for it. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let rt = rt()?;
        py.detach(|| rt.block_on(self.inner.close()))
            .map_err(|e| to_py_err(py, e))
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
