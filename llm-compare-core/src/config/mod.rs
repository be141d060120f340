//! Configuration: a TOML file (`--config`, else `llm-compare.toml` in the working
//! directory, else defaults), overridden by environment variables. Builds the [`Engine`].
//!
//! Every key is documented in `docs/configuration.md`. Keys come from the usual env vars
//! (`OPENAI_API_KEY`, …) or the file; base URLs from `<PROVIDER>_BASE_URL` or the file.
//! Env vars win over the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

mod mcp;

use crate::engine::comparison::Engine;
pub use crate::engine::policy::{CallPolicy, Policies, Timeouts};
use crate::pricing::cost::{PriceTable, parse_usd_per_million};
use crate::providers::provider::ProviderRegistry;
use crate::providers::sim::{SimConfig, SimProvider};
use crate::providers::{
    HttpProvider, HttpProviderSpec, PRESETS, Secret, WireFormat, base_url_env, preset,
};
use crate::types::error::{Error, Result};
use crate::types::request::{DEFAULT_MAX_MODELS, Params};

/// The default configuration file name, looked up in the working directory.
pub const DEFAULT_FILE: &str = "llm-compare.toml";

/// The whole configuration file.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Most models per comparison (default 8).
    #[serde(default)]
    pub max_models: Option<usize>,
    /// Largest attachment (image, file) a request may carry, decoded bytes (default 20 MiB).
    #[serde(default)]
    pub max_attachment_bytes: Option<usize>,
    /// Defaults for every model: retries, backoff, timeouts, params.
    #[serde(default)]
    pub defaults: ModelSettings,
    /// Providers: settings for the built-in ones, or new OpenAI-compatible (or Anthropic /
    /// Gemini) ones.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
    /// Short names for model ids (`fast = "groq/llama-3.1-8b-instant"`).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Per-model settings, keyed by model id.
    #[serde(default)]
    pub models: BTreeMap<String, ModelSettings>,
    /// Price overrides (USD per 1M tokens), keyed by model id.
    #[serde(default)]
    pub prices: BTreeMap<String, PriceOverride>,
    /// Timing of the simulated models.
    #[serde(default)]
    pub sim: SimSettings,
    /// The server's own settings (`[server]`), read by `llm-compare serve`.
    #[serde(default)]
    pub server: Option<toml::Table>,
    /// Executable tools (`[tools.<name>]`): requests name them in `tools` to run an agent
    /// comparison.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolSettings>,
    /// MCP servers (`[mcp.<name>]`) whose tools requests may name in `tools`.
    #[serde(default)]
    pub mcp: BTreeMap<String, McpSettings>,
}

impl std::fmt::Debug for Config {
    // `[server]` holds static API keys and database URLs: its keys' names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("max_models", &self.max_models)
            .field("max_attachment_bytes", &self.max_attachment_bytes)
            .field("defaults", &self.defaults)
            .field("providers", &self.providers)
            .field("aliases", &self.aliases)
            .field("models", &self.models)
            .field("prices", &self.prices)
            .field("sim", &self.sim)
            .field(
                "server",
                &self.server.as_ref().map(|t| t.keys().collect::<Vec<_>>()),
            )
            .field("tools", &self.tools)
            .field("mcp", &self.mcp)
            .finish()
    }
}

/// One MCP server (`[mcp.<name>]`): a `command` run as a child process (stdio), or a `url`
/// (streamable HTTP).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSettings {
    /// The program to run (stdio transport).
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables for it; a value `env:NAME` is read from environment variable NAME.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Its working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// The endpoint (streamable HTTP transport).
    #[serde(default)]
    pub url: Option<String>,
    /// Headers sent to `url`; a value `env:NAME` is read from environment variable NAME.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Only these of its tools are offered (default: all it lists).
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Seconds to start, connect and list its tools (default 60: `npx -y` may download it).
    #[serde(default)]
    pub connect_timeout_s: Option<f64>,
}

impl std::fmt::Debug for McpSettings {
    // `env` and `headers` carry tokens: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSettings")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("tools", &self.tools)
            .field("connect_timeout_s", &self.connect_timeout_s)
            .finish()
    }
}

