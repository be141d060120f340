//! The fan-out engine, the registry and sessions, end to end over the simulated provider and
//! a scripted one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use llm_compare_core::providers::sim;
use llm_compare_core::*;
use parking_lot::Mutex;

use llm_compare_testkit::sim_engine;

fn fast() -> SimConfig {
    SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 1000.0,
    }
}

async fn collect(c: Comparison) -> Vec<Event> {
    c.collect().await
}

fn assert_well_formed(events: &[Event]) {
    for w in events.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "seq must increase by one: {w:?}");
    }
    assert_eq!(events[0].seq, 1);
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::Complete(_)
    ));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Complete(_)))
            .count(),
        1
    );
}

fn complete(events: &[Event]) -> &Complete {
    match &events.last().unwrap().kind {
        EventKind::Complete(c) => c,
        other => panic!("last event is {other:?}"),
    }
}

#[tokio::test]
async fn one_failing_model_never_stops_the_others() {
    let (engine, sim) = sim_engine(fast());
    let req = CompareRequest::prompt(
        ["sim/echo", "sim/lorem", "sim/error", "sim/flaky"],
        "hello big world",
    );
    let events = collect(engine.compare(&req).unwrap()).await;
    assert_well_formed(&events);
    assert_eq!(
        events[0].kind,
        EventKind::Status {
            status: RequestStatus::Running
        }
    );

    let errors: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Error {
                model_index,
                code,
                retryable,
                ..
            } => Some((*model_index, *code, *retryable)),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (Some(2), ErrorCode::BadRequest, false),
            (Some(3), ErrorCode::Server, true)
        ]
    );
    let c = complete(&events);
    assert_eq!(c.status, RequestStatus::Completed);
    assert_eq!(c.results.len(), 4);
    assert_eq!(c.results[0].text, "hello big world");
    assert!(c.results[0].error.is_none());
    assert_eq!(
        c.results[1].text.split(' ').count(),
        sim::DEFAULT_LOREM_WORDS as usize
    );
    assert!(c.results[2].error.is_some() && !c.results[2].partial && c.results[2].text.is_empty());
    // flaky streamed a few words, then failed: partial, text kept.
    let flaky = &c.results[3];
    assert!(flaky.partial);
    assert_eq!(flaky.text.split(' ').count(), sim::FLAKY_WORDS);
    assert_eq!(flaky.usage.source, UsageSource::Estimated);
    assert_eq!(c.results[0].usage.source, UsageSource::Reported);
    assert_eq!(c.results[0].usage.output_tokens, 3);
    // Streamed chunks reassemble into each result's text.
    for r in &c.results {
        let streamed: String = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ResponseChunk {
                    model_index, delta, ..
                } if *model_index == r.model_index => Some(delta.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(streamed, r.text);
    }
    assert!(c.results[0].timing.ttft_ms.unwrap() >= 4.0);
    assert!(c.results[0].timing.total_ms >= c.results[0].timing.ttft_ms.unwrap());
    assert_eq!(sim.active_streams(), 0);
}

#[tokio::test]
async fn all_models_failing_fails_the_request() {
    let (engine, _) = sim_engine(fast());
    let events = collect(
        engine
            .compare(&CompareRequest::prompt(["sim/error", "sim/error"], "x"))
            .unwrap(),
    )
    .await;
    assert_eq!(complete(&events).status, RequestStatus::Failed);
}

#[tokio::test]
async fn chunks_of_concurrent_models_interleave() {
    let (engine, _) = sim_engine(SimConfig {
        ttft: Duration::from_millis(1),
        slow_ttft: Duration::ZERO,
        tokens_per_s: 200.0,
    });
    let mut req = CompareRequest::prompt(["sim/lorem", "sim/lorem"], "interleave");
    req.params.max_tokens = Some(10);
    let events = collect(engine.compare(&req).unwrap()).await;
    let order: Vec<usize> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ResponseChunk { model_index, .. } => Some(*model_index),
            _ => None,
        })
        .collect();
    assert_eq!(order.len(), 20);
    // One model after the other switches once; streaming side by side switches often (on
    // a loaded machine a late timer makes runs of two or three, so not every chunk).
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 4,
        "models did not stream concurrently: {order:?}"
    );
    // Each model took ~46 ms (9 gaps of 5 ms); one after the other would be ≥ 92 ms. The
    // models' own timings overlap: the second started before the first ended.
    let r = &complete(&events).results;
    let total = complete(&events).duration_ms;
    assert!(
        total < r[0].timing.total_ms + r[1].timing.total_ms,
        "{total} vs {:?}",
        (r[0].timing, r[1].timing)
    );
}

