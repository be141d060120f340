//! Tools executed in a model's loop (agent comparisons): the [`ToolExecutor`] seam every
//! source of tools implements, [`Toolbox`] — the embedder's Rust functions, each with a JSON
//! Schema — and [`execute`], which runs one call under the limits every source shares.
//!
//! What a model gets wrong is its own problem, not the comparison's: arguments that are not
//! JSON or do not match the tool's schema, an unknown tool, a tool that fails, panics or runs
//! past its timeout — each becomes an error result the model sees ([`ToolOutput::error`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::call::ToolResult;
use crate::content::Content;
use crate::event::ToolCall;
use crate::request::Tool;

/// Default time a tool may run.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest tool result, in bytes of text (longer results are cut, with a marker).
pub const DEFAULT_MAX_RESULT_BYTES: usize = 64 * 1024;
/// Default most steps of a model's loop.
pub const DEFAULT_MAX_STEPS: u32 = 8;

/// What a tool returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The result (text, or text with images).
    pub content: Content,
    /// Whether it is an error the model should see as one.
    pub is_error: bool,
    /// Taken from a cassette (another model's identical call, or a supplied recording), not
    /// executed for this call.
    pub replayed: bool,
}

impl ToolOutput {
    /// A result.
    pub fn ok(content: impl Into<Content>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
            replayed: false,
        }
    }

    /// An error result.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: Content::Text(message.into()),
            is_error: true,
            replayed: false,
        }
    }
}

/// Runs tools by name: the one seam behind the embedder's functions, configured HTTP and MCP
/// tools and client-side tools.
#[async_trait]
pub trait ToolExecutor: Send + Sync + fmt::Debug {
    /// The tools, as the models are offered them.
    fn tools(&self) -> Vec<Tool>;

    /// Runs tool `name` with `arguments` (a JSON object, checked against its schema).
    async fn call(&self, name: &str, arguments: Value) -> ToolOutput;

    /// Whether these tools can run in another process with the same configuration (a remote
    /// runner's worker): the configuration's HTTP and MCP tools can; the embedder's
    /// functions, client-side tools and a shared cassette cannot.
    fn portable(&self) -> bool {
        false
    }
}

/// How calls are run: per-call timeout and result size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToolLimits {
    /// Time one call may run.
    pub timeout: Duration,
    /// Largest result text, in bytes.
    pub max_result_bytes: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TOOL_TIMEOUT,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

/// A Rust function as a tool.
type ToolFn = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Content, String>> + Send + Sync>;

/// The embedder's functions as tools: each an async closure with a JSON Schema for its
/// arguments.
#[derive(Clone, Default)]
pub struct Toolbox {
    tools: Vec<Tool>,
    functions: HashMap<String, ToolFn>,
}

impl fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toolbox")
            .field("tools", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Toolbox {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds tool `name`: `f` gets the arguments (valid against `parameters`, a JSON Schema of
    /// an object) and returns the result, or an error message the model sees.
    pub fn function<F, Fut, C>(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        f: F,
    ) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<C, String>> + Send + 'static,
        C: Into<Content>,
    {
        let name = name.into();
        self.tools
            .push(Tool::function(name.clone(), description, parameters));
        let f = Arc::new(f);
        self.functions.insert(
            name,
            Arc::new(move |args| {
                let f = f.clone();
                Box::pin(async move { f(args).await.map(Into::into) })
            }),
        );
        self
    }
}

#[async_trait]
impl ToolExecutor for Toolbox {
    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        match self.functions.get(name) {
            Some(f) => match f(arguments).await {
                Ok(content) => ToolOutput::ok(content),
                Err(message) => ToolOutput::error(message),
            },
            None => ToolOutput::error(format!("no tool `{name}`")),
        }
    }
}

/// Runs `call` on `tools` under `limits`: arguments checked (JSON, an object, valid against
/// the tool's schema), the call run on its own task (a panic is an error result, not a crashed
/// comparison) and abandoned at the timeout, its text cut to the size limit.
pub async fn execute(
    tools: Arc<dyn ToolExecutor>,
    call: &ToolCall,
    limits: ToolLimits,
) -> ToolResult {
    // Tokio's clock: the one the timeout runs on (and tests pause).
    let started = tokio::time::Instant::now();
    let span = crate::trace::tool_call(&call.name, &call.id);
    let output = run_checked(tools, call, limits)
        .instrument(span.clone())
        .await;
    if output.is_error {
        crate::trace::record_error(&span, "tool_error");
    }
    ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: cap(output.content, limits.max_result_bytes),
        is_error: output.is_error,
        duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        replayed: output.replayed,
    }
}

