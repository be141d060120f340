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
    /// A part of the request (an attachment) is larger than the server accepts.
    PayloadTooLarge,
    /// The request goes past one of the server's configured limits (rows of a dataset, a
    /// rendered prompt's size, runs at once): the error names the limit, its value and the
    /// setting that raises it.
    LimitExceeded,
    /// The caller's stored data would go past its quota (attachment bytes): the error names
    /// the quota, its value and the setting that raises it.
    QuotaExceeded,
    /// This model does not take a part of the request (an image, a PDF): that model alone
    /// fails, before any call.
    UnsupportedInput,
    /// The id is unknown, expired or belongs to someone else.
    NotFound,
    /// Too many active requests or too many requests per unit of time.
    RateLimited,
    /// The request conflicts with the current state (a second vote, a vote too early).
    Conflict,
    /// The caller's spending budget for the period cannot cover the request's worst case.
    BudgetExceeded,
    /// The caller's API key is missing, unknown, expired or revoked.
    Unauthorized,
    /// The caller's key may not do this (a key route without the admin scope).
    Forbidden,
    /// The caller's key may not use this model (outside its allow-list).
    ModelNotAllowed,
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
    /// The server running the comparison stopped (crashed, was killed) before it finished;
    /// that server, restarted, ended it.
    Interrupted,
    /// Infrastructure (the database, Redis, the registry) is unreachable or timing out: try
    /// again shortly.
    Unavailable,
    /// The feature needs something this process was not given (a store, Redis, a runner).
    NotConfigured,
    /// A bug or an unexpected condition inside llm-compare.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnknownModel => "unknown_model",
            Self::PayloadTooLarge => "payload_too_large",
            Self::LimitExceeded => "limit_exceeded",
            Self::QuotaExceeded => "quota_exceeded",
            Self::UnsupportedInput => "unsupported_input",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Conflict => "conflict",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::ModelNotAllowed => "model_not_allowed",
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
            Self::Interrupted => "interrupted",
            Self::Unavailable => "unavailable",
            Self::NotConfigured => "not_configured",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status of a whole request that failed with this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest
            | Self::UnknownModel
            | Self::UnsupportedInput
            | Self::LimitExceeded
            | Self::BadRequest
            | Self::ContextLengthExceeded
            | Self::ContentFilter => 400,
            Self::Auth | Self::Unauthorized => 401,
            Self::BudgetExceeded => 402,
            Self::PayloadTooLarge => 413,
            Self::QuotaExceeded => 507,
            Self::Forbidden | Self::ModelNotAllowed => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::RateLimited => 429,
            Self::Cancelled => 499,
            Self::Internal => 500,
            Self::NotConfigured => 501,
            Self::Server
            | Self::Network
            | Self::Parse
            | Self::ImagePull
            | Self::OutOfMemory
            | Self::WorkerExit => 502,
            Self::Overloaded
            | Self::Unschedulable
            | Self::ShuttingDown
            | Self::Interrupted
            | Self::Unavailable => 503,
            Self::Timeout => 504,
        }
    }

    /// The error class the bindings raise for this code (Python exception, Node `Error`
    /// subclass): one table, so the languages cannot drift apart.
    pub fn family(self) -> ErrorFamily {
        match self {
            Self::InvalidRequest
            | Self::PayloadTooLarge
            | Self::LimitExceeded
            | Self::QuotaExceeded
            | Self::UnsupportedInput => ErrorFamily::InvalidRequest,
            Self::UnknownModel => ErrorFamily::UnknownModel,
            Self::NotFound => ErrorFamily::NotFound,
            Self::RateLimited => ErrorFamily::RateLimited,
            Self::Conflict => ErrorFamily::Conflict,
            Self::BudgetExceeded => ErrorFamily::BudgetExceeded,
            Self::Unavailable => ErrorFamily::Unavailable,
            Self::NotConfigured => ErrorFamily::NotConfigured,
            Self::Unauthorized | Self::Forbidden | Self::ModelNotAllowed => {
                ErrorFamily::PermissionDenied
            }
            Self::Auth
            | Self::BadRequest
            | Self::ContextLengthExceeded
            | Self::ContentFilter
            | Self::Overloaded
            | Self::Server
            | Self::Timeout
            | Self::Network
            | Self::Parse
            | Self::ImagePull
            | Self::Unschedulable
            | Self::OutOfMemory
            | Self::WorkerExit => ErrorFamily::Provider,
            Self::Cancelled | Self::ShuttingDown | Self::Interrupted | Self::Internal => {
                ErrorFamily::Base
            }
        }
    }

    /// Every code, in declaration order (the table-driven tests and the generated Node list
    /// walk it; `as_str`, `http_status` and `family` match each one explicitly).
    pub const ALL: [ErrorCode; 32] = [
        Self::InvalidRequest,
        Self::UnknownModel,
        Self::PayloadTooLarge,
        Self::LimitExceeded,
        Self::QuotaExceeded,
        Self::UnsupportedInput,
        Self::NotFound,
        Self::RateLimited,
        Self::Conflict,
        Self::BudgetExceeded,
        Self::Unauthorized,
        Self::Forbidden,
        Self::ModelNotAllowed,
        Self::Auth,
        Self::BadRequest,
        Self::ContextLengthExceeded,
        Self::ContentFilter,
        Self::Overloaded,
        Self::Server,
        Self::Timeout,
        Self::Network,
        Self::Parse,
        Self::ImagePull,
        Self::Unschedulable,
        Self::OutOfMemory,
        Self::WorkerExit,
        Self::Cancelled,
        Self::ShuttingDown,
        Self::Interrupted,
        Self::Unavailable,
        Self::NotConfigured,
        Self::Internal,
    ];

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
                | Self::Interrupted
                | Self::Unavailable
        )
    }
}

