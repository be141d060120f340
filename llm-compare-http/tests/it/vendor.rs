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

/// A server with a store (keys as data), static key `KEY-A` (alice), and `rpm` requests per
/// minute per user.
pub async fn server(rpm: u32) -> (Server, String) {
    let (_path, url) = sqlite_url();
    let store = SqlStore::open(&url).await.unwrap();
    let (engine, sim) = common::sim_engine(sim_config());
    let mut options = ServerOptions {
        api_keys: vec![("alice".into(), "KEY-A".into())],
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

/// One user message saying `text`, as both doors take `messages`.
pub fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}
