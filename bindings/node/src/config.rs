//! `NativeEngine`: the core's configuration (`config`) turned into an engine, with the
//! in-memory request registry and, when given a database, the store — tied together by
//! `llm_compare_service::Service` exactly as in the server.

use std::sync::Arc;

use llm_compare_core::{Config, InMemoryRegistry, RegistryConfig};
use llm_compare_service::{CreateComparison, Service, SharedStore, SqlStore};
use napi_derive::napi;

use crate::comparison::NativeComparison;
use crate::error::{OrJs, invalid};

/// The engine (wrapped by `Engine` in index.js).
#[napi]
#[derive(Debug)]
pub struct NativeEngine {
    pub(crate) service: Arc<Service>,
    pub(crate) memory: InMemoryRegistry,
}

/// A comparison body (the JSON of `POST /v1/comparisons`).
pub(crate) fn parse_body(body_json: &str) -> napi::Result<CreateComparison> {
    CreateComparison::from_json(body_json).or_js()
}

/// How to build an engine.
#[napi(object)]
#[derive(Debug, Default)]
pub struct EngineOptions {
    /// `default` (llm-compare.toml in the working directory if any), `path`, `toml`, `json`.
    pub kind: Option<String>,
    /// The path or text.
    pub text: Option<String>,
    /// Most active registered requests per owner (default 5).
    pub max_active_per_owner: Option<u32>,
    /// `sqlite://…` or `postgres://…`.
    pub store_url: Option<String>,
    /// A stable name for this process in the store.
    pub instance_id: Option<String>,
}

#[napi]
impl NativeEngine {
    /// Builds an engine; opens the store, if any (a short wait at start-up, like opening a
    /// file), and marks comparisons an earlier process of `instance_id` left running.
    #[napi(constructor)]
    pub fn new(options: Option<EngineOptions>) -> napi::Result<Self> {
        let options = options.unwrap_or_default();
        let config = Config::from_kind(
            options.kind.as_deref().unwrap_or("default"),
            options.text.as_deref().unwrap_or_default(),
        )
        .or_js()?;
        // On the runtime: providers' HTTP clients need it, and MCP servers are connected.
        let engine = napi::bindgen_prelude::block_on(config.connect()).or_js()?;
        let mut registry = RegistryConfig::default();
        if let Some(n) = options.max_active_per_owner {
            registry.max_active_per_owner = n as usize;
        }
        let memory = InMemoryRegistry::new(registry);
        let instance = options
            .instance_id
            .clone()
            .unwrap_or_else(|| llm_compare_service::service::process_instance("node"));
        let store: Option<SharedStore> = match &options.store_url {
            None => None,
            Some(url) => Some(
                napi::bindgen_prelude::block_on(async {
                    let store: SharedStore = SqlStore::open(url).await?;
                    if options.instance_id.is_some() {
                        store.mark_interrupted(&instance).await?;
                    }
                    Ok::<_, llm_compare_core::Error>(store)
                })
                .or_js()?,
            ),
        };
        // An embedding app's own datasets: bounded by memory alone.
        let service = Service::new(engine, Arc::new(memory.clone()), store, Vec::new())
            .with_instance(instance)
            .with_limits(llm_compare_service::Limits::local());
        Ok(Self {
            service: Arc::new(service),
            memory,
        })
    }

    /// The catalogue as JSON: every model, provider, context window, prices, available or why not.
    #[napi]
    pub async fn models_json(&self) -> napi::Result<String> {
        let models = self.service.models().await;
        serde_json::to_string(&models).map_err(|e| invalid("models", e.to_string()))
    }

    /// Whether a store is configured (sessions, votes, leaderboard).
    #[napi(getter)]
    pub fn has_store(&self) -> bool {
        self.service.capabilities().store
    }

    /// Starts a comparison (`body_json`: a comparison body, no session, not blind). With
    /// `tools_json` (JavaScript functions' definitions, named in the body's `tools`) and
    /// `dispatch` (runs one: `([name, argsJson]) => Promise<resultJson>`), each model runs its
    /// own tool loop with them.
    #[napi]
    pub fn compare(
        &self,
        body_json: String,
        tools_json: Option<String>,
        dispatch: Option<crate::tools::Dispatch>,
        abort: Option<crate::tools::Abort>,
    ) -> napi::Result<NativeComparison> {
        let body = parse_body(&body_json)?;
        let tools = crate::tools::executor(tools_json, dispatch, abort)?;
        let comparison = napi::bindgen_prelude::within_runtime_if_available(|| {
            self.service.compare_with(body, tools)
        })
        .or_js()?;
        Ok(NativeComparison::spawn(comparison))
    }

    /// The price of `model` in this engine's table (overrides applied), as JSON or null.
    #[napi]
    pub fn price_json(&self, model: String) -> Option<String> {
        crate::cost::price_of(self.service.prices(), &model)
    }

    /// The cost of `usage_json` for `model` in this engine's table, as JSON.
    #[napi]
    pub fn cost_json(&self, model: String, usage_json: String) -> napi::Result<String> {
        crate::cost::cost_of(self.service.prices(), &model, &usage_json)
    }
}
