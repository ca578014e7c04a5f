//! The one tokio runtime every blocking call of the binding runs on.

use crate::error::to_py_err;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The shared multi-threaded runtime, built on first use.
pub fn rt() -> PyResult<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("maestro-py")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the maestro runtime: {e}")))
}

/// Runs a core future to completion with the GIL released, mapping the core error to the
/// `MaestroError` hierarchy.
pub fn run<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    T: Send,
    F: Future<Output = maestro_core::Result<T>> + Send,
{
    let rt = rt()?;
    py.detach(|| rt.block_on(fut)).map_err(|e| to_py_err(py, e))
}
