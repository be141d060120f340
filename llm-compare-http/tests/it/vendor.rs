//! What the vendor doors' schema tests share: the vendored API documents
//! (`tests/<vendor>-openapi/`, `scripts/vendor-openapi.py`), validation against one of
//! their schemas, and a server with keys to call the doors with.

use crate::common;

use common::{Server, sim_config, sqlite_url, start_state};
use llm_compare_http::{AppState, ServerOptions};
use llm_compare_service::SqlStore;
use llm_compare_service::keys::CreateKey;
use serde_json::{Value, json};

/// OpenAI's schemas (github.com/openai/openai-openapi).
pub const OPENAI: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/openai-openapi/schemas.json"
));

/// Anthropic's schemas (the document its SDKs are generated from).
pub const ANTHROPIC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/anthropic-openapi/schemas.json"
));

/// The schema `name` of the vendored document `doc`.
pub fn schema(doc: &str, name: &str) -> jsonschema::Validator {
    let mut doc: Value = serde_json::from_str(doc).unwrap();
    assert!(doc["$defs"].get(name).is_some(), "no schema {name}");
    doc["$ref"] = json!(format!("#/$defs/{name}"));
    jsonschema::validator_for(&doc).unwrap()
}

/// Fails with every violation of `doc`'s `name` by `value`, and where.
pub fn conforms(doc: &str, name: &str, value: &Value, what: &str) {
    let errors: Vec<String> = schema(doc, name)
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: not the vendor's {name}: {errors:#?}\n{value:#}"
    );
}

/// A server with a store (keys as data), static keys `KEY-A` (alice) and `KEY-B` (bob), and
/// `rpm` requests per minute per user.
pub async fn server(rpm: u32) -> (Server, String) {
    let (_path, url) = sqlite_url();
    let store = SqlStore::open(&url).await.unwrap();
    let (engine, sim) = common::sim_engine(sim_config());
    let mut options = ServerOptions {
        api_keys: vec![
            ("alice".into(), "KEY-A".into()),
            ("bob".into(), "KEY-B".into()),
        ],
        requests_per_minute: rpm,
        burst: rpm,
        ..ServerOptions::default()
    };
    options.registry.max_active_per_owner = 100;
    (
        start_state(AppState::with_store(engine, options, Some(store)), sim).await,
        url,
    )
}

/// A stored key of `user` that may use only `models`.
pub async fn restricted_key(url: &str, user: &str, models: &[&str]) -> String {
    common::mint_key(
        url,
        CreateKey {
            user: user.into(),
            models: Some(models.iter().map(|m| m.to_string()).collect()),
            ..CreateKey::default()
        },
    )
    .await
}

/// `POST path` with `body`, as `key` (a bearer token).
pub async fn send(s: &Server, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut r = common::client().post(format!("{}{path}", s.url));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    r.json(body).send().await.unwrap()
}

/// [`send`], its status and JSON body.
pub async fn post(
    s: &Server,
    path: &str,
    key: Option<&str>,
    body: Value,
) -> (reqwest::StatusCode, Value) {
    let r = send(s, path, key, &body).await;
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// What door `path` answers a body that is not JSON (as `KEY-A`): a 415, its body.
pub async fn not_json(s: &Server, path: &str) -> Value {
    let r = common::client()
        .post(format!("{}{path}", s.url))
        .bearer_auth("KEY-A")
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    r.json().await.unwrap()
}

/// Comparison `id` as `KEY-A` lists it, once recorded (a door's call is written as it ends,
/// behind the answer).
pub async fn listed(s: &Server, id: &str) -> Value {
    llm_compare_testkit::eventually_async(
        "the call listed with the caller's comparisons",
        std::time::Duration::from_secs(10),
        || async {
            let list: Value = common::client()
                .get(format!("{}/v1/comparisons", s.url))
                .bearer_auth("KEY-A")
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            list["comparisons"]
                .as_array()?
                .iter()
                .find(|c| c["id"] == id)
                .cloned()
        },
    )
    .await
}

/// One user message saying `text`, as both doors take `messages`.
pub fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

/// A client of door `path` that goes away mid-answer (after its first `delta` event) cancels
/// the upstream call (the response stream owns the call) within 100 ms: the mock upstream,
/// 500 tokens/s, notes when its client left. `body` asks for `mock/mock-1`, streamed.
pub async fn leaving_cancels_the_upstream(path: &str, body: Value, delta: &str) {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    use llm_compare_testkit::mock_upstream::{self, MockConfig};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    let slow = MockConfig {
        ttft: Duration::ZERO,
        tokens_per_s: 500.0,
        chunks: 10_000,
    };
    let (addr, stats) = mock_upstream::spawn("127.0.0.1:0".parse().unwrap(), slow)
        .await
        .unwrap();
    let mut providers = llm_compare_core::ProviderRegistry::new();
    providers.register(Arc::new(mock_upstream::provider("mock", addr).unwrap()));
    let state = AppState::new(
        llm_compare_core::Engine::new(providers),
        ServerOptions::default(),
    );
    let s = start_state(state, Arc::new(llm_compare_core::SimProvider::default())).await;
    let r = common::client()
        .post(format!("{}{path}", s.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut events = r.bytes_stream().eventsource();
    while let Some(e) = events.next().await {
        if e.unwrap().event == delta {
            break;
        }
    }
    let left = Instant::now();
    drop(events);
    let cancelled = llm_compare_testkit::eventually_async(
        "the upstream call cancelled",
        Duration::from_secs(5),
        || async { stats.last_cancel_at() },
    )
    .await;
    let after = cancelled.saturating_duration_since(left);
    assert!(
        after < Duration::from_millis(100),
        "{path}: cancelled {after:?} after the client left"
    );
    assert_eq!(stats.completed.load(Ordering::Relaxed), 0);
}
