//! Token counting and prices (`tokens`, `cost` in the core): the bundled table here; an
//! engine answers with its configured overrides.

use llm_compare_core::{PriceTable, Usage};
use napi_derive::napi;

use crate::error::invalid;

/// Tokens in `text` for `model` (tiktoken; the model's encoding, else o200k_base).
#[napi]
pub fn count_tokens(text: String, model: String) -> u32 {
    u32::try_from(llm_compare_core::pricing::count_tokens(&text, &model)).unwrap_or(u32::MAX)
}

/// The bundled price of `model` as JSON (null when unpriced).
#[napi]
pub fn price(model: String) -> Option<String> {
    price_of(&PriceTable::bundled(), &model)
}

/// The cost of `usage_json` for `model` with the bundled prices, as JSON.
#[napi]
pub fn cost(model: String, usage_json: String) -> napi::Result<String> {
    cost_of(&PriceTable::bundled(), &model, &usage_json)
}

pub(crate) fn price_of(table: &PriceTable, model: &str) -> Option<String> {
    table
        .summary(model)
        .and_then(|p| serde_json::to_string(&p).ok())
}

pub(crate) fn cost_of(table: &PriceTable, model: &str, usage_json: &str) -> napi::Result<String> {
    let usage: Usage =
        serde_json::from_str(usage_json).map_err(|e| invalid("usage", e.to_string()))?;
    serde_json::to_string(&table.cost(model, &usage)).map_err(|e| invalid("usage", e.to_string()))
}
