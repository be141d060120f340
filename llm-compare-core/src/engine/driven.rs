//! A comparison driven by its own task into a channel, for embedders that read at their own
//! pace (the Python and Node bindings): models keep streaming, and their timings stay true,
//! however slowly the reader reads. Dropping it, or every reader going away, cancels it.

use std::sync::Mutex as StdMutex;

use futures::StreamExt;
use tokio::sync::{Mutex, mpsc};

use crate::{CancellationToken, Comparison, Error, Event, EventKind, Result};

/// A running comparison: its events as JSON, its cancel switch, its `complete` once read.
#[derive(Debug)]
pub struct DrivenComparison {
    request_id: String,
    models: Vec<String>,
    events: Mutex<mpsc::UnboundedReceiver<Event>>,
    cancel: CancellationToken,
    complete: StdMutex<Option<String>>,
}

impl DrivenComparison {
    /// Starts driving `comparison` on the current tokio runtime (call inside one).
    pub fn spawn(comparison: Comparison) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = comparison.cancel_token();
        let driven = Self {
            request_id: comparison.request_id().to_string(),
            models: comparison.models().iter().map(|m| m.to_string()).collect(),
            events: Mutex::new(rx),
            cancel: cancel.clone(),
            complete: StdMutex::new(None),
        };
        tokio::spawn(async move {
            let mut comparison = comparison;
            while let Some(e) = comparison.next().await {
                if tx.send(e).is_err() {
                    // Nobody reads any more: stop the upstream calls.
                    cancel.cancel();
                }
            }
        });
        driven
    }

    /// The comparison's id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Its models, by `model_index`.
    pub fn models(&self) -> &[String] {
        &self.models
    }

    /// Its cancel switch.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The next event's JSON, or None after `complete`.
    pub async fn next(&self) -> Option<String> {
        let e = self.events.lock().await.recv().await?;
        let json = e.to_json();
        if matches!(e.kind, EventKind::Complete(_))
            && let Ok(mut c) = self.complete.lock()
        {
            *c = Some(json.clone());
        }
        Some(json)
    }

    /// Reads to the end; the `complete` event's JSON (the event itself, as streamed).
    pub async fn result(&self) -> Result<String> {
        while self.next().await.is_some() {}
        self.complete
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| Error::Internal("the comparison ended without `complete`".into()))
    }

    /// Whether `complete` has been read.
    pub fn finished(&self) -> bool {
        self.complete.lock().map(|c| c.is_some()).unwrap_or(true)
    }
}

impl Drop for DrivenComparison {
    fn drop(&mut self) {
        // The embedder's object is gone: whatever still runs is no longer wanted.
        self.cancel.cancel();
    }
}
