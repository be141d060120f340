//! Anthropic's Messages request, and its translation into a comparison of one model: fields
//! honoured, ignored on purpose, or refused by name (docs/server.md lists which is which).

use llm_compare_core::{
    CompareRequest, Content, Message, NamedFunction, Params, Part, Tool, ToolCall, ToolChoice,
    ToolChoiceMode,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::error::ApiError;

/// One message of the conversation (`user` or `assistant`; `system` too, as Claude Code sends
/// instructions mid-conversation): a string, or content blocks (`text`, `image`,
/// `document`, `tool_use`, `tool_result`, `thinking`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct InputMessage {
    /// `user`, `assistant` or `system`.
    pub role: String,
    /// A string or an array of content blocks.
    #[schema(value_type = Object)]
    pub content: Value,
}

/// The Messages request (`POST /v1/messages`; `count_tokens` takes the same without
/// `max_tokens`). Fields Anthropic does not define are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MessagesRequest {
    /// A model id, `provider/model` (or an alias).
    #[schema(example = "sim/echo")]
    pub model: String,
    /// Most tokens to generate: required, as Anthropic requires it.
    pub max_tokens: Option<u32>,
    /// The conversation.
    pub messages: Vec<InputMessage>,
    /// Instructions: a string or an array of `text` blocks.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub system: Option<Value>,
    /// Stream Anthropic's events over SSE.
    #[serde(default)]
    pub stream: bool,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Refused: not every provider samples by top-k.
    pub top_k: Option<u32>,
    /// Stop sequences.
    pub stop_sequences: Option<Vec<String>>,
    /// Tools: `{name, description?, input_schema}` (custom tools only).
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<Value>>,
    /// `{type: auto | any | tool | none, name?}`.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// Extended thinking: a model that reasons streams its reasoning as `thinking` blocks;
    /// `budget_tokens` is not forwarded.
    #[schema(value_type = Option<Object>)]
    pub thinking: Option<Value>,
    /// Ignored (`user_id`).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Refused: MCP servers are configured on the server (`[mcp.*]`), not per request.
    #[schema(value_type = Option<Vec<Object>>)]
    pub mcp_servers: Option<Value>,
    /// Refused: no code-execution container.
    #[schema(value_type = Option<Object>)]
    pub container: Option<Value>,
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

/// A block's `source` (`base64`, `url`, or for documents `text`) as an image or file part.
fn source_part(block: &Value, at: &str, image: bool) -> Result<Part, ApiError> {
    let source = block
        .get("source")
        .ok_or_else(|| ApiError::invalid(format!("{at}.source"), "a source is required"))?;
    let media_type = str_at(source, &["media_type"]).map(str::to_string);
    let (data, url) = match str_at(source, &["type"]).unwrap_or_default() {
        "base64" => (str_at(source, &["data"]).map(Into::into), None),
        "url" => (None, str_at(source, &["url"]).map(Into::into)),
        // A plain-text document: a text file, as the engine carries one.
        "text" if !image => {
            let text = str_at(source, &["data"]).unwrap_or_default();
            return Part::from_bytes(text.as_bytes(), str_at(block, &["title"]))
                .map_err(|e| ApiError::invalid(format!("{at}.source.data"), e.to_string()));
        }
        other => {
            return Err(ApiError::invalid(
                format!("{at}.source.type"),
                format!("`{other}` sources are not supported: base64, url (or text for documents)"),
            ));
        }
    };
    if data.is_none() && url.is_none() {
        return Err(ApiError::invalid(
            format!("{at}.source"),
            "the source needs its data (base64) or url",
        ));
    }
    Ok(if image {
        Part::Image {
            media_type,
            data,
            url,
        }
    } else {
        Part::File {
            media_type,
            data,
            url,
            name: str_at(block, &["title"]).map(str::to_string),
        }
    })
}

/// A `text`, `image` or `document` block as a part (`None`: a block the engine does not
/// carry in history, such as `thinking`).
fn part_of(block: &Value, at: &str) -> Result<Option<Part>, ApiError> {
    Ok(Some(match str_at(block, &["type"]).unwrap_or_default() {
        "text" => Part::Text {
            text: str_at(block, &["text"]).unwrap_or_default().to_string(),
        },
        "image" => source_part(block, at, true)?,
        "document" => source_part(block, at, false)?,
        // A model's earlier reasoning: not sent back to any provider.
        "thinking" | "redacted_thinking" => return Ok(None),
        other => {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!(
                    "`{other}` blocks are not supported here: text, image, document, tool_use (assistant) or tool_result (user)"
                ),
            ));
        }
    }))
}

fn content_of(parts: Vec<Part>) -> Content {
    match parts.as_slice() {
        [] => Content::default(),
        [Part::Text { text }] => Content::Text(text.clone()),
        _ => Content::Parts(parts),
    }
}

