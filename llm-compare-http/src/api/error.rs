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
    /// The limit that refused the request (`limit_exceeded`; boxed: errors stay small).
    pub limit: Option<Box<LimitDetail>>,
}

/// Which limit refused a request, and how to raise it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LimitDetail {
    /// The limit's name, as its setting is spelled (`eval_max_rows`).
    pub name: String,
    /// Its value.
    pub value: u64,
    /// Where to raise it.
    pub setting: String,
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
    /// The limit that refused the request (`limit_exceeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitDetail>,
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
            limit: None,
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

tokio::task_local! {
    /// The id of the HTTP request being answered (set by the request's middleware; the log's
    /// `http_request_id`).
    pub static REQUEST_ID: String;
}

/// The id of the request being answered, or `-` outside one.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_string())
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match &e {
            Error::Provider(p) => p.message.clone(),
            // What failed inside stays in the log, under the id the client is told.
            Error::Internal(source) => {
                let id = request_id();
                tracing::error!(target: "llm_compare::http", http_request_id = %id, error = %source, "internal error");
                format!(
                    "internal error: llm-compare failed while answering; the server's log has the details under request id {id}"
                )
            }
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
            limit: e.limit().map(|l| {
                Box::new(LimitDetail {
                    name: l.limit.clone(),
                    value: l.value,
                    setting: l.setting.clone(),
                })
            }),
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
                limit: self.limit.map(|l| *l),
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(v) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_internal_error_tells_the_request_id_and_keeps_its_source_in_the_log() {
        let e = REQUEST_ID
            .scope("req-7".into(), async {
                ApiError::from(Error::Internal(
                    "database: error returned from database: no such table: votes".into(),
                ))
            })
            .await;
        assert_eq!((e.status.as_u16(), e.code.as_str()), (500, "internal"));
        assert!(e.message.contains("req-7"), "{}", e.message);
        assert!(!e.message.contains("no such table"), "{}", e.message);
        let e = ApiError::from(llm_compare_service::Limits::exceeded(
            "eval_max_rows",
            3,
            "dataset",
            "line 4",
        ));
        let body = serde_json::to_value(ErrorBody {
            error: ErrorDetail {
                code: e.code.clone(),
                message: e.message.clone(),
                field: e.field.clone(),
                limit: e.limit.clone().map(|l| *l),
            },
        })
        .unwrap();
        assert_eq!(body["error"]["code"], "limit_exceeded");
        assert_eq!(body["error"]["limit"]["name"], "eval_max_rows");
        assert_eq!(body["error"]["limit"]["value"], 3);
    }
}