async fn run_checked(
    tools: Arc<dyn ToolExecutor>,
    call: &ToolCall,
    limits: ToolLimits,
) -> ToolOutput {
    let arguments = match arguments(tools.as_ref(), call) {
        Ok(v) => v,
        Err(out) => return out,
    };
    let name = call.name.clone();
    // Its own task: a panic is caught there, and dropping the handle at the timeout (or
    // when the comparison is cancelled) aborts the tool's work.
    let task = tokio::spawn(async move { tools.call(&name, arguments).await }.in_current_span());
    let abort = task.abort_handle();
    let _abort_on_drop = AbortOnDrop(abort);
    match tokio::time::timeout(limits.timeout, task).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.is_panic() => {
            ToolOutput::error(format!("the tool `{}` failed (it panicked)", call.name))
        }
        Ok(Err(_)) => ToolOutput::error(format!("the tool `{}` was cancelled", call.name)),
        Err(_) => ToolOutput::error(format!(
            "the tool `{}` did not answer within {} s",
            call.name,
            limits.timeout.as_secs_f64()
        )),
    }
}

/// Whether `v` is a JSON Schema of the kind tools take: an object, valid as a schema.
pub fn is_schema(v: &Value) -> bool {
    v.is_object() && jsonschema::validator_for(v).is_ok()
}

/// `call`'s arguments, checked: a tool of `tools`, JSON, an object, valid against the
/// tool's schema — or the error result the model gets.
pub(crate) fn arguments(
    tools: &dyn ToolExecutor,
    call: &ToolCall,
) -> std::result::Result<Value, ToolOutput> {
    let offered = tools.tools();
    let Some(tool) = offered.iter().find(|t| t.function.name == call.name) else {
        let names: Vec<&str> = offered.iter().map(|t| t.function.name.as_str()).collect();
        return Err(ToolOutput::error(format!(
            "no tool `{}`; the tools are: {}",
            call.name,
            names.join(", ")
        )));
    };
    let raw = if call.arguments.trim().is_empty() {
        "{}"
    } else {
        &call.arguments
    };
    let arguments: Value = match serde_json::from_str(raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(ToolOutput::error("the arguments must be a JSON object")),
        Err(e) => {
            return Err(ToolOutput::error(format!(
                "the arguments are not JSON: {e}"
            )));
        }
    };
    if let Some(schema) = &tool.function.parameters
        && let Ok(validator) = jsonschema::validator_for(schema)
    {
        let errors: Vec<String> = validator
            .iter_errors(&arguments)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            return Err(ToolOutput::error(format!(
                "the arguments do not match the tool's schema: {}",
                errors.join("; ")
            )));
        }
    }
    Ok(arguments)
}

/// Aborts a tool's task when its call is given up (timeout, cancel).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `content` with its text cut to `max` bytes (at a character boundary), marked.
fn cap(content: Content, max: usize) -> Content {
    match content {
        Content::Text(s) => Content::Text(cap_text(s, max)),
        // Parts share the budget: text parts are cut to what is left of it (media parts are
        // bounded by `Content::check`).
        Content::Parts(parts) => {
            let mut left = max;
            Content::Parts(
                parts
                    .into_iter()
                    .map(|p| match p {
                        crate::content::Part::Text { text } => {
                            let text = cap_text(text, left);
                            left = left.saturating_sub(text.len());
                            crate::content::Part::Text { text }
                        }
                        other => other,
                    })
                    .collect(),
            )
        }
    }
}

/// `s` cut to `max` bytes (at a character boundary), saying so.
fn cap_text(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let total = s.len();
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    s.push_str(&format!("\n[… truncated: {total} bytes, {max} kept]"));
    s
}

