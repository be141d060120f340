//! Google Gemini (`POST {base}/models/{model}:streamGenerateContent?alt=sse`). Pure request
//! building and stream parsing.
//!
//! Each SSE event is a whole `GenerateContentResponse`: candidate parts (`text`, `thought`
//! text = reasoning, `functionCall`), `finishReason`, `usageMetadata` (thinking tokens are
//! billed as output), `promptFeedback.blockReason` for blocked prompts.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::providers::http::{Blobs, StreamParser, classify, cut_short, parse_error};
use crate::providers::http::{arguments_object, push_merged};
use crate::providers::provider::{ProviderEvent, ReportedUsage};
use crate::types::content::{self, Source};
use crate::types::error::{ErrorCode, ProviderError, Result};
use crate::types::event::FinishReason;
use crate::types::request::{ChatRequest, Role, ToolChoice, ToolChoiceMode};

/// JSON Schema keywords Gemini's function declarations reject.
const UNSUPPORTED_SCHEMA_KEYS: [&str; 3] = ["$schema", "additionalProperties", "strict"];

fn clean_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !UNSUPPORTED_SCHEMA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), clean_schema(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean_schema).collect()),
        other => other.clone(),
    }
}

/// The URL path (after the base URL) of a streaming call of `model`.
pub fn path(model: &str) -> String {
    format!("/models/{model}:streamGenerateContent?alt=sse")
}

/// A user message's parts: `text`, and `inlineData` (`mimeType` + base64) for images and
/// files.
fn parts_of(c: &content::Content, blobs: &mut Blobs) -> Vec<Value> {
    let parts = match c {
        content::Content::Text(s) => return vec![json!({"text": s})],
        content::Content::Parts(parts) => parts,
    };
    parts
        .iter()
        .map(|p| match p.source() {
            Some(Source::Bytes { media_type, data }) => {
                json!({"inlineData": {"mimeType": media_type, "data": blobs.text(data)}})
            }
            // Refused before any call (`refusal`).
            Some(Source::Url { url, .. }) => json!({"text": url}),
            None => match p {
                content::Part::Text { text } => json!({"text": text}),
                _ => json!({"text": ""}),
            },
        })
        .collect()
}

/// What of a request this wire format cannot carry: Gemini's API fetches no web URLs (its
/// `fileData` takes Files API URIs), so images and files go as bytes.
pub fn refusal(part: &content::Part) -> Option<String> {
    match part.source() {
        Some(Source::Url { .. }) => Some(
            "Gemini takes images and files as bytes: give the part's `data` (or a data: URL), not a web URL"
                .into(),
        ),
        _ => None,
    }
}

