//! Durability: a registry observer that writes what is published into the [`Store`] —
//! each model's result before its `model_result` is sent, the comparison before `complete`,
//! and streamed text every half second, never per token. (The comparison itself is recorded
//! by the handler before it is registered, together with its budget reservation.)
//!
//! While the database is unreachable (`unavailable`), comparisons keep streaming: their
//! writes wait in a [`Backlog`], in order, and one writer task retries them with backoff
//! until the database answers — then they are written and later writes go straight through
//! again. A write still waiting after the window (the retention TTL) is given up: logged
//! with its comparison id and counted in `llm_compare_store_writes_given_up_total`, never
//! dropped silently.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llm_compare_core::{
    ErrorCode, Event, EventKind, NewRequest, Registration, RegistryObserver, Result,
};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::Store;
use crate::backlog::{Backlog, Write, backoff};

/// How often streamed text is saved while models stream.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// How long a write may wait for an unreachable database before it is given up (the
/// registry's default retention: as long as the comparison stays readable in memory).
pub const WRITE_WINDOW: Duration = Duration::from_secs(300);

/// Text streamed since the last save, per comparison.
struct Progress {
    texts: Vec<String>,
    dirty: Vec<bool>,
    models: Vec<String>,
    saved_at: Instant,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

/// The backlog and whether its writer task runs (one lock: a writer that finds it empty
/// stops under the same lock a pusher checks).
#[derive(Debug)]
struct Queue {
    backlog: Backlog,
    writer: bool,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn Store>,
    queue: Mutex<Queue>,
    /// Records written after the fact (chat completions), batched by one writer task.
    records: OnceLock<mpsc::UnboundedSender<Vec<Write>>>,
}

/// Most writes in one batch transaction.
const MAX_BATCH: usize = 512;

/// How long the records' writer gathers after the first record of a batch arrives. Records
/// are written after their answer has gone, so nobody waits for this; what it saves is the
/// hand-offs of a transaction per record or two (BEGIN, ~4 statements, COMMIT: each a trip to
/// SQLite's thread and back) at a steady rate: at 2,000 chat completions/s a batch holds ~20.
const RECORDS_GATHER: Duration = Duration::from_millis(10);

impl Shared {
    /// Queues `w` behind what waits, starting the writer if it is not running.
    fn defer(self: &Arc<Self>, w: Write) {
        let mut q = self.queue.lock();
        q.backlog.push(w, Instant::now());
        metrics::gauge!("llm_compare_store_writes_pending").set(q.backlog.len() as f64);
        if !q.writer && tokio::runtime::Handle::try_current().is_ok() {
            q.writer = true;
            tokio::spawn(drain(self.clone()));
        }
    }

    /// Writes `w` now — or, when writes already wait or the database is unreachable, after
    /// them. Other failures are the caller's.
    async fn write(self: &Arc<Self>, w: Write) -> Result<()> {
        if !self.queue.lock().backlog.is_empty() {
            self.defer(w);
            return Ok(());
        }
        match apply(&*self.store, &w).await {
            Err(e) if e.code() == ErrorCode::Unavailable => {
                tracing::warn!(target: "llm_compare::store", comparison = %w.comparison_id(), "database unreachable: the write waits");
                self.defer(w);
                Ok(())
            }
            other => other,
        }
    }
}

/// The records' writer: what has arrived goes in one transaction (one commit for a burst of
/// chat completions, not three each). Through an outage the writes join the backlog; a batch
/// the database refuses for another reason is retried record by record, so one bad record
/// fails alone.
async fn write_records(shared: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<Vec<Write>>) {
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(RECORDS_GATHER).await;
        // The writes in arrival order, and where each sender's group ends: one transaction
        // for all, and if it is refused, each group alone (a group stops at its first error).
        let mut ends = vec![first.len()];
        let mut all = first;
        while all.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(g) => {
                    all.extend(g);
                    ends.push(all.len());
                }
                Err(_) => break,
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let waiting = !shared.queue.lock().backlog.is_empty();
        let result = if waiting {
            Err(llm_compare_core::Error::unavailable("writes are waiting"))
        } else {
            shared.store.write_batch(&all).await
        };
        match result {
            Ok(()) => {}
            Err(e) if e.code() == ErrorCode::Unavailable => {
                for w in all {
                    shared.defer(w);
                }
            }
            Err(_) => {
                let mut start = 0;
                for end in ends {
                    for w in all.get(start..end).unwrap_or_default() {
                        if let Err(e) = shared.write(w.clone()).await {
                            gave_up(w, &e.to_string());
                            break;
                        }
                    }
                    start = end;
                }
            }
        }
    }
}

