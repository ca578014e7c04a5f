//! Local store calls without the trip to the blocking pool.
//!
//! The core's SQLite store runs its blocking work on `spawn_blocking` when it is called on a
//! multi-threaded runtime, and inline on a current-thread one. Called from a `#[napi] async
//! fn` (on the addon's multi-threaded runtime) that costs two more thread handoffs per call:
//! JavaScript → runtime worker → blocking pool → worker → JavaScript. Here the worker instead
//! lends itself to the call with `block_in_place` (the runtime moves its other tasks to
//! another thread meanwhile) and runs the future on a current-thread runtime of its own, so
//! the SQLite work runs inline: JavaScript → worker → JavaScript. The JavaScript thread is
//! never involved either way.

use maestro_core::{Error, Result};
use std::future::Future;
use tokio::runtime::{Builder, Runtime};

thread_local! {
    static RUNTIME: std::io::Result<Runtime> = Builder::new_current_thread().enable_all().build();
}

/// Runs `call` to completion on this thread. Must be called from a worker of a
/// multi-threaded tokio runtime (every `#[napi] async fn` is).
pub fn run<T>(call: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::task::block_in_place(|| {
        RUNTIME.with(|rt| match rt {
            Ok(rt) => rt.block_on(call),
            Err(e) => Err(Error::internal(format!(
                "cannot start a runtime for the store: {e}"
            ))),
        })
    })
}
