//! Agent comparisons in the engine: each model runs its own tool loop with the embedder's
//! Rust functions ([`Toolbox`]) — results fed back, steps and usage summed — and what a model
//! or a tool gets wrong (bad arguments, a failing, panicking or hanging tool, too many steps)
//! becomes an error result the model sees, never a broken comparison.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use llm_compare_core::tools::{ToolLimits, Toolbox};
use llm_compare_core::{
    CompareOptions, CompareRequest, Complete, Engine, EventKind, FinishReason, ProviderRegistry,
    SimConfig, SimProvider,
};
use serde_json::{Value, json};

fn engine() -> Engine {
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(SimProvider::new(SimConfig::instant())));
    Engine::new(providers)
}

fn calls(engine: &Engine, models: &[&str], prompt: &str) -> Vec<llm_compare_core::ChatRequest> {
    let request: CompareRequest = serde_json::from_value(
        json!({"models": models, "messages": [{"role": "user", "content": prompt}]}),
    )
    .unwrap();
    engine.plan(&request).unwrap()
}

fn square_schema() -> Value {
    json!({"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]})
}

/// Runs a comparison with `tools`, returning its events' JSON and its end.
async fn run(
    models: &[&str],
    prompt: &str,
    tools: Toolbox,
    tune: impl FnOnce(&mut CompareOptions),
) -> (Vec<Value>, Complete) {
    let engine = engine();
    let mut options = CompareOptions {
        tools: Some(Arc::new(tools)),
        ..CompareOptions::default()
    };
    tune(&mut options);
    let mut comparison = engine
        .compare_calls(calls(&engine, models, prompt), options)
        .unwrap();
    let mut events = Vec::new();
    let mut seq = 0;
    while let Some(e) = comparison.next().await {
        assert_eq!(e.seq, seq + 1, "seq is strictly increasing by one");
        seq = e.seq;
        let done = match &e.kind {
            EventKind::Complete(c) => Some(c.clone()),
            _ => None,
        };
        events.push(serde_json::to_value(&e).unwrap());
        if let Some(c) = done {
            return (events, c);
        }
    }
    panic!("no complete")
}

/// Model 0's first tool result is an error that says `what`.
fn assert_error_result(events: &[Value], what: &str) {
    let r = of_type(events, "tool_result", 0);
    assert_eq!(r[0]["is_error"], true, "{}", r[0]);
    assert!(r[0]["content"].as_str().unwrap().contains(what), "{}", r[0]);
}

fn of_type<'a>(events: &'a [Value], t: &str, model: usize) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == t && e["model_index"] == model)
        .collect()
}

fn squares(calls: Arc<AtomicUsize>) -> Toolbox {
    Toolbox::new().function(
        "square",
        "x squared",
        square_schema(),
        move |args: Value| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let x = args["x"].as_f64().ok_or("x must be a number")?;
                Ok::<_, String>((x * x).to_string())
            }
        },
    )
}

#[tokio::test]
async fn every_model_runs_its_own_loop_and_its_result_sums_the_steps() {
    let executed = Arc::new(AtomicUsize::new(0));
    let (events, done) = run(
        &["sim/agent", "sim/agent", "sim/echo"],
        "square 7",
        squares(executed.clone()),
        |_| {},
    )
    .await;
    // Independent mode: every call executed.
    assert_eq!(executed.load(Ordering::SeqCst), 2);
    for i in 0..2 {
        let call = of_type(&events, "tool_call", i);
        assert_eq!(call.len(), 1);
        assert_eq!(call[0]["name"], "square");
        assert_eq!(call[0]["arguments"], "{\"x\":7.0}");
        let step = of_type(&events, "step", i);
        assert_eq!(step.len(), 1);
        assert_eq!(step[0]["step"], 1);
        let result = of_type(&events, "tool_result", i);
        assert_eq!(result.len(), 1);
        assert_eq!(result[0]["call_id"], call[0]["id"]);
        assert_eq!(result[0]["content"], "49");
        assert_eq!(result[0]["is_error"], false);
        let r = &done.results[i];
        assert_eq!(r.text, "`square` returned: 49");
        assert_eq!(r.steps, 2);
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
        // Usage over both steps: the second step's prompt holds the first exchange.
        let step1 = step[0]["usage"]["input_tokens"].as_u64().unwrap();
        assert!(r.usage.input_tokens > 2 * step1, "{:?} vs {step1}", r.usage);
        // Order: the call and the step before the result, the result before the answer.
        let pos = |t: &str| {
            events
                .iter()
                .position(|e| e["type"] == t && e["model_index"] == i)
                .unwrap()
        };
        assert!(pos("tool_call") < pos("step"));
        assert!(pos("step") < pos("tool_result"));
        assert!(pos("tool_result") < pos("model_result"));
    }
    // A model that calls no tool runs one step, as before.
    assert_eq!(done.results[2].text, "square 7");
    assert_eq!(done.results[2].steps, 0);
    assert!(of_type(&events, "step", 2).is_empty());
}

