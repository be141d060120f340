//! The Anthropic door against Anthropic's own API document (issue 47): real responses of a
//! running server — messages whole and streamed, tool use, token counting, every error a
//! client can get — validated against the schemas vendored in `tests/anthropic-openapi/`
//! (`scripts/vendor-openapi.py`). The document predates `thinking` blocks and some error
//! types (`billing_error`, `timeout_error`, `request_too_large`): those are checked by
//! shape where it cannot judge them.

use crate::common;
use crate::vendor::{self, restricted_key, server, user};

use common::{Server, client};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn conforms(name: &str, value: &Value, what: &str) {
    vendor::conforms(vendor::ANTHROPIC, name, value, what);
}

/// `POST path` with `body`, the key in `x-api-key` as Anthropic's SDKs send it.
async fn send(s: &Server, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut r = client()
        .post(format!("{}{path}", s.url))
        .header("anthropic-version", "2023-06-01");
    if let Some(k) = key {
        r = r.header("x-api-key", k);
    }
    r.json(body).send().await.unwrap()
}

async fn post(s: &Server, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let r = send(s, "/v1/messages", key, &body).await;
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// The events of a streamed message: (SSE event name, data), the name matching the data's
/// `type` each time.
async fn events(s: &Server, body: Value) -> Vec<Value> {
    let r = send(s, "/v1/messages", Some("KEY-A"), &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut stream = r.bytes_stream().eventsource();
    let mut out = Vec::new();
    while let Some(e) = stream.next().await {
        let e = e.unwrap();
        let data: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(data["type"], e.event.as_str(), "{data}");
        out.push(data);
    }
    out
}

#[tokio::test]
async fn every_response_matches_anthropics_schemas() {
    let (s, url) = server(100_000).await;

    // A message: text in a text block, Anthropic's stop reason and usage.
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/echo", "max_tokens": 64, "system": "Be brief.",
               "messages": user("ping pong")}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Message", &v, "a message");
    assert_eq!(v["content"], json!([{"type": "text", "text": "ping pong"}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["id"].as_str().is_some_and(|id| id.starts_with("msg_")));
    assert!(v["usage"]["output_tokens"].as_u64() > Some(0));

    // Tool use: a tool_use block with its input as an object.
    let tools = json!([{"name": "lookup", "description": "d",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]);
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/agent", "max_tokens": 64, "messages": user("find x"), "tools": tools}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Message", &v, "a tool-using message");
    assert_eq!(v["stop_reason"], "tool_use");
    let used = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .expect("a tool_use block");
    assert_eq!(used["name"], "lookup");
    assert!(used["input"].is_object());

    // The answer to it, sent back as tool_result: the model reads it.
    let id = used["id"].clone();
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/agent", "max_tokens": 64, "tools": tools, "messages": [
            {"role": "user", "content": "find x"},
            {"role": "assistant", "content": [used]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "42"}]}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Message", &v, "a message after a tool result");
    assert!(
        v["content"][0]["text"].as_str().unwrap().contains("42"),
        "{v}"
    );

    // Streamed: the event sequence, each event one of the document's.
    let got = events(
        &s,
        json!({"model": "sim/echo", "max_tokens": 64, "messages": user("a b c"), "stream": true}),
    )
    .await;
    for e in got.iter().filter(|e| e["type"] != "ping") {
        conforms("MessageStreamEvent", e, "a stream event");
    }
    let types: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        types[types.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = got
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "a b c");
    let end = &got[got.len() - 2];
    assert_eq!(end["delta"]["stop_reason"], "end_turn");
    assert_eq!(end["usage"]["output_tokens"], 3);

    // Streamed tool use: input_json_delta carries the arguments.
    let got = events(
        &s,
        json!({"model": "sim/agent", "max_tokens": 64, "messages": user("find x"), "tools": tools, "stream": true}),
    )
    .await;
    for e in got.iter().filter(|e| e["type"] != "ping") {
        conforms("MessageStreamEvent", e, "a tool-use stream event");
    }
    assert!(got.iter().any(|e| e["content_block"]["type"] == "tool_use"));
    let json: String = got
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str())
        .collect();
    assert!(serde_json::from_str::<Value>(&json).unwrap().is_object());

    // A model that fails mid-stream: an `error` event in Anthropic's error shape.
    let got = events(
        &s,
        json!({"model": "sim/flaky", "max_tokens": 64, "messages": user("go"), "stream": true}),
    )
    .await;
    let err = got.last().unwrap();
    assert_eq!(err["type"], "error", "{got:#?}");
    conforms("ErrorResponse", err, "an error in a stream");
    assert_eq!(err["error"]["type"], "api_error");

    // Token counting: an estimate, said so in a header.
    let r = send(
        &s,
        "/v1/messages/count_tokens",
        Some("KEY-A"),
        &json!({"model": "sim/echo", "messages": user("one two three four")}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-llm-compare-token-count"], "estimate");
    let v: Value = r.json().await.unwrap();
    conforms("BetaCountMessageTokensResponse", &v, "a token count");
    assert!(v["input_tokens"].as_u64() >= Some(4), "{v}");

    // Errors: Anthropic's shape, the type its API gives the status, the field first.
    let restricted = restricted_key(&url, "carol", &["sim/echo"]).await;
    // (what, key, body, status, Anthropic's type, the message's start)
    type Case<'a> = (&'a str, Option<&'a str>, Value, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no max_tokens",
            Some("KEY-A"),
            json!({"model": "sim/echo", "messages": user("x")}),
            400,
            "invalid_request_error",
            "max_tokens: ",
        ),
        (
            "unknown model",
            Some("KEY-A"),
            json!({"model": "nope/x", "max_tokens": 9, "messages": user("x")}),
            400,
            "invalid_request_error",
            "model: ",
        ),
        (
            "bad role",
            Some("KEY-A"),
            json!({"model": "sim/echo", "max_tokens": 9, "messages": [{"role": "wizard", "content": "x"}]}),
            400,
            "invalid_request_error",
            "messages[0].role: ",
        ),
        (
            "top_k",
            Some("KEY-A"),
            json!({"model": "sim/echo", "max_tokens": 9, "top_k": 5, "messages": user("x")}),
            400,
            "invalid_request_error",
            "top_k: ",
        ),
        (
            "a server tool",
            Some("KEY-A"),
            json!({"model": "sim/echo", "max_tokens": 9, "messages": user("x"),
                   "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            400,
            "invalid_request_error",
            "tools[0].type: ",
        ),
        (
            "no key",
            None,
            json!({"model": "sim/echo", "max_tokens": 9, "messages": user("x")}),
            401,
            "authentication_error",
            "",
        ),
        (
            "wrong key",
            Some("nope"),
            json!({"model": "sim/echo", "max_tokens": 9, "messages": user("x")}),
            401,
            "authentication_error",
            "",
        ),
        (
            "model not allowed",
            Some(&restricted),
            json!({"model": "sim/lorem", "max_tokens": 9, "messages": user("x")}),
            403,
            "permission_error",
            "",
        ),
        (
            "upstream refused",
            Some("KEY-A"),
            json!({"model": "sim/error", "max_tokens": 9, "messages": user("x")}),
            400,
            "invalid_request_error",
            "",
        ),
        (
            "upstream refused, streamed",
            Some("KEY-A"),
            json!({"model": "sim/error", "max_tokens": 9, "messages": user("x"), "stream": true}),
            400,
            "invalid_request_error",
            "",
        ),
        (
            "upstream failed",
            Some("KEY-A"),
            json!({"model": "sim/flaky", "max_tokens": 9, "messages": user("x")}),
            502,
            "api_error",
            "",
        ),
    ];
    for (what, key, body, status, kind, start) in cases {
        let (got, v) = post(&s, key, body).await;
        assert_eq!(got.as_u16(), status, "{what}: {v}");
        conforms("ErrorResponse", &v, what);
        assert_eq!(v["error"]["type"], kind, "{what}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(start),
            "{what}: {v}"
        );
    }
    // Not JSON at all.
    conforms(
        "ErrorResponse",
        &vendor::not_json(&s, "/v1/messages").await,
        "not JSON",
    );
}

#[tokio::test]
async fn a_rate_limit_is_anthropics_rate_limit_error() {
    let (s, _url) = server(1).await;
    let body = json!({"model": "sim/echo", "max_tokens": 9, "messages": user("x")});
    let (first, _) = post(&s, Some("KEY-A"), body.clone()).await;
    assert_eq!(first, 200);
    let r = send(&s, "/v1/messages", Some("KEY-A"), &body).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    conforms("ErrorResponse", &v, "a rate limit");
    assert_eq!(v["error"]["type"], "rate_limit_error");
}

/// A message is recorded as the caller's, marked with its door, and a bearer token works as
/// `x-api-key` does.
#[tokio::test]
async fn a_message_is_recorded_with_its_door() {
    let (s, _url) = server(100_000).await;
    let r = client()
        .post(format!("{}/v1/messages", s.url))
        .bearer_auth("KEY-A")
        .json(&json!({"model": "sim/echo", "max_tokens": 9, "messages": user("remember me")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let v = vendor::listed(&s, &id).await;
    assert_eq!(v["kind"], "message", "{v}");
    assert_eq!(v["prompt"], "remember me", "{v}");
}

/// A client that goes away mid-answer cancels the upstream call within 100 ms.
#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_call() {
    vendor::leaving_cancels_the_upstream(
        "/v1/messages",
        json!({"model": "mock/mock-1", "max_tokens": 9, "stream": true, "messages": user("go")}),
        "content_block_delta",
    )
    .await;
}

/// The vendored schemas are Anthropic's, not loosened: OpenAI's shapes fail them.
#[test]
fn the_schemas_refuse_other_shapes() {
    let schema = |name| vendor::schema(vendor::ANTHROPIC, name);
    let openai_error = json!({"error": {"message": "m", "type": "invalid_request_error", "param": null, "code": null}});
    assert!(!schema("ErrorResponse").is_valid(&openai_error));
    let no_usage = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": null});
    assert!(!schema("Message").is_valid(&no_usage));
    let unknown_event =
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text", "text": "x"}});
    assert!(!schema("MessageStreamEvent").is_valid(&unknown_event));
}
