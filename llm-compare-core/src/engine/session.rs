//! Multi-turn comparisons: each model sees its own earlier answers.
//!
//! A [`Session`] holds the models, an optional system prompt and the turns so far. For a new
//! user message, [`Session::calls_for`] builds one request per model whose history is that
//! model's own conversation; [`Engine::compare_in_session`] runs them and records the turn
//! when `complete` arrives. [`InMemorySession`] keeps turns in memory; the persistence layer
//! provides a database-backed one.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::engine::comparison::{CompareOptions, Comparison, Engine};
use crate::pricing::cost::PriceTable;
use crate::pricing::tokens;
use crate::types::content::Content;
use crate::types::error::{Error, Result};
use crate::types::event::{Complete, EventKind};
use crate::types::request::{ChatRequest, Message, ModelId, Params, Role};

/// One turn of a session: the user's message and every model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The comparison that answered it.
    pub request_id: String,
    /// What the user said: text, or text with images and files (sent again in later turns).
    pub user: Content,
    /// Each model's answer by `model_index` (`None` when it produced nothing).
    pub answers: Vec<Option<String>>,
    /// Each model's tool exchanges by `model_index` (an agent comparison's steps; empty
    /// otherwise): sent again before its answer, so each model keeps its own tool history.
    pub exchanges: Vec<Vec<crate::types::event::ToolStep>>,
}

impl Turn {
    /// The turn a finished comparison answered.
    pub fn from_complete(user: impl Into<Content>, complete: &Complete) -> Self {
        Self {
            request_id: complete.request_id.clone(),
            user: user.into(),
            answers: complete
                .results
                .iter()
                .map(|r| (!r.text.is_empty()).then(|| r.text.clone()))
                .collect(),
            exchanges: complete
                .results
                .iter()
                .map(|r| r.exchange.clone())
                .collect(),
        }
    }
}

/// `messages` with every tool exchange (an assistant message's calls and the tool results
/// after it) written into the next assistant message's text as `[tool name(arguments) →
/// result]` lines: for a turn that offers no tools, since providers refuse native tool
/// messages without tool definitions (Anthropic) — the model still sees what happened.
pub fn flatten_tool_history(messages: Vec<Message>) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    let mut pending = String::new();
    let mut names: std::collections::HashMap<String, (String, String)> =
        std::collections::HashMap::new();
    for m in messages {
        match m.role {
            Role::Assistant if !m.tool_calls.is_empty() => {
                let said = m.content.text();
                if !said.is_empty() {
                    pending.push_str(&said);
                    pending.push('\n');
                }
                for c in m.tool_calls {
                    names.insert(c.id, (c.name, c.arguments));
                }
            }
            Role::Tool => {
                let (name, args) = m
                    .tool_call_id
                    .as_ref()
                    .and_then(|id| names.remove(id))
                    .unwrap_or_default();
                pending.push_str(&format!("[tool {name}({args}) → {}]\n", m.content.text()));
            }
            Role::Assistant if !pending.is_empty() => {
                let text = format!("{pending}{}", m.content.text());
                pending.clear();
                out.push(Message::assistant(text));
            }
            _ => out.push(m),
        }
    }
    out
}

/// The messages of one model's earlier turn after the user's: each tool step (what it said
/// with its calls, then their results in call order), then its answer (the text after the
/// steps').
fn answer_messages(answer: &str, steps: &[crate::types::event::ToolStep], out: &mut Vec<Message>) {
    let mut rest = answer;
    for step in steps {
        // A step whose calls did not all get a result cannot be sent (providers refuse an
        // unanswered call): the exchange stops there.
        let results: Option<Vec<&crate::types::event::ToolStepResult>> = step
            .calls
            .iter()
            .map(|c| step.results.iter().find(|r| r.call_id == c.id))
            .collect();
        let Some(results) = results else { break };
        rest = rest.strip_prefix(step.text.as_str()).unwrap_or(rest);
        out.push(Message::assistant_tool_calls(
            step.text.clone(),
            step.calls.clone(),
        ));
        out.extend(
            results
                .into_iter()
                .map(|r| Message::tool_result(r.call_id.clone(), r.content.clone())),
        );
    }
    out.push(Message::assistant(rest));
}

