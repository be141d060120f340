//! Anthropic Messages (`POST {base}/v1/messages`, `stream: true`). Pure request building
//! and stream parsing.
//!
//! Stream: `message_start` (usage) → per content block `content_block_start` /
//! `content_block_delta` (`text_delta`, `thinking_delta`, `input_json_delta`) /
//! `content_block_stop` → `message_delta` (stop reason, usage updated field by field) →
//! `message_stop`; `ping` anywhere; `error` mid-stream.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::providers::http::{Blobs, StreamParser, classify, cut_short, parse_error};
use crate::providers::http::{arguments_object, push_merged};
use crate::providers::provider::{ProviderEvent, ReportedUsage};
use crate::types::content::{Content, Part, Source};
use crate::types::error::{ErrorCode, ProviderError, Result};
use crate::types::event::FinishReason;
use crate::types::request::{ChatRequest, Role, ToolChoice, ToolChoiceMode};

/// `max_tokens` is mandatory on this API; used when the request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A user message's content blocks: `text`, `image` and `document` blocks with a `base64`,
/// `url` or (plain-text files) `text` source.
fn blocks_of(c: &Content, blobs: &mut Blobs) -> Vec<Value> {
    let parts = match c {
        Content::Text(s) => return vec![json!({"type": "text", "text": s})],
        Content::Parts(parts) => parts,
    };
    parts
        .iter()
        .map(|p| {
            let source = match p.source() {
                Some(Source::Bytes {
                    media_type: "text/plain",
                    data,
                }) => {
                    json!({"type": "text", "media_type": "text/plain", "data": crate::providers::http::decoded_text(&data)})
                }
                Some(Source::Bytes { media_type, data }) => {
                    json!({"type": "base64", "media_type": media_type, "data": blobs.text(data)})
                }
                Some(Source::Url { url, .. }) => json!({"type": "url", "url": url}),
                None => {
                    let text = match p {
                        Part::Text { text } => text.as_str(),
                        _ => "",
                    };
                    return json!({"type": "text", "text": text});
                }
            };
            match p {
                Part::File { name: Some(n), .. } => {
                    json!({"type": "document", "source": source, "title": n})
                }
                Part::File { .. } => json!({"type": "document", "source": source}),
                _ => json!({"type": "image", "source": source}),
            }
        })
        .collect()
}

/// The JSON body of a streaming Messages request.
pub fn build_body(req: &ChatRequest, blobs: &mut Blobs) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => ("user", blocks_of(&m.content, blobs)),
            // A tool result with images or documents carries them as its content blocks.
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": if m.content.media().next().is_some() {
                        Value::Array(blocks_of(&m.content, blobs))
                    } else {
                        Value::String(m.content.text().into_owned())
                    },
                })],
            ),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content.text()}));
                }
                for c in &m.tool_calls {
                    blocks.push(json!({
                        "type": "tool_use", "id": c.id, "name": c.name,
                        "input": arguments_object(&c.arguments),
                    }));
                }
                ("assistant", blocks)
            }
        };
        push_merged(&mut messages, role, "content", blocks);
    }
    let p = &req.params;
    let mut body = json!({
        "model": req.model.model(),
        "messages": messages,
        "max_tokens": p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    if let Some(obj) = body.as_object_mut() {
        if let Some(s) = req.system_prompt() {
            obj.insert("system".into(), json!(s));
        }
        if let Some(t) = p.temperature {
            // Anthropic's range is 0–1.
            obj.insert("temperature".into(), json!(t.min(1.0)));
        }
        if let Some(t) = p.top_p {
            obj.insert("top_p".into(), json!(t));
        }
        if !p.stop.is_empty() {
            obj.insert("stop_sequences".into(), json!(p.stop));
        }
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "name": t.function.name,
                        "description": t.function.description.clone().unwrap_or_default(),
                        "input_schema": t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    })
                })
                .collect();
            obj.insert("tools".into(), json!(tools));
        }
        // Structured output as a forced call of one tool whose input is the answer (the
        // parser turns that call back into text: see `answer_tool`).
        if let Some((name, schema)) = answer_tool(req) {
            let tool = json!({
                "name": name,
                "description": "Give your answer as this tool's input.",
                "input_schema": schema,
            });
            match obj.get_mut("tools").and_then(Value::as_array_mut) {
                Some(tools) => tools.push(tool),
                None => {
                    obj.insert("tools".into(), json!([tool]));
                }
            }
            obj.insert("tool_choice".into(), json!({"type": "tool", "name": name}));
            return body;
        }
        if let Some(tc) = &req.tool_choice {
            let choice = match tc {
                ToolChoice::Mode(ToolChoiceMode::Auto) => json!({"type": "auto"}),
                ToolChoice::Mode(ToolChoiceMode::None) => json!({"type": "none"}),
                ToolChoice::Mode(ToolChoiceMode::Required) => json!({"type": "any"}),
                ToolChoice::Function { function, .. } => {
                    json!({"type": "tool", "name": function.name})
                }
            };
            obj.insert("tool_choice".into(), choice);
        }
    }
    body
}

