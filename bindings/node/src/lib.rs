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

use client::{Backend, Client};

// The exports, also reachable from Rust (napi registers them with Node at load time).
use maestro_core::config::{self, Env};
use maestro_core::{Error, Maestro, skills};
use napi_derive::napi;
use options::ClientOptions;
pub use server::{ServeOptions, Server, serve};
use std::path::Path;

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
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> maestro_core::Result<T> + Send + 'static,
) -> napi::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error::to_napi(Error::internal(format!("background task failed: {e}"))))?
        .map_err(error::to_napi)
}

/// Opens (creating and migrating if needed) a local SQLite store: `path`, else `MAESTRO_DB`,
/// else the nearest `.maestro/maestro.db` upward, else `$MAESTRO_HOME/maestro.db`. Skills come
/// from the CLI's skills directory (`MAESTRO_SKILLS_DIR`, else `~/.agents-ui/maestro-skills`)
/// over the bundled ones.
#[napi(ts_return_type = "Promise<NativeClient>")]
pub async fn open(path: Option<String>, options: Option<ClientOptions>) -> napi::Result<Client> {
    let options = options.unwrap_or_default();
    let (maestro, session, project) = blocking(move || {
        let env = Env::current();
        let db = env.db_path(
            path.as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(Path::new),
        );
        let (session, project) = context(&env, &options)?;
        let maestro = Maestro::open(db)?.with_skills_dir(Some(skills::skills_dir(&env)));
        Ok((maestro, session, project))
    })
    .await?;
    Ok(Client::new(maestro, Backend::Local, session, project))
}

/// A client of the Maestro server at `url` (default `MAESTRO_API_URL`, then config `apiUrl`),
/// e.g. `http://127.0.0.1:3000`, sending the token of the options (default `MAESTRO_TOKEN`,
/// then config `token`). Calls are retried per `MAESTRO_RETRIES` / `MAESTRO_RETRY_DELAY`;
/// nothing is sent until the first call.
#[napi(ts_return_type = "Promise<NativeClient>")]
pub async fn connect(url: Option<String>, options: Option<ClientOptions>) -> napi::Result<Client> {
    let options = options.unwrap_or_default();
    let (maestro, token, session, project) = blocking(move || {
        let env = Env::current();
        let cfg = env.config()?;
        let url = config::setting(url.as_deref(), &env, "MAESTRO_API_URL", &cfg, "apiUrl")
            .ok_or_else(|| {
                Error::invalid_argument("No server URL given and MAESTRO_API_URL is not set")
                    .with_suggestion("Call connect('http://127.0.0.1:3000') or set MAESTRO_API_URL")
            })?;
        let token = config::setting(
            options.token.as_deref(),
            &env,
            "MAESTRO_TOKEN",
            &cfg,
            "token",
        );
        let (session, project) = context(&env, &options)?;
        Ok((
            Maestro::connect(&url, token.clone())?.with_skills_dir(Some(skills::skills_dir(&env))),
            token,
            session,
            project,
        ))
    })
    .await?;
    let url = maestro.location();
    Ok(Client::new(
        maestro,
        Backend::Remote { url, token },
        session,
        project,
    ))
}
