//! Unstored calls: a comparison read by its caller alone (the bindings' `compare`), one
//! model's call, and chat completions and judge calls with their budget hold and ledger row.

use std::sync::Arc;

use futures::StreamExt;
use llm_compare_core::{
    ActiveLease, CompareOptions, CompareRequest, Comparison, Complete, Error, Event, EventKind,
    EventStream, ModelResult, RequestStatus, Result, Totals, now_ms,
};

use crate::backlog::Write;
use crate::keys::Principal;
use crate::persist::Persistence;
use crate::{ComparisonKind, NewComparison};

use super::bodies::CreateComparison;
use super::{Service, check_models, slot_backoff};

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
    pub(super) fn see(&mut self, e: &Event) {
        match &e.kind {
            EventKind::ModelResult(r) => self.results.push((**r).clone()),
            EventKind::Complete(c) => self.finish(c.clone()),
            _ => {}
        }
    }

    pub(super) fn finish(&mut self, complete: Complete) {
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

impl Service {
    /// Starts an unregistered comparison of `body`, read by the caller alone (the bindings'
    /// `compare`). Session turns and blind comparisons are stored, so they are refused here:
    /// they go through [`Service::submit`].
    pub fn compare(&self, body: CreateComparison) -> Result<Comparison> {
        self.compare_with(body, None)
    }

    /// The tools a request may name: the embedder's, then the server's.
    pub(super) fn tools_with(
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
        self.door_call(who, request, ComparisonKind::ChatCompletion)
            .await
    }

    /// An Anthropic-compatible message (`POST /v1/messages`): a call of one model as
    /// [`Service::chat_completion`] makes it, recorded as a `message`.
    pub async fn message(&self, who: &Principal, request: CompareRequest) -> Result<ChatCall> {
        self.door_call(who, request, ComparisonKind::Message).await
    }

    /// The input tokens of `request` (one model) as the project estimates them (tiktoken;
    /// providers count their own way): what `count_tokens` answers. The model must exist
    /// and be one the caller may use; nothing is called, held or recorded.
    pub fn count_tokens(&self, who: &Principal, request: &CompareRequest) -> Result<u64> {
        if request.models.len() != 1 {
            return Err(Error::invalid("model", "one model"));
        }
        let calls = self.engine.plan(request)?;
        check_models(who, &self.engine, &calls)?;
        Ok(calls
            .iter()
            .map(|c| {
                // The tool definitions count as the JSON the provider is sent.
                let tools = match serde_json::to_string(&c.tools) {
                    Ok(t) if !c.tools.is_empty() => {
                        llm_compare_core::pricing::count_tokens(&t, c.model.as_str())
                    }
                    _ => 0,
                };
                llm_compare_core::pricing::count_message_tokens(&c.messages, c.model.as_str())
                    + tools
            })
            .sum())
    }

    /// One model's call through a vendor's door: one of the owner's active slots, the
    /// budget hold, the record of `kind`.
    pub(super) async fn door_call(
        &self,
        who: &Principal,
        request: CompareRequest,
        kind: ComparisonKind,
    ) -> Result<ChatCall> {
        if request.models.len() != 1 {
            return Err(Error::invalid("model", "a chat completion has one model"));
        }
        let lease = self.registry.lease(&who.user, None).await?;
        self.held_call(who, request, kind, Some(lease)).await
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

    /// One model's call for `who`, recorded as `kind` (its worst case held first when
    /// budgets apply), holding `lease` (an active slot) until it ends.
    pub(super) async fn held_call(
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
}
