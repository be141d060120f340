//! The event schema: the one wire contract shared by SSE, WebSocket, the CLI's `--json`,
//! Python and Node.
//!
//! Every [`Event`] carries a per-request `seq` that strictly increases, plus a `type` tag
//! (`status`, `stage`, `response_chunk`, `reasoning_chunk`, `tool_call`, `error`,
//! `model_result`, `complete`). `complete` is always last. See `docs/events.md`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::types::error::{Error, ErrorCode};
use crate::types::money::Cost;
use crate::types::request::ToolCall;
pub(crate) use crate::types::usage::{Usage, UsageSource};

/// One event of a comparison's merged stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Event {
    /// Position in the request's stream: starts at 1, strictly increases by 1.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// Whether this is a notice about the stream rather than part of the request's log: a
    /// request-wide `shutting_down` or `unavailable` error (sent with no SSE id, so a resume
    /// starts after the last real event).
    pub fn is_notice(&self) -> bool {
        matches!(
            self.kind,
            EventKind::Error {
                model_index: None,
                code: crate::ErrorCode::ShuttingDown | crate::ErrorCode::Unavailable,
                ..
            }
        )
    }

    /// The event's `type` tag as it appears on the wire (`response_chunk`, …).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// Serializes the event as one line of JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no custom errors.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The body of an [`Event`], tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The request's status changed.
    Status {
        /// The new status.
        status: RequestStatus,
    },
    /// A model moved to another stage.
    Stage {
        /// The model's position in the request (0-based).
        model_index: usize,
        /// The model id (`provider/model`).
        model: Arc<str>,
        /// The new stage.
        stage: Stage,
    },
    /// A piece of a model's answer.
    ResponseChunk {
        /// The model's position in the request.
        model_index: usize,
        /// The model id.
        model: Arc<str>,
        /// The new text.
        delta: String,
    },
    /// A piece of a model's reasoning ("thinking").
    ReasoningChunk {
        /// The model's position in the request.
        model_index: usize,
        /// The model id.
        model: Arc<str>,
        /// The new text.
        delta: String,
    },
    /// A complete tool call made by a model.
    ToolCall {
        /// The model's position in the request.
        model_index: usize,
        /// The model id.
        model: Arc<str>,
        /// The call's id as the provider named it.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON string as the model wrote it.
        arguments: String,
    },
    /// A tool's result, fed back to the model that called it (a comparison with executable
    /// tools: each model runs its own tool loop).
    ToolResult {
        /// The model's position in the request.
        model_index: usize,
        /// The model id.
        model: Arc<str>,
        /// The call it answers.
        call_id: String,
        /// The tool's name.
        name: String,
        /// What the tool returned (or why it failed).
        content: crate::types::content::Content,
        /// Whether the tool failed (the model sees the error and goes on).
        is_error: bool,
        /// How long the tool ran.
        duration_ms: f64,
        /// Taken from the comparison's tool cassette, not executed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
        replayed: bool,
    },
    /// A call of a client-side tool: the client carries it out and sends its result with
    /// `POST /v1/comparisons/{id}/tool_results` within `timeout_ms` (after that the model
    /// gets an error result).
    Action {
        /// The model's position in the request.
        model_index: usize,
        /// The model id.
        model: Arc<str>,
        /// The call's id (with `model_index`, what the result names).
        call_id: String,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON object valid against the tool's schema.
        #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
        arguments: serde_json::Value,
        /// How long the result is waited for.
        timeout_ms: u64,
    },
    /// One model finished a step of its tool loop: its tool calls run next.
    Step {
        /// The model's position in the request.
        model_index: usize,
        /// The model id.
        model: Arc<str>,
        /// The step that ended (1-based).
        step: u32,
        /// That step's usage.
        usage: Usage,
    },
    /// Something failed: one model (with `model_index`) or the whole request (without).
    Error {
        /// The failed model's position, absent for request-wide errors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model_index: Option<usize>,
        /// The failed model's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<Arc<str>>,
        /// Machine-readable code.
        code: ErrorCode,
        /// What went wrong, for a person.
        message: String,
        /// Whether trying again may help.
        retryable: bool,
    },
    /// One model's final result.
    ModelResult(Box<ModelResult>),
    /// The request finished; always the last event.
    Complete(Complete),
}

impl Event {
    /// This event as a blind comparison shows it: model ids replaced by "Model A", "Model B",
    /// … (by `model_index`), in every place an id appears.
    pub fn blinded(mut self) -> Self {
        let label = |i: usize| -> Arc<str> { Arc::from(blind_label(i)) };
        match &mut self.kind {
            EventKind::Stage {
                model_index, model, ..
            }
            | EventKind::ResponseChunk {
                model_index, model, ..
            }
            | EventKind::ReasoningChunk {
                model_index, model, ..
            }
            | EventKind::ToolCall {
                model_index, model, ..
            }
            | EventKind::ToolResult {
                model_index, model, ..
            }
            | EventKind::Action {
                model_index, model, ..
            }
            | EventKind::Step {
                model_index, model, ..
            } => *model = label(*model_index),
            EventKind::Error {
                model_index: Some(i),
                model,
                ..
            } => *model = Some(label(*i)),
            EventKind::ModelResult(r) => r.blind(),
            EventKind::Complete(c) => c.results.iter_mut().for_each(ModelResult::blind),
            EventKind::Status { .. } | EventKind::Error { .. } => {}
        }
        self
    }
}

