//! Remote clients of `maestro serve` (cargo feature `remote`).
//!
//! - [`HttpStore`]: the [`Store`](crate::Store) trait over the REST API, with the
//!   [`RetryPolicy`](crate::retry::RetryPolicy) and idempotency keys; what
//!   [`Maestro::connect`](crate::Maestro::connect) uses.
//! - [`SyncClient`]: the WebSocket event stream with reconnection, exactly-once in-order
//!   delivery, queued operations and heartbeats.
//!
//! Both accept a server base URL such as `http://127.0.0.1:3000`.

mod http;
mod sync;
mod url;

pub use http::{DEFAULT_TIMEOUT, HttpStore, UNREACHABLE_SUGGESTION};
pub use sync::{ConnectionState, OpSender, Recv, SyncClient, SyncEvent, SyncOptions};
pub use url::{http_base, ws_url};
