//! OpenAI's chat completion request, and its translation into a comparison of one model:
//! fields honoured, ignored on purpose, or refused by name.

use llm_compare_core::{CompareRequest, Content, Message, Params, Part, Tool, ToolChoice};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::error::ApiError;

/// An OpenAI chat message (text content; tool calls and tool results included).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or an array of `{type: "text", text}` parts.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// An assistant's tool calls (OpenAI format).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Vec<Value>>,
    /// For `tool` messages: the call answered.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Ignored.
    #[serde(default)]
    pub name: Option<String>,
}

/// `stream_options`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with the usage (and no choices), as OpenAI does when asked.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// The OpenAI chat completion request. Every field of OpenAI's request is honoured, ignored on
/// purpose (it cannot change the answer: `user`, `store`, `metadata`, caching and service
/// hints…), or — when it would change the answer and cannot be honoured — refused with a 400
/// naming it (`n > 1`, `logprobs`, audio output, …); docs/server.md lists which is which.
/// Fields OpenAI does not define are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// A model id, `provider/model` (or an alias).
    #[schema(example = "sim/echo")]
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Stream as SSE chunks.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Most tokens to generate (newer name).
    pub max_completion_tokens: Option<u32>,
    /// Stop sequences (string or array).
    #[schema(value_type = Option<Object>)]
    pub stop: Option<Value>,
    /// Seed.
    pub seed: Option<u64>,
    /// How hard a reasoning model thinks: sent to OpenAI and OpenAI-compatible models.
    pub reasoning_effort: Option<llm_compare_core::ReasoningEffort>,
    /// Tools.
    pub tools: Option<Vec<Tool>>,
    /// Tool choice.
    pub tool_choice: Option<ToolChoice>,
    /// The answer's shape: `{"type": "json_schema", "json_schema": {…}}` or
    /// `{"type": "json_object"}`.
    pub response_format: Option<llm_compare_core::ResponseFormat>,
    /// Refused unless 1: one choice per completion (compare models with `/v1/comparisons`).
    pub n: Option<u32>,
    /// Refused when true: log probabilities are not reported.
    pub logprobs: Option<bool>,
    /// Refused unless 0.
    pub top_logprobs: Option<u32>,
    /// Refused unless `["text"]`: text output only.
    #[schema(value_type = Option<Vec<String>>)]
    pub modalities: Option<Vec<String>>,
    /// Refused: no audio output.
    #[schema(value_type = Option<Object>)]
    pub audio: Option<Value>,
    /// Refused unless empty.
    #[schema(value_type = Option<Object>)]
    pub logit_bias: Option<Value>,
    /// Refused unless 0.
    pub frequency_penalty: Option<f32>,
    /// Refused unless 0.
    pub presence_penalty: Option<f32>,
    /// Refused: no web search.
    #[schema(value_type = Option<Object>)]
    pub web_search_options: Option<Value>,
    /// Refused: deprecated by OpenAI; send `tools`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub functions: Option<Value>,
    /// Refused: deprecated by OpenAI; send `tool_choice`.
    #[schema(value_type = Option<Object>)]
    pub function_call: Option<Value>,
}

/// A message's content in OpenAI's shapes — a string, or content parts (`text`, `image_url`
/// with a URL or a data URL, `file` with `file_data`) — as the engine's [`Content`]; `field`
/// is the message's path for errors.
pub(super) fn content_of(content: &Option<Value>, field: &str) -> Result<Content, ApiError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Content::default()),
        Some(Value::String(s)) => return Ok(Content::Text(s.clone())),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{field}.content"),
                "content must be a string or an array of content parts",
            ));
        }
    };
    pub(super) fn str_at<'v>(p: &'v Value, path: &[&str]) -> Option<&'v str> {
        path.iter()
            .try_fold(p, |v, k| v.get(k))
            .and_then(Value::as_str)
    }
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let at = format!("{field}.content[{j}]");
        let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
        out.push(match kind {
            "text" => Part::Text {
                text: str_at(p, &["text"]).unwrap_or_default().to_string(),
            },
            "image_url" => Part::Image {
                media_type: None,
                data: None,
                url: Some(
                    str_at(p, &["image_url", "url"])
                        .ok_or_else(|| {
                            ApiError::invalid(
                                format!("{at}.image_url.url"),
                                "an image_url part needs image_url.url",
                            )
                        })?
                        .into(),
                ),
            },
            "file" => Part::File {
                media_type: None,
                data: None,
                url: Some(
                    str_at(p, &["file", "file_data"])
                        .ok_or_else(|| {
                            ApiError::invalid(
                                format!("{at}.file.file_data"),
                                "a file part needs file.file_data (a data: URL; file ids are not supported)",
                            )
                        })?
                        .into(),
                ),
                name: str_at(p, &["file", "filename"]).map(str::to_string),
            },
            other => {
                return Err(ApiError::invalid(
                    format!("{at}.type"),
                    format!("`{other}` parts are not supported: text, image_url or file"),
                ));
            }
        });
    }
    Ok(Content::Parts(out))
}

