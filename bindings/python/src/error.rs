//! Core errors as Python exceptions: `LlmCompareError` and its subclasses, each instance
//! carrying `code`, `retryable` and `field` (the HTTP mapping lives in llm-compare-http).

use llm_compare_core::{Error, ErrorCode};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _native,
    LlmCompareError,
    PyException,
    "Base of every llm-compare error."
);
create_exception!(
    _native,
    InvalidRequest,
    LlmCompareError,
    "A bad argument (`field` names it)."
);
create_exception!(
    _native,
    UnknownModel,
    InvalidRequest,
    "No provider serves this model."
);
create_exception!(
    _native,
    RateLimited,
    LlmCompareError,
    "Too many active requests for this owner."
);
create_exception!(
    _native,
    ProviderError,
    LlmCompareError,
    "An upstream provider failed (`code`, `retryable`)."
);
create_exception!(
    _native,
    NotFound,
    LlmCompareError,
    "Unknown, expired or another owner's request."
);
create_exception!(
    _native,
    Conflict,
    LlmCompareError,
    "The request is in a state that forbids this."
);
create_exception!(
    _native,
    BudgetExceeded,
    LlmCompareError,
    "The budget cannot cover the worst-case cost."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("LlmCompareError", py.get_type::<LlmCompareError>())?;
    m.add("InvalidRequest", py.get_type::<InvalidRequest>())?;
    m.add("UnknownModel", py.get_type::<UnknownModel>())?;
    m.add("RateLimited", py.get_type::<RateLimited>())?;
    m.add("ProviderError", py.get_type::<ProviderError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("Conflict", py.get_type::<Conflict>())?;
    m.add("BudgetExceeded", py.get_type::<BudgetExceeded>())?;
    Ok(())
}

/// The Python exception for a core error, with its attributes set.
pub(crate) fn to_py(e: Error) -> PyErr {
    let code = e.code();
    let message = e.to_string();
    let err = match code {
        ErrorCode::InvalidRequest => InvalidRequest::new_err(message.clone()),
        ErrorCode::UnknownModel => UnknownModel::new_err(message.clone()),
        ErrorCode::RateLimited => RateLimited::new_err(message.clone()),
        ErrorCode::NotFound => NotFound::new_err(message.clone()),
        ErrorCode::Conflict => Conflict::new_err(message.clone()),
        ErrorCode::BudgetExceeded => BudgetExceeded::new_err(message.clone()),
        ErrorCode::Auth
        | ErrorCode::BadRequest
        | ErrorCode::ContextLengthExceeded
        | ErrorCode::ContentFilter
        | ErrorCode::Overloaded
        | ErrorCode::Server
        | ErrorCode::Timeout
        | ErrorCode::Network
        | ErrorCode::Parse
        | ErrorCode::ImagePull
        | ErrorCode::Unschedulable
        | ErrorCode::OutOfMemory
        | ErrorCode::WorkerExit => ProviderError::new_err(message.clone()),
        ErrorCode::Cancelled | ErrorCode::ShuttingDown | ErrorCode::Internal => {
            LlmCompareError::new_err(message.clone())
        }
    };
    Python::attach(|py| {
        let v = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail in practice; if it
        // did, the exception still carries its message.
        let _ = v.setattr("code", code.as_str());
        let _ = v.setattr("retryable", e.is_retryable());
        let _ = v.setattr("field", e.field());
        let _ = v.setattr("message", message);
    });
    err
}

/// A bad argument, named.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> PyErr {
    to_py(Error::invalid(field, message))
}

/// The exception for an error `code` (as events carry it), not raised: lets Python turn an
/// `error` event or a failed `model_result` into the same exception types.
#[pyfunction]
#[pyo3(signature = (code, message, retryable = false))]
pub fn error_for(code: &str, message: &str, retryable: bool) -> PyResult<PyErr> {
    let code: ErrorCode = serde_json::from_value(serde_json::Value::String(code.to_string()))
        .map_err(|_| invalid("code", format!("unknown error code `{code}`")))?;
    Ok(to_py(Error::Provider(
        llm_compare_core::ProviderError::new(code, message).retryable(retryable),
    )))
}
