//! Reading a comparison: subscribe and resume its events, its snapshot, cassette and
//! attachments, cancel it, answer its client-side tools, list the caller's comparisons.

use std::collections::HashMap;

use futures::StreamExt;
use llm_compare_core::{Error, Event, EventKind, EventStream, RequestInfo, RequestStatus, Result};

use crate::ComparisonSummary;

use llm_compare_core::tools::ClientResult;

use super::Service;
use super::snapshot::{Folded, Snapshot, fold, stored_snapshot};

impl Service {
    /// Whether readers of comparison `id` (its registry entry `info`) must see "Model A", …
    /// instead of model ids: it is blind and has no vote yet.
    pub(super) async fn hides_models(&self, owner: &str, info: &RequestInfo) -> Result<bool> {
        if !info.blind {
            return Ok(false);
        }
        Ok(match &self.store {
            Some(store) => store
                .comparison(owner, &info.id)
                .await?
                .is_none_or(|c| c.preference.is_none()),
            None => true,
        })
    }

    /// `owner`'s request `id`'s events after `after_seq` (replayed, then live, to
    /// `complete`), with model names hidden while it is blind and not voted on.
    pub async fn subscribe(&self, owner: &str, id: &str, after_seq: u64) -> Result<EventStream> {
        Ok(self
            .resume(owner, id, after_seq)
            .await?
            .unwrap_or_else(|| Box::pin(futures::stream::empty())))
    }

    /// Like [`Service::subscribe`], but `None` when nothing is left to send: the comparison
    /// is finished and `after_seq` is at or past its last event (SSE answers that with
    /// `204 No Content`, which stops an `EventSource` reconnecting).
    pub async fn resume(
        &self,
        owner: &str,
        id: &str,
        after_seq: u64,
    ) -> Result<Option<EventStream>> {
        let info = self.registry.status(owner, id).await?;
        if info.status.is_terminal() && after_seq >= info.last_seq {
            return Ok(None);
        }
        let events = self.registry.subscribe(owner, id, after_seq).await?;
        if !self.hides_models(owner, &info).await? {
            return Ok(Some(events));
        }
        Ok(Some(Box::pin(events.map(Event::blinded))))
    }

    /// Comparison `id` now: status, each model's text so far and results — from the
    /// registry while it holds it, else from the store.
    pub async fn snapshot(&self, owner: &str, id: &str) -> Result<Snapshot> {
        let info = match self.registry.status(owner, id).await {
            Ok(info) => info,
            Err(e) => {
                // Gone from memory (expired, or the server restarted): the store still has it.
                if let Some(store) = &self.store
                    && let Some(c) = store.comparison(owner, id).await?
                {
                    return Ok(stored_snapshot(c));
                }
                return Err(e);
            }
        };
        let stored = match &self.store {
            Some(store) => store.comparison(owner, id).await?,
            None => None,
        };
        let hide = info.blind && stored.as_ref().is_none_or(|c| c.preference.is_none());
        let (preference, prompt, session_id, attachments, category, tags) = match stored {
            Some(c) => (
                c.preference.map(Into::into),
                c.prompt,
                c.session_id,
                c.attachments,
                c.category,
                c.tags,
            ),
            None => (None, None, None, Vec::new(), None, Vec::new()),
        };
        let events = self.registry.events(owner, id, 0).await?;
        let Folded {
            models,
            totals,
            duration_ms,
        } = fold(&info.models, events);
        let mut snap = Snapshot {
            request_id: info.id,
            status: info.status,
            created_at_ms: info.created_at_ms,
            last_seq: info.last_seq,
            models,
            totals,
            duration_ms,
            metadata: info.metadata,
            preference,
            prompt,
            session_id,
            blind: info.blind,
            attachments,
            category,
            tags,
        };
        if hide {
            snap.blind();
        }
        Ok(snap)
    }

