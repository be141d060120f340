//! The runner seam: where one model call of a comparison is executed.
//!
//! The engine plans each model's call ([`PlannedCall`]: the request, its fallbacks, its policy)
//! and asks a [`Runner`] for the call's [`CallEvent`]s, which its merge loop turns into the
//! comparison's events (timing, usage, cost, results). [`InProcessRunner`] — the default —
//! calls the providers from this process. Other runners execute the call elsewhere (a
//! Kubernetes Job running `llm-compare worker`) and read the same events back as JSON lines
//! ([`CallEvent::into_line`], [`read_lines`]), so a comparison looks the same whichever runner
//! ran it. Dropping a call's stream cancels the call.

use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::engine::call;
pub(crate) use crate::engine::call::{CallEvent, Candidate};
use crate::engine::policy::CallPolicy;
use crate::providers::provider::{ProviderEvent, ReportedUsage};
use crate::types::error::{Error, ErrorCode, ProviderError};
use crate::types::event::{Attempt, ErrorInfo, FinishReason};
use crate::types::request::ChatRequest;

/// One model call as it crosses a process boundary: enough for a worker with the same
/// configuration to make it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    /// The comparison's id.
    pub request_id: String,
    /// The model's position in the comparison.
    pub model_index: usize,
    /// The call (model, messages, params, tools).
    pub request: ChatRequest,
    /// With tools: the model's whole tool loop runs where the call runs (a remote runner's
    /// worker), with these tools of its own configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_loop: Option<ToolLoop>,
}

/// A tool loop a worker runs ([`ModelCall::tool_loop`]): the configuration's tools it uses
/// (`[tools.*]`, `[mcp.*]`), and the loop's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolLoop {
    /// The tools, by name.
    pub tools: Vec<String>,
    /// Most steps.
    pub max_steps: u32,
    /// Each tool call's timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Largest tool result, in bytes.
    pub max_result_bytes: usize,
}

/// A model call as the engine planned it.
#[derive(Debug, Clone)]
pub struct PlannedCall {
    /// The call itself.
    pub call: ModelCall,
    /// The model, then its fallbacks, resolved to providers.
    pub candidates: Vec<Candidate>,
    /// Retries, backoff, timeouts, fallbacks.
    pub policy: CallPolicy,
}

/// Executes model calls.
pub trait Runner: Send + Sync + fmt::Debug {
    /// Starts `call`; its events end with [`CallEvent::End`] or [`CallEvent::Failed`].
    /// Dropping the stream cancels the call (and whatever runs it).
    fn run(&self, call: PlannedCall) -> BoxStream<'static, CallEvent>;

    /// Whether a call given a [`ModelCall::tool_loop`] runs the model's whole tool loop where
    /// it runs (a remote runner's worker: the tools must then be its configuration's), rather
    /// than one step, the engine running the loop.
    fn runs_whole_loops(&self) -> bool {
        false
    }
}

/// Calls the providers from this process (the default runner).
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcessRunner;

impl Runner for InProcessRunner {
    fn run(&self, call: PlannedCall) -> BoxStream<'static, CallEvent> {
        call::run(call.candidates, call.policy)
    }
}

/// [`CallEvent`] on the wire: one JSON object per line, tagged by `type`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Text {
        delta: String,
    },
    Reasoning {
        delta: String,
    },
    ToolCall {
        index: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        arguments: String,
    },
    Usage(ReportedUsage),
    Finish {
        reason: FinishReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        raw: Option<String>,
    },
    Attempt(Attempt),
    ServedBy {
        model: Arc<str>,
    },
    Failed(ErrorInfo),
    End,
    Cancel,
    Step,
    ToolResult(crate::tools::ToolResult),
    Action(crate::engine::call::Action),
}

impl CallEvent {
    /// Whether this is a call's last event ([`CallEvent::End`] or [`CallEvent::Failed`]).
    pub fn is_last(&self) -> bool {
        matches!(self, Self::End | Self::Failed(_))
    }