/// A multi-turn comparison.
#[async_trait]
pub trait Session: Send + Sync + std::fmt::Debug {
    /// The session's id.
    fn id(&self) -> &str;

    /// Its models, by `model_index`.
    fn models(&self) -> &[ModelId];

    /// Its system prompt.
    fn system(&self) -> Option<&str>;

    /// The turns so far, oldest first.
    async fn turns(&self) -> Result<Vec<Turn>>;

    /// Records a finished turn.
    async fn push_turn(&self, turn: Turn) -> Result<()>;

    /// One request per model for a new user message: the system prompt, then for every
    /// earlier turn the user's message (with its attachments) and *that model's* answer (a
    /// turn the model did not answer is left out of its history, keeping user/assistant
    /// alternation), then `user`.
    ///
    /// History that does not fit the model's context window (from `prices`; counted with
    /// the tokenizer) is dropped oldest turn first; the request's `history_trimmed` says how
    /// many turns were left out.
    async fn calls_for(
        &self,
        user: &Content,
        params: &Params,
        prices: &PriceTable,
    ) -> Result<Vec<ChatRequest>> {
        if user.text().trim().is_empty() {
            return Err(Error::invalid("prompt", "the prompt must not be empty"));
        }
        let turns = self.turns().await?;
        let system = self.system().filter(|s| !s.is_empty());
        Ok(self
            .models()
            .iter()
            .enumerate()
            .map(|(i, model)| {
                let history: Vec<(&Content, &str, &[crate::types::event::ToolStep])> = turns
                    .iter()
                    .filter_map(|t| match t.answers.get(i) {
                        Some(Some(answer)) => Some((
                            &t.user,
                            answer.as_str(),
                            t.exchanges.get(i).map_or(&[][..], Vec::as_slice),
                        )),
                        _ => None,
                    })
                    .collect();
                let window = prices.get(model.as_str()).and_then(|p| p.max_input_tokens);
                let kept = fitting_history(model.as_str(), system, &history, user, window);
                let mut messages = Vec::with_capacity(kept * 2 + 2);
                if let Some(s) = system {
                    messages.push(Message::system(s));
                }
                for (u, a, steps) in &history[history.len() - kept..] {
                    // Attachments are shared (`Arc`): every turn and model holds them once.
                    messages.push(Message::user((*u).clone()));
                    answer_messages(a, steps, &mut messages);
                }
                messages.push(Message::user(user.clone()));
                ChatRequest {
                    params: params.clone(),
                    history_trimmed: u32::try_from(history.len() - kept).unwrap_or(u32::MAX),
                    ..ChatRequest::new(model.clone(), messages)
                }
            })
            .collect())
    }
}

/// Tokens a message costs beyond its text (role and framing), as OpenAI counts them.
const MESSAGE_OVERHEAD: u64 = 4;

