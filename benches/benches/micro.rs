//! Micro-benchmarks of the per-token paths: stream parsing per wire format (on the recorded
//! provider streams), event serialization, token counting.
//!
//! `cargo bench -p llm-compare-benches --bench micro`
//!
//! - `parse/<wire>/<fixture>/{whole,1KiB}`: a recorded body through SSE framing and the wire
//!   format's parser to `ProviderEvent`s, delivered in one piece or in 1 KiB chunks (as a
//!   socket delivers it); throughput in body bytes.
//! - `event_json/<type>`: one event to its wire JSON (SSE `data:`, WebSocket, `--json`).
//! - `call_line/text`: a text delta to the worker's JSON line and back (remote runners).
//! - `tokens/<encoding>/<size>`: counting tokens with tiktoken (usage estimates).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../llm-compare-core/tests/support/fixtures.rs"]
mod fixtures;

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use llm_compare_core::providers::HttpProvider;
use llm_compare_core::providers::http::parse_sse;
use llm_compare_core::{
    CallEvent, Complete, Cost, Event, EventKind, FinishReason, ModelResult, ProviderEvent,
    RequestStatus, Timing, Totals, Usage, UsageSource, pricing,
};

/// The largest recorded stream of each wire format.
fn largest_fixtures() -> Vec<(String, String)> {
    let mut best: Vec<(String, String, usize)> = Vec::new();
    for (file, exp) in fixtures::expected() {
        let wire = exp["wire_format"].as_str().unwrap().to_string();
        let size = fixtures::framed(&file, &wire).len();
        match best.iter_mut().find(|(_, w, _)| *w == wire) {
            Some(b) if b.2 >= size => {}
            Some(b) => *b = (file, wire, size),
            None => best.push((file, wire, size)),
        }
    }
    best.sort();
    best.into_iter().map(|(f, w, _)| (f, w)).collect()
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (file, wire) in largest_fixtures() {
        let body = fixtures::framed(&file, &wire);
        let provider = HttpProvider::new(fixtures::spec(fixtures::wire_of(&wire))).unwrap();
        let name = file
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".chunks.txt");
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (how, size) in [("whole", body.len()), ("1KiB", 1024)] {
            let chunks: Vec<bytes::Bytes> = body
                .chunks(size)
                .map(bytes::Bytes::copy_from_slice)
                .collect();
            group.bench_function(BenchmarkId::new(format!("{wire}/{name}"), how), |b| {
                b.iter(|| {
                    let stream = futures::stream::iter(
                        chunks.clone().into_iter().map(Ok::<_, std::io::Error>),
                    );
                    let events =
                        futures::executor::block_on(parse_sse(stream, provider.parser()).count());
                    assert!(events > 0);
                    events
                })
            });
        }
    }
    group.finish();
}

fn sample_result() -> ModelResult {
    ModelResult {
        model_index: 1,
        model: Arc::from("openai/gpt-4o-mini"),
        text: "The capital of France is Paris. ".repeat(16),
        reasoning: String::new(),
        tool_calls: vec![],
        finish_reason: Some(FinishReason::Stop),
        raw_finish_reason: Some("stop".into()),
        partial: false,
        usage: Usage {
            input_tokens: 24,
            output_tokens: 112,
            cached_input_tokens: 0,
            source: UsageSource::Reported,
            ..Usage::default()
        },
        cost: Cost::default(),
        timing: Timing {
            ttft_ms: Some(231.5),
            total_ms: 1804.2,
            tokens_per_s: Some(71.2),
        },
        error: None,
        attempts: vec![],
        served_by: None,
        history_trimmed: 0,
        structured: None,
        steps: 0,
        exchange: vec![],
    }
}

fn event_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_json");
    let chunk = Event {
        seq: 1234,
        kind: EventKind::ResponseChunk {
            model_index: 2,
            model: Arc::from("anthropic/claude-sonnet-4-5"),
            delta: " the".into(),
        },
    };
    let result = Event {
        seq: 1300,
        kind: EventKind::ModelResult(Box::new(sample_result())),
    };
    let complete = Event {
        seq: 1400,
        kind: EventKind::Complete(Complete {
            request_id: "0195f3a2-7c1e-7000-8000-000000000001".into(),
            status: RequestStatus::Completed,
            results: vec![sample_result(); 4],
            totals: Totals::default(),
            duration_ms: 1804.2,
        }),
    };
    for (name, event) in [
        ("response_chunk", chunk),
        ("model_result", result),
        ("complete", complete),
    ] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter(|| event.to_json()));
    }
    group.finish();

    let mut group = c.benchmark_group("call_line");
    group.throughput(Throughput::Elements(1));
    group.bench_function("text", |b| {
        b.iter(|| {
            let line = CallEvent::Event(ProviderEvent::TextDelta(" the".into())).into_line();
            CallEvent::from_line(&line).unwrap()
        })
    });
    group.finish();
}

fn token_counting(c: &mut Criterion) {
    pricing::warm_up();
    let mut group = c.benchmark_group("tokens");
    let sentence =
        "The quick brown fox jumps over the lazy dog, then writes a short essay about it. ";
    for (label, bytes) in [("1KiB", 1024usize), ("16KiB", 16 * 1024)] {
        let text: String = sentence.repeat(bytes / sentence.len() + 1)[..bytes].to_string();
        group.throughput(Throughput::Bytes(bytes as u64));
        for (encoding, model) in [("o200k", "openai/gpt-4o-mini"), ("cl100k", "openai/gpt-4")] {
            group.bench_function(BenchmarkId::new(encoding, label), |b| {
                b.iter(|| pricing::count_tokens(&text, model))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, parse, event_json, token_counting);
criterion_main!(benches);
