//! Token counts of one model call and where they came from: what providers report (or the
//! tokenizer estimates), what prices apply to ([`crate::pricing::cost`]), what events carry
//! ([`crate::types::event`]).

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
/// `cached_input_tokens` (read from the provider's cache), `cache_write_tokens` (written to
/// it; `cache_write_1h_tokens` of them with a 1-hour lifetime) and `audio_input_tokens`;
/// `output_tokens` includes `reasoning_tokens` and `audio_output_tokens`. Each part is priced
/// at its own rate (docs/costs.md).
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
    /// Of `cache_write_tokens`, those written with a 1-hour lifetime (Anthropic's
    /// `cache_creation.ephemeral_1h_input_tokens`), priced at the 1-hour cache-write rate.
    #[serde(default)]
    pub cache_write_1h_tokens: u64,
    /// Prompt tokens of audio not read from the cache, priced at the audio input rate.
    #[serde(default)]
    pub audio_input_tokens: u64,
    /// Generated tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Generated tokens of audio, priced at the audio output rate.
    #[serde(default)]
    pub audio_output_tokens: u64,
    /// Reported by the provider or estimated.
    #[serde(default)]
    pub source: UsageSource,
}
