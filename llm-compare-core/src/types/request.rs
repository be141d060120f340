//! Request types: messages, generation parameters, model ids and the comparison request.
//!
//! A [`CompareRequest`] is what a user asks for (one conversation, N models). The engine turns
//! it into one [`ChatRequest`] per model — the unit a [`crate::Provider`] serves — so that a
//! multi-turn session can give each model its own history.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::types::content::Content;
use crate::types::error::{Error, Result};

/// Default cap on the number of models in one comparison.
pub const DEFAULT_MAX_MODELS: usize = 8;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person asking.
    User,
    /// The model's earlier answer (possibly with tool calls).
    Assistant,
    /// The result of a tool call, answering an assistant's `tool_calls`.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says — text, or parts: text, images, files (for a `tool` message: the tool's
    /// result).
    #[serde(default)]
    pub content: Content,
    /// Tool calls an assistant message made (same shape as the `tool_call` event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<Content>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
    /// A user message.
    pub fn user(content: impl Into<Content>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
    /// The result of tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }

    /// An assistant message that called tools.
    pub fn assistant_tool_calls(content: impl Into<Content>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            tool_calls: calls,
            tool_call_id: None,
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// What shape the answer must take (OpenAI's `response_format`): free text, any JSON object,
/// or JSON valid against a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against `json_schema.schema` (draft 2020-12).
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

/// A named JSON schema for structured output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct JsonSchemaFormat {
    /// Its name: letters, digits, `_` and `-`, at most 64.
    pub name: String,
    /// What the answer is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub description: Option<String>,
    /// The JSON schema.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub schema: serde_json::Value,
    /// Whether the provider must follow it exactly (where it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub strict: Option<bool>,
}

impl ResponseFormat {
    /// The schema, when there is one.
    pub fn schema(&self) -> Option<&serde_json::Value> {
        match self {
            ResponseFormat::JsonSchema { json_schema } => Some(&json_schema.schema),
            ResponseFormat::Text | ResponseFormat::JsonObject => None,
        }
    }

    /// Whether the answer must be JSON.
    pub fn is_json(&self) -> bool {
        !matches!(self, ResponseFormat::Text)
    }

    /// Checks the name and compiles the schema (`field`: the format's path).
    pub fn check(&self, field: &str) -> Result<()> {
        let ResponseFormat::JsonSchema { json_schema } = self else {
            return Ok(());
        };
        let n = &json_schema.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::invalid(
                format!("{field}.json_schema.name"),
                "1–64 letters, digits, `_` or `-`",
            ));
        }
        jsonschema::validator_for(&json_schema.schema).map_err(|e| {
            Error::invalid(
                format!("{field}.json_schema.schema"),
                format!("not a valid JSON schema: {e}"),
            )
        })?;
        Ok(())
    }
}

/// Generation parameters, passed to every model of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Sampling temperature, 0–2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Most tokens to generate, ≥ 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Nucleus sampling, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Stop sequences (at most 4, none empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Seed for providers that support deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How hard a reasoning model thinks: sent as `reasoning_effort` to OpenAI and
    /// OpenAI-compatible models; other providers do not take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// How hard a reasoning model thinks (OpenAI's `reasoning_effort` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// No reasoning.
    None,
    /// The least.
    Minimal,
    /// Little.
    Low,
    /// The usual.
    Medium,
    /// Much.
    High,
    /// The most.
    Xhigh,
}

impl Params {
    /// These params with unset fields taken from `base` (request params over configured
    /// defaults).
    pub fn over(&self, base: &Params) -> Params {
        Params {
            temperature: self.temperature.or(base.temperature),
            max_tokens: self.max_tokens.or(base.max_tokens),
            top_p: self.top_p.or(base.top_p),
            stop: if self.stop.is_empty() {
                base.stop.clone()
            } else {
                self.stop.clone()
            },
            seed: self.seed.or(base.seed),
            reasoning_effort: self.reasoning_effort.or(base.reasoning_effort),
        }
    }

    /// Checks every parameter's range, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(Error::invalid(
                "params.temperature",
                format!("temperature must be between 0 and 2, got {t}"),
            ));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(Error::invalid(
                "params.top_p",
                format!("top_p must be in (0, 1], got {p}"),
            ));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::invalid(
                "params.max_tokens",
                "max_tokens must be at least 1",
            ));
        }
        if self.stop.len() > 4 {
            return Err(Error::invalid("params.stop", "at most 4 stop sequences"));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::invalid(
                "params.stop",
                "stop sequences must not be empty",
            ));
        }
        Ok(())
    }
}

