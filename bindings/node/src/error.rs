//! Core errors as napi errors: the message is the error as JSON (`code`, `message`, `field`,
//! `retryable`, the core's HTTP `status`, `retry_after_ms`), which `index.js` turns into the
//! `LlmCompareError` subclass for its code.

use llm_compare_core::Error;
use serde_json::json;

/// The napi error for a core error.
pub(crate) fn to_js(e: Error) -> napi::Error {
    let body = json!({
        "code": e.code().as_str(),
        "message": e.to_string(),
        "field": e.field(),
        "retryable": e.is_retryable(),
        "status": e.http_status(),
        "retry_after_ms": e.retry_after().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    });
    napi::Error::new(napi::Status::GenericFailure, body.to_string())
}

/// A bad argument, named.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> napi::Error {
    to_js(Error::invalid(field, message))
}

/// `Result` with the core error mapped.
pub(crate) trait OrJs<T> {
    fn or_js(self) -> napi::Result<T>;
}

impl<T> OrJs<T> for llm_compare_core::Result<T> {
    fn or_js(self) -> napi::Result<T> {
        self.map_err(to_js)
    }
}
