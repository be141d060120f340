//! `GET /v1/usage`: the caller's tokens and cost from the usage ledger, per model or per day,
//! with their budget for the current period.

use axum::Json;
use axum::extract::State;
use llm_compare_core::Usd;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, QueryParams};
use crate::server::AppState;
use llm_compare_store::budget::{Period, unix_ms};

/// A time given as RFC 3339 (`2026-11-01T00:00:00Z`), a UTC date (`2026-11-01`) or Unix
/// milliseconds; the error names `field`.
pub fn parse_time(field: &str, v: &str) -> Result<i64, ApiError> {
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
    Err(ApiError::invalid(
        field,
        format!(
            "`{v}` is not a time: give RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or Unix milliseconds"
        ),
    ))
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One row per model.
    #[default]
    Model,
    /// One row per UTC day.
    Day,
}

/// `GET /v1/usage` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// From (inclusive; default: the start of the current budget period, or 30 days ago).
    pub from: Option<String>,
    /// To (exclusive; default: now).
    pub to: Option<String>,
    /// `model` (default) or `day`.
    pub group_by: Option<GroupBy>,
}

/// One row.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct UsageLine {
    /// The model (`group_by=model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The UTC day, `YYYY-MM-DD` (`group_by=day`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// Model calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost of the priced calls.
    #[schema(value_type = f64)]
    pub cost_usd: Usd,
    /// Calls without a known price (not in `cost_usd`).
    pub unpriced_calls: u64,
}

/// The caller's budget in the current period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    /// `day`, `week` or `month` (UTC).
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

/// `GET /v1/usage` answer.
#[derive(Debug, Serialize, ToSchema)]
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
    /// The caller's budget, when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetView>,
}

fn day_name(day: i64) -> String {
    let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(day);
    let f = time::macros::format_description!("[year]-[month]-[day]");
    t.date().format(&f).unwrap_or_else(|_| day.to_string())
}

fn add(line: &mut UsageLine, r: &llm_compare_store::UsageRow) {
    line.calls += r.calls;
    line.input_tokens += r.input_tokens;
    line.output_tokens += r.output_tokens;
    line.cost_usd = line
        .cost_usd
        .saturating_add(Usd(u64::try_from(r.cost_pico).unwrap_or(0)));
    line.unpriced_calls += r.unpriced_calls;
}

fn usd(pico: i64) -> f64 {
    pico as f64 / 1e12
}

/// The caller's usage: calls, tokens and cost per model or per day, and their budget.
#[utoipa::path(
    get, path = "/v1/usage", tag = "usage",
    params(UsageQuery),
    responses(
        (status = 200, description = "Usage", body = UsageReport),
        (status = 400, description = "Bad from, to or group_by", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "A server without a store", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(user): Caller,
    QueryParams(q): QueryParams<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let store = state.service().store_for("usage needs")?;
    let now = OffsetDateTime::now_utc();
    let budget = state.options().budget.as_ref();
    let period = budget.map(|b| b.period);
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
        return Err(ApiError::invalid("to", "to must be after from"));
    }
    let group_by = q.group_by.unwrap_or_default();
    let mut rows: Vec<UsageLine> = Vec::new();
    let mut total = UsageLine::default();
    for r in store.usage(&user, from_ms, to_ms).await? {
        add(&mut total, &r);
        let (model, day) = match group_by {
            GroupBy::Model => (Some(r.model.clone()), None),
            GroupBy::Day => (None, Some(day_name(r.day))),
        };
        match rows.iter_mut().find(|l| l.model == model && l.day == day) {
            Some(line) => add(line, &r),
            None => {
                let mut line = UsageLine {
                    model,
                    day,
                    ..UsageLine::default()
                };
                add(&mut line, &r);
                rows.push(line);
            }
        }
    }
    let budget = match budget.and_then(|b| b.limit_pico(&user).map(|l| (b, l))) {
        Some((b, limit)) => {
            let start = unix_ms(b.period.start(now));
            let st = store.budget(&user, start).await?;
            Some(BudgetView {
                period: b.period,
                period_start_ms: start,
                limit_usd: usd(limit),
                spent_usd: usd(st.spent_pico),
                reserved_usd: usd(st.committed_pico - st.spent_pico),
                remaining_usd: usd((limit - st.committed_pico).max(0)),
            })
        }
        None => None,
    };
    Ok(Json(UsageReport {
        from_ms,
        to_ms,
        group_by,
        rows,
        total,
        budget,
    }))
}
