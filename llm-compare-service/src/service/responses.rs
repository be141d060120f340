//! The Responses door's threads: a call of one model whose conversation is kept (`store`),
//! so that `previous_response_id` continues the same model's thread and the answer can be
//! read back — only by the user who asked. A thread is written behind the answer (group-
//! committed with the other writes, off the response path); a follow-up or a read of it
//! that arrives first waits for that write here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use llm_compare_core::{CompareRequest, Message, Result, now_ms};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::keys::Principal;
use crate::{ComparisonKind, ResponseThread};

use super::Service;
use super::chat::ChatCall;

/// A stored thread to continue: its model and its conversation.
#[derive(Debug, Clone)]
pub struct Thread {
    /// The model that answered it (a follow-up must use the same).
    pub model: String,
    /// Its conversation through the last answer (instructions are not carried over, as
    /// OpenAI's API does not carry them).
    pub messages: Vec<Message>,
}

/// How long a read waits for its thread's write before reading what is stored.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// The threads being written, by id: each a receiver that turns true when its write ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Writing(Arc<Mutex<HashMap<String, watch::Receiver<bool>>>>);

impl Writing {
    /// Waits (at most [`WRITE_WAIT`]) for thread `id`'s write, if one is under way.
    async fn settled(&self, id: &str) {
        let pending = self.0.lock().get(id).cloned();
        if let Some(mut done) = pending {
            let _ = tokio::time::timeout(WRITE_WAIT, done.wait_for(|d| *d)).await;
        }
    }
}

impl Service {
    /// An OpenAI Responses-API call (`POST /v1/responses`): one model's call as
    /// [`Service::chat_completion`] makes it, recorded as a `response`.
    pub async fn response(&self, who: &Principal, request: CompareRequest) -> Result<ChatCall> {
        self.door_call(who, request, ComparisonKind::Response).await
    }

    /// The thread of `who`'s stored answer `id`, to continue: [`Error::NotFound`] when it is
    /// unknown or another user's; [`Error::LimitExceeded`] (`response_thread_max_bytes`)
    /// when it, with `adding` bytes more, would pass the limit.
    pub async fn thread(&self, who: &Principal, id: &str, adding: usize) -> Result<Thread> {
        let t = self
            .kept_thread(who, id, "previous_response_id needs")
            .await?;
        let size = serde_json::to_vec(&t.messages).map_or(0, |v| v.len()) + adding;
        let max = self.limits.response_thread_max_bytes;
        if size > max {
            return Err(crate::Limits::exceeded(
                "response_thread_max_bytes",
                max,
                "previous_response_id",
                format!(
                    "the thread comes to {size} bytes with this input, past {max}: start a new thread"
                ),
            ));
        }
        Ok(Thread {
            model: t.model,
            messages: t.messages,
        })
    }

    /// Keeps `who`'s answer `id` (comparison `comparison_id` of `model`): the conversation
    /// through it and the answer as sent. Without a store nothing is kept (`Ok(false)`).
    pub async fn save_thread(
        &self,
        who: &Principal,
        id: &str,
        comparison_id: &str,
        thread: Thread,
        response: serde_json::Value,
    ) -> Result<bool> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        store
            .save_thread(&ResponseThread {
                id: id.to_string(),
                owner: who.user.clone(),
                comparison_id: comparison_id.to_string(),
                model: thread.model,
                messages: thread.messages,
                response,
                created_at_ms: now_ms(),
            })
            .await?;
        Ok(true)
    }

    /// [`Service::save_thread`] behind the answer: returns at once; a follow-up of `id` or a
    /// read of it on this server waits for the write. A write that fails is logged (the
    /// answer stands; only its follow-ups will not find it).
    pub fn keep_thread(
        &self,
        who: &Principal,
        id: &str,
        comparison_id: &str,
        thread: Thread,
        response: serde_json::Value,
    ) {
        if self.store.is_none() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let (done, pending) = watch::channel(false);
        self.threads.0.lock().insert(id.to_string(), pending);
        let (service, who, id, comparison_id) = (
            self.clone(),
            who.clone(),
            id.to_string(),
            comparison_id.to_string(),
        );
        tokio::spawn(async move {
            let saved = service
                .save_thread(&who, &id, &comparison_id, thread, response)
                .await;
            if let Err(e) = saved {
                tracing::warn!(target: "llm_compare::responses", response = %id, error = %e, "the response was not stored");
            }
            service.threads.0.lock().remove(&id);
            let _ = done.send(true);
        });
    }

    /// `who`'s stored answer `id`, as the door sent it.
    pub async fn stored_response(&self, who: &Principal, id: &str) -> Result<serde_json::Value> {
        Ok(self
            .kept_thread(who, id, "stored responses need")
            .await?
            .response)
    }

    /// `who`'s kept thread `id`, once a write of it under way here has ended.
    async fn kept_thread(&self, who: &Principal, id: &str, needs: &str) -> Result<ResponseThread> {
        let store = self.store_for(needs)?;
        self.threads.settled(id).await;
        store
            .thread(&who.user, id)
            .await?
            .ok_or_else(|| crate::not_yours("response", id))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Limits;
    use llm_compare_core::Error;

    async fn service(limits: Limits) -> Service {
        let dir = std::env::temp_dir().join(format!("llm-compare-test-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("threads.db").display());
        let store: crate::SharedStore = crate::SqlStore::open(&url).await.unwrap();
        let engine = llm_compare_core::Engine::new(llm_compare_core::ProviderRegistry::new());
        let registry = llm_compare_core::InMemoryRegistry::new(Default::default());
        Service::new(engine, Arc::new(registry), Some(store), Vec::new()).with_limits(limits)
    }

    #[tokio::test]
    async fn a_thread_is_its_owners_alone_and_bounded() {
        let s = service(Limits {
            response_thread_max_bytes: 200,
            ..Limits::default()
        })
        .await;
        let alice = Principal::user("alice");
        let thread = Thread {
            model: "sim/echo".into(),
            messages: vec![Message::user("hi"), Message::assistant("hi")],
        };
        let body = serde_json::json!({"id": "resp_1"});
        assert!(
            s.save_thread(&alice, "resp_1", "c1", thread, body.clone())
                .await
                .unwrap()
        );
        let t = s.thread(&alice, "resp_1", 10).await.unwrap();
        assert_eq!((t.model.as_str(), t.messages.len()), ("sim/echo", 2));
        assert_eq!(s.stored_response(&alice, "resp_1").await.unwrap(), body);
        let bob = Principal::user("bob");
        assert!(matches!(
            s.thread(&bob, "resp_1", 0).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.stored_response(&bob, "resp_1").await,
            Err(Error::NotFound(_))
        ));
        let e = s.thread(&alice, "resp_1", 500).await.unwrap_err();
        assert_eq!(e.code(), llm_compare_core::ErrorCode::LimitExceeded);

        // Kept behind the answer: a follow-up sent at once finds it.
        let thread = Thread {
            model: "sim/lorem".into(),
            messages: vec![Message::user("again")],
        };
        s.keep_thread(
            &alice,
            "resp_2",
            "c2",
            thread,
            serde_json::json!({"id": "resp_2"}),
        );
        let t = s.thread(&alice, "resp_2", 0).await.unwrap();
        assert_eq!(t.model, "sim/lorem");
        assert!(s.threads.0.lock().is_empty(), "the write's entry is gone");
    }
}
