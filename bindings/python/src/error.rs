//! Core errors as Python exceptions: `LlmCompareError` and its subclasses, each instance
//! carrying `code`, `retryable` and `field` (the HTTP mapping lives in llm-compare-http).

use llm_compare_core::{Error, ErrorCode, ErrorFamily};
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
    "Too many requests, or too many active ones, for this owner."
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
create_exception!(
    _native,
    Unavailable,
    LlmCompareError,
    "The database, Redis or the registry is unreachable: retry shortly (`retryable`)."
);
create_exception!(
    _native,
    NotConfigured,
    LlmCompareError,
    "The feature needs something this engine was not given (a store, Redis, a runner)."
);

create_exception!(
    _native,
    PermissionDenied,
    LlmCompareError,
    "The API key does not allow this (missing, expired or revoked; not an admin; a model outside its allow-list)."
);

/// The exception type of each error family (the core decides which code is which family).
fn exception_type(py: Python<'_>, family: ErrorFamily) -> Bound<'_, pyo3::types::PyType> {
    match family {
        ErrorFamily::Base => py.get_type::<LlmCompareError>(),
        ErrorFamily::InvalidRequest => py.get_type::<InvalidRequest>(),
        ErrorFamily::UnknownModel => py.get_type::<UnknownModel>(),
        ErrorFamily::NotFound => py.get_type::<NotFound>(),
        ErrorFamily::RateLimited => py.get_type::<RateLimited>(),
        ErrorFamily::Conflict => py.get_type::<Conflict>(),
        ErrorFamily::BudgetExceeded => py.get_type::<BudgetExceeded>(),
        ErrorFamily::Provider => py.get_type::<ProviderError>(),
        ErrorFamily::Unavailable => py.get_type::<Unavailable>(),
        ErrorFamily::NotConfigured => py.get_type::<NotConfigured>(),
        ErrorFamily::PermissionDenied => py.get_type::<PermissionDenied>(),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for family in ErrorFamily::ALL {
        m.add(family.name(), exception_type(m.py(), family))?;
    }
    Ok(())
}

/// The Python exception for a core error, with its attributes set.
pub(crate) fn to_py(e: Error) -> PyErr {
    let code = e.code();
    let message = e.to_string();
    Python::attach(|py| {
        let err = PyErr::from_type(exception_type(py, code.family()), message.clone());
        let v = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail in practice; if it
        // did, the exception still carries its message.
        let _ = v.setattr("code", code.as_str());
        let _ = v.setattr("retryable", e.is_retryable());
        let _ = v.setattr("field", e.field());
        let _ = v.setattr("message", message);
        let _ = v.setattr("status", e.http_status());
        err
    })
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
