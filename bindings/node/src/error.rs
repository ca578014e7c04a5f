//! The one place where Maestro errors cross into JavaScript.
//!
//! A failed call rejects its Promise with an `Error` whose message is the JSON error object
//! of SPEC §3 (`Error::to_json`), prefixed with [`MARKER`]. `index.js` turns it into a
//! `MaestroError` carrying `code`, `message`, `details`, `suggestion` and `retryable`.
//!
//! Results cross as JSON text that `index.js` parses: V8's `JSON.parse` builds the objects
//! several times faster than setting their properties one N-API call at a time.

use napi::Status;
use serde::Serialize;

/// Prefix marking a JSON-encoded Maestro error in a native error message.
pub const MARKER: &str = "MAESTRO_ERROR:";

/// Converts a core error into a napi error that `index.js` decodes.
pub fn to_napi(e: maestro_core::Error) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{MARKER}{}", e.to_json()))
}

/// Converts a core result into the JSON text of its SPEC §2 shape.
pub fn js<T: Serialize>(r: maestro_core::Result<T>) -> napi::Result<String> {
    let v = r.map_err(to_napi)?;
    serde_json::to_string(&v).map_err(|e| to_napi(e.into()))
}

/// Shorthand for turning a core result into a napi result.
pub trait OrNapi<T> {
    fn or_napi(self) -> napi::Result<T>;
}

impl<T> OrNapi<T> for maestro_core::Result<T> {
    fn or_napi(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