#[tokio::test]
async fn cancel_stops_upstream_work_within_100ms() {
    let (engine, sim) = sim_engine(SimConfig {
        ttft: Duration::from_millis(1),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 20.0,
    });
    let c = engine
        .compare(&CompareRequest::prompt(
            ["sim/lorem", "sim/slow", "sim/echo"],
            "a b c d e f g h",
        ))
        .unwrap();
    let handle = c.cancel_token();
    // Until lorem has streamed a word (so it ends partial) with all three calls open.
    let mut c = c;
    let mut seen = Vec::new();
    while let Some(e) = c.next().await {
        let lorem_spoke = matches!(e.kind, EventKind::ResponseChunk { model_index: 0, .. });
        seen.push(e);
        if lorem_spoke {
            break;
        }
    }
    assert_eq!(sim.active_streams(), 3);
    let consumer = tokio::spawn(async move {
        seen.extend(collect(c).await);
        seen
    });
    let t0 = Instant::now();
    handle.cancel();
    while sim.active_streams() > 0 {
        assert!(
            t0.elapsed() < Duration::from_millis(100),
            "upstream still running after 100 ms"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let stopped = t0.elapsed();
    let events = consumer.await.unwrap();
    assert!(stopped < Duration::from_millis(100), "{stopped:?}");
    assert_well_formed(&events);
    let c = complete(&events);
    assert_eq!(c.status, RequestStatus::Cancelled);
    for r in &c.results {
        assert_eq!(r.finish_reason, Some(FinishReason::Cancelled));
        assert_eq!(r.error.as_ref().unwrap().code, ErrorCode::Cancelled);
    }
    // lorem had streamed some words before the cancel: kept, marked partial.
    assert!(c.results[0].partial && !c.results[0].text.is_empty());
    assert!(!c.results[1].partial && c.results[1].text.is_empty());
}

#[tokio::test]
async fn dropping_the_comparison_aborts_upstream() {
    let (engine, sim) = sim_engine(SimConfig {
        ttft: Duration::ZERO,
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 10.0,
    });
    let mut c = engine
        .compare(&CompareRequest::prompt(["sim/slow", "sim/lorem"], "x"))
        .unwrap();
    // Read until lorem streamed twice (it waits between words, so both calls were polled).
    let mut chunks = 0;
    while let Some(e) = c.next().await {
        if matches!(e.kind, EventKind::ResponseChunk { .. }) {
            chunks += 1;
            if chunks == 2 {
                break;
            }
        }
    }
    assert_eq!(sim.active_streams(), 2);
    drop(c);
    assert_eq!(sim.active_streams(), 0);
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_field_named() {
    let (engine, _) = sim_engine(fast());
    let e = engine
        .compare(&CompareRequest::prompt(Vec::<String>::new(), "x"))
        .unwrap_err();
    assert_eq!(e.field(), Some("models"));
    let e = engine
        .compare(&CompareRequest::prompt(["sim/echo"; 9], "x"))
        .unwrap_err();
    assert_eq!(e.field(), Some("models"));
    assert!(e.to_string().contains("at most 8"));
    let e = engine
        .compare(&CompareRequest::prompt(["nope/model"], "x"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownModel);
    let e = engine
        .compare(&CompareRequest::prompt(["sim/unknown"], "x"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownModel);
    let e = engine
        .compare(&CompareRequest::prompt(["sim/echo"], ""))
        .unwrap_err();
    assert_eq!(e.field(), Some("prompt"));
}

#[tokio::test]
async fn cost_is_priced_exactly_from_reported_usage() {
    let (engine, _) = sim_engine(fast());
    // The engine's table: the bundled one plus the simulator's own ($0) prices.
    let mut prices = (**engine.prices()).clone();
    assert_eq!(prices.get("sim/lorem").map(|p| p.input), Some(0));
    // Price the simulated echo model like gpt-4o ($2.50 / $10 per 1M).
    prices.set(
        "sim/echo",
        *PriceTable::bundled().get("openai/gpt-4o").unwrap(),
    );
    assert!(
        PriceTable::bundled().get("sim/lorem").is_none(),
        "the simulator brings its own"
    );
    let engine = engine.with_prices(Arc::new(prices));
    let c = engine
        .compare(&CompareRequest::prompt(
            ["sim/echo", "sim/lorem"],
            "one two three four",
        ))
        .unwrap()
        .result()
        .await
        .unwrap();
    let r = &c.results[0];
    let expected = r.usage.input_tokens * 2_500_000 + r.usage.output_tokens * 10_000_000;
    assert_eq!(r.cost.total_usd, Some(Usd(expected)));
    assert_eq!(r.usage.output_tokens, 4);
    assert_eq!(c.results[1].cost.total_usd, Some(Usd(0)));
    assert_eq!(c.totals.cost_usd, Usd(expected));
    assert!(c.totals.priced);
    assert_eq!(c.totals.output_tokens, 4 + sim::DEFAULT_LOREM_WORDS as u64);
}

/// A provider that plays back a fixed script and records what it was asked.
#[derive(Debug, Default)]
struct Scripted {
    script: Vec<ProviderEvent>,
    seen: Mutex<Vec<ChatRequest>>,
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn list_models(&self) -> Result<Vec<String>> {
        Ok(vec!["a".into()])
    }
    async fn stream(&self, request: ChatRequest) -> Result<ProviderStream> {
        self.seen.lock().push(request.clone());
        let mut script = self.script.clone();
        if script.is_empty() {
            // Echo the history length, so each model's answer differs per turn.
            script.push(ProviderEvent::TextDelta(format!(
                "{}:{}",
                request.model.model(),
                request.messages.len()
            )));
        }
        Ok(futures::stream::iter(script.into_iter().map(Ok)).boxed())
    }
}

#[tokio::test]
async fn tool_calls_reasoning_and_partial_usage_are_assembled() {
    let scripted = Arc::new(Scripted {
        script: vec![
            ProviderEvent::ReasoningDelta("think".into()),
            ProviderEvent::ToolCallDelta {
                index: 0,
                id: Some("call_1".into()),
                name: Some("get_weather".into()),
                arguments: "{\"city\":".into(),
            },
            ProviderEvent::ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: "\"Paris\"}".into(),
            },
            ProviderEvent::ToolCallDelta {
                index: 1,
                id: Some("call_2".into()),
                name: Some("get_time".into()),
                arguments: "{}".into(),
            },
            ProviderEvent::Usage(ReportedUsage {
                input_tokens: Some(12),
                ..Default::default()
            }),
            ProviderEvent::Usage(ReportedUsage {
                output_tokens: Some(30),
                reasoning_tokens: Some(5),
                ..Default::default()
            }),
            ProviderEvent::Finish {
                reason: FinishReason::ToolCalls,
                raw: Some("tool_use".into()),
            },
        ],
        ..Default::default()
    });
    let mut reg = ProviderRegistry::new();
    reg.register(scripted);
    let engine = Engine::new(reg);
    let events = collect(
        engine
            .compare(&CompareRequest::prompt(["scripted/a"], "weather?"))
            .unwrap(),
    )
    .await;
    assert_well_formed(&events);
    let calls: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolCall {
                id,
                name,
                arguments,
                ..
            } => Some((id.as_str(), name.as_str(), arguments.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("call_1", "get_weather", "{\"city\":\"Paris\"}"),
            ("call_2", "get_time", "{}")
        ]
    );
    let r = &complete(&events).results[0];
    assert_eq!(r.reasoning, "think");
    assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(r.raw_finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.output_tokens,
            r.usage.reasoning_tokens
        ),
        (12, 30, 5)
    );
    assert_eq!(r.usage.source, UsageSource::Reported);
    assert!(!r.cost.priced, "scripted/a is not in the price table");
    assert!(!complete(&events).totals.priced);
}

#[tokio::test]
async fn session_models_see_their_own_answers() {
    let scripted = Arc::new(Scripted::default());
    let mut reg = ProviderRegistry::new();
    reg.register(scripted.clone());
    reg.register(Arc::new(SimProvider::new(SimConfig::instant())));
    let engine = Engine::new(reg);
    let session: Arc<dyn Session> = Arc::new(
        InMemorySession::new(
            &engine,
            &["scripted/a".into(), "sim/echo".into(), "sim/error".into()],
            Some("be brief".into()),
        )
        .unwrap(),
    );
    let first = engine
        .compare_in_session(session.clone(), "first question", &Params::default())
        .await
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(first.results[0].text, "a:2");
    let second = engine
        .compare_in_session(session.clone(), "second question", &Params::default())
        .await
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(second.results[1].text, "second question");

    let turns = session.turns().await.unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(
        turns[0].answers,
        vec![Some("a:2".into()), Some("first question".into()), None]
    );

    let calls = session
        .calls_for(&"third".into(), &Params::default(), engine.prices())
        .await
        .unwrap();
    // scripted/a: system, (user, its answer) × 2, user.
    let roles: Vec<Role> = calls[0].messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![
            Role::System,
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    assert_eq!(calls[0].messages[2].content, "a:2");
    assert_eq!(calls[0].messages[4].content, "a:4");
    // sim/echo sees its own answers, not scripted's.
    assert_eq!(calls[1].messages[2].content, "first question");
    // sim/error never answered: only the system prompt and the new question.
    assert_eq!(calls[2].messages.len(), 2);
    // What the provider actually received on turn two: its own first answer.
    let seen = scripted.seen.lock();
    assert_eq!(seen[1].messages[2], Message::assistant("a:2"));
}

#[tokio::test]
async fn session_history_is_trimmed_oldest_first_to_the_context_window() {
    let (engine, _) = sim_engine(SimConfig::instant());
    let mut prices = PriceTable::empty();
    // Room for the new question and about two earlier turns of ~25 tokens each.
    prices.set(
        "sim/echo",
        ModelPrice {
            max_input_tokens: Some(80),
            ..ModelPrice::default()
        },
    );
    let engine = engine.with_prices(Arc::new(prices));
    let session: Arc<dyn Session> = Arc::new(
        InMemorySession::new(&engine, &["sim/echo".into(), "sim/lorem".into()], None).unwrap(),
    );
    let long = "one two three four five six seven eight nine ten eleven";
    for turn in 0..4 {
        let done = engine
            .compare_in_session(
                session.clone(),
                format!("{turn} {long}"),
                &Params::default(),
            )
            .await
            .unwrap()
            .result()
            .await
            .unwrap();
        assert!(done.results.iter().all(|r| r.error.is_none()));
    }
    let calls = session
        .calls_for(&"and now?".into(), &Params::default(), engine.prices())
        .await
        .unwrap();
    // sim/echo: 4 turns of history, only the newest that fit are kept, the oldest dropped.
    let echo = &calls[0];
    let kept = (echo.messages.len() - 1) / 2;
    assert!((1..4).contains(&kept), "kept {kept} of 4 turns");
    assert_eq!(echo.history_trimmed as usize, 4 - kept);
    assert!(
        echo.messages[echo.messages.len() - 3]
            .content
            .text()
            .starts_with("3 ")
    );
    assert!(
        !echo
            .messages
            .iter()
            .any(|m| m.content.text().starts_with("0 "))
    );
    // sim/lorem has no window in this table: nothing trimmed.
    assert_eq!(calls[1].history_trimmed, 0);
    assert_eq!(calls[1].messages.len(), 9);
    // The result says so.
    let done = engine
        .compare_in_session(session.clone(), "and now?", &Params::default())
        .await
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(done.results[0].history_trimmed, echo.history_trimmed);
    assert_eq!(done.results[1].history_trimmed, 0);
    let json = serde_json::to_value(&done.results[0]).unwrap();
    assert_eq!(json["history_trimmed"], echo.history_trimmed);
}

#[test]
fn blind_events_name_no_model() {
    let result = ModelResult {
        served_by: Some("openai/gpt-4o-mini".into()),
        ..serde_json::from_value(serde_json::json!({
            "model_index": 1, "model": "openai/gpt-4o", "text": "hi", "finish_reason": "stop",
            "partial": false, "usage": {"input_tokens": 1, "output_tokens": 1, "source": "reported"},
            "cost": {"usd": 0.0, "priced": true}, "timing": {"total_ms": 1.0},
            "attempts": [{"model": "openai/gpt-4o", "code": "server", "message": "x", "retryable": true}]
        }))
        .unwrap()
    };
    let events = [
        EventKind::Stage {
            model_index: 0,
            model: "anthropic/claude".into(),
            stage: Stage::Streaming,
        },
        EventKind::ResponseChunk {
            model_index: 25,
            model: "anthropic/claude".into(),
            delta: "x".into(),
        },
        EventKind::ModelResult(Box::new(result.clone())),
        EventKind::Complete(Complete {
            request_id: "r".into(),
            status: RequestStatus::Completed,
            results: vec![result],
            totals: Totals::default(),
            duration_ms: 1.0,
        }),
    ];
    for kind in events {
        let json = Event { seq: 1, kind }.blinded().to_json();
        assert!(
            !json.contains("openai") && !json.contains("anthropic"),
            "{json}"
        );
        assert!(
            json.contains("Model B") || json.contains("Model A") || json.contains("Model Z"),
            "{json}"
        );
    }
    assert_eq!(blind_label(0), "Model A");
    assert_eq!(blind_label(26), "Model 27");
}

// ---- registry ----

fn registry(config: RegistryConfig) -> Arc<dyn RequestRegistry> {
    Arc::new(InMemoryRegistry::new(config))
}

async fn run_to_end(
    engine: &Engine,
    reg: &Arc<dyn RequestRegistry>,
    owner: &str,
    req: &CompareRequest,
) -> (String, Vec<Event>) {
    let id = engine.submit(reg.clone(), owner, req).await.unwrap();
    let events: Vec<Event> = reg.subscribe(owner, &id, 0).await.unwrap().collect().await;
    (id, events)
}

#[tokio::test]
async fn registry_replays_exactly_the_events_after_any_seq() {
    let (engine, _) = sim_engine(fast());
    let reg = registry(RegistryConfig::default());
    let mut req = CompareRequest::prompt(["sim/echo", "sim/lorem", "sim/error"], "one two three");
    req.params.max_tokens = Some(8);
    let (id, all) = run_to_end(&engine, &reg, "alice", &req).await;
    assert_well_formed(&all);
    assert_eq!(complete(&all).request_id, id);
    let last = all.last().unwrap().seq;
    for after in 0..=last + 2 {
        let replay: Vec<Event> = reg
            .subscribe("alice", &id, after)
            .await
            .unwrap()
            .collect()
            .await;
        let expected: Vec<Event> = all.iter().filter(|e| e.seq > after).cloned().collect();
        assert_eq!(replay, expected, "replay after seq {after}");
    }
    let info = reg.status("alice", &id).await.unwrap();
    assert_eq!(info.status, RequestStatus::Completed);
    assert_eq!(info.last_seq, last);
    assert_eq!(info.models, vec!["sim/echo", "sim/lorem", "sim/error"]);
}

#[tokio::test]
async fn registry_resume_mid_stream_has_no_gap_and_no_duplicate() {
    let (engine, _) = sim_engine(SimConfig {
        ttft: Duration::from_millis(1),
        slow_ttft: Duration::ZERO,
        tokens_per_s: 300.0,
    });
    let reg = registry(RegistryConfig::default());
    let mut req = CompareRequest::prompt(["sim/lorem", "sim/lorem"], "resume");
    req.params.max_tokens = Some(30);
    let id = engine.submit(reg.clone(), "bob", &req).await.unwrap();
    // Read a few live events, then "disconnect".
    let mut first = reg.subscribe("bob", &id, 0).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 10 {
        got.push(first.next().await.unwrap());
    }
    drop(first);
    let resumed: Vec<Event> = reg
        .subscribe("bob", &id, got.last().unwrap().seq)
        .await
        .unwrap()
        .collect()
        .await;
    got.extend(resumed);
    assert_well_formed(&got);
    assert_eq!(complete(&got).results[0].text.split(' ').count(), 30);
}

#[tokio::test]
async fn another_owner_cannot_see_a_request() {
    let (engine, _) = sim_engine(fast());
    let reg = registry(RegistryConfig::default());
    let (id, _) = run_to_end(
        &engine,
        &reg,
        "alice",
        &CompareRequest::prompt(["sim/echo"], "secret"),
    )
    .await;
    assert_eq!(
        reg.status("mallory", &id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        reg.subscribe("mallory", &id, 0).await.err().unwrap().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        reg.cancel("mallory", &id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        reg.status("alice", "no-such-id").await.unwrap_err().code(),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn registry_cancel_stops_upstream_and_ends_the_stream_cancelled() {
    let (engine, sim) = sim_engine(SimConfig {
        ttft: Duration::from_millis(1),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 5.0,
    });
    let reg = registry(RegistryConfig::default());
    let id = engine
        .submit(
            reg.clone(),
            "alice",
            &CompareRequest::prompt(["sim/slow", "sim/lorem"], "x"),
        )
        .await
        .unwrap();
    let sub = tokio::spawn({
        let reg = reg.clone();
        let id = id.clone();
        async move {
            reg.subscribe("alice", &id, 0)
                .await
                .unwrap()
                .collect::<Vec<_>>()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sim.active_streams(), 2);
    let t0 = Instant::now();
    reg.cancel("alice", &id).await.unwrap();
    while sim.active_streams() > 0 {
        assert!(t0.elapsed() < Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let events = sub.await.unwrap();
    assert_well_formed(&events);
    assert_eq!(complete(&events).status, RequestStatus::Cancelled);
    assert_eq!(
        reg.status("alice", &id).await.unwrap().status,
        RequestStatus::Cancelled
    );
}

// Paused time: the registry's clock is tokio's, so the TTL passes at once and exactly.
#[tokio::test(start_paused = true)]
async fn finished_requests_expire_after_the_retention_ttl() {
    let (engine, _) = sim_engine(fast());
    let reg = registry(RegistryConfig {
        retention: Duration::from_millis(60),
        ..Default::default()
    });
    let (id, _) = run_to_end(
        &engine,
        &reg,
        "alice",
        &CompareRequest::prompt(["sim/echo"], "x"),
    )
    .await;
    assert!(reg.status("alice", &id).await.is_ok());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        reg.status("alice", &id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        reg.subscribe("alice", &id, 0).await.err().unwrap().code(),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn finished_requests_past_the_memory_cap_go_oldest_first_and_read_back_exactly() {
    let (engine, _) = sim_engine(fast());
    let req = CompareRequest::prompt(["sim/echo", "sim/lorem"], "hello there, how are you");
    // What one finished comparison holds, compacted.
    let probe = InMemoryRegistry::new(RegistryConfig::default());
    let probe_dyn: Arc<dyn RequestRegistry> = Arc::new(probe.clone());
    let (id, events) = run_to_end(&engine, &probe_dyn, "alice", &req).await;
    let one = probe.retained_bytes();
    assert!(one > 0);
    // Compaction keeps each event as it was published (a late reader sees the same log).
    let replayed: Vec<Event> = probe_dyn.events("alice", &id, 0).await.unwrap();
    assert_eq!(replayed, events);
    assert_eq!(
        probe_dyn.events("alice", &id, 7).await.unwrap(),
        events[7..]
    );
    // Under a cap of two and a half: the third to finish pushes out the first.
    let mem = InMemoryRegistry::new(RegistryConfig {
        max_retained_bytes: Some(one * 5 / 2),
        ..Default::default()
    });
    let reg: Arc<dyn RequestRegistry> = Arc::new(mem.clone());
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(run_to_end(&engine, &reg, "alice", &req).await.0);
    }
    assert_eq!(
        reg.status("alice", &ids[0]).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    for id in &ids[1..] {
        assert!(reg.status("alice", id).await.is_ok());
    }
    assert!(
        mem.retained_bytes() <= one * 5 / 2,
        "{}",
        mem.retained_bytes()
    );
}

// Paused time: the registry's clock is tokio's, so the TTL passes at once and exactly.
#[tokio::test(start_paused = true)]
async fn unopened_requests_expire_and_their_work_is_cancelled() {
    let (engine, sim) = sim_engine(SimConfig {
        ttft: Duration::ZERO,
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 1.0,
    });
    let mem = InMemoryRegistry::new(RegistryConfig {
        unopened_ttl: Duration::from_millis(60),
        max_active_per_owner: 1,
        ..Default::default()
    });
    let reg: Arc<dyn RequestRegistry> = Arc::new(mem.clone());
    let id = engine
        .submit(
            reg.clone(),
            "alice",
            &CompareRequest::prompt(["sim/slow"], "x"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(sim.active_streams(), 1);
    tokio::time::sleep(Duration::from_millis(130)).await;
    assert_eq!(
        reg.status("alice", &id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        sim.active_streams(),
        0,
        "expired request still calls upstream"
    );
    // Its slot is free again.
    assert_eq!(mem.active_count("alice"), 0);
    assert!(
        engine
            .submit(
                reg.clone(),
                "alice",
                &CompareRequest::prompt(["sim/echo"], "x")
            )
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn per_owner_active_limit() {
    let (engine, _) = sim_engine(SimConfig {
        ttft: Duration::ZERO,
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 100.0,
    });
    let reg = registry(RegistryConfig {
        max_active_per_owner: 2,
        ..Default::default()
    });
    let slow = CompareRequest::prompt(["sim/slow"], "x");
    let a = engine.submit(reg.clone(), "alice", &slow).await.unwrap();
    let _b = engine.submit(reg.clone(), "alice", &slow).await.unwrap();
    let e = engine
        .submit(reg.clone(), "alice", &slow)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RateLimited);
    assert_eq!(e.http_status(), 429);
    assert!(e.retry_after().is_some());
    // Another owner is unaffected.
    assert!(engine.submit(reg.clone(), "bob", &slow).await.is_ok());
    // A bad request does not use a slot, and does not count as over the limit.
    assert_eq!(
        engine
            .submit(
                reg.clone(),
                "alice",
                &CompareRequest::prompt(["sim/echo"], "")
            )
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidRequest
    );
    // Once one finishes (here: cancelled), alice may start another.
    reg.cancel("alice", &a).await.unwrap();
    let _: Vec<Event> = reg.subscribe("alice", &a, 0).await.unwrap().collect().await;
    assert!(engine.submit(reg.clone(), "alice", &slow).await.is_ok());
}

#[tokio::test]
async fn request_ids_are_unique_and_time_ordered() {
    let reg = registry(RegistryConfig {
        max_active_per_owner: 10_000,
        ..Default::default()
    });
    let mut ids = Vec::new();
    for _ in 0..1000 {
        ids.push(
            reg.register(&NewRequest::new("alice", vec![]))
                .await
                .unwrap()
                .id,
        );
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted, ids,
        "ids must be unique and increase in creation order"
    );
    assert_eq!(uuid::Uuid::parse_str(&ids[0]).unwrap().get_version_num(), 7);
}

/// Runs model 0's call as a runner whose call was cancelled under it; the rest in process.
#[derive(Debug)]
struct CancelsFirst;

impl Runner for CancelsFirst {
    fn run(&self, call: PlannedCall) -> futures::stream::BoxStream<'static, CallEvent> {
        if call.call.model_index == 0 {
            futures::stream::iter([
                CallEvent::Event(ProviderEvent::TextDelta("so far".into())),
                CallEvent::Cancel,
            ])
            .boxed()
        } else {
            InProcessRunner.run(call)
        }
    }
}

#[tokio::test]
async fn a_runner_cancelling_one_call_ends_that_model_only() {
    let (engine, _) = sim_engine(fast());
    let c = engine
        .with_runner(Arc::new(CancelsFirst))
        .compare(&CompareRequest::prompt(
            ["sim/echo", "sim/echo"],
            "still here",
        ))
        .unwrap();
    let events = collect(c).await;
    assert_well_formed(&events);
    let done = complete(&events);
    assert_eq!(done.status, RequestStatus::Completed);
    let first = &done.results[0];
    assert_eq!(first.error.as_ref().unwrap().code, ErrorCode::Cancelled);
    assert!(first.partial && first.text == "so far", "{first:?}");
    assert_eq!(done.results[1].text, "still here");
    assert!(done.results[1].error.is_none());
}

/// Every cost says where it came from: the table (the simulator's own $0 prices are the
/// engine's table), a configured price, or estimated usage.
#[tokio::test]
async fn costs_carry_their_source() {
    let config = Config::parse(
        "[sim]\nttft_ms = 1\ntokens_per_s = 2000\n[prices.\"sim/echo\"]\ninput = \"1\"\noutput = \"2\"\n",
    )
    .unwrap();
    let done = config
        .engine()
        .unwrap()
        .compare(&CompareRequest::prompt(
            ["sim/echo", "sim/lorem", "sim/flaky"],
            "where does this cost come from",
        ))
        .unwrap()
        .result()
        .await
        .unwrap();
    let source = |i: usize| done.results[i].cost.source;
    assert_eq!(source(0), CostSource::Config);
    assert_eq!(source(1), CostSource::PriceTable);
    // sim/flaky fails mid-stream: its usage is counted by the tokenizer.
    assert_eq!(done.results[2].usage.source, UsageSource::Estimated);
    assert_eq!(source(2), CostSource::Estimated);
    // On the wire: `"source": "config"`.
    let json = serde_json::to_value(done.results[0].cost).unwrap();
    assert_eq!(json["source"], "config");
}
