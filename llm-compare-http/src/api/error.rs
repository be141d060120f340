//! HTTP mapping of errors: every failure is a status code and
//! `{"error": {"code", "message", "field"?}}`, with `Retry-After` on 429.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use llm_compare_core::Error;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (the core codes, plus `unauthorized`, `payload_too_large`,
    /// `unsupported_media_type` for HTTP-level failures).
    pub code: String,
    /// For a person.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// When to retry (429).
    pub retry_after: Option<Duration>,
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: String,
    /// For a person.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error with a status and a code.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 400 naming a field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::invalid(field, message).into()
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 429.
    pub fn rate_limited(message: impl Into<String>, retry_after: Duration) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(retry_after);
        e
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match &e {
            Error::Provider(p) => p.message.clone(),
            other => other.to_string(),
        };
        Self {
            status,
            code: e.code().as_str().to_string(),
            message,
            field: e.field().map(str::to_string),
            retry_after: e
                .retry_after()
                .or((status == StatusCode::TOO_MANY_REQUESTS).then(|| Duration::from_secs(1))),
        }
    }
}

impl ApiError {
    /// `Retry-After` in whole seconds, rounded up (never tell a client to come back too
    /// early), when there is one.
    pub fn retry_after_header(&self) -> Option<HeaderValue> {
        let ra = self.retry_after?;
        let secs = ra.as_secs() + u64::from(ra.subsec_nanos() > 0);
        HeaderValue::from_str(&secs.max(1).to_string()).ok()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after_header();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(v) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
