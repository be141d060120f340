//! A model's tool loop (agent comparisons): model → tool calls → their results back in the
//! provider's native shape → model …, until an answer without tool calls or `max_steps`.
//! Each step is an ordinary call of the engine's [`Runner`] (retries, fallbacks, timeouts);
//! the step's calls run concurrently under [`ToolLimits`]; the loop's events go to the merge
//! as one call's ([`CallEvent::StepEnd`], [`CallEvent::ToolResult`]). Every model runs its
//! own loop; dropping the stream (cancel) drops the step under way and aborts its tools.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered};

use crate::engine::call::Action;
use crate::engine::call::CallEvent;
use crate::engine::merge::ToolCalls;
use crate::engine::runner::{PlannedCall, Runner};
use crate::providers::provider::ProviderEvent;
use crate::tools::ToolResult;
use crate::tools::{Awaiting, ClientTools, ToolExecutor, ToolLimits, arguments, execute};
use crate::types::content::Content;
use crate::types::request::Message;
use crate::types::request::ToolCall;

/// How a loop runs.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Runs the tools.
    pub tools: Arc<dyn ToolExecutor>,
    /// Most steps (model calls) per model.
    pub max_steps: u32,
    /// Each tool call's timeout and result size.
    pub limits: ToolLimits,
    /// Client-side tools (also among `tools`): their calls go out as `action` events and
    /// wait for the client's result.
    pub client: Option<Arc<ClientTools>>,
}

/// `planned`'s tool loop as one call's events.
pub(crate) fn run(
    runner: Arc<dyn Runner>,
    mut planned: PlannedCall,
    opts: LoopOptions,
) -> BoxStream<'static, CallEvent> {
    let stream = async_stream::stream! {
        let mut step = 1u32;
        loop {
            let mut calls = ToolCalls::default();
            let mut text = String::new();
            let mut ended = false;
            let mut inner = runner.run(planned.clone());
            while let Some(ev) = inner.next().await {
                match &ev {
                    CallEvent::Event(ProviderEvent::ToolCallDelta { index, id, name, arguments }) => {
                        calls.push(*index, id.clone(), name.clone(), arguments);
                    }
                    CallEvent::Event(ProviderEvent::TextDelta(t)) => text.push_str(t),
                    CallEvent::End => {
                        ended = true;
                        break;
                    }
                    _ => {}
                }
                let last = ev.is_last() || ev == CallEvent::Cancel;
                yield ev;
                if last {
                    return;
                }
            }
            drop(inner);
            let made = calls.take();
            if !ended || made.is_empty() {
                yield CallEvent::End;
                return;
            }
            if step >= opts.max_steps {
                // The model asks for more than it may: it is told, and the loop ends (its
                // finish reason stays `tool_calls`).
                for c in &made {
                    yield CallEvent::ToolResult(refused(c, opts.max_steps));
                }
                yield CallEvent::End;
                return;
            }
            yield CallEvent::StepEnd;
            // Client-side calls go out first (each registered before its `action`, so a quick
            // client finds it waiting); their results come back like any tool's.
            let model_index = planned.call.model_index;
            let mut runs: Vec<Arc<dyn ToolExecutor>> = Vec::with_capacity(made.len());
            // The calls waiting for the client (given up at their timeout: forgotten at once,
            // so a late result is refused rather than sent nowhere).
            let mut waiting: Vec<Option<Arc<ClientTools>>> = Vec::with_capacity(made.len());
            for c in &made {
                match opts.client.as_ref().filter(|cl| cl.has(&c.name)) {
                    Some(client) => {
                        let tool = client.tools().into_iter().find(|t| t.function.name == c.name);
                        match (tool, arguments(client.as_ref(), c)) {
                            (Some(tool), Ok(args)) => {
                                let rx = client.expect(model_index, &c.id);
                                runs.push(Arc::new(Awaiting::new(tool, rx)));
                                waiting.push(Some(client.clone()));
                                yield CallEvent::Action(Action {
                                    call_id: c.id.clone(),
                                    name: c.name.clone(),
                                    arguments: args,
                                    timeout_ms: u64::try_from(opts.limits.timeout.as_millis()).unwrap_or(u64::MAX),
                                });
                            }
                            // Bad arguments: `execute` turns them into the error result.
                            _ => {
                                runs.push(client.clone());
                                waiting.push(None);
                            }
                        }
                    }
                    None => {
                        runs.push(opts.tools.clone());
                        waiting.push(None);
                    }
                }
            }
            // The step's calls at once; each result is published as it comes, and goes back
            // to the model in the order the calls were made.
            let mut results: Vec<Option<ToolResult>> = vec![None; made.len()];
            let mut running: FuturesUnordered<_> = made
                .iter()
                .zip(runs.into_iter().zip(waiting))
                .enumerate()
                .map(|(i, (c, (tools, waiting)))| {
                    let limits = opts.limits;
                    async move {
                        let r = execute(tools, c, limits).await;
                        if let Some(client) = waiting {
                            client.forget(model_index, &c.id);
                        }
                        (i, r)
                    }
                })
                .collect();
            while let Some((i, r)) = running.next().await {
                yield CallEvent::ToolResult(r.clone());
                results[i] = Some(r);
            }
            drop(running);
            let mut turn = vec![Message::assistant_tool_calls(text, made)];
            turn.extend(results.into_iter().flatten().map(|r| {
                Message::tool_result(r.call_id, r.content)
            }));
            planned.call.request.messages.extend(turn.iter().cloned());
            for c in &mut planned.candidates {
                c.request.messages.extend(turn.iter().cloned());
            }
            step += 1;
        }
    };
    stream.boxed()
}

/// The result of a call made past `max_steps`.
fn refused(call: &ToolCall, max_steps: u32) -> ToolResult {
    ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: Content::Text(format!(
            "not run: this model's tool loop reached its limit of {max_steps} steps"
        )),
        is_error: true,
        duration_ms: 0.0,
        replayed: false,
    }
}
