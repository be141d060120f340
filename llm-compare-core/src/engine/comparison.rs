//! The fan-out engine: one request, N models, one merged and ordered event stream.
//!
//! [`Engine::compare`] validates a [`CompareRequest`], resolves each model to its provider and
//! returns a [`Comparison`]: a `Stream` of [`Event`]s. All model calls run concurrently inside
//! that stream (polled round-robin by a `StreamMap`, no task per model, no allocation per
//! event). The stream assigns each event a strictly increasing `seq`, measures per-model time
//! to first token, total time and tokens/s, fills usage (reported, else estimated with
//! tiktoken), prices it, and ends with `complete`.
//!
//! One model failing ends that model only. Cancelling ([`Comparison::cancel`]) or dropping the
//! stream drops every provider stream at once, which aborts the upstream calls.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::stream::{BoxStream, Stream, StreamExt};
use tokio_stream::StreamMap;
use tokio_util::sync::CancellationToken;

use crate::engine::merge::{CANCEL_KEY, Merge, Outcome};
use crate::engine::policy::Policies;
use crate::engine::runner::{
    CallEvent, Candidate, InProcessRunner, ModelCall, PlannedCall, Runner,
};
use crate::pricing::cost::PriceTable;
use crate::pricing::tokens;
use crate::providers::provider::ProviderRegistry;
use crate::tools::{
    Cassette, DEFAULT_MAX_STEPS, MAX_STEPS_LIMIT, Recording, ToolExecutor, ToolMode,
};
use crate::types::error::{Error, ErrorCode, Result};
use crate::types::event::{Complete, Event, EventKind};
use crate::types::request::{ChatRequest, CompareRequest, DEFAULT_MAX_MODELS};

/// Runs comparisons: holds the providers, the prices and the limits.
#[derive(Debug, Clone)]
pub struct Engine {
    providers: Arc<ProviderRegistry>,
    prices: Arc<PriceTable>,
    policies: Arc<Policies>,
    max_models: usize,
    max_attachment_bytes: usize,
    runner: Arc<dyn Runner>,
    tools: Option<Arc<dyn crate::tools::ToolExecutor>>,
}

impl Engine {
    /// An engine over `providers`, pricing with the bundled table (plus the prices providers
    /// bring for their own models), at most 8 models.
    pub fn new(providers: ProviderRegistry) -> Self {
        tokens::warm_up();
        let own = providers.own_prices();
        let prices = if own.is_empty() {
            PriceTable::bundled()
        } else {
            Arc::new((*PriceTable::bundled()).clone().with_defaults(own))
        };
        Self {
            providers: Arc::new(providers),
            prices,
            policies: Arc::default(),
            max_models: DEFAULT_MAX_MODELS,
            max_attachment_bytes: crate::types::content::DEFAULT_MAX_ATTACHMENT_BYTES,
            runner: Arc::new(InProcessRunner),
            tools: None,
        }
    }

    /// Runs model calls with `runner` (default: [`InProcessRunner`], from this process).
    pub fn with_runner(mut self, runner: Arc<dyn Runner>) -> Self {
        self.runner = runner;
        self
    }

    /// The runner of model calls.
    pub fn runner(&self) -> &Arc<dyn Runner> {
        &self.runner
    }

    /// Replaces the per-model call policies (retries, timeouts, fallbacks) and aliases.
    pub fn with_policies(mut self, policies: Policies) -> Self {
        self.policies = Arc::new(policies);
        self
    }

    /// The per-model call policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Replaces the price table (e.g. the bundled one with overrides).
    pub fn with_prices(mut self, prices: Arc<PriceTable>) -> Self {
        self.prices = prices;
        self
    }

    /// Changes the most models one comparison may have.
    pub fn with_max_models(mut self, max_models: usize) -> Self {
        self.max_models = max_models;
        self
    }

    /// Changes the largest attachment (image, file) a request may carry, decoded.
    pub fn with_max_attachment_bytes(mut self, bytes: usize) -> Self {
        self.max_attachment_bytes = bytes;
        self
    }