    /// This event as one line of JSON (no newline), as `llm-compare worker` writes it.
    /// Consumes the event: its text moves into the line instead of being copied per chunk.
    pub fn into_line(self) -> String {
        let line = match self {
            CallEvent::Event(ProviderEvent::TextDelta(delta)) => Line::Text { delta },
            CallEvent::Event(ProviderEvent::ReasoningDelta(delta)) => Line::Reasoning { delta },
            CallEvent::Event(ProviderEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            }) => Line::ToolCall {
                index,
                id,
                name,
                arguments,
            },
            CallEvent::Event(ProviderEvent::Usage(u)) => Line::Usage(u),
            CallEvent::Event(ProviderEvent::Finish { reason, raw }) => Line::Finish { reason, raw },
            CallEvent::Attempt(a) => Line::Attempt(a),
            CallEvent::ServedBy(model) => Line::ServedBy { model },
            CallEvent::Failed(e) => Line::Failed(ErrorInfo::from(&e)),
            CallEvent::End => Line::End,
            CallEvent::Cancel => Line::Cancel,
            CallEvent::StepEnd => Line::Step,
            CallEvent::ToolResult(r) => Line::ToolResult(r),
            CallEvent::Action(a) => Line::Action(a),
        };
        // Plain data (strings, numbers, enums): serializing cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Parses one line written by [`CallEvent::into_line`].
    pub fn from_line(line: &str) -> Result<Self, serde_json::Error> {
        Ok(match serde_json::from_str::<Line>(line)? {
            Line::Text { delta } => CallEvent::Event(ProviderEvent::TextDelta(delta)),
            Line::Reasoning { delta } => CallEvent::Event(ProviderEvent::ReasoningDelta(delta)),
            Line::ToolCall {
                index,
                id,
                name,
                arguments,
            } => CallEvent::Event(ProviderEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            }),
            Line::Usage(u) => CallEvent::Event(ProviderEvent::Usage(u)),
            Line::Finish { reason, raw } => CallEvent::Event(ProviderEvent::Finish { reason, raw }),
            Line::Attempt(a) => CallEvent::Attempt(a),
            Line::ServedBy { model } => CallEvent::ServedBy(model),
            // A provider error keeps the code, message and retryability it had in the worker.
            Line::Failed(info) => CallEvent::Failed(Error::Provider(
                ProviderError::new(info.code, info.message).retryable(info.retryable),
            )),
            Line::End => CallEvent::End,
            Line::Cancel => CallEvent::Cancel,
            Line::Step => CallEvent::StepEnd,
            Line::ToolResult(r) => CallEvent::ToolResult(r),
            Line::Action(a) => CallEvent::Action(a),
        })
    }
}

/// The events of a call read back from JSON lines (a worker's stdout, a pod's log), up to the
/// call's last event ([`CallEvent::End`] or [`CallEvent::Failed`]). Lines that are not events (a
/// log line that slipped in) are skipped. When the input ends, or fails, or the worker says it
/// was terminated (a `cancel` line) before the last event, the stream just ends: the caller
/// finds out why (see [`read_lines`]).
pub fn read_events<R>(input: R) -> BoxStream<'static, CallEvent>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    let stream = async_stream::stream! {
        let mut lines = input.lines();
        loop {
            let line = match lines.next_line().await {
                Ok(Some(line)) => line,
                // A read error is a cut like the end of the input: either way the call's last
                // event never came, and the caller asks its source why.
                Ok(None) | Err(_) => return,
            };
            let line = line.trim();
            if !line.starts_with('{') {
                continue;
            }
            let Ok(event) = CallEvent::from_line(line) else { continue };
            // The worker was terminated: its call is over without a last event, and the
            // caller asks its source why (a deadline, an eviction) rather than reporting a
            // bare `cancelled`.
            if event == CallEvent::Cancel {
                return;
            }
            let last = event.is_last();
            yield event;
            if last {
                return;
            }
        }
    };
    stream.boxed()
}