/// A tool the server's configuration defines (`[tools.<name>]`): the call's arguments are
/// POSTed as JSON to `url`; the answer's body is the result (a 2xx), or an error result.
#[derive(Clone)]
pub struct HttpTool {
    /// Its definition as the models see it.
    pub tool: Tool,
    /// Where the arguments go.
    pub url: String,
    /// Headers sent with each call (values resolved from the environment at start-up).
    pub headers: Vec<(String, String)>,
    /// Time one call may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpTool {
    // Headers may carry credentials: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTool")
            .field("tool", &self.tool.function.name)
            .field("url", &self.url)
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The configured HTTP tools, by name.
#[derive(Debug, Clone)]
pub struct HttpTools {
    tools: Vec<HttpTool>,
    client: reqwest::Client,
}

impl HttpTools {
    /// `tools`, called with one shared HTTP client.
    pub fn new(tools: Vec<HttpTool>) -> Self {
        Self {
            tools,
            client: reqwest::Client::new(),
        }
    }
}

#[async_trait]
impl ToolExecutor for HttpTools {
    fn portable(&self) -> bool {
        true
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.iter().map(|t| t.tool.clone()).collect()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let Some(t) = self.tools.iter().find(|t| t.tool.function.name == name) else {
            return ToolOutput::error(format!("no tool `{name}`"));
        };
        let mut req = self.client.post(&t.url).timeout(t.timeout).json(&arguments);
        for (k, v) in &t.headers {
            req = req.header(k, v);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return ToolOutput::error(format!("the tool `{name}` could not be reached: {e}"));
            }
        };
        let status = resp.status();
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => {
                return ToolOutput::error(format!("the tool `{name}`'s answer broke off: {e}"));
            }
        };
        // A JSON string is its text; any other body is passed on as it is.
        let text = match serde_json::from_str::<Value>(&body) {
            Ok(Value::String(s)) => s,
            _ => body,
        };
        if status.is_success() {
            ToolOutput::ok(text)
        } else {
            ToolOutput::error(format!(
                "the tool `{name}` answered HTTP {}: {text}",
                status.as_u16()
            ))
        }
    }
}

/// Client-side tools: the client carries out each call — it gets an `action` event and sends
/// the result back ([`ClientTools::deliver`], `POST /v1/comparisons/{id}/tool_results`);
/// a result that does not come within the tool timeout is an error result the model sees.
#[derive(Debug, Default)]
pub struct ClientTools {
    tools: Vec<Tool>,
    /// The calls waiting for their result, by (model_index, call id).
    waiting: parking_lot::Mutex<HashMap<(usize, String), tokio::sync::oneshot::Sender<ToolOutput>>>,
}

/// A client's result of one call of a client-side tool.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientResult {
    /// The model that made the call (the `action` event's `model_index`).
    pub model_index: usize,
    /// The call (the `action` event's `call_id`).
    pub call_id: String,
    /// The result: text, or parts (text and images).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: Content,
    /// Whether it is an error the model should see as one.
    #[serde(default)]
    pub is_error: bool,
}

impl ClientTools {
    /// `tools`, carried out by the client.
    pub fn new(tools: Vec<Tool>) -> Self {
        Self {
            tools,
            waiting: parking_lot::Mutex::default(),
        }
    }

