//! The comparing service every front end shares: the HTTP server and the Python and Node
//! bindings call these methods and only translate inputs and errors, so a comparison, a
//! session turn, a vote or a leaderboard is the same thing whichever way it was asked for.
//!
//! With a store, a comparison is recorded (its worst case held against the owner's budget)
//! before it is registered and started, and [`Persistence`] writes what the registry
//! publishes; sessions plan each turn from the stored history; votes feed the leaderboard.
//! Without one, comparisons run in memory and the stored features say they need a store.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use llm_compare_core::{
    ActiveLease, ChatRequest, CompareOptions, CompareRequest, Comparison, Complete, Engine, Error,
    Event, EventKind, EventStream, InMemorySession, Message, ModelId, ModelInfo, ModelResult,
    NewRequest, ObservedRegistry, Params, PriceTable, RegistryObserver, RequestInfo,
    RequestRegistry, RequestStatus, Result, Session as _, Stage, Tool, ToolChoice, Totals, Turn,
};
use serde::{Deserialize, Serialize};

use crate::backlog::Write;
use crate::budget::BudgetSettings;
use crate::keys::{CreateKey, CreatedKey, KeyPage, KeyView, Keys, Principal, SelfView, UpdateKey};
use crate::leaderboard::{Leaderboard, VoteCache};
use crate::persist::{Persistence, WRITE_WINDOW};
use crate::usage::{UsageQuery, UsageReport};
use crate::{
    AttachmentRef, ComparisonKind, ComparisonSummary, NewComparison, NewSession, SessionSummary,
    SharedStore, StoredComparison, Vote, Winner,
};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The host name (`HOSTNAME`, else `/etc/hostname`, else `local`).
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into())
}

/// A store instance name unique to this process, `{prefix}:{pid}@{host}`: an embedding
/// process that starts never marks another one's running comparisons interrupted.
pub fn process_instance(prefix: &str) -> String {
    format!("{prefix}:{}@{}", std::process::id(), host_name())
}

/// Items per listing page when no limit is given.
pub const DEFAULT_PAGE: u32 = 20;

