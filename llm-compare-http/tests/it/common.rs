//! What the server test suites share: in-process servers on loopback and HTTP/SSE helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use llm_compare_core::{Engine, ProviderRegistry, SimConfig, SimProvider};
use llm_compare_http::{AppState, ServerOptions, serve};
use llm_compare_service::roles::*;
use reqwest::StatusCode;
use serde_json::Value;

pub struct Server {
    pub url: String,
    pub sim: Arc<SimProvider>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn sim_config() -> SimConfig {
    SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 200.0,
    }
}

pub async fn start_with(options: ServerOptions, sim: SimConfig) -> Server {
    start_stored(options, sim, None).await
}

/// The engine every test server runs: the sim provider only.
pub use llm_compare_testkit::sim_engine;
pub use llm_compare_testkit::sse::seqs;

/// A server with a store (persistence, sessions, votes, budgets).
pub async fn start_stored(
    options: ServerOptions,
    sim: SimConfig,
    store: Option<Arc<dyn Store>>,
) -> Server {
    let (engine, sim) = sim_engine(sim);
    start_state(AppState::with_store(engine, options, store), sim).await
}

/// A server on `state`.
pub async fn start_state(state: AppState, sim: Arc<SimProvider>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Server {
        url,
        sim,
        stop: Some(tx),
    }
}

pub async fn start() -> Server {
    start_with(ServerOptions::default(), sim_config()).await
}

pub fn keyed() -> ServerOptions {
    ServerOptions {
        api_keys: vec![
            ("alice".into(), "KEY-A".into()),
            ("bob".into(), "KEY-B".into()),
        ],
        ..ServerOptions::default()
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn get(s: &Server, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", s.url))
        .send()
        .await
        .unwrap()
}

pub async fn create(s: &Server, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = client()
        .post(format!("{}/v1/comparisons", s.url))
        .json(&body);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    r.send().await.unwrap()
}

pub async fn create_id(s: &Server, key: Option<&str>, body: Value) -> String {
    let r = create(s, key, body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Reads SSE events (seq, type, data) until the stream ends or `limit` events came.
pub async fn read_sse(
    s: &Server,
    key: Option<&str>,
    id: &str,
    last_event_id: Option<u64>,
    limit: usize,
) -> Vec<(Option<u64>, String, Value)> {
    let mut r = client().get(format!("{}/v1/comparisons/{id}/stream", s.url));
    if let Some(k) = key {
        r = r.header("x-api-key", k);
    }
    if let Some(n) = last_event_id {
        r = r.header("last-event-id", n.to_string());
    }
    let resp = r.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    llm_compare_testkit::sse::frames(resp, limit).await
}

/// `method path` with an API key and an optional JSON body.
pub async fn call(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = client().request(method, format!("{}{path}", s.url));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

/// A fresh PostgreSQL database (the shared one's server, a database of its own) when the
/// tests have one; None (`test` skipped, said) otherwise.
pub async fn postgres_database(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("LLM_COMPARE_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("LLM_COMPARE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "LLM_COMPARE_TEST_DATABASE_URL is not set but LLM_COMPARE_REQUIRE_SERVICES=1"
        );
        eprintln!("SKIPPED {test} on PostgreSQL: set LLM_COMPARE_TEST_DATABASE_URL");
        return None;
    };
    let name = format!("llmc_test_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (server, _) = base.rsplit_once('/').unwrap();
    Some(format!("{server}/{name}"))
}

/// A temporary SQLite database URL (and its directory).
pub fn sqlite_url() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("llm-compare-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("llm-compare.db").display());
    (dir, url)
}

/// A temporary SQLite store.
pub async fn sqlite_store() -> Arc<dyn Store> {
    let dir = std::env::temp_dir().join(format!("llm-compare-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    llm_compare_service::SqlStore::open(&format!(
        "sqlite://{}",
        dir.join("llm-compare.db").display()
    ))
    .await
    .unwrap()
}

/// Reads the URL a spawned `llm-compare serve` (stdout piped) prints on its first line.
pub fn serve_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    url_in(&line)
}

/// The URL a server's "listening on" line ends with.
pub fn url_in(line: &str) -> String {
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    url
}

/// A request's answer as JSON.
/// Mints `key` on the database at `url` as the operator does (`llm-compare keys create`, no
/// server needed); returns its secret.
pub async fn mint_key(url: &str, key: llm_compare_service::keys::CreateKey) -> String {
    let store = llm_compare_service::SqlStore::open(url).await.unwrap();
    let service = llm_compare_service::Service::new(
        Engine::new(ProviderRegistry::with_sim()),
        Arc::new(llm_compare_core::InMemoryRegistry::default()),
        Some(store),
        Vec::new(),
    );
    service
        .create_key(&llm_compare_service::Principal::operator(), key)
        .await
        .unwrap()
        .key
}

pub async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// `LLM_COMPARE_TEST_REDIS_URL`; unset → `None` with a visible SKIPPED line for `what`
/// (a failure when `LLM_COMPARE_REQUIRE_SERVICES=1`).
pub fn redis_url(what: &str) -> Option<String> {
    match std::env::var("LLM_COMPARE_TEST_REDIS_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            if std::env::var("LLM_COMPARE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                panic!("LLM_COMPARE_TEST_REDIS_URL is not set but LLM_COMPARE_REQUIRE_SERVICES=1");
            }
            eprintln!(
                "SKIPPED {what}: set LLM_COMPARE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run them"
            );
            None
        }
    }
}
