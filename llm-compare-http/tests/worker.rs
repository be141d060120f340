//! `llm-compare worker` behind the runner seam: a runner that starts the real worker binary
//! per model call and reads its JSON lines back (what the Kubernetes runner does with a pod's
//! log) gives the same comparison as the in-process runner, and dropping the call — a
//! cancelled comparison — kills the worker.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use llm_compare_core::runner::read_lines;
use llm_compare_core::{
    CallEvent, CompareRequest, Engine, ErrorCode, PlannedCall, ProviderRegistry, RequestStatus,
    Runner, SimConfig, SimProvider,
};
use tokio::io::BufReader;
use tokio::process::Command;

/// Runs each call as `llm-compare worker` in a child process.
#[derive(Debug, Default)]
struct ProcessRunner {
    started: Arc<AtomicUsize>,
    pids: Arc<parking_lot::Mutex<Vec<u32>>>,
}

impl Runner for ProcessRunner {
    fn run(&self, call: PlannedCall) -> BoxStream<'static, CallEvent> {
        let started = self.started.clone();
        let pids = self.pids.clone();
        let call_json = serde_json::to_string(&call.call).unwrap_or_default();
        async_stream::stream! {
            let mut child = match Command::new(env!("CARGO_BIN_EXE_llm-compare"))
                .arg("worker")
                .env("LLM_COMPARE_CALL", call_json)
                .env("LLM_COMPARE_SIM_TTFT_MS", "5")
                .env("LLM_COMPARE_SIM_TOKENS_PER_S", "400")
                .env("LLM_COMPARE_SIM_SLOW_TTFT_MS", "30000")
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
            {
                Ok(c) => c,
                Err(e) => {
                    yield CallEvent::Failed(llm_compare_core::Error::Internal(e.to_string()));
                    return;
                }
            };
            started.fetch_add(1, Ordering::SeqCst);
            pids.lock().extend(child.id());
            let Some(stdout) = child.stdout.take() else { return };
            let mut lines = read_lines(BufReader::new(stdout), "the worker's output ended before the call did");
            while let Some(e) = lines.next().await {
                yield e;
            }
            // `child` lives as long as the stream: dropping the stream kills it.
            drop(child);
        }
        .boxed()
    }
}

/// The engine with the workers' sim timings (the workers read them from the environment).
fn sim_engine() -> Engine {
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(SimProvider::new(SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 400.0,
    })));
    Engine::new(providers)
}

#[tokio::test]
async fn a_worker_per_call_gives_the_in_process_results() {
    let request = CompareRequest::prompt(
        ["sim/echo", "sim/lorem", "sim/flaky"],
        "the same comparison whichever runner ran it",
    );
    let local = sim_engine()
        .compare(&request)
        .unwrap()
        .result()
        .await
        .unwrap();
    let runner = Arc::new(ProcessRunner::default());
    let remote = sim_engine()
        .with_runner(runner.clone())
        .compare(&request)
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(runner.started.load(Ordering::SeqCst), 3);
    assert_eq!(remote.status, local.status);
    assert_eq!(remote.results.len(), 3);
    for (l, r) in local.results.iter().zip(&remote.results) {
        assert_eq!(r.model, l.model);
        assert_eq!(r.text, l.text, "{}", l.model);
        assert_eq!(r.usage, l.usage, "{}", l.model);
        assert_eq!(r.finish_reason, l.finish_reason, "{}", l.model);
        assert_eq!(r.partial, l.partial, "{}", l.model);
        assert_eq!(r.error, l.error, "{}", l.model);
        assert_eq!(r.cost, l.cost, "{}", l.model);
    }
    assert_eq!(
        remote.results[2].error.as_ref().unwrap().code,
        ErrorCode::Server
    );
    assert_eq!(remote.totals, local.totals);
}

#[tokio::test]
async fn cancelling_the_comparison_kills_the_workers() {
    let runner = Arc::new(ProcessRunner::default());
    let mut comparison = sim_engine()
        .with_runner(runner.clone())
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
    let t0 = std::time::Instant::now();
    while runner.pids.lock().len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "workers did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    let last = reader.await.unwrap().unwrap();
    match last.kind {
        llm_compare_core::EventKind::Complete(c) => assert_eq!(c.status, RequestStatus::Cancelled),
        other => panic!("{other:?}"),
    }
    // kill_on_drop: both children are gone shortly after the streams were dropped.
    let t0 = std::time::Instant::now();
    let pids = runner.pids.lock().clone();
    for pid in pids {
        while std::path::Path::new(&format!("/proc/{pid}/status")).exists()
            && std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|s| !s.contains("State:\tZ"))
        {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "worker {pid} still running"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
