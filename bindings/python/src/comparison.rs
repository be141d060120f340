//! `Comparison` (async iterator) and `SyncComparison` (iterator) over one running core
//! `Comparison`. The core stream is driven by a task on the shared runtime, so models keep
//! streaming (and their timings stay true) however slowly Python reads.

use std::sync::{Arc, Mutex as StdMutex};

use futures::StreamExt;
use llm_compare_core::{CancellationToken, Event, EventKind};
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use tokio::sync::{Mutex, mpsc};

use crate::config::block_on;

/// One running comparison: its events, its cancel switch, and its `complete` once seen.
#[derive(Debug)]
pub(crate) struct Running {
    request_id: String,
    models: Vec<String>,
    events: Mutex<mpsc::UnboundedReceiver<Event>>,
    cancel: CancellationToken,
    complete: StdMutex<Option<String>>,
}

impl Running {
    pub(crate) fn spawn(comparison: llm_compare_core::Comparison) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = comparison.cancel_token();
        let running = Arc::new(Self {
            request_id: comparison.request_id().to_string(),
            models: comparison.models().iter().map(|m| m.to_string()).collect(),
            events: Mutex::new(rx),
            cancel: cancel.clone(),
            complete: StdMutex::new(None),
        });
        pyo3_async_runtimes::tokio::get_runtime().spawn(async move {
            let mut comparison = comparison;
            while let Some(e) = comparison.next().await {
                if tx.send(e).is_err() {
                    // Nobody reads any more: stop the upstream calls.
                    cancel.cancel();
                }
            }
        });
        running
    }

    /// The next event's JSON, or None after `complete`.
    async fn next(&self) -> Option<String> {
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
    async fn result(&self) -> Option<String> {
        while self.next().await.is_some() {}
        self.complete.lock().ok().and_then(|c| c.clone())
    }

    fn finished(&self) -> bool {
        self.complete.lock().map(|c| c.is_some()).unwrap_or(true)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The Python object is gone: whatever still runs is no longer wanted.
        self.cancel.cancel();
    }
}

/// Cancels the comparison when dropped while armed: an awaited `__anext__` whose asyncio
/// task is cancelled drops its Rust future, and that must stop the upstream calls.
struct CancelOnDrop(Option<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

fn no_result() -> PyErr {
    crate::error::to_py(llm_compare_core::Error::Internal(
        "the comparison ended without `complete`".into(),
    ))
}

/// A comparison, as an async iterator of event JSON.
#[pyclass(module = "llm_compare._native", frozen)]
#[derive(Debug)]
pub struct Comparison {
    running: Arc<Running>,
}

impl Comparison {
    pub(crate) fn new(running: Arc<Running>) -> Self {
        Self { running }
    }
}

#[pymethods]
impl Comparison {
    /// The comparison's id.
    #[getter]
    fn request_id(&self) -> String {
        self.running.request_id.clone()
    }

    /// Its models, by `model_index`.
    #[getter]
    fn models(&self) -> Vec<String> {
        self.running.models.clone()
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = CancelOnDrop(Some(running.cancel.clone()));
            let next = running.next().await;
            guard.0 = None;
            next.ok_or_else(|| PyStopAsyncIteration::new_err(()))
        })
    }

    /// Awaits the end; the `complete` event's JSON.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = CancelOnDrop(Some(running.cancel.clone()));
            let complete = running.result().await;
            guard.0 = None;
            complete.ok_or_else(no_result)
        })
    }

    /// Cancels the upstream calls (the stream then ends with `cancelled`).
    fn cancel(&self) {
        self.running.cancel.cancel();
    }

    /// Whether `complete` has been read.
    #[getter]
    fn finished(&self) -> bool {
        self.running.finished()
    }
}

/// A comparison, as a blocking iterator of event JSON (scripts, notebooks).
#[pyclass(module = "llm_compare._native", frozen)]
#[derive(Debug)]
pub struct SyncComparison {
    running: Arc<Running>,
}

impl SyncComparison {
    pub(crate) fn new(running: Arc<Running>) -> Self {
        Self { running }
    }
}

#[pymethods]
impl SyncComparison {
    /// The comparison's id.
    #[getter]
    fn request_id(&self) -> String {
        self.running.request_id.clone()
    }

    /// Its models, by `model_index`.
    #[getter]
    fn models(&self) -> Vec<String> {
        self.running.models.clone()
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<String> {
        let running = self.running.clone();
        block_on(py, async move { running.next().await })
            .ok_or_else(|| PyStopIteration::new_err(()))
    }

    /// Blocks until the end; the `complete` event's JSON.
    fn result(&self, py: Python<'_>) -> PyResult<String> {
        let running = self.running.clone();
        block_on(py, async move { running.result().await }).ok_or_else(no_result)
    }

    /// Cancels the upstream calls.
    fn cancel(&self) {
        self.running.cancel.cancel();
    }

    /// Whether `complete` has been read.
    #[getter]
    fn finished(&self) -> bool {
        self.running.finished()
    }
}
