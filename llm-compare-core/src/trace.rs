//! Spans of a comparison's work, for tracing backends: the comparison, each model call (named
//! and attributed after OpenTelemetry's GenAI semantic conventions: `gen_ai.operation.name`,
//! `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`,
//! `gen_ai.usage.*`), each attempt of a call (retries, fallbacks), each tool call, and an
//! evaluation run with its rows.
//!
//! They are `tracing` spans of target [`TARGET`]: they cost nothing unless a subscriber takes
//! that target (the server does when it exports OpenTelemetry traces, `--otlp-endpoint`).
//! This crate does not depend on OpenTelemetry: the embedder that exports spans also gives
//! [`set_propagator`] the function that writes the current span's context as headers
//! (W3C `traceparent`), which every upstream provider request then carries.

use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::BoxStream;
use tracing::Span;
use tracing::field::Empty;

use crate::types::event::ModelResult;
use crate::types::request::ModelId;

/// The target of every span here (filter on it to export them, or to leave them out).
pub const TARGET: &str = "llm_compare::trace";

/// Writes the current span's context as request headers (`traceparent`, `tracestate`).
pub type Propagator = fn() -> Vec<(String, String)>;

static PROPAGATOR: OnceLock<Propagator> = OnceLock::new();
static RECORD_CONTENT: AtomicBool = AtomicBool::new(false);

/// Sets how upstream requests carry the current trace (once per process; `false` if it was
/// set already).
pub fn set_propagator(propagator: Propagator) -> bool {
    PROPAGATOR.set(propagator).is_ok()
}

/// Whether model-call spans carry the prompt and the answer (`gen_ai.input.messages`,
/// `gen_ai.output.messages`). Off by default: prompts leave the process only when the
/// operator said so (the server's `log_prompts`).
pub fn set_record_content(on: bool) {
    RECORD_CONTENT.store(on, Ordering::Relaxed);
}

/// The headers that carry the current span's trace to an upstream request (none unless an
/// embedder set a propagator).
pub(crate) fn propagation_headers() -> Vec<(String, String)> {
    PROPAGATOR.get().map(|p| p()).unwrap_or_default()
}

/// The span of one comparison (its model calls are its children).
pub(crate) fn comparison(request_id: &str, models: usize) -> Span {
    tracing::info_span!(
        target: TARGET,
        "comparison",
        otel.name = "compare",
        llm_compare.request_id = request_id,
        llm_compare.models = int(models),
    )
}

/// The span of one model's call in a comparison (its attempts are its children).
pub(crate) fn model_call(
    parent: &Span,
    index: usize,
    model: &ModelId,
    prompt: impl FnOnce() -> String,
) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        parent: parent,
        "model_call",
        otel.name = format!("chat {}", model.model()),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = model.provider(),
        gen_ai.request.model = model.model(),
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        llm_compare.model = model.as_str(),
        llm_compare.model_index = int(index),
        llm_compare.time_to_first_token_ms = Empty,
        llm_compare.tokens_per_s = Empty,
        llm_compare.cost_usd = Empty,
        llm_compare.attempts = Empty,
        error.type = Empty,
    );
    if RECORD_CONTENT.load(Ordering::Relaxed) && !span.is_disabled() {
        span.record("gen_ai.input.messages", prompt());
    }
    span
}

/// Records a model's result on its span.
pub(crate) fn record_result(span: &Span, r: &ModelResult) {
    if span.is_disabled() {
        return;
    }
    let served = r.served_by.as_deref().unwrap_or(&r.model);
    let response_model = served.split_once('/').map_or(served, |(_, m)| m);
    span.record("gen_ai.response.model", response_model);
    // One reason per call (the conventions' string array, as the one string it holds).
    if let Some(reason) = r
        .finish_reason
        .as_ref()
        .and_then(|f| serde_json::to_value(f).ok())
        .and_then(|v| v.as_str().map(str::to_string))
    {
        span.record("gen_ai.response.finish_reasons", reason);
    }
    span.record("gen_ai.usage.input_tokens", int(r.usage.input_tokens));
    span.record("gen_ai.usage.output_tokens", int(r.usage.output_tokens));
    if let Some(t) = r.timing.ttft_ms {
        span.record("llm_compare.time_to_first_token_ms", t);
    }
    if let Some(t) = r.timing.tokens_per_s {
        span.record("llm_compare.tokens_per_s", t);
    }
    if let Some(c) = r.cost.total_usd {
        span.record("llm_compare.cost_usd", c.as_f64());
    }
    span.record("llm_compare.attempts", int(r.attempts.len() + 1));
    if let Some(e) = &r.error {
        span.record("error.type", e.code.as_str());
        span.record("otel.status_code", "ERROR");
    }
    if RECORD_CONTENT.load(Ordering::Relaxed) {
        span.record("gen_ai.output.messages", r.text.as_str());
    }
}

/// The span of one attempt of a model call (the upstream request it makes is its child).
pub(crate) fn attempt(number: u32, model: &ModelId) -> Span {
    tracing::info_span!(
        target: TARGET,
        "attempt",
        otel.name = format!("attempt {number}"),
        llm_compare.attempt = i64::from(number),
        gen_ai.request.model = model.model(),
        gen_ai.provider.name = model.provider(),
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// Records why an attempt failed.
pub(crate) fn record_error(span: &Span, code: &str) {
    span.record("error.type", code);
    span.record("otel.status_code", "ERROR");
}

/// The span of one tool call in a model's tool loop.
pub(crate) fn tool_call(name: &str, call_id: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "tool_call",
        otel.name = format!("execute_tool {name}"),
        otel.kind = "internal",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = name,
        gen_ai.tool.call.id = call_id,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// The span of one evaluation run over a dataset (its rows are its children).
pub fn evaluation(run_id: &str, units: usize) -> Span {
    tracing::info_span!(
        target: TARGET,
        "evaluation",
        otel.name = "evaluate",
        llm_compare.eval.run_id = run_id,
        llm_compare.eval.units = int(units),
    )
}

/// The span of one row (one repeat) of an evaluation: its comparison and judge calls are its
/// children.
pub fn eval_row(parent: &Span, row_id: &str, repeat: u32) -> Span {
    tracing::info_span!(
        target: TARGET,
        parent: parent,
        "eval_row",
        otel.name = format!("eval row {row_id}"),
        llm_compare.eval.row_id = row_id,
        llm_compare.eval.repeat = i64::from(repeat),
    )
}

/// An integer as OpenTelemetry's int attribute: `tracing-opentelemetry` exports only `i64`
/// fields as integers (an unsigned one would arrive as its text).
pub fn int<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// `stream`, polled inside `span` — or as it is when the span is disabled (tracing off: no
/// wrapper on the hot path).
pub(crate) fn in_span<T: 'static>(
    stream: BoxStream<'static, T>,
    span: &Span,
) -> BoxStream<'static, T> {
    if span.is_disabled() {
        stream
    } else {
        Box::pin(InSpan {
            inner: stream,
            span: span.clone(),
        })
    }
}

/// A stream polled inside a span (what `Instrument` does for futures).
struct InSpan<T> {
    inner: BoxStream<'static, T>,
    span: Span,
}

impl<T> Stream for InSpan<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        this.inner.as_mut().poll_next(cx)
    }
}
