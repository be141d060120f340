//! Catalogue, health, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use llm_compare_core::ModelInfo;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::error::ErrorBody;
use super::extract::Who;
use super::metrics;
use crate::server::AppState;

/// A model in `GET /v1/models`: OpenAI's `{id, object, created, owned_by}` plus
/// llm-compare's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelEntry {
    /// `model`.
    pub object: &'static str,
    /// Unix seconds: when this server started offering it (its start-up; providers do not
    /// say when a model was made).
    pub created: u64,
    /// The provider.
    pub owned_by: String,
    /// Catalogue fields.
    #[serde(flatten)]
    pub info: ModelInfo,
}

/// `GET /v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// `list`.
    pub object: &'static str,
    /// The models.
    pub data: Vec<ModelEntry>,
}

/// The catalogue: provider, context window, prices, available or why not — the models the
/// caller's API key may use.
#[utoipa::path(
    get, path = "/v1/models", tag = "meta",
    responses(
        (status = 200, description = "Every model", body = ModelList),
        (status = 401, description = "Missing or wrong API key (OpenAI's error shape)", body = super::openai::OpenAiErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn models(State(state): State<AppState>, Who(who): Who) -> Json<ModelList> {
    let created = std::time::SystemTime::now()
        .checked_sub(state.uptime())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let data = state
        .service()
        .models_for(&who)
        .await
        .into_iter()
        .map(|info| ModelEntry {
            object: "model",
            created,
            owned_by: info.provider.clone(),
            info,
        })
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
}

/// `GET /v1/tools`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolList {
    /// The server's executable tools (`[tools.*]`, and the tools of its `[mcp.*]` servers),
    /// as the models are offered them: a request names them in `tools`.
    pub tools: Vec<llm_compare_core::Tool>,
}

/// The server's executable tools: what a request may name in `tools` to run an agent
/// comparison.
#[utoipa::path(
    get, path = "/v1/tools", tag = "meta",
    responses(
        (status = 200, description = "The server's tools", body = ToolList),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn tools(State(state): State<AppState>, Who(_who): Who) -> Json<ToolList> {
    Json(ToolList {
        tools: state.service().server_tools(),
    })
}

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_s: f64,
    /// What this server was set up with.
    pub features: Features,
}

/// What a server was set up with: front ends ask this instead of inferring it from errors.
#[derive(Debug, Serialize, ToSchema)]
pub struct Features {
    /// The service's features (a store; budgets).
    #[serde(flatten)]
    pub service: llm_compare_service::service::ServiceFeatures,
    /// Where request state lives: `memory` (this server) or `redis` (a cluster).
    pub registry: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "Alive", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.uptime().as_secs_f64(),
        features: Features {
            service: state.service().features(),
            registry: state.backend().kind(),
        },
    })
}

/// Readiness: 503 while shutting down, or while the database or the registry does not
/// answer (`unavailable`).
#[utoipa::path(
    get, path = "/ready", tag = "meta",
    responses((status = 200, description = "Ready", body = Health),
              (status = 503, description = "Shutting down, or the database or registry unreachable", body = ErrorBody))
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.shutdown().is_cancelled() {
        return super::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .into_response();
    }
    if let Err(e) = state.service().ready().await {
        return super::error::ApiError::from(e).into_response();
    }
    health(State(state)).await.into_response()
}

/// Prometheus metrics.
#[utoipa::path(
    get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    ::metrics::gauge!("llm_compare_active_comparisons").set(state.backend().active_total() as f64);
    if let Some(bytes) = state.backend().retained_bytes() {
        ::metrics::gauge!("llm_compare_registry_retained_bytes").set(bytes as f64);
    }
    // Tasks alive in the runtime: a leak shows as a count that only grows (the soak reads it).
    ::metrics::gauge!("llm_compare_runtime_tasks").set(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks() as f64,
    );
    if let Some((allocated, resident)) = crate::allocator::bytes() {
        ::metrics::gauge!("llm_compare_allocator_allocated_bytes").set(allocated as f64);
        ::metrics::gauge!("llm_compare_allocator_resident_bytes").set(resident as f64);
    }
    let text = metrics::handle().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object))
)]
pub async fn openapi() -> Response {
    let doc = super::openapi::ApiDoc::openapi();
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_json().unwrap_or_default(),
    )
        .into_response()
}
