//! The fan-out engine on zero-delay simulated models, on one core (current-thread runtime).
//!
//! `cargo bench -p llm-compare-benches --bench fanout`
//!
//! - `engine/4x25000`: 4 `sim/lorem` models × 25,000 deltas, priced (the real path).
//! - `engine_unpriced/4x25000`: the same without pricing, to isolate cost accounting.
//! - `provider_only/4x25000`: the same provider streams drained directly, without the
//!   engine: the floor the engine's own overhead is measured against.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use llm_compare_core::{
    ChatRequest, CompareOptions, CompareRequest, Engine, Message, ModelId, Params, Provider,
    ProviderRegistry, SimConfig, SimProvider,
};

const MODELS: usize = 4;
const DELTAS: u32 = 25_000;

fn engine() -> (Engine, Arc<SimProvider>) {
    let sim = Arc::new(SimProvider::new(SimConfig::instant()));
    let mut reg = ProviderRegistry::new();
    reg.register(sim.clone());
    (Engine::new(reg), sim)
}

fn request() -> CompareRequest {
    let mut r = CompareRequest::prompt(vec!["sim/lorem"; MODELS], "benchmark the fan-out engine");
    r.params.max_tokens = Some(DELTAS);
    r
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (engine, sim) = engine();
    let req = request();
    // Load the tokenizer before measuring.
    rt.block_on(async { engine.compare(&req).unwrap().result().await.unwrap() });

    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(u64::from(DELTAS) * MODELS as u64));
    g.sample_size(20);

    for (name, pricing) in [("engine", true), ("engine_unpriced", false)] {
        g.bench_function(format!("{name}/{MODELS}x{DELTAS}"), |b| {
            b.to_async(&rt).iter(|| async {
                let calls = engine.plan(&req).unwrap();
                let options = CompareOptions {
                    pricing,
                    ..CompareOptions::default()
                };
                let c = engine.compare_calls(calls, options).unwrap();
                let done = c.result().await.unwrap();
                assert_eq!(done.totals.output_tokens, u64::from(DELTAS) * MODELS as u64);
            });
        });
    }

    g.bench_function(format!("provider_only/{MODELS}x{DELTAS}"), |b| {
        b.to_async(&rt).iter(|| async {
            let mut n = 0usize;
            for _ in 0..MODELS {
                let call = ChatRequest {
                    params: Params {
                        max_tokens: Some(DELTAS),
                        ..Params::default()
                    },
                    ..ChatRequest::new(
                        ModelId::parse("sim/lorem").unwrap(),
                        vec![Message::user("benchmark the fan-out engine")],
                    )
                };
                n += sim.stream(call).await.unwrap().count().await;
            }
            assert_eq!(n, (DELTAS as usize + 2) * MODELS);
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
