//! The `MaestroError` exception hierarchy and the mapping from the core [`Error`].
//!
//! Each core variant (what the caller can do) becomes one exception class, and the conflicts
//! a worker must act on differently (its task is someone else's, its claim was released, it
//! was declared lost, it ended) get a subclass of `ConflictError` each; the stable code,
//! message, details, suggestion and retryable flag become attributes of the exception.

use crate::convert::json_to_py;
use maestro_core::{Code, Error};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

create_exception!(
    maestro,
    MaestroError,
    PyException,
    "Base class of every Maestro error.\n\nAttributes: code (stable snake_case code, e.g. 'task_not_found'), message, details (dict), suggestion (str or None: what to do next), retryable (bool: whether the same call may succeed if repeated)."
);
create_exception!(
    maestro,
    NotFoundError,
    MaestroError,
    "The entity (or a ready task) does not exist: list what exists and pick again."
);
create_exception!(
    maestro,
    ValidationError,
    MaestroError,
    "The arguments are invalid; fix them before retrying."
);
create_exception!(
    maestro,
    ConflictError,
    MaestroError,
    "The request conflicts with the current state (transition, cycle, dependencies, version, ownership, a session that can no longer act); re-read first."
);
create_exception!(
    maestro,
    TaskClaimedError,
    ConflictError,
    "Code 'task_claimed': another session owns the task (details name it); work on your own task, or claim another with claim_next()."
);
create_exception!(
    maestro,
    ClaimReleasedError,
    ConflictError,
    "Code 'claim_released': the session's claim on the task was released or taken over; stop working on it and claim another task."
);
create_exception!(
    maestro,
    SessionLostError,
    ConflictError,
    "Code 'session_lost': the session was silent past its lease and declared lost, its tasks went back to the queue; stop working (register a new session to go on)."
);
create_exception!(
    maestro,
    SessionEndedError,
    ConflictError,
    "Code 'session_ended': the session has ended (completed, failed or stopped) and can no longer act; register a new session to go on."
);
create_exception!(
    maestro,
    UnauthorizedError,
    MaestroError,
    "Missing or wrong credentials."
);
create_exception!(
    maestro,
    UnavailableError,
    MaestroError,
    "The server could not be reached; retrying later may work."
);
create_exception!(
    maestro,
    InternalError,
    MaestroError,
    "Storage, server or internal failure."
);

/// The exception class of a core error.
fn class_of<'py>(py: Python<'py>, err: &Error) -> Bound<'py, PyType> {
    match err.code() {
        Code::TaskClaimed => return py.get_type::<TaskClaimedError>(),
        Code::ClaimReleased => return py.get_type::<ClaimReleasedError>(),
        Code::SessionLost => return py.get_type::<SessionLostError>(),
        Code::SessionEnded => return py.get_type::<SessionEndedError>(),
        _ => {}
    }
    match err {
        Error::NotFound(_) => py.get_type::<NotFoundError>(),
        Error::InvalidInput(_) => py.get_type::<ValidationError>(),
        Error::Conflict(_) => py.get_type::<ConflictError>(),
        Error::Unauthorized(_) => py.get_type::<UnauthorizedError>(),
        Error::Unavailable(_) => py.get_type::<UnavailableError>(),
        Error::Internal(_) => py.get_type::<InternalError>(),
        _ => py.get_type::<MaestroError>(),
    }
}

/// Converts a core error into the matching Python exception, with its attributes set.
pub fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let py_err = PyErr::from_type(class_of(py, &err), (err.message().to_owned(),));
    if let Err(e) = set_attributes(py, &py_err, &err) {
        return e;
    }
    py_err
}

fn set_attributes(py: Python<'_>, py_err: &PyErr, err: &Error) -> PyResult<()> {
    let value = py_err.value(py);
    value.setattr("code", err.code().as_str())?;
    value.setattr("message", err.message())?;
    let details = match json_to_py(py, err.details())?.cast_into::<PyDict>() {
        Ok(d) => d,
        Err(_) => PyDict::new(py),
    };
    value.setattr("details", details)?;
    value.setattr("suggestion", err.suggestion())?;
    value.setattr("retryable", err.retryable())?;
    Ok(())
}

/// Adds the exception classes to the module, with class-level defaults for the attributes
/// so that an exception raised from Python code still has them.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<MaestroError>();
    base.setattr("code", "internal_error")?;
    base.setattr("message", "")?;
    base.setattr("details", PyDict::new(py))?;
    base.setattr("suggestion", py.None())?;
    base.setattr("retryable", false)?;
    m.add("MaestroError", base)?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("TaskClaimedError", py.get_type::<TaskClaimedError>())?;
    m.add("ClaimReleasedError", py.get_type::<ClaimReleasedError>())?;
    m.add("SessionLostError", py.get_type::<SessionLostError>())?;
    m.add("SessionEndedError", py.get_type::<SessionEndedError>())?;
    m.add("UnauthorizedError", py.get_type::<UnauthorizedError>())?;
    m.add("UnavailableError", py.get_type::<UnavailableError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}