/// The tool a structured answer is asked for through — its name and input schema — when the
/// request asks for JSON.
pub fn answer_tool(req: &ChatRequest) -> Option<(String, Value)> {
    let f = req.response_format.as_ref().filter(|f| f.is_json())?;
    Some(match f {
        crate::types::request::ResponseFormat::JsonSchema { json_schema } => {
            (json_schema.name.clone(), json_schema.schema.clone())
        }
        _ => ("json_answer".into(), json!({"type": "object"})),
    })
}

/// Normalizes Anthropic stop reasons.
pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    ContentBlockStop {},
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<UsageJson>,
    },
    MessageStop {},
    Ping {},
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct MessageStart {
    #[serde(default)]
    usage: Option<UsageJson>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize, Clone, Copy, Default)]
struct UsageJson {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    // The cache writes split by lifetime (5 minutes, 1 hour), billed at different rates.
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize, Clone, Copy, Default)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}

/// Parses an Anthropic Messages stream.
#[derive(Debug, Default)]
pub struct AnthropicParser {
    /// The tool whose input is the answer (structured output): its input is text.
    answer_tool: Option<String>,
    /// Content block indexes of that tool's calls.
    answer_blocks: std::collections::HashSet<usize>,
    usage: UsageJson,
    stop_reason: Option<String>,
    /// Content block index → tool call slot.
    tool_slots: HashMap<usize, usize>,
    next_slot: usize,
    done: bool,
}

impl std::fmt::Debug for UsageJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}/{:?}", self.input_tokens, self.output_tokens)
    }
}

impl AnthropicParser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for a request answered through tool `name` (structured output): that tool's
    /// input streams as the answer's text, and its `tool_use` stop is a plain stop.
    pub fn answering(name: Option<String>) -> Self {
        Self {
            answer_tool: name,
            ..Self::default()
        }
    }

    fn merge_usage(&mut self, u: &UsageJson) {
        self.usage.input_tokens = u.input_tokens.or(self.usage.input_tokens);
        self.usage.output_tokens = u.output_tokens.or(self.usage.output_tokens);
        self.usage.cache_read_input_tokens = u
            .cache_read_input_tokens
            .or(self.usage.cache_read_input_tokens);
        self.usage.cache_creation_input_tokens = u
            .cache_creation_input_tokens
            .or(self.usage.cache_creation_input_tokens);
        self.usage.cache_creation = u.cache_creation.or(self.usage.cache_creation);
    }
}

/// Maps a mid-stream `error` event's type.
fn error_code(kind: &str) -> ErrorCode {
    match kind {
        "overloaded_error" => ErrorCode::Overloaded,
        "rate_limit_error" => ErrorCode::RateLimited,
        "authentication_error" | "permission_error" => ErrorCode::Auth,
        "invalid_request_error" | "not_found_error" | "request_too_large" => ErrorCode::BadRequest,
        "timeout_error" => ErrorCode::Timeout,
        _ => ErrorCode::Server,
    }
}

