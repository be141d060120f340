//! A mock OpenAI-compatible upstream: `POST /v1/chat/completions` (streamed over SSE, or one
//! JSON answer) and `GET /v1/models`, with a configurable time to first token, tokens per
//! second and number of content chunks — or none of the waiting (zero delay), to measure what
//! sits in front of it. It counts the requests it started, finished and saw cancelled (the
//! client went away mid-stream) and when the last cancel happened: `GET /stats`.
//!
//! Settings per server ([`MockConfig`]), overridable per request with the headers
//! `x-mock-ttft-ms`, `x-mock-tokens-per-s` and `x-mock-chunks`.
//!
//! `cargo run --release -p llm-compare-benches --bin mock-upstream -- --port 9100 --chunks 20`

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// How the mock answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MockConfig {
    /// Time to the first content chunk.
    pub ttft: Duration,
    /// Content chunks per second after it (0: no pacing).
    pub tokens_per_s: f64,
    /// Content chunks per answer (one token each).
    pub chunks: u32,
}

impl MockConfig {
    /// No waiting at all: `chunks` chunks as fast as they can be written.
    pub fn instant(chunks: u32) -> Self {
        Self {
            ttft: Duration::ZERO,
            tokens_per_s: 0.0,
            chunks,
        }
    }
}

/// What the mock has seen.
#[derive(Debug, Default)]
pub struct MockStats {
    /// Requests whose answer started.
    pub started: AtomicU64,
    /// Answers sent to their end.
    pub completed: AtomicU64,
    /// Streamed answers whose client went away before their end.
    pub cancelled: AtomicU64,
    /// When the last cancel was seen, in µs since the mock started.
    pub last_cancel_us: AtomicU64,
    epoch: Option<Instant>,
}

impl MockStats {
    fn since_start(&self) -> u64 {
        self.epoch
            .map(|e| u64::try_from(e.elapsed().as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    /// When the last cancel was seen (`None` before the first).
    pub fn last_cancel_at(&self) -> Option<Instant> {
        let us = self.last_cancel_us.load(Ordering::Relaxed);
        (self.cancelled.load(Ordering::Relaxed) > 0)
            .then(|| self.epoch.map(|e| e + Duration::from_micros(us)))
            .flatten()
    }

    /// The counters as JSON (what `GET /stats` answers).
    pub fn to_json(&self) -> Value {
        json!({
            "started": self.started.load(Ordering::Relaxed),
            "completed": self.completed.load(Ordering::Relaxed),
            "cancelled": self.cancelled.load(Ordering::Relaxed),
            "last_cancel_us": self.last_cancel_us.load(Ordering::Relaxed),
            "now_us": self.since_start(),
        })
    }
}

#[derive(Debug)]
struct Mock {
    config: MockConfig,
    stats: Arc<MockStats>,
}

/// The mock's router (serve it with `axum::serve`); its stats are shared with the caller.
pub fn router(config: MockConfig) -> (axum::Router, Arc<MockStats>) {
    let stats = Arc::new(MockStats {
        epoch: Some(Instant::now()),
        ..MockStats::default()
    });
    let state = Arc::new(Mock {
        config,
        stats: stats.clone(),
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/stats", get(stats_json))
        // Requests with attachments (the harness's attachment section) are tens of MiB.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state);
    (app, stats)
}

/// Serves the mock on `addr` (port 0: any free port); returns the bound address and the stats.
pub async fn spawn(
    addr: std::net::SocketAddr,
    config: MockConfig,
) -> std::io::Result<(std::net::SocketAddr, Arc<MockStats>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let (app, stats) = router(config);
    // Chunks leave as they are written (no Nagle), as from a real model server.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, stats))
}

fn header<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

async fn models() -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": "mock-1", "object": "model", "owned_by": "mock"}]}),
    )
}

async fn stats_json(State(mock): State<Arc<Mock>>) -> Json<Value> {
    Json(mock.stats.to_json())
}

/// Counts a streamed answer as cancelled if it is dropped before its end.
struct Finish {
    stats: Arc<MockStats>,
    done: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.done {
            self.stats.completed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            let now = self.stats.since_start();
            self.stats.last_cancel_us.store(now, Ordering::Relaxed);
        }
    }
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    .to_string()
}

async fn chat(State(mock): State<Arc<Mock>>, headers: HeaderMap, body: String) -> Response {
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "the body is not JSON", "type": "invalid_request_error"}})),
        )
            .into_response();
    };
    let config = MockConfig {
        ttft: header::<u64>(&headers, "x-mock-ttft-ms")
            .map_or(mock.config.ttft, Duration::from_millis),
        tokens_per_s: header(&headers, "x-mock-tokens-per-s").unwrap_or(mock.config.tokens_per_s),
        chunks: header(&headers, "x-mock-chunks").unwrap_or(mock.config.chunks),
    };
    let model = req["model"].as_str().unwrap_or("mock-1").to_string();
    let usage = json!({"prompt_tokens": 12, "completion_tokens": config.chunks,
        "total_tokens": 12 + config.chunks});
    mock.stats.started.fetch_add(1, Ordering::Relaxed);
    if req["stream"] != json!(true) {
        tokio::time::sleep(config.ttft).await;
        mock.stats.completed.fetch_add(1, Ordering::Relaxed);
        let text: String = (0..config.chunks).map(|i| format!(" tok{i}")).collect();
        return Json(
            json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 0,
            "model": model, "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": text}}], "usage": usage}),
        )
        .into_response();
    }
    let include_usage = req["stream_options"]["include_usage"] == json!(true);
    let stats = mock.stats.clone();
    let stream = async_stream::stream! {
        let mut finish = Finish { stats, done: false };
        if !config.ttft.is_zero() {
            tokio::time::sleep(config.ttft).await;
        }
        yield Ok::<_, Infallible>(Event::default().data(chunk(&model, json!({"role": "assistant", "content": ""}), None)));
        let gap = (config.tokens_per_s > 0.0).then(|| Duration::from_secs_f64(1.0 / config.tokens_per_s));
        for i in 0..config.chunks {
            if let Some(gap) = gap {
                tokio::time::sleep(gap).await;
            }
            yield Ok(Event::default().data(chunk(&model, json!({"content": format!(" tok{i}")}), None)));
        }
        yield Ok(Event::default().data(chunk(&model, json!({}), Some("stop"))));
        if include_usage {
            yield Ok(Event::default().data(json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
                "created": 0, "model": model, "choices": [], "usage": usage}).to_string()));
        }
        finish.done = true;
        yield Ok(Event::default().data("[DONE]"));
    };
    Sse::new(stream).into_response()
}

/// An OpenAI-compatible provider named `name` whose models (`mock-1`) this mock, listening at
/// `addr`, serves: how tests and benchmarks put it behind the engine.
pub fn provider(
    name: &str,
    addr: std::net::SocketAddr,
) -> llm_compare_core::Result<llm_compare_core::providers::HttpProvider> {
    use llm_compare_core::providers::{HttpProvider, HttpProviderSpec, WireFormat};
    let spec = HttpProviderSpec {
        name: name.into(),
        wire: WireFormat::Openai,
        base_url: format!("http://{addr}/v1"),
        key: None,
        unavailable: None,
        headers: vec![],
        models: vec!["mock-1".into()],
        include_usage: true,
        connect_timeout: Duration::from_secs(2),
    };
    HttpProvider::new(spec)
}