/// One HTTP tool (`[tools.<name>]`): the model's arguments are POSTed as JSON to `url`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSettings {
    /// Where the arguments go.
    pub url: String,
    /// What the tool does, for the models.
    pub description: String,
    /// JSON Schema of its arguments (an object; default: no arguments).
    #[serde(default)]
    pub parameters: Option<toml::Value>,
    /// Seconds one call may take (default 30).
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// Headers sent with each call; a value `env:NAME` is read from environment variable NAME.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for ToolSettings {
    // `headers` carry tokens: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSettings")
            .field("url", &self.url)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .field("timeout_s", &self.timeout_s)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One provider's settings.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Wire format (`openai`, `anthropic`, `gemini`); required for a new provider.
    #[serde(default)]
    pub kind: Option<WireFormat>,
    /// Base URL (overridden by `<NAME>_BASE_URL`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The key itself (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// The env var holding the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Whether the provider needs a key (default: built-ins as documented; new providers
    /// only when `api_key`/`api_key_env` is set).
    #[serde(default)]
    pub requires_key: Option<bool>,
    /// Extra HTTP headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Models to list in `llm-compare models` (any name is accepted anyway).
    #[serde(default)]
    pub models: Vec<String>,
    /// Send `stream_options.include_usage` (OpenAI-compatible only).
    #[serde(default)]
    pub include_usage: Option<bool>,
    /// `false` removes a built-in provider.
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for ProviderSettings {
    // The key and the headers are credentials: the key's presence and the headers' names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("api_key_env", &self.api_key_env)
            .field("requires_key", &self.requires_key)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("models", &self.models)
            .field("include_usage", &self.include_usage)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Timeouts in milliseconds.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Until the response headers arrive (connection, TLS, the provider accepting).
    pub connect_ms: Option<u64>,
    /// Until the first token, from the start of an attempt.
    pub first_token_ms: Option<u64>,
    /// Longest gap between two chunks once streaming.
    pub idle_ms: Option<u64>,
    /// Whole call, retries and fallbacks included.
    pub total_ms: Option<u64>,
}

/// Settings of every model (`[defaults]`) or one model (`[models."provider/model"]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Default generation params (a request's own params win).
    #[serde(default)]
    pub params: Option<Params>,
    /// Retries of a failed attempt before its first token (default 2).
    #[serde(default)]
    pub retries: Option<u32>,
    /// First backoff in ms (default 200; doubles per retry, with jitter).
    #[serde(default)]
    pub backoff_ms: Option<u64>,
    /// Longest backoff in ms (default 5000).
    #[serde(default)]
    pub max_backoff_ms: Option<u64>,
    /// Longest `Retry-After` honoured in ms (default 20000); longer ones fail over instead.
    #[serde(default)]
    pub max_retry_after_ms: Option<u64>,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: TimeoutSettings,
    /// Models to try, in order, when this one fails before its first token.
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

/// A price override. Numbers or decimal strings, USD per 1M tokens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    /// Input tokens.
    pub input: Option<Decimal>,
    /// Output tokens.
    pub output: Option<Decimal>,
    /// Cached input tokens.
    pub cache_read: Option<Decimal>,
    /// Cache writes.
    pub cache_write: Option<Decimal>,
    /// Reasoning tokens.
    pub reasoning: Option<Decimal>,
    /// Cache writes with a 1-hour lifetime.
    pub cache_write_1h: Option<Decimal>,
    /// Audio input tokens.
    pub audio_input: Option<Decimal>,
    /// Audio output tokens.
    pub audio_output: Option<Decimal>,
    /// What the model takes and does: `["vision", "pdf", "!tools"]` (`!`: known not to).
    pub capabilities: Option<Vec<String>>,
    /// Context window.
    pub context_window: Option<u64>,
}

/// A decimal written as a TOML number or string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Decimal {
    /// `"2.5"`.
    Text(String),
    /// `2.5`.
    Float(f64),
    /// `2`.
    Int(i64),
}

impl Decimal {
    fn pico(&self, field: &str) -> Result<u64> {
        let s = match self {
            Decimal::Text(s) => s.clone(),
            Decimal::Float(f) => f.to_string(),
            Decimal::Int(i) => i.to_string(),
        };
        parse_usd_per_million(&s).map_err(|_| {
            Error::invalid(field, format!("`{s}` is not a price in USD per 1M tokens"))
        })
    }
}

/// Timing of the simulated models (env `LLM_COMPARE_SIM_*` wins).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    /// Time to first token in ms.
    pub ttft_ms: Option<u64>,
    /// Time to first token of `sim/slow` in ms.
    pub slow_ttft_ms: Option<u64>,
    /// Words per second (0 = no delay).
    pub tokens_per_s: Option<f64>,
}

