//! One model call, made resilient: timeouts (connect, first token, idle gap, total),
//! retries with exponential backoff and jitter (honouring `Retry-After` up to a cap) and
//! fallback models — all only *before* the first token reaches the user. A failure after
//! that ends the call with the text so far (the engine marks it partial).
//!
//! The in-process runner is this: it turns candidates (the model, then its fallbacks) into
//! the [`CallEvent`]s the merge loop consumes. The types are defined here, where they are
//! made; the runners (and their JSON-lines protocol) build on them, not the other way round.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::Instant;
use tracing::Instrument;

use crate::engine::policy::CallPolicy;
use crate::providers::provider::{Provider, ProviderEvent};
use crate::tools::ToolResult;
use crate::types::error::{Error, ErrorCode, ProviderError};
use crate::types::event::{Attempt, ErrorInfo};
use crate::types::request::ChatRequest;

/// One model that may answer a call: the requested one or a fallback.
#[derive(Clone)]
pub struct Candidate {
    /// The call for this model.
    pub request: ChatRequest,
    /// Its provider.
    pub provider: Arc<dyn Provider>,
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("model", &self.request.model)
            .finish_non_exhaustive()
    }
}

/// What a model call hands the engine's merge loop.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A provider event.
    Event(ProviderEvent),
    /// An attempt failed before its first token (it is retried or falls back).
    Attempt(Attempt),
    /// A fallback model is answering.
    ServedBy(Arc<str>),
    /// The call failed for good.
    Failed(Error),
    /// The call ended normally.
    End,
    /// The call was cancelled: from the engine's cancel stream, the comparison's cancel;
    /// from a runner, its call alone ends `cancelled`.
    Cancel,
    /// A step of the model's tool loop ended: the tool calls it made run next, and a new
    /// step starts with their results.
    StepEnd,
    /// A tool's result, fed back to the model.
    ToolResult(ToolResult),
    /// A call of a client-side tool, waiting for the client's result.
    Action(Action),
}

/// A call of a client-side tool ([`CallEvent::Action`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    /// The call's id.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments (checked against the tool's schema).
    pub arguments: serde_json::Value,
    /// How long the result is waited for, in milliseconds.
    pub timeout_ms: u64,
}

fn is_content(ev: &ProviderEvent) -> bool {
    matches!(
        ev,
        ProviderEvent::TextDelta(_)
            | ProviderEvent::ReasoningDelta(_)
            | ProviderEvent::ToolCallDelta { .. }
    )
}

fn timeout(what: &str, limit: Duration) -> Error {
    ProviderError::new(
        ErrorCode::Timeout,
        format!("{what} ({} ms)", limit.as_millis()),
    )
    .into()
}

/// The wait before retry number `retry` (0-based): `Retry-After` when given (if within the
/// cap; else `None`: fail over instead), otherwise exponential backoff with jitter.
fn backoff(policy: &CallPolicy, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if let Some(ra) = retry_after {
        return (ra <= policy.max_retry_after).then_some(ra);
    }
    let exp = policy
        .backoff
        .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
        .min(policy.max_backoff);
    // "Equal jitter": half fixed, half random — spreads retries without ever waiting ~0.
    let half = exp / 2;
    Some(half + half.mul_f64(fastrand::f64()))
}

