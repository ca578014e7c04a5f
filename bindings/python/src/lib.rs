//! `maestro._native`: the pyo3 extension behind the `maestro` Python package.
//!
//! A thin layer over [`maestro_core::Maestro`]: it converts arguments, runs the core
//! operation on one shared tokio runtime with the GIL released, and converts the result.

mod client;
mod convert;
mod error;
mod runtime;
mod subscription;
mod types;

use client::{Client, Mode};
use error::to_py_err;
use maestro_core::Maestro;
use maestro_core::config::Env;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Opens (creating and migrating if needed) a local store and returns a client on it.
///
/// The database is resolved like the CLI's: `path` > `MAESTRO_DB` > the nearest
/// `.maestro/maestro.db` upward from the working directory > `$MAESTRO_HOME/maestro.db`
/// (default `~/.maestro`). `session_id` (default
/// `MAESTRO_SESSION_ID`) is the acting session recorded in timelines; `project_id` (default
/// `MAESTRO_PROJECT_ID`) the project operations act on, else the store's default project.
#[pyfunction]
#[pyo3(signature = (path = None, *, session_id = None, project_id = None))]
fn open(
    py: Python<'_>,
    path: Option<PathBuf>,
    session_id: Option<String>,
    project_id: Option<String>,
) -> PyResult<Client> {
    let m = py
        .detach(|| Maestro::open(Env::current().db_path(path.as_deref())))
        .map_err(|e| to_py_err(py, e))?;
    Ok(Client::new(m, Mode::Local, session_id, project_id))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(m)?;
    types::register(m)?;
    m.add_class::<Client>()?;
    m.add_class::<subscription::Subscription>()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    Ok(())
}
