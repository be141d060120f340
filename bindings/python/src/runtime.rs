//! The one tokio runtime every call runs on, and a clean exit.
//!
//! pyo3-async-runtimes completes an awaited future from a runtime thread: it takes the GIL
//! there to hand the result to asyncio. If the interpreter starts finalizing in the middle
//! of that hand-off (a script's last `await` returned, the main thread ran on and exited),
//! CPython aborts ("PyGILState_Release: thread state must be current"). So the runtime counts
//! its idle workers, and an `atexit` hook (registered by the package) waits, with the GIL
//! released, until every worker is parked: no runtime thread is inside Python any more.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

static PARKED: AtomicUsize = AtomicUsize::new(0);

/// Tool calls running Python functions on blocking threads (which are not runtime workers:
/// the exit wait counts them apart).
static TOOL_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Held while a tool call may run Python on a blocking thread.
pub(crate) struct ToolCall;

impl ToolCall {
    pub(crate) fn enter() -> Self {
        TOOL_CALLS.fetch_add(1, Ordering::SeqCst);
        ToolCall
    }
}

impl Drop for ToolCall {
    fn drop(&mut self) {
        TOOL_CALLS.fetch_sub(1, Ordering::SeqCst);
    }
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// Configures the shared runtime (before its first use).
pub(crate) fn init() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .worker_threads(workers())
        .thread_name("llm-compare")
        .on_thread_park(|| {
            PARKED.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_unpark(|| {
            PARKED.fetch_sub(1, Ordering::SeqCst);
        });
    pyo3_async_runtimes::tokio::init(builder);
}

/// Waits (GIL released, at most `timeout_s`) until every runtime worker is idle; true if
/// they were. Called at interpreter exit.
#[pyfunction]
#[pyo3(signature = (timeout_s = 1.0))]
pub fn _quiesce(py: Python<'_>, timeout_s: f64) -> bool {
    let n = workers();
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout_s.max(0.0));
        let mut idle_checks = 0;
        while Instant::now() < deadline {
            if PARKED.load(Ordering::SeqCst) >= n && TOOL_CALLS.load(Ordering::SeqCst) == 0 {
                idle_checks += 1;
                // Idle twice in a row, 1 ms apart: nothing is mid-hand-off.
                if idle_checks >= 2 {
                    return true;
                }
            } else {
                idle_checks = 0;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    })
}
