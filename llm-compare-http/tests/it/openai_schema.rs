//! The OpenAI-compatible routes against OpenAI's own OpenAPI document (issue 27): real
//! responses of a running server — completions streamed and not, tool calls, every error a
//! client can get (bad body, a field that cannot be honoured, unknown model, missing key,
//! rate limit, a model the key may not use, a failing model, an error mid-stream) and the
//! model list — validated against the schemas vendored in `tests/openai-openapi/` (MIT,
//! `scripts/vendor-openapi.py`) with the `jsonschema` crate.

use crate::common;
use crate::vendor::{self, restricted_key, server, user};

use common::{Server, client};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// OpenAI's schema `name`, from the vendored subset.
fn schema(name: &str) -> jsonschema::Validator {
    vendor::schema(vendor::OPENAI, name)
}

/// Fails with every violation of `name` by `value`, and where.
fn conforms(name: &str, value: &Value, what: &str) {
    vendor::conforms(vendor::OPENAI, name, value, what);
}

/// `POST /v1/chat/completions` with `body`, as `key`.
async fn send(s: &Server, key: Option<&str>, body: &Value) -> reqwest::Response {
    vendor::send(s, "/v1/chat/completions", key, body).await
}

async fn post(s: &Server, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    vendor::post(s, "/v1/chat/completions", key, body).await
}

/// The `data:` payloads of a streamed completion, `[DONE]` excluded (asserted last).
async fn chunks(s: &Server, body: Value) -> Vec<Value> {
    let r = send(s, Some("KEY-A"), &body).await;
    assert_eq!(r.status(), 200);
    let mut events = r.bytes_stream().eventsource();
    let mut out = Vec::new();
    let mut done = false;
    while let Some(e) = events.next().await {
        let e = e.unwrap();
        assert!(!done, "nothing after [DONE]");
        if e.data == "[DONE]" {
            done = true;
        } else {
            out.push(serde_json::from_str(&e.data).unwrap());
        }
    }
    assert!(done, "the stream ends with [DONE]");
    out
}

