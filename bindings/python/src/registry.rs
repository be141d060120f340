//! The request registry (`registry` in the core): POST-then-stream. `submit` records (with a
//! store), registers and starts a comparison; `stream` reads its events from any seq, as
//! often as wanted; `cancel` stops it.

use std::sync::Arc;

use futures::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::config::{Engine, parse_body};
use crate::error::{invalid, to_py};

type Events = std::pin::Pin<Box<dyn futures::Stream<Item = llm_compare_core::Event> + Send>>;

/// A registered comparison's events, as an async iterator of event JSON.
#[pyclass(module = "llm_compare._native", frozen)]
pub struct EventStream {
    events: Arc<Mutex<Events>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

#[pymethods]
impl EventStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            match events.lock().await.next().await {
                Some(e) => Ok(e.to_json()),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

/// Runs `f` on the shared runtime as a Python awaitable resolving to `f`'s value as JSON.
pub(crate) fn future_json<'py, T, F>(py: Python<'py>, f: F) -> PyResult<Bound<'py, PyAny>>
where
    T: serde::Serialize,
    F: std::future::Future<Output = llm_compare_core::Result<T>> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let value = f.await.map_err(to_py)?;
        serde_json::to_string(&value).map_err(|e| invalid("result", e.to_string()))
    })
}

#[pymethods]
impl Engine {
    /// Records (with a store), registers and starts a comparison for `owner` (`body_json`:
    /// the body of `POST /v1/comparisons`, sessions and blind included); resolves to the
    /// JSON of `{request_id, models, history_trimmed?}`.
    #[pyo3(signature = (body_json, owner, tools = None))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        body_json: &str,
        owner: String,
        tools: Option<Vec<crate::tools::PyTool>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = parse_body(body_json)?;
        let tools = crate::tools::executor(py, tools)?;
        let service = self.service.clone();
        future_json(py, async move {
            service
                .submit_with(&llm_compare_service::Principal::user(owner), body, tools)
                .await
        })
    }

    /// `owner`'s request's events after `after_seq`: replayed, then live, to `complete`
    /// ("Model A", … while blind and not voted on).
    #[pyo3(signature = (request_id, owner, after_seq = 0))]
    fn stream<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
        owner: String,
        after_seq: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let events = service
                .subscribe(&owner, &request_id, after_seq)
                .await
                .map_err(to_py)?;
            Ok(EventStream {
                events: Arc::new(Mutex::new(events)),
            })
        })
    }

    /// Cancels `owner`'s request; resolves to its status right after.
    fn cancel<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
        owner: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let status = service.cancel(&owner, &request_id).await.map_err(to_py)?;
            Ok(status.as_str().to_string())
        })
    }

    /// How many of `owner`'s requests are active.
    fn active(&self, owner: &str) -> usize {
        self.memory.active_count(owner)
    }
}