    /// Whether `name` is one of them.
    pub fn has(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t.function.name == name)
    }

    /// Waits for the result of `model_index`'s call `call_id` (registered before its
    /// `action` event goes out, so a quick client finds it).
    pub(crate) fn expect(
        &self,
        model_index: usize,
        call_id: &str,
    ) -> tokio::sync::oneshot::Receiver<ToolOutput> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut waiting = self.waiting.lock();
        // Calls given up (timeout, cancel) leave closed senders: dropped here.
        waiting.retain(|_, s| !s.is_closed());
        waiting.insert((model_index, call_id.to_string()), tx);
        rx
    }

    /// Stops waiting for `model_index`'s call `call_id` (it ended: answered or given up).
    pub(crate) fn forget(&self, model_index: usize, call_id: &str) {
        self.waiting
            .lock()
            .remove(&(model_index, call_id.to_string()));
    }

    /// Hands `results` to the calls waiting for them: all of them, or — when one names a call
    /// that is not waiting (unknown, answered already, given up) — none, with its index.
    pub fn deliver(&self, results: Vec<ClientResult>) -> std::result::Result<usize, usize> {
        let mut waiting = self.waiting.lock();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in results.iter().enumerate() {
            let key = (r.model_index, r.call_id.clone());
            let open = waiting.get(&key).is_some_and(|s| !s.is_closed());
            if !open || !seen.insert(key) {
                return Err(i);
            }
        }
        let n = results.len();
        for r in results {
            if let Some(tx) = waiting.remove(&(r.model_index, r.call_id)) {
                // A call given up between the check and here just drops its result.
                let _ = tx.send(ToolOutput {
                    content: r.content,
                    is_error: r.is_error,
                    replayed: false,
                });
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl ToolExecutor for ClientTools {
    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, _arguments: Value) -> ToolOutput {
        // The loop routes these calls to the client; reaching here means none could.
        ToolOutput::error(format!("the tool `{name}` is carried out by the client"))
    }
}

/// One client-side call as an executor: its result is what the client sends.
#[derive(Debug)]
pub(crate) struct Awaiting {
    tool: Tool,
    result: parking_lot::Mutex<Option<tokio::sync::oneshot::Receiver<ToolOutput>>>,
}

impl Awaiting {
    pub(crate) fn new(tool: Tool, result: tokio::sync::oneshot::Receiver<ToolOutput>) -> Self {
        Self {
            tool,
            result: parking_lot::Mutex::new(Some(result)),
        }
    }
}

#[async_trait]
impl ToolExecutor for Awaiting {
    fn tools(&self) -> Vec<Tool> {
        vec![self.tool.clone()]
    }

    async fn call(&self, name: &str, _arguments: Value) -> ToolOutput {
        let rx = self.result.lock().take();
        match rx {
            Some(rx) => rx.await.unwrap_or_else(|_| {
                ToolOutput::error(format!("the client's result of `{name}` was lost"))
            }),
            None => ToolOutput::error(format!("the tool `{name}` was called twice")),
        }
    }
}

/// `first`'s tools and `second`'s (a name both have is `first`'s).
pub fn combine(
    first: Arc<dyn ToolExecutor>,
    second: Arc<dyn ToolExecutor>,
) -> Arc<dyn ToolExecutor> {
    Arc::new(Combined { first, second })
}

/// Two executors as one.
#[derive(Debug)]
struct Combined {
    first: Arc<dyn ToolExecutor>,
    second: Arc<dyn ToolExecutor>,
}

#[async_trait]
impl ToolExecutor for Combined {
    fn portable(&self) -> bool {
        self.first.portable() && self.second.portable()
    }

    fn tools(&self) -> Vec<Tool> {
        let mut all = self.first.tools();
        all.extend(
            self.second
                .tools()
                .into_iter()
                .filter(|t| !all.iter().any(|a| a.function.name == t.function.name))
                .collect::<Vec<_>>(),
        );
        all
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        if self.first.tools().iter().any(|t| t.function.name == name) {
            self.first.call(name, arguments).await
        } else {
            self.second.call(name, arguments).await
        }
    }
}

/// The tools of `from` named in `names` (in that order), or the first name it does not have.
pub fn only(
    from: &Arc<dyn ToolExecutor>,
    names: &[String],
) -> Result<Arc<dyn ToolExecutor>, String> {
    let all = from.tools();
    let mut picked = Vec::with_capacity(names.len());
    for n in names {
        match all.iter().find(|t| &t.function.name == n) {
            Some(t) => picked.push(t.clone()),
            None => return Err(n.clone()),
        }
    }
    Ok(Arc::new(Subset {
        inner: from.clone(),
        tools: picked,
    }))
}

/// Some of an executor's tools.
#[derive(Debug)]
struct Subset {
    inner: Arc<dyn ToolExecutor>,
    tools: Vec<Tool>,
}

#[async_trait]
impl ToolExecutor for Subset {
    fn portable(&self) -> bool {
        self.inner.portable()
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        if self.tools.iter().any(|t| t.function.name == name) {
            self.inner.call(name, arguments).await
        } else {
            ToolOutput::error(format!("no tool `{name}`"))
        }
    }
}

/// How an agent comparison's tools run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolMode {
    /// Every call executed.
    #[default]
    Independent,
    /// Each (tool, arguments) executed once, replayed to the other models ([`Cassette`]).
    Shared,
}

/// Most steps a loop may be given.
pub const MAX_STEPS_LIMIT: u32 = 64;

/// The comparison options of a tool loop over `tools`: `max_steps` (1–64, default 8), and
/// `mode` (shared: a recording [`Cassette`]) — or, given `cassette`, its recordings replayed
/// and nothing executed.
pub fn loop_options(
    tools: Arc<dyn ToolExecutor>,
    max_steps: Option<u32>,
    mode: ToolMode,
    cassette: Option<Vec<Recording>>,
) -> crate::error::Result<crate::comparison::CompareOptions> {
    let max_steps = max_steps.unwrap_or(DEFAULT_MAX_STEPS);
    if !(1..=MAX_STEPS_LIMIT).contains(&max_steps) {
        return Err(crate::error::Error::invalid(
            "max_steps",
            format!("max_steps must be between 1 and {MAX_STEPS_LIMIT}"),
        ));
    }
    let tools: Arc<dyn ToolExecutor> = match (cassette, mode) {
        (Some(recordings), _) => Arc::new(Cassette::replay(tools.tools(), recordings)),
        (None, ToolMode::Shared) => Arc::new(Cassette::record(tools)),
        (None, ToolMode::Independent) => tools,
    };
    Ok(crate::comparison::CompareOptions {
        tools: Some(tools),
        max_steps,
        ..crate::comparison::CompareOptions::default()
    })
}

/// One recorded tool call: what a cassette replays.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recording {
    /// The tool.
    pub tool: String,
    /// Its arguments.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub arguments: Value,
    /// What it returned.
    pub content: Content,
    /// Whether that was an error.
    #[serde(default)]
    pub is_error: bool,
}

