//! The allocator's own account of the heap, for `/metrics`: the `llm-compare` binary
//! allocates with jemalloc (the `jemalloc` feature, on by default) and says so at start-up;
//! an embedder's process (or a test binary) keeps its own allocator and reports nothing.
//!
//! Why jemalloc: under the soak's mix (short-lived request buffers interleaved with
//! comparisons retained for minutes) glibc's per-thread arenas kept growing for several
//! retention windows after the retained set had stopped growing (docs/benchmarks.md, Soak).

use std::sync::atomic::{AtomicBool, Ordering};

static JEMALLOC_IS_GLOBAL: AtomicBool = AtomicBool::new(false);

/// Called by a binary whose `#[global_allocator]` is jemalloc.
pub fn jemalloc_is_global() {
    JEMALLOC_IS_GLOBAL.store(true, Ordering::Relaxed);
}

/// The bytes the application holds and the bytes the allocator keeps resident, when
/// jemalloc is this process's allocator.
pub fn bytes() -> Option<(u64, u64)> {
    if !JEMALLOC_IS_GLOBAL.load(Ordering::Relaxed) {
        return None;
    }
    read()
}

#[cfg(feature = "jemalloc")]
fn read() -> Option<(u64, u64)> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot taken at the last epoch.
    epoch::advance().ok()?;
    let allocated = stats::allocated::read().ok()?;
    let resident = stats::resident::read().ok()?;
    Some((allocated as u64, resident as u64))
}

#[cfg(not(feature = "jemalloc"))]
fn read() -> Option<(u64, u64)> {
    None
}