    /// Adds executable tools requests may name (the server's `[tools.*]`).
    pub fn with_tools(mut self, tools: Arc<dyn crate::tools::ToolExecutor>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// The executable tools requests may name.
    pub fn tools(&self) -> Option<&Arc<dyn crate::tools::ToolExecutor>> {
        self.tools.as_ref()
    }

    /// The largest attachment a request may carry, decoded.
    pub fn max_attachment_bytes(&self) -> usize {
        self.max_attachment_bytes
    }

    /// The providers.
    pub fn providers(&self) -> &ProviderRegistry {
        &self.providers
    }

    /// The price table.
    pub fn prices(&self) -> &Arc<PriceTable> {
        &self.prices
    }

    /// The most models one comparison may have.
    pub fn max_models(&self) -> usize {
        self.max_models
    }

    /// Validates `request` and resolves its models into one call per model, without starting
    /// anything. Errors name the field at fault.
    pub fn plan(&self, request: &CompareRequest) -> Result<Vec<ChatRequest>> {
        request.validate_with(self.max_models, self.max_attachment_bytes)?;
        let messages = request.conversation();
        request
            .models
            .iter()
            .map(|m| {
                let (model, _) = self.providers.resolve(self.policies.resolve_alias(m))?;
                Ok(ChatRequest {
                    model,
                    messages: messages.clone(),
                    params: request.params.clone(),
                    tools: request.tools.clone(),
                    tool_choice: request.tool_choice.clone(),
                    response_format: request.response_format.clone(),
                    history_trimmed: 0,
                })
            })
            .collect()
    }

    /// Starts a comparison of `request` (a fresh UUIDv7 request id, its own cancel token).
    pub fn compare(&self, request: &CompareRequest) -> Result<Comparison> {
        let calls = self.plan(request)?;
        self.compare_calls(calls, CompareOptions::default())
    }

    /// Starts a comparison of prepared per-model calls (each model may have its own history).
    pub fn compare_calls(
        &self,
        calls: Vec<ChatRequest>,
        options: CompareOptions,
    ) -> Result<Comparison> {
        if calls.is_empty() {
            return Err(Error::invalid("models", "at least one model is required"));
        }
        if calls.len() > self.max_models {
            return Err(Error::invalid(
                "models",
                format!(
                    "at most {} models per comparison, got {}",
                    self.max_models,
                    calls.len()
                ),
            ));
        }
        if options.max_steps == 0 {
            return Err(Error::invalid("max_steps", "max_steps must be at least 1"));
        }
        let request_id = options
            .request_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let mut calls = calls;
        // Client-side tools join the executable ones (a name both have is the server's).
        let tools = match (options.tools.clone(), options.client_tools.clone()) {
            (Some(t), Some(c)) => Some(crate::tools::combine(t, c)),
            (None, Some(c)) => Some(c as Arc<dyn crate::tools::ToolExecutor>),
            (t, None) => t,
        };
        if let Some(tools) = &tools {
            let offered = tools.tools();
            for c in &mut calls {
                c.tools.extend(offered.iter().cloned());
            }
        }
        // A runner that runs whole loops (Kubernetes: in each model's Job) gets the loop to
        // run there, with tools its worker has: the configuration's.
        let remote_loop = match &tools {
            Some(t) if self.runner.runs_whole_loops() => {
                if options.client_tools.is_some() {
                    return Err(Error::invalid(
                        "client_tools",
                        "this server runs each model's tool loop in its own Kubernetes Job, where client-side tools cannot be answered",
                    ));
                }
                if !t.portable() {
                    return Err(Error::invalid(
                        "tools",
                        "this server runs each model's tool loop in its own Kubernetes Job: only the configuration's tools ([tools.*], [mcp.*]) run there, not the embedder's functions or a shared (`tool_mode: \"shared\"`) or supplied cassette",
                    ));
                }
                Some(crate::engine::runner::ToolLoop {
                    tools: t.tools().into_iter().map(|t| t.function.name).collect(),
                    max_steps: options.max_steps,
                    timeout_ms: u64::try_from(options.tool_limits.timeout.as_millis())
                        .unwrap_or(u64::MAX),
                    max_result_bytes: options.tool_limits.max_result_bytes,
                })
            }
            _ => None,
        };
        let planned = calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = self.plan_call(request_id.clone(), i, c)?;
                p.call.tool_loop.clone_from(&remote_loop);
                Ok(p)
            })
            .collect::<Result<Vec<_>>>()?;
        let calls: Vec<ChatRequest> = planned.iter().map(|p| p.call.request.clone()).collect();
        // Spans (for tracing backends; free unless a subscriber takes them): the comparison,
        // each model's call under it, its attempts under that (call.rs).
        let comparison_span = crate::trace::comparison(&request_id, calls.len());
        let spans: Vec<tracing::Span> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                crate::trace::model_call(&comparison_span, i, &c.model, || {
                    serde_json::to_string(&c.messages).unwrap_or_default()
                })
            })
            .collect();
        let streams = planned
            .into_iter()
            .map(|mut p| match self.admit(&mut p) {
                Ok(()) => match &tools {
                    Some(_) if remote_loop.is_some() => self.runner.run(p),
                    Some(tools) => crate::engine::agent::run(
                        self.runner.clone(),
                        p,
                        crate::engine::agent::LoopOptions {
                            tools: tools.clone(),
                            max_steps: options.max_steps,
                            limits: options.tool_limits,
                            client: options.client_tools.clone(),
                        },
                    ),
                    None => self.runner.run(p),
                },
                // This model alone fails, before any call; the others run.
                Err(e) => futures::stream::iter([CallEvent::Failed(e)]).boxed(),
            })
            .zip(&spans)
            .map(|(stream, span)| crate::trace::in_span(stream, span))
            .collect();
        let cancel = options.cancel.unwrap_or_default();
        let models = calls.iter().map(|c| c.model.as_arc()).collect();
        let inner = run(
            request_id.clone(),
            calls,
            streams,
            spans,
            self.prices.clone(),
            cancel.clone(),
            options.pricing,
        );
        let inner = crate::trace::in_span(inner, &comparison_span);
        Ok(Comparison {
            request_id,
            models,
            cancel,
            inner,
        })
    }

    /// Keeps the candidates (the model, then its fallbacks) that can take every image and
    /// file of the call — their API carries it, and the model is not known to refuse it —
    /// or says which part none can take (`unsupported_input`).
    fn admit(&self, planned: &mut PlannedCall) -> Result<()> {
        let request = &planned.call.request;
        let has_media = request
            .messages
            .iter()
            .any(|m| m.content.media().next().is_some());
        let schema = request
            .response_format
            .as_ref()
            .is_some_and(|f| f.schema().is_some());
        if !has_media && !schema {
            return Ok(());
        }
        let mut first = None;
        planned.candidates.retain(|c| match self.refusal(c) {
            None => true,
            Some(why) => {
                first.get_or_insert(why);
                false
            }
        });
        match (planned.candidates.is_empty(), first) {
            (true, Some(why)) => Err(crate::types::error::ProviderError::new(
                ErrorCode::UnsupportedInput,
                why,
            )
            .into()),
            _ => Ok(()),
        }
    }

    /// The first image or file of its messages `candidate` cannot take, and why.
    fn refusal(&self, candidate: &Candidate) -> Option<String> {
        let model = candidate.request.model.as_str();
        let caps = self
            .prices
            .get(model)
            .map(|p| p.capabilities)
            .unwrap_or_default();
        if caps.response_schema == Some(false)
            && candidate
                .request
                .response_format
                .as_ref()
                .is_some_and(|f| f.schema().is_some())
        {
            return Some(format!(
                "response_format: `{model}` does not do structured output (a JSON schema)"
            ));
        }
        for (i, m) in candidate.request.messages.iter().enumerate() {
            for (j, part) in m.content.media() {
                let at = format!("messages[{i}].content[{j}]");
                if let Some(why) = candidate.provider.refusal(part) {
                    return Some(format!("{at}: {why}"));
                }
                let refused = match part.kind() {
                    Some(crate::types::content::Kind::Image) => {
                        (caps.vision == Some(false)).then_some("images")
                    }
                    Some(crate::types::content::Kind::Pdf) => {
                        (caps.pdf == Some(false)).then_some("PDFs")
                    }
                    Some(crate::types::content::Kind::TextFile) | None => None,
                };
                if let Some(what) = refused {
                    return Some(format!("{at}: `{model}` does not take {what}"));
                }
            }
        }
        None
    }

    /// One model's call as a runner gets it: the model's policy applied (default params,
    /// timeouts), its fallbacks resolved to providers.
    pub fn plan_call(
        &self,
        request_id: String,
        model_index: usize,
        mut request: ChatRequest,
    ) -> Result<PlannedCall> {
        let policy = self.policies.policy(request.model.as_str()).clone();
        request.params = request.params.over(&policy.params);
        let (_, provider) = self.providers.resolve(request.model.as_str())?;
        let mut candidates = vec![Candidate {
            request: request.clone(),
            provider,
        }];
        for f in &policy.fallbacks {
            let (model, provider) = self.providers.resolve(self.policies.resolve_alias(f))?;
            candidates.push(Candidate {
                request: ChatRequest {
                    model,
                    ..request.clone()
                },
                provider,
            });
        }
        Ok(PlannedCall {
            call: ModelCall {
                request_id,
                model_index,
                request,
                tool_loop: None,
            },
            candidates,
            policy,
        })
    }

    /// Makes one model call from this process, whatever the engine's runner: what
    /// `llm-compare worker` does with the call a remote runner gave it.
    /// With a [`ModelCall::tool_loop`], the model's whole loop, with those tools of this
    /// engine's.
    pub fn run_call(&self, call: ModelCall) -> Result<BoxStream<'static, CallEvent>> {
        let tool_loop = call.tool_loop.clone();
        let planned = self.plan_call(call.request_id, call.model_index, call.request)?;
        let Some(l) = tool_loop else {
            return Ok(InProcessRunner.run(planned));
        };
        let Some(all) = &self.tools else {
            return Err(Error::invalid(
                "tools",
                "the call runs a tool loop, and this worker's configuration has no tools ([tools.*], [mcp.*]): give it the server's configuration",
            ));
        };
        let tools = crate::tools::only(all, &l.tools).map_err(|name| {
            Error::invalid(
                "tools",
                format!("the call runs a tool loop with `{name}`, which this worker's configuration does not have"),
            )
        })?;
        Ok(crate::engine::agent::run(
            Arc::new(InProcessRunner),
            planned,
            crate::engine::agent::LoopOptions {
                tools,
                max_steps: l.max_steps,
                limits: crate::tools::ToolLimits {
                    timeout: std::time::Duration::from_millis(l.timeout_ms),
                    max_result_bytes: l.max_result_bytes,
                },
                client: None,
            },
        ))
    }
}

