//! The bodies front ends share (a comparison to start, a session, tool results, a vote) and
//! how a comparison's body turns into a request: its tools, labels, metadata and prompt.

use std::sync::Arc;

use llm_compare_core::{
    CompareOptions, CompareRequest, Error, Message, Params, Result, Tool, ToolChoice,
};
use serde::{Deserialize, Serialize};

use crate::{Vote, Winner};

/// A comparison to start (`POST /v1/comparisons`, `engine.submit`): a prompt (or messages)
/// and the models, or the next turn of a session.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateComparison {
    /// The prompt (or give `messages`).
    pub prompt: Option<String>,
    /// The conversation, ending with the user's message (or give `prompt`).
    pub messages: Option<Vec<Message>>,
    /// Models, `provider/model`, 1–8 (e.g. `sim/echo`, `openai/gpt-4o-mini`). May be
    /// omitted with `session_id` (the session's models).
    #[cfg_attr(feature = "openapi", schema(example = json!(["sim/echo", "sim/lorem"])))]
    #[serde(default)]
    pub models: Vec<String>,
    /// A system prompt for every model.
    pub system: Option<String>,
    /// Generation parameters.
    pub params: Option<Params>,
    /// Tools: the name of one of the server's executable tools (`[tools.*]` in its
    /// configuration; then every model runs its own tool loop: an agent comparison), or a
    /// definition the models may call (OpenAI function format; a call ends the answer).
    pub tools: Option<Vec<ToolSpec>>,
    /// Most steps of each model's tool loop (default 8), with executable tools.
    pub max_steps: Option<u32>,
    /// With executable tools: `independent` (default) executes every call; `shared` executes
    /// each (tool, arguments) once and gives every other model asking the same the recorded
    /// result (`replayed`), so models are compared on the same world.
    pub tool_mode: Option<ToolMode>,
    /// Recorded results to replay (`GET /v1/comparisons/{id}/cassette` of an earlier
    /// comparison): nothing is executed; a call they lack is an error result.
    pub cassette: Option<Vec<llm_compare_core::tools::Recording>>,
    /// Tools the client carries out (OpenAI function format): offered to the models like the
    /// server's; each call is an `action` event, and its result comes back with `POST
    /// /v1/comparisons/{id}/tool_results` within the tool timeout (else the model gets an
    /// error result).
    pub client_tools: Option<Vec<Tool>>,
    /// Seconds each tool call may take (default 30; 1–3600): a client-side tool's result
    /// must come within it.
    pub tool_timeout_s: Option<f64>,
    /// Whether and which tool the models must call.
    pub tool_choice: Option<ToolChoice>,
    /// Images and files for the prompt: they join its user message, after the text.
    pub attachments: Option<Vec<llm_compare_core::Part>>,
    /// The answers' shape (OpenAI's `response_format`): each result then says whether its
    /// answer is valid against the schema (`structured`).
    pub response_format: Option<llm_compare_core::ResponseFormat>,
    /// Continue a session: give `prompt`; every model sees its own earlier answers.
    pub session_id: Option<String>,
    /// Hide model names ("Model A", "Model B", … in shuffled order) until the vote.
    pub blind: Option<bool>,
    /// Your own data, returned in snapshots.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// Its category (`GET /v1/leaderboard?category=` counts one category's votes).
    pub category: Option<String>,
    /// Its tags.
    pub tags: Option<Vec<String>>,
}

pub use llm_compare_core::tools::ToolMode;

/// A tool of a comparison: an executable tool of the server, by name, or a definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ToolSpec {
    /// One of the server's executable tools (`[tools.<name>]`).
    Name(String),
    /// A definition the models may call (OpenAI function format).
    Definition(Tool),
}

// By hand: a bad definition keeps its own error (a missing `function`), not "did not match
// any variant".
impl<'de> Deserialize<'de> for ToolSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(name) => Ok(ToolSpec::Name(name)),
            v @ serde_json::Value::Object(_) => Tool::deserialize(v)
                .map(ToolSpec::Definition)
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "a tool is the name of one of the server's tools, or a definition {\"type\": \"function\", \"function\": {…}}",
            )),
        }
    }
}

