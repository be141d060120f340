//! `Engine`: the core's configuration (`config`) turned into an engine, with the in-memory
//! request registry and, when given a database, the store (`llm_compare_service::Service` ties
//! them together exactly as the server does). Same configuration as the server: providers,
//! keys from env, price overrides, sim timing.

use std::sync::Arc;

use llm_compare_core::{DrivenComparison, InMemoryRegistry};
use llm_compare_service::{CreateComparison, Service};
use pyo3::prelude::*;

use crate::comparison::{Comparison, SyncComparison};
use crate::error::{invalid, to_py};

/// The engine (see the package docs).
#[pyclass(module = "llm_compare._native", frozen)]
#[derive(Debug)]
pub struct Engine {
    pub(crate) service: Arc<Service>,
    pub(crate) memory: InMemoryRegistry,
}

/// Runs `f` on the shared runtime with the GIL released.
pub(crate) fn block_on<F: std::future::Future + Send>(py: Python<'_>, f: F) -> F::Output
where
    F::Output: Send,
{
    py.detach(|| pyo3_async_runtimes::tokio::get_runtime().block_on(f))
}

/// A comparison body (the JSON of `POST /v1/comparisons`).
pub(crate) fn parse_body(body_json: &str) -> PyResult<CreateComparison> {
    CreateComparison::from_json(body_json).map_err(to_py)
}

#[pymethods]
impl Engine {
    /// `kind` is `"default"` (llm-compare.toml in the working directory if any),
    /// `"path"`, `"toml"` or `"json"`. `store_url`: `sqlite://…` or `postgres://…`.
    /// `instance_id`: a stable name for this process; its comparisons left running by an
    /// earlier process of that name are marked interrupted on start-up.
    #[new]
    #[pyo3(signature = (kind = "default", text = None, max_active_per_owner = None, store_url = None, instance_id = None))]
    fn new(
        py: Python<'_>,
        kind: &str,
        text: Option<&str>,
        max_active_per_owner: Option<usize>,
        store_url: Option<&str>,
        instance_id: Option<String>,
    ) -> PyResult<Self> {
        let options = llm_compare_service::embed::EngineOptions {
            kind: Some(kind.to_string()),
            text: text.map(str::to_string),
            max_active_per_owner,
            store_url: store_url.map(str::to_string),
            instance_id,
        };
        // On the runtime: providers' HTTP clients need it, and MCP servers are connected.
        let e = block_on(py, llm_compare_service::embed::open(options, "python")).map_err(to_py)?;
        Ok(Self {
            service: e.service,
            memory: e.memory,
        })
    }

    /// The catalogue as JSON: every model, provider, context window, prices, available or why not.
    fn models_json(&self, py: Python<'_>) -> PyResult<String> {
        let service = self.service.clone();
        let models = block_on(py, async move { service.models().await });
        serde_json::to_string(&models).map_err(|e| invalid("models", e.to_string()))
    }

    /// Whether a store is configured (sessions, votes, leaderboard).
    #[getter]
    fn has_store(&self) -> bool {
        self.service.features().store
    }

    /// Starts a comparison (`body_json`: a comparison body) for async iteration. `tools`:
    /// Python functions as (name, description, JSON Schema as JSON, function), named in the
    /// body's `tools`: each model runs its own tool loop with them.
    #[pyo3(signature = (body_json, tools = None))]
    fn compare(
        &self,
        py: Python<'_>,
        body_json: &str,
        tools: Option<Vec<crate::tools::PyTool>>,
    ) -> PyResult<Comparison> {
        Ok(Comparison::new(self.start(py, body_json, tools)?))
    }

    /// Starts a comparison for blocking iteration.
    #[pyo3(signature = (body_json, tools = None))]
    fn compare_sync(
        &self,
        py: Python<'_>,
        body_json: &str,
        tools: Option<Vec<crate::tools::PyTool>>,
    ) -> PyResult<SyncComparison> {
        Ok(SyncComparison::new(self.start(py, body_json, tools)?))
    }

    /// The price of `model` in this engine's table (overrides applied), as JSON or None.
    fn price_json(&self, model: &str) -> Option<String> {
        crate::cost::price_of(self.service.prices(), model)
    }

    /// The cost of `usage_json` for `model` in this engine's table, as JSON.
    fn cost_json(&self, model: &str, usage_json: &str) -> PyResult<String> {
        crate::cost::cost_of(self.service.prices(), model, usage_json)
    }
}

impl Engine {
    fn start(
        &self,
        py: Python<'_>,
        body_json: &str,
        tools: Option<Vec<crate::tools::PyTool>>,
    ) -> PyResult<Arc<DrivenComparison>> {
        let body = parse_body(body_json)?;
        let tools = crate::tools::executor(py, tools)?;
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        let comparison = self.service.compare_with(body, tools).map_err(to_py)?;
        Ok(Arc::new(DrivenComparison::spawn(comparison)))
    }
}