/// Options of [`Engine::compare_calls`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The request id (default: a new UUIDv7).
    pub request_id: Option<String>,
    /// A token that cancels the comparison when cancelled (default: a new one).
    pub cancel: Option<CancellationToken>,
    /// Whether to price results (default true; off only to measure pricing's own cost).
    pub pricing: bool,
    /// Executable tools: each model runs its own tool loop with them (their definitions are
    /// added to every call's `tools`).
    pub tools: Option<Arc<dyn crate::tools::ToolExecutor>>,
    /// Most steps of each model's tool loop (default 8).
    pub max_steps: u32,
    /// Each tool call's timeout and result size.
    pub tool_limits: crate::tools::ToolLimits,
    /// Client-side tools: offered like `tools`; their calls go out as `action` events and
    /// wait for [`crate::tools::ClientTools::deliver`].
    pub client_tools: Option<Arc<crate::tools::ClientTools>>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            request_id: None,
            cancel: None,
            pricing: true,
            tools: None,
            max_steps: crate::tools::DEFAULT_MAX_STEPS,
            tool_limits: crate::tools::ToolLimits::default(),
            client_tools: None,
        }
    }
}

impl CompareOptions {
    /// The options of a tool loop over `tools`: `max_steps` (1–64, default 8), and `mode`
    /// (shared: a recording [`Cassette`](crate::tools::Cassette)) — or, given `cassette`, its
    /// recordings replayed and nothing executed.
    pub fn tool_loop(
        tools: Arc<dyn ToolExecutor>,
        max_steps: Option<u32>,
        mode: ToolMode,
        cassette: Option<Vec<Recording>>,
    ) -> Result<Self> {
        let max_steps = max_steps.unwrap_or(DEFAULT_MAX_STEPS);
        if !(1..=MAX_STEPS_LIMIT).contains(&max_steps) {
            return Err(Error::invalid(
                "max_steps",
                format!("max_steps must be between 1 and {MAX_STEPS_LIMIT}"),
            ));
        }
        let tools: Arc<dyn ToolExecutor> = match (cassette, mode) {
            (Some(recordings), _) => Arc::new(Cassette::replay(tools.tools(), recordings)),
            (None, ToolMode::Shared) => Arc::new(Cassette::record(tools)),
            (None, ToolMode::Independent) => tools,
        };
        Ok(Self {
            tools: Some(tools),
            max_steps,
            ..Self::default()
        })
    }
}