impl CreateComparison {
    /// The tool definitions the models are offered (executable ones come with the loop).
    pub(super) fn definitions(&self) -> Vec<Tool> {
        self.tools
            .iter()
            .flatten()
            .filter_map(|t| match t {
                ToolSpec::Definition(d) => Some(d.clone()),
                ToolSpec::Name(_) => None,
            })
            .collect()
    }

    /// The loop's options when the body names executable tools or has client-side tools
    /// (None otherwise).
    pub(super) fn agent(
        &self,
        available: Option<&Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Result<Option<CompareOptions>> {
        let client = self.client_tools()?;
        let options = match (&client, self.server_agent(available, client.is_some())?) {
            (_, Some(o)) => Some(o),
            (Some(_), None) => Some(llm_compare_core::CompareOptions::tool_loop(
                Arc::new(llm_compare_core::tools::Toolbox::new()),
                self.max_steps,
                ToolMode::Independent,
                None,
            )?),
            (None, None) => None,
        };
        let Some(mut options) = options else {
            if self.tool_timeout_s.is_some() {
                return Err(Error::invalid(
                    "tool_timeout_s",
                    "`tool_timeout_s` goes with executable or client-side tools",
                ));
            }
            return Ok(None);
        };
        if let Some(t) = self.tool_timeout_s {
            if !(1.0..=3600.0).contains(&t) {
                return Err(Error::invalid(
                    "tool_timeout_s",
                    "tool_timeout_s must be between 1 and 3600 seconds",
                ));
            }
            options.tool_limits.timeout = std::time::Duration::from_secs_f64(t);
        }
        options.client_tools = client.map(Arc::new);
        Ok(Some(options))
    }

    /// The body's client-side tools, checked: a name of its own (not one of the other tools'),
    /// a JSON Schema object for its parameters.
    pub(super) fn client_tools(&self) -> Result<Option<llm_compare_core::tools::ClientTools>> {
        let Some(list) = self.client_tools.as_ref().filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let mut taken: Vec<String> = self
            .tools
            .iter()
            .flatten()
            .map(|t| match t {
                ToolSpec::Name(n) => n.clone(),
                ToolSpec::Definition(d) => d.function.name.clone(),
            })
            .collect();
        let mut out = Vec::with_capacity(list.len());
        for (i, t) in list.iter().enumerate() {
            let field = format!("client_tools[{i}]");
            let name = &t.function.name;
            if name.is_empty() {
                return Err(Error::invalid(field, "a tool needs a name"));
            }
            if taken.contains(name) {
                return Err(Error::invalid(
                    field,
                    format!("`{name}` is named twice among the comparison's tools"),
                ));
            }
            let mut tool = t.clone();
            match &tool.function.parameters {
                None => {
                    tool.function.parameters =
                        Some(serde_json::json!({"type": "object", "properties": {}}));
                }
                Some(p) => {
                    if !llm_compare_core::tools::is_schema(p) {
                        return Err(Error::invalid(
                            format!("{field}.function.parameters"),
                            "a JSON Schema object",
                        ));
                    }
                }
            }
            taken.push(name.clone());
            out.push(tool);
        }
        Ok(Some(llm_compare_core::tools::ClientTools::new(out)))
    }

    /// The loop's options when the body names executable tools of the server (None
    /// otherwise): those tools of `engine`'s, and `max_steps`. `client`: the body has
    /// client-side tools (then `max_steps` alone is no stray).
    pub(super) fn server_agent(
        &self,
        available: Option<&Arc<dyn llm_compare_core::tools::ToolExecutor>>,
        client: bool,
    ) -> Result<Option<CompareOptions>> {
        let names: Vec<(usize, &String)> = self
            .tools
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, t)| match t {
                ToolSpec::Name(n) => Some((i, n)),
                ToolSpec::Definition(_) => None,
            })
            .collect();
        if names.is_empty() {
            let stray = [
                ("max_steps", self.max_steps.is_some() && !client),
                ("tool_mode", self.tool_mode.is_some()),
                ("cassette", self.cassette.is_some()),
            ];
            if let Some((field, _)) = stray.iter().find(|(_, set)| *set) {
                return Err(Error::invalid(
                    *field,
                    format!(
                        "`{field}` goes with executable tools: name one of the server's tools in `tools`"
                    ),
                ));
            }
            return Ok(None);
        }
        let Some(all) = available else {
            return Err(Error::invalid(
                format!("tools[{}]", names[0].0),
                format!(
                    "`{}` is not a tool of this server: it has no executable tools (`[tools.<name>]` or `[mcp.<name>]` in its configuration)",
                    names[0].1
                ),
            ));
        };
        let list: Vec<String> = names.iter().map(|(_, n)| (*n).clone()).collect();
        let tools = llm_compare_core::tools::only(all, &list).map_err(|unknown| {
            let i = names
                .iter()
                .find(|(_, n)| **n == unknown)
                .map_or(0, |(i, _)| *i);
            let known: Vec<String> = all.tools().into_iter().map(|t| t.function.name).collect();
            Error::invalid(
                format!("tools[{i}]"),
                format!(
                    "no tool `{unknown}` on this server; its tools: {}",
                    known.join(", ")
                ),
            )
        })?;
        llm_compare_core::CompareOptions::tool_loop(
            tools,
            self.max_steps,
            self.tool_mode.unwrap_or_default(),
            self.cassette.clone(),
        )
        .map(Some)
    }
}

