//! Token counting and prices (`tokens`, `cost` in the core): the bundled table here; an
//! `Engine` answers with its configured overrides.

use llm_compare_core::{PriceTable, Usage};
use pyo3::prelude::*;

use crate::error::invalid;

/// Tokens in `text` for `model` (tiktoken; the model's encoding, else o200k_base).
#[pyfunction]
pub fn count_tokens(py: Python<'_>, text: &str, model: &str) -> u64 {
    py.detach(|| llm_compare_core::pricing::count_tokens(text, model))
}

/// The bundled price of `model` as JSON (None when unpriced).
#[pyfunction]
pub fn price(model: &str) -> Option<String> {
    price_of(&PriceTable::bundled(), model)
}

/// The cost of `usage_json` for `model` with the bundled prices, as JSON.
#[pyfunction]
pub fn cost(model: &str, usage_json: &str) -> PyResult<String> {
    cost_of(&PriceTable::bundled(), model, usage_json)
}

pub(crate) fn price_of(table: &PriceTable, model: &str) -> Option<String> {
    table
        .summary(model)
        .and_then(|p| serde_json::to_string(&p).ok())
}

pub(crate) fn cost_of(table: &PriceTable, model: &str, usage_json: &str) -> PyResult<String> {
    let usage: Usage =
        serde_json::from_str(usage_json).map_err(|e| invalid("usage", e.to_string()))?;
    serde_json::to_string(&table.cost(model, &usage)).map_err(|e| invalid("usage", e.to_string()))
}
