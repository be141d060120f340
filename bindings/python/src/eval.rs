//! Evaluation runs (`eval` in the service): `evaluate` starts a run over a dataset and gives
//! its events (start, each finished row, the summary) as an async iterator of JSON.

use std::sync::Arc;

use futures::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::config::Engine;
use crate::error::{invalid, to_py};

type Events = futures::stream::BoxStream<'static, llm_compare_service::eval::EvalEvent>;

/// A run's events, as an async iterator of event JSON.
#[pyclass(module = "llm_compare._native", frozen)]
pub struct EvalStream {
    events: Arc<Mutex<Events>>,
}

impl std::fmt::Debug for EvalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalStream").finish_non_exhaustive()
    }
}

#[pymethods]
impl EvalStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            match events.lock().await.next().await {
                Some(e) => serde_json::to_string(&e).map_err(|e| invalid("event", e.to_string())),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

#[pymethods]
impl Engine {
    /// Starts an evaluation run for `owner` over dataset `name` (its `text`: JSONL or CSV)
    /// with `options_json`; `resume`: a run to continue. Resolves to its event stream.
    #[pyo3(signature = (name, text, options_json, owner, template = None, resume = None))]
    #[allow(clippy::too_many_arguments)] // The wrapper's arguments, as Python passes them.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        text: &str,
        options_json: &str,
        owner: String,
        template: Option<&str>,
        resume: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (dataset, options) =
            llm_compare_service::eval::prepare(name, text, template, options_json)
                .map_err(to_py)?;
        let service = self.service.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let events = service
                .evaluate(
                    &llm_compare_service::Principal::user(owner),
                    dataset,
                    options,
                    resume.as_deref(),
                )
                .await
                .map_err(to_py)?;
            Ok(EvalStream {
                events: Arc::new(Mutex::new(events)),
            })
        })
    }
}
