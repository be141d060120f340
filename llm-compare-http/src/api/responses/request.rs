//! OpenAI's Responses request, and its translation into a call of one model: `input` as a
//! string or items (messages, `function_call` / `function_call_output`, custom tool calls),
//! `instructions`, function and custom tools, `text.format`, `reasoning.effort` — fields
//! honoured, ignored on purpose, or refused by name (docs/server.md lists which is which).

use llm_compare_core::{
    Content, JsonSchemaFormat, Message, NamedFunction, Params, Part, ReasoningEffort,
    ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolChoiceMode,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::api::error::ApiError;

/// The Responses request (`POST /v1/responses`). Fields OpenAI does not define are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResponsesRequest {
    /// A model id, `provider/model` (or an alias); with `previous_response_id`, defaults to
    /// the model that answered it.
    #[schema(example = "sim/echo")]
    pub model: Option<String>,
    /// A string (one user message) or an array of input items: messages (`user`, `assistant`,
    /// `system`, `developer`; content a string or `input_text` / `input_image` / `input_file`
    /// / `output_text` parts), `function_call`, `function_call_output`, `custom_tool_call`,
    /// `custom_tool_call_output`; `reasoning` items are accepted and not sent back.
    #[schema(value_type = Object)]
    pub input: Option<Value>,
    /// Instructions (a system message first); not carried over to a follow-up.
    pub instructions: Option<String>,
    /// Stream the semantic events over SSE.
    #[serde(default)]
    pub stream: bool,
    /// Keep the answer for `previous_response_id` and `GET /v1/responses/{id}` (default true).
    pub store: Option<bool>,
    /// Continue the thread of an earlier stored answer of yours.
    pub previous_response_id: Option<String>,
    /// `function` tools (`name`, `description`, `parameters`, `strict`) and `custom` tools
    /// (free-text input).
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required`, or `{type: function | custom, name}`.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// `{format: {type: text | json_object | json_schema, name, schema, strict}}`; a schema's
    /// answer is checked (the result's `structured`).
    #[schema(value_type = Option<Object>)]
    pub text: Option<Value>,
    /// `{effort}`: sent to OpenAI and OpenAI-compatible models; `summary` is ignored.
    #[schema(value_type = Option<Object>)]
    pub reasoning: Option<Value>,
    /// Most tokens to generate.
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Echoed in the response.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Echoed in the response.
    pub parallel_tool_calls: Option<bool>,
    /// Refused when true: answers are not run in the background.
    pub background: Option<bool>,
    /// Refused: conversations live on the server as `previous_response_id` threads.
    #[schema(value_type = Option<Object>)]
    pub conversation: Option<Value>,
    /// Refused: no stored prompt templates.
    #[schema(value_type = Option<Object>)]
    pub prompt: Option<Value>,
    /// Refused unless 0: log probabilities are not reported.
    pub top_logprobs: Option<u32>,
    /// Refused: no built-in tools to bound.
    pub max_tool_calls: Option<u32>,
}

/// A request in the engine's terms, before the stored thread (if any) is put in front of
/// its input.
#[derive(Debug)]
pub(super) struct Parsed {
    pub model: Option<String>,
    pub instructions: Option<String>,
    /// The new input, as the engine's messages.
    pub input: Vec<Message>,
    pub params: Params,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub response_format: Option<ResponseFormat>,
    /// Names of the `custom` tools: their calls are `custom_tool_call` items.
    pub custom: Vec<String>,
    /// Tools of a `namespace`, by name: their calls say the namespace.
    pub namespaced: Vec<(String, String)>,
    pub previous: Option<String>,
    pub store: bool,
    pub stream: bool,
    /// What the Response object echoes of the request.
    pub echo: Map<String, Value>,
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

/// A content part as the engine's part.
fn part_of(p: &Value, at: &str) -> Result<Part, ApiError> {
    let file_id = || {
        ApiError::invalid(
            format!("{at}.file_id"),
            "file ids are not supported: send the data inline (a data: URL)",
        )
    };
    Ok(match str_at(p, &["type"]).unwrap_or_default() {
        "input_text" | "output_text" | "text" => Part::Text {
            text: str_at(p, &["text"]).unwrap_or_default().to_string(),
        },
        "refusal" => Part::Text {
            text: str_at(p, &["refusal"]).unwrap_or_default().to_string(),
        },
        "input_image" => Part::Image {
            media_type: None,
            data: None,
            url: Some(match str_at(p, &["image_url"]) {
                Some(u) => u.into(),
                None if p.get("file_id").is_some_and(|f| !f.is_null()) => return Err(file_id()),
                None => {
                    return Err(ApiError::invalid(
                        format!("{at}.image_url"),
                        "an input_image needs image_url (a URL or a data: URL)",
                    ));
                }
            }),
        },
        "input_file" => Part::File {
            media_type: None,
            data: None,
            url: Some(
                match str_at(p, &["file_data"]).or(str_at(p, &["file_url"])) {
                    Some(u) => u.into(),
                    None if p.get("file_id").is_some_and(|f| !f.is_null()) => return Err(file_id()),
                    None => {
                        return Err(ApiError::invalid(
                            format!("{at}.file_data"),
                            "an input_file needs file_data (a data: URL) or file_url",
                        ));
                    }
                },
            ),
            name: str_at(p, &["filename"]).map(str::to_string),
        },
        other => {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!(
                    "`{other}` parts are not supported: input_text, input_image, input_file (or output_text in an assistant message)"
                ),
            ));
        }
    })
}

fn content_of(content: &Value, at: &str) -> Result<Content, ApiError> {
    match content {
        Value::String(s) => Ok(Content::Text(s.clone())),
        Value::Array(parts) => {
            let parts = parts
                .iter()
                .enumerate()
                .map(|(j, p)| part_of(p, &format!("{at}[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match parts.as_slice() {
                [Part::Text { text }] => Content::Text(text.clone()),
                _ => Content::Parts(parts),
            })
        }
        _ => Err(ApiError::invalid(
            at,
            "content must be a string or an array of content parts",
        )),
    }
}

/// A tool output (a string, or parts) as the tool message's content.
fn output_of(item: &Value, key: &str, at: &str) -> Result<Content, ApiError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(Content::default()),
        Some(v) => content_of(v, &format!("{at}.{key}")),
    }
}

/// A tool call item: in the assistant message before it when there is one (a model's text
/// and its calls are one turn), else a new one.
fn push_call(out: &mut Vec<Message>, call: ToolCall) {
    match out.last_mut() {
        Some(m) if m.role == Role::Assistant => m.tool_calls.push(call),
        _ => out.push(Message::assistant_tool_calls(
            Content::default(),
            vec![call],
        )),
    }
}

/// The engine's messages for `input` (a string or items).
pub(super) fn input_of(input: &Value) -> Result<Vec<Message>, ApiError> {
    let items = match input {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![Message::user(s.as_str())]),
        Value::Array(items) => items,
        _ => {
            return Err(ApiError::invalid(
                "input",
                "input must be a string or an array of input items",
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let kind = str_at(item, &["type"]).unwrap_or("message");
        let call_id = || str_at(item, &["call_id"]).unwrap_or_default().to_string();
        match kind {
            "message" => {
                let content = content_of(
                    item.get("content").unwrap_or(&Value::Null),
                    &format!("{at}.content"),
                )?;
                out.push(match str_at(item, &["role"]).unwrap_or_default() {
                    "user" => Message::user(content),
                    "assistant" => Message::assistant(content),
                    "system" | "developer" => Message::system(content),
                    other => {
                        return Err(ApiError::invalid(
                            format!("{at}.role"),
                            format!("unknown role `{other}`: user, assistant, system or developer"),
                        ));
                    }
                });
            }
            "function_call" => push_call(
                &mut out,
                ToolCall {
                    id: call_id(),
                    name: str_at(item, &["name"]).unwrap_or_default().to_string(),
                    arguments: str_at(item, &["arguments"]).unwrap_or("{}").to_string(),
                },
            ),
            "custom_tool_call" => push_call(
                &mut out,
                ToolCall {
                    id: call_id(),
                    name: str_at(item, &["name"]).unwrap_or_default().to_string(),
                    arguments: json!({"input": str_at(item, &["input"]).unwrap_or_default()})
                        .to_string(),
                },
            ),
            "function_call_output" | "custom_tool_call_output" => out.push(Message::tool_result(
                call_id(),
                output_of(item, "output", &at)?,
            )),
            // A model's earlier reasoning: not sent back to any provider.
            "reasoning" => {}
            other => {
                return Err(ApiError::invalid(
                    format!("{at}.type"),
                    format!(
                        "`{other}` items are not supported: message, function_call, function_call_output, custom_tool_call, custom_tool_call_output, reasoning"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The parameters of a `custom` tool: its free-text input as one string argument.
fn custom_parameters(t: &Value) -> Value {
    let mut input = json!({"type": "string", "description": "The tool's input, as free text"});
    if let Some(def) = str_at(t, &["format", "definition"]) {
        input["description"] = json!(format!("The tool's input, in this grammar:\n{def}"));
    }
    json!({"type": "object", "properties": {"input": input}, "required": ["input"]})
}

/// A request's tools: the engine's, the names of the custom ones and of the namespaced
/// ones (with their namespace), and the tools as the Response echoes them.
#[derive(Default)]
struct Tools {
    engine: Vec<Tool>,
    custom: Vec<String>,
    namespaced: Vec<(String, String)>,
    echo: Vec<Value>,
}

impl Tools {
    /// Adds tool `t` (at `at`; inside namespace `ns`), returning its echo.
    fn add(&mut self, t: &Value, at: &str, ns: Option<&str>) -> Result<Value, ApiError> {
        let kind = str_at(t, &["type"]).unwrap_or("function");
        if kind == "namespace" && ns.is_none() {
            // A group of function tools (Codex's sub-agent tools): each offered by its own
            // name; a call of one says its namespace.
            let ns = str_at(t, &["name"]).ok_or_else(|| {
                ApiError::invalid(format!("{at}.name"), "a namespace needs its name")
            })?;
            let inner = t.get("tools").and_then(Value::as_array).ok_or_else(|| {
                ApiError::invalid(format!("{at}.tools"), "a namespace needs its tools")
            })?;
            let mut echoes = Vec::with_capacity(inner.len());
            for (j, inner) in inner.iter().enumerate() {
                echoes.push(self.add(inner, &format!("{at}.tools[{j}]"), Some(ns))?);
            }
            return Ok(json!({"type": "namespace", "name": ns,
                             "description": str_at(t, &["description"]).unwrap_or_default(),
                             "tools": echoes}));
        }
        if !matches!(kind, "function" | "custom") {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!(
                    "`{kind}` (a built-in tool) is not supported: function, custom and namespace tools only"
                ),
            ));
        }
        let name = str_at(t, &["name"])
            .ok_or_else(|| ApiError::invalid(format!("{at}.name"), "a name is required"))?;
        if let Some(ns) = ns {
            self.namespaced.push((name.to_string(), ns.to_string()));
        }
        let description = str_at(t, &["description"]).map(str::to_string);
        let parameters = if kind == "custom" {
            self.custom.push(name.to_string());
            custom_parameters(t)
        } else {
            t.get("parameters")
                .filter(|p| !p.is_null())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}))
        };
        let mut tool = Tool::function(name, "", parameters.clone());
        tool.function.description = description.clone();
        self.engine.push(tool);
        Ok(if kind == "custom" {
            json!({"type": "custom", "name": name, "description": description,
                   "format": t.get("format").cloned().unwrap_or_else(|| json!({"type": "text"}))})
        } else {
            json!({"type": "function", "name": name, "description": description,
                   "parameters": parameters,
                   "strict": t.get("strict").and_then(Value::as_bool).unwrap_or(true)})
        })
    }
}

fn tools_of(tools: &[Value]) -> Result<Tools, ApiError> {
    let mut out = Tools::default();
    for (i, t) in tools.iter().enumerate() {
        let echo = out.add(t, &format!("tools[{i}]"), None)?;
        out.echo.push(echo);
    }
    Ok(out)
}

fn tool_choice_of(choice: &Value) -> Result<Option<ToolChoice>, ApiError> {
    let named = |name: &str| ToolChoice::Function {
        kind: "function".into(),
        function: NamedFunction {
            name: name.to_string(),
        },
    };
    Ok(Some(match choice {
        Value::Null => return Ok(None),
        Value::String(s) => ToolChoice::Mode(match s.as_str() {
            "auto" => ToolChoiceMode::Auto,
            "none" => ToolChoiceMode::None,
            "required" => ToolChoiceMode::Required,
            _ => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    "tool_choice is auto, none, required, or {type: function, name}",
                ));
            }
        }),
        _ => match (str_at(choice, &["type"]), str_at(choice, &["name"])) {
            (Some("function" | "custom"), Some(name)) => named(name),
            _ => {
                return Err(ApiError::invalid(
                    "tool_choice.type",
                    "tool_choice is auto, none, required, or {type: function | custom, name}: built-in tools are not supported",
                ));
            }
        },
    }))
}

/// `text.format` as the engine's response format.
fn format_of(text: Option<&Value>) -> Result<Option<ResponseFormat>, ApiError> {
    let Some(format) = text.and_then(|t| t.get("format")).filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    Ok(match str_at(format, &["type"]).unwrap_or_default() {
        "text" => None,
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => Some(ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name: str_at(format, &["name"]).unwrap_or("response").to_string(),
                description: str_at(format, &["description"]).map(str::to_string),
                schema: format.get("schema").cloned().ok_or_else(|| {
                    ApiError::invalid(
                        "text.format.schema",
                        "a json_schema format needs its schema",
                    )
                })?,
                strict: format.get("strict").and_then(Value::as_bool),
            },
        }),
        other => {
            return Err(ApiError::invalid(
                "text.format.type",
                format!("`{other}` is not a format: text, json_object or json_schema"),
            ));
        }
    })
}

fn effort_of(reasoning: Option<&Value>) -> Result<Option<ReasoningEffort>, ApiError> {
    match reasoning.and_then(|r| r.get("effort")) {
        None | Some(Value::Null) => Ok(None),
        Some(e) => serde_json::from_value(e.clone()).map(Some).map_err(|_| {
            ApiError::invalid(
                "reasoning.effort",
                "reasoning.effort is none, minimal, low, medium, high or xhigh",
            )
        }),
    }
}

impl ResponsesRequest {
    /// The first field set to something that would change the answer and that llm-compare
    /// cannot honour: a 400 naming it.
    fn refuse_unsupported(&self) -> Result<(), ApiError> {
        let refused = |field: &str, why: &str| Err(ApiError::invalid(field, why));
        if self.background == Some(true) {
            return refused("background", "background responses are not supported");
        }
        if self.conversation.as_ref().is_some_and(|c| !c.is_null()) {
            return refused(
                "conversation",
                "conversations are not supported: continue a thread with previous_response_id",
            );
        }
        if self.prompt.as_ref().is_some_and(|p| !p.is_null()) {
            return refused("prompt", "stored prompt templates are not supported");
        }
        if self.top_logprobs.is_some_and(|n| n > 0) {
            return refused("top_logprobs", "log probabilities are not supported");
        }
        if self.max_tool_calls.is_some() {
            return refused(
                "max_tool_calls",
                "max_tool_calls bounds built-in tools, which are not supported",
            );
        }
        Ok(())
    }

    /// The request in the engine's terms.
    pub(super) fn parse(self) -> Result<Parsed, ApiError> {
        self.refuse_unsupported()?;
        let input = input_of(self.input.as_ref().unwrap_or(&Value::Null))?;
        if input.is_empty() {
            return Err(ApiError::invalid("input", "input is required"));
        }
        let Tools {
            engine: tools,
            custom,
            namespaced,
            echo: tools_echo,
        } = tools_of(self.tools.as_deref().unwrap_or_default())?;
        let tool_choice = self
            .tool_choice
            .as_ref()
            .map(tool_choice_of)
            .transpose()?
            .flatten();
        let response_format = format_of(self.text.as_ref())?;
        let reasoning_effort = effort_of(self.reasoning.as_ref())?;
        let store = self.store.unwrap_or(true);
        let mut echo = Map::new();
        echo.insert("instructions".into(), json!(self.instructions));
        echo.insert("max_output_tokens".into(), json!(self.max_output_tokens));
        echo.insert(
            "metadata".into(),
            self.metadata.clone().unwrap_or_else(|| json!({})),
        );
        echo.insert(
            "parallel_tool_calls".into(),
            json!(self.parallel_tool_calls.unwrap_or(true)),
        );
        echo.insert(
            "previous_response_id".into(),
            json!(self.previous_response_id),
        );
        echo.insert(
            "reasoning".into(),
            json!({"effort": reasoning_effort, "summary": null}),
        );
        echo.insert("store".into(), json!(store));
        echo.insert("temperature".into(), json!(self.temperature.unwrap_or(1.0)));
        echo.insert(
            "text".into(),
            json!({"format": self.text.as_ref().and_then(|t| t.get("format")).filter(|f| !f.is_null())
                .cloned().unwrap_or_else(|| json!({"type": "text"}))}),
        );
        echo.insert(
            "tool_choice".into(),
            self.tool_choice
                .clone()
                .filter(|c| !c.is_null())
                .unwrap_or_else(|| json!("auto")),
        );
        echo.insert("tools".into(), Value::Array(tools_echo));
        echo.insert("top_p".into(), json!(self.top_p.unwrap_or(1.0)));
        echo.insert("truncation".into(), json!("disabled"));
        Ok(Parsed {
            model: self.model,
            instructions: self.instructions.filter(|i| !i.is_empty()),
            input,
            params: Params {
                temperature: self.temperature,
                max_tokens: self.max_output_tokens,
                top_p: self.top_p,
                stop: Vec::new(),
                seed: None,
                reasoning_effort,
            },
            tools,
            tool_choice,
            response_format,
            custom,
            namespaced,
            previous: self.previous_response_id,
            store,
            stream: self.stream,
            echo,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Parsed, ApiError> {
        serde_json::from_value::<ResponsesRequest>(v)
            .map_err(|e| ApiError::invalid("body", e.to_string()))?
            .parse()
    }

    #[test]
    fn items_become_the_engines_messages() {
        let p = parse(json!({
            "model": "sim/echo", "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "Use tools."},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me add."}]},
                {"type": "function_call", "call_id": "call_1", "name": "add", "arguments": "{\"a\":1}"},
                {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin"},
                {"type": "function_call_output", "call_id": "call_1", "output": "2"},
                {"type": "custom_tool_call_output", "call_id": "call_2", "output": "done"}
            ],
            "tools": [
                {"type": "function", "name": "add", "parameters": {"type": "object"}},
                {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "definition": "start: x"}},
                {"type": "namespace", "name": "agents", "description": "Sub-agents", "tools": [
                    {"type": "function", "name": "spawn", "parameters": {"type": "object"}, "strict": false}
                ]}
            ],
            "tool_choice": "required",
            "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}},
            "reasoning": {"effort": "low"},
            "max_output_tokens": 64,
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k"
        }))
        .unwrap();
        let roles: Vec<Role> = p.input.iter().map(|m| m.role).collect();
        use Role::*;
        assert_eq!(roles, [System, User, Assistant, Tool, Tool]);
        assert_eq!(p.input[2].tool_calls.len(), 2);
        assert_eq!(p.input[2].content, Content::Text("Let me add.".into()));
        assert_eq!(
            p.input[2].tool_calls[1].arguments,
            r#"{"input":"*** Begin"}"#
        );
        assert_eq!(p.custom, ["apply_patch"]);
        assert_eq!(p.tools[2].function.name, "spawn");
        assert_eq!(p.namespaced, [("spawn".to_string(), "agents".to_string())]);
        assert_eq!(p.echo["tools"][2]["tools"][0]["name"], "spawn");
        assert!(
            format!("{:?}", p.tools[1].function.parameters).contains("start: x"),
            "the grammar reaches the model"
        );
        assert_eq!(p.params.max_tokens, Some(64));
        assert_eq!(p.params.reasoning_effort, Some(ReasoningEffort::Low));
        assert_eq!(
            p.tool_choice,
            Some(ToolChoice::Mode(ToolChoiceMode::Required))
        );
        assert!(matches!(
            p.response_format,
            Some(ResponseFormat::JsonSchema { .. })
        ));
        assert_eq!(p.echo["tools"][0]["strict"], true);
        assert!(p.store);
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let field = |extra: Value| {
            let mut v = json!({"model": "sim/echo", "input": "hi"});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            parse(v).err().and_then(|e| e.field)
        };
        assert_eq!(field(json!({})), None);
        assert_eq!(field(json!({"input": []})), Some("input".into()));
        assert_eq!(
            field(json!({"background": true})),
            Some("background".into())
        );
        assert_eq!(
            field(json!({"tools": [{"type": "web_search"}]})),
            Some("tools[0].type".into())
        );
        assert_eq!(
            field(json!({"input": [{"type": "item_reference", "id": "x"}]})),
            Some("input[0].type".into())
        );
        assert_eq!(
            field(
                json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]})
            ),
            Some("input[0].content[0].file_id".into())
        );
        assert_eq!(
            field(json!({"reasoning": {"effort": "max"}})),
            Some("reasoning.effort".into())
        );
        assert_eq!(
            field(json!({"max_tool_calls": 3})),
            Some("max_tool_calls".into())
        );
    }
}