/// A tool the models may call, in OpenAI's function format:
/// `{"type": "function", "function": {"name", "description", "parameters": <JSON Schema>}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Tool {
    /// Always `"function"`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function.
    pub function: FunctionDef,
}

fn function_type() -> String {
    "function".into()
}

impl Tool {
    /// A function tool.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        Self {
            kind: function_type(),
            function: FunctionDef {
                name: name.into(),
                description: Some(description.into()),
                parameters: Some(parameters),
            },
        }
    }
}

/// A function the models may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FunctionDef {
    /// Its name (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its parameters, a JSON Schema object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub parameters: Option<serde_json::Value>,
}

/// Whether and which tool the models must call: `"auto"`, `"none"`, `"required"`, or
/// `{"type": "function", "function": {"name": …}}` (OpenAI's format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum ToolChoice {
    /// `auto`, `none` or `required`.
    Mode(ToolChoiceMode),
    /// A named function.
    Function {
        /// Always `"function"`.
        #[serde(rename = "type")]
        kind: String,
        /// Which one.
        function: NamedFunction,
    },
}

/// The string forms of [`ToolChoice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
}

/// The function a [`ToolChoice::Function`] names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NamedFunction {
    /// Its name.
    pub name: String,
}

/// A model id written `provider/model` (`openai/gpt-4o-mini`, `sim/echo`).
///
/// The provider is everything before the first `/`; the model may itself contain `/`
/// (`together/meta-llama/Llama-3-8b`). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId {
    full: Arc<str>,
    split: usize,
}

impl ModelId {
    /// Parses `provider/model`.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        match s.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(Self {
                split: p.len(),
                full: Arc::from(s),
            }),
            _ => Err(Error::UnknownModel {
                model: s.to_string(),
                message:
                    "model ids are written provider/model, e.g. openai/gpt-4o-mini or sim/echo"
                        .into(),
            }),
        }
    }

    /// The provider part (`openai`).
    pub fn provider(&self) -> &str {
        &self.full[..self.split]
    }

    /// The model part (`gpt-4o-mini`).
    pub fn model(&self) -> &str {
        &self.full[self.split + 1..]
    }

    /// The whole id (`openai/gpt-4o-mini`).
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The whole id as a shared string (no copy).
    pub fn as_arc(&self) -> Arc<str> {
        self.full.clone()
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelId({})", self.full)
    }
}

impl FromStr for ModelId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for ModelId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for ModelId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One model call: what a [`crate::Provider`] serves. Serializable, so a runner can hand it
/// to a worker in another process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model to call.
    pub model: ModelId,
    /// The whole conversation, system message first when there is one.
    pub messages: Vec<Message>,
    /// Generation parameters.
    #[serde(default)]
    pub params: Params,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool it must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The answer's shape (structured output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Earlier session turns left out of `messages` to fit the context window (reported in
    /// the model's result; not sent upstream).
    #[serde(default)]
    pub history_trimmed: u32,
}

impl ChatRequest {
    /// A call of `model` with `messages` and default parameters, no tools.
    pub fn new(model: ModelId, messages: Vec<Message>) -> Self {
        Self {
            model,
            messages,
            params: Params::default(),
            tools: Vec::new(),
            tool_choice: None,
            response_format: None,
            history_trimmed: 0,
        }
    }

    /// The system prompt (all system messages' text joined), for APIs that take it apart.
    pub fn system_prompt(&self) -> Option<String> {
        let parts: Vec<String> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System && !m.content.is_empty())
            .map(|m| m.content.text().into_owned())
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    /// The last user message's text (what `sim/echo` echoes).
    pub fn last_user_message(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.text())
    }
}

/// What a user asks for: one conversation sent to N models at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CompareRequest {
    /// The models, `provider/model`, in column order.
    pub models: Vec<String>,
    /// The conversation (ends with the user's message).
    pub messages: Vec<Message>,
    /// A system prompt, put before the messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Generation parameters.
    #[serde(default)]
    pub params: Params,
    /// Tools the models may call (OpenAI function format).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool the models must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The answers' shape: `{"type": "json_schema", "json_schema": {"name", "schema",
    /// "strict"?}}` or `{"type": "json_object"}` (OpenAI's); each result then says whether
    /// its answer is valid (`structured`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
}