impl CallPolicy {
    /// This policy with `s` applied on top.
    fn apply(&self, s: &ModelSettings) -> Self {
        let ms = Duration::from_millis;
        let t = &s.timeouts;
        Self {
            retries: s.retries.unwrap_or(self.retries),
            backoff: s.backoff_ms.map_or(self.backoff, ms),
            max_backoff: s.max_backoff_ms.map_or(self.max_backoff, ms),
            max_retry_after: s.max_retry_after_ms.map_or(self.max_retry_after, ms),
            timeouts: Timeouts {
                connect: t.connect_ms.map_or(self.timeouts.connect, ms),
                first_token: t.first_token_ms.map_or(self.timeouts.first_token, ms),
                idle: t.idle_ms.map_or(self.timeouts.idle, ms),
                total: t.total_ms.map_or(self.timeouts.total, ms),
            },
            fallbacks: if s.fallbacks.is_empty() {
                self.fallbacks.clone()
            } else {
                s.fallbacks.clone()
            },
            params: s
                .params
                .as_ref()
                .map_or_else(|| self.params.clone(), |p| p.over(&self.params)),
        }
    }
}

impl Config {
    /// Parses TOML.
    pub fn parse(toml_text: &str) -> Result<Self> {
        toml::from_str(toml_text)
            .map_err(|e| Error::invalid("config", format!("invalid configuration: {e}")))
    }

    /// A configuration as the bindings pass it: `kind` is `default` (as [`Config::load`]
    /// with no path), `path`, `toml` (the text) or `json` (the same shape as JSON).
    pub fn from_kind(kind: &str, text: &str) -> Result<Self> {
        match kind {
            "default" => Self::load(None),
            "path" => Self::load(Some(Path::new(text))),
            "toml" => Self::parse(text),
            "json" => serde_json::from_str(text)
                .map_err(|e| Error::invalid("config", format!("invalid configuration: {e}"))),
            other => Err(Error::invalid(
                "config",
                format!("unknown configuration kind `{other}`"),
            )),
        }
    }

