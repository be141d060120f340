//! [`HttpProvider`]: a wire format bound to a base URL, a key and headers; the built-in
//! [`PRESETS`] and the specification configuration builds custom providers from.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::providers::provider::{Availability, Provider, ProviderStream};
use crate::types::error::{Error, ErrorCode, ProviderError, Result};
use crate::types::request::ChatRequest;

use super::http::{self, HttpRequest, StreamParser};
use super::{anthropic, gemini, openai};

/// The API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireFormat {
    /// OpenAI-compatible chat completions.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
}

/// A secret (API key) that never shows in `Debug`, `Display` or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A built-in provider.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// Its name (the model id prefix).
    pub name: &'static str,
    /// Its wire format.
    pub wire: WireFormat,
    /// Default base URL.
    pub base_url: &'static str,
    /// Env vars holding its key, in order of preference (empty: no key needed).
    pub key_envs: &'static [&'static str],
    /// Models to list in catalogues (any other name is accepted too).
    pub models: &'static [&'static str],
    /// OpenAI-compatible servers that reject or ignore `stream_options`.
    pub include_usage: bool,
}

/// The built-in providers.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "openai",
        wire: WireFormat::Openai,
        base_url: "https://api.openai.com/v1",
        key_envs: &["OPENAI_API_KEY"],
        models: &[
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o3-mini",
            "o4-mini",
        ],
        include_usage: true,
    },
    Preset {
        name: "anthropic",
        wire: WireFormat::Anthropic,
        base_url: "https://api.anthropic.com",
        key_envs: &["ANTHROPIC_API_KEY"],
        models: &["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"],
        include_usage: true,
    },
    Preset {
        name: "gemini",
        wire: WireFormat::Gemini,
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        key_envs: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        models: &["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"],
        include_usage: true,
    },
    Preset {
        name: "groq",
        wire: WireFormat::Openai,
        base_url: "https://api.groq.com/openai/v1",
        key_envs: &["GROQ_API_KEY"],
        models: &["llama-3.1-8b-instant", "llama-3.3-70b-versatile"],
        include_usage: true,
    },
    Preset {
        name: "openrouter",
        wire: WireFormat::Openai,
        base_url: "https://openrouter.ai/api/v1",
        key_envs: &["OPENROUTER_API_KEY"],
        models: &[],
        include_usage: true,
    },
    Preset {
        name: "xai",
        wire: WireFormat::Openai,
        base_url: "https://api.x.ai/v1",
        key_envs: &["XAI_API_KEY"],
        models: &["grok-3-mini", "grok-4"],
        include_usage: true,
    },
    Preset {
        name: "deepseek",
        wire: WireFormat::Openai,
        base_url: "https://api.deepseek.com/v1",
        key_envs: &["DEEPSEEK_API_KEY"],
        models: &["deepseek-chat", "deepseek-reasoner"],
        include_usage: true,
    },
    Preset {
        name: "mistral",
        wire: WireFormat::Openai,
        base_url: "https://api.mistral.ai/v1",
        key_envs: &["MISTRAL_API_KEY"],
        models: &["mistral-small-latest", "mistral-large-latest"],
        // Mistral reports usage in its last chunk unasked.
        include_usage: false,
    },
    Preset {
        name: "together",
        wire: WireFormat::Openai,
        base_url: "https://api.together.xyz/v1",
        key_envs: &["TOGETHER_API_KEY"],
        models: &[],
        include_usage: true,
    },
    Preset {
        name: "ollama",
        wire: WireFormat::Openai,
        base_url: "http://127.0.0.1:11434/v1",
        key_envs: &[],
        models: &["llama3.2"],
        include_usage: true,
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The env var that overrides a provider's base URL (`OPENAI_BASE_URL`, …).
pub fn base_url_env(name: &str) -> String {
    format!("{}_BASE_URL", name.to_ascii_uppercase().replace('-', "_"))
}

/// A provider reached over HTTP.
pub struct HttpProvider {
    name: String,
    wire: WireFormat,
    base_url: String,
    key: Option<Secret>,
    /// Why the provider cannot be used (e.g. its key is missing).
    unavailable: Option<String>,
    headers: Vec<(String, String)>,
    models: Vec<String>,
    include_usage: bool,
    client: reqwest::Client,
}

impl fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("name", &self.name)
            .field("wire", &self.wire)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Everything needed to build an [`HttpProvider`].
#[derive(Clone)]
pub struct HttpProviderSpec {
    /// Name (model id prefix).
    pub name: String,
    /// Wire format.
    pub wire: WireFormat,
    /// Base URL.
    pub base_url: String,
    /// API key, if any.
    pub key: Option<Secret>,
    /// Set when a key is required but missing: the reason shown to users.
    pub unavailable: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Models to list.
    pub models: Vec<String>,
    /// Send `stream_options.include_usage` (OpenAI-compatible only).
    pub include_usage: bool,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl fmt::Debug for HttpProviderSpec {
    // Headers may carry credentials: their names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProviderSpec")
            .field("name", &self.name)
            .field("wire", &self.wire)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("unavailable", &self.unavailable)
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("models", &self.models)
            .field("include_usage", &self.include_usage)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl HttpProvider {
    /// Builds the provider and its HTTP client.
    pub fn new(spec: HttpProviderSpec) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(spec.connect_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("llm-compare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client for `{}`: {e}", spec.name)))?;
        Ok(Self {
            name: spec.name,
            wire: spec.wire,
            base_url: spec.base_url.trim_end_matches('/').to_string(),
            key: spec.key,
            unavailable: spec.unavailable,
            headers: spec.headers,
            models: spec.models,
            include_usage: spec.include_usage,
            client,
        })
    }

    /// Its wire format.
    pub fn wire(&self) -> WireFormat {
        self.wire
    }

    /// Its base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request for one call: URL, headers (with the key) and body. Pure.
    pub fn build_request(&self, req: &ChatRequest) -> HttpRequest {
        let mut headers = self.headers.clone();
        let key = self.key.as_ref().map(Secret::expose);
        let mut blobs = http::Blobs::shared();
        let (url, body) = match self.wire {
            WireFormat::Openai => {
                if let Some(k) = key {
                    headers.push(("authorization".into(), format!("Bearer {k}")));
                }
                let opts = openai::OpenAiOptions {
                    include_usage: self.include_usage,
                    max_completion_tokens: self.name == "openai",
                };
                (
                    format!("{}/chat/completions", self.base_url),
                    openai::build_body(req, opts, &mut blobs),
                )
            }
            WireFormat::Anthropic => {
                if let Some(k) = key {
                    headers.push(("x-api-key".into(), k.to_string()));
                }
                if !headers
                    .iter()
                    .any(|(h, _)| h.eq_ignore_ascii_case("anthropic-version"))
                {
                    headers.push(("anthropic-version".into(), "2023-06-01".into()));
                }
                (
                    format!("{}/v1/messages", self.base_url),
                    anthropic::build_body(req, &mut blobs),
                )
            }
            WireFormat::Gemini => {
                if let Some(k) = key {
                    headers.push(("x-goog-api-key".into(), k.to_string()));
                }
                (
                    format!("{}{}", self.base_url, gemini::path(req.model.model())),
                    gemini::build_body(req, &mut blobs),
                )
            }
        };
        headers.push(("accept".into(), "text/event-stream".into()));
        HttpRequest {
            url,
            headers,
            body,
            blobs,
        }
    }

    /// A fresh stream parser for this provider's wire format.
    pub fn parser(&self) -> Box<dyn StreamParser> {
        self.parser_for(None)
    }

    /// The parser of the answer to `request` (Anthropic's structured output arrives as a
    /// forced tool call that the parser turns into text).
    pub fn parser_for(&self, request: Option<&ChatRequest>) -> Box<dyn StreamParser> {
        match self.wire {
            WireFormat::Openai => Box::new(openai::OpenAiParser::new()),
            WireFormat::Anthropic => Box::new(anthropic::AnthropicParser::answering(
                request
                    .and_then(anthropic::answer_tool)
                    .map(|(name, _)| name),
            )),
            WireFormat::Gemini => Box::new(gemini::GeminiParser::new()),
        }
    }
}

#[async_trait]
impl Provider for HttpProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn availability(&self) -> Availability {
        match &self.unavailable {
            None => Availability::Available,
            Some(reason) => Availability::Unavailable {
                reason: reason.clone(),
            },
        }
    }

    async fn list_models(&self) -> Result<Vec<String>> {
        Ok(self.models.clone())
    }

    fn refusal(&self, part: &crate::types::content::Part) -> Option<String> {
        match self.wire {
            WireFormat::Openai => openai::refusal(part),
            WireFormat::Anthropic => None,
            WireFormat::Gemini => gemini::refusal(part),
        }
    }

    async fn stream(&self, request: ChatRequest) -> Result<ProviderStream> {
        if let Some(reason) = &self.unavailable {
            return Err(ProviderError::new(ErrorCode::Auth, reason.clone()).into());
        }
        let req = self.build_request(&request);
        http::send_sse(&self.client, req, self.parser_for(Some(&request))).await
    }
}
