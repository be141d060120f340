//! Anthropic's Message (the whole answer): content blocks, stop reason and usage, and a
//! failed model as Anthropic's error.

use axum::response::{IntoResponse, Response};
use llm_compare_core::{FinishReason, ModelResult, ToolCall};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::AnthropicError;

/// Anthropic's usage. `input_tokens` excludes what was read from the prompt cache, as
/// Anthropic counts it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct MessageUsage {
    /// Input tokens not read from the cache.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
}

/// A whole answer (Anthropic's `Message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    /// `msg_…`: the stored comparison's id after the prefix.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always `assistant`.
    pub role: &'static str,
    /// The model, as asked for.
    pub model: String,
    /// `thinking`, `text` and `tool_use` blocks, in that order.
    #[schema(value_type = Vec<Object>)]
    pub content: Vec<Value>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use` or `refusal`.
    pub stop_reason: &'static str,
    /// The stop sequence that ended the answer, when the provider said which.
    pub stop_sequence: Option<String>,
    /// Usage.
    pub usage: MessageUsage,
}

/// Anthropic's stop reason for a result.
pub(super) fn stop_reason(r: &ModelResult) -> &'static str {
    match r.finish_reason {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        _ if r.raw_finish_reason.as_deref() == Some("stop_sequence") => "stop_sequence",
        _ => "end_turn",
    }
}

pub(super) fn usage_of(r: &ModelResult) -> MessageUsage {
    let u = &r.usage;
    MessageUsage {
        input_tokens: u.input_tokens.saturating_sub(u.cached_input_tokens),
        output_tokens: u.output_tokens,
        cache_creation_input_tokens: u.cache_write_tokens,
        cache_read_input_tokens: u.cached_input_tokens,
    }
}

/// A tool call's arguments as the object Anthropic's `input` is (`{}` when not one).
pub(super) fn input_of(call: &ToolCall) -> Value {
    serde_json::from_str::<Value>(&call.arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// The whole Message of a model's result.
pub(super) fn message(id: String, model: String, r: &ModelResult) -> MessageBody {
    let mut content = Vec::with_capacity(2 + r.tool_calls.len());
    if !r.reasoning.is_empty() {
        content.push(json!({"type": "thinking", "thinking": r.reasoning, "signature": ""}));
    }
    if !r.text.is_empty() || r.tool_calls.is_empty() {
        content.push(json!({"type": "text", "text": r.text}));
    }
    for c in &r.tool_calls {
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input_of(c)}));
    }
    MessageBody {
        id,
        kind: "message",
        role: "assistant",
        model,
        content,
        stop_reason: stop_reason(r),
        stop_sequence: None,
        usage: usage_of(r),
    }
}

/// A model's failure as Anthropic's error response.
pub(super) fn failed(e: &llm_compare_core::ErrorInfo) -> Response {
    AnthropicError::from(llm_compare_core::Error::from(e)).into_response()
}