    /// Loads `path`, else `llm-compare.toml` in the working directory if there is one,
    /// else the defaults. A `path` that cannot be read is an error.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_FILE), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map_err(|e| match e {
                Error::InvalidRequest { message, .. } => {
                    Error::invalid("config", format!("{}: {message}", path.display()))
                }
                other => other,
            }),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::invalid(
                "config",
                format!("cannot read {}: {e}", path.display()),
            )),
        }
    }

    /// The simulated models' timing: file, then env.
    pub fn sim_config(&self) -> Result<SimConfig> {
        let mut c = SimConfig::default();
        if let Some(ms) = self.sim.ttft_ms {
            c.ttft = Duration::from_millis(ms);
        }
        if let Some(ms) = self.sim.slow_ttft_ms {
            c.slow_ttft = Duration::from_millis(ms);
        }
        if let Some(t) = self.sim.tokens_per_s {
            c.tokens_per_s = t;
        }
        c.apply_env()
    }

    /// The price table: the bundled one, with the built-in simulator's own prices, and this
    /// file's overrides.
    pub fn price_table(&self) -> Result<PriceTable> {
        self.price_table_for(&ProviderRegistry::with_sim())
    }

    /// The price table for `providers`: the bundled one, with the prices they bring for their
    /// own models, and this file's overrides.
    pub fn price_table_for(&self, providers: &ProviderRegistry) -> Result<PriceTable> {
        let mut table = (*PriceTable::bundled())
            .clone()
            .with_defaults(providers.own_prices());
        for (model, o) in &self.prices {
            let field = |f: &str| format!("prices.\"{model}\".{f}");
            let mut p = table.get(model).copied().unwrap_or_default();
            p.configured = true;
            let known = table.get(model).is_some();
            if !known && (o.input.is_none() || o.output.is_none()) {
                return Err(Error::invalid(
                    field("input"),
                    "a model not in the bundled table needs both input and output prices",
                ));
            }
            if let Some(v) = &o.input {
                p.input = v.pico(&field("input"))?;
            }
            if let Some(v) = &o.output {
                p.output = v.pico(&field("output"))?;
            }
            for (name, value, rate) in [
                ("cache_read", &o.cache_read, &mut p.cache_read),
                ("cache_write", &o.cache_write, &mut p.cache_write),
                ("reasoning", &o.reasoning, &mut p.reasoning),
                ("cache_write_1h", &o.cache_write_1h, &mut p.cache_write_1h),
                ("audio_input", &o.audio_input, &mut p.audio_input),
                ("audio_output", &o.audio_output, &mut p.audio_output),
            ] {
                if let Some(v) = value {
                    *rate = Some(v.pico(&field(name))?);
                }
            }
            if let Some(c) = o.context_window {
                p.max_input_tokens = Some(c);
            }
            if let Some(list) = &o.capabilities {
                p.capabilities = crate::pricing::cost::Capabilities::parse(&list.join(","))
                    .map_err(|e| Error::invalid(field("capabilities"), e.to_string()))?;
            }
            table.set(model.clone(), p);
        }
        Ok(table)
    }

    /// The call policies and aliases.
    pub fn policies(&self) -> Policies {
        let default = CallPolicy::default().apply(&self.defaults);
        let mut p = Policies::new(default.clone());
        for (model, s) in &self.models {
            p.set(model.clone(), default.apply(s));
        }
        for (a, m) in &self.aliases {
            p.alias(a.clone(), m.clone());
        }
        p
    }

    /// Every provider: the simulated one, the built-in presets and the file's own, with keys
    /// and base URLs from env vars (which win) or the file.
    pub fn provider_registry(&self) -> Result<ProviderRegistry> {
        let mut reg = ProviderRegistry::new();
        reg.register(Arc::new(SimProvider::new(self.sim_config()?)));
        let connect = CallPolicy::default().apply(&self.defaults).timeouts.connect;
        let mut names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        for name in self.providers.keys() {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        for name in names {
            let settings = self.providers.get(name).cloned().unwrap_or_default();
            if settings.enabled == Some(false) {
                continue;
            }
            if name == "sim" {
                return Err(Error::invalid(
                    "providers.sim",
                    "`sim` is the built-in simulated provider; configure it under [sim]",
                ));
            }
            reg.register(Arc::new(HttpProvider::new(http_spec(
                name, &settings, connect,
            )?)?));
        }
        Ok(reg)
    }

    /// The engine this configuration describes, without its MCP servers (`[mcp.*]`: their
    /// tools are offered once connected, by [`Config::connect`]).
    pub fn engine(&self) -> Result<Engine> {
        let tools = self
            .http_tools()?
            .map(|t| Arc::new(t) as Arc<dyn crate::tools::ToolExecutor>);
        self.engine_with(tools)
    }

    /// The engine this configuration describes, its MCP servers connected (each started or
    /// reached, its tools listed).
    pub async fn connect(&self) -> Result<Engine> {
        let tools = self.tools().await?;
        self.engine_with(tools)
    }

    /// The executable tools (`[tools.*]` and `[mcp.*]`) as one executor (None without any),
    /// the MCP servers connected.
    pub async fn tools(&self) -> Result<Option<Arc<dyn crate::tools::ToolExecutor>>> {
        let http = self.http_tools()?;
        let mcp = self.mcp_tools(http.as_ref()).await?;
        Ok(match (http, mcp) {
            (None, None) => None,
            (Some(h), None) => Some(Arc::new(h)),
            (None, Some(m)) => Some(m),
            (Some(h), Some(m)) => Some(crate::tools::combine(Arc::new(h), m)),
        })
    }

    fn engine_with(&self, tools: Option<Arc<dyn crate::tools::ToolExecutor>>) -> Result<Engine> {
        let providers = self.provider_registry()?;
        let prices = self.price_table_for(&providers)?;
        let engine = match tools {
            Some(tools) => Engine::new(providers).with_tools(tools),
            None => Engine::new(providers),
        };
        Ok(engine
            .with_prices(Arc::new(prices))
            .with_policies(self.policies())
            .with_max_models(self.max_models.unwrap_or(DEFAULT_MAX_MODELS))
            .with_max_attachment_bytes(
                self.max_attachment_bytes
                    .unwrap_or(crate::types::content::DEFAULT_MAX_ATTACHMENT_BYTES),
            ))
    }
}