/// The error classes of the bindings, each a subclass of the base (`LlmCompareError`);
/// `UnknownModel` is also an `InvalidRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorFamily {
    /// `LlmCompareError` itself.
    Base,
    /// A bad argument (`field` names it).
    InvalidRequest,
    /// No provider serves this model (an `InvalidRequest`).
    UnknownModel,
    /// Unknown, expired or another owner's.
    NotFound,
    /// Too many requests.
    RateLimited,
    /// The state forbids this.
    Conflict,
    /// The budget cannot cover the worst case.
    BudgetExceeded,
    /// An upstream provider (or the runner of its call) failed.
    Provider,
    /// Infrastructure unreachable: retry.
    Unavailable,
    /// A feature this process was not set up for.
    NotConfigured,
    /// The caller's key does not allow this (missing, expired or revoked; not an admin; a
    /// model outside its allow-list).
    PermissionDenied,
}

impl ErrorFamily {
    /// Every family.
    pub const ALL: [ErrorFamily; 11] = [
        Self::Base,
        Self::InvalidRequest,
        Self::UnknownModel,
        Self::NotFound,
        Self::RateLimited,
        Self::Conflict,
        Self::BudgetExceeded,
        Self::Provider,
        Self::Unavailable,
        Self::NotConfigured,
        Self::PermissionDenied,
    ];

