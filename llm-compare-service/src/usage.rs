//! The usage report (`GET /v1/usage`, `engine.usage()`): an owner's calls, tokens and cost
//! from the usage ledger — chat completions and comparisons alike — per model or per UTC day,
//! with their budget for the current period.

use llm_compare_core::{CostSource, Error, Result, Usd};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::budget::{Period, unix_ms};

/// A time given as RFC 3339 (`2026-11-01T00:00:00Z`), a UTC date (`2026-11-01`) or Unix
/// milliseconds; the error names `field`.
pub fn parse_time(field: &str, v: &str) -> Result<i64> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(unix_ms(t));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(v, &date_format) {
        return Ok(unix_ms(d.midnight().assume_utc()));
    }
    Err(Error::invalid(
        field,
        format!(
            "`{v}` is not a time: give RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or Unix milliseconds"
        ),
    ))
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One row per model.
    #[default]
    Model,
    /// One row per UTC day.
    Day,
}

/// What to report (`GET /v1/usage`'s query; the bindings' `usage()` arguments).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// From (inclusive; default: the start of the current budget period, or 30 days ago).
    pub from: Option<String>,
    /// To (exclusive; default: now).
    pub to: Option<String>,
    /// `model` (default) or `day`.
    pub group_by: Option<GroupBy>,
    /// Whose usage: another user's needs an admin key (default: the caller's).
    pub user: Option<String>,
}

/// One row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UsageLine {
    /// The model (`group_by=model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub model: Option<String>,
    /// The UTC day, `YYYY-MM-DD` (`group_by=day`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub day: Option<String>,
    /// Model calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost of the priced calls.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub cost_usd: Usd,
    /// Calls without a known price (not in `cost_usd`).
    pub unpriced_calls: u64,
    /// `cost_usd` split by where each figure came from.
    pub cost_by_source: CostBySource,
}

/// Costs split by their source ([`CostSource`]): what providers reported, what the price
/// table or an override priced, what rests on estimated usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CostBySource {
    /// Reported by the provider with the call.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub provider: Usd,
    /// The bundled price table on reported usage.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub price_table: Usd,
    /// A configured price on reported usage.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub config: Usd,
    /// Prices on usage the tokenizer counted.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub estimated: Usd,
    /// Entered before sources were kept.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub unrecorded: Usd,
}

impl CostBySource {
    fn add(&mut self, source: Option<CostSource>, amount: Usd) {
        let slot = match source {
            Some(CostSource::Provider) => &mut self.provider,
            Some(CostSource::PriceTable) => &mut self.price_table,
            Some(CostSource::Config) => &mut self.config,
            Some(CostSource::Estimated) => &mut self.estimated,
            None => &mut self.unrecorded,
        };
        *slot = slot.saturating_add(amount);
    }
}

/// The owner's budget in the current period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BudgetView {
    /// `day`, `week` or `month` (UTC).
    #[cfg_attr(feature = "ts", ts(type = "\"day\" | \"week\" | \"month\""))]
    pub period: Period,
    /// Start of the current period (Unix ms).
    pub period_start_ms: i64,
    /// The limit.
    pub limit_usd: f64,
    /// Spent in the period.
    pub spent_usd: f64,
    /// Held by running comparisons (their worst case).
    pub reserved_usd: f64,
    /// What a new comparison may still reserve.
    pub remaining_usd: f64,
}

/// A usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UsageReport {
    /// From (Unix ms, inclusive).
    pub from_ms: i64,
    /// To (Unix ms, exclusive).
    pub to_ms: i64,
    /// The grouping.
    pub group_by: GroupBy,
    /// Rows, by model or by day.
    pub rows: Vec<UsageLine>,
    /// Sums over all rows.
    pub total: UsageLine,
    /// The owner's budget, when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub budget: Option<BudgetView>,
}

fn day_name(day: i64) -> String {
    let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(day);
    let f = time::macros::format_description!("[year]-[month]-[day]");
    t.date().format(&f).unwrap_or_else(|_| day.to_string())
}

fn add(line: &mut UsageLine, r: &crate::UsageRow) {
    let cost = Usd(u64::try_from(r.cost_pico).unwrap_or(0));
    line.calls += r.calls;
    line.input_tokens += r.input_tokens;
    line.output_tokens += r.output_tokens;
    line.cost_usd = line.cost_usd.saturating_add(cost);
    line.cost_by_source.add(r.cost_source, cost);
    line.unpriced_calls += r.unpriced_calls;
}

fn usd(pico: i64) -> f64 {
    pico as f64 / 1e12
}

/// The report's time range: `[from, to)` in Unix ms, defaults filled in (`period` is the
/// budget's, when budgets apply).
pub(crate) fn range(q: &UsageQuery, period: Option<Period>) -> Result<(i64, i64)> {
    let now = OffsetDateTime::now_utc();
    let from_ms = match q.from.as_deref() {
        Some(v) => parse_time("from", v)?,
        None => unix_ms(match period {
            Some(p) => p.start(now),
            None => now - time::Duration::days(30),
        }),
    };
    let to_ms = match q.to.as_deref() {
        Some(v) => parse_time("to", v)?,
        None => unix_ms(now) + 1,
    };
    if to_ms <= from_ms {
        return Err(Error::invalid("to", "to must be after from"));
    }
    Ok((from_ms, to_ms))
}

/// Groups the ledger's rows (per model and day) by `group_by`, with their total.
pub(crate) fn group(ledger: &[crate::UsageRow], group_by: GroupBy) -> (Vec<UsageLine>, UsageLine) {
    let mut rows: Vec<UsageLine> = Vec::new();
    let mut total = UsageLine::default();
    for r in ledger {
        add(&mut total, r);
        let (model, day) = match group_by {
            GroupBy::Model => (Some(r.model.clone()), None),
            GroupBy::Day => (None, Some(day_name(r.day))),
        };
        match rows.iter_mut().find(|l| l.model == model && l.day == day) {
            Some(line) => add(line, r),
            None => {
                let mut line = UsageLine {
                    model,
                    day,
                    ..UsageLine::default()
                };
                add(&mut line, r);
                rows.push(line);
            }
        }
    }
    (rows, total)
}

/// The budget view of a period that started at `start_ms` with `limit` pico-USD.
pub(crate) fn budget_view(
    period: Period,
    start_ms: i64,
    limit: i64,
    st: crate::BudgetState,
) -> BudgetView {
    BudgetView {
        period,
        period_start_ms: start_ms,
        limit_usd: usd(limit),
        spent_usd: usd(st.spent_pico),
        reserved_usd: usd(st.committed_pico - st.spent_pico),
        remaining_usd: usd((limit - st.committed_pico).max(0)),
    }
}