/// A started comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Submitted {
    /// Its id (UUIDv7).
    pub request_id: String,
    /// Its models, by `model_index` ("Model A", … when blind).
    pub models: Vec<String>,
    /// Earlier session turns left out of each model's history to fit its context window,
    /// by `model_index` (session turns only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub history_trimmed: Option<Vec<u32>>,
    /// The user's message.
    #[serde(skip)]
    pub prompt: Option<String>,
}

/// A session to start (`POST /v1/sessions`, `engine.create_session`).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Models, `provider/model`, 1–8, fixed for every turn.
    #[cfg_attr(feature = "openapi", schema(example = json!(["sim/echo", "sim/lorem"])))]
    pub models: Vec<String>,
    /// A title (at most 200 characters).
    pub title: Option<String>,
    /// A system prompt for every turn.
    pub system: Option<String>,
}

/// `POST /v1/comparisons/{id}/tool_results` body (`engine.tool_results`): results of
/// client-side tool calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolResults {
    /// One per call answered (each names an `action` event's `model_index` and `call_id`).
    pub results: Vec<llm_compare_core::tools::ClientResult>,
}

/// A vote (`POST /v1/comparisons/{id}/preference`, `engine.vote`; also the vote in snapshots).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// The winning `model_index`, or `"tie"`, or `"all_bad"`.
    #[cfg_attr(feature = "openapi", schema(schema_with = winner_schema, example = json!(0)))]
    pub winner: Winner,
    /// Free-text feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

/// A vote's `winner`: a `model_index`, `"tie"` or `"all_bad"`.
#[cfg(feature = "openapi")]
pub(super) fn winner_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["tie", "all_bad"])),
        )
        .description(Some(
            "The winning `model_index`, or `\"tie\"`, or `\"all_bad\"`.",
        ))
        .build()
        .into()
}

impl From<Vote> for VoteBody {
    fn from(v: Vote) -> Self {
        Self {
            winner: v.winner,
            feedback: v.feedback,
        }
    }
}

/// A prompt's content: its text, then its attachments (text alone without any).
pub(super) fn with_attachments(
    prompt: String,
    attachments: Option<Vec<llm_compare_core::Part>>,
) -> llm_compare_core::Content {
    match attachments.filter(|a| !a.is_empty()) {
        None => llm_compare_core::Content::Text(prompt),
        Some(a) => llm_compare_core::Content::Parts(
            std::iter::once(llm_compare_core::Part::Text { text: prompt })
                .chain(a)
                .collect(),
        ),
    }
}

pub(super) fn check_metadata(metadata: Option<&serde_json::Value>) -> Result<()> {
    if metadata.is_some_and(|m| m.to_string().len() > 16 * 1024) {
        return Err(Error::invalid(
            "metadata",
            "metadata is limited to 16 KiB of JSON",
        ));
    }
    Ok(())
}

/// Longest category or tag.
pub(super) const MAX_LABEL: usize = 64;

/// Most tags.
pub(super) const MAX_TAGS: usize = 16;

