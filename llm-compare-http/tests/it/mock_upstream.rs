//! The mock OpenAI-compatible upstream of the benchmarks (`llm_compare_testkit::mock_upstream`)
//! behind a real HTTP provider: a comparison streams its chunks, and dropping the comparison
//! cancels the upstream request (what the load harness times end to end).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use llm_compare_core::{CompareRequest, Engine, EventKind, ProviderRegistry};
use llm_compare_testkit::mock_upstream::{MockConfig, spawn};

fn engine(addr: std::net::SocketAddr) -> Engine {
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(
        llm_compare_testkit::mock_upstream::provider("mock", addr).unwrap(),
    ));
    Engine::new(providers)
}

#[tokio::test]
async fn a_comparison_streams_the_mocks_chunks() {
    let (addr, stats) = spawn("127.0.0.1:0".parse().unwrap(), MockConfig::instant(50))
        .await
        .unwrap();
    let done = engine(addr)
        .compare(&CompareRequest::prompt(
            ["mock/mock-1", "mock/mock-2"],
            "hi",
        ))
        .unwrap()
        .result()
        .await
        .unwrap();
    let expected: String = (0..50).map(|i| format!(" tok{i}")).collect();
    for r in &done.results {
        assert_eq!(r.error, None);
        assert_eq!(r.text, expected);
        assert_eq!(r.usage.output_tokens, 50);
    }
    assert_eq!(stats.started.load(Ordering::Relaxed), 2);
    assert_eq!(stats.completed.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn dropping_the_comparison_cancels_the_upstream_request() {
    let slow = MockConfig {
        ttft: Duration::ZERO,
        tokens_per_s: 20.0,
        chunks: 1000,
    };
    let (addr, stats) = spawn("127.0.0.1:0".parse().unwrap(), slow).await.unwrap();
    let mut comparison = engine(addr)
        .compare(&CompareRequest::prompt(["mock/mock-1"], "hi"))
        .unwrap();
    // Read until the first chunk: the upstream stream is open.
    while let Some(e) = comparison.next().await {
        if matches!(e.kind, EventKind::ResponseChunk { .. }) {
            break;
        }
    }
    let dropped = Instant::now();
    drop(comparison);
    while stats.cancelled.load(Ordering::Relaxed) == 0 {
        assert!(
            dropped.elapsed() < Duration::from_secs(5),
            "the upstream never saw the cancel"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The mock notices at its next write (every 50 ms at 20 tokens/s).
    assert!(
        dropped.elapsed() < Duration::from_secs(1),
        "{:?}",
        dropped.elapsed()
    );
    assert_eq!(stats.completed.load(Ordering::Relaxed), 0);
}