/// A listing's page size: `limit` (default [`DEFAULT_PAGE`]), checked to be 1–100.
pub fn page_limit(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "limit must be between 1 and 100"));
    }
    Ok(limit)
}

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
    fn definitions(&self) -> Vec<Tool> {
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
    fn agent(
        &self,
        available: Option<&Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Result<Option<CompareOptions>> {
        let client = self.client_tools()?;
        let options = match (&client, self.server_agent(available, client.is_some())?) {
            (_, Some(o)) => Some(o),
            (Some(_), None) => Some(llm_compare_core::tools::loop_options(
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
    fn client_tools(&self) -> Result<Option<llm_compare_core::tools::ClientTools>> {
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
    fn server_agent(
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
        llm_compare_core::tools::loop_options(
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
fn winner_schema() -> utoipa::openapi::schema::Schema {
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

/// One model's state in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelSnapshot {
    /// Its position.
    pub model_index: usize,
    /// Its id.
    pub model: String,
    /// Its stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage: Stage,
    /// The text streamed so far.
    pub text: String,
    /// Its result, once it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub result: Option<ModelResult>,
}

/// A comparison now (`GET /v1/comparisons/{id}`, `engine.snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    /// The id.
    pub request_id: String,
    /// Its status.
    pub status: RequestStatus,
    /// Unix milliseconds of its creation.
    pub created_at_ms: u64,
    /// The last event's seq.
    pub last_seq: u64,
    /// Each model, by `model_index`.
    pub models: Vec<ModelSnapshot>,
    /// Totals, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub totals: Option<Totals>,
    /// Duration, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub duration_ms: Option<f64>,
    /// The metadata given at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub metadata: Option<serde_json::Value>,
    /// The vote, once cast.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub preference: Option<VoteBody>,
    /// The user's message (session turns, and comparisons of a server with a store).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub prompt: Option<String>,
    /// The session this comparison is a turn of.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub session_id: Option<String>,
    /// Blind: model names are "Model A", … until the vote.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub blind: bool,
    /// The prompt's images and files (their bytes: `GET
    /// /v1/comparisons/{id}/attachments/{index}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<AttachmentRef>>", optional))]
    pub attachments: Vec<AttachmentRef>,
    /// Its category.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub category: Option<String>,
    /// Its tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub tags: Vec<String>,
}

impl Snapshot {
    /// Model names as a blind comparison shows them before the vote.
    fn blind(&mut self) {
        for m in &mut self.models {
            m.model = llm_compare_core::blind_label(m.model_index);
            if let Some(r) = &mut m.result {
                r.blind();
            }
        }
    }
}

/// A session with its turns (`GET /v1/sessions/{id}`, `engine.session`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionDetail {
    /// The session.
    #[serde(flatten)]
    pub session: SessionSummary,
    /// Its turns, oldest first: the question (`prompt`), every model's answer and the vote.
    pub turns: Vec<Snapshot>,
}

/// A comparison's state as its events tell it: each model's stage, text and result, and the
/// totals once complete (snapshots; the ending of an abandoned comparison).
pub(crate) struct Folded {
    pub(crate) models: Vec<ModelSnapshot>,
    pub(crate) totals: Option<Totals>,
    pub(crate) duration_ms: Option<f64>,
}

/// Folds `events` of a comparison of models `names`.
pub(crate) fn fold(names: &[String], events: Vec<Event>) -> Folded {
    let mut models: Vec<ModelSnapshot> = names
        .iter()
        .enumerate()
        .map(|(i, m)| ModelSnapshot {
            model_index: i,
            model: m.clone(),
            stage: Stage::Queued,
            text: String::new(),
            result: None,
        })
        .collect();
    let mut totals = None;
    let mut duration_ms = None;
    for e in events {
        match e.kind {
            EventKind::Stage {
                model_index, stage, ..
            } => {
                if let Some(m) = models.get_mut(model_index) {
                    m.stage = stage;
                }
            }
            EventKind::ResponseChunk {
                model_index, delta, ..
            } => {
                if let Some(m) = models.get_mut(model_index) {
                    m.text.push_str(&delta);
                }
            }
            EventKind::ModelResult(r) => {
                if let Some(m) = models.get_mut(r.model_index) {
                    m.text.clone_from(&r.text);
                    m.result = Some(*r);
                }
            }
            EventKind::Complete(c) => {
                totals = Some(c.totals);
                duration_ms = Some(c.duration_ms);
            }
            _ => {}
        }
    }
    Folded {
        models,
        totals,
        duration_ms,
    }
}

/// A snapshot from the store: after a restart, once the registry has let it go, or as a
/// session turn.
pub fn stored_snapshot(c: StoredComparison) -> Snapshot {
    let models = c
        .models
        .into_iter()
        .map(|m| ModelSnapshot {
            model_index: m.model_index,
            stage: match &m.result {
                Some(r) if r.error.is_some() => Stage::Failed,
                Some(_) => Stage::Done,
                None if c.status.is_terminal() => Stage::Cancelled,
                None => Stage::Streaming,
            },
            model: m.model,
            text: m.text,
            result: m.result,
        })
        .collect();
    let hide = c.blind && c.preference.is_none();
    let mut snap = Snapshot {
        request_id: c.id,
        status: c.status,
        created_at_ms: u64::try_from(c.created_at_ms).unwrap_or(0),
        last_seq: 0,
        models,
        totals: c.totals,
        duration_ms: c.duration_ms,
        metadata: c.metadata,
        preference: c.preference.map(Into::into),
        prompt: c.prompt,
        session_id: c.session_id,
        blind: c.blind,
        attachments: c.attachments,
        category: c.category,
        tags: c.tags,
    };
    if hide {
        snap.blind();
    }
    snap
}

/// A chat completion under way ([`Service::chat_completion`]): one model's events, read by
/// the caller alone. Dropping `events` before `complete` cancels the upstream call.
pub struct ChatCall {
    /// Its id (UUIDv7): the stored record's, listed with the caller's comparisons.
    pub id: String,
    /// The model that answers (resolved, aliases applied).
    pub model: String,
    /// Its events, to `complete`.
    pub events: EventStream,
}

impl std::fmt::Debug for ChatCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatCall")
            .field("id", &self.id)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// Records a chat completion once it ends (or is dropped unfinished) and holds its active
/// slot until then. The record is written off the response path: a chat completion has no
/// resumable log whose readers must find it on disk first.
struct ChatRecorder {
    persistence: Option<Persistence>,
    /// The comparison row still to create (`None` when it was created before the call, with
    /// its budget hold).
    pending: Option<NewComparison>,
    id: String,
    started: std::time::Instant,
    results: Vec<ModelResult>,
    done: bool,
    /// The caller's active slot and, under a key with `max_active`, the key's.
    lease: Option<(Option<ActiveLease>, Option<ActiveLease>)>,
}

impl ChatRecorder {
    fn see(&mut self, e: &Event) {
        match &e.kind {
            EventKind::ModelResult(r) => self.results.push((**r).clone()),
            EventKind::Complete(c) => self.finish(c.clone()),
            _ => {}
        }
    }

    fn finish(&mut self, complete: Complete) {
        self.done = true;
        self.lease = None;
        let Some(persistence) = self.persistence.take() else {
            return;
        };
        let mut writes: Vec<Write> = Vec::with_capacity(complete.results.len() + 2);
        if let Some(new) = self.pending.take() {
            writes.push(Write::Create(Box::new(new)));
        }
        for r in &complete.results {
            writes.push(Write::Result {
                id: self.id.clone(),
                result: Box::new(r.clone()),
            });
        }
        writes.push(Write::Finish {
            id: self.id.clone(),
            complete: Box::new(complete),
        });
        // Batched with other records into one transaction; through an outage, they wait.
        persistence.record(writes);
    }
}

impl Drop for ChatRecorder {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The client went away first: the call was cancelled upstream (its hold released).
        let complete = Complete {
            request_id: self.id.clone(),
            status: RequestStatus::Cancelled,
            results: std::mem::take(&mut self.results),
            totals: Totals::default(),
            duration_ms: self.started.elapsed().as_secs_f64() * 1e3,
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            self.finish(complete);
        }
    }
}

/// What this service was given, so front ends ask instead of inferring it from errors
/// (`GET /health`'s `features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    /// A store (database): sessions, blind comparisons, votes, the leaderboard, history and
    /// usage work.
    pub store: bool,
    /// Per-caller budgets are enforced.
    pub budgets: bool,
}

/// What a valid [`CreateComparison`] turns into.
struct Prepared {
    calls: Vec<ChatRequest>,
    /// Its category and tags, checked.
    labels: (Option<String>, Vec<String>),
    /// With executable tools: the loop's options.
    agent: Option<CompareOptions>,
    metadata: Option<serde_json::Value>,
    session_id: Option<String>,
    prompt: Option<String>,
    /// The prompt's images and files, stored with it.
    attachments: Vec<llm_compare_core::Part>,
    blind: bool,
}

/// A prompt's content: its text, then its attachments (text alone without any).
fn with_attachments(
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

fn check_metadata(metadata: Option<&serde_json::Value>) -> Result<()> {
    if metadata.is_some_and(|m| m.to_string().len() > 16 * 1024) {
        return Err(Error::invalid(
            "metadata",
            "metadata is limited to 16 KiB of JSON",
        ));
    }
    Ok(())
}

/// Longest category or tag.
const MAX_LABEL: usize = 64;
/// Most tags.
const MAX_TAGS: usize = 16;

impl CreateComparison {
    /// The category and tags, checked: each 1–64 characters, no control characters; at
    /// most 16 tags, none twice.
    fn labels(&self) -> Result<(Option<String>, Vec<String>)> {
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

/// The turn stored comparison `c` answered, its attachments' bytes from `blobs` (by SHA-256).
fn turn_of(c: &StoredComparison, blobs: &HashMap<String, Arc<str>>) -> Option<Turn> {
    let prompt = c.prompt.clone()?;
    // A cancelled or interrupted turn was never seen through: left out, as in memory.
    if !matches!(c.status, RequestStatus::Completed | RequestStatus::Failed) {
        return None;
    }
    let parts: Vec<llm_compare_core::Part> = c
        .attachments
        .iter()
        .map(|r| r.to_part(r.sha256.as_ref().and_then(|h| blobs.get(h)).cloned()))
        .collect();
    Some(Turn {
        request_id: c.id.clone(),
        user: with_attachments(prompt, Some(parts)),
        answers: c
            .models
            .iter()
            .map(|m| (!m.text.is_empty()).then(|| m.text.clone()))
            .collect(),
        exchanges: c
            .models
            .iter()
            .map(|m| {
                m.result
                    .as_ref()
                    .map(|r| r.exchange.clone())
                    .unwrap_or_default()
            })
            .collect(),
    })
}

/// The engine, its request registry and (optionally) a store, with budgets. Cloning shares
/// all of it.
#[derive(Debug, Clone)]
pub struct Service {
    engine: Engine,
    registry: Arc<dyn RequestRegistry>,
    store: Option<SharedStore>,
    budget: Option<BudgetSettings>,
    instance: String,
    votes: Arc<VoteCache>,
    persistence: Option<Persistence>,
    keys: Arc<Keys>,
    /// The client-side tools of comparisons running here, by request id (gone with their
    /// comparison: the loops hold the only strong references).
    client_tools: Arc<parking_lot::Mutex<HashMap<String, std::sync::Weak<ClientTools>>>>,
    /// Evaluation runs started here (`POST /v1/evals`), while they run and a while after.
    evals: Arc<crate::eval::live::LiveRuns>,
    /// What one request may ask for.
    limits: Arc<crate::Limits>,
    /// Per user: evaluation rows take their turn here to pass from a free slot to their
    /// submission, so that no other row takes the slot in between.
    admissions: Arc<parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

use llm_compare_core::tools::{ClientResult, ClientTools};

impl Service {
    /// `engine` over `registry`; with a `store`, what the registry publishes is persisted
    /// first, then passed to `observers` (metrics), then to readers.
    pub fn new(
        engine: Engine,
        registry: Arc<dyn RequestRegistry>,
        store: Option<SharedStore>,
        observers: Vec<Arc<dyn RegistryObserver>>,
    ) -> Self {
        Self::build(engine, registry, store, observers, WRITE_WINDOW)
    }

    /// [`Service::new`], with writes to an unreachable database held for `write_window`
    /// (the registry's retention) before they are given up.
    pub fn with_write_window(
        engine: Engine,
        registry: Arc<dyn RequestRegistry>,
        store: Option<SharedStore>,
        observers: Vec<Arc<dyn RegistryObserver>>,
        write_window: std::time::Duration,
    ) -> Self {
        Self::build(engine, registry, store, observers, write_window)
    }

    fn build(
        engine: Engine,
        registry: Arc<dyn RequestRegistry>,
        store: Option<SharedStore>,
        observers: Vec<Arc<dyn RegistryObserver>>,
        write_window: std::time::Duration,
    ) -> Self {
        let persistence = store
            .as_ref()
            .map(|s| Persistence::with_window(s.clone(), write_window));
        let mut all: Vec<Arc<dyn RegistryObserver>> = Vec::new();
        if let Some(p) = &persistence {
            all.push(Arc::new(p.clone()));
        }
        all.extend(observers);
        let registry: Arc<dyn RequestRegistry> = if all.is_empty() {
            registry
        } else {
            Arc::new(ObservedRegistry::new(registry, all))
        };
        let keys = Arc::new(Keys::new([], store.clone()));
        Self {
            engine,
            registry,
            store,
            budget: None,
            instance: "local".into(),
            votes: Arc::default(),
            persistence,
            keys,
            client_tools: Arc::default(),
            // A finished run stays live as long as a finished comparison does.
            evals: Arc::new(crate::eval::live::LiveRuns::keeping(write_window)),
            limits: Arc::default(),
            admissions: Arc::default(),
        }
    }

    /// The limits on what one request may ask for (default: [`crate::Limits::default`]).
    pub fn with_limits(mut self, limits: crate::Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// The limits in effect.
    pub fn limits(&self) -> &crate::Limits {
        &self.limits
    }

    /// Static API keys (`(user, secret)` pairs from the configuration) beside the stored
    /// ones: no limits, never admin.
    pub fn with_static_keys<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        self.keys = Arc::new(Keys::new(pairs, self.store.clone()));
        self
    }

    /// Who presents `secret` ([`Error::Unauthorized`] saying why not: missing, unknown,
    /// expired, revoked). On a server with no key anywhere, everyone is `anonymous`.
    pub async fn authenticate(&self, secret: Option<&str>) -> Result<Principal> {
        self.keys.authenticate(secret).await
    }

    /// [`Service::authenticate`], with `may_look_up` asked before an unknown secret costs a
    /// database query ([`crate::keys::Keys::authenticate_guarded`]).
    pub async fn authenticate_guarded(
        &self,
        secret: Option<&str>,
        may_look_up: impl FnOnce() -> Result<()>,
    ) -> Result<Principal> {
        self.keys.authenticate_guarded(secret, may_look_up).await
    }

    /// Whether no API key exists (static or stored): the server is open.
    pub async fn is_open(&self) -> Result<bool> {
        self.keys.ensure_loaded().await?;
        Ok(self.keys.is_open())
    }

    /// Reloads the stored keys now if they changed (servers also poll every 250 ms).
    pub async fn refresh_keys(&self) -> Result<()> {
        self.keys.refresh().await
    }

    fn admin_only(who: &Principal) -> Result<()> {
        if who.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "managing API keys needs an admin key (mint the first one with `llm-compare keys create --admin`)".into(),
            ))
        }
    }

    /// The budget hold for `who`'s `calls`: against its key's own budget when the key has
    /// one (account `key:<id>`), else against the server's budget for its user; None when no
    /// budget applies.
    fn reservation(
        &self,
        who: &Principal,
        calls: &[llm_compare_core::ChatRequest],
    ) -> Result<Option<crate::Reservation>> {
        match who.key.as_ref().and_then(|k| k.budget.map(|b| (k, b))) {
            Some((key, (limit_pico, period))) => {
                let settings = self.budget.clone().unwrap_or_default();
                Ok(Some(crate::Reservation {
                    limit_pico,
                    period_start_ms: crate::budget::unix_ms(
                        period.start(time::OffsetDateTime::now_utc()),
                    ),
                    per_model_pico: settings.worst_case(&self.engine, calls)?,
                    account: Some(format!("key:{}", key.id)),
                }))
            }
            None => match &self.budget {
                Some(b) => b.reservation(&who.user, &self.engine, calls),
                None => Ok(None),
            },
        }
    }

    /// One of the active slots of `who`'s key, when the key limits them (`max_active`):
    /// held while the comparison or chat completion runs, on every server of a cluster.
    async fn key_lease(&self, who: &Principal) -> Result<Option<ActiveLease>> {
        let Some((id, max)) = who
            .key
            .as_ref()
            .and_then(|k| k.max_active.map(|m| (k.id.as_str(), m)))
        else {
            return Ok(None);
        };
        // A subject no user name can be (control characters are refused in user names).
        let subject = format!("\u{1}key {id}");
        match self.registry.lease(&subject, Some(max as usize)).await {
            Ok(l) => Ok(Some(l)),
            Err(Error::RateLimited { retry_after, .. }) => Err(Error::RateLimited {
                message: format!(
                    "this API key's {max} active comparisons are all running (max_active)"
                ),
                retry_after,
            }),
            Err(e) => Err(e),
        }
    }

    /// Mints a key (admins only): the answer holds its secret, shown this once.
    pub async fn create_key(&self, who: &Principal, body: CreateKey) -> Result<CreatedKey> {
        Self::admin_only(who)?;
        let store = self.store_for("API keys need")?;
        let (key, secret) = body.mint()?;
        store.insert_key(&key).await?;
        self.keys.remember(&key)?;
        Ok(CreatedKey {
            key: secret,
            view: KeyView::of(&key)?,
        })
    }

    /// Keys, newest first (admins only), `limit` per page after `cursor`.
    pub async fn keys(
        &self,
        who: &Principal,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<KeyPage> {
        Self::admin_only(who)?;
        let store = self.store_for("API keys need")?;
        let limit = page_limit(limit)?;
        let rows = store.keys(limit + 1, cursor).await?;
        let more = rows.len() > limit as usize;
        let data = rows
            .iter()
            .take(limit as usize)
            .map(KeyView::of)
            .collect::<Result<Vec<_>>>()?;
        Ok(KeyPage {
            object: "list",
            next_cursor: if more {
                data.last().map(|k| k.id.clone())
            } else {
                None
            },
            data,
        })
    }

    async fn stored_key(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<(SharedStore, crate::StoredKey)> {
        Self::admin_only(who)?;
        let store = self.store_for("API keys need")?.clone();
        let key = store
            .key(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no API key `{id}`")))?;
        Ok((store, key))
    }

    /// A key as saved (re-read: a concurrent revocation wins), cached here at once.
    async fn saved_key(&self, store: &SharedStore, key: crate::StoredKey) -> Result<KeyView> {
        let saved = store.key(&key.id).await?.unwrap_or(key);
        self.keys.remember(&saved)?;
        KeyView::of(&saved)
    }

    /// Key `id` (admins only).
    pub async fn key(&self, who: &Principal, id: &str) -> Result<KeyView> {
        KeyView::of(&self.stored_key(who, id).await?.1)
    }

    /// Changes key `id`'s name, limits or expiry (admins only); every server sees it within
    /// a second.
    pub async fn update_key(
        &self,
        who: &Principal,
        id: &str,
        changes: UpdateKey,
    ) -> Result<KeyView> {
        let (store, mut key) = self.stored_key(who, id).await?;
        changes.apply(&mut key)?;
        store.update_key(&key).await?;
        self.saved_key(&store, key).await
    }

    /// Revokes key `id` (admins only): refused within a second on every server.
    pub async fn revoke_key(&self, who: &Principal, id: &str) -> Result<KeyView> {
        let (store, mut key) = self.stored_key(who, id).await?;
        key.revoked_at_ms.get_or_insert_with(now_ms);
        store.update_key(&key).await?;
        self.saved_key(&store, key).await
    }

    /// The budget `who`'s requests are held against now, with what is spent and held.
    async fn budget_of(&self, who: &Principal) -> Result<Option<crate::usage::BudgetView>> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let now = time::OffsetDateTime::now_utc();
        let (account, limit, period) = match who.key.as_ref().and_then(|k| k.budget.map(|b| (k, b)))
        {
            Some((key, (limit, period))) => (format!("key:{}", key.id), limit, period),
            None => match self
                .budget
                .as_ref()
                .and_then(|b| b.limit_pico(&who.user).map(|l| (l, b.period)))
            {
                Some((limit, period)) => (who.user.clone(), limit, period),
                None => return Ok(None),
            },
        };
        let start = crate::budget::unix_ms(period.start(now));
        let state = store.budget(&account, start).await?;
        Ok(Some(crate::usage::budget_view(period, start, limit, state)))
    }

    /// The caller's own key and what it allows.
    pub async fn key_self(&self, who: &Principal) -> Result<SelfView> {
        let key = match (&who.key, &self.store) {
            (Some(k), Some(store)) => store
                .key(&k.id)
                .await?
                .as_ref()
                .map(KeyView::of)
                .transpose()?,
            _ => None,
        };
        let budget = self.budget_of(who).await?;
        let usage = match &self.store {
            Some(_) => Some(self.usage(&who.user, &UsageQuery::default()).await?.total),
            None => None,
        };
        Ok(SelfView {
            budget,
            usage,
            user: who.user.clone(),
            kind: if key.is_some() {
                "stored"
            } else if self.keys.is_open() {
                "open"
            } else {
                "static"
            },
            key,
        })
    }

    /// Whether this service can take requests: its database and its registry answer (within
    /// a second each). [`Error::Unavailable`] when one does not (`/ready` says 503).
    pub async fn ready(&self) -> Result<()> {
        let within = std::time::Duration::from_secs(1);
        let timed_out =
            |what: &str| Error::unavailable(format!("{what} did not answer within 1 s"));
        if let Some(store) = &self.store {
            tokio::time::timeout(within, store.ping())
                .await
                .map_err(|_| timed_out("the database"))??;
        }
        tokio::time::timeout(within, self.registry.ping())
            .await
            .map_err(|_| timed_out("the request registry"))?
    }

    /// Writes waiting for an unreachable database to come back.
    pub fn pending_writes(&self) -> usize {
        self.persistence.as_ref().map_or(0, Persistence::pending)
    }

    /// Holds each comparison's worst-case cost against its owner's budget (needs a store).
    pub fn with_budget(mut self, budget: Option<BudgetSettings>) -> Self {
        self.budget = budget;
        self
    }

    /// The name this process records its comparisons under (see
    /// [`crate::Store::mark_interrupted`]).
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }

    /// The catalogue: every model, its provider, context window, prices, available or why
    /// not.
    pub async fn models(&self) -> Vec<ModelInfo> {
        self.engine
            .providers()
            .catalogue(self.engine.prices())
            .await
    }

    /// The store, when there is one.
    pub(crate) fn store_ref(&self) -> Option<&SharedStore> {
        self.store.as_ref()
    }

    /// The registry (with its observers).
    pub(crate) fn registry_ref(&self) -> &Arc<dyn RequestRegistry> {
        &self.registry
    }

    /// The name this process records its comparisons under.
    pub(crate) fn instance_ref(&self) -> &str {
        &self.instance
    }

    /// Whether `who` may call every one of `models` here, as `field` (`models`, `judge`):
    /// an unknown model or one the caller's key may not use is refused before anything runs.
    pub(crate) fn check_callable(
        &self,
        who: &Principal,
        models: &[String],
        field: &str,
    ) -> Result<()> {
        let probe = CompareRequest::prompt(models.iter().map(String::as_str), "probe");
        let calls = self.engine.plan(&probe).map_err(|e| match e {
            Error::InvalidRequest { message, .. } => Error::invalid(field, message),
            other => other,
        })?;
        check_models(who, &self.engine, &calls)
    }

    /// The evaluation runs live in this process.
    pub(crate) fn live_evals(&self) -> &Arc<crate::eval::live::LiveRuns> {
        &self.evals
    }

    /// The server's executable tools (`[tools.*]`, `[mcp.*]`): what a request may name in
    /// `tools`.
    pub fn server_tools(&self) -> Vec<llm_compare_core::Tool> {
        self.engine
            .tools()
            .map(|t| llm_compare_core::tools::ToolExecutor::tools(t.as_ref()))
            .unwrap_or_default()
    }

    /// The catalogue as `who` sees it: the models its key may use.
    pub async fn models_for(&self, who: &Principal) -> Vec<ModelInfo> {
        let mut models = self.models().await;
        models.retain(|m| who.allows(&m.id));
        models
    }

    /// The price table in effect (overrides applied): prices and costs for the bindings.
    pub fn prices(&self) -> &PriceTable {
        self.engine.prices()
    }

    /// The budgets, if any.
    pub fn budget(&self) -> Option<&BudgetSettings> {
        self.budget.as_ref()
    }

    /// What this service can do.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            store: self.store.is_some(),
            budgets: self.store.is_some() && self.budget.is_some(),
        }
    }

    /// The store, or [`Error::NotConfigured`] saying so: `what` is "sessions need", "usage
    /// needs", ….
    fn store_for(&self, what: &str) -> Result<&SharedStore> {
        self.store.as_ref().ok_or_else(|| {
            Error::NotConfigured(format!(
                "{what} a store (a database), and none is configured"
            ))
        })
    }

    /// Starts an unregistered comparison of `body`, read by the caller alone (the bindings'
    /// `compare`). Session turns and blind comparisons are stored, so they are refused here:
    /// they go through [`Service::submit`].
    pub fn compare(&self, body: CreateComparison) -> Result<Comparison> {
        self.compare_with(body, None)
    }

    /// The tools a request may name: the embedder's, then the server's.
    fn tools_with(
        &self,
        embedder: Option<Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Option<Arc<dyn llm_compare_core::tools::ToolExecutor>> {
        match (embedder, self.engine.tools()) {
            (Some(e), Some(s)) => Some(llm_compare_core::tools::combine(e, s.clone())),
            (Some(e), None) => Some(e),
            (None, s) => s.cloned(),
        }
    }

    /// [`Service::compare`] with the embedder's own tools (Python or Node functions, Rust
    /// closures): the body names them in `tools` like the server's.
    pub fn compare_with(
        &self,
        body: CreateComparison,
        embedder: Option<Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Result<Comparison> {
        let refused = if body.blind == Some(true) {
            Some("blind")
        } else if body.session_id.is_some() {
            Some("session_id")
        } else {
            None
        };
        if let Some(field) = refused {
            return Err(Error::invalid(
                field,
                "session turns and blind comparisons are stored: use submit() and stream()",
            ));
        }
        if body.client_tools.is_some() {
            return Err(Error::invalid(
                "client_tools",
                "client-side tools answer through POST …/tool_results: use submit() and stream()",
            ));
        }
        let agent = body.agent(self.tools_with(embedder).as_ref())?;
        let (request, _metadata) = body.into_request()?;
        match agent {
            Some(options) => self
                .engine
                .compare_calls(self.engine.plan(&request)?, options),
            None => self.compare_request(&request),
        }
    }

    /// Starts an unregistered comparison of a built `request`, read by the caller alone (the
    /// CLI's `run`).
    pub fn compare_request(&self, request: &CompareRequest) -> Result<Comparison> {
        self.engine.compare(request)
    }

    /// [`Service::compare_request`] with `options` (executable tools: the CLI's `--tools`).
    pub fn compare_request_with(
        &self,
        request: &CompareRequest,
        options: CompareOptions,
    ) -> Result<Comparison> {
        self.engine
            .compare_calls(self.engine.plan(request)?, options)
    }

    /// Runs one planned model call and returns its events (`llm-compare worker`, the process
    /// a remote runner starts per call).
    pub fn run_call(
        &self,
        call: llm_compare_core::ModelCall,
    ) -> Result<futures::stream::BoxStream<'static, llm_compare_core::CallEvent>> {
        self.engine.run_call(call)
    }

    /// An OpenAI-compatible chat completion of `request` (one model) for `owner`, through the
    /// same door as comparisons: it takes one of the owner's active slots
    /// ([`Error::RateLimited`] when all are taken), holds its worst case against the owner's
    /// budget first when budgets apply ([`Error::BudgetExceeded`]), and is recorded — as a
    /// `chat_completion`, listed with the owner's comparisons, its cost in the usage ledger.
    pub async fn chat_completion(
        &self,
        who: &Principal,
        request: CompareRequest,
    ) -> Result<ChatCall> {
        if request.models.len() != 1 {
            return Err(Error::invalid("model", "a chat completion has one model"));
        }
        let lease = self.registry.lease(&who.user, None).await?;
        self.held_call(who, request, ComparisonKind::ChatCompletion, Some(lease))
            .await
    }

    /// A judge's call in an evaluation run: like [`Service::chat_completion`] (held against
    /// the budget, recorded in usage, one of the caller's active slots while it runs), but
    /// not listed with the comparisons. While every slot is taken it waits for one, writing
    /// and holding nothing meanwhile.
    pub(crate) async fn judge_call(
        &self,
        who: &Principal,
        request: CompareRequest,
    ) -> Result<ChatCall> {
        let mut waited = 0u32;
        loop {
            // In turn with the run's rows (one of which may be between a slot and its
            // submission): a slot a row found free stays the row's.
            let turn = self.admission(&who.user).await;
            let lease = self.wait_for_slot(who).await?;
            drop(turn);
            // The key's own slots are taken before anything is written, too.
            match self
                .held_call(who, request.clone(), ComparisonKind::Judge, Some(lease))
                .await
            {
                Err(Error::RateLimited { .. }) => {
                    tokio::time::sleep(slot_backoff(waited)).await;
                    waited = waited.saturating_add(1);
                }
                other => return other,
            }
        }
    }

    /// `user`'s turn to pass from a free slot to a submission (one at a time per user).
    pub(crate) async fn admission(&self, user: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut all = self.admissions.lock();
            // Users with no row waiting are forgotten.
            all.retain(|_, l| Arc::strong_count(l) > 1);
            all.entry(user.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// One of `who`'s active slots, waited for while all are taken (an evaluation's rows and
    /// judge calls queue behind each other and behind the caller's other work): asking
    /// writes nothing and holds no budget.
    pub(crate) async fn wait_for_slot(&self, who: &Principal) -> Result<ActiveLease> {
        let mut waited = 0u32;
        loop {
            match self.registry.lease(&who.user, None).await {
                Err(Error::RateLimited { .. }) => {
                    tokio::time::sleep(slot_backoff(waited)).await;
                    waited = waited.saturating_add(1);
                }
                other => return other,
            }
        }
    }

    /// One model's call for `who`, recorded as `kind` (its worst case held first when
    /// budgets apply), holding `lease` (an active slot) until it ends.
    async fn held_call(
        &self,
        who: &Principal,
        request: CompareRequest,
        kind: ComparisonKind,
        lease: Option<ActiveLease>,
    ) -> Result<ChatCall> {
        let owner = who.user.as_str();
        let calls = self.engine.plan(&request)?;
        check_models(who, &self.engine, &calls)?;
        // A judge's call rides on its row's slots (the caller's and the key's).
        let key_lease = match lease {
            Some(_) => self.key_lease(who).await?,
            None => None,
        };
        let id = uuid::Uuid::now_v7().to_string();
        let model = calls
            .first()
            .map(|c| c.model.to_string())
            .unwrap_or_default();
        let mut pending = None;
        if let Some(store) = &self.store {
            let reservation = self.reservation(who, &calls)?;
            let new = NewComparison {
                id: id.clone(),
                owner: owner.to_string(),
                models: vec![model.clone()],
                metadata: None,
                created_at_ms: now_ms(),
                session_id: None,
                prompt: request
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role == llm_compare_core::Role::User)
                    .map(|m| m.content.text().into_owned()),
                blind: false,
                instance: self.instance.clone(),
                reservation,
                kind,
                attachments: Vec::new(),
                category: None,
                tags: Vec::new(),
            };
            if new.reservation.is_some() {
                // The hold is taken before any upstream call.
                store.create_comparison(&new).await?;
            } else {
                pending = Some(new);
            }
        }
        let comparison = self.engine.compare_calls(
            calls,
            CompareOptions {
                request_id: Some(id.clone()),
                ..CompareOptions::default()
            },
        )?;
        let mut recorder = ChatRecorder {
            persistence: self.persistence.clone(),
            pending,
            id: id.clone(),
            started: std::time::Instant::now(),
            results: Vec::new(),
            done: false,
            lease: Some((lease, key_lease)),
        };
        let events = comparison.inspect(move |e| recorder.see(e));
        Ok(ChatCall {
            id,
            model,
            events: Box::pin(events),
        })
    }

    /// Checks `body`, records it (with its budget hold) when there is a store, registers it
    /// and starts its model calls; its events are then read from the registry.
    pub async fn submit(&self, who: &Principal, body: CreateComparison) -> Result<Submitted> {
        self.submit_with(who, body, None).await
    }

    /// [`Service::submit`] with the embedder's own tools (Python or Node functions) beside
    /// the server's, named in the body's `tools`.
    pub async fn submit_with(
        &self,
        who: &Principal,
        body: CreateComparison,
        embedder: Option<Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Result<Submitted> {
        let owner = who.user.as_str();
        let Prepared {
            labels,
            mut calls,
            agent,
            metadata,
            session_id,
            prompt,
            attachments,
            blind,
        } = {
            // Recorded results replay as tool results: checked as attachments are.
            for (i, r) in body.cassette.iter().flatten().enumerate() {
                r.content.check(
                    &format!("cassette[{i}].content"),
                    self.engine.max_attachment_bytes(),
                )?;
            }
            // The server's tools it names: the key must grant each (before anything runs).
            if embedder.is_none() {
                for (i, t) in body.tools.iter().flatten().enumerate() {
                    if let ToolSpec::Name(name) = t {
                        who.check_tool(name, &format!("tools[{i}]"))?;
                    }
                }
            }
            self.prepare(owner, body, self.tools_with(embedder)).await?
        };
        // Before anything is recorded or called.
        check_models(who, &self.engine, &calls)?;
        let key_lease = self.key_lease(who).await?;
        if blind {
            // Position must not give the models away either.
            fastrand::shuffle(&mut calls);
        }
        let history_trimmed = session_id
            .is_some()
            .then(|| calls.iter().map(|c| c.history_trimmed).collect());
        let models: Vec<String> = calls.iter().map(|c| c.model.to_string()).collect();
        let mut new = NewRequest::new(owner, models.clone()).metadata(metadata.clone());
        new.blind = blind;
        new.instance = self.instance.clone();
        if let Some(store) = &self.store {
            // Within the owner's attachment quota (before anything is written).
            let adding: u64 = attachments
                .iter()
                .filter_map(|p| llm_compare_store::AttachmentRef::of(p).ok().flatten())
                .filter(|(_, data)| data.is_some())
                .filter_map(|(r, _)| r.size)
                .sum();
            let quota = self.limits.attachment_quota_bytes;
            if adding > 0 && quota < u64::MAX {
                let stored = store.attachment_bytes(owner).await?;
                if stored.saturating_add(adding) > quota {
                    return Err(crate::limits::over_quota(quota, stored, adding));
                }
            }
            // An agent comparison may call each model up to `max_steps` times: the hold is the
            // worst case of every step.
            let steps = agent.as_ref().map_or(1, |o| i64::from(o.max_steps));
            let reservation = self.reservation(who, &calls)?.map(|mut r| {
                for p in &mut r.per_model_pico {
                    *p = p.saturating_mul(steps);
                }
                r
            });
            // Recorded (and its worst case held against the budget) before any upstream call.
            store
                .create_comparison(&NewComparison {
                    id: new.id.clone(),
                    owner: owner.to_string(),
                    models: models.clone(),
                    metadata,
                    created_at_ms: now_ms(),
                    session_id,
                    prompt: prompt.clone(),
                    blind,
                    instance: self.instance.clone(),
                    reservation,
                    kind: ComparisonKind::Comparison,
                    attachments,
                    category: labels.0,
                    tags: labels.1,
                })
                .await?;
        }
        let pending_id = new.id.clone();
        if let Some(client) = agent.as_ref().and_then(|o| o.client_tools.as_ref()) {
            // Registered before the first call can make an `action`.
            let mut all = self.client_tools.lock();
            all.retain(|_, w| w.strong_count() > 0);
            all.insert(pending_id.clone(), Arc::downgrade(client));
        }
        let request_id = match self
            .engine
            .submit_calls_holding(
                self.registry.clone(),
                new,
                calls,
                key_lease,
                agent.unwrap_or_default(),
            )
            .await
        {
            Ok(id) => id,
            Err(e) => {
                if let Some(store) = &self.store {
                    // Never ran: release its hold, leave no record.
                    let _ = store.discard_comparison(&pending_id).await;
                }
                return Err(e);
            }
        };
        let models = if blind {
            (0..models.len())
                .map(llm_compare_core::blind_label)
                .collect()
        } else {
            models
        };
        Ok(Submitted {
            request_id,
            models,
            history_trimmed,
            prompt,
        })
    }

    /// Checks the body and plans one call per model (a session's next turn with
    /// `session_id`).
    async fn prepare(
        &self,
        owner: &str,
        body: CreateComparison,
        tools: Option<Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Result<Prepared> {
        let blind = body.blind == Some(true);
        if (blind || body.session_id.is_some()) && self.store.is_none() {
            let field = if blind { "blind" } else { "session_id" };
            return Err(Error::NotConfigured(format!(
                "`{field}`: sessions and blind comparisons need a store (a database), and none is configured"
            )));
        }
        let agent = body.agent(tools.as_ref())?;
        let labels = body.labels()?;
        let Some(session_id) = body.session_id.clone() else {
            let (request, metadata) = body.into_request()?;
            let last = request.messages.last();
            return Ok(Prepared {
                labels,
                calls: self.engine.plan(&request)?,
                agent,
                metadata,
                session_id: None,
                prompt: last.map(|m| m.content.text().into_owned()),
                attachments: last
                    .map(|m| m.content.media().map(|(_, p)| p.clone()).collect())
                    .unwrap_or_default(),
                blind,
            });
        };
        if body.messages.is_some() {
            return Err(Error::invalid(
                "messages",
                "a session turn takes a prompt; the session holds the history",
            ));
        }
        if body.system.is_some() {
            return Err(Error::invalid(
                "system",
                "a session's system prompt is set when the session is created",
            ));
        }
        let Some(prompt) = body.prompt.clone() else {
            return Err(Error::invalid(
                "prompt",
                "prompt is required to continue a session",
            ));
        };
        let params = body.params.clone().unwrap_or_default();
        params.validate()?;
        check_metadata(body.metadata.as_ref())?;
        if let Some(f) = &body.response_format {
            f.check("response_format")?;
        }
        let attachments = body.attachments.clone().unwrap_or_default();
        llm_compare_core::Content::Parts(attachments.clone())
            .check("attachments", self.engine.max_attachment_bytes())?;
        let user = with_attachments(prompt.clone(), Some(attachments.clone()));
        // Refused now, while all of the owner's slots are taken, rather than after the
        // session's history — every earlier attachment's bytes — is read into memory.
        drop(self.registry.lease(owner, None).await?);
        let mut calls = self
            .next_turn(owner, &session_id, &user, &body.models, &params)
            .await?;
        for c in &mut calls {
            c.tools = body.definitions();
            c.tool_choice = body.tool_choice.clone();
            c.response_format = body.response_format.clone();
            if c.tools.is_empty() && agent.is_none() {
                // Earlier tool exchanges as text: no tools this turn.
                c.messages = llm_compare_core::session::flatten_tool_history(std::mem::take(
                    &mut c.messages,
                ));
            }
        }
        Ok(Prepared {
            labels,
            calls,
            agent,
            metadata: body.metadata,
            session_id: Some(session_id),
            prompt: Some(prompt),
            attachments,
            blind,
        })
    }

    /// The calls of the next turn of `session_id` for `prompt`: every model with its own
    /// history (trimmed oldest-first to its context window). `models`, when given, must be
    /// the session's.
    async fn next_turn(
        &self,
        owner: &str,
        session_id: &str,
        prompt: &llm_compare_core::Content,
        models: &[String],
        params: &Params,
    ) -> Result<Vec<ChatRequest>> {
        let store = self.store_for("sessions need")?;
        let Some(s) = store.session(owner, session_id).await? else {
            return Err(Error::invalid(
                "session_id",
                format!("no session `{session_id}` (unknown or not yours)"),
            ));
        };
        if s.turns.iter().any(|t| !t.status.is_terminal()) {
            return Err(Error::Conflict(
                "the session's previous turn is still running: wait for its `complete`, or cancel it"
                    .into(),
            ));
        }
        if !models.is_empty() && models != s.summary.models.as_slice() {
            return Err(Error::invalid(
                "models",
                format!(
                    "a session's models are fixed: omit models or give {:?}",
                    s.summary.models
                ),
            ));
        }
        // The stored turns are the history (their attachments read once each, shared by
        // every turn and model that sends them); the new turn is recorded as a comparison.
        let mut blobs: HashMap<String, Arc<str>> = HashMap::new();
        for r in s.turns.iter().flat_map(|t| &t.attachments) {
            if let Some(h) = &r.sha256
                && !blobs.contains_key(h)
            {
                let Some(a) = store.attachment(h).await? else {
                    return Err(Error::Internal(format!(
                        "session `{session_id}`: attachment {h} is missing from the store"
                    )));
                };
                blobs.insert(h.clone(), a.data);
            }
        }
        let session = InMemorySession::restore(
            s.summary.id.clone(),
            s.summary
                .models
                .iter()
                .map(|m| ModelId::parse(m))
                .collect::<Result<_>>()?,
            s.summary.system.clone(),
            s.turns.iter().filter_map(|t| turn_of(t, &blobs)).collect(),
        );
        session
            .calls_for(prompt, params, self.engine.prices())
            .await
    }

    /// Whether readers of comparison `id` (its registry entry `info`) must see "Model A", …
    /// instead of model ids: it is blind and has no vote yet.
    async fn hides_models(&self, owner: &str, info: &RequestInfo) -> Result<bool> {
        if !info.blind {
            return Ok(false);
        }
        Ok(match &self.store {
            Some(store) => store
                .comparison(owner, &info.id)
                .await?
                .is_none_or(|c| c.preference.is_none()),
            None => true,
        })
    }

    /// `owner`'s request `id`'s events after `after_seq` (replayed, then live, to
    /// `complete`), with model names hidden while it is blind and not voted on.
    pub async fn subscribe(&self, owner: &str, id: &str, after_seq: u64) -> Result<EventStream> {
        Ok(self
            .resume(owner, id, after_seq)
            .await?
            .unwrap_or_else(|| Box::pin(futures::stream::empty())))
    }

    /// Like [`Service::subscribe`], but `None` when nothing is left to send: the comparison
    /// is finished and `after_seq` is at or past its last event (SSE answers that with
    /// `204 No Content`, which stops an `EventSource` reconnecting).
    pub async fn resume(
        &self,
        owner: &str,
        id: &str,
        after_seq: u64,
    ) -> Result<Option<EventStream>> {
        let info = self.registry.status(owner, id).await?;
        if info.status.is_terminal() && after_seq >= info.last_seq {
            return Ok(None);
        }
        let events = self.registry.subscribe(owner, id, after_seq).await?;
        if !self.hides_models(owner, &info).await? {
            return Ok(Some(events));
        }
        Ok(Some(Box::pin(events.map(Event::blinded))))
    }

    /// Comparison `id` now: status, each model's text so far and results — from the
    /// registry while it holds it, else from the store.
    pub async fn snapshot(&self, owner: &str, id: &str) -> Result<Snapshot> {
        let info = match self.registry.status(owner, id).await {
            Ok(info) => info,
            Err(e) => {
                // Gone from memory (expired, or the server restarted): the store still has it.
                if let Some(store) = &self.store
                    && let Some(c) = store.comparison(owner, id).await?
                {
                    return Ok(stored_snapshot(c));
                }
                return Err(e);
            }
        };
        let stored = match &self.store {
            Some(store) => store.comparison(owner, id).await?,
            None => None,
        };
        let hide = info.blind && stored.as_ref().is_none_or(|c| c.preference.is_none());
        let (preference, prompt, session_id, attachments, category, tags) = match stored {
            Some(c) => (
                c.preference.map(Into::into),
                c.prompt,
                c.session_id,
                c.attachments,
                c.category,
                c.tags,
            ),
            None => (None, None, None, Vec::new(), None, Vec::new()),
        };
        let events = self.registry.events(owner, id, 0).await?;
        let Folded {
            models,
            totals,
            duration_ms,
        } = fold(&info.models, events);
        let mut snap = Snapshot {
            request_id: info.id,
            status: info.status,
            created_at_ms: info.created_at_ms,
            last_seq: info.last_seq,
            models,
            totals,
            duration_ms,
            metadata: info.metadata,
            preference,
            prompt,
            session_id,
            blind: info.blind,
            attachments,
            category,
            tags,
        };
        if hide {
            snap.blind();
        }
        Ok(snap)
    }

    /// The tool calls of `owner`'s agent comparison `id` with their results, one per (tool,
    /// arguments): a cassette a later comparison replays (`cassette`). Read from its events,
    /// while the server still has them (the retention window).
    pub async fn cassette(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Vec<llm_compare_core::tools::Recording>> {
        use llm_compare_core::tools::{Recording, canonical};
        let events = self.registry.events(owner, id, 0).await?;
        let mut calls: HashMap<(usize, String), (String, serde_json::Value)> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in events {
            match e.kind {
                EventKind::ToolCall {
                    model_index,
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    let args = serde_json::from_str(&arguments).unwrap_or(serde_json::Value::Null);
                    calls.insert((model_index, id), (name, args));
                }
                EventKind::ToolResult {
                    model_index,
                    call_id,
                    content,
                    is_error,
                    ..
                } => {
                    if let Some((tool, arguments)) = calls.remove(&(model_index, call_id))
                        && seen.insert((tool.clone(), canonical(&arguments)))
                    {
                        out.push(Recording {
                            tool,
                            arguments,
                            content,
                            is_error,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The bytes and media type of attachment `index` of `owner`'s stored comparison `id`.
    pub async fn attachment(
        &self,
        owner: &str,
        id: &str,
        index: usize,
    ) -> Result<(String, Vec<u8>)> {
        use base64::Engine as _;
        let store = self.store_for("attachments are kept in")?;
        let Some(c) = store.comparison(owner, id).await? else {
            return Err(crate::not_yours("comparison", id));
        };
        let Some(r) = c.attachments.get(index) else {
            return Err(Error::NotFound(format!(
                "comparison `{id}` has {} attachment(s); no attachment {index}",
                c.attachments.len()
            )));
        };
        let (Some(sha), None) = (&r.sha256, &r.url) else {
            return Err(Error::NotFound(format!(
                "attachment {index} of `{id}` was given as a URL ({}); its bytes are not stored",
                r.url.as_deref().unwrap_or_default()
            )));
        };
        let Some(a) = store.attachment(sha).await? else {
            return Err(Error::Internal(format!(
                "comparison `{id}`: attachment {sha} is missing from the store"
            )));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.data.trim_end())
            .map_err(|e| Error::Internal(format!("attachment {sha} does not decode: {e}")))?;
        Ok((a.media_type, bytes))
    }

    /// Cancels `owner`'s comparison `id`; its status right after (`cancelled` once the
    /// models stopped; a finished comparison keeps its status).
    pub async fn cancel(&self, owner: &str, id: &str) -> Result<RequestStatus> {
        self.registry.cancel(owner, id).await?;
        // Cancellation is immediate upstream; give the driver a moment to record it.
        let mut status = self.registry.status(owner, id).await?.status;
        for _ in 0..50 {
            if status.is_terminal() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            status = self.registry.status(owner, id).await?.status;
        }
        Ok(status)
    }

    /// Hands the client's `results` to the calls of client-side tools of `owner`'s comparison
    /// `id` waiting for them — all of them, or none when one names a call that is not waiting
    /// (answered already, given up at its timeout, never made): [`Error::Conflict`] naming it.
    pub async fn tool_results(
        &self,
        owner: &str,
        id: &str,
        results: Vec<ClientResult>,
    ) -> Result<usize> {
        if results.is_empty() {
            return Err(Error::invalid("results", "at least one result"));
        }
        // Not found, or another owner's: the registry says so.
        let status = self.registry.status(owner, id).await?.status;
        let client = self.client_tools.lock().get(id).and_then(|w| w.upgrade());
        let Some(client) = client else {
            return Err(Error::Conflict(if status.is_terminal() {
                format!("the comparison `{id}` has finished: no tool call waits for a result")
            } else {
                format!(
                    "the comparison `{id}` has no client-side tools running on this server (`client_tools`)"
                )
            }));
        };
        // The same checks as a request's own attachments (type, signature, size).
        for (i, r) in results.iter().enumerate() {
            r.content.check(
                &format!("results[{i}].content"),
                self.engine.max_attachment_bytes(),
            )?;
        }
        client.deliver(results.clone()).map_err(|i| {
            let r = &results[i];
            Error::Conflict(format!(
                "results[{i}]: no call waits for this result (model_index {}, call_id `{}`): answered already, given up at its timeout, or never made",
                r.model_index, r.call_id
            ))
        })
    }

    /// Records `owner`'s vote on finished comparison `id`.
    pub async fn vote(&self, owner: &str, id: &str, vote: &VoteBody) -> Result<()> {
        let store = self.store_for("votes need")?;
        store
            .vote(
                owner,
                id,
                &Vote {
                    winner: vote.winner.clone(),
                    feedback: vote.feedback.clone(),
                },
            )
            .await
    }

    /// Every owner's votes as a ranking, for votes cast in `[from_ms, to_ms)`.
    pub async fn leaderboard(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Leaderboard> {
        self.leaderboard_of(
            from_ms,
            to_ms,
            crate::leaderboard::Source::Human,
            false,
            None,
        )
        .await
    }

    /// The leaderboard of `source`'s votes (people's, judges', or both) cast in
    /// `[from_ms, to_ms)` on comparisons of `category` (any without), with the judge–human
    /// agreement; with `style_control`, ratings with the effect of answer length and
    /// markdown removed.
    pub async fn leaderboard_of(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        source: crate::leaderboard::Source,
        style_control: bool,
        category: Option<String>,
    ) -> Result<Leaderboard> {
        let store = self.store_for("the leaderboard needs")?;
        self.votes
            .board(&**store, from_ms, to_ms, source, style_control, category)
            .await
    }

    /// [`Service::leaderboard_of`], asking `may_compute` before a filtered board is
    /// computed (a kept one is served without asking): the HTTP layer's rate per user.
    pub async fn leaderboard_guarded(
        &self,
        filter: (
            Option<i64>,
            Option<i64>,
            crate::leaderboard::Source,
            bool,
            Option<String>,
        ),
        may_compute: impl FnOnce() -> Result<()>,
    ) -> Result<Leaderboard> {
        let store = self.store_for("the leaderboard needs")?;
        self.votes
            .board_guarded(&**store, filter, may_compute)
            .await
    }

    /// `owner`'s usage report: calls, tokens and cost per model or per day (chat completions
    /// included), and their budget for the current period when budgets apply.
    /// The usage report `who` asks for: its own (with the budget its requests are held
    /// against — its key's own, else its user's), or with `user` another user's, which needs
    /// an admin key ([`Error::Forbidden`]).
    pub async fn usage_as(&self, who: &Principal, q: &UsageQuery) -> Result<UsageReport> {
        match q.user.as_deref().filter(|u| *u != who.user) {
            Some(other) if who.is_admin() => self.usage(other, q).await,
            Some(_) => Err(Error::Forbidden(
                "another user's usage needs an admin key".into(),
            )),
            None => {
                let mut report = self.usage(&who.user, q).await?;
                report.budget = self.budget_of(who).await?;
                Ok(report)
            }
        }
    }

    /// `owner`'s usage report (`user` in `q` is not consulted: see [`Service::usage_as`]).
    pub async fn usage(&self, owner: &str, q: &UsageQuery) -> Result<UsageReport> {
        let store = self.store_for("usage needs")?;
        let (from_ms, to_ms) = crate::usage::range(q, self.budget.as_ref().map(|b| b.period))?;
        let group_by = q.group_by.unwrap_or_default();
        let ledger = store.usage(owner, from_ms, to_ms).await?;
        let (rows, total) = crate::usage::group(&ledger, group_by);
        let budget = match self
            .budget
            .as_ref()
            .and_then(|b| b.limit_pico(owner).map(|l| (b, l)))
        {
            Some((b, limit)) => {
                let start = crate::budget::unix_ms(b.period.start(time::OffsetDateTime::now_utc()));
                let st = store.budget(owner, start).await?;
                Some(crate::usage::budget_view(b.period, start, limit, st))
            }
            None => None,
        };
        Ok(UsageReport {
            from_ms,
            to_ms,
            group_by,
            rows,
            total,
            budget,
        })
    }

    /// `owner`'s comparisons outside sessions, newest first, at most `limit`, older than
    /// comparison id `before`.
    pub async fn comparisons(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<ComparisonSummary>> {
        self.store_for("listing comparisons needs")?
            .comparisons(owner, limit, before)
            .await
    }

    /// Starts a session for `owner`: its models (resolved, aliases applied) and system
    /// prompt are fixed for every turn.
    pub async fn create_session(
        &self,
        who: &Principal,
        body: CreateSession,
    ) -> Result<SessionSummary> {
        let owner = who.user.as_str();
        let store = self.store_for("sessions need")?;
        if body.models.is_empty() {
            return Err(Error::invalid("models", "at least one model is required"));
        }
        if body.models.len() > self.engine.max_models() {
            return Err(Error::invalid(
                "models",
                format!("at most {} models per session", self.engine.max_models()),
            ));
        }
        if body.title.as_ref().is_some_and(|t| t.chars().count() > 200) {
            return Err(Error::invalid(
                "title",
                "the title is limited to 200 characters",
            ));
        }
        let models = body
            .models
            .iter()
            .map(|m| {
                self.engine
                    .providers()
                    .resolve(self.engine.policies().resolve_alias(m))
                    .map(|(id, _)| id.to_string())
            })
            .collect::<Result<Vec<_>>>()?;
        for m in &models {
            who.check_model(m)?;
        }
        let s = NewSession {
            id: uuid::Uuid::now_v7().to_string(),
            owner: owner.to_string(),
            title: body.title,
            models,
            system: body.system.filter(|s| !s.is_empty()),
            created_at_ms: now_ms(),
        };
        store.create_session(&s).await?;
        Ok(SessionSummary {
            id: s.id,
            title: s.title,
            models: s.models,
            system: s.system,
            created_at_ms: s.created_at_ms,
            turns: 0,
        })
    }

    /// `owner`'s sessions, newest first, at most `limit`, older than session id `before`.
    pub async fn sessions(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<SessionSummary>> {
        self.store_for("sessions need")?
            .sessions(owner, limit, before)
            .await
    }

    /// `owner`'s session `id` with every turn.
    pub async fn session(&self, owner: &str, id: &str) -> Result<SessionDetail> {
        let store = self.store_for("sessions need")?;
        let Some(s) = store.session(owner, id).await? else {
            return Err(crate::not_yours("session", id));
        };
        Ok(SessionDetail {
            session: s.summary,
            turns: s.turns.into_iter().map(stored_snapshot).collect(),
        })
    }

    /// Deletes `owner`'s session `id` and its turns (running turns are cancelled first);
    /// its votes leave the leaderboard.
    pub async fn delete_session(&self, owner: &str, id: &str) -> Result<()> {
        let store = self.store_for("sessions need")?;
        if let Some(s) = store.session(owner, id).await? {
            for t in s.turns.iter().filter(|t| !t.status.is_terminal()) {
                // Gone from the registry already is fine: nothing left to stop.
                let _ = self.registry.cancel(owner, &t.id).await;
            }
        }
        if !store.delete_session(owner, id).await? {
            return Err(crate::not_yours("session", id));
        }
        self.votes.invalidate().await;
        Ok(())
    }
}

/// [`Error::ModelNotAllowed`] for the first planned call `who`'s key may not make.
/// How long the `attempt`th wait for an active slot lasts: 20 ms doubling to 500 ms.
pub(crate) fn slot_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(20u64.saturating_mul(1 << attempt.min(5)).min(500))
}

/// Whether `who`'s key allows every model of `calls` and every fallback the configuration
/// gives them: a fallback outside the allow-list would call a model the key may not use.
fn check_models(
    who: &Principal,
    engine: &Engine,
    calls: &[llm_compare_core::ChatRequest],
) -> Result<()> {
    calls.iter().try_for_each(|c| {
        let model = c.model.to_string();
        who.check_model(&model)?;
        engine
            .policies()
            .policy(&model)
            .fallbacks
            .iter()
            .try_for_each(|f| {
                who.check_model(f).map_err(|_| Error::ModelNotAllowed {
                    model: format!("{f}` (the configured fallback of `{model}"),
                    allowed: who.allowed_patterns(),
                })
            })
    })
}