/// A `tool_result`'s content (a string or blocks); an error result says so first, since the
/// engine's tool messages carry no error flag.
fn tool_result_content(block: &Value, at: &str) -> Result<Content, ApiError> {
    let mut parts = Vec::new();
    if block.get("is_error").and_then(Value::as_bool) == Some(true) {
        parts.push(Part::Text {
            text: "Error: ".into(),
        });
    }
    match block.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => parts.push(Part::Text { text: s.clone() }),
        Some(Value::Array(blocks)) => {
            for (k, b) in blocks.iter().enumerate() {
                parts.extend(part_of(b, &format!("{at}.content[{k}]"))?);
            }
        }
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{at}.content"),
                "a tool_result's content is a string or an array of blocks",
            ));
        }
    }
    // An error flag and a text: one text.
    if let [Part::Text { text: a }, Part::Text { text: b }] = parts.as_slice() {
        return Ok(Content::Text(format!("{a}{b}")));
    }
    Ok(content_of(parts))
}

/// The engine's messages for one of Anthropic's: a user message's `tool_result` blocks
/// become tool messages (first, as they answer the turn before), the rest one user message;
/// an assistant's `tool_use` blocks its tool calls.
fn messages_of(m: &InputMessage, i: usize, out: &mut Vec<Message>) -> Result<(), ApiError> {
    let field = format!("messages[{i}]");
    let blocks = match &m.content {
        Value::String(s) => {
            out.push(match m.role.as_str() {
                "user" => Message::user(s.as_str()),
                "assistant" => Message::assistant(s.as_str()),
                "system" => Message::system(s.as_str()),
                other => return Err(bad_role(&field, other)),
            });
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(ApiError::invalid(
                format!("{field}.content"),
                "content must be a string or an array of content blocks",
            ));
        }
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let at = format!("{field}.content[{j}]");
        match (m.role.as_str(), str_at(b, &["type"]).unwrap_or_default()) {
            ("user", "tool_result") => out.push(Message::tool_result(
                str_at(b, &["tool_use_id"]).unwrap_or_default(),
                tool_result_content(b, &at)?,
            )),
            ("assistant", "tool_use") => calls.push(ToolCall {
                id: str_at(b, &["id"]).unwrap_or_default().to_string(),
                name: str_at(b, &["name"]).unwrap_or_default().to_string(),
                arguments: b
                    .get("input")
                    .map_or_else(|| "{}".to_string(), Value::to_string),
            }),
            ("user" | "assistant" | "system", _) => parts.extend(part_of(b, &at)?),
            (other, _) => return Err(bad_role(&field, other)),
        }
    }
    match m.role.as_str() {
        "assistant" => out.push(Message::assistant_tool_calls(content_of(parts), calls)),
        "system" => out.push(Message::system(content_of(parts))),
        _ if !parts.is_empty() => out.push(Message::user(content_of(parts))),
        _ => {}
    }
    Ok(())
}

fn bad_role(field: &str, role: &str) -> ApiError {
    ApiError::invalid(
        format!("{field}.role"),
        format!("unknown role `{role}`: user or assistant (or system)"),
    )
}

fn system_of(system: &Value) -> Result<Option<String>, ApiError> {
    match system {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Array(blocks) => Ok(Some(
            blocks
                .iter()
                .filter_map(|b| str_at(b, &["text"]))
                .collect::<Vec<_>>()
                .join("\n\n"),
        )),
        _ => Err(ApiError::invalid(
            "system",
            "system must be a string or an array of text blocks",
        )),
    }
}

fn tools_of(tools: &[Value]) -> Result<Vec<Tool>, ApiError> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        if let Some(kind) = str_at(t, &["type"])
            && kind != "custom"
        {
            return Err(ApiError::invalid(
                format!("tools[{i}].type"),
                format!("`{kind}` (a server tool) is not supported: custom tools only"),
            ));
        }
        let name = str_at(t, &["name"])
            .ok_or_else(|| ApiError::invalid(format!("tools[{i}].name"), "a name is required"))?;
        let schema = t
            .get("input_schema")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object"}));
        let mut tool = Tool::function(name, "", schema);
        tool.function.description = str_at(t, &["description"]).map(str::to_string);
        out.push(tool);
    }
    Ok(out)
}

