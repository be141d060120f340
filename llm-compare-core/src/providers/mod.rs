//! Real model providers over HTTP: one adapter per wire format (OpenAI-compatible chat
//! completions, Anthropic Messages, Gemini), each split into pure request building and
//! stream parsing (`openai`, `anthropic`, `gemini`) and the shared sending code (`http`).
//!
//! [`HttpProvider`] binds a wire format to a base URL, a key and headers. [`PRESETS`] lists
//! the built-in providers; configuration adds custom ones (vLLM, llama.cpp, LM Studio,
//! LiteLLM proxies…) and overrides anything.
//!
//! Behind every one: the [`Provider`] trait and the [`ProviderRegistry`] that resolves model
//! ids to providers (`provider`), and the offline simulator ([`SimProvider`], `sim`), which
//! adds itself to a registry ([`ProviderRegistry::with_sim`]).

// The wire formats' parsers and the SSE framing are public for the fuzz targets, the
// benches and the recorded-stream tests only: not part of the API.
#[doc(hidden)]
pub mod anthropic;
#[doc(hidden)]
pub mod gemini;
#[doc(hidden)]
pub mod http;
#[doc(hidden)]
pub mod openai;
pub(crate) mod provider;
mod remote;
pub mod sim;
#[doc(hidden)]
pub mod sse;

pub use provider::{
    Availability, ModelInfo, Provider, ProviderEvent, ProviderRegistry, ProviderStream,
    ReportedUsage,
};
pub use remote::{
    HttpProvider, HttpProviderSpec, PRESETS, Preset, Secret, WireFormat, base_url_env, preset,
};
pub use sim::{SimConfig, SimProvider};
