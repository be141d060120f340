//! OpenAI-compatible chat completions (`POST {base}/chat/completions`, `stream: true`):
//! OpenAI, Groq, OpenRouter, xAI, DeepSeek, Mistral, Together, Ollama, vLLM, llama.cpp,
//! LM Studio, LiteLLM… Pure request building and stream parsing.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::providers::http::{Blobs, StreamParser, classify, cut_short, parse_error};
use crate::providers::provider::{ProviderEvent, ReportedUsage};
use crate::types::content::{Content, Part, Source};
use crate::types::error::{ErrorCode, ProviderError, Result};
use crate::types::event::FinishReason;
use crate::types::request::{ChatRequest, Role};

/// Wire options that differ between OpenAI-compatible servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiOptions {
    /// Send `stream_options: {include_usage: true}` (servers that reject it: off).
    pub include_usage: bool,
    /// Send `max_completion_tokens` instead of `max_tokens` (OpenAI's reasoning models
    /// refuse `max_tokens`).
    pub max_completion_tokens: bool,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        Self {
            include_usage: true,
            max_completion_tokens: false,
        }
    }
}

/// A user message's content: a string, or OpenAI's content parts (`text`, `image_url` with a
/// URL or a data URL, `file` with `file_data`; a plain-text file becomes text).
fn content_json(c: &Content, blobs: &mut Blobs) -> Value {
    let parts = match c {
        Content::Text(s) => return Value::String(s.clone()),
        Content::Parts(parts) => parts,
    };
    Value::Array(
        parts
            .iter()
            .map(|p| match (p, p.source()) {
                (Part::Image { .. }, Some(Source::Bytes { media_type, data })) => json!({
                    "type": "image_url",
                    "image_url": {"url": format!("data:{media_type};base64,{}", blobs.text(data))},
                }),
                (Part::Image { .. }, Some(Source::Url { url, .. })) => {
                    json!({"type": "image_url", "image_url": {"url": url}})
                }
                (
                    Part::File { name, .. },
                    Some(Source::Bytes {
                        media_type: "text/plain",
                        data,
                    }),
                ) => {
                    json!({"type": "text", "text": crate::providers::http::file_text(name.as_deref(), &data)})
                }
                (Part::File { name, .. }, Some(Source::Bytes { media_type, data })) => json!({
                    "type": "file",
                    "file": {
                        "filename": name.as_deref().unwrap_or("document.pdf"),
                        "file_data": format!("data:{media_type};base64,{}", blobs.text(data)),
                    },
                }),
                // Text, and what `accepts` refuses before any call (file URLs).
                _ => json!({"type": "text", "text": text_of(p)}),
            })
            .collect(),
    )
}

fn text_of(p: &Part) -> &str {
    match p {
        Part::Text { text } => text,
        _ => "",
    }
}

/// What of a request this wire format cannot carry: OpenAI's chat completions take files as
/// bytes only.
pub fn refusal(part: &Part) -> Option<String> {
    match (part, part.source()) {
        (Part::File { .. }, Some(Source::Url { .. })) => Some(
            "OpenAI-compatible chat completions take files as bytes: give the file's `data`, not a `url`"
                .into(),
        ),
        _ => None,
    }
}

