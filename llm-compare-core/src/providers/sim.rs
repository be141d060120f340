//! Simulated models (`sim/*`): a documented feature for offline demos, tests and benchmarks.
//!
//! | model       | behaviour |
//! |-------------|-----------|
//! | `sim/echo`  | streams the last user message back, word by word |
//! | `sim/lorem` | deterministic lorem-ipsum text seeded by the prompt; `max_tokens` words (default 64) |
//! | `sim/slow`  | like `lorem`, after a long time to first token (default 3 s) |
//! | `sim/flaky` | streams a few words, then fails with a retryable `server` error |
//! | `sim/error` | fails before its first token with a non-retryable `bad_request` error |
//! | `sim/judge` | an offline judge ([`crate::judge`]): given a pairwise prompt, prefers the answer containing more distinct words of the question (equal: a tie); given a rubric prompt, passes an answer containing at least half the rubric's distinct words; answers the JSON verdict |
//! | `sim/agent` | with tools offered: calls the first one, its first (required) parameter set from the prompt (a number parameter gets the prompt's first number); given the result, answers "`<tool>` returned: `<result>`" (`steps=N` in the prompt: calls it N − 1 times first); without tools, like `echo` |
//!
//! Timing is configurable ([`SimConfig`]), down to zero delay for benchmarks. Like a real
//! provider it reports usage at the end of a successful stream (input counted with tiktoken,
//! output = words streamed), and it costs $0.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use crate::pricing::cost::ModelPrice;
use crate::providers::provider::{
    Provider, ProviderEvent, ProviderRegistry, ProviderStream, ReportedUsage,
};
use crate::types::error::{Error, ErrorCode, ProviderError, Result};
use crate::types::event::FinishReason;
use crate::types::request::{ChatRequest, ModelId};

/// The simulated models.
pub const MODELS: [&str; 7] = ["echo", "lorem", "slow", "flaky", "error", "agent", "judge"];
/// The context window the simulated models claim.
pub const CONTEXT_WINDOW: u64 = 128_000;
/// Words `sim/lorem` writes when `max_tokens` is not set.
pub const DEFAULT_LOREM_WORDS: u32 = 64;
/// Words `sim/flaky` streams before failing.
pub const FLAKY_WORDS: usize = 3;

/// Timing of the simulated models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Time to first token of every model but `sim/slow`.
    pub ttft: Duration,
    /// Time to first token of `sim/slow`.
    pub slow_ttft: Duration,
    /// Words per second after the first; `0` streams without any delay.
    pub tokens_per_s: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            ttft: Duration::from_millis(150),
            slow_ttft: Duration::from_secs(3),
            tokens_per_s: 40.0,
        }
    }
}

impl SimConfig {
    /// No delays at all (benchmarks).
    pub fn instant() -> Self {
        Self {
            ttft: Duration::ZERO,
            slow_ttft: Duration::ZERO,
            tokens_per_s: 0.0,
        }
    }

    /// The default timing overridden by `LLM_COMPARE_SIM_TTFT_MS`,
    /// `LLM_COMPARE_SIM_SLOW_TTFT_MS` and `LLM_COMPARE_SIM_TOKENS_PER_S`.
    pub fn from_env() -> Result<Self> {
        Self::default().apply_env()
    }

    /// This timing overridden by the `LLM_COMPARE_SIM_*` variables that are set.
    pub fn apply_env(mut self) -> Result<Self> {
        let read = |name: &str| -> Result<Option<f64>> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .map(Some)
                    .ok_or_else(|| {
                        Error::invalid(name, format!("{name} must be a number ≥ 0, got `{v}`"))
                    }),
                Err(_) => Ok(None),
            }
        };
        if let Some(ms) = read("LLM_COMPARE_SIM_TTFT_MS")? {
            self.ttft = Duration::from_secs_f64(ms / 1000.0);
        }
        if let Some(ms) = read("LLM_COMPARE_SIM_SLOW_TTFT_MS")? {
            self.slow_ttft = Duration::from_secs_f64(ms / 1000.0);
        }
        if let Some(tps) = read("LLM_COMPARE_SIM_TOKENS_PER_S")? {
            self.tokens_per_s = tps;
        }
        Ok(self)
    }
}

/// The simulated provider (`sim`).
#[derive(Debug, Default)]
pub struct SimProvider {
    config: SimConfig,
    active: Arc<AtomicUsize>,
}