/// How many of the newest `history` turns fit `window` input tokens together with the system
/// prompt and the new message (all of them when the window is unknown). When not even the
/// new message fits, no history is kept and the provider reports the overflow.
fn fitting_history(
    model: &str,
    system: Option<&str>,
    history: &[(&Content, &str, &[crate::types::event::ToolStep])],
    user: &Content,
    window: Option<u64>,
) -> usize {
    let Some(window) = window else {
        return history.len();
    };
    let cost = |text: &str| tokens::count_tokens(text, model) + MESSAGE_OVERHEAD;
    let content_cost = |c: &Content| tokens::count_content_tokens(c, model) + MESSAGE_OVERHEAD;
    let mut used = 3 + content_cost(user) + system.map_or(0, cost);
    let mut kept = 0;
    // A turn's tool exchange counts too: calls' arguments and results are sent again.
    let steps_cost = |steps: &[crate::types::event::ToolStep]| -> u64 {
        steps
            .iter()
            .map(|s| {
                s.calls
                    .iter()
                    .map(|c| cost(&c.name) + cost(&c.arguments))
                    .sum::<u64>()
                    + s.results
                        .iter()
                        .map(|r| content_cost(&r.content))
                        .sum::<u64>()
            })
            .sum()
    };
    for (u, a, steps) in history.iter().rev() {
        used += content_cost(u) + cost(a) + steps_cost(steps);
        if used > window {
            break;
        }
        kept += 1;
    }
    kept
}

/// A [`Session`] kept in memory.
#[derive(Debug)]
pub struct InMemorySession {
    id: String,
    models: Vec<ModelId>,
    system: Option<String>,
    turns: Mutex<Vec<Turn>>,
}

impl InMemorySession {
    /// A new, empty session over `models` (checked against `engine`'s providers).
    pub fn new(engine: &Engine, models: &[String], system: Option<String>) -> Result<Self> {
        if models.is_empty() {
            return Err(Error::invalid("models", "at least one model is required"));
        }
        if models.len() > engine.max_models() {
            return Err(Error::invalid(
                "models",
                format!("at most {} models per session", engine.max_models()),
            ));
        }
        let models = models
            .iter()
            .map(|m| engine.providers().resolve(m).map(|(id, _)| id))
            .collect::<Result<_>>()?;
        Ok(Self {
            id: uuid::Uuid::now_v7().to_string(),
            models,
            system,
            turns: Mutex::new(Vec::new()),
        })
    }
}

impl InMemorySession {
    /// A session as it was: `turns` recorded elsewhere (a database), continued in memory.
    pub fn restore(
        id: impl Into<String>,
        models: Vec<ModelId>,
        system: Option<String>,
        turns: Vec<Turn>,
    ) -> Self {
        Self {
            id: id.into(),
            models,
            system,
            turns: Mutex::new(turns),
        }
    }
}

#[async_trait]
impl Session for InMemorySession {
    fn id(&self) -> &str {
        &self.id
    }
    fn models(&self) -> &[ModelId] {
        &self.models
    }
    fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }
    async fn turns(&self) -> Result<Vec<Turn>> {
        Ok(self.turns.lock().clone())
    }
    async fn push_turn(&self, turn: Turn) -> Result<()> {
        self.turns.lock().push(turn);
        Ok(())
    }
}

impl Engine {
    /// Runs the next turn of `session`: every model gets its own history plus `user`.
    /// The turn is recorded in the session when the comparison completes (a cancelled
    /// turn is not recorded).
    pub async fn compare_in_session(
        &self,
        session: Arc<dyn Session>,
        user: impl Into<Content>,
        params: &Params,
    ) -> Result<Comparison> {
        params.validate()?;
        let user = user.into();
        user.check("prompt", self.max_attachment_bytes())?;
        let calls = session.calls_for(&user, params, self.prices()).await?;
        let inner = self.compare_calls(calls, CompareOptions::default())?;
        let request_id = inner.request_id().to_string();
        let models = inner.models().to_vec();
        let cancel = inner.cancel_token();
        let recorded = async_stream::stream! {
            let mut inner = inner;
            while let Some(event) = inner.next().await {
                if let EventKind::Complete(c) = &event.kind
                    && c.status != crate::types::event::RequestStatus::Cancelled
                {
                    // A failed write must not lose the answer the user is about to see.
                    let _ = session.push_turn(Turn::from_complete(user.clone(), c)).await;
                }
                yield event;
            }
        };
        Ok(Comparison::from_parts(
            request_id,
            models,
            cancel,
            recorded.boxed(),
        ))
    }
}
