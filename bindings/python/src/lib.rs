//! `maestro._native`: the pyo3 extension behind the `maestro` Python package.
//!
//! A thin layer over [`maestro_core::Maestro`]: it converts arguments, runs the core
//! operation on one shared tokio runtime with the GIL released, and converts the result.

mod client;
mod convert;
mod error;
mod runtime;
mod server;
mod subscription;
mod types;

use client::Client;
use error::to_py_err;
use maestro_core::config::{Overrides, Settings};
use maestro_core::{Error, Maestro};
use pyo3::prelude::*;
use std::path::PathBuf;

/// The client the settings name: the acting session (`session_id` > `MAESTRO_SESSION_ID`) and
/// project (`project_id` > `MAESTRO_PROJECT_ID` > config `projectId`) resolved like the CLI's.
fn client(s: &Settings, m: Maestro) -> Result<Client, Error> {
    Ok(Client::new(m, s.session_id(), s.project()?))
}

/// Opens (creating and migrating if needed) a local store and returns a client on it.
///
/// Everything is resolved like the CLI's settings: the database is `path` > `MAESTRO_DB` >
/// the nearest `.maestro/maestro.db` upward from the working directory >
/// `$MAESTRO_HOME/maestro.db` (default `~/.maestro`); `session_id` (default
/// `MAESTRO_SESSION_ID`) is the acting session recorded in timelines; `project_id` (default
/// `MAESTRO_PROJECT_ID`, then config `projectId`) the project operations act on, else the
/// store's default project. The session lease (`MAESTRO_LEASE_SECONDS`, config
/// `leaseSeconds`, default 120 s), the skills directory (`MAESTRO_SKILLS_DIR`) and the agent
/// profiles a spawn request may name (config `agents`) are the CLI's too.
#[pyfunction]
#[pyo3(signature = (path = None, *, session_id = None, project_id = None))]
fn open(
    py: Python<'_>,
    path: Option<PathBuf>,
    session_id: Option<String>,
    project_id: Option<String>,
) -> PyResult<Client> {
    py.detach(|| {
        let s = Settings::current(Overrides {
            db: path,
            session: session_id,
            project: project_id,
            ..Default::default()
        });
        client(&s, s.local(s.open_store(&s.db_path())?)?)
    })
    .map_err(|e| to_py_err(py, e))
}

/// Returns a client of the Maestro server at `url` (e.g. `http://127.0.0.1:3000`).
///
/// `url` defaults to `MAESTRO_API_URL`, then config `apiUrl`; `token` (sent as a bearer
/// token) to `MAESTRO_TOKEN`, then config `token`; session and project as for `open()`. No
/// request is made until the first call; calls retry connection failures, timeouts and 5xx
/// answers (`MAESTRO_RETRIES`, `MAESTRO_RETRY_DELAY`) and raise `UnavailableError` when the
/// server stays unreachable. The server keeps the leases. Skills are read on this machine,
/// from the same skills directory as `open()`'s.
#[pyfunction]
#[pyo3(signature = (url = None, token = None, *, session_id = None, project_id = None))]
fn connect(
    py: Python<'_>,
    url: Option<String>,
    token: Option<String>,
    session_id: Option<String>,
    project_id: Option<String>,
) -> PyResult<Client> {
    py.detach(|| {
        let s = Settings::current(Overrides {
            server: url,
            token,
            session: session_id,
            project: project_id,
            ..Default::default()
        });
        let url = s.server_url()?.ok_or_else(|| {
            Error::invalid_argument("No server URL given and MAESTRO_API_URL is not set")
                .with_suggestion(
                    "Call maestro.connect('http://127.0.0.1:3000') or set MAESTRO_API_URL",
                )
        })?;
        client(&s, s.remote(&url)?)
    })
    .map_err(|e| to_py_err(py, e))
}

/// Benchmark support: calls the Rust facade's `get_task` `n` times exactly as the binding
/// does (on the shared runtime, GIL released) without any Python conversion, and returns the
/// elapsed seconds. `bench/bench.py` compares it with `n` calls of `Client.get_task`.
#[pyfunction]
fn _bench_facade_get_task(py: Python<'_>, client: &Client, id: String, n: u32) -> PyResult<f64> {
    let rt = runtime::rt()?;
    let m = client.maestro();
    let elapsed = py.detach(|| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            rt.block_on(m.get_task(&id))?;
        }
        Ok(start.elapsed().as_secs_f64())
    });
    elapsed.map_err(|e: Error| to_py_err(py, e))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(m)?;
    types::register(m)?;
    m.add_class::<Client>()?;
    m.add_class::<subscription::Subscription>()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_class::<server::Server>()?;
    m.add_function(wrap_pyfunction!(_bench_facade_get_task, m)?)?;
    m.add_function(wrap_pyfunction!(server::serve, m)?)?;
    Ok(())
}