impl SimProvider {
    /// A simulated provider with the given timing.
    pub fn new(config: SimConfig) -> Self {
        Self {
            config,
            active: Arc::default(),
        }
    }

    /// Calls in flight right now (a stream counts until it ends or is dropped); lets tests
    /// and benchmarks see that cancellation really stops upstream work.
    pub fn active_streams(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

/// Decrements the in-flight counter when a stream ends or is dropped.
#[derive(Debug)]
struct ActiveGuard(Arc<AtomicUsize>);

impl ActiveGuard {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

const LOREM: [&str; 64] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
    "vitae",
    "semper",
];

/// FNV-1a: a stable seed from the prompt (std's hasher is randomly keyed per process).
fn seed_of(request: &ChatRequest) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for m in &request.messages {
        for b in m.content.text().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h | 1
}

/// `n` words of deterministic lorem ipsum, each but the first with its leading space.
fn lorem_words(seed: u64, n: usize) -> Vec<String> {
    let mut x = seed;
    (0..n)
        .map(|i| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = LOREM[(x % LOREM.len() as u64) as usize];
            if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// The last user message split into words, keeping the whitespace before each.
/// What `sim/agent` does next.
enum AgentTurn {
    /// Calls a tool.
    Call(crate::types::request::ToolCall),
    /// Answers.
    Say(String),
}

/// `sim/agent`'s next move: after a tool result, say what it returned; with tools offered,
/// call the first with its first parameter taken from the prompt; else echo the prompt.
fn agent_turn(request: &ChatRequest) -> AgentTurn {
    use crate::types::request::Role;
    let prompt = request.last_user_message().unwrap_or_default().into_owned();
    // `steps=N`: N − 1 tool calls, then the answer.
    let steps = prompt
        .split_whitespace()
        .find_map(|w| w.strip_prefix("steps=")?.parse::<usize>().ok())
        .unwrap_or(2);
    let results = request
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .count();
    let last = request.messages.last();
    if let Some(m) = last.filter(|m| m.role == Role::Tool && results + 1 >= steps) {
        let id = m.tool_call_id.as_deref().unwrap_or_default();
        let name = request
            .messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| c.id == id)
            .map_or("the tool", |c| c.name.as_str());
        return AgentTurn::Say(format!("`{name}` returned: {}", m.content.text()));
    }
    let Some(tool) = request.tools.first() else {
        return AgentTurn::Say(prompt);
    };
    let schema = tool.function.parameters.clone().unwrap_or_default();
    let first = schema
        .pointer("/required/0")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            schema
                .get("properties")
                .and_then(serde_json::Value::as_object)
                .and_then(|p| p.keys().next().cloned())
        });
    let mut args = serde_json::Map::new();
    if let Some(param) = first {
        let kind = schema
            .pointer(&format!("/properties/{param}/type"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("string");
        let number = prompt
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .find_map(|w| w.parse::<f64>().ok());
        let value = match (kind, number) {
            ("integer", Some(n)) => serde_json::json!(n as i64),
            ("number", Some(n)) => serde_json::json!(n),
            _ => serde_json::Value::String(prompt.clone()),
        };
        args.insert(param, value);
    }
    let step = request
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .count()
        + 1;
    AgentTurn::Call(crate::types::request::ToolCall {
        id: format!("sim_call_{step}"),
        name: tool.function.name.clone(),
        arguments: serde_json::Value::Object(args).to_string(),
    })
}

fn echo_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                out.push(text[start..i].to_string());
                start = i;
                in_word = false;
            }
        } else {
            in_word = true;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_string());
    }
    out
}

#[async_trait]
impl Provider for SimProvider {
    fn name(&self) -> &str {
        "sim"
    }

    fn own_prices(&self) -> Vec<(String, ModelPrice)> {
        // Free, with a context window like a real model's (sessions trim to it).
        MODELS
            .iter()
            .map(|m| {
                let price = ModelPrice {
                    max_input_tokens: Some(CONTEXT_WINDOW),
                    ..ModelPrice::default()
                };
                (format!("sim/{m}"), price)
            })
            .collect()
    }

    async fn list_models(&self) -> Result<Vec<String>> {
        Ok(MODELS.iter().map(|m| m.to_string()).collect())
    }

