//! # llm-compare-python
//!
//! The Python binding (`llm_compare._native`, wrapped by the `llm_compare` package). Its
//! modules mirror the core's one to one and hold no logic: they convert between Python and
//! the core, run the core's futures on one shared tokio runtime (`pyo3-async-runtimes`), and
//! release the GIL while Rust works. Events cross as the JSON text of the shared event
//! schema, exactly what SSE carries; the Python package turns them into `Event` objects.

use pyo3::prelude::*;

mod comparison;
mod config;
mod content;
mod cost;
mod error;
mod eval;
mod keys;
mod registry;
mod runtime;
mod service;
mod tools;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    runtime::init();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(runtime::_quiesce, m)?)?;
    error::register(m)?;
    m.add_class::<config::Engine>()?;
    m.add_class::<comparison::Comparison>()?;
    m.add_class::<comparison::SyncComparison>()?;
    m.add_class::<registry::EventStream>()?;
    m.add_class::<eval::EvalStream>()?;
    m.add_function(wrap_pyfunction!(error::error_for, m)?)?;
    m.add_function(wrap_pyfunction!(cost::count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(cost::price, m)?)?;
    m.add_function(wrap_pyfunction!(cost::cost, m)?)?;
    m.add_function(wrap_pyfunction!(content::attachment_from_path, m)?)?;
    m.add_function(wrap_pyfunction!(content::attachment_from_bytes, m)?)?;
    Ok(())
}
