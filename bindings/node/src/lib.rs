//! Node.js binding of Maestro (npm package `maestro-sdk`).
//!
//! A thin layer over [`maestro_core::Maestro`]: `open` and `connect` return one client
//! class whose methods return Promises (the store runs on the tokio runtime, never on the
//! JavaScript thread) resolving with the JSON shapes of the core's types. `index.js` wraps
//! the native module: it decodes errors and makes subscriptions async iterators.

mod client;
mod error;
mod options;
mod subscription;

use client::{Backend, Client};
use maestro_core::config::{self, Env};
use maestro_core::{Error, Maestro, SqliteStore};
use napi_derive::napi;
use options::ClientOptions;
use std::path::Path;
use std::sync::Arc;

/// The acting session and project: option > environment > config files (project only).
fn context(
    env: &Env,
    options: &ClientOptions,
) -> maestro_core::Result<(Option<String>, Option<String>)> {
    let session = options
        .session_id
        .clone()
        .or_else(|| env.var("MAESTRO_SESSION_ID").map(|s| s.trim().to_string()));
    let project = config::setting(
        options.project_id.as_deref(),
        env,
        "MAESTRO_PROJECT_ID",
        &env.config()?,
        "projectId",
    );
    Ok((session, project))
}

/// Runs blocking work (file system, SQLite open and migrations) off the JavaScript thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> maestro_core::Result<T> + Send + 'static,
) -> napi::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error::to_napi(Error::internal(format!("background task failed: {e}"))))?
        .map_err(error::to_napi)
}

/// Opens (creating and migrating if needed) a local SQLite store: `path`, else `MAESTRO_DB`,
/// else the nearest `.maestro/maestro.db` upward, else `$MAESTRO_HOME/maestro.db`.
#[napi(ts_return_type = "Promise<NativeClient>")]
pub async fn open(path: Option<String>, options: Option<ClientOptions>) -> napi::Result<Client> {
    let options = options.unwrap_or_default();
    let (store, session, project) = blocking(move || {
        let env = Env::current();
        let db = env.db_path(
            path.as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(Path::new),
        );
        let (session, project) = context(&env, &options)?;
        Ok((SqliteStore::open(db)?, session, project))
    })
    .await?;
    let maestro = Maestro::new(Arc::new(store.clone()));
    Ok(Client::new(
        maestro,
        Backend::Local(store),
        session,
        project,
    ))
}