type Pending = futures::future::Shared<BoxFuture<'static, ToolOutput>>;

/// Fairness for agent comparisons (`tool_mode: "shared"`): the first execution of a given
/// tool with given arguments (compared canonically: key order does not matter) is recorded,
/// and every other model asking the same gets that result, marked `replayed` — so models are
/// compared on the same world, with one real execution. Calls asked at once wait for the one
/// execution. Built over recordings alone ([`Cassette::replay`]), nothing is executed: a call
/// the recordings lack is an error result.
pub struct Cassette {
    inner: Option<Arc<dyn ToolExecutor>>,
    tools: Vec<Tool>,
    entries: parking_lot::Mutex<HashMap<(String, String), Pending>>,
}

impl fmt::Debug for Cassette {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cassette")
            .field("executes", &self.inner.is_some())
            .field("calls", &self.entries.lock().len())
            .finish()
    }
}

impl Cassette {
    /// Records `inner`'s executions, replaying them to identical calls.
    pub fn record(inner: Arc<dyn ToolExecutor>) -> Self {
        Self {
            tools: inner.tools(),
            inner: Some(inner),
            entries: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Replays `recordings` (offered as `tools`), executing nothing.
    pub fn replay(tools: Vec<Tool>, recordings: Vec<Recording>) -> Self {
        let entries = recordings
            .into_iter()
            .map(|r| {
                let output = ToolOutput {
                    content: r.content,
                    is_error: r.is_error,
                    replayed: false,
                };
                let ready: BoxFuture<'static, ToolOutput> = Box::pin(std::future::ready(output));
                (
                    (r.tool, canonical(&r.arguments)),
                    futures::FutureExt::shared(ready),
                )
            })
            .collect();
        Self {
            inner: None,
            tools,
            entries: parking_lot::Mutex::new(entries),
        }
    }

    /// What it holds, finished calls only, in no particular order: a cassette to replay
    /// later ([`Cassette::replay`]).
    pub fn recordings(&self) -> Vec<Recording> {
        self.entries
            .lock()
            .iter()
            .filter_map(|((tool, args), pending)| {
                let out = futures::FutureExt::now_or_never(pending.clone())?;
                Some(Recording {
                    tool: tool.clone(),
                    arguments: serde_json::from_str(args).unwrap_or(Value::Null),
                    content: out.content,
                    is_error: out.is_error,
                })
            })
            .collect()
    }
}

#[async_trait]
impl ToolExecutor for Cassette {
    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let key = (name.to_string(), canonical(&arguments));
        let (pending, first) = {
            let mut entries = self.entries.lock();
            match entries.get(&key) {
                Some(p) => (p.clone(), false),
                None => {
                    let Some(inner) = self.inner.clone() else {
                        return ToolOutput::error(format!(
                            "`{name}` with these arguments is not in the cassette (nothing is executed when replaying)"
                        ));
                    };
                    let name = name.to_string();
                    let run: BoxFuture<'static, ToolOutput> =
                        Box::pin(async move { inner.call(&name, arguments).await });
                    let p = futures::FutureExt::shared(run);
                    entries.insert(key, p.clone());
                    // Replaying a supplied recording is a replay too.
                    (p, true)
                }
            }
        };
        let mut out = pending.await;
        out.replayed = !first || self.inner.is_none();
        out
    }
}

/// `v` as JSON with every object's keys sorted: equal arguments, equal text.
pub fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Part;

    #[test]
    fn a_result_is_cut_to_the_cap_in_text_and_in_text_parts_together() {
        let Content::Text(t) = cap(Content::Text("é".repeat(100)), 51) else {
            panic!("text stays text")
        };
        assert!(
            t.starts_with(&"é".repeat(25)) && t.contains("truncated: 200 bytes"),
            "{t}"
        );
        // Issue 45: parts escaped the cap. Two text parts share it.
        let parts = Content::Parts(vec![
            Part::Text {
                text: "a".repeat(40),
            },
            Part::Text {
                text: "b".repeat(40),
            },
        ]);
        let Content::Parts(parts) = cap(parts, 50) else {
            panic!("parts stay parts")
        };
        let texts: Vec<&str> = parts
            .iter()
            .map(|p| match p {
                Part::Text { text } => text.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(texts[0], "a".repeat(40));
        assert!(
            texts[1].starts_with(&"b".repeat(10)) && texts[1].contains("10 kept"),
            "{}",
            texts[1]
        );
        assert!(!texts[1].starts_with(&"b".repeat(11)));
    }
}
