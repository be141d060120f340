//! The provider seam: what every model backend implements, and the registry that resolves a
//! model id (`provider/model`) to its provider.
//!
//! A [`Provider`] turns one [`ChatRequest`] into a stream of normalized [`ProviderEvent`]s.
//! It knows nothing of comparisons, timing or cost: the engine adds those.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::pricing::cost::{ModelPrice, PriceTable};
use crate::types::error::{Error, Result};
use crate::types::event::FinishReason;
use crate::types::request::{ChatRequest, ModelId};

/// One normalized event from a provider's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// Answer text.
    TextDelta(String),
    /// Reasoning ("thinking") text.
    ReasoningDelta(String),
    /// A piece of a tool call; pieces with the same `index` form one call.
    ToolCallDelta {
        /// Which call this piece belongs to.
        index: usize,
        /// The call's id (usually in the first piece only).
        id: Option<String>,
        /// The tool's name (usually in the first piece only).
        name: Option<String>,
        /// More of the JSON arguments.
        arguments: String,
    },
    /// Token counts; later reports override earlier ones field by field.
    Usage(ReportedUsage),
    /// The model stopped.
    Finish {
        /// Normalized reason.
        reason: FinishReason,
        /// The provider's own word for it.
        raw: Option<String>,
    },
}

/// Token counts as a provider reports them: each field may be missing. Also the wire form of
/// a usage line between `llm-compare worker` and the server (absent fields left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedUsage {
    /// Prompt tokens, cached ones included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Generated tokens, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<u64>,
    /// Prompt tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Of those, written with a 1-hour lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h_tokens: Option<u64>,
    /// Prompt tokens of audio (not read from the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input_tokens: Option<u64>,
    /// Reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Generated tokens of audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output_tokens: Option<u64>,
    /// What the call cost, as the provider reports it (OpenRouter's `usage.cost`, xAI's
    /// `cost_in_usd_ticks`): then the cost, whatever the price table says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::types::money::Usd>,
}

impl ReportedUsage {
    /// Overrides the fields `newer` reports.
    pub fn merge(&mut self, newer: &ReportedUsage) {
        // Destructured so that a new field cannot be forgotten here.
        let ReportedUsage {
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_write_tokens,
            cache_write_1h_tokens,
            audio_input_tokens,
            reasoning_tokens,
            audio_output_tokens,
            cost,
        } = *newer;
        self.input_tokens = input_tokens.or(self.input_tokens);
        self.output_tokens = output_tokens.or(self.output_tokens);
        self.cached_input_tokens = cached_input_tokens.or(self.cached_input_tokens);
        self.cache_write_tokens = cache_write_tokens.or(self.cache_write_tokens);
        self.cache_write_1h_tokens = cache_write_1h_tokens.or(self.cache_write_1h_tokens);
        self.audio_input_tokens = audio_input_tokens.or(self.audio_input_tokens);
        self.reasoning_tokens = reasoning_tokens.or(self.reasoning_tokens);
        self.audio_output_tokens = audio_output_tokens.or(self.audio_output_tokens);
        self.cost = cost.or(self.cost);
    }

    /// The usage of two calls together (an agent's steps): each field summed; a field one
    /// of them did not report is unknown for both (then estimated).
    pub fn add(&self, other: &ReportedUsage) -> ReportedUsage {
        fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            Some(a?.saturating_add(b?))
        }
        ReportedUsage {
            input_tokens: sum(self.input_tokens, other.input_tokens),
            output_tokens: sum(self.output_tokens, other.output_tokens),
            cached_input_tokens: sum(self.cached_input_tokens, other.cached_input_tokens),
            cache_write_tokens: sum(self.cache_write_tokens, other.cache_write_tokens),
            cache_write_1h_tokens: sum(self.cache_write_1h_tokens, other.cache_write_1h_tokens),
            audio_input_tokens: sum(self.audio_input_tokens, other.audio_input_tokens),
            reasoning_tokens: sum(self.reasoning_tokens, other.reasoning_tokens),
            audio_output_tokens: sum(self.audio_output_tokens, other.audio_output_tokens),
            cost: match (self.cost, other.cost) {
                (Some(a), Some(b)) => Some(a.saturating_add(b)),
                _ => None,
            },
        }
    }
}

/// The stream a provider returns for one call.
pub type ProviderStream = BoxStream<'static, Result<ProviderEvent>>;

/// Whether a provider can be used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Ready.
    Available,
    /// Not usable, and why (e.g. "OPENAI_API_KEY is not set").
    Unavailable {
        /// Why not.
        reason: String,
    },
}

