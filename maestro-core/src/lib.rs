//! # maestro-core
//!
//! The library behind Maestro, an orchestration system for LLM coding agents: the domain
//! model (projects, tasks with a dependency DAG, subtasks, timelines, sessions), the one
//! error type, the storage contract with its embedded SQLite implementation and durable
//! event log, and the [`Maestro`] facade that the CLI, the server and the language bindings
//! all call.
//!
//! ```
//! # tokio_test_block_on(async {
//! use maestro_core::{Maestro, NewTask, OpContext};
//! let m = Maestro::in_memory()?;
//! let op = OpContext::default();
//! m.create_project(&op, "demo", true).await?;
//! let a = m.create_task(&op, NewTask { title: "Write the parser".into(), ..Default::default() }).await?;
//! assert_eq!(m.ready_tasks(None, None).await?[0].id, a.id);
//! # Ok::<(), maestro_core::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

pub mod config;
pub mod dag;
pub mod error;
pub mod facade;
pub mod host;
pub mod id;
pub mod model;
pub mod prompt;
pub mod protocol;
#[cfg(feature = "remote")]
pub mod remote;
pub mod retry;
#[cfg(feature = "server")]
pub mod server;
pub mod skills;
pub mod sqlite;
pub mod status;
pub mod store;
pub mod worktree;

pub use error::{Code, Error, ErrorBody, Kind, Result};
pub use facade::Maestro;
pub use facade::agents::DEFAULT_LEASE;
pub use model::*;
pub use sqlite::SqliteStore;
pub use store::*;