#[tokio::test]
async fn wrong_arguments_and_failing_or_panicking_tools_are_results_the_model_sees() {
    // No number in the prompt: `x` is a string, which the schema refuses.
    let (events, done) = run(&["sim/agent"], "square it", squares(Arc::default()), |_| {}).await;
    let r = of_type(&events, "tool_result", 0);
    assert_eq!(r[0]["is_error"], true);
    assert!(
        r[0]["content"]
            .as_str()
            .unwrap()
            .contains("do not match the tool's schema"),
        "{}",
        r[0]
    );
    assert!(
        done.results[0]
            .text
            .starts_with("`square` returned: the arguments do not match")
    );
    assert!(done.results[0].error.is_none());

    let failing =
        Toolbox::new().function("lookup", "fails", json!({"type": "object"}), |_| async {
            Err::<String, _>("the database is down".to_string())
        });
    let (events, done) = run(&["sim/agent"], "look it up", failing, |_| {}).await;
    assert_eq!(
        of_type(&events, "tool_result", 0)[0]["content"],
        "the database is down"
    );
    assert_eq!(
        done.results[0].text,
        "`lookup` returned: the database is down"
    );

    let panicking =
        Toolbox::new().function("boom", "panics", json!({"type": "object"}), |_| async {
            if true {
                panic!("tool bug");
            }
            Ok::<String, String>(String::new())
        });
    let (events, done) = run(&["sim/agent", "sim/echo"], "go", panicking, |_| {}).await;
    let r = of_type(&events, "tool_result", 0);
    assert_eq!(r[0]["is_error"], true);
    assert!(r[0]["content"].as_str().unwrap().contains("panicked"));
    assert_eq!(done.status, llm_compare_core::RequestStatus::Completed);
    assert_eq!(done.results[1].text, "go");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_tool_times_out_and_its_work_is_dropped() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let hanging = Toolbox::new().function("wait", "hangs", json!({"type": "object"}), move |_| {
        let guard = DropFlag(flag.clone());
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<String, String>("never".into())
        }
    });
    let (events, _) = run(&["sim/agent"], "wait", hanging, |o| {
        o.tool_limits = ToolLimits {
            timeout: Duration::from_secs(2),
            ..ToolLimits::default()
        };
    })
    .await;
    let r = of_type(&events, "tool_result", 0);
    assert_eq!(r[0]["content"], "the tool `wait` did not answer within 2 s");
    assert_eq!(r[0]["duration_ms"], 2000.0);
    tokio::task::yield_now().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the tool's work was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_a_tool_call_stops_the_tool() {
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(tokio::sync::Notify::new());
    let (flag, notify) = (dropped.clone(), started.clone());
    let slow = Toolbox::new().function("slow", "slow", json!({"type": "object"}), move |_| {
        let guard = DropFlag(flag.clone());
        notify.notify_one();
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(20)).await;
            Ok::<String, String>("late".into())
        }
    });
    let engine = engine();
    let mut comparison = engine
        .compare_calls(
            calls(&engine, &["sim/agent"], "go"),
            CompareOptions {
                tools: Some(Arc::new(slow)),
                ..CompareOptions::default()
            },
        )
        .unwrap();
    let cancel = comparison.cancel_token();
    tokio::spawn(async move {
        started.notified().await;
        cancel.cancel();
    });
    let mut last = None;
    while let Some(e) = comparison.next().await {
        last = Some(e);
    }
    let Some(EventKind::Complete(c)) = last.map(|e| e.kind) else {
        panic!("complete")
    };
    assert_eq!(c.status, llm_compare_core::RequestStatus::Cancelled);
    tokio::task::yield_now().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the tool's work was dropped"
    );
}

