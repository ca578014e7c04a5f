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
use maestro_core::{Error, Maestro};
use pyo3::prelude::*;
use std::path::PathBuf;

/// The database file a local client opens: `path`, else `MAESTRO_DB`.
fn resolve_db(path: Option<PathBuf>) -> Result<PathBuf, Error> {
    if let Some(p) = path {
        return Ok(p);
    }
    match std::env::var_os("MAESTRO_DB").filter(|v| !v.is_empty()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => Err(
            Error::invalid_argument("No database given and MAESTRO_DB is not set")
                .with_suggestion("Call maestro.open('path/to/maestro.db') or set MAESTRO_DB"),
        ),
    }
}

/// Opens (creating and migrating if needed) a local store and returns a client on it.
///
/// The database is `path` if given, else `MAESTRO_DB`. `session_id` (default
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
        .detach(|| resolve_db(path).and_then(Maestro::open))
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
