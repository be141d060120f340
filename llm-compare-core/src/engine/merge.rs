//! The merge of one comparison's model calls into its event stream, as a plain state machine:
//! [`Merge`] takes each call's [`CallEvent`]s (and the time, from its caller) and gives the
//! comparison's [`Event`]s — strictly increasing `seq`, stages, text and tool calls assembled
//! from deltas, per-model timing, usage and cost, results, the final status and totals. No
//! I/O and no clock of its own, so it is unit-tested event by event; the async shell that
//! polls the calls is `comparison::run`.

use std::sync::Arc;
use std::time::Instant;

use crate::engine::runner::CallEvent;
use crate::pricing::cost::PriceTable;
use crate::pricing::tokens;
use crate::providers::provider::{ProviderEvent, ReportedUsage};
use crate::types::error::{Error, ErrorCode};
use crate::types::event::{
    Attempt, Complete, ErrorInfo, Event, EventKind, FinishReason, ModelResult, RequestStatus,
    Stage, Timing, Totals, Usage, UsageSource,
};
use crate::types::request::{ChatRequest, Message, ToolCall};

/// Key of the cancellation stream in the merge map.
pub(crate) const CANCEL_KEY: usize = usize::MAX;

/// A tool call being assembled from deltas.
#[derive(Default)]
struct PartialTool {
    id: String,
    name: String,
    arguments: String,
}

/// Tool calls assembled from a stream's deltas (by the provider's index).
#[derive(Default)]
pub(crate) struct ToolCalls(Vec<PartialTool>);

impl ToolCalls {
    /// Adds one delta.
    pub(crate) fn push(
        &mut self,
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: &str,
    ) {
        if self.0.len() <= index {
            self.0.resize_with(index + 1, PartialTool::default);
        }
        let t = &mut self.0[index];
        if let Some(id) = id {
            // A new id at a known index is a new call (a restarted message).
            if !t.id.is_empty() && t.id != id {
                *t = PartialTool::default();
            }
            t.id = id;
        }
        if let Some(name) = name {
            t.name.push_str(&name);
        }
        t.arguments.push_str(arguments);
    }

    /// Whether a call has begun.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The calls, complete (slots a provider skipped, e.g. Anthropic's text blocks, left out).
    pub(crate) fn take(&mut self) -> Vec<ToolCall> {
        self.0
            .drain(..)
            .filter(|t| !t.name.is_empty() || !t.id.is_empty() || !t.arguments.is_empty())
            .map(|t| ToolCall {
                id: t.id,
                name: t.name,
                arguments: t.arguments,
            })
            .collect()
    }

    /// The arguments written so far (usage estimates count them).
    fn arguments(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|t| t.arguments.as_str())
    }
}

/// Everything the engine tracks for one model while it streams.
pub(crate) struct ModelState {
    model: Arc<str>,
    messages: Vec<Message>,
    text: String,
    reasoning: String,
    tools: ToolCalls,
    usage: ReportedUsage,
    finish: Option<(FinishReason, Option<String>)>,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    served_by: Option<Arc<str>>,
    attempts: Vec<Attempt>,
    history_trimmed: u32,
    format: Option<crate::types::request::ResponseFormat>,
    done: bool,
    /// With a tool loop: the usage of the steps before this one.
    earlier: Option<ReportedUsage>,
    /// With a tool loop: the calls of the steps before this one.
    calls: Vec<ToolCall>,
    /// The step under way (1-based).
    step: u32,
    /// Whether it ran a tool loop (a step ended, or a tool answered).
    looped: bool,
    /// With a tool loop: each ended step's exchange, for the session history.
    exchange: Vec<crate::types::event::ToolStep>,
    /// Where in `text` the step under way began.
    step_text_start: usize,
}

