//! The Responses door against OpenAI's own API document (issue 47): real responses of a
//! running server — whole and streamed, function calling, a follow-up by
//! `previous_response_id`, a stored response read back, every error a client can get —
//! validated against the schemas vendored in `tests/openai-openapi/`
//! (`scripts/vendor-openapi.py`).

use crate::common;
use crate::vendor::{self, restricted_key, server};

use common::{Server, client};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn conforms(name: &str, value: &Value, what: &str) {
    vendor::conforms(vendor::OPENAI, name, value, what);
}

async fn send(s: &Server, key: Option<&str>, body: &Value) -> reqwest::Response {
    vendor::send(s, "/v1/responses", key, body).await
}

async fn post(s: &Server, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    vendor::post(s, "/v1/responses", key, body).await
}

async fn get(s: &Server, key: &str, id: &str) -> (StatusCode, Value) {
    let r = client()
        .get(format!("{}/v1/responses/{id}", s.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// The events of a streamed response, each named as its `type`, numbered in order.
async fn events(s: &Server, body: Value) -> Vec<Value> {
    let r = send(s, Some("KEY-A"), &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut stream = r.bytes_stream().eventsource();
    let mut out: Vec<Value> = Vec::new();
    while let Some(e) = stream.next().await {
        let e = e.unwrap();
        let data: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(data["type"], e.event.as_str(), "{data}");
        assert_eq!(data["sequence_number"], out.len(), "{data}");
        conforms("ResponseStreamEvent", &data, "a stream event");
        out.push(data);
    }
    out
}

fn items<'v>(v: &'v Value, kind: &str) -> Vec<&'v Value> {
    v["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == kind)
        .collect()
}

fn lookup() -> Value {
    json!([{"type": "function", "name": "lookup", "description": "d", "strict": false,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}])
}

#[tokio::test]
async fn every_response_matches_openais_schemas() {
    let (s, _url) = server(100_000).await;

    // A response: the text in a message item, usage, the request's settings echoed.
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/echo", "input": "ping pong", "instructions": "Be brief.",
               "max_output_tokens": 64, "metadata": {"k": "v"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Response", &v, "a response");
    assert!(v["id"].as_str().is_some_and(|id| id.starts_with("resp_")));
    assert_eq!(v["status"], "completed");
    assert_eq!(items(&v, "message")[0]["content"][0]["text"], "ping pong");
    assert_eq!(v["instructions"], "Be brief.");
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert!(v["usage"]["output_tokens"].as_u64() > Some(0));

    // Function calling: a function_call item; its output sent back in a follow-up by
    // previous_response_id (the model, the tools' thread, kept on the server).
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/agent", "input": "find x", "tools": lookup()}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Response", &v, "a function-calling response");
    let call = items(&v, "function_call")[0].clone();
    assert_eq!(call["name"], "lookup");
    assert!(serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).is_ok());
    let (status, next) = post(
        &s,
        Some("KEY-A"),
        json!({"previous_response_id": v["id"], "tools": lookup(), "input": [
            {"type": "function_call_output", "call_id": call["call_id"], "output": "42"}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    conforms("Response", &next, "a follow-up");
    assert_eq!(next["model"], "sim/agent", "the thread's model answers");
    assert_eq!(next["previous_response_id"], v["id"]);
    let text = items(&next, "message")[0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("42"), "{next}");

    // A custom tool (free-text input, as Codex's apply_patch) inside a namespace: a
    // custom_tool_call item; a namespaced function's call names its namespace.
    let custom = json!([{"type": "namespace", "name": "edit", "description": "Editing", "tools": [
        {"type": "custom", "name": "apply_patch", "description": "Patches a file",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}]}]);
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/agent", "input": "fix it", "tools": custom}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Response", &v, "a custom tool call");
    let call = items(&v, "custom_tool_call")[0];
    assert_eq!(
        (call["name"].as_str(), call["input"].as_str()),
        (Some("apply_patch"), Some("fix it"))
    );
    let namespaced =
        json!([{"type": "namespace", "name": "crm", "description": "CRM", "tools": lookup()}]);
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/agent", "input": "find x", "tools": namespaced}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Response", &v, "a namespaced function call");
    assert_eq!(items(&v, "function_call")[0]["namespace"], "crm");

    // Read back: as answered; another user's read is a 404 (as is a follow-up of it).
    let (status, back) = get(&s, "KEY-A", next["id"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{back}");
    conforms("Response", &back, "a stored response");
    assert_eq!(back, next);
    let (status, e) = get(&s, "KEY-B", next["id"].as_str().unwrap()).await;
    assert_eq!(status, 404, "{e}");
    conforms("ErrorResponse", &e, "another user's response");
    let (status, e) = post(
        &s,
        Some("KEY-B"),
        json!({"previous_response_id": next["id"], "input": "and?"}),
    )
    .await;
    assert_eq!(status, 404, "{e}");
    assert_eq!(e["error"]["param"], "previous_response_id");
    // Not stored: not readable.
    let (_, unstored) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/echo", "input": "x", "store": false}),
    )
    .await;
    assert_eq!(unstored["store"], false);
    assert_eq!(
        get(&s, "KEY-A", unstored["id"].as_str().unwrap()).await.0,
        404
    );

    // Streamed: the semantic events, each one of the document's, in sequence.
    let got = events(
        &s,
        json!({"model": "sim/echo", "input": "a b c", "stream": true}),
    )
    .await;
    let types: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(types.last(), Some(&"response.completed"));
    let text: String = got
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(text, "a b c");
    let done = got.last().unwrap();
    assert_eq!(done["response"]["usage"]["output_tokens"], 3);
    // A streamed answer is kept before its last event leaves: a follow-up finds it at once.
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"previous_response_id": done["response"]["id"], "input": "again"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(items(&v, "message")[0]["content"][0]["text"], "again");

    // Streamed function call (not stored, as Codex sends it): its arguments in
    // function_call_arguments events.
    let got = events(
        &s,
        json!({"model": "sim/agent", "input": "find x", "tools": lookup(), "stream": true, "store": false}),
    )
    .await;
    let args: String = got
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert!(serde_json::from_str::<Value>(&args).unwrap().is_object());
    assert_eq!(
        got.last().unwrap()["response"]["output"][0]["type"],
        "function_call"
    );

    // A model that fails mid-answer: `error`, then `response.failed` with the error.
    let got = events(
        &s,
        json!({"model": "sim/flaky", "input": "go", "stream": true, "store": false}),
    )
    .await;
    let types: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[types.len() - 2..], ["error", "response.failed"]);
    assert_eq!(got.last().unwrap()["response"]["status"], "failed");

    // Structured output: the answer's JSON, checked against the schema (the result's check).
    let (status, v) = post(
        &s,
        Some("KEY-A"),
        json!({"model": "sim/echo", "input": "{\"a\": 1}", "text": {"format": {
            "type": "json_schema", "name": "out", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    conforms("Response", &v, "a structured response");
    assert_eq!(v["text"]["format"]["type"], "json_schema");
}

#[tokio::test]
async fn every_error_is_openais_shape_naming_its_field() {
    let (s, url) = server(100_000).await;
    let restricted = restricted_key(&url, "carol", &["sim/echo"]).await;
    // (what, key, body, status, OpenAI's type, param)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Value,
        u16,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "no model",
            Some("KEY-A"),
            json!({"input": "x"}),
            400,
            "invalid_request_error",
            Some("model"),
        ),
        (
            "no input",
            Some("KEY-A"),
            json!({"model": "sim/echo"}),
            400,
            "invalid_request_error",
            Some("input"),
        ),
        (
            "unknown model",
            Some("KEY-A"),
            json!({"model": "nope/x", "input": "x"}),
            400,
            "invalid_request_error",
            Some("model"),
        ),
        (
            "background",
            Some("KEY-A"),
            json!({"model": "sim/echo", "input": "x", "background": true}),
            400,
            "invalid_request_error",
            Some("background"),
        ),
        (
            "a built-in tool",
            Some("KEY-A"),
            json!({"model": "sim/echo", "input": "x", "tools": [{"type": "web_search"}]}),
            400,
            "invalid_request_error",
            Some("tools[0].type"),
        ),
        (
            "an unknown previous response",
            Some("KEY-A"),
            json!({"model": "sim/echo", "input": "x", "previous_response_id": "resp_nope"}),
            404,
            "invalid_request_error",
            Some("previous_response_id"),
        ),
        (
            "no key",
            None,
            json!({"model": "sim/echo", "input": "x"}),
            401,
            "authentication_error",
            None,
        ),
        (
            "model not allowed",
            Some(&restricted),
            json!({"model": "sim/lorem", "input": "x"}),
            403,
            "permission_error",
            None,
        ),
        (
            "upstream refused",
            Some("KEY-A"),
            json!({"model": "sim/error", "input": "x"}),
            400,
            "invalid_request_error",
            None,
        ),
        (
            "upstream refused, streamed",
            Some("KEY-A"),
            json!({"model": "sim/error", "input": "x", "stream": true}),
            400,
            "invalid_request_error",
            None,
        ),
        (
            "upstream failed",
            Some("KEY-A"),
            json!({"model": "sim/flaky", "input": "x"}),
            502,
            "server_error",
            None,
        ),
    ];
    for (what, key, body, status, kind, param) in cases {
        let (got, v) = post(&s, key, body).await;
        assert_eq!(got.as_u16(), status, "{what}: {v}");
        conforms("ErrorResponse", &v, what);
        assert_eq!(v["error"]["type"], kind, "{what}: {v}");
        if param.is_some() {
            assert_eq!(v["error"]["param"].as_str(), param, "{what}: {v}");
        }
    }
    conforms(
        "ErrorResponse",
        &vendor::not_json(&s, "/v1/responses").await,
        "not JSON",
    );
}

/// A response is recorded as the caller's, marked with its door.
#[tokio::test]
async fn a_response_is_recorded_with_its_door() {
    let (s, _url) = server(100_000).await;
    let r = send(
        &s,
        Some("KEY-A"),
        &json!({"model": "sim/echo", "input": "remember me"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let v = vendor::listed(&s, &id).await;
    assert_eq!(v["kind"], "response", "{v}");
    assert_eq!(v["prompt"], "remember me", "{v}");
}

/// A client that goes away mid-answer cancels the upstream call within 100 ms.
#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_call() {
    vendor::leaving_cancels_the_upstream(
        "/v1/responses",
        json!({"model": "mock/mock-1", "stream": true, "input": "go"}),
        "response.output_text.delta",
    )
    .await;
}
