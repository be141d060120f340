//! Durability: a registry observer that writes what is published into the [`Store`] —
//! each model's result before its `model_result` is sent, the comparison before `complete`,
//! and streamed text every half second, never per token. (The comparison itself is recorded
//! by the handler before it is registered, together with its budget reservation.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llm_compare_core::{Event, EventKind, NewRequest, Registration, RegistryObserver, Result};
use parking_lot::Mutex;

use crate::Store;

/// How often streamed text is saved while models stream.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Text streamed since the last save, per comparison.
struct Progress {
    texts: Vec<String>,
    dirty: Vec<bool>,
    models: Vec<String>,
    saved_at: Instant,
}

/// Persists what flows through the registry.
#[derive(Debug)]
pub struct Persistence {
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

impl Persistence {
    /// Writes into `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            progress: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl RegistryObserver for Persistence {
    async fn registered(&self, request: &NewRequest, reg: &Registration) -> Result<()> {
        let n = request.models.len();
        self.progress.lock().insert(
            reg.id.clone(),
            Progress {
                texts: vec![String::new(); n],
                dirty: vec![false; n],
                models: request.models.clone(),
                saved_at: Instant::now(),
            },
        );
        Ok(())
    }

    async fn publishing(&self, id: &str, events: &[Event]) -> Result<()> {
        // Collect under the lock, write after it.
        let mut to_save: Vec<(usize, String, String)> = Vec::new();
        {
            let mut progress = self.progress.lock();
            if let Some(p) = progress.get_mut(id) {
                for e in events {
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
        for e in events {
            match &e.kind {
                EventKind::ModelResult(r) => self.store.save_result(id, r).await?,
                EventKind::Complete(c) => {
                    self.store.finish_comparison(id, c).await?;
                    self.progress.lock().remove(id);
                }
                _ => {}
            }
        }
        Ok(())
    }
}
