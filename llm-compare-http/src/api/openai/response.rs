//! OpenAI's chat completion response (`chat.completion`): the answer, its usage and finish
//! reason, and a failed model as OpenAI's error.

use axum::response::{IntoResponse, Response};
use llm_compare_core::{FinishReason, ModelResult};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::OpenAiError;

/// OpenAI usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatUsage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
}

/// A non-streaming chat completion (OpenAI's `CreateChatCompletionResponse`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-…`.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model.
    pub model: String,
    /// One choice.
    pub choices: Vec<ChatChoice>,
    /// Usage.
    pub usage: ChatUsage,
}

/// The one choice of a completion.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatChoice {
    /// 0.
    pub index: u32,
    /// The answer.
    pub message: ChatAnswer,
    /// Always null: log probabilities are not reported (OpenAI requires the key).
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<Value>,
    /// `stop`, `length`, `tool_calls` or `content_filter`.
    pub finish_reason: &'static str,
}

/// The assistant's message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatAnswer {
    /// `assistant`.
    pub role: &'static str,
    /// The text; null when the model only called tools.
    pub content: Option<String>,
    /// Always null (OpenAI requires the key).
    pub refusal: Option<String>,
    /// The tool calls, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Vec<Value>>,
}

pub(super) fn finish_name(r: &ModelResult) -> &'static str {
    match r.finish_reason {
        Some(FinishReason::Length) => "length",
        Some(FinishReason::ToolCalls) => "tool_calls",
        Some(FinishReason::ContentFilter) => "content_filter",
        _ => "stop",
    }
}

pub(super) fn usage_of(r: &ModelResult) -> ChatUsage {
    ChatUsage {
        prompt_tokens: r.usage.input_tokens,
        completion_tokens: r.usage.output_tokens,
        total_tokens: r.usage.input_tokens + r.usage.output_tokens,
    }
}

pub(super) fn tool_calls_json(r: &ModelResult) -> Vec<Value> {
    r.tool_calls
        .iter()
        .map(|t| json!({"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}))
        .collect()
}

/// A model's failure as OpenAI's error response (status, type, message).
pub(super) fn failed(e: &llm_compare_core::ErrorInfo) -> Response {
    OpenAiError::from(llm_compare_core::Error::from(e)).into_response()
}

/// The whole completion of a model's result.
pub(super) fn completion(
    id: String,
    created: u64,
    model: String,
    r: &ModelResult,
) -> ChatCompletion {
    let tool_calls = (!r.tool_calls.is_empty()).then(|| tool_calls_json(r));
    ChatCompletion {
        id,
        object: "chat.completion".into(),
        created,
        model,
        choices: vec![ChatChoice {
            index: 0,
            message: ChatAnswer {
                role: "assistant",
                // As OpenAI: a message that only calls tools has null content.
                content: (tool_calls.is_none() || !r.text.is_empty()).then(|| r.text.clone()),
                refusal: None,
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish_name(r),
        }],
        usage: usage_of(r),
    }
}