/// Runs one call through its candidates under `policy`.
pub(crate) fn run(candidates: Vec<Candidate>, policy: CallPolicy) -> BoxStream<'static, CallEvent> {
    let stream = async_stream::stream! {
        let t = policy.timeouts;
        let total_deadline = Instant::now() + t.total;
        let mut last_error: Option<Error> = None;
        let mut attempts = 0u32;
        'candidates: for (ci, cand) in candidates.into_iter().enumerate() {
            let model = cand.request.model.as_arc();
            let mut retry = 0u32;
            loop {
                attempts += 1;
                // The upstream request is made, and read, inside it (`traceparent`).
                let span = crate::trace::attempt(attempts, &cand.request.model);
                let attempt_start = Instant::now();
                if attempt_start >= total_deadline {
                    last_error = Some(timeout("the call exceeded its total timeout", t.total));
                    break 'candidates;
                }
                let connect_deadline = (attempt_start + t.connect).min(total_deadline);
                let connect = cand.provider.stream(cand.request.clone()).instrument(span.clone());
                let err = match tokio::time::timeout_at(connect_deadline, connect).await {
                    Err(_) if connect_deadline == total_deadline => timeout("the call exceeded its total timeout", t.total),
                    Err(_) => timeout("no response from the provider within the connect timeout", t.connect),
                    Ok(Err(e)) => e,
                    Ok(Ok(events)) => {
                        let mut events = crate::trace::in_span(events, &span);
                        let first_deadline = (attempt_start + t.first_token).min(total_deadline);
                        let mut got_output = false;
                        // Usage/finish before any content is held back: if this attempt fails,
                        // it must not leak into the next one's result.
                        let mut held: Vec<ProviderEvent> = Vec::new();
                        // One timer for the whole attempt, re-armed only when it fires early:
                        // no timer work per chunk on the hot path, just a clock read.
                        let timer = tokio::time::sleep_until(first_deadline);
                        tokio::pin!(timer);
                        let mut last_chunk = attempt_start;
                        let err = loop {
                            tokio::select! {
                                biased;
                                item = events.next() => match item {
                                    None => {
                                        if ci > 0 {
                                            yield CallEvent::ServedBy(model.clone());
                                        }
                                        for h in held.drain(..) {
                                            yield CallEvent::Event(h);
                                        }
                                        yield CallEvent::End;
                                        return;
                                    }
                                    Some(Ok(ev)) => {
                                        if got_output {
                                            last_chunk = Instant::now();
                                            yield CallEvent::Event(ev);
                                        } else if is_content(&ev) {
                                            got_output = true;
                                            last_chunk = Instant::now();
                                            timer.as_mut().reset((last_chunk + t.idle).min(total_deadline));
                                            if ci > 0 {
                                                yield CallEvent::ServedBy(model.clone());
                                            }
                                            for h in held.drain(..) {
                                                yield CallEvent::Event(h);
                                            }
                                            yield CallEvent::Event(ev);
                                        } else {
                                            held.push(ev);
                                        }
                                    }
                                    Some(Err(e)) => break e,
                                },
                                () = &mut timer => {
                                    let now = Instant::now();
                                    if now >= total_deadline {
                                        break timeout("the call exceeded its total timeout", t.total);
                                    }
                                    if !got_output {
                                        break timeout("no first token within the first-token timeout", t.first_token);
                                    }
                                    let due = (last_chunk + t.idle).min(total_deadline);
                                    if due > now {
                                        timer.as_mut().reset(due);
                                    } else {
                                        break timeout("no data from the provider within the idle timeout", t.idle);
                                    }
                                }
                            }
                        };
                        if got_output {
                            // Tokens already reached the user: no retry, keep the partial text.
                            crate::trace::record_error(&span, ErrorInfo::from(&err).code.as_str());
                            yield CallEvent::Failed(err);
                            return;
                        }
                        err
                    }
                };
                let error = ErrorInfo::from(&err);
                crate::trace::record_error(&span, error.code.as_str());
                drop(span);
                yield CallEvent::Attempt(Attempt { model: model.clone(), error });
                if err.is_retryable() && retry < policy.retries
                    && let Some(wait) = backoff(&policy, retry, err.retry_after())
                    && Instant::now() + wait < total_deadline
                {
                    tokio::time::sleep(wait).await;
                    retry += 1;
                    continue;
                }
                last_error = Some(err);
                continue 'candidates;
            }
        }
        yield CallEvent::Failed(last_error.unwrap_or_else(|| Error::Internal("no model to call".into())));
    };
    stream.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let p = CallPolicy::default();
        for retry in 0..6 {
            let w = backoff(&p, retry, None).unwrap();
            let exp = (p.backoff * 2u32.pow(retry)).min(p.max_backoff);
            assert!(w >= exp / 2 && w <= exp, "retry {retry}: {w:?} vs {exp:?}");
        }
        assert_eq!(
            backoff(&p, 0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(backoff(&p, 0, Some(Duration::from_secs(3600))), None);
        assert!(backoff(&p, 40, None).unwrap() <= p.max_backoff);
    }
}