/// The JSON body of a streaming `generateContent` request.
pub fn build_body(req: &ChatRequest, blobs: &mut Blobs) -> Value {
    // Tool results name the function, not the call id: find it from the assistant's calls.
    let call_names: HashMap<&str, &str> = req
        .messages
        .iter()
        .flat_map(|m| m.tool_calls.iter())
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut contents: Vec<Value> = Vec::new();
    for m in &req.messages {
        let (role, parts) = match m.role {
            Role::System => continue,
            Role::User => ("user", parts_of(&m.content, blobs)),
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = call_names.get(id).copied().unwrap_or(id);
                let text = m.content.text();
                let response = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({"result": text}));
                // The call's id echoed (Gemini 3 matches responses to calls by it; earlier
                // models ignore it).
                let mut function = json!({"id": id, "name": name, "response": response});
                // Images and files a tool returned go inside its response (`parts`).
                let media: Vec<Value> = parts_of(&m.content, blobs)
                    .into_iter()
                    .filter(|p| p.get("inlineData").is_some())
                    .collect();
                if !media.is_empty() {
                    function["parts"] = Value::Array(media);
                }
                ("user", vec![json!({ "functionResponse": function })])
            }
            Role::Assistant => {
                let mut parts = Vec::new();
                if !m.content.is_empty() {
                    parts.push(json!({"text": m.content.text()}));
                }
                for c in &m.tool_calls {
                    parts.push(json!({"functionCall": {"id": c.id, "name": c.name, "args": arguments_object(&c.arguments)}}));
                }
                ("model", parts)
            }
        };
        push_merged(&mut contents, role, "parts", parts);
    }
    let p = &req.params;
    let mut generation = serde_json::Map::new();
    if let Some(t) = p.temperature {
        generation.insert("temperature".into(), json!(t));
    }
    if let Some(t) = p.top_p {
        generation.insert("topP".into(), json!(t));
    }
    if let Some(m) = p.max_tokens {
        generation.insert("maxOutputTokens".into(), json!(m));
    }
    if !p.stop.is_empty() {
        generation.insert("stopSequences".into(), json!(p.stop));
    }
    if let Some(s) = p.seed {
        generation.insert("seed".into(), json!(s));
    }
    // Structured output: JSON, and with a schema, Gemini's `responseJsonSchema`.
    if let Some(f) = req.response_format.as_ref().filter(|f| f.is_json()) {
        generation.insert("responseMimeType".into(), json!("application/json"));
        if let Some(schema) = f.schema() {
            generation.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    let mut body = json!({"contents": contents});
    if let Some(obj) = body.as_object_mut() {
        if let Some(s) = req.system_prompt() {
            obj.insert("systemInstruction".into(), json!({"parts": [{"text": s}]}));
        }
        if !generation.is_empty() {
            obj.insert("generationConfig".into(), Value::Object(generation));
        }
        if !req.tools.is_empty() {
            let decls: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    let mut d = json!({"name": t.function.name});
                    if let Some(desc) = &t.function.description {
                        d["description"] = json!(desc);
                    }
                    if let Some(params) = &t.function.parameters {
                        d["parameters"] = clean_schema(params);
                    }
                    d
                })
                .collect();
            obj.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        }
        if let Some(tc) = &req.tool_choice {
            let cfg = match tc {
                ToolChoice::Mode(ToolChoiceMode::Auto) => json!({"mode": "AUTO"}),
                ToolChoice::Mode(ToolChoiceMode::None) => json!({"mode": "NONE"}),
                ToolChoice::Mode(ToolChoiceMode::Required) => json!({"mode": "ANY"}),
                ToolChoice::Function { function, .. } => {
                    json!({"mode": "ANY", "allowedFunctionNames": [function.name]})
                }
            };
            obj.insert("toolConfig".into(), json!({"functionCallingConfig": cfg}));
        }
    }
    body
}

/// Finish reasons that are safety or policy stops: reported as `content_filter` errors.
const BLOCKED: [&str; 6] = [
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
];

