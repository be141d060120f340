//! The request registry (`registry` in the core): POST-then-stream. `submit` records (with a
//! store), registers and starts a comparison; `stream` reads its events from any seq, as
//! often as wanted; `cancel` stops it.

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;

use crate::config::{Engine, parse_body};
use crate::error::to_py;

/// A registered comparison's events, as an async iterator of event JSON.
#[pyclass(module = "llm_compare._native", frozen)]
pub struct EventStream {
    events: llm_compare_service::embed::JsonEvents,
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
            match events.next().await {
                Some(e) => Ok(e),
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
        llm_compare_service::embed::to_json(&value).map_err(to_py)
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
                events: llm_compare_service::embed::JsonEvents::new(events),
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