    fn check_model(&self, model: &ModelId) -> Result<()> {
        if MODELS.contains(&model.model()) {
            Ok(())
        } else {
            Err(Error::UnknownModel {
                model: model.to_string(),
                message: format!("the simulated models are sim/{}", MODELS.join(", sim/")),
            })
        }
    }

    async fn stream(&self, request: ChatRequest) -> Result<ProviderStream> {
        self.check_model(&request.model)?;
        let guard = ActiveGuard::new(&self.active);
        let kind = request.model.model().to_string();
        let cfg = self.config;
        let ttft = if kind == "slow" {
            cfg.slow_ttft
        } else {
            cfg.ttft
        };
        if !ttft.is_zero() {
            tokio::time::sleep(ttft).await;
        }
        if kind == "error" {
            let mut e = ProviderError::new(
                ErrorCode::BadRequest,
                "simulated failure: sim/error always fails before its first token",
            );
            e.status = Some(400);
            return Err(e.into());
        }
        let max = request.params.max_tokens.map(|m| m as usize);
        let mut tool_call = None;
        let (words, finish) = match kind.as_str() {
            "agent" => match agent_turn(&request) {
                AgentTurn::Call(call) => {
                    tool_call = Some(call);
                    (Vec::new(), FinishReason::ToolCalls)
                }
                AgentTurn::Say(text) => (echo_words(&text), FinishReason::Stop),
            },
            "judge" => (
                echo_words(&crate::judge::sim_verdict(
                    &request.last_user_message().unwrap_or_default(),
                )),
                FinishReason::Stop,
            ),
            "echo" => {
                let mut w = echo_words(&request.last_user_message().unwrap_or_default());
                match max {
                    Some(m) if w.len() > m => {
                        w.truncate(m);
                        (w, FinishReason::Length)
                    }
                    _ => (w, FinishReason::Stop),
                }
            }
            "flaky" => (
                lorem_words(seed_of(&request), FLAKY_WORDS),
                FinishReason::Error,
            ),
            _ => {
                let n = max.unwrap_or(DEFAULT_LOREM_WORDS as usize);
                let reason = if max.is_some() {
                    FinishReason::Length
                } else {
                    FinishReason::Stop
                };
                (lorem_words(seed_of(&request), n), reason)
            }
        };
        let flaky = kind == "flaky";
        // Count prompt tokens off the stream's task, while it streams: loading the tokenizer
        // (once per process) must not delay tokens or skew the measured rate.
        let model = request.model.as_str().to_string();
        let messages = request.messages;
        // Once the tokenizer is loaded, counting a prompt is microseconds: do it at the end,
        // inline, rather than paying a thread hand-off per call.
        let input_tokens = (!crate::pricing::tokens::is_ready()).then(|| {
            let (model, messages) = (model.clone(), messages.clone());
            tokio::task::spawn_blocking(move || {
                crate::pricing::tokens::count_message_tokens(&messages, &model)
            })
        });
        let interval = if cfg.tokens_per_s > 0.0 {
            Some(Duration::from_secs_f64(1.0 / cfg.tokens_per_s))
        } else {
            None
        };
        let stream = async_stream::stream! {
            // Held by the stream: dropped (counter decremented) when the stream ends or is dropped.
            let _guard = guard;
            let start = tokio::time::Instant::now();
            let n = words.len() as u64;
            for (i, w) in words.into_iter().enumerate() {
                match interval {
                    Some(iv) if i > 0 => tokio::time::sleep_until(start + iv * i as u32).await,
                    // Zero delay: still let other tasks run (cooperative budget).
                    _ => tokio::task::consume_budget().await,
                }
                yield Ok(ProviderEvent::TextDelta(w));
            }
            let n = if let Some(call) = tool_call {
                let args_tokens = call.arguments.split_whitespace().count() as u64 + 1;
                yield Ok(ProviderEvent::ToolCallDelta {
                    index: 0,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                });
                args_tokens
            } else {
                n
            };
            if flaky {
                let mut e = ProviderError::new(
                    ErrorCode::Server,
                    "simulated failure: sim/flaky drops the connection mid-stream",
                );
                e.status = Some(502);
                yield Err(e.into());
                return;
            }
            let input_tokens = match input_tokens {
                Some(handle) => match handle.await {
                    Ok(n) => n,
                    Err(_) => crate::pricing::tokens::count_message_tokens(&messages, &model),
                },
                None => crate::pricing::tokens::count_message_tokens(&messages, &model),
            };
            yield Ok(ProviderEvent::Usage(ReportedUsage {
                input_tokens: Some(input_tokens),
                output_tokens: Some(n),
                cached_input_tokens: Some(0),
                cache_write_tokens: Some(0),
                reasoning_tokens: Some(0),
                ..ReportedUsage::default()
            }));
            yield Ok(ProviderEvent::Finish {
                reason: finish,
                raw: Some(match finish {
                    FinishReason::Length => "length".to_string(),
                    FinishReason::ToolCalls => "tool_calls".to_string(),
                    _ => "stop".to_string(),
                }),
            });
        };
        Ok(stream.boxed())
    }
}

