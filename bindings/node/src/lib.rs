//! Node.js binding of Maestro (npm package `maestro-sdk`).
//!
//! A thin layer over [`maestro_core::Maestro`]: `open` and `connect` return one client
//! class whose methods return Promises resolving with the JSON shapes of the core's types.
//! Store calls run on the tokio runtime; only short reads that need no waiting complete on the
//! JavaScript thread (see `client::now_or_later`). `index.js` wraps
//! the native module: it decodes errors and makes subscriptions async iterators.

mod client;
mod error;
mod options;
mod server;
mod subscription;

use client::Client;

// The exports, also reachable from Rust (napi registers them with Node at load time).
use maestro_core::config::{Overrides, Settings};
use maestro_core::{Error, Maestro};
use napi_derive::napi;
use options::ClientOptions;
pub use server::{ServeOptions, Server, serve};
use std::path::PathBuf;

/// Runs blocking work (file system, SQLite open and migrations) off the JavaScript thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> maestro_core::Result<T> + Send + 'static,
) -> napi::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error::to_napi(Error::internal(format!("background task failed: {e}"))))?
        .map_err(error::to_napi)
}

/// The CLI's settings with the explicit arguments of `open`/`connect`/`serve` over them.
pub(crate) fn settings(
    db: Option<String>,
    server: Option<String>,
    options: ClientOptions,
) -> Settings {
    let given = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    Settings::current(Overrides {
        db: given(db).map(PathBuf::from),
        server: given(server),
        token: options.token,
        project: options.project_id,
        session: options.session_id,
    })
}

/// A client with the session (option > `MAESTRO_SESSION_ID`) and project (option >
/// `MAESTRO_PROJECT_ID` > config `projectId`) of `s`.
fn client(s: &Settings, m: Maestro) -> maestro_core::Result<Client> {
    Ok(Client::new(m, s.session_id(), s.project()?))
}

/// Opens (creating and migrating if needed) a local SQLite store: `path`, else `MAESTRO_DB`,
/// else the nearest `.maestro/maestro.db` upward, else `$MAESTRO_HOME/maestro.db`. The rest
/// is the CLI's settings, resolved by the same core code: the session lease
/// (`MAESTRO_LEASE_SECONDS`, config `leaseSeconds`, default 120 s), the skills directory
/// (`MAESTRO_SKILLS_DIR`, else `~/.agents-ui/maestro-skills`, over the bundled skills) and the
/// agent profiles a spawn request may name (config `agents` and the built-in ones).
#[napi(ts_return_type = "Promise<NativeClient>")]
pub async fn open(path: Option<String>, options: Option<ClientOptions>) -> napi::Result<Client> {
    let s = settings(path, None, options.unwrap_or_default());
    blocking(move || client(&s, s.local(s.open_store(&s.db_path())?)?)).await
}

/// A client of the Maestro server at `url` (default `MAESTRO_API_URL`, then config `apiUrl`),
/// e.g. `http://127.0.0.1:3000`, sending the token of the options (default `MAESTRO_TOKEN`,
/// then config `token`). Calls are retried per `MAESTRO_RETRIES` / `MAESTRO_RETRY_DELAY`;
/// nothing is sent until the first call. The server keeps the leases.
#[napi(ts_return_type = "Promise<NativeClient>")]
pub async fn connect(url: Option<String>, options: Option<ClientOptions>) -> napi::Result<Client> {
    let s = settings(None, url, options.unwrap_or_default());
    blocking(move || {
        let url = s.server_url()?.ok_or_else(|| {
            Error::invalid_argument("No server URL given and MAESTRO_API_URL is not set")
                .with_suggestion("Call connect('http://127.0.0.1:3000') or set MAESTRO_API_URL")
        })?;
        client(&s, s.remote(&url)?)
    })
    .await
}