impl StreamParser for AnthropicParser {
    fn parse(&mut self, _event: &str, data: &str, out: &mut Vec<ProviderEvent>) -> Result<()> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let ev: StreamEvent =
            serde_json::from_str(data).map_err(|e| parse_error("Anthropic event", data, &e))?;
        match ev {
            StreamEvent::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.merge_usage(&u);
                }
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                Block::Text { text } if !text.is_empty() => {
                    out.push(ProviderEvent::TextDelta(text))
                }
                Block::Thinking { thinking } if !thinking.is_empty() => {
                    out.push(ProviderEvent::ReasoningDelta(thinking))
                }
                Block::ToolUse { name, .. } if self.answer_tool.as_deref() == Some(&name) => {
                    self.answer_blocks.insert(index);
                }
                Block::ToolUse { id, name } => {
                    // Same block index, same slot: a spliced stream that restarts the
                    // message re-sends its tool blocks, and the new call id resets the slot.
                    let next = &mut self.next_slot;
                    let slot = *self.tool_slots.entry(index).or_insert_with(|| {
                        *next += 1;
                        *next - 1
                    });
                    out.push(ProviderEvent::ToolCallDelta {
                        index: slot,
                        id: Some(id),
                        name: Some(name),
                        arguments: String::new(),
                    });
                }
                _ => {}
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => out.push(ProviderEvent::TextDelta(text)),
                BlockDelta::ThinkingDelta { thinking } => {
                    out.push(ProviderEvent::ReasoningDelta(thinking))
                }
                BlockDelta::InputJsonDelta { partial_json }
                    if self.answer_blocks.contains(&index) =>
                {
                    out.push(ProviderEvent::TextDelta(partial_json));
                }
                BlockDelta::InputJsonDelta { partial_json } => {
                    if let Some(slot) = self.tool_slots.get(&index) {
                        out.push(ProviderEvent::ToolCallDelta {
                            index: *slot,
                            id: None,
                            name: None,
                            arguments: partial_json,
                        });
                    }
                }
                BlockDelta::Other => {}
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(r) = delta.stop_reason {
                    self.stop_reason = Some(r);
                }
                if let Some(u) = usage {
                    self.merge_usage(&u);
                }
            }
            StreamEvent::MessageStop {} => self.done = true,
            StreamEvent::Error { error } => {
                let code = classify(error_code(&error.kind), &error.kind, &error.message);
                return Err(
                    ProviderError::new(code, format!("{}: {}", error.kind, error.message)).into(),
                );
            }
            StreamEvent::ContentBlockStop {} | StreamEvent::Ping {} | StreamEvent::Unknown => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self, out: &mut Vec<ProviderEvent>) -> Result<()> {
        let Some(raw) = self.stop_reason.take() else {
            return Err(cut_short());
        };
        let u = self.usage;
        let cache_read = u.cache_read_input_tokens.unwrap_or(0);
        let cache_write = u.cache_creation_input_tokens.unwrap_or(0);
        // Anthropic's input_tokens excludes cache reads and writes; ours includes them.
        out.push(ProviderEvent::Usage(ReportedUsage {
            input_tokens: u.input_tokens.map(|i| i + cache_read + cache_write),
            output_tokens: u.output_tokens,
            cached_input_tokens: u.cache_read_input_tokens,
            cache_write_tokens: u.cache_creation_input_tokens,
            cache_write_1h_tokens: u.cache_creation.and_then(|c| c.ephemeral_1h_input_tokens),
            ..ReportedUsage::default()
        }));
        // The forced answer tool's `tool_use` stop is the answer's end, not a tool call.
        let reason = match finish_reason(&raw) {
            FinishReason::ToolCalls if !self.answer_blocks.is_empty() => FinishReason::Stop,
            r => r,
        };
        out.push(ProviderEvent::Finish {
            reason,
            raw: Some(raw),
        });
        Ok(())
    }
}