/// The JSON body of a streaming chat completion.
pub fn build_body(req: &ChatRequest, opts: OpenAiOptions, blobs: &mut Blobs) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(req.messages.len());
    // Tool messages take text only: images and files a tool returned follow the tool
    // messages of their turn as one user message (a user message between them would break
    // the rule that tool messages answer the assistant's calls).
    let mut tool_media: Vec<Value> = Vec::new();
    for m in &req.messages {
        if m.role != Role::Tool && !tool_media.is_empty() {
            messages.push(json!({"role": "user", "content": std::mem::take(&mut tool_media)}));
        }
        messages.push(match m.role {
            Role::Tool => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                if m.content.media().next().is_some() {
                    tool_media.push(json!({"type": "text", "text": format!("Attachments of tool result `{id}`:")}));
                    let media = Content::Parts(m.content.media().map(|(_, p)| p.clone()).collect());
                    if let Value::Array(parts) = content_json(&media, blobs) {
                        tool_media.extend(parts);
                    }
                }
                json!({"role": "tool", "tool_call_id": id, "content": m.content.text()})
            }
            Role::Assistant if !m.tool_calls.is_empty() => json!({
                "role": "assistant",
                "content": if m.content.is_empty() { Value::Null } else { Value::String(m.content.text().into_owned()) },
                "tool_calls": m.tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })).collect::<Vec<_>>(),
            }),
            Role::User => json!({"role": "user", "content": content_json(&m.content, blobs)}),
            role => json!({
                "role": if role == Role::System { "system" } else { "assistant" },
                "content": m.content.text(),
            }),
        });
    }
    if !tool_media.is_empty() {
        messages.push(json!({"role": "user", "content": tool_media}));
    }
    let mut body = json!({
        "model": req.model.model(),
        "messages": messages,
        "stream": true,
    });
    let p = &req.params;
    let obj = body.as_object_mut();
    if let Some(obj) = obj {
        if opts.include_usage {
            obj.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if let Some(t) = p.temperature {
            obj.insert("temperature".into(), json!(t));
        }
        if let Some(t) = p.top_p {
            obj.insert("top_p".into(), json!(t));
        }
        if let Some(m) = p.max_tokens {
            let key = if opts.max_completion_tokens {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            obj.insert(key.into(), json!(m));
        }
        if !p.stop.is_empty() {
            obj.insert("stop".into(), json!(p.stop));
        }
        if let Some(s) = p.seed {
            obj.insert("seed".into(), json!(s));
        }
        if let Some(e) = p.reasoning_effort {
            obj.insert("reasoning_effort".into(), json!(e));
        }
        if !req.tools.is_empty() {
            obj.insert("tools".into(), json!(req.tools));
        }
        if let Some(tc) = &req.tool_choice {
            obj.insert("tool_choice".into(), json!(tc));
        }
        // Our `response_format` is OpenAI's shape; free text is the default, left out.
        if let Some(f) = req.response_format.as_ref().filter(|f| f.is_json()) {
            obj.insert("response_format".into(), json!(f));
        }
    }
    body
}

/// Normalizes OpenAI-style finish reasons.
pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "stop" | "eos" | "end_turn" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    // Boxed: usage comes in one chunk of a stream; every other chunk then moves a null
    // pointer, not a few hundred bytes, through serde's field slots (−9 % of the parse).
    #[serde(default)]
    usage: Option<Box<UsageJson>>,
    #[serde(default)]
    x_groq: Option<Box<XGroq>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct XGroq {
    #[serde(default)]
    usage: Option<Box<UsageJson>>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
struct UsageJson {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    // DeepSeek reports cache hits here.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
    // OpenRouter reports what the call cost (USD).
    #[serde(default)]
    cost: Option<f64>,
    // xAI reports it in ticks of 10⁻¹⁰ USD (exact integers).
    #[serde(default)]
    cost_in_usd_ticks: Option<u64>,
}

#[derive(Deserialize, Clone, Copy)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    // OpenRouter: tokens written to the upstream provider's prompt cache.
    #[serde(default)]
    cache_write_tokens: Option<u64>,
    // Audio in the prompt (gpt-audio, gpt-4o-audio-preview), billed at the audio rate.
    #[serde(default)]
    audio_tokens: Option<u64>,
}

// `accepted_prediction_tokens` / `rejected_prediction_tokens` (Predicted Outputs) are part of
// `completion_tokens` and billed at the output rate: nothing to read apart.
#[derive(Deserialize, Clone, Copy)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
    // Generated audio, billed at the audio output rate.
    #[serde(default)]
    audio_tokens: Option<u64>,
}

