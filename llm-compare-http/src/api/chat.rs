//! `POST /v1/chat/completions`: OpenAI-compatible — request fields honoured, ignored on
//! purpose or refused by name, responses and errors in the shapes of OpenAI's OpenAPI
//! document (tests/it/openai_schema.rs) — one model, streaming or not, so existing OpenAI
//! clients can use any configured model (and fallbacks, retries, pricing) through
//! llm-compare. A client that disconnects cancels the upstream call: the comparison is owned
//! by the response stream.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use llm_compare_core::{
    CompareRequest, Content, EventKind, FinishReason, Message, ModelResult, Params, Part, Tool,
    ToolChoice, bursts,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{JsonBody, Who};
use super::metrics;
use super::openai_error::{self, OpenAiError, OpenAiErrorBody};
use crate::server::AppState;

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
fn content_of(content: &Option<Value>, field: &str) -> Result<Content, ApiError> {
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
    fn str_at<'v>(p: &'v Value, path: &[&str]) -> Option<&'v str> {
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
    fn refuse_unsupported(&self) -> Result<(), ApiError> {
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

    fn into_compare(self) -> Result<CompareRequest, ApiError> {
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
            },
            tools: self.tools.unwrap_or_default(),
            tool_choice: self.tool_choice,
            response_format: self.response_format,
        })
    }
}

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

fn finish_name(r: &ModelResult) -> &'static str {
    match r.finish_reason {
        Some(FinishReason::Length) => "length",
        Some(FinishReason::ToolCalls) => "tool_calls",
        Some(FinishReason::ContentFilter) => "content_filter",
        _ => "stop",
    }
}

fn usage_of(r: &ModelResult) -> ChatUsage {
    ChatUsage {
        prompt_tokens: r.usage.input_tokens,
        completion_tokens: r.usage.output_tokens,
        total_tokens: r.usage.input_tokens + r.usage.output_tokens,
    }
}