    /// The class's name (Python's; Node's adds `Error` where this does not end in it).
    pub fn name(self) -> &'static str {
        match self {
            Self::Base => "LlmCompareError",
            Self::InvalidRequest => "InvalidRequest",
            Self::UnknownModel => "UnknownModel",
            Self::NotFound => "NotFound",
            Self::RateLimited => "RateLimited",
            Self::Conflict => "Conflict",
            Self::BudgetExceeded => "BudgetExceeded",
            Self::Provider => "ProviderError",
            Self::Unavailable => "Unavailable",
            Self::NotConfigured => "NotConfigured",
            Self::PermissionDenied => "PermissionDenied",
        }
    }

    /// The class it extends (`None` for the base).
    pub fn parent(self) -> Option<ErrorFamily> {
        match self {
            Self::Base => None,
            Self::UnknownModel => Some(Self::InvalidRequest),
            Self::InvalidRequest
            | Self::NotFound
            | Self::RateLimited
            | Self::Conflict
            | Self::BudgetExceeded
            | Self::Provider
            | Self::Unavailable
            | Self::NotConfigured
            | Self::PermissionDenied => Some(Self::Base),
        }
    }

    /// What it means, for the class's doc string.
    pub fn doc(self) -> &'static str {
        match self {
            Self::Base => "Base of every llm-compare error.",
            Self::InvalidRequest => "A bad argument (`field` names it).",
            Self::UnknownModel => "No provider serves this model.",
            Self::NotFound => "Unknown, expired or another owner's request.",
            Self::RateLimited => "Too many requests, or too many active ones, for this owner.",
            Self::Conflict => "The request is in a state that forbids this.",
            Self::BudgetExceeded => "The budget cannot cover the worst-case cost.",
            Self::Provider => "An upstream provider failed (`code`, `retryable`).",
            Self::Unavailable => {
                "The database, Redis or the registry is unreachable: retry shortly (`retryable`)."
            }
            Self::NotConfigured => {
                "The feature needs something this engine was not given (a store, Redis, a runner)."
            }
            Self::PermissionDenied => {
                "The API key does not allow this (missing, expired or revoked; not an admin; a model outside its allow-list)."
            }
        }
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
    /// A part of the request is larger than accepted (the message names it).
    #[error("too large: {0}")]
    PayloadTooLarge(String),
    /// The request goes past one of the server's configured limits.
    #[error("{0}")]
    LimitExceeded(Box<LimitExceeded>),
    /// The caller's stored data would go past its quota.
    #[error("{0}")]
    QuotaExceeded(Box<LimitExceeded>),
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
    /// The caller's API key is missing, unknown, expired or revoked (the message says which).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller's key may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The caller's key may not use `model`.
    #[error("model not allowed: `{model}` is outside this API key's allowed models ({allowed})")]
    ModelNotAllowed {
        /// The model asked for.
        model: String,
        /// The key's allow-list, as patterns.
        allowed: String,
    },
    /// An upstream provider failed.
    #[error("{} error from provider: {}", .0.code, .0.message)]
    Provider(ProviderError),
    /// The work was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Infrastructure (the database, Redis, the registry) is unreachable or timing out.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What is unreachable (never credentials).
        message: String,
        /// When to try again.
        retry_after: Option<Duration>,
    },
    /// The feature needs something this process was not given (a store, Redis, a runner).
    #[error("not configured: {0}")]
    NotConfigured(String),
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
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::LimitExceeded(_) => ErrorCode::LimitExceeded,
            Self::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::BudgetExceeded(_) => ErrorCode::BudgetExceeded,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::ModelNotAllowed { .. } => ErrorCode::ModelNotAllowed,
            Self::Provider(e) => e.code,
            Self::Cancelled => ErrorCode::Cancelled,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::NotConfigured(_) => ErrorCode::NotConfigured,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// An [`Error::Unavailable`] for `what` (e.g. "the database"), retried after a second.
    pub fn unavailable(what: impl Into<String>) -> Self {
        Self::Unavailable {
            message: what.into(),
            retry_after: Some(Duration::from_secs(1)),
        }
    }

    /// Whether trying the same thing again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Unavailable { .. } => true,
            Self::Provider(e) => e.retryable,
            Self::InvalidRequest { .. }
            | Self::UnknownModel { .. }
            | Self::NotFound(_)
            | Self::PayloadTooLarge(_)
            | Self::LimitExceeded(_)
            | Self::QuotaExceeded(_)
            | Self::Conflict(_)
            | Self::BudgetExceeded(_)
            | Self::Unauthorized(_)
            | Self::Forbidden(_)
            | Self::ModelNotAllowed { .. }
            | Self::Cancelled
            | Self::NotConfigured(_)
            | Self::Internal(_) => false,
        }
    }

    /// The HTTP status this error maps to when it is the answer to a whole request: its
    /// code's ([`ErrorCode::http_status`]).
    pub fn http_status(&self) -> u16 {
        self.code().http_status()
    }

    /// The field to blame, for errors about a request field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { field, .. } => field.as_deref(),
            Self::UnknownModel { .. } | Self::ModelNotAllowed { .. } => Some("models"),
            Self::LimitExceeded(l) | Self::QuotaExceeded(l) => l.field.as_deref(),
            Self::Unauthorized(_) | Self::Forbidden(_) | Self::PayloadTooLarge(_) => None,
            Self::NotFound(_)
            | Self::RateLimited { .. }
            | Self::Conflict(_)
            | Self::BudgetExceeded(_)
            | Self::Provider(_)
            | Self::Cancelled
            | Self::Unavailable { .. }
            | Self::NotConfigured(_)
            | Self::Internal(_) => None,
        }
    }

    /// How long to wait before retrying, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            Self::Provider(e) => e.retry_after,
            Self::InvalidRequest { .. }
            | Self::UnknownModel { .. }
            | Self::NotFound(_)
            | Self::PayloadTooLarge(_)
            | Self::LimitExceeded(_)
            | Self::QuotaExceeded(_)
            | Self::Conflict(_)
            | Self::BudgetExceeded(_)
            | Self::Unauthorized(_)
            | Self::Forbidden(_)
            | Self::ModelNotAllowed { .. }
            | Self::Cancelled
            | Self::NotConfigured(_)
            | Self::Internal(_) => None,
        }
    }

    /// A refusal by `limit` (of value `value`, raised by `setting`), blaming `field`.
    pub fn limit_exceeded(
        limit: impl Into<String>,
        value: u64,
        field: Option<&str>,
        message: impl Into<String>,
        setting: impl Into<String>,
    ) -> Self {
        Self::LimitExceeded(Box::new(LimitExceeded {
            limit: limit.into(),
            value,
            field: field.map(str::to_string),
            message: message.into(),
            setting: setting.into(),
        }))
    }

    /// The limit a refusal names, when it is one ([`Error::LimitExceeded`]).
    pub fn limit(&self) -> Option<&LimitExceeded> {
        match self {
            Self::LimitExceeded(l) | Self::QuotaExceeded(l) => Some(l),
            _ => None,
        }
    }
}

