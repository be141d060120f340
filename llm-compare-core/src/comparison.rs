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

use crate::cost::{PriceTable, Usd};
use crate::error::{Error, ErrorCode, Result};
use crate::event::{
    Attempt, Complete, ErrorInfo, Event, EventKind, FinishReason, ModelResult, RequestStatus,
    Stage, Timing, ToolCall, Totals, Usage, UsageSource,
};
use crate::policy::Policies;
use crate::provider::{ProviderEvent, ProviderRegistry, ReportedUsage};
use crate::request::{ChatRequest, CompareRequest, DEFAULT_MAX_MODELS, Message};
use crate::runner::{CallEvent, Candidate, InProcessRunner, ModelCall, PlannedCall, Runner};
use crate::tokens;

/// Runs comparisons: holds the providers, the prices and the limits.
#[derive(Debug, Clone)]
pub struct Engine {
    providers: Arc<ProviderRegistry>,
    prices: Arc<PriceTable>,
    policies: Arc<Policies>,
    max_models: usize,
    max_attachment_bytes: usize,
    runner: Arc<dyn Runner>,
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
            max_attachment_bytes: crate::content::DEFAULT_MAX_ATTACHMENT_BYTES,
            runner: Arc::new(InProcessRunner),
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
        let request_id = options
            .request_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let planned = calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| self.plan_call(request_id.clone(), i, c))
            .collect::<Result<Vec<_>>>()?;
        let calls: Vec<ChatRequest> = planned.iter().map(|p| p.call.request.clone()).collect();
        let streams = planned
            .into_iter()
            .map(|mut p| match self.admit(&mut p) {
                Ok(()) => self.runner.run(p),
                // This model alone fails, before any call; the others run.
                Err(e) => futures::stream::iter([CallEvent::Failed(e)]).boxed(),
            })
            .collect();
        let cancel = options.cancel.unwrap_or_default();
        let models = calls.iter().map(|c| c.model.as_arc()).collect();
        let inner = run(
            request_id.clone(),
            calls,
            streams,
            self.prices.clone(),
            cancel.clone(),
            options.pricing,
        );
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
            (true, Some(why)) => {
                Err(crate::error::ProviderError::new(ErrorCode::UnsupportedInput, why).into())
            }
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
                    Some(crate::content::Kind::Image) => {
                        (caps.vision == Some(false)).then_some("images")
                    }
                    Some(crate::content::Kind::Pdf) => (caps.pdf == Some(false)).then_some("PDFs"),
                    Some(crate::content::Kind::TextFile) | None => None,
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
            },
            candidates,
            policy,
        })
    }

    /// Makes one model call from this process, whatever the engine's runner: what
    /// `llm-compare worker` does with the call a remote runner gave it.
    pub fn run_call(&self, call: ModelCall) -> Result<BoxStream<'static, CallEvent>> {
        let planned = self.plan_call(call.request_id, call.model_index, call.request)?;
        Ok(InProcessRunner.run(planned))
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
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            request_id: None,
            cancel: None,
            pricing: true,
        }
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

/// Key of the cancellation stream in the merge map.
const CANCEL_KEY: usize = usize::MAX;

/// A tool call being assembled from deltas.
#[derive(Default)]
struct PartialTool {
    id: String,
    name: String,
    arguments: String,
}

/// Everything the engine tracks for one model while it streams.
struct ModelState {
    model: Arc<str>,
    messages: Vec<Message>,
    text: String,
    reasoning: String,
    tools: Vec<PartialTool>,
    usage: ReportedUsage,
    finish: Option<(FinishReason, Option<String>)>,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    served_by: Option<Arc<str>>,
    attempts: Vec<Attempt>,
    history_trimmed: u32,
    format: Option<crate::request::ResponseFormat>,
    done: bool,
}

impl ModelState {
    fn has_output(&self) -> bool {
        !self.text.is_empty() || !self.reasoning.is_empty() || !self.tools.is_empty()
    }

    /// The model that answered (a fallback, or the one asked).
    fn answering_model(&self) -> &Arc<str> {
        self.served_by.as_ref().unwrap_or(&self.model)
    }

