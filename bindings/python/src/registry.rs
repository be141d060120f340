//! The request registry (`registry` in the core): POST-then-stream. `submit` registers a
//! comparison and starts it; `stream` reads its events from any seq, as often as wanted.

use std::sync::Arc;

use futures::StreamExt;
use llm_compare_core::{NewRequest, RequestRegistry};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::config::{Engine, parse_request};
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

#[pymethods]
impl Engine {
    /// Registers and starts a comparison for `owner`; resolves to its request id.
    #[pyo3(signature = (request_json, owner, metadata_json = None))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        request_json: &str,
        owner: String,
        metadata_json: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = parse_request(request_json)?;
        let metadata = metadata_json
            .map(serde_json::from_str::<serde_json::Value>)
            .transpose()
            .map_err(|e| invalid("metadata", e.to_string()))?;
        let calls = self.engine.plan(&request).map_err(to_py)?;
        let engine = self.engine.clone();
        let registry: Arc<dyn RequestRegistry> = self.registry.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let new = NewRequest::new(owner, Vec::new()).metadata(metadata);
            engine
                .submit_calls(registry, new, calls)
                .await
                .map_err(to_py)
        })
    }

    /// `owner`'s request's events after `after_seq`: replayed, then live, to `complete`.
    #[pyo3(signature = (request_id, owner, after_seq = 0))]
    fn stream<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
        owner: String,
        after_seq: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let registry = self.registry.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let events = registry
                .subscribe(&owner, &request_id, after_seq)
                .await
                .map_err(to_py)?;
            Ok(EventStream {
                events: Arc::new(Mutex::new(events)),
            })
        })
    }

    /// Cancels `owner`'s request.
    fn cancel<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
        owner: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let registry = self.registry.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            registry.cancel(&owner, &request_id).await.map_err(to_py)
        })
    }

    /// How many of `owner`'s requests are active.
    fn active(&self, owner: &str) -> usize {
        self.registry.active_count(owner)
    }
}
