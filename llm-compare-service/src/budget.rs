//! Per-user spending budgets: `[server.budget]` settings, budget periods (UTC day, week or
//! month), and each comparison's worst-case cost — what the store reserves before any
//! upstream call (see `llm_compare_store` for how reservations are held and settled).

use std::collections::BTreeMap;

use crate::Reservation;
use llm_compare_core::{ChatRequest, Engine, Error, Result, pricing};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, Time};

/// The length of a budget period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A UTC day.
    Day,
    /// A week starting on Monday, UTC.
    Week,
    /// A calendar month, UTC.
    #[default]
    Month,
}

/// `[server.budget]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// The period budgets apply to (default `month`).
    #[serde(default)]
    pub period: Period,
    /// USD per period for every user without an entry in `users` (default: unlimited).
    pub default_usd: Option<f64>,
    /// USD per period per user: `alice = 5.0`.
    #[serde(default)]
    pub users: BTreeMap<String, f64>,
    /// Output tokens assumed for the worst case when a request sets no `max_tokens` and the
    /// model's own limit is unknown (default 4096).
    pub default_max_tokens: Option<u32>,
}

/// Unix milliseconds of `t`.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Period {
    /// Start of the period containing `now`.
    pub fn start(self, now: OffsetDateTime) -> OffsetDateTime {
        let day = now
            .to_offset(time::UtcOffset::UTC)
            .replace_time(Time::MIDNIGHT);
        match self {
            Period::Day => day,
            Period::Week => {
                day - Duration::days(i64::from(day.weekday().number_days_from_monday()))
            }
            Period::Month => day.replace_day(1).unwrap_or(day),
        }
    }
}

/// Margin on the tokenizer's input estimate: providers frame messages and tools their own way.
const INPUT_MARGIN: f64 = 1.1;
/// Tokens added to every input estimate (reply priming, tool framing).
const INPUT_SLACK: u64 = 16;

impl BudgetSettings {
    /// `user`'s limit per period in pico-USD, if any.
    pub fn limit_pico(&self, user: &str) -> Option<i64> {
        self.users
            .get(user)
            .copied()
            .or(self.default_usd)
            .map(|usd| (usd.max(0.0) * 1e12).round() as i64)
    }

    /// The worst-case cost of each call in pico-USD: input estimated by the tokenizer (with a
    /// margin) at the input price, plus `max_tokens` at the output (or reasoning, if higher)
    /// price — over the model and its fallbacks, whichever costs most. A model without a known
    /// price cannot be bounded: [`Error::BudgetExceeded`].
    pub fn worst_case(&self, engine: &Engine, calls: &[ChatRequest]) -> Result<Vec<i64>> {
        calls
            .iter()
            .map(|call| {
                let policy = engine.policies().policy(call.model.as_str());
                let max_tokens = call.params.over(&policy.params).max_tokens;
                let tools = if call.tools.is_empty() {
                    0
                } else {
                    serde_json::to_string(&call.tools).map_or(0, |t| {
                        pricing::count_tokens(&t, call.model.as_str())
                    })
                };
                let input = pricing::count_message_tokens(&call.messages, call.model.as_str())
                    + tools;
                let input = (input as f64 * INPUT_MARGIN) as u64 + INPUT_SLACK;
                std::iter::once(call.model.as_str())
                    .chain(policy.fallbacks.iter().map(String::as_str))
                    .map(|model| {
                        let price = engine.prices().get(model).ok_or_else(|| {
                            Error::BudgetExceeded(format!(
                                "`{model}` has no known price, so its cost cannot be bounded under your budget; \
                                 give it one in [prices.\"{model}\"] or pick a priced model"
                            ))
                        })?;
                        let output = max_tokens
                            .map(u64::from)
                            .or(price.max_output_tokens)
                            .unwrap_or(u64::from(self.default_max_tokens.unwrap_or(4096)));
                        // The tier this prompt falls in, at its dearest input and output.
                        let rates = price.rates(input);
                        let in_rate = rates.input.max(rates.cache_write);
                        let out_rate = rates.output.max(rates.reasoning);
                        let pico = u128::from(input) * u128::from(in_rate)
                            + u128::from(output) * u128::from(out_rate);
                        Ok(i64::try_from(pico).unwrap_or(i64::MAX))
                    })
                    .try_fold(0_i64, |worst, cost: Result<i64>| Ok(worst.max(cost?)))
            })
            .collect()
    }

    /// The reservation for `user`'s `calls` now, or `None` when `user` has no budget.
    pub fn reservation(
        &self,
        user: &str,
        engine: &Engine,
        calls: &[ChatRequest],
    ) -> Result<Option<Reservation>> {
        let Some(limit_pico) = self.limit_pico(user) else {
            return Ok(None);
        };
        Ok(Some(Reservation {
            limit_pico,
            period_start_ms: unix_ms(self.period.start(OffsetDateTime::now_utc())),
            per_model_pico: self.worst_case(engine, calls)?,
            account: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_start_at_utc_boundaries() {
        let t = datetime!(2026-11-25 15:30:00 UTC); // a Wednesday
        assert_eq!(Period::Day.start(t), datetime!(2026-11-25 0:00 UTC));
        assert_eq!(Period::Week.start(t), datetime!(2026-11-23 0:00 UTC));
        assert_eq!(Period::Month.start(t), datetime!(2026-11-01 0:00 UTC));
    }
}