/// [`read_events`], where input that ends before the call's last event fails the call with
/// `cut` — e.g. "the worker's output ended before the call did" — as a `network` error.
pub fn read_lines<R>(input: R, cut: impl Into<String>) -> BoxStream<'static, CallEvent>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    let cut = cut.into();
    let mut events = read_events(input);
    let stream = async_stream::stream! {
        while let Some(event) = events.next().await {
            let last = event.is_last();
            yield event;
            if last {
                return;
            }
        }
        yield CallEvent::Failed(ProviderError::new(ErrorCode::Network, cut).into());
    };
    stream.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let events = vec![
            CallEvent::Attempt(Attempt {
                model: Arc::from("openai/x"),
                error: ErrorInfo {
                    code: ErrorCode::Overloaded,
                    message: "busy".into(),
                    retryable: true,
                },
            }),
            CallEvent::ServedBy(Arc::from("sim/echo")),
            CallEvent::Event(ProviderEvent::TextDelta("hé\nllo".into())),
            CallEvent::Event(ProviderEvent::ReasoningDelta("hm".into())),
            CallEvent::Event(ProviderEvent::ToolCallDelta {
                index: 1,
                id: Some("c1".into()),
                name: None,
                arguments: "{\"a\"".into(),
            }),
            CallEvent::Event(ProviderEvent::Usage(ReportedUsage {
                input_tokens: Some(3),
                output_tokens: None,
                cached_input_tokens: Some(1),
                cache_write_tokens: Some(2),
                cache_write_1h_tokens: Some(1),
                audio_input_tokens: None,
                reasoning_tokens: None,
                audio_output_tokens: Some(4),
                cost: Some(crate::types::money::Usd(1_500_000)),
            })),
            CallEvent::Event(ProviderEvent::Finish {
                reason: FinishReason::Length,
                raw: Some("max_tokens".into()),
            }),
            CallEvent::Failed(
                ProviderError::new(ErrorCode::Timeout, "too slow")
                    .retryable(false)
                    .into(),
            ),
            CallEvent::StepEnd,
            CallEvent::ToolResult(crate::tools::ToolResult {
                call_id: "c1".into(),
                name: "square".into(),
                content: "49".into(),
                is_error: false,
                duration_ms: 1.5,
                replayed: false,
            }),
            CallEvent::End,
            CallEvent::Cancel,
        ];
        for e in events {
            let line = e.clone().into_line();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(CallEvent::from_line(&line).unwrap(), e, "{line}");
        }
    }

    #[tokio::test]
    async fn read_lines_stops_at_the_end_and_reports_a_cut() {
        let input = b"starting\n{\"type\":\"text\",\"delta\":\"a\"}\n{\"type\":\"end\"}\n{\"type\":\"text\",\"delta\":\"x\"}\n";
        let got: Vec<_> = read_lines(&input[..], "cut").collect().await;
        assert_eq!(
            got,
            vec![
                CallEvent::Event(ProviderEvent::TextDelta("a".into())),
                CallEvent::End
            ]
        );
        let got: Vec<_> = read_lines(
            &b"{\"type\":\"text\",\"delta\":\"a\"}\n"[..],
            "the log stream ended early",
        )
        .collect()
        .await;
        match &got[..] {
            [CallEvent::Event(_), CallEvent::Failed(e)] => {
                assert_eq!(e.code(), ErrorCode::Network);
                assert!(e.to_string().contains("the log stream ended early"));
            }
            other => panic!("{other:?}"),
        }
        // A terminated worker's `cancel` ends its call; it never cancels the comparison.
        let got: Vec<_> = read_lines(&b"{\"type\":\"cancel\"}\n{\"type\":\"end\"}\n"[..], "cut")
            .collect()
            .await;
        assert!(
            matches!(&got[..], [CallEvent::Failed(e)] if e.code() == ErrorCode::Network),
            "{got:?}"
        );
    }
}
