//! Submitting a comparison: admission to an active slot, the budget hold, the stored record
//! and the registered run.

use std::sync::Arc;

use llm_compare_core::{
    ActiveLease, ChatRequest, CompareOptions, Error, NewRequest, Result, now_ms,
};

use crate::keys::Principal;
use crate::{ComparisonKind, NewComparison};

use super::bodies::{CreateComparison, Submitted, ToolSpec, check_metadata, with_attachments};
use super::{Service, check_models, slot_backoff};

/// What a valid [`CreateComparison`] turns into.
pub(super) struct Prepared {
    calls: Vec<ChatRequest>,
    /// Its category and tags, checked.
    labels: (Option<String>, Vec<String>),
    /// With executable tools: the loop's options.
    agent: Option<CompareOptions>,
    metadata: Option<serde_json::Value>,
    session_id: Option<String>,
    prompt: Option<String>,
    /// The prompt's images and files, stored with it.
    attachments: Vec<llm_compare_core::Part>,
    blind: bool,
}

impl Service {
    /// `user`'s turn to pass from a free slot to a submission (one at a time per user).
    pub(crate) async fn admission(&self, user: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut all = self.admissions.lock();
            // Users with no row waiting are forgotten.
            all.retain(|_, l| Arc::strong_count(l) > 1);
            all.entry(user.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// One of `who`'s active slots, waited for while all are taken (an evaluation's rows and
    /// judge calls queue behind each other and behind the caller's other work): asking
    /// writes nothing and holds no budget.
    pub(crate) async fn wait_for_slot(&self, who: &Principal) -> Result<ActiveLease> {
        let mut waited = 0u32;
        loop {
            match self.registry.lease(&who.user, None).await {
                Err(Error::RateLimited { .. }) => {
                    tokio::time::sleep(slot_backoff(waited)).await;
                    waited = waited.saturating_add(1);
                }
                other => return other,
            }
        }
    }

    /// Checks `body`, records it (with its budget hold) when there is a store, registers it
    /// and starts its model calls; its events are then read from the registry.
    pub async fn submit(&self, who: &Principal, body: CreateComparison) -> Result<Submitted> {
        self.submit_with(who, body, None).await
    }

    /// [`Service::submit`] with the embedder's own tools (Python or Node functions) beside
    /// the server's, named in the body's `tools`.
    pub async fn submit_with(
        &self,
        who: &Principal,
        body: CreateComparison,
        embedder: Option<Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Result<Submitted> {
        let owner = who.user.as_str();
        let Prepared {
            labels,
            mut calls,
            agent,
            metadata,
            session_id,
            prompt,
            attachments,
            blind,
        } = {
            // Recorded results replay as tool results: checked as attachments are.
            for (i, r) in body.cassette.iter().flatten().enumerate() {
                r.content.check(
                    &format!("cassette[{i}].content"),
                    self.engine.max_attachment_bytes(),
                )?;
            }
            // The server's tools it names: the key must grant each (before anything runs).
            if embedder.is_none() {
                for (i, t) in body.tools.iter().flatten().enumerate() {
                    if let ToolSpec::Name(name) = t {
                        who.check_tool(name, &format!("tools[{i}]"))?;
                    }
                }
            }
            self.prepare(owner, body, self.tools_with(embedder)).await?
        };
        // Before anything is recorded or called.
        check_models(who, &self.engine, &calls)?;
        let key_lease = self.key_lease(who).await?;
        if blind {
            // Position must not give the models away either.
            fastrand::shuffle(&mut calls);
        }
        let history_trimmed = session_id
            .is_some()
            .then(|| calls.iter().map(|c| c.history_trimmed).collect());
        let models: Vec<String> = calls.iter().map(|c| c.model.to_string()).collect();
        let mut new = NewRequest::new(owner, models.clone()).metadata(metadata.clone());
        new.blind = blind;
        new.instance = self.instance.clone();
        if let Some(store) = &self.store {
            // Within the owner's attachment quota (before anything is written).
            let adding: u64 = attachments
                .iter()
                .filter_map(|p| llm_compare_store::AttachmentRef::of(p).ok().flatten())
                .filter(|(_, data)| data.is_some())
                .filter_map(|(r, _)| r.size)
                .sum();
            let quota = self.limits.attachment_quota_bytes;
            if adding > 0 && quota < u64::MAX {
                let stored = store.attachment_bytes(owner).await?;
                if stored.saturating_add(adding) > quota {
                    return Err(crate::limits::over_quota(quota, stored, adding));
                }
            }
            // An agent comparison may call each model up to `max_steps` times: the hold is the
            // worst case of every step.
            let steps = agent.as_ref().map_or(1, |o| i64::from(o.max_steps));
            let reservation = self.reservation(who, &calls)?.map(|mut r| {
                for p in &mut r.per_model_pico {
                    *p = p.saturating_mul(steps);
                }
                r
            });
            // Recorded (and its worst case held against the budget) before any upstream call.
            store
                .create_comparison(&NewComparison {
                    id: new.id.clone(),
                    owner: owner.to_string(),
                    models: models.clone(),
                    metadata,
                    created_at_ms: now_ms(),
                    session_id,
                    prompt: prompt.clone(),
                    blind,
                    instance: self.instance.clone(),
                    reservation,
                    kind: ComparisonKind::Comparison,
                    attachments,
                    category: labels.0,
                    tags: labels.1,
                })
                .await?;
        }
        let pending_id = new.id.clone();
        if let Some(client) = agent.as_ref().and_then(|o| o.client_tools.as_ref()) {
            // Registered before the first call can make an `action`.
            let mut all = self.client_tools.lock();
            all.retain(|_, w| w.strong_count() > 0);
            all.insert(pending_id.clone(), Arc::downgrade(client));
        }
        let request_id = match self
            .engine
            .submit_calls_holding(
                self.registry.clone(),
                new,
                calls,
                key_lease,
                agent.unwrap_or_default(),
            )
            .await
        {
            Ok(id) => id,
            Err(e) => {
                if let Some(store) = &self.store {
                    // Never ran: release its hold, leave no record.
                    let _ = store.discard_comparison(&pending_id).await;
                }
                return Err(e);
            }
        };
        let models = if blind {
            (0..models.len())
                .map(llm_compare_core::blind_label)
                .collect()
        } else {
            models
        };
        Ok(Submitted {
            request_id,
            models,
            history_trimmed,
            prompt,
        })
    }

    /// Checks the body and plans one call per model (a session's next turn with
    /// `session_id`).
    pub(super) async fn prepare(
        &self,
        owner: &str,
        body: CreateComparison,
        tools: Option<Arc<dyn llm_compare_core::tools::ToolExecutor>>,
    ) -> Result<Prepared> {
        let blind = body.blind == Some(true);
        if (blind || body.session_id.is_some()) && self.store.is_none() {
            let field = if blind { "blind" } else { "session_id" };
            return Err(Error::NotConfigured(format!(
                "`{field}`: sessions and blind comparisons need a store (a database), and none is configured"
            )));
        }
        let agent = body.agent(tools.as_ref())?;
        let labels = body.labels()?;
        let Some(session_id) = body.session_id.clone() else {
            let (request, metadata) = body.into_request()?;
            let last = request.messages.last();
            return Ok(Prepared {
                labels,
                calls: self.engine.plan(&request)?,
                agent,
                metadata,
                session_id: None,
                prompt: last.map(|m| m.content.text().into_owned()),
                attachments: last
                    .map(|m| m.content.media().map(|(_, p)| p.clone()).collect())
                    .unwrap_or_default(),
                blind,
            });
        };
        if body.messages.is_some() {
            return Err(Error::invalid(
                "messages",
                "a session turn takes a prompt; the session holds the history",
            ));
        }
        if body.system.is_some() {
            return Err(Error::invalid(
                "system",
                "a session's system prompt is set when the session is created",
            ));
        }
        let Some(prompt) = body.prompt.clone() else {
            return Err(Error::invalid(
                "prompt",
                "prompt is required to continue a session",
            ));
        };
        let params = body.params.clone().unwrap_or_default();
        params.validate()?;
        check_metadata(body.metadata.as_ref())?;
        if let Some(f) = &body.response_format {
            f.check("response_format")?;
        }
        let attachments = body.attachments.clone().unwrap_or_default();
        llm_compare_core::Content::Parts(attachments.clone())
            .check("attachments", self.engine.max_attachment_bytes())?;
        let user = with_attachments(prompt.clone(), Some(attachments.clone()));
        // Refused now, while all of the owner's slots are taken, rather than after the
        // session's history — every earlier attachment's bytes — is read into memory.
        drop(self.registry.lease(owner, None).await?);
        let mut calls = self
            .next_turn(owner, &session_id, &user, &body.models, &params)
            .await?;
        for c in &mut calls {
            c.tools = body.definitions();
            c.tool_choice = body.tool_choice.clone();
            c.response_format = body.response_format.clone();
            if c.tools.is_empty() && agent.is_none() {
                // Earlier tool exchanges as text: no tools this turn.
                c.messages =
                    llm_compare_core::flatten_tool_history(std::mem::take(&mut c.messages));
            }
        }
        Ok(Prepared {
            labels,
            calls,
            agent,
            metadata: body.metadata,
            session_id: Some(session_id),
            prompt: Some(prompt),
            attachments,
            blind,
        })
    }
}