impl ChatCompletionRequest {
    /// The first field set to something that would change the answer and that llm-compare
    /// cannot honour: a 400 naming it (rather than an answer the client did not ask for).
    pub(super) fn refuse_unsupported(&self) -> Result<(), ApiError> {
        let refused = |field: &str, why: &str| Err(ApiError::invalid(field, why));
        if self.n.is_some_and(|n| n != 1) {
            return refused(
                "n",
                "only n = 1 is supported: one choice per completion (to compare several answers, POST /v1/comparisons)",
            );
        }
        if self.logprobs == Some(true) {
            return refused("logprobs", "log probabilities are not supported");
        }
        if self.top_logprobs.is_some_and(|n| n > 0) {
            return refused("top_logprobs", "log probabilities are not supported");
        }
        if let Some(m) = &self.modalities
            && m.iter().any(|m| m != "text")
        {
            return refused("modalities", "only text output is supported");
        }
        if self.audio.as_ref().is_some_and(|a| !a.is_null()) {
            return refused("audio", "audio output is not supported");
        }
        if self
            .logit_bias
            .as_ref()
            .is_some_and(|b| b.as_object().is_none_or(|o| !o.is_empty()) && !b.is_null())
        {
            return refused("logit_bias", "logit_bias is not supported");
        }
        if self.frequency_penalty.is_some_and(|p| p != 0.0) {
            return refused("frequency_penalty", "frequency_penalty is not supported");
        }
        if self.presence_penalty.is_some_and(|p| p != 0.0) {
            return refused("presence_penalty", "presence_penalty is not supported");
        }
        if self
            .web_search_options
            .as_ref()
            .is_some_and(|w| !w.is_null())
        {
            return refused("web_search_options", "web search is not supported");
        }
        if self.functions.as_ref().is_some_and(|f| !f.is_null()) {
            return refused(
                "functions",
                "functions is deprecated by OpenAI and not supported: send tools",
            );
        }
        if self.function_call.as_ref().is_some_and(|f| !f.is_null()) {
            return refused(
                "function_call",
                "function_call is deprecated by OpenAI and not supported: send tool_choice",
            );
        }
        Ok(())
    }

    pub(super) fn into_compare(self) -> Result<CompareRequest, ApiError> {
        self.refuse_unsupported()?;
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let content = content_of(&m.content, &format!("messages[{i}]"))?;
            let msg = match m.role.as_str() {
                "system" | "developer" => Message::system(content),
                "user" => Message::user(content),
                "assistant" => {
                    let calls = m
                        .tool_calls
                        .iter()
                        .flatten()
                        .map(|c| llm_compare_core::ToolCall {
                            id: c["id"].as_str().unwrap_or_default().to_string(),
                            name: c["function"]["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            arguments: c["function"]["arguments"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        })
                        .collect();
                    Message::assistant_tool_calls(content, calls)
                }
                "tool" => Message::tool_result(m.tool_call_id.clone().unwrap_or_default(), content),
                other => {
                    return Err(ApiError::invalid(
                        format!("messages[{i}].role"),
                        format!("unknown role `{other}`"),
                    ));
                }
            };
            messages.push(msg);
        }
        let stop = match self.stop {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "stop",
                    "stop must be a string or an array of strings",
                ));
            }
        };
        Ok(CompareRequest {
            models: vec![self.model],
            messages,
            system: None,
            params: Params {
                temperature: self.temperature,
                max_tokens: self.max_completion_tokens.or(self.max_tokens),
                top_p: self.top_p,
                stop,
                seed: self.seed,
                reasoning_effort: self.reasoning_effort,
            },
            tools: self.tools.unwrap_or_default(),
            tool_choice: self.tool_choice,
            response_format: self.response_format,
        })
    }
}