/// Persists what flows through the registry (and the chat completions' records).
#[derive(Debug, Clone)]
pub struct Persistence {
    shared: Arc<Shared>,
    progress: Arc<Mutex<HashMap<String, Progress>>>,
}

/// Makes one write.
async fn apply(store: &dyn Store, w: &Write) -> Result<()> {
    match w {
        Write::Create(c) => store.create_comparison(c).await,
        Write::Result { id, result } => store.save_result(id, result).await,
        Write::Finish { id, complete } => store.finish_comparison(id, complete).await,
        Write::Thread(t) => store.save_thread(t).await,
    }
}

fn gave_up(w: &Write, why: &str) {
    tracing::error!(target: "llm_compare::store", comparison = %w.comparison_id(), reason = why, "write given up");
    metrics::counter!("llm_compare_store_writes_given_up_total").increment(1);
}

/// The writer: tries the oldest waiting write until it goes through, with backoff while the
/// store is unavailable; ends when nothing waits.
async fn drain(shared: Arc<Shared>) {
    let mut failures = 0u32;
    loop {
        let next = {
            let mut q = shared.queue.lock();
            for w in q.backlog.expire(Instant::now()) {
                gave_up(
                    &w,
                    "the database was unreachable for longer than the write window",
                );
            }
            metrics::gauge!("llm_compare_store_writes_pending").set(q.backlog.len() as f64);
            match q.backlog.front() {
                Some(w) => w.clone(),
                None => {
                    q.writer = false;
                    return;
                }
            }
        };
        match apply(&*shared.store, &next).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(target: "llm_compare::store", "database reachable again: writing what waited");
                }
                failures = 0;
                shared.queue.lock().backlog.pop();
            }
            Err(e) if e.code() == ErrorCode::Unavailable => {
                tokio::time::sleep(backoff(failures)).await;
                failures = failures.saturating_add(1);
            }
            Err(e) => {
                gave_up(&next, &e.to_string());
                shared.queue.lock().backlog.pop();
            }
        }
    }
}

impl Persistence {
    /// Writes into `store`, holding writes the store cannot take yet for [`WRITE_WINDOW`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_window(store, WRITE_WINDOW)
    }

    /// Writes into `store`, holding writes the store cannot take yet for `window`.
    pub fn with_window(store: Arc<dyn Store>, window: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                queue: Mutex::new(Queue {
                    backlog: Backlog::new(window),
                    writer: false,
                }),
                records: OnceLock::new(),
            }),
            progress: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Writes waiting for the database.
    pub fn pending(&self) -> usize {
        self.shared.queue.lock().backlog.len()
    }

    /// Writes `w` now — or, when writes already wait or the database is unreachable, after
    /// them. Other failures are the caller's.
    pub async fn write(&self, w: Write) -> Result<()> {
        self.shared.write(w).await
    }

    /// Records `writes` (one comparison's, in order) after the fact, batched with whatever
    /// else is being recorded: a chat completion's record.
    pub fn record(&self, writes: Vec<Write>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let tx = self.shared.records.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_records(Arc::downgrade(&self.shared), rx));
            tx
        });
        let _ = tx.send(writes);
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
        // Progress is superseded by the results: while writes wait, it is not written at all.
        if self.pending() == 0 {
            for (i, model, text) in to_save {
                match self.shared.store.save_progress(id, i, &model, &text).await {
                    Err(e) if e.code() != ErrorCode::Unavailable => return Err(e),
                    _ => {}
                }
            }
        }
        // Results and the end are on disk before anyone can read them (unless the database
        // is unreachable: then they are written once it is back).
        for e in events {
            match &e.kind {
                EventKind::ModelResult(r) => {
                    self.write(Write::Result {
                        id: id.to_string(),
                        result: r.clone(),
                    })
                    .await?;
                }
                EventKind::Complete(c) => {
                    self.write(Write::Finish {
                        id: id.to_string(),
                        complete: Box::new(c.clone()),
                    })
                    .await?;
                    self.progress.lock().remove(id);
                }
                _ => {}
            }
        }
        Ok(())
    }
}
