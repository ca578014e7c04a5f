//! The rules of Maestro, as plain functions over plain data.
//!
//! Nothing here does I/O: each function takes the rows an operation read (a task, a session,
//! a claim) and either refuses with the error an agent can act on or says what changes.
//! [`crate::engine`] runs the operations over a store's row primitives and persists what the
//! rules decide, so every backend and every front end obeys the same rules.
//!
//! | rule | file |
//! |---|---|
//! | task status machine (which changes are allowed, which are no-ops) | [`task_status`] |
//! | what a status change does (timeline entries, releases, dependency counters, block reason) | [`effects`] |
//! | dependency cycles and the ready queue | [`dag`] |
//! | who may write to a task (ownership, the claim-epoch fence, `--force`) | [`ownership`] |
//! | session status machine (and what a lost or ended session is told) | [`session_status`] |
//! | leases: when a silent session is lost | [`lease`] |
//! | spawn requests: which tasks can get a worker, `waiting` until ready | [`spawn`] |
//! | budgets: when a host stops an agent's run | [`budget`] |
//! | idempotency keys: scope and fingerprint | [`idempotency`] |
//! | page sizes and limits | [`limits`] |
//! | the merge queue: who may queue what, targets, what a merge's outcome does to its task | [`merge`] |

pub mod budget;
pub mod dag;
pub mod effects;
pub mod idempotency;
pub mod lease;
pub mod limits;
pub mod merge;
pub mod ownership;
pub mod session_status;
pub mod spawn;
pub mod task_status;
