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
use maestro_core::{Error, Maestro, SqliteStore};
use napi_derive::napi;
use options::ClientOptions;
use std::path::PathBuf;
use std::sync::Arc;

/// The database a local client opens: the explicit path, else `MAESTRO_DB`.
fn resolve_db(path: Option<String>) -> maestro_core::Result<PathBuf> {
    path.filter(|p| !p.trim().is_empty())
        .or_else(|| {
            std::env::var("MAESTRO_DB")
                .ok()
                .filter(|p| !p.trim().is_empty())
        })
        .map(PathBuf::from)
        .ok_or_else(|| {
            Error::new(
                maestro_core::Code::InvalidArgument,
                "No database given and MAESTRO_DB is not set",
            )
            .with_suggestion("Pass a path: open('.maestro/maestro.db'), or set MAESTRO_DB")
        })
}

/// Opens (creating and migrating if needed) a local SQLite store.
#[napi]
pub async fn open(path: Option<String>, options: Option<ClientOptions>) -> napi::Result<Client> {
    let open =
        move || -> maestro_core::Result<SqliteStore> { SqliteStore::open(resolve_db(path)?) };
    let store = tokio::task::spawn_blocking(open)
        .await
        .map_err(|e| error::to_napi(Error::internal(format!("open failed: {e}"))))?
        .map_err(error::to_napi)?;
    let maestro = Maestro::new(Arc::new(store.clone()));
    Ok(Client::new(
        maestro,
        Backend::Local(store),
        options.unwrap_or_default(),
    ))
}