impl UsageJson {
    /// To llm-compare's conventions: output includes reasoning. Most servers count reasoning
    /// inside `completion_tokens`; some (xAI) do not, which `total_tokens` reveals.
    fn normalized(&self) -> ReportedUsage {
        let reasoning = self
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens);
        let mut output = self.completion_tokens;
        if let (Some(p), Some(c), Some(r), Some(t)) = (
            self.prompt_tokens,
            self.completion_tokens,
            reasoning,
            self.total_tokens,
        ) && r > 0
            && t == p + c + r
        {
            output = Some(c + r);
        }
        ReportedUsage {
            input_tokens: self.prompt_tokens,
            output_tokens: output,
            cached_input_tokens: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .or(self.prompt_cache_hit_tokens),
            // OpenAI bills no cache writes; OpenRouter passes Anthropic's on.
            cache_write_tokens: self
                .prompt_tokens_details
                .and_then(|d| d.cache_write_tokens),
            cache_write_1h_tokens: None,
            audio_input_tokens: self.prompt_tokens_details.and_then(|d| d.audio_tokens),
            cost: self
                .cost_in_usd_ticks
                // One tick is 10⁻¹⁰ USD: 100 pico-USD, exactly.
                .map(|ticks| crate::types::money::Usd(ticks.saturating_mul(100)))
                .or_else(|| {
                    self.cost
                        .filter(|c| c.is_finite() && *c >= 0.0)
                        .map(crate::types::money::Usd::from_f64)
                }),
            reasoning_tokens: reasoning,
            audio_output_tokens: self.completion_tokens_details.and_then(|d| d.audio_tokens),
        }
    }
}

/// Parses an OpenAI-compatible chat completion stream.
#[derive(Debug, Default)]
pub struct OpenAiParser {
    usage: ReportedUsage,
    finish: Option<String>,
    done: bool,
}

impl OpenAiParser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A mid-stream `{"error": …}` as a typed error.
fn stream_error(err: &Value) -> crate::types::error::Error {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| err.as_str().map(str::to_string))
        .unwrap_or_else(|| err.to_string());
    let kind = ["type", "code"]
        .iter()
        .filter_map(|k| err.get(*k))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .collect::<Vec<_>>()
        .join(" ");
    let base = if kind.contains("rate_limit") || kind.contains("429") {
        ErrorCode::RateLimited
    } else if kind.contains("overloaded") || kind.contains("503") {
        ErrorCode::Overloaded
    } else {
        ErrorCode::Server
    };
    ProviderError::new(classify(base, &kind, &message), message).into()
}

impl StreamParser for OpenAiParser {
    fn parse(&mut self, _event: &str, data: &str, out: &mut Vec<ProviderEvent>) -> Result<()> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| parse_error("chat completion chunk", data, &e))?;
        if let Some(err) = &chunk.error {
            return Err(stream_error(err));
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(r) = delta
                    .reasoning_content
                    .or(delta.reasoning)
                    .filter(|r| !r.is_empty())
                {
                    out.push(ProviderEvent::ReasoningDelta(r));
                }
                if let Some(c) = delta.content.filter(|c| !c.is_empty()) {
                    out.push(ProviderEvent::TextDelta(c));
                }
                for (pos, tc) in delta.tool_calls.into_iter().flatten().enumerate() {
                    let (name, arguments) = match tc.function {
                        Some(f) => (f.name, f.arguments.unwrap_or_default()),
                        None => (None, String::new()),
                    };
                    out.push(ProviderEvent::ToolCallDelta {
                        index: tc.index.unwrap_or(pos),
                        id: tc.id.filter(|s| !s.is_empty()),
                        name: name.filter(|s| !s.is_empty()),
                        arguments,
                    });
                }
            }
            if let Some(f) = choice.finish_reason.filter(|f| !f.is_empty()) {
                self.finish = Some(f);
            }
        }
        // Usage: top level (OpenAI, usage-only final chunk) or under x_groq (Groq).
        if let Some(u) = chunk.usage.or_else(|| chunk.x_groq.and_then(|x| x.usage)) {
            self.usage.merge(&u.normalized());
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self, out: &mut Vec<ProviderEvent>) -> Result<()> {
        // Without [DONE] a finish_reason still proves the answer is whole; without either
        // the connection was cut.
        let Some(raw) = self.finish.take() else {
            return Err(cut_short());
        };
        if self.usage != ReportedUsage::default() {
            out.push(ProviderEvent::Usage(self.usage));
        }
        out.push(ProviderEvent::Finish {
            reason: finish_reason(&raw),
            raw: Some(raw),
        });
        Ok(())
    }
}
