//! # llm-compare-core
//!
//! The engine of llm-compare: send one prompt (or a multi-turn session) to N models at once
//! and get every model's tokens back as one normalized, ordered event stream, with per-model
//! time to first token, latency, tokens and cost.
//!
//! ```
//! use futures::StreamExt;
//! use llm_compare_core::{CompareRequest, Engine, EventKind, ProviderRegistry};
//!
//! #[tokio::main]
//! async fn main() -> llm_compare_core::Result<()> {
//!     let engine = Engine::new(ProviderRegistry::with_sim());
//!     let request = CompareRequest::prompt(["sim/echo", "sim/lorem"], "Say hello in five words");
//!     let mut comparison = engine.compare(&request)?;
//!     while let Some(event) = comparison.next().await {
//!         println!("{}", event.to_json());
//!         if let EventKind::Complete(done) = &event.kind {
//!             assert_eq!(done.results[0].text, "Say hello in five words");
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Runnable examples (`cargo run -p llm-compare-core --example NAME`): `compare` (this one),
//! `config` (real providers from the configuration), `session`, `agent` (a Rust tool).
//!
//! Modules: [`request`] (what is asked), [`provider`] (model backends), [`sim`] (offline
//! simulated models), [`comparison`] (the fan-out engine), [`event`] (the wire schema),
//! [`cost`] and [`tokens`] (pricing), [`providers`] (OpenAI-compatible, Anthropic, Gemini over
//! HTTP), [`config`] (the TOML configuration), [`registry`] (POST-then-stream backbone),
//! [`session`] (multi-turn), [`runner`] (where model calls run: in process, or a remote worker
//! streaming JSON lines back), [`error`].

pub mod agent;
pub mod burst;
mod call;
mod clock;
pub mod comparison;
pub mod config;
pub mod content;
pub mod cost;
pub mod driven;
pub mod error;

pub mod event;
mod event_log;
pub mod judge;
pub mod mcp;
mod merge;
pub mod observe;
pub mod policy;
pub mod provider;
pub mod providers;
pub mod registry;
pub mod request;
pub mod runner;
pub mod session;
pub mod sim;
pub mod tokens;
pub mod tools;
pub mod trace;
pub mod usage;

pub use burst::bursts;
pub use clock::now_ms;
pub use comparison::{CompareOptions, Comparison, Engine};
pub use config::Config;
pub use content::{Content, Part};
pub use cost::{Capabilities, Cost, CostSource, ModelPrice, PriceTable, PriceTier, Rates, Usd};
pub use driven::DrivenComparison;
pub use error::{Error, ErrorCode, ErrorFamily, LimitExceeded, ProviderError, Result};
pub use event::{
    Attempt, Complete, ErrorInfo, Event, EventKind, FinishReason, ModelResult, RequestStatus,
    Stage, Structured, StructuredError, Timing, ToolCall, Totals, Usage, UsageSource, blind_label,
};
pub use observe::{ObservedRegistry, RegistryObserver};
pub use policy::{CallPolicy, Policies, Timeouts};
pub use provider::{
    Availability, ModelInfo, Provider, ProviderEvent, ProviderRegistry, ProviderStream,
    ReportedUsage,
};
pub use providers::{HttpProvider, Secret, WireFormat};
pub use registry::{
    ActiveLease, EventStream, InMemoryRegistry, NewRequest, Registration, RegistryConfig,
    RequestInfo, RequestRegistry, too_many_active,
};
pub use request::{
    ChatRequest, CompareRequest, FunctionDef, JsonSchemaFormat, Message, ModelId, Params,
    ResponseFormat, Role, Tool, ToolChoice, ToolChoiceMode,
};
pub use runner::{CallEvent, InProcessRunner, ModelCall, PlannedCall, Runner};
pub use session::{InMemorySession, Session, Turn};
pub use sim::{SimConfig, SimProvider};

pub use tokio_util::sync::CancellationToken;