impl CreateComparison {
    /// The category and tags, checked: each 1–64 characters, no control characters; at
    /// most 16 tags, none twice.
    pub(super) fn labels(&self) -> Result<(Option<String>, Vec<String>)> {
        let ok = |s: &str| {
            !s.trim().is_empty()
                && s.chars().count() <= MAX_LABEL
                && !s.chars().any(char::is_control)
        };
        if let Some(c) = &self.category
            && !ok(c)
        {
            return Err(Error::invalid(
                "category",
                format!("a category is 1–{MAX_LABEL} characters without control characters"),
            ));
        }
        let tags = self.tags.clone().unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")));
        }
        for (i, t) in tags.iter().enumerate() {
            if !ok(t) {
                return Err(Error::invalid(
                    format!("tags[{i}]"),
                    format!("a tag is 1–{MAX_LABEL} characters without control characters"),
                ));
            }
            if tags[..i].contains(t) {
                return Err(Error::invalid(
                    format!("tags[{i}]"),
                    format!("`{t}` is given twice"),
                ));
            }
        }
        Ok((self.category.clone(), tags))
    }

    /// Parses a body given as JSON (the bindings pass it so); a bad one blames `request`.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::invalid("request", e.to_string()))
    }

    /// The plain request (no session, not blind: those need [`Service::submit`]) and its
    /// metadata.
    pub fn into_request(self) -> Result<(CompareRequest, Option<serde_json::Value>)> {
        let tools = self.definitions();
        let messages = match (self.prompt, self.messages) {
            (Some(p), None) => vec![Message::user(with_attachments(p, self.attachments))],
            (None, Some(_)) if self.attachments.is_some() => {
                return Err(Error::invalid(
                    "attachments",
                    "attachments go with `prompt`; in `messages`, put them in the message's content",
                ));
            }
            (None, Some(m)) => m,
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "prompt",
                    "give either prompt or messages, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid("prompt", "prompt or messages is required"));
            }
        };
        check_metadata(self.metadata.as_ref())?;
        Ok((
            CompareRequest {
                models: self.models,
                messages,
                system: self.system,
                params: self.params.unwrap_or_default(),
                tools,
                tool_choice: self.tool_choice,
                response_format: self.response_format,
            },
            self.metadata,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> CreateComparison {
        CreateComparison::from_json(json).unwrap()
    }

    #[test]
    fn labels_are_checked() {
        let ok = body(r#"{"prompt":"hi","models":["sim/a"],"category":"code","tags":["x","y"]}"#);
        assert_eq!(
            ok.labels().unwrap(),
            (Some("code".into()), vec!["x".into(), "y".into()])
        );
        let twice = body(r#"{"prompt":"hi","models":["sim/a"],"tags":["x","x"]}"#);
        assert!(
            twice
                .labels()
                .unwrap_err()
                .to_string()
                .contains("given twice")
        );
        let long = format!(
            r#"{{"prompt":"hi","models":["sim/a"],"category":"{}"}}"#,
            "c".repeat(65)
        );
        assert!(body(&long).labels().is_err());
        let many: Vec<String> = (0..17).map(|i| format!("\"t{i}\"")).collect();
        let many = format!(
            r#"{{"prompt":"hi","models":["sim/a"],"tags":[{}]}}"#,
            many.join(",")
        );
        assert!(
            body(&many)
                .labels()
                .unwrap_err()
                .to_string()
                .contains("at most 16")
        );
    }

    #[test]
    fn a_request_needs_exactly_one_of_prompt_and_messages() {
        let none = body(r#"{"models":["sim/a"]}"#);
        assert!(none.into_request().is_err());
        let both = body(
            r#"{"prompt":"hi","messages":[{"role":"user","content":"hi"}],"models":["sim/a"]}"#,
        );
        assert!(
            both.into_request()
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        let (req, meta) = body(r#"{"prompt":"hi","models":["sim/a"],"metadata":{"k":1}}"#)
            .into_request()
            .unwrap();
        assert_eq!(req.messages.len(), 1);
        assert_eq!(meta, Some(serde_json::json!({"k": 1})));
    }

    #[test]
    fn metadata_is_bounded() {
        let big = serde_json::json!({ "k": "x".repeat(17 * 1024) });
        assert!(check_metadata(Some(&big)).is_err());
        assert!(check_metadata(Some(&serde_json::json!({"k": 1}))).is_ok());
        assert!(check_metadata(None).is_ok());
    }

    #[test]
    fn a_bad_body_blames_request() {
        let e = CreateComparison::from_json("{").unwrap_err();
        assert!(matches!(e, Error::InvalidRequest { .. }), "{e:?}");
    }
}
