//! The one error type of llm-compare.
//!
//! Every failure — a bad request, an unknown model, a full per-owner quota, an upstream provider
//! failing — is an [`Error`]. Each has a stable machine-readable [`ErrorCode`], says whether a
//! retry can help ([`Error::is_retryable`]) and maps to an HTTP status ([`Error::http_status`]).
//! The HTTP, Python and Node crates map from here; nothing else decides codes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Stable, machine-readable error codes (serialized in `snake_case`, e.g. `"rate_limited"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself is malformed (a field is missing, empty or out of range).
    InvalidRequest,
    /// The model id names a provider that is not configured.
    UnknownModel,
    /// The id is unknown, expired or belongs to someone else.
    NotFound,
    /// Too many active requests or too many requests per unit of time.
    RateLimited,
    /// The request conflicts with the current state (a second vote, a vote too early).
    Conflict,
    /// The caller's spending budget for the period cannot cover the request's worst case.
    BudgetExceeded,
    /// The provider rejected the credentials (401/403).
    Auth,
    /// The provider rejected the request as malformed (400/404/422).
    BadRequest,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider blocked the prompt or the answer.
    ContentFilter,
    /// The provider is overloaded (503/529).
    Overloaded,
    /// The provider failed (5xx).
    Server,
    /// A timeout (connect, first token, idle gap or total) expired.
    Timeout,
    /// The connection failed or was reset.
    Network,
    /// The provider sent something that could not be parsed.
    Parse,
    /// The runner could not pull the worker's container image (a remote runner's call).
    ImagePull,
    /// The worker was not started in time: no node could run it (a remote runner's call).
    Unschedulable,
    /// The worker was killed for going over its memory limit (OOMKilled).
    OutOfMemory,
    /// The worker exited without finishing the call (a non-zero exit code).
    WorkerExit,
    /// The work was cancelled.
    Cancelled,
    /// The server is shutting down.
    ShuttingDown,
    /// A bug or an unexpected condition inside llm-compare.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnknownModel => "unknown_model",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Conflict => "conflict",
            Self::BudgetExceeded => "budget_exceeded",
            Self::Auth => "auth",
            Self::BadRequest => "bad_request",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::ContentFilter => "content_filter",
            Self::Overloaded => "overloaded",
            Self::Server => "server",
            Self::Timeout => "timeout",
            Self::Network => "network",
            Self::Parse => "parse",
            Self::ImagePull => "image_pull",
            Self::Unschedulable => "unschedulable",
            Self::OutOfMemory => "out_of_memory",
            Self::WorkerExit => "worker_exit",
            Self::Cancelled => "cancelled",
            Self::ShuttingDown => "shutting_down",
            Self::Internal => "internal",
        }
    }

    /// Whether an upstream failure with this code may succeed when tried again.
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Overloaded
                | Self::Server
                | Self::Timeout
                | Self::Network
                | Self::Unschedulable
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure reported by (or on the way to) an upstream model provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// The provider's own message (never containing credentials).
    pub message: String,
    /// Whether trying again may help.
    pub retryable: bool,
    /// The HTTP status the provider answered with, when there was one.
    pub status: Option<u16>,
    /// How long the provider asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// A provider error whose retryability follows its code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: code.default_retryable(),
            status: None,
            retry_after: None,
        }
    }

    /// Overrides whether the error is retryable.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

/// The error type of every fallible llm-compare operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field of the request is missing, empty or out of range.
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// The offending field (`models`, `prompt`, `params.temperature`, …), when one is to blame.
        field: Option<String>,
        /// What is wrong, for a person.
        message: String,
    },
    /// The model id names a provider that is not configured, or is not `provider/model`.
    #[error("unknown model `{model}`: {message}")]
    UnknownModel {
        /// The model id as given.
        model: String,
        /// Why it is unknown and what would be accepted.
        message: String,
    },
    /// The request id is unknown, expired or belongs to another owner.
    #[error("not found: {0}")]
    NotFound(String),
    /// Too many active requests (or requests per unit of time) for this owner.
    #[error("rate limited: {message}")]
    RateLimited {
        /// What limit was hit.
        message: String,
        /// When to try again.
        retry_after: Option<Duration>,
    },
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller's budget for the period cannot cover the request's worst-case cost.
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    /// An upstream provider failed.
    #[error("{} error from provider: {}", .0.code, .0.message)]
    Provider(ProviderError),
    /// The work was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// An unexpected condition inside llm-compare.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::InvalidRequest`] blaming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            Self::UnknownModel { .. } => ErrorCode::UnknownModel,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::BudgetExceeded(_) => ErrorCode::BudgetExceeded,
            Self::Provider(e) => e.code,
            Self::Cancelled => ErrorCode::Cancelled,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Whether trying the same thing again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } => true,
            Self::Provider(e) => e.retryable,
            _ => false,
        }
    }

    /// The HTTP status this error maps to when it is the answer to a whole request.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidRequest { .. } | Self::UnknownModel { .. } => 400,
            Self::NotFound(_) => 404,
            Self::RateLimited { .. } => 429,
            Self::Conflict(_) => 409,
            Self::BudgetExceeded(_) => 402,
            Self::Cancelled => 499,
            Self::Internal(_) => 500,
            Self::Provider(e) => match e.code {
                ErrorCode::Auth => 401,
                ErrorCode::RateLimited => 429,
                ErrorCode::BadRequest
                | ErrorCode::ContextLengthExceeded
                | ErrorCode::ContentFilter
                | ErrorCode::InvalidRequest => 400,
                ErrorCode::Overloaded | ErrorCode::Unschedulable => 503,
                ErrorCode::Timeout => 504,
                _ => 502,
            },
        }
    }

    /// The field to blame, for errors about a request field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { field, .. } => field.as_deref(),
            Self::UnknownModel { .. } => Some("models"),
            _ => None,
        }
    }

    /// How long to wait before retrying, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            Self::Provider(e) => e.retry_after,
            _ => None,
        }
    }
}

impl From<ProviderError> for Error {
    fn from(e: ProviderError) -> Self {
        Self::Provider(e)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_statuses_and_retryability() {
        let e = Error::invalid("prompt", "must not be empty");
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.field(), Some("prompt"));
        assert!(!e.is_retryable());

        let e = Error::from(ProviderError::new(ErrorCode::Overloaded, "busy"));
        assert!(e.is_retryable());
        assert_eq!(e.http_status(), 503);
        let e = Error::from(ProviderError::new(ErrorCode::Auth, "bad key"));
        assert!(!e.is_retryable());
        assert_eq!(e.http_status(), 401);
        assert_eq!(
            serde_json::to_string(&ErrorCode::ContextLengthExceeded).unwrap(),
            "\"context_length_exceeded\""
        );
    }
}
