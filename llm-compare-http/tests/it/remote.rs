//! What the remote-runner tests share (the worker process runner, the Kubernetes runner): the
//! engine whose sim timings the workers are given, the check that a comparison run remotely
//! ends as it does in process, and cancelling remote calls.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use futures::StreamExt;
use llm_compare_core::{CompareRequest, Complete, Engine, EventKind, RequestStatus, SimConfig};

/// The sim timings the workers get through their environment.
pub const WORKER_SIM_ENV: [(&str, &str); 3] = [
    ("LLM_COMPARE_SIM_TTFT_MS", "5"),
    ("LLM_COMPARE_SIM_TOKENS_PER_S", "400"),
    ("LLM_COMPARE_SIM_SLOW_TTFT_MS", "30000"),
];

/// An engine with the workers' sim timings.
pub fn sim_engine() -> Engine {
    llm_compare_testkit::sim_engine(SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 400.0,
    })
    .0
}

/// Runs `request` in process and with `remote`; asserts both end the same (text, usage,
/// finish, errors, cost, totals) and returns the remote result.
pub async fn same_as_in_process(remote: Engine, request: &CompareRequest) -> Complete {
    let local = sim_engine()
        .compare(request)
        .unwrap()
        .result()
        .await
        .unwrap();
    let remote = remote.compare(request).unwrap().result().await.unwrap();
    assert_eq!(remote.status, local.status);
    assert_eq!(remote.results.len(), local.results.len());
    for (l, r) in local.results.iter().zip(&remote.results) {
        assert_eq!(r.model, l.model);
        assert_eq!(r.text, l.text, "{}", l.model);
        assert_eq!(r.usage, l.usage, "{}", l.model);
        assert_eq!(r.finish_reason, l.finish_reason, "{}", l.model);
        assert_eq!(r.partial, l.partial, "{}", l.model);
        assert_eq!(r.error, l.error, "{}", l.model);
        assert_eq!(r.cost, l.cost, "{}", l.model);
    }
    assert_eq!(remote.totals, local.totals);
    remote
}

/// Starts a comparison of two `sim/slow` models (they wait 30 s for a first token) on
/// `engine`; once `started` says the remote calls run, cancels it and asserts it ends
/// `cancelled`.
pub async fn cancel_two_slow_calls<F, Fut>(engine: Engine, started: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut comparison = engine
        .compare(&CompareRequest::prompt(["sim/slow", "sim/slow"], "wait"))
        .unwrap();
    let cancel = comparison.cancel_token();
    let reader = tokio::spawn(async move {
        let mut last = None;
        while let Some(e) = comparison.next().await {
            last = Some(e);
        }
        last
    });
    started().await;
    cancel.cancel();
    match reader.await.unwrap().unwrap().kind {
        EventKind::Complete(c) => assert_eq!(c.status, RequestStatus::Cancelled),
        other => panic!("{other:?}"),
    }
}