/// A running comparison: a `Stream` of [`Event`]s ending with `complete`.
///
/// Dropping it aborts every upstream call.
pub struct Comparison {
    request_id: String,
    models: Vec<Arc<str>>,
    cancel: CancellationToken,
    inner: BoxStream<'static, Event>,
}

impl std::fmt::Debug for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Comparison")
            .field("request_id", &self.request_id)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl Comparison {
    /// The request id (also in `complete`).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The model ids, by `model_index`.
    pub fn models(&self) -> &[Arc<str>] {
        &self.models
    }

    /// Cancels: upstream calls are dropped, each unfinished model ends `cancelled` with its
    /// partial text, and the stream ends with `status: cancelled` and `complete`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Wraps an event stream (e.g. one that records a session turn) as a comparison.
    pub(crate) fn from_parts(
        request_id: String,
        models: Vec<Arc<str>>,
        cancel: CancellationToken,
        inner: BoxStream<'static, Event>,
    ) -> Self {
        Self {
            request_id,
            models,
            cancel,
            inner,
        }
    }

    /// A token that cancels this comparison from elsewhere.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Drains the stream and returns the final `complete`.
    pub async fn result(mut self) -> Result<Complete> {
        while let Some(e) = self.inner.next().await {
            if let EventKind::Complete(c) = e.kind {
                return Ok(c);
            }
        }
        Err(Error::Internal(
            "comparison ended without `complete`".into(),
        ))
    }
}

