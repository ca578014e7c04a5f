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

use client::{Client, Mode};
use error::to_py_err;
use maestro_core::config::{Env, setting};
use maestro_core::skills::skills_dir;
use maestro_core::{Error, Maestro};
use pyo3::prelude::*;
use std::path::PathBuf;

/// The acting session (`session_id` > `MAESTRO_SESSION_ID`) and project (`project_id` >
/// `MAESTRO_PROJECT_ID` > config `projectId`), as the CLI resolves them.
fn context(
    env: &Env,
    session_id: Option<String>,
    project_id: Option<String>,
) -> Result<(Option<String>, Option<String>), Error> {
    let config = env.config()?;
    let session =
        session_id.or_else(|| env.var("MAESTRO_SESSION_ID").map(|s| s.trim().to_string()));
    let project = setting(
        project_id.as_deref(),
        env,
        "MAESTRO_PROJECT_ID",
        &config,
        "projectId",
    );
    Ok((session, project))
}

/// Opens (creating and migrating if needed) a local store and returns a client on it.
///
/// The database is resolved like the CLI's: `path` > `MAESTRO_DB` > the nearest
/// `.maestro/maestro.db` upward from the working directory > `$MAESTRO_HOME/maestro.db`
/// (default `~/.maestro`). `session_id` (default `MAESTRO_SESSION_ID`) is the acting session
/// recorded in timelines; `project_id` (default `MAESTRO_PROJECT_ID`, then config
/// `projectId`) the project operations act on, else the store's default project. Skills
/// come from `MAESTRO_SKILLS_DIR` (default `~/.agents-ui/maestro-skills`), as for the CLI.
#[pyfunction]
#[pyo3(signature = (path = None, *, session_id = None, project_id = None))]
fn open(
    py: Python<'_>,
    path: Option<PathBuf>,
    session_id: Option<String>,
    project_id: Option<String>,
) -> PyResult<Client> {
    let (m, session, project) = py
        .detach(|| {
            let env = Env::current();
            let (session, project) = context(&env, session_id, project_id)?;
            let m = Maestro::open(env.db_path(path.as_deref()))?
                .with_skills_dir(Some(skills_dir(&env)));
            Ok((m, session, project))
        })
        .map_err(|e| to_py_err(py, e))?;
    Ok(Client::new(m, Mode::Local, session, project))
}

/// Returns a client of the Maestro server at `url` (e.g. `http://127.0.0.1:3000`).
///
/// `url` defaults to `MAESTRO_API_URL`, then config `apiUrl`; `token` (sent as a bearer
/// token) to `MAESTRO_TOKEN`, then config `token`. No request is made until the first call;
/// calls retry connection failures, timeouts and 5xx answers (`MAESTRO_RETRIES`,
/// `MAESTRO_RETRY_DELAY`) and raise `UnavailableError` when the server stays unreachable.
/// Skills are read on this machine, from the same skills directory as `open()`'s.
#[pyfunction]
#[pyo3(signature = (url = None, token = None, *, session_id = None, project_id = None))]
fn connect(
    py: Python<'_>,
    url: Option<String>,
    token: Option<String>,
    session_id: Option<String>,
    project_id: Option<String>,
) -> PyResult<Client> {
    let resolved = py.detach(|| {
        let env = Env::current();
        let config = env.config()?;
        let url = setting(url.as_deref(), &env, "MAESTRO_API_URL", &config, "apiUrl").ok_or_else(
            || {
                Error::invalid_argument("No server URL given and MAESTRO_API_URL is not set")
                    .with_suggestion(
                        "Call maestro.connect('http://127.0.0.1:3000') or set MAESTRO_API_URL",
                    )
            },
        )?;
        let token = setting(token.as_deref(), &env, "MAESTRO_TOKEN", &config, "token");
        let (session, project) = context(&env, session_id, project_id)?;
        let m = Maestro::connect(&url, token.clone())?.with_skills_dir(Some(skills_dir(&env)));
        Ok((m, url, token, session, project))
    });
    let (m, url, token, session, project) = resolved.map_err(|e| to_py_err(py, e))?;
    Ok(Client::new(
        m,
        Mode::Remote { url, token },
        session,
        project,
    ))
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
