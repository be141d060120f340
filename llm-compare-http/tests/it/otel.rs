//! OpenTelemetry traces (issue 26): `llm-compare serve --otlp-endpoint` against a loopback
//! OTLP/HTTP receiver that decodes the protobuf bodies (`opentelemetry-proto`), and an
//! OpenAI-compatible upstream (wiremock) that records the headers it is sent. One 3-model
//! comparison, posted with a W3C `traceparent`, must come back as the span tree
//! `POST /v1/comparisons` (child of the caller's span) → `compare` → `chat <model>` × 3 →
//! `attempt N` (two for the model whose first try fails), with the GenAI attributes; each
//! upstream request carries its attempt's context; no prompt or answer text is exported.

use crate::common;
use llm_compare_testkit::{Process, TempDir};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The receiver: every span exported to it, with its resource's `service.name`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

async fn otlp_receiver() -> (String, Received) {
    let received = Received::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                assert_eq!(
                    headers.get("content-type").unwrap(),
                    "application/x-protobuf",
                    "OTLP/HTTP with protobuf bodies"
                );
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                let mut spans = sink.0.lock().unwrap();
                for rs in request.resource_spans {
                    let service = rs
                        .resource
                        .as_ref()
                        .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                        .and_then(|a| string(a.value.as_ref()?.value.as_ref()?))
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        for span in ss.spans {
                            spans.push((service.clone(), span));
                        }
                    }
                }
                // An empty ExportTraceServiceResponse.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn string(v: &Any) -> Option<String> {
    match v {
        Any::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A span's attributes as JSON values (strings, integers, doubles, booleans).
fn attributes(span: &Span) -> HashMap<String, Value> {
    span.attributes
        .iter()
        .filter_map(|a| {
            let v = match a.value.as_ref()?.value.as_ref()? {
                Any::StringValue(s) => json!(s),
                Any::IntValue(i) => json!(i),
                Any::DoubleValue(d) => json!(d),
                Any::BoolValue(b) => json!(b),
                other => json!(format!("{other:?}")),
            };
            Some((a.key.clone(), v))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OpenAI-compatible stream answering `text` in two chunks, with usage.
fn sse(text: &str) -> String {
    let (a, b) = text.split_at(text.len() / 2);
    [
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": a}}]}),
        json!({"choices": [{"index": 0, "delta": {"content": b}, "finish_reason": "stop"}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}),
    ]
    .iter()
    .map(|c| format!("data: {c}\n\n"))
    .chain(["data: [DONE]\n\n".to_string()])
    .collect()
}

/// `llm-compare serve` with `config`, exporting to the receiver at `otlp` every 100 ms; its
/// URL, the process (killed when dropped) and its directory (removed when dropped).
fn serve(name: &str, config: &str, otlp: &str) -> (String, Process, TempDir) {
    let dir = TempDir::new(&format!("otel-{name}"));
    std::fs::write(dir.join("llm-compare.toml"), config).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llm-compare"));
    cmd.args(["--config", dir.join("llm-compare.toml").to_str().unwrap()])
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--otlp-endpoint", otlp])
        // Export every 100 ms, not every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .stderr(std::process::Stdio::null());
    let mut child = Process::start(cmd);
    let line = child.wait_for_line("http://127.0.0.1:", Duration::from_secs(30));
    (common::url_in(&line), child, dir)
}

/// The spans of trace `trace_id` received so far (with their service's name), once `done`
/// holds of their names (10 s at most).
async fn wait_for(
    received: &Received,
    trace_id: &str,
    done: impl Fn(&[&str]) -> bool,
) -> Vec<(String, Span)> {
    let mut spans: Vec<(String, Span)> = Vec::new();
    for _ in 0..200 {
        spans = received
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| hex(&s.trace_id) == trace_id)
            .cloned()
            .collect();
        let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
        if done(&names) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    spans
}

/// Reads an SSE stream to its end; returns the last event's data.
async fn follow(url: &str, path: &str) -> Value {
    let mut events = common::client()
        .get(format!("{url}{path}"))
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource();
    let mut last = None;
    while let Some(e) = events.next().await {
        last = Some(e.unwrap());
    }
    serde_json::from_str(&last.unwrap().data).unwrap()
}

/// `POST url+path` with `body` as part of trace `trace_id` (caller span `parent`); the JSON
/// answer.
async fn post_traced(url: &str, path: &str, trace_id: &str, parent: &str, body: Value) -> Value {
    common::client()
        .post(format!("{url}{path}"))
        .header("traceparent", format!("00-{trace_id}-{parent}-01"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const PROMPT: &str = "a secret prompt that never leaves the process";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_comparison_is_exported_as_a_span_tree_with_genai_attributes() {
    let (otlp, received) = otlp_receiver().await;
    let upstream = MockServer::start().await;
    // `model-b` fails once (a 503, retried), then answers like the others.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "model-b"})))
        .respond_with(
            ResponseTemplate::new(503).set_body_string("{\"error\":{\"message\":\"busy\"}}"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&upstream)
        .await;
    for (model, answer) in [
        ("model-a", "answer from a"),
        ("model-b", "answer from b"),
        ("model-c", "answer from c"),
    ] {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_partial_json(json!({"model": model})))
            .respond_with(ResponseTemplate::new(200).set_body_raw(sse(answer), "text/event-stream"))
            .with_priority(2)
            .mount(&upstream)
            .await;
    }
    let config = format!(
        r#"
[providers.up]
kind = "openai"
base_url = "{}/v1"
models = ["model-a", "model-b", "model-c"]

[models."up/model-b"]
retries = 1

[prices."up/model-a"]
input = "1"
output = "2"
"#,
        upstream.uri()
    );
    let (url, child, _dir) = serve("tree", &config, &otlp);
    let created = post_traced(
        &url,
        "/v1/comparisons",
        TRACE_ID,
        CALLER_SPAN,
        json!({"prompt": PROMPT, "models": ["up/model-a", "up/model-b", "up/model-c"]}),
    )
    .await;
    let id = created["request_id"].as_str().unwrap().to_string();
    let complete = follow(&url, &format!("/v1/comparisons/{id}/stream")).await;
    assert_eq!(complete["status"], "completed", "{complete:#}");

    // Wait for the tree: the POST, the comparison, 3 model calls, 4 attempts.
    let spans = wait_for(&received, TRACE_ID, |names| {
        names.iter().filter(|n| n.starts_with("attempt")).count() >= 4 && names.contains(&"compare")
    })
    .await;
    drop(child);
    let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    assert!(
        spans.iter().all(|(service, _)| service == "llm-compare"),
        "{names:?}"
    );

    // The HTTP span: the caller's span is its parent.
    let http: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == "POST /v1/comparisons")
        .collect();
    assert_eq!(http.len(), 1, "{names:?}");
    let http = http[0];
    assert_eq!(hex(&http.parent_span_id), CALLER_SPAN);
    assert_eq!(http.kind, SpanKind::Server as i32);
    let a = attributes(http);
    assert_eq!(a["http.request.method"], "POST");
    assert_eq!(a["http.route"], "/v1/comparisons");
    assert_eq!(a["http.response.status_code"], 201);

    // The comparison, under it.
    let compare = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "compare")
        .unwrap();
    assert_eq!(compare.parent_span_id, http.span_id);
    let a = attributes(compare);
    assert_eq!(a["llm_compare.request_id"], id.as_str());
    assert_eq!(a["llm_compare.models"], 3);

    // A model call per model, under the comparison, in the GenAI conventions.
    let calls: HashMap<String, &Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name.starts_with("chat "))
        .map(|s| (s.name.clone(), s))
        .collect();
    assert_eq!(calls.len(), 3, "{names:?}");
    for (i, model) in ["model-a", "model-b", "model-c"].iter().enumerate() {
        let call = calls[&format!("chat {model}")];
        assert_eq!(call.parent_span_id, compare.span_id);
        assert_eq!(call.kind, SpanKind::Client as i32);
        let a = attributes(call);
        assert_eq!(a["gen_ai.operation.name"], "chat");
        assert_eq!(a["gen_ai.provider.name"], "up");
        assert_eq!(a["gen_ai.request.model"], *model);
        assert_eq!(a["gen_ai.response.model"], *model);
        assert_eq!(a["gen_ai.usage.input_tokens"], 11);
        assert_eq!(a["gen_ai.usage.output_tokens"], 7);
        assert_eq!(a["gen_ai.response.finish_reasons"], "stop");
        assert_eq!(a["llm_compare.model_index"], i);
        assert!(
            a["llm_compare.time_to_first_token_ms"].as_f64().unwrap() > 0.0,
            "{a:?}"
        );
        let expected_attempts = if *model == "model-b" { 2 } else { 1 };
        assert_eq!(a["llm_compare.attempts"], expected_attempts);
        // The attempts, under the call.
        let attempts: Vec<&Span> = spans
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.name.starts_with("attempt") && s.parent_span_id == call.span_id)
            .collect();
        assert_eq!(attempts.len(), expected_attempts, "{model}: {names:?}");
    }
    // Cost, where the model has a price: 11 × $1/M + 7 × $2/M.
    let a = attributes(calls["chat model-a"]);
    assert!(
        (a["llm_compare.cost_usd"].as_f64().unwrap() - 25e-6).abs() < 1e-12,
        "{a:?}"
    );
    assert!(!attributes(calls["chat model-c"]).contains_key("llm_compare.cost_usd"));
    // model-b's first attempt failed, and says why.
    let failed: Vec<HashMap<String, Value>> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.parent_span_id == calls["chat model-b"].span_id)
        .map(attributes)
        .filter(|a| a.contains_key("error.type"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["llm_compare.attempt"], 1);

    // Every upstream request carried its attempt's context.
    let attempt_ids: Vec<String> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name.starts_with("attempt"))
        .map(|s| hex(&s.span_id))
        .collect();
    let requests = upstream.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        let tp = r.headers.get("traceparent").expect("traceparent upstream");
        let parts: Vec<&str> = tp.to_str().unwrap().split('-').collect();
        assert_eq!(parts[1], TRACE_ID, "{tp:?}");
        assert!(
            attempt_ids.contains(&parts[2].to_string()),
            "{tp:?} not an attempt's"
        );
    }

    // No prompt or answer text left the process (log_prompts is off).
    for (_, s) in &spans {
        for (k, v) in attributes(s) {
            let v = v.to_string();
            assert!(
                !v.contains("secret prompt") && !v.contains("answer from"),
                "{k}: {v}"
            );
        }
    }
}

#[tokio::test]
async fn tool_calls_and_evaluation_rows_have_spans_of_their_own() {
    let (otlp, received) = otlp_receiver().await;
    let tools = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/weather"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"sunny\""))
        .mount(&tools)
        .await;
    let config = format!(
        r#"
[tools.weather]
url = "{}/weather"
description = "The weather in a city"
parameters = {{ type = "object", properties = {{ city = {{ type = "string" }} }}, required = ["city"] }}
"#,
        tools.uri()
    );
    let (url, child, _dir) = serve("tools", &config, &otlp);

    // An agent comparison: sim/agent calls the tool, then answers.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let created = post_traced(
        &url,
        "/v1/comparisons",
        trace,
        "b7ad6b7169203331",
        json!({"prompt": "weather in Paris", "models": ["sim/agent"], "tools": ["weather"]}),
    )
    .await;
    let id = created["request_id"].as_str().unwrap();
    let complete = follow(&url, &format!("/v1/comparisons/{id}/stream")).await;
    assert_eq!(complete["status"], "completed", "{complete:#}");
    let spans = wait_for(&received, trace, |n| {
        ["execute_tool weather", "chat agent", "compare"]
            .iter()
            .all(|x| n.contains(x))
    })
    .await;
    let by_id: HashMap<Vec<u8>, &Span> =
        spans.iter().map(|(_, s)| (s.span_id.clone(), s)).collect();
    let tool = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "execute_tool weather")
        .expect("a tool span");
    let a = attributes(tool);
    assert_eq!(a["gen_ai.operation.name"], "execute_tool");
    assert_eq!(a["gen_ai.tool.name"], "weather");
    assert!(
        a["gen_ai.tool.call.id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    // Under the model's call, under the comparison.
    let call = by_id[&tool.parent_span_id];
    assert_eq!(call.name, "chat agent");
    assert_eq!(by_id[&call.parent_span_id].name, "compare");

    // An evaluation run: a span for it, one per row, each row's comparison under its row.
    let trace = "5b8efff798038103d269b633813fc60c";
    let dataset = ["sky", "sea"]
        .iter()
        .enumerate()
        .map(|(i, w)| {
            json!({"id": format!("r{i}"), "prompt": format!("the {w}"), "expected": "sky"})
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    let created = post_traced(
        &url,
        "/v1/evals",
        trace,
        "eee19b7ec3c1b174",
        json!({"dataset": {"name": "rows.jsonl", "content": dataset}, "models": ["sim/echo"]}),
    )
    .await;
    let run = created["run_id"].as_str().unwrap();
    follow(&url, &format!("/v1/evals/{run}/stream")).await;
    let spans = wait_for(&received, trace, |n| {
        n.contains(&"evaluate") && n.iter().filter(|n| **n == "compare").count() == 2
    })
    .await;
    drop(child);
    let by_id: HashMap<Vec<u8>, &Span> =
        spans.iter().map(|(_, s)| (s.span_id.clone(), s)).collect();
    let evaluate = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "evaluate")
        .unwrap();
    assert_eq!(attributes(evaluate)["llm_compare.eval.run_id"], run);
    assert_eq!(attributes(evaluate)["llm_compare.eval.units"], 2);
    let mut rows: Vec<String> = Vec::new();
    for compare in spans.iter().map(|(_, s)| s).filter(|s| s.name == "compare") {
        let row = by_id[&compare.parent_span_id];
        assert_eq!(row.parent_span_id, evaluate.span_id);
        rows.push(
            attributes(row)["llm_compare.eval.row_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    rows.sort();
    assert_eq!(rows, ["r0", "r1"]);
}