/// A model backend.
///
/// Object-safe: a [`ProviderRegistry`] holds `Arc<dyn Provider>`. Dropping the returned
/// stream must abort the upstream call.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The provider prefix of its model ids (`openai`, `sim`).
    fn name(&self) -> &str;

    /// Whether it can be used now.
    fn availability(&self) -> Availability {
        Availability::Available
    }

    /// Why its API cannot carry `part` (a web URL where it takes only bytes), if it cannot:
    /// the model then fails with `unsupported_input` before any call.
    fn refusal(&self, _part: &crate::types::content::Part) -> Option<String> {
        None
    }

    /// Models this provider is known to serve (for listings; not a whitelist unless
    /// [`Provider::check_model`] says so).
    async fn list_models(&self) -> Result<Vec<String>>;

    /// Refuses model names this provider cannot serve. Real providers accept any name
    /// (they add models every week); the simulated one knows its five.
    fn check_model(&self, _model: &ModelId) -> Result<()> {
        Ok(())
    }

    /// Starts one call. Errors before the first event (bad status, refused connection) are
    /// returned here; later ones come inside the stream.
    async fn stream(&self, request: ChatRequest) -> Result<ProviderStream>;

    /// Prices this provider brings for its own models, by full id (the simulator's are $0);
    /// the price table's entries win over them. Real providers bring none: their prices are
    /// the table's.
    fn own_prices(&self) -> Vec<(String, ModelPrice)> {
        Vec::new()
    }
}

/// A model as listed by `llm-compare models` and `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelInfo {
    /// `provider/model`.
    pub id: String,
    /// The provider prefix.
    pub provider: String,
    /// Context window in tokens, when known.
    pub context_window: Option<u64>,
    /// USD per 1M input tokens, when priced.
    pub input_usd_per_million: Option<f64>,
    /// USD per 1M output tokens, when priced.
    pub output_usd_per_million: Option<f64>,
    /// Where its prices come from: `price_table` or `config` (an override); null when unpriced.
    pub price_source: Option<crate::types::money::CostSource>,
    /// What it is known to take and do: `vision`, `pdf`, `response_schema`, `tools`,
    /// `reasoning` (from the price data, or the configuration).
    pub capabilities: Vec<String>,
    /// What it is known not to take or do (same names): the UI disables it for such input.
    #[serde(default)]
    pub lacks: Vec<String>,
    /// The version of the price data its prices come from (`sha256:…`), when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub price_version: Option<String>,
    /// Whether it can be used now.
    pub available: bool,
    /// Why not, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub reason: Option<String>,
}

/// A model's capabilities as `pick` names them (none when unpriced).
fn caps(
    price: Option<&crate::pricing::cost::ModelPrice>,
    pick: fn(&crate::pricing::cost::Capabilities) -> Vec<&'static str>,
) -> Vec<String> {
    price.map_or_else(Vec::new, |p| {
        pick(&p.capabilities)
            .into_iter()
            .map(String::from)
            .collect()
    })
}

/// Resolves model ids to providers.
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a provider under its name.
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.name().to_string(), provider);
    }

    /// The provider registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    /// Names of the registered providers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// Parses a model id and finds its provider, refusing unknown providers and models the
    /// provider rejects.
    pub fn resolve(&self, model: &str) -> Result<(ModelId, Arc<dyn Provider>)> {
        let id = ModelId::parse(model)?;
        let Some(provider) = self.providers.get(id.provider()) else {
            let known: Vec<&str> = self.names().collect();
            return Err(Error::UnknownModel {
                model: model.to_string(),
                message: format!(
                    "no provider `{}` is configured (known: {})",
                    id.provider(),
                    known.join(", ")
                ),
            });
        };
        provider.check_model(&id)?;
        Ok((id, provider.clone()))
    }

    /// The prices every registered provider brings for its own models.
    pub fn own_prices(&self) -> Vec<(String, ModelPrice)> {
        self.providers
            .values()
            .flat_map(|p| p.own_prices())
            .collect()
    }

    /// Every model of every provider, with prices from `prices` and availability.
    pub async fn catalogue(&self, prices: &PriceTable) -> Vec<ModelInfo> {
        let mut out = Vec::new();
        for (name, p) in &self.providers {
            let (available, reason) = match p.availability() {
                Availability::Available => (true, None),
                Availability::Unavailable { reason } => (false, Some(reason)),
            };
            let models = match p.list_models().await {
                Ok(m) => m,
                Err(e) => {
                    out.push(ModelInfo {
                        id: format!("{name}/*"),
                        provider: name.clone(),
                        context_window: None,
                        input_usd_per_million: None,
                        output_usd_per_million: None,
                        price_source: None,
                        price_version: None,
                        capabilities: Vec::new(),
                        lacks: Vec::new(),
                        available: false,
                        reason: Some(format!("could not list models: {e}")),
                    });
                    continue;
                }
            };
            for m in models {
                let id = format!("{name}/{m}");
                let price = prices.get(&id);
                let provenance = prices.provenance(&id);
                out.push(ModelInfo {
                    context_window: price.and_then(|p| p.max_input_tokens),
                    input_usd_per_million: price.map(|p| p.input_per_million()),
                    output_usd_per_million: price.map(|p| p.output_per_million()),
                    price_source: provenance.map(|(s, _)| s),
                    capabilities: caps(price, crate::pricing::cost::Capabilities::names),
                    lacks: caps(price, crate::pricing::cost::Capabilities::lacking),
                    price_version: provenance.and_then(|(_, v)| v.map(str::to_string)),
                    id,
                    provider: name.clone(),
                    available,
                    reason: reason.clone(),
                });
            }
        }
        out
    }
}
