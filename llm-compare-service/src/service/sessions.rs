//! Sessions: the next turn planned from the stored history, and the session routes.

use std::collections::HashMap;
use std::sync::Arc;

use llm_compare_core::{
    ChatRequest, Error, InMemorySession, ModelId, Params, Result, Session as _, now_ms,
};

use crate::keys::Principal;
use crate::{NewSession, SessionSummary};

use super::Service;
use super::bodies::CreateSession;
use super::snapshot::{SessionDetail, stored_snapshot, turn_of};

impl Service {
    /// The calls of the next turn of `session_id` for `prompt`: every model with its own
    /// history (trimmed oldest-first to its context window). `models`, when given, must be
    /// the session's.
    pub(super) async fn next_turn(
        &self,
        owner: &str,
        session_id: &str,
        prompt: &llm_compare_core::Content,
        models: &[String],
        params: &Params,
    ) -> Result<Vec<ChatRequest>> {
        let store = self.store_for("sessions need")?;
        let Some(s) = store.session(owner, session_id).await? else {
            return Err(Error::invalid(
                "session_id",
                format!("no session `{session_id}` (unknown or not yours)"),
            ));
        };
        if s.turns.iter().any(|t| !t.status.is_terminal()) {
            return Err(Error::Conflict(
                "the session's previous turn is still running: wait for its `complete`, or cancel it"
                    .into(),
            ));
        }
        if !models.is_empty() && models != s.summary.models.as_slice() {
            return Err(Error::invalid(
                "models",
                format!(
                    "a session's models are fixed: omit models or give {:?}",
                    s.summary.models
                ),
            ));
        }
        // The stored turns are the history (their attachments read once each, shared by
        // every turn and model that sends them); the new turn is recorded as a comparison.
        let mut blobs: HashMap<String, Arc<str>> = HashMap::new();
        for r in s.turns.iter().flat_map(|t| &t.attachments) {
            if let Some(h) = &r.sha256
                && !blobs.contains_key(h)
            {
                let Some(a) = store.attachment(h).await? else {
                    return Err(Error::Internal(format!(
                        "session `{session_id}`: attachment {h} is missing from the store"
                    )));
                };
                blobs.insert(h.clone(), a.data);
            }
        }
        let session = InMemorySession::restore(
            s.summary.id.clone(),
            s.summary
                .models
                .iter()
                .map(|m| ModelId::parse(m))
                .collect::<Result<_>>()?,
            s.summary.system.clone(),
            s.turns.iter().filter_map(|t| turn_of(t, &blobs)).collect(),
        );
        session
            .calls_for(prompt, params, self.engine.prices())
            .await
    }

    /// Starts a session for `owner`: its models (resolved, aliases applied) and system
    /// prompt are fixed for every turn.
    pub async fn create_session(
        &self,
        who: &Principal,
        body: CreateSession,
    ) -> Result<SessionSummary> {
        let owner = who.user.as_str();
        let store = self.store_for("sessions need")?;
        if body.models.is_empty() {
            return Err(Error::invalid("models", "at least one model is required"));
        }
        if body.models.len() > self.engine.max_models() {
            return Err(Error::invalid(
                "models",
                format!("at most {} models per session", self.engine.max_models()),
            ));
        }
        if body.title.as_ref().is_some_and(|t| t.chars().count() > 200) {
            return Err(Error::invalid(
                "title",
                "the title is limited to 200 characters",
            ));
        }
        let models = body
            .models
            .iter()
            .map(|m| {
                self.engine
                    .providers()
                    .resolve(self.engine.policies().resolve_alias(m))
                    .map(|(id, _)| id.to_string())
            })
            .collect::<Result<Vec<_>>>()?;
        for m in &models {
            who.check_model(m)?;
        }
        let s = NewSession {
            id: uuid::Uuid::now_v7().to_string(),
            owner: owner.to_string(),
            title: body.title,
            models,
            system: body.system.filter(|s| !s.is_empty()),
            created_at_ms: now_ms(),
        };
        store.create_session(&s).await?;
        Ok(SessionSummary {
            id: s.id,
            title: s.title,
            models: s.models,
            system: s.system,
            created_at_ms: s.created_at_ms,
            turns: 0,
        })
    }

    /// `owner`'s sessions, newest first, at most `limit`, older than session id `before`.
    pub async fn sessions(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<SessionSummary>> {
        self.store_for("sessions need")?
            .sessions(owner, limit, before)
            .await
    }

    /// `owner`'s session `id` with every turn.
    pub async fn session(&self, owner: &str, id: &str) -> Result<SessionDetail> {
        let store = self.store_for("sessions need")?;
        let Some(s) = store.session(owner, id).await? else {
            return Err(crate::not_yours("session", id));
        };
        Ok(SessionDetail {
            session: s.summary,
            turns: s.turns.into_iter().map(stored_snapshot).collect(),
        })
    }

    /// Deletes `owner`'s session `id` and its turns (running turns are cancelled first);
    /// its votes leave the leaderboard.
    pub async fn delete_session(&self, owner: &str, id: &str) -> Result<()> {
        let store = self.store_for("sessions need")?;
        if let Some(s) = store.session(owner, id).await? {
            for t in s.turns.iter().filter(|t| !t.status.is_terminal()) {
                // Gone from the registry already is fine: nothing left to stop.
                let _ = self.registry.cancel(owner, &t.id).await;
            }
        }
        if !store.delete_session(owner, id).await? {
            return Err(crate::not_yours("session", id));
        }
        self.votes.invalidate().await;
        Ok(())
    }
}