    /// Usage as reported, with missing fields estimated by the tokenizer.
    ///
    /// Estimating needs the tokenizer; until it is loaded (the first 0.1–0.6 s of a process)
    /// counting runs on a blocking thread so the stream loop never stalls.
    async fn usage(&self) -> Usage {
        let r = self.usage;
        let model = self.answering_model().clone();
        if (r.input_tokens.is_some() && r.output_tokens.is_some()) || tokens::is_ready() {
            let args: Vec<&str> = self.tools.iter().map(|t| t.arguments.as_str()).collect();
            return estimate_usage(
                r,
                &model,
                &self.messages,
                &self.text,
                &self.reasoning,
                &args,
            );
        }
        let (messages, text, reasoning) = (
            self.messages.clone(),
            self.text.clone(),
            self.reasoning.clone(),
        );
        let args: Vec<String> = self.tools.iter().map(|t| t.arguments.clone()).collect();
        let count = move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            estimate_usage(r, &model, &messages, &text, &reasoning, &args)
        };
        match tokio::task::spawn_blocking(count.clone()).await {
            Ok(u) => u,
            Err(_) => count(),
        }
    }
}

/// Reported usage with the missing fields counted by the tokenizer.
fn estimate_usage(
    r: ReportedUsage,
    model: &str,
    messages: &[Message],
    text: &str,
    reasoning: &str,
    tool_args: &[&str],
) -> Usage {
    let estimated = r.input_tokens.is_none() || r.output_tokens.is_none();
    let input = r
        .input_tokens
        .unwrap_or_else(|| tokens::count_message_tokens(messages, model));
    let output = r.output_tokens.unwrap_or_else(|| {
        let args: u64 = tool_args
            .iter()
            .map(|a| tokens::count_tokens(a, model))
            .sum();
        tokens::count_tokens(text, model) + tokens::count_tokens(reasoning, model) + args
    });
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: r.cached_input_tokens.unwrap_or(0),
        cache_write_tokens: r.cache_write_tokens.unwrap_or(0),
        cache_write_1h_tokens: r.cache_write_1h_tokens.unwrap_or(0),
        audio_input_tokens: r.audio_input_tokens.unwrap_or(0),
        reasoning_tokens: r.reasoning_tokens.unwrap_or(0),
        audio_output_tokens: r.audio_output_tokens.unwrap_or(0),
        source: if estimated {
            UsageSource::Estimated
        } else {
            UsageSource::Reported
        },
    }
}