/// What a refusal by one of the server's limits says: which limit, its value, the field at
/// fault and the setting that raises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The limit's name (`eval_max_rows`, …), as its setting is spelled.
    pub limit: String,
    /// The limit's value.
    pub value: u64,
    /// The request field at fault, when one is.
    pub field: Option<String>,
    /// What went past it, for a person.
    pub message: String,
    /// Where to raise it (`[server.limits] eval_max_rows`).
    pub setting: String,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "limit exceeded: {} (`{}` is {}; raise it with {})",
            self.message, self.limit, self.value, self.setting
        )
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

    /// Every code: its wire name round-trips, and its status, retryability and binding class
    /// are the ones in this table (written out by hand, not computed).
    #[test]
    fn every_code_has_its_status_retryability_and_class() {
        use ErrorFamily as F;
        let table: &[(&str, u16, bool, F)] = &[
            ("invalid_request", 400, false, F::InvalidRequest),
            ("unknown_model", 400, false, F::UnknownModel),
            ("payload_too_large", 413, false, F::InvalidRequest),
            ("limit_exceeded", 400, false, F::InvalidRequest),
            ("quota_exceeded", 507, false, F::InvalidRequest),
            ("unsupported_input", 400, false, F::InvalidRequest),
            ("not_found", 404, false, F::NotFound),
            ("rate_limited", 429, true, F::RateLimited),
            ("conflict", 409, false, F::Conflict),
            ("budget_exceeded", 402, false, F::BudgetExceeded),
            ("unauthorized", 401, false, F::PermissionDenied),
            ("forbidden", 403, false, F::PermissionDenied),
            ("model_not_allowed", 403, false, F::PermissionDenied),
            ("auth", 401, false, F::Provider),
            ("bad_request", 400, false, F::Provider),
            ("context_length_exceeded", 400, false, F::Provider),
            ("content_filter", 400, false, F::Provider),
            ("overloaded", 503, true, F::Provider),
            ("server", 502, true, F::Provider),
            ("timeout", 504, true, F::Provider),
            ("network", 502, true, F::Provider),
            ("parse", 502, false, F::Provider),
            ("image_pull", 502, false, F::Provider),
            ("unschedulable", 503, true, F::Provider),
            ("out_of_memory", 502, false, F::Provider),
            ("worker_exit", 502, false, F::Provider),
            ("cancelled", 499, false, F::Base),
            ("shutting_down", 503, false, F::Base),
            ("interrupted", 503, true, F::Base),
            ("unavailable", 503, true, F::Unavailable),
            ("not_configured", 501, false, F::NotConfigured),
            ("internal", 500, false, F::Base),
        ];
        assert_eq!(table.len(), ErrorCode::ALL.len());
        for (code, (name, status, retryable, family)) in ErrorCode::ALL.iter().zip(table) {
            assert_eq!(code.as_str(), *name);
            let parsed: ErrorCode = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(parsed, *code);
            assert_eq!(code.http_status(), *status, "{name}");
            assert_eq!(code.default_retryable(), *retryable, "{name}");
            assert_eq!(code.family(), *family, "{name}");
            // A provider error carrying the code answers with the same status.
            assert_eq!(
                Error::from(ProviderError::new(*code, "x")).http_status(),
                *status
            );
        }
        let e = Error::unavailable("the database is unreachable");
        assert_eq!(
            (e.code(), e.http_status(), e.is_retryable()),
            (ErrorCode::Unavailable, 503, true)
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        let e = Error::NotConfigured("votes need a store".into());
        assert_eq!((e.http_status(), e.is_retryable()), (501, false));
        // Every family but the base has a parent; UnknownModel is an InvalidRequest.
        for f in ErrorFamily::ALL {
            assert_eq!(f.parent().is_none(), f == F::Base);
        }
        assert_eq!(F::UnknownModel.parent(), Some(F::InvalidRequest));
    }
}
