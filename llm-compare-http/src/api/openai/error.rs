//! Errors of the OpenAI-compatible routes (`/v1/chat/completions`, `/v1/models`) in OpenAI's
//! own shape — `{"error": {"message", "type", "param", "code"}}`, every key present (`param`
//! and `code` may be null), as OpenAI's OpenAPI document (`ErrorResponse`) requires — with
//! the status and `Retry-After` of the native API. Typed clients (the official SDKs, generated
//! ones) pick their exception class from the status and read `type` and `code`.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use llm_compare_core::ErrorCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::ApiError;

/// OpenAI's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    /// The error.
    pub error: OpenAiErrorDetail,
}

/// OpenAI's error object.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorDetail {
    /// For a person.
    pub message: String,
    /// OpenAI's error type: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `rate_limit_error`, `insufficient_quota`, `server_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request field at fault, or null.
    pub param: Option<String>,
    /// llm-compare's code (`unknown_model`, `rate_limited`, …; a budget refusal is
    /// `insufficient_quota`, as OpenAI names it).
    pub code: Option<String>,
}

/// OpenAI's type for one of llm-compare's codes.
pub fn openai_type(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidRequest
        | ErrorCode::UnknownModel
        | ErrorCode::PayloadTooLarge
        | ErrorCode::LimitExceeded
        | ErrorCode::UnsupportedInput
        | ErrorCode::NotFound
        | ErrorCode::Conflict
        | ErrorCode::BadRequest
        | ErrorCode::ContextLengthExceeded
        | ErrorCode::ContentFilter
        | ErrorCode::Cancelled => "invalid_request_error",
        ErrorCode::Unauthorized | ErrorCode::Auth => "authentication_error",
        ErrorCode::Forbidden | ErrorCode::ModelNotAllowed => "permission_error",
        ErrorCode::RateLimited => "rate_limit_error",
        ErrorCode::BudgetExceeded | ErrorCode::QuotaExceeded => "insufficient_quota",
        ErrorCode::Overloaded
        | ErrorCode::Server
        | ErrorCode::Timeout
        | ErrorCode::Network
        | ErrorCode::Parse
        | ErrorCode::ImagePull
        | ErrorCode::Unschedulable
        | ErrorCode::OutOfMemory
        | ErrorCode::WorkerExit
        | ErrorCode::ShuttingDown
        | ErrorCode::Interrupted
        | ErrorCode::Unavailable
        | ErrorCode::NotConfigured
        | ErrorCode::Internal => "server_error",
    }
}

/// The body of `e` in OpenAI's shape. The HTTP layer's own codes (`unsupported_media_type`,
/// `method_not_allowed`, …) are not core codes: their type follows the status.
pub fn body_of(e: &ApiError) -> OpenAiErrorBody {
    let core = serde_json::from_value::<ErrorCode>(serde_json::Value::String(e.code.clone())).ok();
    let kind = match core {
        Some(c) => openai_type(c),
        None if e.status.is_server_error() => "server_error",
        None => "invalid_request_error",
    };
    let code = match core {
        Some(ErrorCode::BudgetExceeded) => "insufficient_quota".to_string(),
        _ => e.code.clone(),
    };
    OpenAiErrorBody {
        error: OpenAiErrorDetail {
            message: e.message.clone(),
            kind,
            param: e.field.clone(),
            code: Some(code),
        },
    }
}

/// An [`ApiError`] answered in OpenAI's shape.
#[derive(Debug)]
pub struct OpenAiError(pub ApiError);

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<llm_compare_core::Error> for OpenAiError {
    fn from(e: llm_compare_core::Error) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut resp = (self.0.status, Json(body_of(&self.0))).into_response();
        if let Some(ra) = self.0.retry_after_header() {
            resp.headers_mut().insert(header::RETRY_AFTER, ra);
        }
        resp
    }
}

/// Whether `path` is one of the OpenAI-compatible routes (their errors, authentication's
/// included, take OpenAI's shape).
pub fn is_openai_route(path: &str) -> bool {
    matches!(
        path,
        "/v1/chat/completions" | "/v1/models" | "/v1/responses"
    ) || path.starts_with("/v1/responses/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn every_key_is_present_and_types_follow_openai() {
        let e = ApiError::from(llm_compare_core::Error::invalid("messages[0].role", "bad"));
        let v = serde_json::to_value(body_of(&e)).unwrap_or_default();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "messages[0].role");
        assert_eq!(v["error"]["code"], "invalid_request");
        let e = ApiError::unauthorized("no key");
        let v = serde_json::to_value(body_of(&e)).unwrap_or_default();
        assert_eq!(v["error"]["type"], "authentication_error");
        assert!(
            v["error"]
                .get("param")
                .is_some_and(serde_json::Value::is_null)
        );
        let e = ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "json",
        );
        assert_eq!(body_of(&e).error.kind, "invalid_request_error");
        let e = ApiError::from(llm_compare_core::Error::from(
            llm_compare_core::ProviderError::new(ErrorCode::BudgetExceeded, "over"),
        ));
        let b = body_of(&e);
        assert_eq!(
            (b.error.kind, b.error.code.as_deref()),
            ("insufficient_quota", Some("insufficient_quota"))
        );
        let e = ApiError::rate_limited("slow down", std::time::Duration::from_secs(2));
        assert_eq!(body_of(&e).error.kind, "rate_limit_error");
    }
}