#[tokio::test]
async fn a_call_past_max_steps_is_refused_and_the_loop_ends() {
    let executed = Arc::new(AtomicUsize::new(0));
    let (events, done) = run(&["sim/agent"], "square 3", squares(executed.clone()), |o| {
        o.max_steps = 1;
    })
    .await;
    assert_eq!(executed.load(Ordering::SeqCst), 0);
    assert_error_result(&events, "limit of 1 steps");
    let result = &done.results[0];
    assert_eq!(result.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(result.steps, 1);
    assert!(result.error.is_none());
}

/// Sets its flag when dropped (a tool's work abandoned).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Answers like a tool-calling model: two calls at once (Paris, London) while the request
/// holds no tool result, then text.
struct ToolCallingModel {
    first: &'static str,
    then: &'static str,
}

impl wiremock::Respond for ToolCallingModel {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body = String::from_utf8_lossy(&req.body);
        let answered = ["tool_call_id", "tool_result", "functionResponse"]
            .iter()
            .any(|k| body.contains(k));
        let sse = if answered { self.then } else { self.first };
        wiremock::ResponseTemplate::new(200)
            .set_body_raw(sse.as_bytes().to_vec(), "text/event-stream")
    }
}

const OPENAI_CALLS: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"London\\\"}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":10}}\n\n",
    "data: [DONE]\n\n",
);
const OPENAI_TEXT: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Sunny.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
const ANTHROPIC_CALLS: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"London\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":10}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);
const ANTHROPIC_TEXT: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Sunny.\"}}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);
const GEMINI_CALLS: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"London\"}}}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":20,\"candidatesTokenCount\":10}}\r\n\r\n";
const GEMINI_TEXT: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Sunny.\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":40,\"candidatesTokenCount\":2}}\r\n\r\n";