fn tool_calls_json(r: &ModelResult) -> Vec<Value> {
    r.tool_calls
        .iter()
        .map(|t| json!({"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}))
        .collect()
}

/// OpenAI-compatible chat completions for one model.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "A completion, or (stream: true) chat.completion.chunk events then [DONE]",
         body = ChatCompletion),
        (status = 400, description = "Bad body, a field that cannot be honoured, or an unknown model (OpenAI error shape, naming the field in `param`)", body = OpenAiErrorBody),
        (status = 401, description = "Missing or wrong API key (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 402, description = "The caller's budget cannot cover the worst-case cost (OpenAI error shape, `insufficient_quota`)"),
        (status = 403, description = "The API key may not use this model (OpenAI error shape, `model_not_allowed`)"),
        (status = 413, description = "Body too large (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 415, description = "Body is not JSON (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 429, description = "Too many requests per minute, or too many active ones (OpenAI error shape)",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "The model failed (OpenAI error shape)"),
        (status = 503, description = "The model is overloaded, or the database or registry is unreachable (OpenAI error shape)",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 504, description = "The model timed out (OpenAI error shape)"),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn completions(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<ChatCompletionRequest>, ApiError>,
) -> Result<Response, OpenAiError> {
    state.check_rate(&who)?;
    let JsonBody(body) = body?;
    let stream = body.stream;
    let include_usage = body
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let request = body.into_compare()?;
    let call = state
        .service()
        .chat_completion(&who, request)
        .await
        .map_err(|e| {
            let mut e = ApiError::from(e);
            // The engine names a comparison's `models`; this request has one `model`.
            if e.field
                .as_deref()
                .is_some_and(|f| f == "models" || f.starts_with("models["))
            {
                e.field = Some("model".into());
            }
            OpenAiError(e)
        })?;
    let header_id = HeaderValue::from_str(&call.id).ok();
    let id = format!("chatcmpl-{}", call.id);
    let model = call.model;
    let mut events = call.events;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    if !stream {
        let mut result = None;
        while let Some(e) = events.next().await {
            if let EventKind::ModelResult(r) = e.kind {
                result = Some(*r);
            }
        }
        let Some(r) = result else {
            return Err(llm_compare_core::Error::Internal("no result".into()).into());
        };
        if let Some(e) = &r.error {
            return Ok(with_id(failed(e), header_id));
        }
        let tool_calls = (!r.tool_calls.is_empty()).then(|| tool_calls_json(&r));
        let body = ChatCompletion {
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
                finish_reason: finish_name(&r),
            }],
            usage: usage_of(&r),
        };
        return Ok(with_id(Json(body).into_response(), header_id));
    }

    // The headers wait for the model's first output, for at most `HEADERS_WAIT`: a model
    // that fails before it says anything gets its own HTTP status, as OpenAI's API answers
    // (the SDKs raise their typed error from `create`), and the headers leave in the same
    // write as the first burst of chunks (one write, and one wake-up of the client, fewer).
    // What is ready leaves in one write: a token arriving alone is sent at once; a burst
    // (a fast upstream, a proxy that batches) costs one write, not one per token.
    let mut batches = bursts(events, 256);
    let mut opening: Vec<llm_compare_core::Event> = Vec::new();
    let _ = tokio::time::timeout(HEADERS_WAIT, async {
        while let Some(batch) = batches.next().await {
            let output = batch.iter().any(|e| is_output(&e.kind));
            opening.extend(batch);
            if output {
                break;
            }
        }
    })
    .await;
    let said = opening.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::ResponseChunk { .. } | EventKind::ReasoningChunk { .. }
        )
    });
    let refused = opening.iter().find_map(|e| match &e.kind {
        EventKind::ModelResult(r) if !said => r.error.as_ref().map(failed),
        _ => None,
    });
    if let Some(resp) = refused {
        // What follows the result (the comparison's end) is recorded as the stream ends.
        while batches.next().await.is_some() {}
        return Ok(with_id(resp, header_id));
    }
    let batches = futures::stream::iter((!opening.is_empty()).then_some(opening)).chain(batches);
    let frames = Frames::new(id, model, created, include_usage);
    let guard = metrics::stream_opened("openai");
    let mut first = true;
    let body = batches.map(move |batch| {
        let _held = &guard;
        let mut out = Vec::with_capacity(256 * (batch.len() + 1));
        let mut n = 0;
        for e in batch {
            // The role chunk goes with the first output (as OpenAI sends it): status and
            // stage events make no chunk, so they cost the client no write of their own.
            if first
                && matches!(
                    e.kind,
                    EventKind::ResponseChunk { .. }
                        | EventKind::ReasoningChunk { .. }
                        | EventKind::ModelResult(_)
                )
            {
                first = false;
                n += frames.chunk(&mut out, Delta::role(), None);
            }
            n += match e.kind {
                EventKind::ResponseChunk { delta, .. } => frames.content(&mut out, &delta),
                EventKind::ReasoningChunk { delta, .. } => {
                    frames.chunk(&mut out, Delta::reasoning(&delta), None)
                }
                EventKind::ModelResult(r) => frames.result(&mut out, &r),
                EventKind::Complete(_) => {
                    out.extend_from_slice(b"data: [DONE]\n\n");
                    1
                }
                _ => 0,
            };
        }
        metrics::events_sent("openai", n);
        Ok::<_, Infallible>(Bytes::from(out))
    });
    Ok(with_id(
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(body),
        )
            .into_response(),
        header_id,
    ))
}

/// How long a streamed completion's headers wait for the model's first output: past it they
/// leave alone (a slow first token must not look like a dead server to the client).
const HEADERS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// An event that makes a chunk (or ends the stream): what the headers wait for.
fn is_output(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ResponseChunk { .. }
            | EventKind::ReasoningChunk { .. }
            | EventKind::ModelResult(_)
            | EventKind::Complete(_)
    )
}

/// A model's failure as OpenAI's error response (status, type, message).
fn failed(e: &llm_compare_core::ErrorInfo) -> Response {
    let err = llm_compare_core::Error::from(llm_compare_core::ProviderError::new(
        e.code,
        e.message.clone(),
    ));
    OpenAiError::from(err).into_response()
}

/// The response with `x-request-id` set to the chat completion's stored id.
fn with_id(mut resp: Response, id: Option<HeaderValue>) -> Response {
    if let Some(id) = id {
        resp.headers_mut().insert("x-request-id", id);
    }
    resp
}

/// The `delta` of a `chat.completion.chunk`.
#[derive(Debug, Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<Value>>,
}

impl<'a> Delta<'a> {
    fn role() -> Self {
        Self {
            role: Some("assistant"),
            content: Some(""),
            ..Self::default()
        }
    }
    fn content(text: &'a str) -> Self {
        Self {
            content: Some(text),
            ..Self::default()
        }
    }
    fn reasoning(text: &'a str) -> Self {
        Self {
            reasoning_content: Some(text),
            ..Self::default()
        }
    }
}

#[derive(Debug, Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    // Null until the last chunk, as the API sends it: OpenAI's OpenAPI document types it a
    // string (with OpenAPI 3.0's `nullable`), and its SDKs read null. Always present.
    finish_reason: Option<&'a str>,
}

