//! Durability: a registry decorator that writes what is published into the [`Store`] —
//! each model's result before its `model_result` is sent, the comparison before `complete`,
//! and streamed text every half second, never per token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use llm_compare_core::{
    Event, EventKind, EventStream, Registration, RequestInfo, RequestRegistry, Result,
};
use llm_compare_store::{NewComparison, Store};
use parking_lot::Mutex;

/// How often streamed text is saved while models stream.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Text streamed since the last save, per comparison.
struct Progress {
    texts: Vec<String>,
    dirty: Vec<bool>,
    models: Vec<String>,
    saved_at: Instant,
}

/// A registry that persists what flows through it.
#[derive(Debug)]
pub struct PersistingRegistry {
    inner: Arc<dyn RequestRegistry>,
    store: Arc<dyn Store>,
    progress: Mutex<HashMap<String, Progress>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl PersistingRegistry {
    /// Wraps `inner`, writing into `store`.
    pub fn new(inner: Arc<dyn RequestRegistry>, store: Arc<dyn Store>) -> Self {
        Self {
            inner,
            store,
            progress: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl RequestRegistry for PersistingRegistry {
    async fn register(
        &self,
        owner: &str,
        models: &[String],
        metadata: Option<serde_json::Value>,
    ) -> Result<Registration> {
        let reg = self.inner.register(owner, models, metadata.clone()).await?;
        let created_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let record = NewComparison {
            id: reg.id.clone(),
            owner: owner.to_string(),
            models: models.to_vec(),
            metadata,
            created_at_ms,
        };
        if let Err(e) = self.store.create_comparison(&record).await {
            // Not recorded, not run: nothing would survive a restart.
            reg.cancel.cancel();
            return Err(e);
        }
        self.progress.lock().insert(
            reg.id.clone(),
            Progress {
                texts: vec![String::new(); models.len()],
                dirty: vec![false; models.len()],
                models: models.to_vec(),
                saved_at: Instant::now(),
            },
        );
        Ok(reg)
    }

    async fn publish(&self, id: &str, events: Vec<Event>) -> Result<()> {
        // Collect under the lock, write after it.
        let mut to_save: Vec<(usize, String, String)> = Vec::new();
        {
            let mut progress = self.progress.lock();
            if let Some(p) = progress.get_mut(id) {
                for e in &events {
                    if let EventKind::ResponseChunk {
                        model_index, delta, ..
                    } = &e.kind
                        && let Some(t) = p.texts.get_mut(*model_index)
                    {
                        t.push_str(delta);
                        p.dirty[*model_index] = true;
                    }
                }
                if p.saved_at.elapsed() >= PROGRESS_EVERY {
                    p.saved_at = Instant::now();
                    for (i, dirty) in p.dirty.iter_mut().enumerate() {
                        if std::mem::take(dirty) {
                            to_save.push((i, p.models[i].clone(), p.texts[i].clone()));
                        }
                    }
                }
            }
        }
        for (i, model, text) in to_save {
            self.store.save_progress(id, i, &model, &text).await?;
        }
        // Results and the end are on disk before anyone can read them.
        for e in &events {
            match &e.kind {
                EventKind::ModelResult(r) => self.store.save_result(id, r).await?,
                EventKind::Complete(c) => {
                    self.store.finish_comparison(id, c).await?;
                    self.progress.lock().remove(id);
                }
                _ => {}
            }
        }
        self.inner.publish(id, events).await
    }

    async fn status(&self, owner: &str, id: &str) -> Result<RequestInfo> {
        self.inner.status(owner, id).await
    }

    async fn subscribe(&self, owner: &str, id: &str, after_seq: u64) -> Result<EventStream> {
        self.inner.subscribe(owner, id, after_seq).await
    }

    async fn events(&self, owner: &str, id: &str, after_seq: u64) -> Result<Vec<Event>> {
        self.inner.events(owner, id, after_seq).await
    }

    async fn cancel(&self, owner: &str, id: &str) -> Result<()> {
        self.inner.cancel(owner, id).await
    }
}