/// The simulator builds its own registry, so the provider registry knows no provider.
impl ProviderRegistry {
    /// A registry with the simulated provider (default timings) only.
    pub fn with_sim() -> Self {
        let mut r = Self::new();
        r.register(Arc::new(SimProvider::default()));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::request::{Message, Params};

    fn req(model: &str, prompt: &str, max_tokens: Option<u32>) -> ChatRequest {
        ChatRequest {
            params: Params {
                max_tokens,
                ..Params::default()
            },
            ..ChatRequest::new(ModelId::parse(model).unwrap(), vec![Message::user(prompt)])
        }
    }

    async fn text_of(p: &SimProvider, r: ChatRequest) -> (String, Vec<ProviderEvent>) {
        let events: Vec<_> = p.stream(r).await.unwrap().collect().await;
        let mut text = String::new();
        let mut rest = Vec::new();
        for e in events {
            match e.unwrap() {
                ProviderEvent::TextDelta(d) => text.push_str(&d),
                other => rest.push(other),
            }
        }
        (text, rest)
    }

    #[tokio::test]
    async fn echo_streams_words_back() {
        let p = SimProvider::new(SimConfig::instant());
        let (text, rest) = text_of(&p, req("sim/echo", "hello  big\nworld", None)).await;
        assert_eq!(text, "hello  big\nworld");
        assert!(matches!(rest[0], ProviderEvent::Usage(u) if u.output_tokens == Some(3)));
        assert_eq!(echo_words("a b"), vec!["a", " b"]);
        assert_eq!(echo_words("  a"), vec!["  a"]);
    }

    #[tokio::test]
    async fn lorem_is_deterministic_and_sized_by_max_tokens() {
        let p = SimProvider::new(SimConfig::instant());
        let (a, _) = text_of(&p, req("sim/lorem", "seed one", Some(10))).await;
        let (b, _) = text_of(&p, req("sim/lorem", "seed one", Some(10))).await;
        let (c, _) = text_of(&p, req("sim/lorem", "seed two", Some(10))).await;
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.split(' ').count(), 10);
        let (d, _) = text_of(&p, req("sim/lorem", "seed one", None)).await;
        assert_eq!(d.split(' ').count(), DEFAULT_LOREM_WORDS as usize);
    }

    #[tokio::test]
    async fn error_and_flaky_fail_as_documented() {
        let p = SimProvider::new(SimConfig::instant());
        let e = p.stream(req("sim/error", "x", None)).await.err().unwrap();
        assert_eq!(e.code(), ErrorCode::BadRequest);
        assert!(!e.is_retryable());
        let items: Vec<_> = p
            .stream(req("sim/flaky", "x", None))
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(items.len(), FLAKY_WORDS + 1);
        let last = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(last.code(), ErrorCode::Server);
        assert!(last.is_retryable());
        assert_eq!(p.active_streams(), 0);
        assert!(p.check_model(&ModelId::parse("sim/nope").unwrap()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn timing_follows_config() {
        let p = SimProvider::new(SimConfig {
            ttft: Duration::from_millis(100),
            slow_ttft: Duration::from_secs(2),
            tokens_per_s: 10.0,
        });
        let t0 = tokio::time::Instant::now();
        let (_, _) = text_of(&p, req("sim/lorem", "x", Some(5))).await;
        // 100 ms to first word, then 4 × 100 ms.
        assert_eq!(t0.elapsed().as_millis(), 500);
        let t0 = tokio::time::Instant::now();
        let _ = p.stream(req("sim/slow", "x", Some(1))).await.unwrap();
        assert_eq!(t0.elapsed().as_millis(), 2000);
    }
}