fn ms(d: std::time::Duration) -> f64 {
    // Microsecond resolution is plenty and keeps the JSON short.
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Hands out strictly increasing sequence numbers.
struct Seq(u64);

impl Seq {
    fn next(&mut self, kind: EventKind) -> Event {
        self.0 += 1;
        Event { seq: self.0, kind }
    }
}

/// How one model ended.
enum Outcome {
    Done,
    Failed(Error),
    Cancelled,
}

/// Ends one model: the events that close it (tool calls, error, stage) and its result.
fn finish_model(
    index: usize,
    st: &mut ModelState,
    outcome: Outcome,
    (start, end): (Instant, Instant),
    prices: Option<&PriceTable>,
    usage: Usage,
) -> (Vec<EventKind>, ModelResult) {
    st.done = true;
    let model = st.model.clone();
    let mut events = Vec::new();
    let tool_calls: Vec<ToolCall> = st
        .tools
        .drain(..)
        // Slots a provider skipped (e.g. Anthropic's text blocks) stay empty.
        .filter(|t| !t.name.is_empty() || !t.id.is_empty() || !t.arguments.is_empty())
        .map(|t| ToolCall {
            id: t.id,
            name: t.name,
            arguments: t.arguments,
        })
        .collect();
    for t in &tool_calls {
        events.push(EventKind::ToolCall {
            model_index: index,
            model: model.clone(),
            id: t.id.clone(),
            name: t.name.clone(),
            arguments: t.arguments.clone(),
        });
    }
    let (stage, error, finish_reason, raw_finish_reason) = match outcome {
        Outcome::Done => {
            let (reason, raw) = st.finish.take().unwrap_or((FinishReason::Stop, None));
            (Stage::Done, None, reason, raw)
        }
        Outcome::Failed(e) => {
            let info = ErrorInfo::from(&e);
            events.push(EventKind::Error {
                model_index: Some(index),
                model: Some(model.clone()),
                code: info.code,
                message: info.message.clone(),
                retryable: info.retryable,
            });
            (Stage::Failed, Some(info), FinishReason::Error, None)
        }
        Outcome::Cancelled => (
            Stage::Cancelled,
            Some(ErrorInfo {
                code: ErrorCode::Cancelled,
                message: "the comparison was cancelled".into(),
                retryable: false,
            }),
            FinishReason::Cancelled,
            None,
        ),
    };
    events.push(EventKind::Stage {
        model_index: index,
        model: model.clone(),
        stage,
    });

    // What the provider says the call cost is the cost; else the table's math on usage.
    let cost = prices.map_or(crate::cost::Cost::UNPRICED, |p| match st.usage.cost {
        Some(charged) => crate::cost::Cost::reported(charged),
        None => p.cost(st.answering_model(), &usage),
    });
    let total = end - start;
    let ttft = st.first_token.map(|t| t - start);
    let tokens_per_s = st.first_token.zip(st.last_token).and_then(|(first, last)| {
        let secs = (last - first).as_secs_f64();
        (secs > 0.0 && usage.output_tokens > 1)
            .then(|| ((usage.output_tokens - 1) as f64 / secs * 10.0).round() / 10.0)
    });
    let partial = error.is_some() && st.has_output();
    // A failed answer is not judged as JSON.
    let structured = match (&st.format, &error) {
        (Some(f), None) => crate::event::Structured::check(f, &st.text),
        _ => None,
    };
    let result = ModelResult {
        model_index: index,
        model,
        text: std::mem::take(&mut st.text),
        reasoning: std::mem::take(&mut st.reasoning),
        tool_calls,
        finish_reason: Some(finish_reason),
        raw_finish_reason,
        partial,
        usage,
        cost,
        timing: Timing {
            ttft_ms: ttft.map(ms),
            total_ms: ms(total),
            tokens_per_s,
        },
        error,
        served_by: st.served_by.take(),
        attempts: std::mem::take(&mut st.attempts),
        history_trimmed: st.history_trimmed,
        structured,
    };
    (events, result)
}

/// The merged stream of one comparison.
fn run(
    request_id: String,
    calls: Vec<ChatRequest>,
    streams: Vec<BoxStream<'static, CallEvent>>,
    prices: Arc<PriceTable>,
    cancel: CancellationToken,
    pricing: bool,
) -> BoxStream<'static, Event> {
    let stream = async_stream::stream! {
        let start = Instant::now();
        let n = calls.len();
        let mut seq = Seq(0);
        let mut states: Vec<ModelState> = calls
            .iter()
            .map(|c| ModelState {
                model: c.model.as_arc(),
                messages: c.messages.clone(),
                text: String::new(),
                reasoning: String::new(),
                tools: Vec::new(),
                usage: ReportedUsage::default(),
                finish: None,
                first_token: None,
                last_token: None,
                served_by: None,
                attempts: Vec::new(),
                history_trimmed: c.history_trimmed,
                format: c.response_format.clone(),
                done: false,
            })
            .collect();
        let mut results: Vec<Option<ModelResult>> = (0..n).map(|_| None).collect();
        let mut map: StreamMap<usize, BoxStream<'static, CallEvent>> = StreamMap::with_capacity(n + 1);
        for (i, stream) in streams.into_iter().enumerate() {
            map.insert(i, stream);
        }
        let token = cancel.clone();
        map.insert(
            CANCEL_KEY,
            futures::stream::once(async move { token.cancelled_owned().await; CallEvent::Cancel }).boxed(),
        );

        yield seq.next(EventKind::Status { status: RequestStatus::Running });
        for (i, st) in states.iter().enumerate() {
            yield seq.next(EventKind::Stage { model_index: i, model: st.model.clone(), stage: Stage::Connecting });
        }

        let mut finished = 0usize;
        let mut cancelled = cancel.is_cancelled();
        while finished < n && !cancelled {
            let Some((i, raw)) = map.next().await else { break };
            let outcome = match raw {
                CallEvent::Cancel if i == CANCEL_KEY => {
                    cancelled = true;
                    continue;
                }
                CallEvent::Attempt(a) => {
                    states[i].attempts.push(a);
                    continue;
                }
                CallEvent::ServedBy(m) => {
                    states[i].served_by = Some(m);
                    continue;
                }
                CallEvent::Event(ev) => {
                    let st = &mut states[i];
                    let first = st.first_token.is_none();
                    let kind = match ev {
                        ProviderEvent::TextDelta(delta) => {
                            if delta.is_empty() { continue; }
                            st.text.push_str(&delta);
                            Some(EventKind::ResponseChunk { model_index: i, model: st.model.clone(), delta })
                        }
                        ProviderEvent::ReasoningDelta(delta) => {
                            if delta.is_empty() { continue; }
                            st.reasoning.push_str(&delta);
                            Some(EventKind::ReasoningChunk { model_index: i, model: st.model.clone(), delta })
                        }
                        ProviderEvent::ToolCallDelta { index, id, name, arguments } => {
                            if st.tools.len() <= index {
                                st.tools.resize_with(index + 1, PartialTool::default);
                            }
                            let t = &mut st.tools[index];
                            if let Some(id) = id {
                                // A new id at a known index is a new call (a restarted message).
                                if !t.id.is_empty() && t.id != id {
                                    *t = PartialTool::default();
                                }
                                t.id = id;
                            }
                            if let Some(name) = name { t.name.push_str(&name); }
                            t.arguments.push_str(&arguments);
                            None
                        }
                        ProviderEvent::Usage(u) => {
                            st.usage.merge(&u);
                            continue;
                        }
                        ProviderEvent::Finish { reason, raw } => {
                            st.finish = Some((reason, raw));
                            continue;
                        }
                    };
                    // One clock read per chunk: tokens/s is measured first to last token,
                    // not skewed by a slow usage report or connection close after them.
                    let now = Instant::now();
                    st.last_token = Some(now);
                    if first {
                        st.first_token = Some(now);
                        yield seq.next(EventKind::Stage { model_index: i, model: st.model.clone(), stage: Stage::Streaming });
                    }
                    if let Some(kind) = kind {
                        yield seq.next(kind);
                    }
                    continue;
                }
                CallEvent::Failed(e) => {
                    // Drop the failed call now: nothing more is read from it.
                    map.remove(&i);
                    // `attempts` lists the failures *before* the last; the last is `error`.
                    let last = ErrorInfo::from(&e);
                    if states[i].attempts.last().is_some_and(|a| a.error == last) {
                        states[i].attempts.pop();
                    }
                    Outcome::Failed(e)
                }
                CallEvent::End => Outcome::Done,
                // A runner saying its call was cancelled under it (not the comparison's own
                // cancel): that model ends `cancelled`, the others go on.
                CallEvent::Cancel => {
                    map.remove(&i);
                    Outcome::Failed(Error::Cancelled)
                }
            };
            // The model's end is now; counting tokens afterwards is not its time.
            let end = Instant::now();
            let usage = states[i].usage().await;
            let (events, result) = finish_model(i, &mut states[i], outcome, (start, end), pricing.then_some(&*prices), usage);
            for kind in events {
                yield seq.next(kind);
            }
            yield seq.next(EventKind::ModelResult(Box::new(result.clone())));
            results[i] = Some(result);
            finished += 1;
        }
        // Dropping the map drops every provider stream still open: upstream calls abort here.
        drop(map);

        for (i, st) in states.iter_mut().enumerate() {
            if st.done {
                continue;
            }
            let end = Instant::now();
            let usage = st.usage().await;
            let (events, result) = finish_model(i, st, Outcome::Cancelled, (start, end), pricing.then_some(&*prices), usage);
            for kind in events {
                yield seq.next(kind);
            }
            yield seq.next(EventKind::ModelResult(Box::new(result.clone())));
            results[i] = Some(result);
        }

        let results: Vec<ModelResult> = results.into_iter().flatten().collect();
        let status = if cancelled {
            RequestStatus::Cancelled
        } else if results.iter().all(|r| r.error.is_some()) {
            RequestStatus::Failed
        } else {
            RequestStatus::Completed
        };
        let mut totals = Totals { priced: true, ..Totals::default() };
        for r in &results {
            totals.input_tokens += r.usage.input_tokens;
            totals.output_tokens += r.usage.output_tokens;
            totals.cost_usd = totals.cost_usd.saturating_add(r.cost.total_usd.unwrap_or(Usd(0)));
            totals.priced &= r.cost.priced;
        }
        yield seq.next(EventKind::Status { status });
        yield seq.next(EventKind::Complete(Complete {
            request_id,
            status,
            results,
            totals,
            duration_ms: ms(start.elapsed()),
        }));
    };
    stream.boxed()
}
