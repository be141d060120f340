//! # llm-compare-http
//!
//! The llm-compare server (axum): POST a comparison, get a `request_id`, stream its events
//! over SSE (resumable with `Last-Event-ID`) or WebSocket; an OpenAI-compatible
//! `/v1/chat/completions`; the model catalogue; health, readiness, Prometheus metrics and an
//! OpenAPI 3.1 document; the web UI at `/` ([`ui`]). Also the `llm-compare` binary (`serve`, `run`, `models`).
//!
//! HTTP mapping of core errors lives here ([`api::error`]).

pub mod allocator;
pub mod api;
pub mod conn;
pub mod mcp;
pub mod options;
pub mod server;
pub mod telemetry;
pub mod ui;

pub use server::{AppState, Backend, ServerOptions, ServerSettings, router, serve};
