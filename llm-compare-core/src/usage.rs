//! Token counts of one model call and where they came from: what providers report (or the
//! tokenizer estimates), what prices apply to ([`crate::cost`]), what events carry
//! ([`crate::event`]).

use serde::{Deserialize, Serialize};

/// Where token counts came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The provider reported them.
    #[default]
    Reported,
    /// llm-compare counted them with a tokenizer (the provider did not report all of them).
    Estimated,
}

/// Token counts of one model call.
///
/// Conventions (all providers are normalized to them): `input_tokens` includes
/// `cached_input_tokens` (read from the provider's cache) and `cache_write_tokens` (written to
/// it); `output_tokens` includes `reasoning_tokens`. Each part is priced at its own rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Prompt tokens written to the provider's cache (Anthropic's
    /// `cache_creation_input_tokens`), priced at the cache-write rate.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Generated tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Reported by the provider or estimated.
    #[serde(default)]
    pub source: UsageSource,
}