impl EventKind {
    /// The `type` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Stage { .. } => "stage",
            Self::ResponseChunk { .. } => "response_chunk",
            Self::ReasoningChunk { .. } => "reasoning_chunk",
            Self::ToolCall { .. } => "tool_call",
            Self::ToolResult { .. } => "tool_result",
            Self::Action { .. } => "action",
            Self::Step { .. } => "step",
            Self::Error { .. } => "error",
            Self::ModelResult(_) => "model_result",
            Self::Complete(_) => "complete",
        }
    }

    /// The model this event is about, if it is about one.
    pub fn model_index(&self) -> Option<usize> {
        match self {
            Self::Stage { model_index, .. }
            | Self::ResponseChunk { model_index, .. }
            | Self::ReasoningChunk { model_index, .. }
            | Self::ToolCall { model_index, .. }
            | Self::ToolResult { model_index, .. }
            | Self::Action { model_index, .. }
            | Self::Step { model_index, .. } => Some(*model_index),
            Self::Error { model_index, .. } => *model_index,
            Self::ModelResult(r) => Some(r.model_index),
            Self::Status { .. } | Self::Complete(_) => None,
        }
    }
}

/// The status of a whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Registered, not started yet.
    Pending,
    /// Models are being called.
    Running,
    /// Finished, and at least one model answered.
    Completed,
    /// Finished, and every model failed.
    Failed,
    /// Cancelled by the caller (or expired unopened).
    Cancelled,
    /// The process running it stopped before it finished.
    Interrupted,
}

impl RequestStatus {
    /// Whether the request can change no more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }

    /// The status as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The stage of one model within a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting to be started.
    Queued,
    /// Call started, no token yet.
    Connecting,
    /// Tokens are arriving.
    Streaming,
    /// Finished successfully.
    Done,
    /// Failed (an `error` event says why).
    Failed,
    /// Stopped by a cancellation.
    Cancelled,
}

/// Why a model stopped generating, normalized across providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// The provider's filter stopped it.
    ContentFilter,
    /// It failed.
    Error,
    /// It was cancelled.
    Cancelled,
    /// Anything else (the raw reason says what).
    Other,
}

/// Per-model timing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Timing {
    /// Milliseconds from the call's start to its first token (`null` if none came).
    pub ttft_ms: Option<f64>,
    /// Milliseconds from the call's start to its end.
    pub total_ms: f64,
    /// Output tokens per second after the first token (`null` when not measurable).
    pub tokens_per_s: Option<f64>,
}

/// An error as carried inside results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorInfo {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// Whether trying again may help.
    pub retryable: bool,
}

impl From<&Error> for ErrorInfo {
    fn from(e: &Error) -> Self {
        let message = match e {
            Error::Provider(p) => p.message.clone(),
            other => other.to_string(),
        };
        Self {
            code: e.code(),
            message,
            retryable: e.is_retryable(),
        }
    }
}

/// A result's error as the error it was: its code (hence its status) and message, for a
/// front end that answers with it.
impl From<&ErrorInfo> for Error {
    fn from(e: &ErrorInfo) -> Self {
        Error::from(crate::types::error::ProviderError::new(
            e.code,
            e.message.clone(),
        ))
    }
}

/// A failed attempt of a model call (retried, or given up for a fallback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Attempt {
    /// The model that was tried.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub model: Arc<str>,
    /// Why it failed.
    #[serde(flatten)]
    pub error: ErrorInfo,
}

/// One model's final result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelResult {
    /// The model's position in the request.
    pub model_index: usize,
    /// The model id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub model: Arc<str>,
    /// The whole answer (what was streamed so far, if it failed or was cancelled).
    pub text: String,
    /// The whole reasoning, when the model streamed any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reasoning: String,
    /// Tool calls the model made, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped (normalized).
    pub finish_reason: Option<FinishReason>,
    /// The provider's own finish reason, as it named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_finish_reason: Option<String>,
    /// Whether the answer was cut short (failure or cancellation after some output).
    pub partial: bool,
    /// Token counts.
    pub usage: Usage,
    /// Cost in USD.
    pub cost: Cost,
    /// Timing.
    pub timing: Timing,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The model that actually answered, when a fallback did (`model` stays the one asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub served_by: Option<Arc<str>>,
    /// Failed attempts before the answer (retries and fallbacks), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Earlier session turns left out of this model's history because they no longer fit
    /// its context window (oldest first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_trimmed: u32,
    /// With a JSON `response_format`: whether the answer is JSON valid against the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub structured: Option<Structured>,
    /// Steps of its tool loop (a comparison with executable tools; absent otherwise): its
    /// usage and cost are summed over them, `tool_calls` lists every step's calls, and its
    /// time to first token is the first step's.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<u32>"))]
    pub steps: u32,
    /// Each step's tool exchange (what the model said with its calls, and the results it
    /// was given), oldest first: a session's next turn sends them again, so each model keeps
    /// its own tool history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<Vec<ToolStep>>"))]
    pub exchange: Vec<ToolStep>,
}

