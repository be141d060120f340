//! `llm-compare worker` behind the runner seam: a runner that starts the real worker binary
//! per model call and reads its JSON lines back (what the Kubernetes runner does with a pod's
//! log) gives the same comparison as the in-process runner, and dropping the call — a
//! cancelled comparison — kills the worker.

use crate::remote;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use llm_compare_core::read_lines;
use llm_compare_core::{CallEvent, CompareRequest, ErrorCode, PlannedCall, Runner};
use remote::{WORKER_SIM_ENV, cancel_two_slow_calls, same_as_in_process, sim_engine};
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
                .envs(WORKER_SIM_ENV)
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

#[tokio::test]
async fn a_worker_per_call_gives_the_in_process_results() {
    let runner = Arc::new(ProcessRunner::default());
    let request = CompareRequest::prompt(
        ["sim/echo", "sim/lorem", "sim/flaky"],
        "the same comparison whichever runner ran it",
    );
    let remote = same_as_in_process(sim_engine().with_runner(runner.clone()), &request).await;
    assert_eq!(runner.started.load(Ordering::SeqCst), 3);
    assert_eq!(
        remote.results[2].error.as_ref().unwrap().code,
        ErrorCode::Server
    );
}

#[tokio::test]
async fn cancelling_the_comparison_kills_the_workers() {
    let runner = Arc::new(ProcessRunner::default());
    let pids = runner.pids.clone();
    cancel_two_slow_calls(sim_engine().with_runner(runner.clone()), || async move {
        let t0 = std::time::Instant::now();
        while pids.lock().len() < 2 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "workers did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
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