impl Config {
    /// The `[tools.*]` as an executor (None without any), checked: a URL, a schema that is an
    /// object, a positive timeout, `env:` headers whose variable is set.
    pub fn http_tools(&self) -> Result<Option<crate::tools::HttpTools>> {
        if self.tools.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for (name, t) in &self.tools {
            let field = |f: &str| format!("tools.{name}.{f}");
            if !t.url.starts_with("http://") && !t.url.starts_with("https://") {
                return Err(Error::invalid(field("url"), "an http(s) URL"));
            }
            let parameters = match &t.parameters {
                None => serde_json::json!({"type": "object", "properties": {}}),
                Some(v) => serde_json::to_value(v)
                    .ok()
                    .filter(crate::tools::is_schema)
                    .ok_or_else(|| Error::invalid(field("parameters"), "a JSON Schema object"))?,
            };
            let timeout = t.timeout_s.unwrap_or(30.0);
            if !(timeout > 0.0 && timeout.is_finite()) {
                return Err(Error::invalid(
                    field("timeout_s"),
                    "a positive number of seconds",
                ));
            }
            let mut headers = Vec::new();
            for (k, v) in &t.headers {
                let value = match v.strip_prefix("env:") {
                    Some(var) => env_nonempty(var).ok_or_else(|| {
                        Error::invalid(
                            field("headers"),
                            format!("`{k}` reads ${var}, which is not set"),
                        )
                    })?,
                    None => v.clone(),
                };
                headers.push((k.clone(), value));
            }
            out.push(crate::tools::HttpTool {
                tool: crate::types::request::Tool::function(
                    name.clone(),
                    t.description.clone(),
                    parameters,
                ),
                url: t.url.clone(),
                headers,
                timeout: Duration::from_secs_f64(timeout),
            });
        }
        Ok(Some(crate::tools::HttpTools::new(out)))
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Resolves one provider's wire format, base URL, key and headers.
fn http_spec(name: &str, s: &ProviderSettings, connect: Duration) -> Result<HttpProviderSpec> {
    let field = |f: &str| format!("providers.{name}.{f}");
    let preset = preset(name);
    let wire = match (s.kind, preset) {
        (Some(k), _) => k,
        (None, Some(p)) => p.wire,
        (None, None) => {
            return Err(Error::invalid(
                field("kind"),
                "a new provider needs `kind` (openai, anthropic or gemini)",
            ));
        }
    };
    let base_url = env_nonempty(&base_url_env(name))
        .or_else(|| s.base_url.clone())
        .or_else(|| preset.map(|p| p.base_url.to_string()))
        .ok_or_else(|| Error::invalid(field("base_url"), "a new provider needs `base_url`"))?;
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(Error::invalid(
            field("base_url"),
            format!("`{base_url}` is not an http(s) URL"),
        ));
    }
    let key_envs: Vec<String> = match &s.api_key_env {
        Some(e) => vec![e.clone()],
        None => preset
            .map(|p| p.key_envs.iter().map(|e| e.to_string()).collect())
            .unwrap_or_default(),
    };
    let key = key_envs
        .iter()
        .find_map(|e| env_nonempty(e))
        .or_else(|| s.api_key.clone())
        .map(Secret::new);
    let requires_key = s
        .requires_key
        .unwrap_or(!key_envs.is_empty() || s.api_key.is_some());
    let unavailable = (requires_key && key.is_none()).then(|| {
        if key_envs.is_empty() {
            format!("no API key configured (set providers.{name}.api_key_env)")
        } else {
            format!("{} is not set", key_envs.join(" or "))
        }
    });
    let models = if s.models.is_empty() {
        preset
            .map(|p| p.models.iter().map(|m| m.to_string()).collect())
            .unwrap_or_default()
    } else {
        s.models.clone()
    };
    Ok(HttpProviderSpec {
        name: name.to_string(),
        wire,
        base_url,
        key,
        unavailable,
        headers: s
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        models,
        include_usage: s
            .include_usage
            .unwrap_or(preset.is_none_or(|p| p.include_usage)),
        connect_timeout: connect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_tools_are_checked_and_named_by_field() {
        let tools = |t: &str| Config::parse(t).and_then(|c| c.http_tools());
        let ok = tools(
            "[tools.search]\nurl = \"https://x/search\"\ndescription = \"Search\"\ntimeout_s = 5\n\
             headers = { x-kind = \"demo\" }\n",
        )
        .unwrap()
        .unwrap();
        use crate::tools::ToolExecutor as _;
        let defs = ok.tools();
        assert_eq!(defs[0].function.name, "search");
        assert_eq!(
            defs[0].function.parameters,
            Some(serde_json::json!({"type": "object", "properties": {}}))
        );
        assert!(tools("").unwrap().is_none());
        let field = |t: &str| tools(t).unwrap_err().field().map(str::to_string);
        assert_eq!(
            field("[tools.a]\nurl = \"ftp://x\"\ndescription = \"d\"\n"),
            Some("tools.a.url".into())
        );
        assert_eq!(
            field("[tools.a]\nurl = \"http://x\"\ndescription = \"d\"\nparameters = 3\n"),
            Some("tools.a.parameters".into())
        );
        assert_eq!(
            field("[tools.a]\nurl = \"http://x\"\ndescription = \"d\"\ntimeout_s = 0\n"),
            Some("tools.a.timeout_s".into())
        );
        assert_eq!(
            field(
                "[tools.a]\nurl = \"http://x\"\ndescription = \"d\"\nheaders = { authorization = \"env:LLMC_TEST_UNSET_VAR\" }\n"
            ),
            Some("tools.a.headers".into())
        );
    }

    #[test]
    fn a_full_file_parses_and_applies() {
        let c = Config::parse(
            r#"
            max_models = 4
            [defaults]
            retries = 1
            timeouts = { first_token_ms = 1000 }
            [providers.local]
            kind = "openai"
            base_url = "http://127.0.0.1:8000/v1"
            headers = { "x-team" = "a" }
            [providers.groq]
            api_key = "gsk-test"
            [aliases]
            fast = "groq/llama-3.1-8b-instant"
            [models."openai/gpt-4o-mini"]
            fallbacks = ["groq/llama-3.1-8b-instant"]
            params = { temperature = 0.2 }
            timeouts = { idle_ms = 500 }
            [prices."local/my-model"]
            input = "0.5"
            output = 1.5
            [sim]
            tokens_per_s = 0
            "#,
        )
        .unwrap();
        let p = c.policies();
        assert_eq!(p.resolve_alias("fast"), "groq/llama-3.1-8b-instant");
        let m = p.policy("openai/gpt-4o-mini");
        assert_eq!(m.retries, 1);
        assert_eq!(m.timeouts.first_token, Duration::from_secs(1));
        assert_eq!(m.timeouts.idle, Duration::from_millis(500));
        assert_eq!(m.fallbacks, vec!["groq/llama-3.1-8b-instant"]);
        assert_eq!(m.params.temperature, Some(0.2));
        let prices = c.price_table().unwrap();
        assert_eq!(prices.get("local/my-model").unwrap().output, 1_500_000);
        let reg = c.provider_registry().unwrap();
        assert!(reg.get("local").is_some() && reg.get("openai").is_some());
        assert_eq!(c.engine().unwrap().max_models(), 4);
    }

    #[test]
    fn mistakes_name_the_key() {
        let e = Config::parse("[providers.x]\nbase_url = 1").unwrap_err();
        assert_eq!(e.field(), Some("config"));
        let e = Config::parse("[models.\"a/b\"]\nretry = 3").unwrap_err();
        assert!(e.to_string().contains("unknown field `retry`"), "{e}");
        let c = Config::parse("[providers.new]\nbase_url = \"http://x\"").unwrap();
        assert_eq!(
            c.provider_registry().unwrap_err().field(),
            Some("providers.new.kind")
        );
        let c = Config::parse("[prices.\"a/b\"]\ninput = \"x\"\noutput = 1").unwrap();
        assert_eq!(
            c.price_table().unwrap_err().field(),
            Some("prices.\"a/b\".input")
        );
        assert!(Config::load(Some(Path::new("/no/such/file.toml"))).is_err());
    }

    #[test]
    fn keys_never_show_in_debug() {
        let c = Config::parse("[providers.openai]\napi_key = \"sk-super-secret\"").unwrap();
        let reg = c.provider_registry().unwrap();
        let dbg = format!("{reg:?}");
        assert!(!dbg.contains("sk-super-secret"), "{dbg}");
        assert!(dbg.contains("redacted"));
        // Nor in the configuration's own Debug: provider keys and headers, tool and MCP
        // headers and variables, the server's static keys.
        let c = Config::parse(
            "[providers.openai]\napi_key = \"sk-super-secret\"\nheaders = { x-auth = \"hdr-secret\" }\n\
             [tools.t]\nurl = \"http://127.0.0.1:1/\"\ndescription = \"d\"\nheaders = { authorization = \"Bearer tool-secret\" }\n\
             [mcp.m]\nurl = \"http://127.0.0.1:1/mcp\"\nheaders = { authorization = \"Bearer mcp-secret\" }\nenv = { TOKEN = \"env-secret\" }\n\
             [server]\napi_keys = { alice = \"static-secret\" }\n",
        )
        .unwrap();
        let dbg = format!("{c:?}");
        for secret in [
            "sk-super-secret",
            "hdr-secret",
            "tool-secret",
            "mcp-secret",
            "env-secret",
            "static-secret",
        ] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
        assert!(
            dbg.contains("x-auth") && dbg.contains("authorization"),
            "{dbg}"
        );
    }
}
