//! `NativeEngine`: the core's configuration (`config`) turned into an engine, with the
//! in-memory request registry and, when given a database, the store — tied together by
//! `llm_compare_service::Service` exactly as in the server.

use std::sync::Arc;

use llm_compare_core::InMemoryRegistry;
use llm_compare_service::{CreateComparison, Service};
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
        let options = llm_compare_service::embed::EngineOptions {
            kind: options.kind,
            text: options.text,
            max_active_per_owner: options.max_active_per_owner.map(|n| n as usize),
            store_url: options.store_url,
            instance_id: options.instance_id,
        };
        // On the runtime: providers' HTTP clients need it, and MCP servers are connected.
        let e = napi::bindgen_prelude::block_on(llm_compare_service::embed::open(options, "node"))
            .or_js()?;
        Ok(Self {
            service: e.service,
            memory: e.memory,
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
        self.service.features().store
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
