//! Errors of the Anthropic door (`/v1/messages`, `/v1/messages/count_tokens`) in Anthropic's
//! shape — `{"type": "error", "error": {"type", "message"}}` — with the type Anthropic gives
//! each status (its SDKs pick their exception class from the status) and `Retry-After`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::ApiError;

/// Anthropic's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnthropicErrorBody {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The error.
    pub error: AnthropicErrorDetail,
}

/// Anthropic's error object.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnthropicErrorDetail {
    /// Anthropic's error type for the status: `invalid_request_error` (400),
    /// `authentication_error` (401), `billing_error` (402), `permission_error` (403),
    /// `not_found_error` (404), `request_too_large` (413), `rate_limit_error` (429),
    /// `api_error` (500, 502), `overloaded_error` (503), `timeout_error` (504).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// For a person; starts with the request field at fault (`max_tokens: …`) when one is.
    pub message: String,
}

/// Anthropic's error type for an HTTP status.
pub fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The body of `e` in Anthropic's shape.
pub fn body_of(e: &ApiError) -> AnthropicErrorBody {
    // `invalid request: ` says what the type already says.
    let text = e
        .message
        .strip_prefix("invalid request: ")
        .unwrap_or(&e.message);
    let message = match &e.field {
        Some(f) if !text.starts_with(&format!("{f}: ")) => format!("{f}: {text}"),
        _ => text.to_string(),
    };
    AnthropicErrorBody {
        kind: "error",
        error: AnthropicErrorDetail {
            kind: anthropic_type(e.status),
            message,
        },
    }
}

/// An [`ApiError`] answered in Anthropic's shape.
#[derive(Debug)]
pub struct AnthropicError(pub ApiError);

impl From<ApiError> for AnthropicError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<llm_compare_core::Error> for AnthropicError {
    fn from(e: llm_compare_core::Error) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let mut resp = (self.0.status, Json(body_of(&self.0))).into_response();
        if let Some(ra) = self.0.retry_after_header() {
            resp.headers_mut().insert(header::RETRY_AFTER, ra);
        }
        resp
    }
}

/// Whether `path` is one of the Anthropic door's routes (their errors, authentication's
/// included, take Anthropic's shape).
pub fn is_anthropic_route(path: &str) -> bool {
    matches!(path, "/v1/messages" | "/v1/messages/count_tokens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_status_and_the_field_leads_the_message() {
        let e = ApiError::invalid("max_tokens", "Field required");
        let v = serde_json::to_value(body_of(&e)).unwrap_or_default();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "max_tokens: Field required");
        assert_eq!(
            body_of(&ApiError::unauthorized("no key")).error.kind,
            "authentication_error"
        );
        let e = ApiError::rate_limited("slow down", std::time::Duration::from_secs(2));
        assert_eq!(body_of(&e).error.kind, "rate_limit_error");
        let e = ApiError::from(llm_compare_core::Error::from(
            llm_compare_core::ProviderError::new(
                llm_compare_core::ErrorCode::BudgetExceeded,
                "over",
            ),
        ));
        assert_eq!(
            (e.status.as_u16(), body_of(&e).error.kind),
            (402, "billing_error")
        );
        for (status, kind) in [
            (500, "api_error"),
            (503, "overloaded_error"),
            (504, "timeout_error"),
        ] {
            let e = ApiError::new(StatusCode::from_u16(status).unwrap_or_default(), "x", "y");
            assert_eq!(body_of(&e).error.kind, kind);
        }
    }
}