impl ModelState {
    /// The tool calls of the step under way, complete.
    fn take_tool_calls(&mut self) -> Vec<ToolCall> {
        self.tools.take()
    }

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
    pub(crate) async fn usage(&self) -> Usage {
        let r = self.earlier.map_or(self.usage, |e| e.add(&self.usage));
        let model = self.answering_model().clone();
        if (r.input_tokens.is_some() && r.output_tokens.is_some()) || tokens::is_ready() {
            let args: Vec<&str> = self.tools.arguments().collect();
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
        let args: Vec<String> = self.tools.arguments().map(str::to_string).collect();
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
pub(crate) enum Outcome {
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
    let step_calls = st.take_tool_calls();
    for t in &step_calls {
        events.push(EventKind::ToolCall {
            model_index: index,
            model: model.clone(),
            id: t.id.clone(),
            name: t.name.clone(),
            arguments: t.arguments.clone(),
        });
    }
    let steps = if st.looped { st.step } else { 0 };
    let mut tool_calls = std::mem::take(&mut st.calls);
    tool_calls.extend(step_calls);
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
    let cost = prices.map_or(crate::types::money::Cost::UNPRICED, |p| {
        match st.usage.cost {
            Some(charged) => crate::types::money::Cost::reported(charged),
            None => p.cost(st.answering_model(), &usage),
        }
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
        (Some(f), None) => crate::types::event::Structured::check(f, &st.text),
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
        steps,
        exchange: std::mem::take(&mut st.exchange),
    };
    (events, result)
}

/// The merge of one comparison (see the module docs).
pub(crate) struct Merge {
    request_id: String,
    start: Instant,
    seq: Seq,
    states: Vec<ModelState>,
    results: Vec<Option<ModelResult>>,
    finished: usize,
    cancelled: bool,
    prices: Option<Arc<PriceTable>>,
}

impl Merge {
    /// The merge of `calls`, started at `start`, priced with `prices` (None: unpriced).
    pub(crate) fn new(
        request_id: String,
        calls: &[ChatRequest],
        start: Instant,
        prices: Option<Arc<PriceTable>>,
    ) -> Self {
        Self {
            request_id,
            start,
            seq: Seq(0),
            states: calls
                .iter()
                .map(|c| ModelState {
                    model: c.model.as_arc(),
                    messages: c.messages.clone(),
                    text: String::new(),
                    reasoning: String::new(),
                    tools: ToolCalls::default(),
                    usage: ReportedUsage::default(),
                    finish: None,
                    first_token: None,
                    last_token: None,
                    served_by: None,
                    attempts: Vec::new(),
                    history_trimmed: c.history_trimmed,
                    format: c.response_format.clone(),
                    done: false,
                    earlier: None,
                    calls: Vec::new(),
                    step: 1,
                    looped: false,
                    exchange: Vec::new(),
                    step_text_start: 0,
                })
                .collect(),
            results: (0..calls.len()).map(|_| None).collect(),
            finished: 0,
            cancelled: false,
            prices,
        }
    }

    fn push(&mut self, out: &mut Vec<Event>, kind: EventKind) {
        out.push(self.seq.next(kind));
    }

    /// The first events: `running`, then every model `connecting`.
    pub(crate) fn open(&mut self, out: &mut Vec<Event>) {
        self.push(
            out,
            EventKind::Status {
                status: RequestStatus::Running,
            },
        );
        for i in 0..self.states.len() {
            let model = self.states[i].model.clone();
            self.push(
                out,
                EventKind::Stage {
                    model_index: i,
                    model,
                    stage: Stage::Connecting,
                },
            );
        }
    }

    /// The comparison was cancelled: no more events are taken.
    pub(crate) fn cancel(&mut self) {
        self.cancelled = true;
    }

    /// Whether every model ended, or the comparison was cancelled.
    pub(crate) fn is_done(&self) -> bool {
        self.cancelled || self.finished == self.states.len()
    }

    /// Model `i`'s state (its usage is counted from it).
    pub(crate) fn model(&self, i: usize) -> &ModelState {
        &self.states[i]
    }

    /// The models that have not ended.
    pub(crate) fn unfinished(&self) -> Vec<usize> {
        (0..self.states.len())
            .filter(|&i| !self.states[i].done)
            .collect()
    }

    /// Takes call `i`'s event `raw`, seen at `now`: its events go to `out`; when the model
    /// ended, how — then count its usage and call [`Merge::finish`].
    pub(crate) fn on_event(
        &mut self,
        i: usize,
        raw: CallEvent,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> Option<Outcome> {
        if self.states.get(i).is_none_or(|st| st.done) {
            return None;
        }
        let st = &mut self.states[i];
        let ev = match raw {
            CallEvent::Attempt(a) => {
                st.attempts.push(a);
                return None;
            }
            CallEvent::ServedBy(m) => {
                st.served_by = Some(m);
                return None;
            }
            CallEvent::Failed(e) => {
                // `attempts` lists the failures *before* the last; the last is `error`.
                let last = ErrorInfo::from(&e);
                if st.attempts.last().is_some_and(|a| a.error == last) {
                    st.attempts.pop();
                }
                return Some(Outcome::Failed(e));
            }
            CallEvent::End => return Some(Outcome::Done),
            // A runner saying its call was cancelled under it (not the comparison's own
            // cancel): that model ends `cancelled`, the others go on.
            CallEvent::Cancel => return Some(Outcome::Failed(Error::Cancelled)),
            CallEvent::StepEnd => {
                self.end_step(i, out);
                return None;
            }
            CallEvent::ToolResult(r) => {
                st.looped = true;
                // Kept for the history when it answers a call of the step that ended (a
                // call refused past `max_steps` has no step: it is left out).
                if let Some(step) = st.exchange.last_mut()
                    && step.calls.iter().any(|c| c.id == r.call_id)
                {
                    step.results.push(crate::types::event::ToolStepResult {
                        call_id: r.call_id.clone(),
                        content: r.content.clone(),
                        is_error: r.is_error,
                    });
                }
                let model = st.model.clone();
                self.push(
                    out,
                    EventKind::ToolResult {
                        model_index: i,
                        model,
                        call_id: r.call_id,
                        name: r.name,
                        content: r.content,
                        is_error: r.is_error,
                        duration_ms: r.duration_ms,
                        replayed: r.replayed,
                    },
                );
                return None;
            }
            CallEvent::Action(a) => {
                let model = st.model.clone();
                self.push(
                    out,
                    EventKind::Action {
                        model_index: i,
                        model,
                        call_id: a.call_id,
                        name: a.name,
                        arguments: a.arguments,
                        timeout_ms: a.timeout_ms,
                    },
                );
                return None;
            }
            CallEvent::Event(ev) => ev,
        };
        let first = st.first_token.is_none();
        let kind = match ev {
            ProviderEvent::TextDelta(delta) => {
                if delta.is_empty() {
                    return None;
                }
                st.text.push_str(&delta);
                Some(EventKind::ResponseChunk {
                    model_index: i,
                    model: st.model.clone(),
                    delta,
                })
            }
            ProviderEvent::ReasoningDelta(delta) => {
                if delta.is_empty() {
                    return None;
                }
                st.reasoning.push_str(&delta);
                Some(EventKind::ReasoningChunk {
                    model_index: i,
                    model: st.model.clone(),
                    delta,
                })
            }
            ProviderEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                st.tools.push(index, id, name, &arguments);
                None
            }
            ProviderEvent::Usage(u) => {
                st.usage.merge(&u);
                return None;
            }
            ProviderEvent::Finish { reason, raw } => {
                st.finish = Some((reason, raw));
                return None;
            }
        };
        // tokens/s is measured first to last token, not skewed by a slow usage report or
        // connection close after them.
        st.last_token = Some(now);
        let model = st.model.clone();
        if first {
            st.first_token = Some(now);
            self.push(
                out,
                EventKind::Stage {
                    model_index: i,
                    model,
                    stage: Stage::Streaming,
                },
            );
        }
        if let Some(kind) = kind {
            self.push(out, kind);
        }
        None
    }

    /// Model `i`'s step ended: its tool calls and the step (with its usage) are published,
    /// and the next step starts from nothing but what the model said so far.
    fn end_step(&mut self, i: usize, out: &mut Vec<Event>) {
        let st = &mut self.states[i];
        let model = st.model.clone();
        let calls = st.take_tool_calls();
        let r = std::mem::take(&mut st.usage);
        st.earlier = Some(st.earlier.map_or(r, |e| e.add(&r)));
        st.finish = None;
        let step = st.step;
        st.step += 1;
        st.looped = true;
        let usage = Usage {
            input_tokens: r.input_tokens.unwrap_or(0),
            output_tokens: r.output_tokens.unwrap_or(0),
            cached_input_tokens: r.cached_input_tokens.unwrap_or(0),
            cache_write_tokens: r.cache_write_tokens.unwrap_or(0),
            cache_write_1h_tokens: r.cache_write_1h_tokens.unwrap_or(0),
            audio_input_tokens: r.audio_input_tokens.unwrap_or(0),
            reasoning_tokens: r.reasoning_tokens.unwrap_or(0),
            audio_output_tokens: r.audio_output_tokens.unwrap_or(0),
            source: if r.input_tokens.is_some() && r.output_tokens.is_some() {
                UsageSource::Reported
            } else {
                UsageSource::Estimated
            },
        };
        for t in &calls {
            self.push(
                out,
                EventKind::ToolCall {
                    model_index: i,
                    model: model.clone(),
                    id: t.id.clone(),
                    name: t.name.clone(),
                    arguments: t.arguments.clone(),
                },
            );
        }
        let st = &mut self.states[i];
        let text = st
            .text
            .get(st.step_text_start..)
            .unwrap_or_default()
            .to_string();
        st.step_text_start = st.text.len();
        st.exchange.push(crate::types::event::ToolStep {
            text,
            calls: calls.clone(),
            results: Vec::new(),
        });
        self.states[i].calls.extend(calls);
        self.push(
            out,
            EventKind::Step {
                model_index: i,
                model,
                step,
                usage,
            },
        );
    }

    /// Ends model `i` (at `end`, with `usage` counted): its closing events and its result.
    pub(crate) fn finish(
        &mut self,
        i: usize,
        outcome: Outcome,
        end: Instant,
        usage: Usage,
        out: &mut Vec<Event>,
    ) {
        let prices = self.prices.clone();
        let (events, result) = finish_model(
            i,
            &mut self.states[i],
            outcome,
            (self.start, end),
            prices.as_deref(),
            usage,
        );
        for kind in events {
            self.push(out, kind);
        }
        self.push(out, EventKind::ModelResult(Box::new(result.clone())));
        self.results[i] = Some(result);
        self.finished += 1;
    }

    /// The last events (at `now`): the final status and `complete` with every result and the
    /// totals.
    pub(crate) fn complete(&mut self, now: Instant, out: &mut Vec<Event>) {
        let results: Vec<ModelResult> = self.results.iter_mut().filter_map(Option::take).collect();
        let status = if self.cancelled {
            RequestStatus::Cancelled
        } else if results.iter().all(|r| r.error.is_some()) {
            RequestStatus::Failed
        } else {
            RequestStatus::Completed
        };
        let totals = Totals::of(&results);
        self.push(out, EventKind::Status { status });
        let complete = Complete {
            request_id: std::mem::take(&mut self.request_id),
            status,
            results,
            totals,
            duration_ms: ms(now - self.start),
        };
        self.push(out, EventKind::Complete(complete));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pricing::cost::ModelPrice;
    use crate::types::error::ProviderError;
    use crate::types::money::Usd;
    use crate::types::request::ModelId;

    fn calls(models: &[&str]) -> Vec<ChatRequest> {
        models
            .iter()
            .map(|m| ChatRequest::new(ModelId::parse(m).unwrap(), vec![Message::user("hi")]))
            .collect()
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    fn text(s: &str) -> CallEvent {
        CallEvent::Event(ProviderEvent::TextDelta(s.into()))
    }

    fn kinds(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let v = serde_json::to_value(e).unwrap();
                let t = v["type"].as_str().unwrap().to_string();
                match (v.get("model_index"), v.get("stage").or(v.get("status"))) {
                    (Some(i), Some(s)) => format!("{t}:{i}:{}", s.as_str().unwrap()),
                    (Some(i), None) => format!("{t}:{i}"),
                    (None, Some(s)) => format!("{t}:{}", s.as_str().unwrap()),
                    (None, None) => t,
                }
            })
            .collect()
    }

    #[test]
    fn events_are_numbered_staged_timed_and_priced() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut prices = PriceTable::empty();
        prices.set("sim/a", ModelPrice::per_million("1", "2").unwrap());
        let mut m = Merge::new(
            "r".into(),
            &calls(&["sim/a", "sim/b"]),
            t0,
            Some(Arc::new(prices)),
        );
        let mut out = Vec::new();
        m.open(&mut out);
        // Model 0: empty deltas, usage and finish make no events; the first text does.
        assert!(m.on_event(0, text(""), at(5), &mut out).is_none());
        assert!(m.on_event(0, text("Hel"), at(10), &mut out).is_none());
        assert!(m.on_event(0, text("lo"), at(30), &mut out).is_none());
        let reported = ReportedUsage {
            input_tokens: Some(4),
            ..ReportedUsage::default()
        };
        m.on_event(
            0,
            CallEvent::Event(ProviderEvent::Usage(reported)),
            at(31),
            &mut out,
        );
        m.on_event(
            0,
            CallEvent::Event(ProviderEvent::Finish {
                reason: FinishReason::Length,
                raw: Some("max_tokens".into()),
            }),
            at(31),
            &mut out,
        );
        let Some(Outcome::Done) = m.on_event(0, CallEvent::End, at(32), &mut out) else {
            panic!("model 0 ended")
        };
        m.finish(
            0,
            Outcome::Done,
            at(40),
            usage(1_000_000, 1_000_000),
            &mut out,
        );
        // Model 1 fails after a retry: its attempts keep only the earlier failure.
        let err = |msg: &str| Error::from(ProviderError::new(ErrorCode::Server, msg));
        for msg in ["first", "second"] {
            m.on_event(
                1,
                CallEvent::Attempt(Attempt {
                    model: "sim/b".into(),
                    error: ErrorInfo::from(&err(msg)),
                }),
                at(50),
                &mut out,
            );
        }
        let Some(outcome) = m.on_event(1, CallEvent::Failed(err("second")), at(60), &mut out)
        else {
            panic!("model 1 ended")
        };
        m.finish(1, outcome, at(60), usage(1, 0), &mut out);
        assert!(m.is_done());
        // Nothing is taken from a model that ended.
        assert!(m.on_event(0, text("late"), at(70), &mut out).is_none());
        m.complete(at(100), &mut out);

        assert_eq!(
            kinds(&out),
            [
                "status:running",
                "stage:0:connecting",
                "stage:1:connecting",
                "stage:0:streaming",
                "response_chunk:0",
                "response_chunk:0",
                "stage:0:done",
                "model_result:0",
                "error:1",
                "stage:1:failed",
                "model_result:1",
                "status:completed",
                "complete:completed",
            ]
        );
        let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
        let EventKind::Complete(c) = &out[12].kind else {
            panic!("complete")
        };
        let a = &c.results[0];
        assert_eq!(a.text, "Hello");
        assert_eq!(a.finish_reason, Some(FinishReason::Length));
        assert_eq!(a.raw_finish_reason.as_deref(), Some("max_tokens"));
        assert_eq!(a.timing.ttft_ms, Some(10.0));
        assert_eq!(a.timing.total_ms, 40.0);
        // $1 + $2 per million, a million of each.
        assert_eq!(a.cost.total_usd, Some(Usd(3_000_000_000_000)));
        let b = &c.results[1];
        assert_eq!(b.error.as_ref().unwrap().message, "second");
        assert_eq!(b.attempts.len(), 1);
        assert_eq!(b.attempts[0].error.message, "first");
        assert!(!b.cost.priced, "sim/b has no price");
        assert_eq!(c.totals.input_tokens, 1_000_001);
        assert!(!c.totals.priced);
        assert_eq!(c.duration_ms, 100.0);
    }

    #[test]
    fn tool_calls_assemble_from_deltas_and_a_new_id_restarts_one() {
        let t0 = Instant::now();
        let mut m = Merge::new("r".into(), &calls(&["sim/a"]), t0, None);
        let mut out = Vec::new();
        m.open(&mut out);
        let delta = |index, id: Option<&str>, name: Option<&str>, args: &str| {
            CallEvent::Event(ProviderEvent::ToolCallDelta {
                index,
                id: id.map(str::to_string),
                name: name.map(str::to_string),
                arguments: args.into(),
            })
        };
        for ev in [
            delta(0, Some("c0"), Some("get_"), ""),
            delta(0, None, Some("weather"), "{\"city\":"),
            delta(0, None, None, "\"Paris\"}"),
            // Slot 1 skipped (a provider's text block), slot 2 restarted under a new id.
            delta(2, Some("old"), Some("stale"), "{}"),
            delta(2, Some("c2"), Some("now"), "{}"),
        ] {
            m.on_event(0, ev, t0, &mut out);
        }
        let outcome = m.on_event(0, CallEvent::End, t0, &mut out).unwrap();
        m.finish(0, outcome, t0, usage(1, 1), &mut out);
        let calls: Vec<(String, String, String)> = out
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ToolCall {
                    id,
                    name,
                    arguments,
                    ..
                } => Some((id.clone(), name.clone(), arguments.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            [
                (
                    "c0".into(),
                    "get_weather".into(),
                    "{\"city\":\"Paris\"}".into()
                ),
                ("c2".into(), "now".into(), "{}".into()),
            ]
        );
    }

    #[test]
    fn a_cancel_ends_the_rest_cancelled_and_failures_alone_fail_the_comparison() {
        let t0 = Instant::now();
        let mut m = Merge::new("r".into(), &calls(&["sim/a", "sim/b"]), t0, None);
        let mut out = Vec::new();
        m.open(&mut out);
        m.on_event(0, text("partial"), t0, &mut out);
        m.cancel();
        assert!(m.is_done());
        assert_eq!(m.unfinished(), [0, 1]);
        for i in m.unfinished() {
            m.finish(i, Outcome::Cancelled, t0, usage(0, 0), &mut out);
        }
        m.complete(t0, &mut out);
        let EventKind::Complete(c) = &out.last().unwrap().kind else {
            panic!("complete")
        };
        assert_eq!(c.status, RequestStatus::Cancelled);
        assert_eq!(c.results[0].finish_reason, Some(FinishReason::Cancelled));
        assert_eq!(c.results[0].text, "partial");
        assert!(c.results[0].partial);

        // Every model failing (one of them cancelled by its runner) fails the comparison.
        let mut m = Merge::new("r".into(), &calls(&["sim/a", "sim/b"]), t0, None);
        let mut out = Vec::new();
        m.open(&mut out);
        for (i, ev) in [
            (0, CallEvent::Failed(Error::Internal("boom".into()))),
            (1, CallEvent::Cancel),
        ] {
            let outcome = m.on_event(i, ev, t0, &mut out).unwrap();
            m.finish(i, outcome, t0, usage(0, 0), &mut out);
        }
        m.complete(t0, &mut out);
        let EventKind::Complete(c) = &out.last().unwrap().kind else {
            panic!("complete")
        };
        assert_eq!(c.status, RequestStatus::Failed);
        assert_eq!(
            c.results[1].error.as_ref().map(|e| e.code),
            Some(ErrorCode::Cancelled)
        );
    }
}