/// Three models, one per wire format, each in a 2-step loop with two calls at once: the
/// results go back in each API's native tool-result shape, field by field.
#[tokio::test]
async fn each_wire_format_gets_the_results_in_its_native_shape() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer};
    let server = MockServer::start().await;
    for (endpoint, first, then) in [
        ("/openai/chat/completions", OPENAI_CALLS, OPENAI_TEXT),
        ("/anthropic/v1/messages", ANTHROPIC_CALLS, ANTHROPIC_TEXT),
        (
            "/gemini/models/test-model:streamGenerateContent",
            GEMINI_CALLS,
            GEMINI_TEXT,
        ),
    ] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .respond_with(ToolCallingModel { first, then })
            .mount(&server)
            .await;
    }
    let mut toml = String::from("[defaults]\nretries = 0\n");
    for p in ["openai", "anthropic", "gemini"] {
        toml.push_str(&format!(
            "[providers.{p}]\nbase_url = \"{}/{p}\"\napi_key = \"k\"\n",
            server.uri()
        ));
    }
    let engine = llm_compare_core::Config::parse(&toml)
        .unwrap()
        .engine()
        .unwrap();
    let executed = Arc::new(AtomicUsize::new(0));
    let counter = executed.clone();
    let weather = Toolbox::new().function(
        "get_weather",
        "Current temperature",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        move |args: Value| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, String>(match args["city"].as_str() {
                    Some("Paris") => "21",
                    _ => "15",
                })
            }
        },
    );
    let models = [
        "openai/test-model",
        "anthropic/test-model",
        "gemini/test-model",
    ];
    let (mut comparison, mut events) = (
        engine
            .compare_calls(
                calls(&engine, &models, "Weather in Paris and London?"),
                CompareOptions {
                    tools: Some(Arc::new(weather)),
                    ..CompareOptions::default()
                },
            )
            .unwrap(),
        Vec::new(),
    );
    while let Some(e) = comparison.next().await {
        events.push(serde_json::to_value(&e).unwrap());
    }
    let done: Complete = serde_json::from_value(events.last().unwrap().clone()).unwrap();
    assert_eq!(executed.load(Ordering::SeqCst), 6, "2 calls × 3 models");
    for (i, r) in done.results.iter().enumerate() {
        assert_eq!(r.text, "Sunny.", "{}", models[i]);
        assert_eq!(r.steps, 2);
        assert_eq!(r.tool_calls.len(), 2);
        // Usage summed over the steps, as reported.
        assert_eq!(
            (r.usage.input_tokens, r.usage.output_tokens),
            (60, 12),
            "{}",
            models[i]
        );
        let results = of_type(&events, "tool_result", i);
        assert_eq!(results.len(), 2);
    }
    let sent = server.received_requests().await.unwrap();
    let second = |p: &str| -> Value {
        let bodies: Vec<Value> = sent
            .iter()
            .filter(|r| r.url.path().starts_with(p))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        assert_eq!(bodies.len(), 2, "{p}: two steps");
        bodies[1].clone()
    };
    let b = second("/openai");
    assert_eq!(b["messages"][1]["role"], "assistant");
    assert_eq!(b["messages"][1]["tool_calls"][1]["id"], "call_b");
    assert_eq!(
        b["messages"][1]["tool_calls"][1]["function"]["arguments"],
        "{\"city\":\"London\"}"
    );
    assert_eq!(
        b["messages"][2],
        json!({"role": "tool", "tool_call_id": "call_a", "content": "21"})
    );
    assert_eq!(
        b["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_b", "content": "15"})
    );
    assert_eq!(b["tools"][0]["function"]["name"], "get_weather");
    let b = second("/anthropic");
    assert_eq!(
        b["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "London"}},
        ]})
    );
    assert_eq!(
        b["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "21"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "15"},
        ]})
    );
    let b = second("/gemini");
    assert_eq!(b["contents"][1]["role"], "model");
    assert_eq!(
        b["contents"][1]["parts"][1],
        json!({"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "London"}}})
    );
    assert_eq!(
        b["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"id": "call_0", "name": "get_weather", "response": {"result": "21"}}},
            {"functionResponse": {"id": "call_1", "name": "get_weather", "response": {"result": "15"}}},
        ]})
    );
}

