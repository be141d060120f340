//! What a call costs: the bundled price table with its overrides and model capabilities
//! ([`PriceTable`]), exact cost arithmetic, and token counting for usage a provider did not
//! report ([`count_tokens`]).

pub(crate) mod cost;
pub(crate) mod tokens;

pub use cost::{
    Capabilities, ModelPrice, PicoPerToken, PriceSummary, PriceTable, PriceTier, Rates,
    parse_usd_per_million,
};
pub use tokens::{
    count_content_tokens, count_message_tokens, count_tokens, image_size, image_tokens, is_ready,
    warm_up,
};
