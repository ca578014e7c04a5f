//! # maestro-core
//!
//! The library behind Maestro, an orchestration system for LLM coding agents: the domain
//! model (projects, tasks with a dependency DAG, subtasks, timelines, sessions), the one
//! error type, the rules, the storage contract with its embedded SQLite implementation and
//! durable event log, and the [`Maestro`] facade that the CLI, the server and the language
//! bindings all call.
//!
//! ## Where things live
//!
//! - [`rules`]: every rule as a plain function over plain data — the task and session
//!   status machines, dependency gating and counters, ownership and the claim-epoch fence,
//!   leases, spawn checks, idempotency keys, page limits. One file per rule.
//! - [`engine`]: the operations, written once over a backend's row primitives ([`engine::Rows`]),
//!   asking the rules what each operation means and persisting what they decide (rows,
//!   timeline entries, events) in one transaction.
//! - [`sqlite`]: the embedded backend: row primitives on SQLite, one transaction per
//!   operation. **A second backend** implements [`engine::Rows`] and [`engine::Backend`] (how to
//!   run one operation in one transaction) and is a [`Store`] at once, with every rule; it
//!   proves it by passing the store contract suite (`maestro-core/tests/contract/`), which
//!   runs against the SQLite store and, through a real `maestro serve`, the HTTP store.
//! - [`facade`]: [`Maestro`], what front ends call: validation before I/O, lazy lease
//!   upkeep (lapsed sessions expire before any call that shows or changes tasks or sessions,
//!   never the caller), event following ([`Maestro::subscribe`]).
//! - [`config`]: store and settings resolution ([`config::Settings`]) for every client.
//! - [`host`]: the host loop that launches agents; `server` and `remote`: the HTTP/WebSocket
//!   server and its clients.
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

pub mod agent;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod facade;
pub mod host;
pub mod id;
pub mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod prompt;
pub mod protocol;
#[cfg(feature = "remote")]
pub mod remote;
pub mod retry;
pub mod rules;
#[cfg(feature = "server")]
pub mod server;
pub mod skills;
pub(crate) mod sql;
pub mod sqlite;
pub mod store;
pub mod worktree;

pub use rules::{dag, task_status as status};

pub use error::{Code, Error, ErrorBody, Kind, Result};
pub use facade::{Maestro, SubscribeOptions, Subscription, SubscriptionItem};
pub use model::*;
pub use rules::lease::DEFAULT_LEASE;
pub use sqlite::SqliteStore;
pub use store::*;