#[tokio::test]
async fn every_response_matches_openais_schemas() {
    let (s, url) = server(100_000).await;

    // A completion, and one that calls a tool (content null, as OpenAI sends it).
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/echo", "messages": user("ping pong")}),
    )
    .await;
    assert_eq!(status, 200);
    conforms("CreateChatCompletionResponse", &v, "a completion");
    assert_eq!(v["choices"][0]["message"]["content"], "ping pong");
    assert!(v["choices"][0]["logprobs"].is_null() && v["choices"][0].get("logprobs").is_some());
    assert!(v["choices"][0]["message"].get("refusal").is_some());
    let tools = json!([{"type": "function", "function": {"name": "lookup", "description": "d",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]);
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/agent", "messages": user("find x"), "tools": tools}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms(
        "CreateChatCompletionResponse",
        &v,
        "a tool-calling completion",
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "lookup"
    );
    assert!(v["choices"][0]["message"]["content"].is_null(), "{v}");

    // Streamed: every chunk; the usage chunk only when asked for.
    for include_usage in [true, false] {
        let got = chunks(
            &s,
            json!({"model": "sim/echo", "messages": user("a b c"), "stream": true,
            "stream_options": {"include_usage": include_usage}}),
        )
        .await;
        for c in &got {
            conforms("CreateChatCompletionStreamResponse", c, "a chunk");
        }
        let usage: Vec<&Value> = got
            .iter()
            .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .collect();
        assert_eq!(usage.len(), usize::from(include_usage), "{got:#?}");
        if include_usage {
            assert_eq!(usage[0]["choices"], json!([]));
            assert_eq!(usage[0]["usage"]["completion_tokens"], 3);
            assert_eq!(got.last(), Some(usage[0]), "the usage chunk is the last");
        }
        let finish: Vec<&Value> = got
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| &c["finish_reason"])
            .collect();
        assert!(
            finish[..finish.len() - 1].iter().all(|f| f.is_null()),
            "null until the end: {finish:?}"
        );
        assert_eq!(finish.last().copied(), Some(&json!("stop")));
    }
    let got = chunks(
        &s,
        json!({"model": "sim/agent", "messages": user("find x"), "tools": tools, "stream": true}),
    )
    .await;
    for c in &got {
        conforms("CreateChatCompletionStreamResponse", c, "a tool-call chunk");
    }
    assert!(
        got.iter()
            .any(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "lookup")
    );
    // A model that fails mid-stream: the error is OpenAI's error object.
    let got = chunks(
        &s,
        json!({"model": "sim/flaky", "messages": user("go"), "stream": true}),
    )
    .await;
    let err = got
        .iter()
        .find(|c| c.get("error").is_some())
        .expect("an error chunk");
    conforms("ErrorResponse", err, "an error in a stream");
    assert_eq!(err["error"]["type"], "server_error");

    // Errors: each in OpenAI's shape, with OpenAI's type and the field in `param`.
    let restricted = restricted_key(&url, "carol", &["sim/echo"]).await;
    // (what, key, body, status, OpenAI's type, param)
    type Case<'a> = (&'a str, Option<&'a str>, Value, u16, &'a str, Value);
    let cases: Vec<Case> = vec![
        (
            "unknown model",
            Some("KEY-A"),
            json!({"model": "nope/x", "messages": user("x")}),
            400,
            "invalid_request_error",
            json!("model"),
        ),
        (
            "bad role",
            Some("KEY-A"),
            json!({"model": "sim/echo", "messages": [{"role": "wizard", "content": "x"}]}),
            400,
            "invalid_request_error",
            json!("messages[0].role"),
        ),
        (
            "missing messages",
            Some("KEY-A"),
            json!({"model": "sim/echo"}),
            400,
            "invalid_request_error",
            json!("messages"),
        ),
        (
            "n = 2",
            Some("KEY-A"),
            json!({"model": "sim/echo", "messages": user("x"), "n": 2}),
            400,
            "invalid_request_error",
            json!("n"),
        ),
        (
            "logprobs",
            Some("KEY-A"),
            json!({"model": "sim/echo", "messages": user("x"), "logprobs": true}),
            400,
            "invalid_request_error",
            json!("logprobs"),
        ),
        (
            "audio out",
            Some("KEY-A"),
            json!({"model": "sim/echo", "messages": user("x"), "modalities": ["text", "audio"]}),
            400,
            "invalid_request_error",
            json!("modalities"),
        ),
        (
            "no key",
            None,
            json!({"model": "sim/echo", "messages": user("x")}),
            401,
            "authentication_error",
            Value::Null,
        ),
        (
            "wrong key",
            Some("nope"),
            json!({"model": "sim/echo", "messages": user("x")}),
            401,
            "authentication_error",
            Value::Null,
        ),
        (
            "model not allowed",
            Some(&restricted),
            json!({"model": "sim/lorem", "messages": user("x")}),
            403,
            "permission_error",
            Value::Null,
        ),
        (
            "upstream refused",
            Some("KEY-A"),
            json!({"model": "sim/error", "messages": user("x")}),
            400,
            "invalid_request_error",
            Value::Null,
        ),
        (
            // Streamed, a model that fails before its first token still gets its HTTP status
            // (the headers wait for the first output), as OpenAI's API answers.
            "upstream refused, streamed",
            Some("KEY-A"),
            json!({"model": "sim/error", "messages": user("x"), "stream": true}),
            400,
            "invalid_request_error",
            Value::Null,
        ),
        (
            "upstream failed",
            Some("KEY-A"),
            json!({"model": "sim/flaky", "messages": user("x")}),
            502,
            "server_error",
            Value::Null,
        ),
    ];
    for (what, key, body, status, kind, param) in cases {
        let (got, v) = post(&s, key, body).await;
        assert_eq!(got.as_u16(), status, "{what}: {v}");
        conforms("ErrorResponse", &v, what);
        assert_eq!(v["error"]["type"], kind, "{what}: {v}");
        if !param.is_null() {
            assert_eq!(v["error"]["param"], param, "{what}: {v}");
        }
    }
    // Not JSON at all.
    conforms(
        "ErrorResponse",
        &vendor::not_json(&s, "/v1/chat/completions").await,
        "not JSON",
    );

    // The model list.
    let r = client()
        .get(format!("{}/v1/models", s.url))
        .bearer_auth("KEY-A")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    conforms("ListModelsResponse", &v, "the model list");
    assert!(v["data"][0]["created"].as_u64().unwrap() > 1_700_000_000);
    let r = client()
        .get(format!("{}/v1/models", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    conforms(
        "ErrorResponse",
        &r.json().await.unwrap(),
        "the model list without a key",
    );
}

#[tokio::test]
async fn a_rate_limit_is_openais_rate_limit_error() {
    let (s, _url) = server(1).await;
    let body = json!({"model": "sim/echo", "messages": user("x")});
    let (first, _) = post(&s, Some("KEY-A"), body.clone()).await;
    assert_eq!(first, 200);
    let r = send(&s, Some("KEY-A"), &body).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    conforms("ErrorResponse", &v, "a rate limit");
    assert_eq!(v["error"]["type"], "rate_limit_error");
}

/// The vendored schemas are OpenAI's, not loosened: what the server sent before issue 27
/// (no `logprobs`, no `refusal`, an error without `type` and `param`, a model without
/// `created`) fails them.
#[test]
fn the_schemas_refuse_what_was_sent_before() {
    let before = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    assert!(!schema("CreateChatCompletionResponse").is_valid(&before));
    let err = json!({"error": {"message": "m", "code": "unknown_model", "field": "model"}});
    assert!(!schema("ErrorResponse").is_valid(&err));
    let models = json!({"object": "list", "data": [{"id": "sim/echo", "object": "model", "owned_by": "sim"}]});
    assert!(!schema("ListModelsResponse").is_valid(&models));
    // And a chunk's null finish_reason is what the API sends: accepted.
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": null}]});
    assert!(schema("CreateChatCompletionStreamResponse").is_valid(&chunk));
}

/// A streamed request's headers wait for the first output, but not for a slow model's
/// first token (30 s here): they leave after 2 s, and the stream goes on.
#[tokio::test]
async fn a_slow_first_token_does_not_hold_the_headers() {
    let (s, _url) = server(100_000).await;
    let start = std::time::Instant::now();
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        send(
            &s,
            Some("KEY-A"),
            &json!({"model": "sim/slow", "messages": user("x"), "stream": true}),
        ),
    )
    .await
    .expect("the headers within 10 s, though the first token takes 30 s");
    let waited = start.elapsed();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert!(
        waited >= std::time::Duration::from_millis(1900),
        "the headers waited for the first output first: {waited:?}"
    );
}