impl CompareRequest {
    /// A single-prompt comparison.
    pub fn prompt(
        models: impl IntoIterator<Item = impl Into<String>>,
        prompt: impl Into<Content>,
    ) -> Self {
        Self {
            models: models.into_iter().map(Into::into).collect(),
            messages: vec![Message::user(prompt)],
            system: None,
            params: Params::default(),
            tools: Vec::new(),
            tool_choice: None,
            response_format: None,
        }
    }

    /// Checks the shape of the request (models count, prompt, params, parts) without resolving
    /// models, attachments up to the default size.
    pub fn validate(&self, max_models: usize) -> Result<()> {
        self.validate_with(
            max_models,
            crate::types::content::DEFAULT_MAX_ATTACHMENT_BYTES,
        )
    }

    /// [`CompareRequest::validate`] with attachments up to `max_attachment_bytes` (decoded).
    pub fn validate_with(&self, max_models: usize, max_attachment_bytes: usize) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::invalid("models", "at least one model is required"));
        }
        if self.models.len() > max_models {
            return Err(Error::invalid(
                "models",
                format!(
                    "at most {max_models} models per comparison, got {}",
                    self.models.len()
                ),
            ));
        }
        if self.messages.is_empty() {
            return Err(Error::invalid(
                "prompt",
                "a prompt or messages are required",
            ));
        }
        match self.messages.last() {
            Some(m) if m.role == Role::User && m.content.is_empty() => {
                return Err(Error::invalid("prompt", "the prompt must not be empty"));
            }
            // A conversation continues after the user's message or after tool results.
            Some(m) if m.role != Role::User && m.role != Role::Tool => {
                return Err(Error::invalid(
                    "messages",
                    "the last message must be the user's (or a tool result)",
                ));
            }
            _ => {}
        }
        if let Some(f) = &self.response_format {
            f.check("response_format")?;
        }
        for (i, m) in self.messages.iter().enumerate() {
            m.content
                .check(&format!("messages[{i}].content"), max_attachment_bytes)?;
            if m.role == Role::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
                return Err(Error::invalid(
                    format!("messages[{i}].tool_call_id"),
                    "a tool message needs the id of the call it answers",
                ));
            }
        }
        for (i, t) in self.tools.iter().enumerate() {
            if t.kind != "function" {
                return Err(Error::invalid(
                    format!("tools[{i}].type"),
                    "only \"function\" tools are supported",
                ));
            }
            let name = &t.function.name;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(Error::invalid(
                    format!("tools[{i}].function.name"),
                    "tool names are 1-64 characters of a-z, A-Z, 0-9, _ and -",
                ));
            }
            if let Some(p) = &t.function.parameters
                && !p.is_object()
            {
                return Err(Error::invalid(
                    format!("tools[{i}].function.parameters"),
                    "parameters must be a JSON Schema object",
                ));
            }
        }
        if let Some(ToolChoice::Function { function, .. }) = &self.tool_choice
            && !self.tools.iter().any(|t| t.function.name == function.name)
        {
            return Err(Error::invalid(
                "tool_choice",
                format!(
                    "tool_choice names `{}`, which is not in tools",
                    function.name
                ),
            ));
        }
        self.params.validate()
    }

    /// The conversation every model receives: the system prompt, then the messages.
    pub fn conversation(&self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.messages.len() + 1);
        if let Some(s) = &self.system
            && !s.is_empty()
        {
            out.push(Message::system(s.clone()));
        }
        out.extend(self.messages.iter().cloned());
        out
    }
}

/// A tool call, complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ToolCall {
    /// The call's id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments (a JSON string).
    pub arguments: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        let m = ModelId::parse("together/meta-llama/Llama-3-8b").unwrap();
        assert_eq!(m.provider(), "together");
        assert_eq!(m.model(), "meta-llama/Llama-3-8b");
        assert!(ModelId::parse("gpt-4o").is_err());
        assert!(ModelId::parse("/x").is_err());
        assert!(ModelId::parse("x/").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut r = CompareRequest::prompt(["sim/echo"], "  ");
        assert_eq!(r.validate(8).unwrap_err().field(), Some("prompt"));
        r.messages = vec![Message::user("hi")];
        r.params.temperature = Some(3.0);
        assert_eq!(
            r.validate(8).unwrap_err().field(),
            Some("params.temperature")
        );
        r.params = Params::default();
        r.models = vec!["sim/echo".into(); 9];
        assert_eq!(r.validate(8).unwrap_err().field(), Some("models"));
        r.models.clear();
        assert_eq!(r.validate(8).unwrap_err().field(), Some("models"));
    }
}