/// Normalizes Gemini finish reasons.
pub fn finish_reason(raw: &str, called_tools: bool) -> FinishReason {
    match raw {
        "STOP" if called_tools => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        r if BLOCKED.contains(&r) => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<UsageJson>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
    #[serde(default)]
    block_reason_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
struct UsageJson {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
    // Tokens of built-in tools' results fed back to the model (search, code execution):
    // input, billed as such, but not in `promptTokenCount`.
    #[serde(default)]
    tool_use_prompt_token_count: Option<u64>,
    // Per-modality splits: audio has its own input rate.
    #[serde(default)]
    prompt_tokens_details: Vec<ModalityCount>,
    #[serde(default)]
    cache_tokens_details: Vec<ModalityCount>,
    #[serde(default)]
    candidates_tokens_details: Vec<ModalityCount>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
struct ModalityCount {
    #[serde(default)]
    modality: String,
    #[serde(default)]
    token_count: u64,
}

/// The tokens of `modality` in a per-modality split; None when the split does not name it.
fn modality(counts: &[ModalityCount], modality: &str) -> Option<u64> {
    counts
        .iter()
        .filter(|c| c.modality == modality)
        .map(|c| c.token_count)
        .reduce(|a, b| a + b)
}

/// Parses a Gemini `streamGenerateContent?alt=sse` stream.
#[derive(Debug, Default)]
pub struct GeminiParser {
    usage: Option<ReportedUsage>,
    finish: Option<String>,
    calls: usize,
}

impl GeminiParser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StreamParser for GeminiParser {
    fn parse(&mut self, _event: &str, data: &str, out: &mut Vec<ProviderEvent>) -> Result<()> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let r: Response = serde_json::from_str(data)
            .map_err(|e| parse_error("Gemini response chunk", data, &e))?;
        if let Some(err) = r.error {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_string();
            let status = err
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let base = match status.as_str() {
                "RESOURCE_EXHAUSTED" => ErrorCode::RateLimited,
                "UNAVAILABLE" => ErrorCode::Overloaded,
                "PERMISSION_DENIED" | "UNAUTHENTICATED" => ErrorCode::Auth,
                "INVALID_ARGUMENT" | "NOT_FOUND" | "FAILED_PRECONDITION" => ErrorCode::BadRequest,
                "DEADLINE_EXCEEDED" => ErrorCode::Timeout,
                _ => ErrorCode::Server,
            };
            return Err(ProviderError::new(classify(base, &status, &message), message).into());
        }
        if let Some(reason) = r
            .prompt_feedback
            .and_then(|f| f.block_reason.map(|b| (b, f.block_reason_message)))
        {
            let (block, msg) = reason;
            let text = msg.unwrap_or_else(|| "the prompt was blocked".into());
            return Err(ProviderError::new(
                ErrorCode::ContentFilter,
                format!("prompt blocked ({block}): {text}"),
            )
            .into());
        }
        if let Some(u) = r.usage_metadata {
            let thoughts = u.thoughts_token_count.unwrap_or(0);
            let tool_use = u.tool_use_prompt_token_count.unwrap_or(0);
            // Audio read from the cache is a cache read; the rest bills at the audio rate.
            let audio_in = modality(&u.prompt_tokens_details, "AUDIO")
                .map(|a| a.saturating_sub(modality(&u.cache_tokens_details, "AUDIO").unwrap_or(0)));
            self.usage = Some(ReportedUsage {
                input_tokens: u.prompt_token_count.map(|p| p + tool_use),
                // Thinking tokens are billed as output.
                output_tokens: Some(u.candidates_token_count.unwrap_or(0) + thoughts),
                cached_input_tokens: u.cached_content_token_count,
                // Gemini bills cache creation apart (storage per hour), not per request.
                cache_write_tokens: None,
                cache_write_1h_tokens: None,
                audio_input_tokens: audio_in,
                reasoning_tokens: u.thoughts_token_count,
                audio_output_tokens: modality(&u.candidates_tokens_details, "AUDIO"),
                cost: None,
            });
        }
        for c in r.candidates {
            for part in c.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(fc) = part.function_call {
                    let args = fc.args.unwrap_or_else(|| json!({}));
                    out.push(ProviderEvent::ToolCallDelta {
                        index: self.calls,
                        id: Some(fc.id.unwrap_or_else(|| format!("call_{}", self.calls))),
                        name: Some(fc.name),
                        arguments: serde_json::to_string(&args).unwrap_or_default(),
                    });
                    self.calls += 1;
                } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    if part.thought == Some(true) {
                        out.push(ProviderEvent::ReasoningDelta(text));
                    } else {
                        out.push(ProviderEvent::TextDelta(text));
                    }
                }
            }
            if let Some(f) = c
                .finish_reason
                .filter(|f| !f.is_empty() && f != "FINISH_REASON_UNSPECIFIED")
            {
                self.finish = Some(f);
            }
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        // Gemini has no end marker: the body simply ends after the finishReason chunk
        // (usage may follow in the same or a later chunk).
        false
    }

    fn finish(&mut self, out: &mut Vec<ProviderEvent>) -> Result<()> {
        let Some(raw) = self.finish.take() else {
            return Err(cut_short());
        };
        if let Some(u) = self.usage {
            out.push(ProviderEvent::Usage(u));
        }
        if BLOCKED.contains(&raw.as_str()) {
            return Err(ProviderError::new(
                ErrorCode::ContentFilter,
                format!("the answer was stopped by Gemini's safety filters ({raw})"),
            )
            .into());
        }
        out.push(ProviderEvent::Finish {
            reason: finish_reason(&raw, self.calls > 0),
            raw: Some(raw),
        });
        Ok(())
    }
}