/// One step of a model's tool loop, as its history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ToolStep {
    /// What the model said in this step, before its calls.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<String>"))]
    pub text: String,
    /// Its calls.
    pub calls: Vec<ToolCall>,
    /// Their results, in the order the calls were made.
    pub results: Vec<ToolStepResult>,
}

/// A tool result in a [`ToolStep`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ToolStepResult {
    /// The call it answers.
    pub call_id: String,
    /// What the model was given.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: crate::types::content::Content,
    /// Whether it was an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub is_error: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Whether an answer asked for as JSON is valid: parsed, then checked against the schema
/// (draft 2020-12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Structured {
    /// Whether it is.
    pub valid: bool,
    /// What is wrong, where (`path`: a JSON pointer into the answer; empty: the whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StructuredError>,
}

/// One reason an answer is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StructuredError {
    /// A JSON pointer into the answer (`/items/0/price`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Structured {
    /// Checks `answer` against `format` (None for free text).
    pub fn check(format: &crate::types::request::ResponseFormat, answer: &str) -> Option<Self> {
        if !format.is_json() {
            return None;
        }
        let one = |path: &str, message: String| Structured {
            valid: false,
            errors: vec![StructuredError {
                path: path.into(),
                message,
            }],
        };
        let value: serde_json::Value = match serde_json::from_str(answer.trim()) {
            Ok(v) => v,
            Err(e) => return Some(one("", format!("not JSON: {e}"))),
        };
        let Some(schema) = format.schema() else {
            return Some(if value.is_object() {
                Structured {
                    valid: true,
                    errors: Vec::new(),
                }
            } else {
                one("", "not a JSON object".into())
            });
        };
        let validator = match jsonschema::validator_for(schema) {
            Ok(v) => v,
            Err(e) => return Some(one("", format!("the schema does not compile: {e}"))),
        };
        let errors: Vec<StructuredError> = validator
            .iter_errors(&value)
            .take(20)
            .map(|e| StructuredError {
                path: e.instance_path().to_string(),
                message: e.to_string(),
            })
            .collect();
        Some(Structured {
            valid: errors.is_empty(),
            errors,
        })
    }
}

/// The name a blind comparison shows for `model_index`: "Model A", "Model B", …, "Model Z",
/// then "Model 27", ….
pub fn blind_label(model_index: usize) -> String {
    match u8::try_from(model_index) {
        Ok(i) if i < 26 => format!("Model {}", char::from(b'A' + i)),
        _ => format!("Model {}", model_index + 1),
    }
}

impl ModelResult {
    /// Replaces every model id in this result by its blind label.
    pub fn blind(&mut self) {
        let label: Arc<str> = Arc::from(blind_label(self.model_index));
        // A fallback or an attempt would name the model too.
        if self.served_by.is_some() {
            self.served_by = Some(label.clone());
        }
        for a in &mut self.attempts {
            a.model = label.clone();
        }
        self.model = label;
    }
}

/// Sums over all models of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Totals {
    /// Input tokens of all models.
    pub input_tokens: u64,
    /// Output tokens of all models.
    pub output_tokens: u64,
    /// Cost of all priced models, in USD.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub cost_usd: crate::types::money::Usd,
    /// Whether every model was priced (if not, `cost_usd` covers the priced ones only).
    pub priced: bool,
}

impl Totals {
    /// The sums of `results`.
    pub fn of(results: &[ModelResult]) -> Self {
        let mut totals = Totals {
            priced: true,
            ..Totals::default()
        };
        for r in results {
            totals.input_tokens += r.usage.input_tokens;
            totals.output_tokens += r.usage.output_tokens;
            totals.cost_usd = totals
                .cost_usd
                .saturating_add(r.cost.total_usd.unwrap_or(crate::types::money::Usd(0)));
            totals.priced &= r.cost.priced;
        }
        totals
    }
}

/// The last event of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Complete {
    /// The request's id.
    pub request_id: String,
    /// Its final status.
    pub status: RequestStatus,
    /// Every model's result, by `model_index`.
    pub results: Vec<ModelResult>,
    /// Sums.
    pub totals: Totals,
    /// Milliseconds from start to end.
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_flat_and_tagged() {
        let e = Event {
            seq: 3,
            kind: EventKind::ResponseChunk {
                model_index: 1,
                model: Arc::from("sim/echo"),
                delta: " world".into(),
            },
        };
        let json = e.to_json();
        assert_eq!(
            json,
            r#"{"seq":3,"type":"response_chunk","model_index":1,"model":"sim/echo","delta":" world"}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        let s: Event =
            serde_json::from_str(r#"{"seq":1,"type":"status","status":"running"}"#).unwrap();
        assert_eq!(
            s.kind,
            EventKind::Status {
                status: RequestStatus::Running
            }
        );
    }
}
