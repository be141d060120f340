//! `Engine`: the core's configuration (`config`) turned into an engine, plus the in-memory
//! request registry the POST-then-stream helpers use. Same configuration as the server:
//! providers, keys from env, price overrides, sim timing.

use std::path::Path;
use std::sync::Arc;

use llm_compare_core::{CompareRequest, Config, InMemoryRegistry, RegistryConfig};
use pyo3::prelude::*;

use crate::comparison::{Comparison, Running, SyncComparison};
use crate::error::{invalid, to_py};

/// The engine (see the package docs).
#[pyclass(module = "llm_compare._native", frozen)]
#[derive(Debug)]
pub struct Engine {
    pub(crate) engine: Arc<llm_compare_core::Engine>,
    pub(crate) registry: Arc<InMemoryRegistry>,
}

/// Runs `f` on the shared runtime with the GIL released.
pub(crate) fn block_on<F: std::future::Future + Send>(py: Python<'_>, f: F) -> F::Output
where
    F::Output: Send,
{
    py.detach(|| pyo3_async_runtimes::tokio::get_runtime().block_on(f))
}

pub(crate) fn parse_request(request_json: &str) -> PyResult<CompareRequest> {
    serde_json::from_str(request_json).map_err(|e| invalid("request", e.to_string()))
}

#[pymethods]
impl Engine {
    /// `kind` is `"default"` (llm-compare.toml in the working directory if any),
    /// `"path"`, `"toml"` or `"json"`.
    #[new]
    #[pyo3(signature = (kind = "default", text = None, max_active_per_owner = None))]
    fn new(kind: &str, text: Option<&str>, max_active_per_owner: Option<usize>) -> PyResult<Self> {
        let text = text.unwrap_or_default();
        let config = match kind {
            "default" => Config::load(None),
            "path" => Config::load(Some(Path::new(text))),
            "toml" => Config::parse(text),
            "json" => serde_json::from_str::<Config>(text).map_err(|e| {
                llm_compare_core::Error::invalid("config", format!("invalid configuration: {e}"))
            }),
            other => {
                return Err(invalid(
                    "config",
                    format!("unknown configuration kind `{other}`"),
                ));
            }
        }
        .map_err(to_py)?;
        // Building providers needs a runtime context (HTTP clients).
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        let engine = config.engine().map_err(to_py)?;
        let mut registry = RegistryConfig::default();
        if let Some(n) = max_active_per_owner {
            registry.max_active_per_owner = n;
        }
        Ok(Self {
            engine: Arc::new(engine),
            registry: Arc::new(InMemoryRegistry::new(registry)),
        })
    }

    /// The catalogue as JSON: every model, provider, context window, prices, available or why not.
    fn models_json(&self, py: Python<'_>) -> PyResult<String> {
        let engine = self.engine.clone();
        let models = block_on(py, async move {
            engine.providers().catalogue(engine.prices()).await
        });
        serde_json::to_string(&models).map_err(|e| invalid("models", e.to_string()))
    }

    /// Starts a comparison (`request_json`: a CompareRequest) for async iteration.
    fn compare(&self, request_json: &str) -> PyResult<Comparison> {
        Ok(Comparison::new(self.start(request_json)?))
    }

    /// Starts a comparison for blocking iteration.
    fn compare_sync(&self, request_json: &str) -> PyResult<SyncComparison> {
        Ok(SyncComparison::new(self.start(request_json)?))
    }

    /// The price of `model` in this engine's table (overrides applied), as JSON or None.
    fn price_json(&self, model: &str) -> Option<String> {
        crate::cost::price_of(self.engine.prices(), model)
    }

    /// The cost of `usage_json` for `model` in this engine's table, as JSON.
    fn cost_json(&self, model: &str, usage_json: &str) -> PyResult<String> {
        crate::cost::cost_of(self.engine.prices(), model, usage_json)
    }
}

impl Engine {
    fn start(&self, request_json: &str) -> PyResult<Arc<Running>> {
        let request = parse_request(request_json)?;
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        let comparison = self.engine.compare(&request).map_err(to_py)?;
        Ok(Running::spawn(comparison))
    }
}