/// `tool_mode: "shared"`: the first execution of a (tool, arguments) is recorded and every
/// other model asking the same gets it, marked `replayed`; a cassette exported from one
/// comparison replays in a later one without executing anything.
#[tokio::test]
async fn a_cassette_gives_every_model_the_same_world_with_one_execution() {
    use llm_compare_core::tools::{Cassette, ToolExecutor, canonical};
    let executed = Arc::new(AtomicUsize::new(0));
    let cassette = Arc::new(Cassette::record(Arc::new(squares(executed.clone()))));
    let tools: Arc<dyn ToolExecutor> = cassette.clone();
    let engine = engine();
    let mut comparison = engine
        .compare_calls(
            calls(
                &engine,
                &["sim/agent", "sim/agent", "sim/agent"],
                "square 12",
            ),
            CompareOptions {
                tools: Some(tools),
                ..CompareOptions::default()
            },
        )
        .unwrap();
    let mut events = Vec::new();
    while let Some(e) = comparison.next().await {
        events.push(serde_json::to_value(&e).unwrap());
    }
    assert_eq!(executed.load(Ordering::SeqCst), 1, "one real execution");
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r["content"] == "144"));
    let replayed = results.iter().filter(|r| r["replayed"] == true).count();
    assert_eq!(replayed, 2, "{results:?}");

    // Exported, then replayed by a later comparison: nothing runs.
    let recordings = cassette.recordings();
    assert_eq!(recordings.len(), 1);
    assert_eq!(recordings[0].tool, "square");
    assert_eq!(canonical(&recordings[0].arguments), "{\"x\":12.0}");
    let replay = Cassette::replay(squares(executed.clone()).tools(), recordings);
    let (events, done) = run(
        &["sim/agent", "sim/agent"],
        "square 12",
        Toolbox::new(),
        |o| {
            o.tools = Some(Arc::new(replay));
        },
    )
    .await;
    assert_eq!(
        executed.load(Ordering::SeqCst),
        1,
        "replaying executes nothing"
    );
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert!(
        results
            .iter()
            .all(|r| r["replayed"] == true && r["content"] == "144")
    );
    assert_eq!(done.results[0].text, "`square` returned: 144");
    // A call the cassette lacks is an error result, not an execution.
    let replay = Cassette::replay(squares(executed.clone()).tools(), Vec::new());
    let (events, _) = run(&["sim/agent"], "square 5", Toolbox::new(), |o| {
        o.tools = Some(Arc::new(replay));
    })
    .await;
    assert_error_result(&events, "not in the cassette");
    assert_eq!(executed.load(Ordering::SeqCst), 1);
    // Arguments compare canonically: key order does not matter.
    assert_eq!(
        canonical(&json!({"b": 1, "a": {"d": 2, "c": 3}})),
        canonical(&json!({"a": {"c": 3, "d": 2}, "b": 1}))
    );
}

#[tokio::test]
async fn sim_agent_takes_as_many_steps_as_the_prompt_asks() {
    let executed = Arc::new(AtomicUsize::new(0));
    let (events, done) = run(
        &["sim/agent"],
        "square 2 steps=4",
        squares(executed.clone()),
        |_| {},
    )
    .await;
    assert_eq!(executed.load(Ordering::SeqCst), 3);
    assert_eq!(of_type(&events, "step", 0).len(), 3);
    assert_eq!(done.results[0].steps, 4);
    assert_eq!(done.results[0].tool_calls.len(), 3);
    // Ids differ per step.
    let ids: std::collections::HashSet<String> = done.results[0]
        .tool_calls
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(ids.len(), 3);
}

/// Client-side tools: each model's client call goes out as an
/// `action` (registered before it is published) and waits for `deliver`; delivery is all or
/// nothing; an unanswered call becomes an error result at the tool timeout (paused time).
#[tokio::test(start_paused = true)]
async fn client_tools_wait_for_delivered_results_and_time_out_as_error_results() {
    use llm_compare_core::tools::{ClientResult, ClientTools};
    let client = Arc::new(ClientTools::new(vec![llm_compare_core::Tool::function(
        "ask",
        "Asks the user",
        json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
    )]));
    let engine = engine();
    let mut comparison = engine
        .compare_calls(
            calls(&engine, &["sim/agent", "sim/agent"], "why"),
            CompareOptions {
                client_tools: Some(client.clone()),
                tool_limits: ToolLimits {
                    timeout: Duration::from_secs(5),
                    ..ToolLimits::default()
                },
                ..CompareOptions::default()
            },
        )
        .unwrap();
    let mut events = Vec::new();
    let mut actions = Vec::new();
    while actions.len() < 2 {
        let e = comparison.next().await.unwrap();
        if let EventKind::Action {
            model_index,
            call_id,
            name,
            arguments,
            timeout_ms,
            ..
        } = &e.kind
        {
            assert_eq!(name, "ask");
            assert_eq!(arguments, &json!({"q": "why"}));
            assert_eq!(*timeout_ms, 5_000);
            actions.push((*model_index, call_id.clone()));
        }
        events.push(serde_json::to_value(&e).unwrap());
    }
    let result = |(m, id): &(usize, String), text: &str| ClientResult {
        model_index: *m,
        call_id: id.clone(),
        content: text.to_string().into(),
        is_error: false,
    };
    // A result for a call never made spoils the whole delivery.
    let stray = ClientResult {
        model_index: 0,
        call_id: "nope".into(),
        ..result(&actions[0], "x")
    };
    assert_eq!(
        client.deliver(vec![result(&actions[0], "because"), stray]),
        Err(1)
    );
    // The same call twice in one delivery, likewise.
    assert_eq!(
        client.deliver(vec![result(&actions[0], "a"), result(&actions[0], "b")]),
        Err(1)
    );
    assert_eq!(client.deliver(vec![result(&actions[0], "because")]), Ok(1));
    assert_eq!(client.deliver(vec![result(&actions[0], "again")]), Err(0));
    // Model `actions[1]` is never answered: its call times out (5 s of paused time).
    while let Some(e) = comparison.next().await {
        events.push(serde_json::to_value(&e).unwrap());
    }
    let last = events.last().unwrap();
    assert_eq!(last["type"], "complete");
    let answered = actions[0].0;
    let unanswered = actions[1].0;
    assert_eq!(last["results"][answered]["text"], "`ask` returned: because");
    let r = of_type(&events, "tool_result", unanswered);
    assert_eq!(r[0]["is_error"], true);
    assert!(
        r[0]["content"]
            .as_str()
            .unwrap()
            .contains("did not answer within 5 s")
    );
    // Given up: a late result finds nothing waiting.
    assert_eq!(client.deliver(vec![result(&actions[1], "late")]), Err(0));
}