/// One `chat.completion.chunk` (typed, serialized straight into the frame buffer).
#[derive(Debug, Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a ChatUsage>,
}

/// `data: <json>` and the blank line that ends an SSE event; returns 1 (events written).
fn sse_data(out: &mut Vec<u8>, data: &impl Serialize) -> u64 {
    out.extend_from_slice(b"data: ");
    // Serializing these types cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
    1
}

/// Writes the chunks of one streamed completion.
#[derive(Debug)]
struct Frames {
    id: String,
    model: String,
    created: u64,
    /// `stream_options.include_usage`: a last chunk with the usage and no choices.
    include_usage: bool,
    /// A content chunk's frame around its text, rendered once (see [`Frames::content`]).
    content_frame: (Vec<u8>, Vec<u8>),
}

impl Frames {
    fn new(id: String, model: String, created: u64, include_usage: bool) -> Self {
        let mut frames = Self {
            id,
            model,
            created,
            include_usage,
            content_frame: (Vec::new(), Vec::new()),
        };
        let mut head = Vec::new();
        frames.chunk(&mut head, Delta::content(""), None);
        // The empty text is the frame's last `""`: what follows it (`},"finish_reason":null}]}`)
        // holds none, while an id or a model name ending in `"` ends in `\""` before it.
        let at = head
            .windows(2)
            .rposition(|w| w == b"\"\"")
            .unwrap_or(head.len());
        let tail = head.split_off(at);
        let tail = tail.get(2..).unwrap_or_default().to_vec();
        frames.content_frame = (head, tail);
        frames
    }

    /// A content chunk — the most frequent frame by far — as its fixed frame around the
    /// text serialized as a JSON string: the same bytes as [`Frames::chunk`] with
    /// [`Delta::content`] (a test holds them equal), without escaping the id and the model
    /// name again for every token.
    fn content(&self, out: &mut Vec<u8>, text: &str) -> u64 {
        let (head, tail) = &self.content_frame;
        out.extend_from_slice(head);
        // Serializing a string cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
        out.extend_from_slice(tail);
        1
    }

    fn write(
        &self,
        out: &mut Vec<u8>,
        choices: &[ChunkChoice<'_>],
        usage: Option<&ChatUsage>,
    ) -> u64 {
        sse_data(
            out,
            &Chunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices,
                usage,
            },
        )
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Delta<'_>, finish: Option<&str>) -> u64 {
        let choice = ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
        };
        self.write(out, std::slice::from_ref(&choice), None)
    }

    /// The model's end: its tool calls and finish reason (or its error, as OpenAI's
    /// `ErrorResponse`, which its SDKs raise mid-stream), then the usage when asked for.
    fn result(&self, out: &mut Vec<u8>, r: &ModelResult) -> u64 {
        let mut n = 0;
        if let Some(err) = &r.error {
            let e = ApiError::from(llm_compare_core::Error::from(
                llm_compare_core::ProviderError::new(err.code, err.message.clone()),
            ));
            n += sse_data(out, &openai_error::body_of(&e));
        } else {
            if !r.tool_calls.is_empty() {
                let calls: Vec<Value> = tool_calls_json(r)
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut c)| {
                        c["index"] = json!(i);
                        c
                    })
                    .collect();
                let delta = Delta {
                    tool_calls: Some(calls),
                    ..Delta::default()
                };
                n += self.chunk(out, delta, None);
            }
            n += self.chunk(out, Delta::default(), Some(finish_name(r)));
        }
        if self.include_usage {
            n += self.write(out, &[], Some(&usage_of(r)));
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_chunk_is_the_typed_chunk_byte_for_byte() {
        for (id, model) in [
            ("chatcmpl-1", "mock/mock-1"),
            ("chatcmpl-\"\"", "a \"\" model \\ é \u{1}"),
            ("chatcmpl-ends-in-a-quote\"", "ends in a quote\""),
            ("", ""),
        ] {
            let frames = Frames::new(id.into(), model.into(), 1_700_000_000, true);
            for text in [
                "",
                "Hello",
                "\"\"",
                "a \"quote\" \\ \n\t\u{0} é 😀",
                "\"\"\"\"",
            ] {
                let (mut fast, mut typed) = (Vec::new(), Vec::new());
                assert_eq!(frames.content(&mut fast, text), 1);
                frames.chunk(&mut typed, Delta::content(text), None);
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(typed).unwrap(),
                    "{id:?} {model:?} {text:?}"
                );
            }
        }
    }
}