fn tool_choice_of(choice: &Value) -> Result<Option<ToolChoice>, ApiError> {
    Ok(Some(match str_at(choice, &["type"]) {
        None if choice.is_null() => return Ok(None),
        Some("auto") => ToolChoice::Mode(ToolChoiceMode::Auto),
        Some("any") => ToolChoice::Mode(ToolChoiceMode::Required),
        Some("none") => ToolChoice::Mode(ToolChoiceMode::None),
        Some("tool") => ToolChoice::Function {
            kind: "function".into(),
            function: NamedFunction {
                name: str_at(choice, &["name"])
                    .ok_or_else(|| {
                        ApiError::invalid("tool_choice.name", "a tool choice of type tool names it")
                    })?
                    .to_string(),
            },
        },
        _ => {
            return Err(ApiError::invalid(
                "tool_choice.type",
                "tool_choice.type is auto, any, tool or none",
            ));
        }
    }))
}

impl MessagesRequest {
    /// The first field set to something that would change the answer and that llm-compare
    /// cannot honour: a 400 naming it.
    fn refuse_unsupported(&self) -> Result<(), ApiError> {
        if self.top_k.is_some() {
            return Err(ApiError::invalid(
                "top_k",
                "top_k is not supported (not every provider samples by top-k): use temperature or top_p",
            ));
        }
        if self.mcp_servers.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(ApiError::invalid(
                "mcp_servers",
                "MCP servers are configured on the server ([mcp.*]), not per request",
            ));
        }
        if self.container.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(ApiError::invalid(
                "container",
                "code-execution containers are not supported",
            ));
        }
        Ok(())
    }

    /// The comparison of this request's one model; `max_tokens` required (as Anthropic
    /// requires it) unless `counting` tokens.
    pub(super) fn into_compare(self, counting: bool) -> Result<CompareRequest, ApiError> {
        self.refuse_unsupported()?;
        if !counting && self.max_tokens.is_none() {
            return Err(ApiError::invalid("max_tokens", "Field required"));
        }
        let system = self.system.as_ref().map(system_of).transpose()?.flatten();
        let mut said = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            messages_of(m, i, &mut said)?;
        }
        let messages = crate::api::door::instructions_first(system, said);
        Ok(CompareRequest {
            models: vec![self.model],
            messages,
            system: None,
            params: Params {
                temperature: self.temperature,
                max_tokens: self.max_tokens,
                top_p: self.top_p,
                stop: self.stop_sequences.unwrap_or_default(),
                seed: None,
                reasoning_effort: None,
            },
            tools: tools_of(self.tools.as_deref().unwrap_or_default())?,
            tool_choice: self
                .tool_choice
                .as_ref()
                .map(tool_choice_of)
                .transpose()?
                .flatten(),
            response_format: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CompareRequest, ApiError> {
        serde_json::from_value::<MessagesRequest>(v)
            .map_err(|e| ApiError::invalid("body", e.to_string()))?
            .into_compare(false)
    }

    #[test]
    fn blocks_become_the_engines_messages() {
        let r = parse(json!({
            "model": "sim/echo", "max_tokens": 64,
            "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
            "stop_sequences": ["END"],
            "tools": [{"name": "add", "description": "Adds", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Let me add."},
                    {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2", "is_error": true},
                    {"type": "text", "text": "Thanks"}
                ]},
                {"role": "system", "content": [{"type": "text", "text": "Be exact."}]}
            ]
        }))
        .unwrap();
        let roles: Vec<String> = r
            .messages
            .iter()
            .map(|m| format!("{:?}", m.role).to_lowercase())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        assert_eq!(
            r.messages[0].content,
            Content::Text("Be brief.\n\nBe kind.\n\nBe exact.".into())
        );
        assert!(matches!(&r.messages[1].content, Content::Parts(p) if p.len() == 2));
        assert_eq!(r.messages[2].tool_calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(r.messages[2].content, Content::Text("Let me add.".into()));
        assert_eq!(r.messages[3].content, Content::Text("Error: 2".into()));
        assert_eq!(r.params.stop, ["END"]);
        assert_eq!(r.tools[0].function.description.as_deref(), Some("Adds"));
        assert_eq!(
            r.tool_choice,
            Some(ToolChoice::Mode(ToolChoiceMode::Required))
        );
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let base = json!({"model": "sim/echo", "messages": [{"role": "user", "content": "hi"}]});
        let field = |extra: Value| {
            let mut v = base.clone();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            parse(v).err().and_then(|e| e.field)
        };
        assert_eq!(field(json!({})), Some("max_tokens".into()));
        assert_eq!(
            field(json!({"max_tokens": 9, "top_k": 5})),
            Some("top_k".into())
        );
        assert_eq!(
            field(
                json!({"max_tokens": 9, "tools": [{"type": "web_search_20250305", "name": "web_search"}]})
            ),
            Some("tools[0].type".into())
        );
        assert_eq!(
            field(
                json!({"max_tokens": 9, "messages": [{"role": "user", "content": [{"type": "audio"}]}]})
            ),
            Some("messages[0].content[0].type".into())
        );
        assert_eq!(
            field(json!({"max_tokens": 9, "metadata": {"user_id": "u"}})),
            None
        );
    }
}