impl Stream for Comparison {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// The merged stream of one comparison: the async shell around [`Merge`] (which holds the
/// logic): it polls the model calls round-robin, reads the clock, counts estimated usage off
/// the loop, and drops every call at cancel or at the end.
fn run(
    request_id: String,
    calls: Vec<ChatRequest>,
    streams: Vec<BoxStream<'static, CallEvent>>,
    mut spans: Vec<tracing::Span>,
    prices: Arc<PriceTable>,
    cancel: CancellationToken,
    pricing: bool,
) -> BoxStream<'static, Event> {
    let stream = async_stream::stream! {
        let mut merge = Merge::new(request_id, &calls, Instant::now(), pricing.then_some(prices));
        drop(calls);
        let mut map: StreamMap<usize, BoxStream<'static, CallEvent>> =
            StreamMap::with_capacity(streams.len() + 1);
        for (i, stream) in streams.into_iter().enumerate() {
            map.insert(i, stream);
        }
        let token = cancel.clone();
        map.insert(
            CANCEL_KEY,
            futures::stream::once(async move { token.cancelled_owned().await; CallEvent::Cancel }).boxed(),
        );
        if cancel.is_cancelled() {
            merge.cancel();
        }
        let mut out = Vec::new();
        merge.open(&mut out);
        for e in out.drain(..) { yield e; }
        while !merge.is_done() {
            let Some((i, raw)) = map.next().await else { break };
            if i == CANCEL_KEY {
                merge.cancel();
                continue;
            }
            // A failed or cancelled call is dropped now: nothing more is read from it.
            let drop_call = matches!(raw, CallEvent::Failed(_) | CallEvent::Cancel);
            if let Some(outcome) = merge.on_event(i, raw, Instant::now(), &mut out) {
                if drop_call {
                    map.remove(&i);
                }
                // The model's end is now; counting tokens afterwards is not its time.
                let end = Instant::now();
                let usage = merge.model(i).usage().await;
                merge.finish(i, outcome, end, usage, &mut out);
                end_span(&mut spans, &out);
            }
            for e in out.drain(..) { yield e; }
        }
        // Dropping the map drops every provider stream still open: upstream calls abort here.
        drop(map);
        for i in merge.unfinished() {
            let end = Instant::now();
            let usage = merge.model(i).usage().await;
            merge.finish(i, Outcome::Cancelled, end, usage, &mut out);
        }
        end_span(&mut spans, &out);
        merge.complete(Instant::now(), &mut out);
        for e in out.drain(..) { yield e; }
    };
    stream.boxed()
}

/// Records each model result among `events` on its model's span and ends it.
fn end_span(spans: &mut [tracing::Span], events: &[Event]) {
    for e in events {
        if let EventKind::ModelResult(r) = &e.kind
            && let Some(span) = spans.get_mut(r.model_index)
        {
            crate::trace::record_result(span, r);
            // Ends it once the call's stream (which holds a clone) is gone too.
            *span = tracing::Span::none();
        }
    }
}