/// A session keeps each model's tool exchange: the result lists each step (what it said, its
/// calls, their results); the next turn sends them again natively before the answer — or, for
/// a turn without tools, as text in the answer.
#[tokio::test]
async fn a_sessions_next_turn_carries_each_models_own_tool_exchange() {
    use llm_compare_core::{InMemorySession, Session, Turn, flatten_tool_history};
    use llm_compare_core::{ModelId, Role};
    let (_, done) = run(
        &["sim/agent", "sim/echo"],
        "square 3 steps=3",
        squares(Arc::default()),
        |_| {},
    )
    .await;
    let agent = &done.results[0];
    assert_eq!(agent.exchange.len(), 2);
    for step in &agent.exchange {
        assert_eq!(step.calls.len(), 1);
        assert_eq!(step.results.len(), 1);
        assert_eq!(step.results[0].call_id, step.calls[0].id);
        assert_eq!(step.results[0].content, "9");
    }
    assert!(done.results[1].exchange.is_empty());

    let session = InMemorySession::restore(
        "s",
        vec![
            ModelId::parse("sim/agent").unwrap(),
            ModelId::parse("sim/echo").unwrap(),
        ],
        None,
        vec![Turn::from_complete("square 3 steps=3", &done)],
    );
    let calls = session
        .calls_for(
            &"and again".to_string().into(),
            &llm_compare_core::Params::default(),
            &llm_compare_core::PriceTable::bundled(),
        )
        .await
        .unwrap();
    let roles =
        |c: &llm_compare_core::ChatRequest| c.messages.iter().map(|m| m.role).collect::<Vec<_>>();
    use Role::{Assistant as A, Tool as T, User as U};
    assert_eq!(roles(&calls[0]), [U, A, T, A, T, A, U]);
    assert_eq!(calls[0].messages[1].tool_calls, agent.exchange[0].calls);
    assert_eq!(
        calls[0].messages[2].tool_call_id.as_deref(),
        Some(agent.exchange[0].calls[0].id.as_str())
    );
    assert_eq!(calls[0].messages[5].content, agent.text.as_str());
    // The other model's history is its own: no tools.
    assert_eq!(roles(&calls[1]), [U, A, U]);
    // Without tools this turn: the exchange as text in the answer.
    let flat = flatten_tool_history(calls[0].messages.clone());
    assert_eq!(flat.iter().map(|m| m.role).collect::<Vec<_>>(), [U, A, U]);
    let text = flat[1].content.text().into_owned();
    let line = format!(
        "[tool square({}) → 9]\n",
        agent.exchange[0].calls[0].arguments
    );
    assert!(text.starts_with(&line.repeat(2)), "{text}");
    assert!(text.ends_with(&agent.text), "{text}");
}
