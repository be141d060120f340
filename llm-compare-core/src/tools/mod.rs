//! Tools executed in a model's loop (agent comparisons): the [`ToolExecutor`] seam every
//! source of tools implements, [`Toolbox`] — the embedder's Rust functions, each with a JSON
//! Schema — and [`execute`], which runs one call under the limits every source shares.
//!
//! What a model gets wrong is its own problem, not the comparison's: arguments that are not
//! JSON or do not match the tool's schema, an unknown tool, a tool that fails, panics or runs
//! past its timeout — each becomes an error result the model sees ([`ToolOutput::error`]).

#[cfg(feature = "mcp")]
pub mod mcp;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::types::content::Content;
use crate::types::request::Tool;
use crate::types::request::ToolCall;

/// Default time a tool may run.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest tool result, in bytes of text (longer results are cut, with a marker).
pub const DEFAULT_MAX_RESULT_BYTES: usize = 64 * 1024;
/// Default most steps of a model's loop.
pub const DEFAULT_MAX_STEPS: u32 = 8;

/// What a tool returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The result (text, or text with images).
    pub content: Content,
    /// Whether it is an error the model should see as one.
    pub is_error: bool,
    /// Taken from a cassette (another model's identical call, or a supplied recording), not
    /// executed for this call.
    pub replayed: bool,
}

impl ToolOutput {
    /// A result.
    pub fn ok(content: impl Into<Content>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
            replayed: false,
        }
    }

    /// An error result.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: Content::Text(message.into()),
            is_error: true,
            replayed: false,
        }
    }
}

/// Runs tools by name: the one seam behind the embedder's functions, configured HTTP and MCP
/// tools and client-side tools.
#[async_trait]
pub trait ToolExecutor: Send + Sync + fmt::Debug {
    /// The tools, as the models are offered them.
    fn tools(&self) -> Vec<Tool>;

    /// Runs tool `name` with `arguments` (a JSON object, checked against its schema).
    async fn call(&self, name: &str, arguments: Value) -> ToolOutput;

    /// Whether these tools can run in another process with the same configuration (a remote
    /// runner's worker): the configuration's HTTP and MCP tools can; the embedder's
    /// functions, client-side tools and a shared cassette cannot.
    fn portable(&self) -> bool {
        false
    }
}

/// How calls are run: per-call timeout and result size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToolLimits {
    /// Time one call may run.
    pub timeout: Duration,
    /// Largest result text, in bytes.
    pub max_result_bytes: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TOOL_TIMEOUT,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

/// A tool's result in a model's tool loop.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolResult {
    /// The call it answers.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// What the tool returned (or why it failed).
    pub content: crate::types::content::Content,
    /// Whether the tool failed.
    pub is_error: bool,
    /// How long it ran.
    pub duration_ms: f64,
    /// Taken from a cassette, not executed.
    #[serde(default)]
    pub replayed: bool,
}

/// Most steps a loop may be given.
pub const MAX_STEPS_LIMIT: u32 = 64;

mod cassette;
mod client;
mod compose;
mod execute;
mod http;
mod toolbox;

pub use cassette::{Cassette, Recording, ToolMode, canonical};
pub(crate) use client::Awaiting;
pub use client::{ClientResult, ClientTools};
pub use compose::{combine, only};
pub(crate) use execute::arguments;
pub use execute::{execute, is_schema};
pub use http::{HttpTool, HttpTools};
pub use toolbox::Toolbox;
