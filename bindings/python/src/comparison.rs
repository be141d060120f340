//! `Comparison` (async iterator) and `SyncComparison` (iterator) over one core
//! `DrivenComparison` (driven by a task on the shared runtime, so models keep streaming and
//! their timings stay true however slowly Python reads).

use std::sync::Arc;

use llm_compare_core::{CancellationToken, DrivenComparison};
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;

use crate::config::block_on;
use crate::error::to_py;

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

/// A comparison, as an async iterator of event JSON.
#[pyclass(module = "llm_compare._native", frozen)]
#[derive(Debug)]
pub struct Comparison {
    running: Arc<DrivenComparison>,
}

impl Comparison {
    pub(crate) fn new(running: Arc<DrivenComparison>) -> Self {
        Self { running }
    }
}

#[pymethods]
impl Comparison {
    /// The comparison's id.
    #[getter]
    fn request_id(&self) -> String {
        self.running.request_id().to_string()
    }

    /// Its models, by `model_index`.
    #[getter]
    fn models(&self) -> Vec<String> {
        self.running.models().to_vec()
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = CancelOnDrop(Some(running.cancel_token().clone()));
            let next = running.next().await;
            guard.0 = None;
            next.ok_or_else(|| PyStopAsyncIteration::new_err(()))
        })
    }

    /// Awaits the end; the `complete` event's JSON.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = CancelOnDrop(Some(running.cancel_token().clone()));
            let complete = running.result().await;
            guard.0 = None;
            complete.map_err(to_py)
        })
    }

    /// Cancels the upstream calls (the stream then ends with `cancelled`).
    fn cancel(&self) {
        self.running.cancel_token().cancel();
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
    running: Arc<DrivenComparison>,
}

impl SyncComparison {
    pub(crate) fn new(running: Arc<DrivenComparison>) -> Self {
        Self { running }
    }
}

#[pymethods]
impl SyncComparison {
    /// The comparison's id.
    #[getter]
    fn request_id(&self) -> String {
        self.running.request_id().to_string()
    }

    /// Its models, by `model_index`.
    #[getter]
    fn models(&self) -> Vec<String> {
        self.running.models().to_vec()
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
        block_on(py, async move { running.result().await }).map_err(to_py)
    }

    /// Cancels the upstream calls.
    fn cancel(&self) {
        self.running.cancel_token().cancel();
    }

    /// Whether `complete` has been read.
    #[getter]
    fn finished(&self) -> bool {
        self.running.finished()
    }
}