    /// The tool calls of `owner`'s agent comparison `id` with their results, one per (tool,
    /// arguments): a cassette a later comparison replays (`cassette`). Read from its events,
    /// while the server still has them (the retention window).
    pub async fn cassette(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Vec<llm_compare_core::tools::Recording>> {
        use llm_compare_core::tools::{Recording, canonical};
        let events = self.registry.events(owner, id, 0).await?;
        let mut calls: HashMap<(usize, String), (String, serde_json::Value)> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in events {
            match e.kind {
                EventKind::ToolCall {
                    model_index,
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    let args = serde_json::from_str(&arguments).unwrap_or(serde_json::Value::Null);
                    calls.insert((model_index, id), (name, args));
                }
                EventKind::ToolResult {
                    model_index,
                    call_id,
                    content,
                    is_error,
                    ..
                } => {
                    if let Some((tool, arguments)) = calls.remove(&(model_index, call_id))
                        && seen.insert((tool.clone(), canonical(&arguments)))
                    {
                        out.push(Recording {
                            tool,
                            arguments,
                            content,
                            is_error,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The bytes and media type of attachment `index` of `owner`'s stored comparison `id`.
    pub async fn attachment(
        &self,
        owner: &str,
        id: &str,
        index: usize,
    ) -> Result<(String, Vec<u8>)> {
        use base64::Engine as _;
        let store = self.store_for("attachments are kept in")?;
        let Some(c) = store.comparison(owner, id).await? else {
            return Err(crate::not_yours("comparison", id));
        };
        let Some(r) = c.attachments.get(index) else {
            return Err(Error::NotFound(format!(
                "comparison `{id}` has {} attachment(s); no attachment {index}",
                c.attachments.len()
            )));
        };
        let (Some(sha), None) = (&r.sha256, &r.url) else {
            return Err(Error::NotFound(format!(
                "attachment {index} of `{id}` was given as a URL ({}); its bytes are not stored",
                r.url.as_deref().unwrap_or_default()
            )));
        };
        let Some(a) = store.attachment(sha).await? else {
            return Err(Error::Internal(format!(
                "comparison `{id}`: attachment {sha} is missing from the store"
            )));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.data.trim_end())
            .map_err(|e| Error::Internal(format!("attachment {sha} does not decode: {e}")))?;
        Ok((a.media_type, bytes))
    }

    /// Cancels `owner`'s comparison `id`; its status right after (`cancelled` once the
    /// models stopped; a finished comparison keeps its status).
    pub async fn cancel(&self, owner: &str, id: &str) -> Result<RequestStatus> {
        self.registry.cancel(owner, id).await?;
        // Cancellation is immediate upstream; give the driver a moment to record it.
        let mut status = self.registry.status(owner, id).await?.status;
        for _ in 0..50 {
            if status.is_terminal() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            status = self.registry.status(owner, id).await?.status;
        }
        Ok(status)
    }

    /// Hands the client's `results` to the calls of client-side tools of `owner`'s comparison
    /// `id` waiting for them — all of them, or none when one names a call that is not waiting
    /// (answered already, given up at its timeout, never made): [`Error::Conflict`] naming it.
    pub async fn tool_results(
        &self,
        owner: &str,
        id: &str,
        results: Vec<ClientResult>,
    ) -> Result<usize> {
        if results.is_empty() {
            return Err(Error::invalid("results", "at least one result"));
        }
        // Not found, or another owner's: the registry says so.
        let status = self.registry.status(owner, id).await?.status;
        let client = self.client_tools.lock().get(id).and_then(|w| w.upgrade());
        let Some(client) = client else {
            return Err(Error::Conflict(if status.is_terminal() {
                format!("the comparison `{id}` has finished: no tool call waits for a result")
            } else {
                format!(
                    "the comparison `{id}` has no client-side tools running on this server (`client_tools`)"
                )
            }));
        };
        // The same checks as a request's own attachments (type, signature, size).
        for (i, r) in results.iter().enumerate() {
            r.content.check(
                &format!("results[{i}].content"),
                self.engine.max_attachment_bytes(),
            )?;
        }
        client.deliver(results.clone()).map_err(|i| {
            let r = &results[i];
            Error::Conflict(format!(
                "results[{i}]: no call waits for this result (model_index {}, call_id `{}`): answered already, given up at its timeout, or never made",
                r.model_index, r.call_id
            ))
        })
    }

    /// `owner`'s comparisons outside sessions, newest first, at most `limit`, older than
    /// comparison id `before`.
    pub async fn comparisons(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<ComparisonSummary>> {
        self.store_for("listing comparisons needs")?
            .comparisons(owner, limit, before)
            .await
    }
}
