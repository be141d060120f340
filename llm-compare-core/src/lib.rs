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
//! The crate in layers, each importing only those above it (`scripts/module-cycles.py`
//! checks there is no circle):
//!
//! | module | what it holds |
//! |---|---|
//! | `types` (private; items re-exported here) | requests, content, events, usage, money, errors |
//! | [`pricing`] | the price table, capabilities, cost arithmetic, token counting |
//! | [`trace`], [`judge`] | tracing spans; the LLM judge's prompts and verdicts |
//! | [`providers`] | the [`Provider`] trait and registry, the simulator, OpenAI / Anthropic / Gemini over HTTP |
//! | [`tools`] | tool execution: Rust functions, HTTP tools, client tools, cassettes, MCP (feature `mcp`) |
//! | `engine` (private; items re-exported here) | model calls, runners, the merge, tool loops, comparisons, sessions |
//! | [`registry`] | the request registry: POST a comparison, then stream it |
//! | [`config`] | the TOML configuration that builds all of the above |

#![warn(missing_docs, unreachable_pub)]

mod clock;
pub mod config;
mod engine;
pub mod judge;
pub mod pricing;
pub mod providers;
pub mod registry;
pub mod tools;
pub mod trace;
mod types;

pub use clock::now_ms;
pub use config::Config;
pub use engine::agent::LoopOptions;
pub use engine::burst::{Bursts, bursts};
pub use engine::call::{Action, CallEvent, Candidate};
pub use engine::comparison::{CompareOptions, Comparison, Engine};
pub use engine::driven::DrivenComparison;
pub use engine::policy::{CallPolicy, Policies, Timeouts};
pub use engine::runner::{
    InProcessRunner, ModelCall, PlannedCall, Runner, ToolLoop, read_events, read_lines,
};
pub use engine::session::{InMemorySession, Session, Turn, flatten_tool_history};
pub use pricing::{Capabilities, ModelPrice, PriceTable, PriceTier, Rates};
pub use providers::{
    Availability, HttpProvider, ModelInfo, Provider, ProviderEvent, ProviderRegistry,
    ProviderStream, ReportedUsage, Secret, SimConfig, SimProvider, WireFormat,
};
pub use registry::{
    ActiveLease, EventStream, InMemoryRegistry, NewRequest, ObservedRegistry, Registration,
    RegistryConfig, RegistryObserver, RequestInfo, RequestRegistry, too_many_active,
};
pub use types::content::{
    Content, DEFAULT_MAX_ATTACHMENT_BYTES, FILE_TYPES, IMAGE_TYPES, InspectError, Inspected, Kind,
    Part, Source, inspect, parse_data_url, sniff,
};
pub use types::error::{Error, ErrorCode, ErrorFamily, LimitExceeded, ProviderError, Result};
pub use types::event::{
    Attempt, Complete, ErrorInfo, Event, EventKind, FinishReason, ModelResult, RequestStatus,
    Stage, Structured, StructuredError, Timing, ToolStep, ToolStepResult, Totals, blind_label,
};
pub use types::money::{Cost, CostSource, Usd};
pub use types::request::{
    ChatRequest, CompareRequest, DEFAULT_MAX_MODELS, FunctionDef, JsonSchemaFormat, Message,
    ModelId, NamedFunction, Params, ReasoningEffort, ResponseFormat, Role, Tool, ToolCall,
    ToolChoice, ToolChoiceMode,
};
pub use types::usage::{Usage, UsageSource};

pub use tokio_util::sync::CancellationToken;
