//! [`UsageStore`] in SQL: the usage ledger and budget periods.

use async_trait::async_trait;
use llm_compare_core::{CostSource, Result};
use sqlx::any::AnyRow;

use super::SqlStore;
use super::decode::{corrupt, db_err, get};
use crate::{BudgetState, UsageRow, UsageStore};

#[async_trait]
impl UsageStore for SqlStore {
    async fn usage(&self, owner: &str, from_ms: i64, to_ms: i64) -> Result<Vec<UsageRow>> {
        let rows = sqlx::query(
            "SELECT model, at_ms / 86400000 AS day, cost_source, COUNT(*) AS calls, \
             CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
             CAST(SUM(cost_pico) AS BIGINT) AS cost_pico, CAST(SUM(1 - priced) AS BIGINT) AS unpriced \
             FROM usage_ledger WHERE owner = $1 AND at_ms >= $2 AND at_ms < $3 \
             GROUP BY model, at_ms / 86400000, cost_source ORDER BY day, model, cost_source",
        )
        .bind(owner)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let n = |row: &AnyRow, col: &str| -> Result<u64> {
            Ok(u64::try_from(get::<i64>(row, col)?).unwrap_or(0))
        };
        rows.iter()
            .map(|row| {
                let model: String = get(row, "model")?;
                let source: Option<String> = get(row, "cost_source")?;
                let cost_source = match source {
                    None => None,
                    Some(name) => Some(CostSource::from_name(&name).ok_or_else(|| {
                        corrupt(
                            "usage_ledger",
                            &model,
                            format!("unknown cost_source `{name}`"),
                        )
                    })?),
                };
                Ok(UsageRow {
                    cost_source,
                    model,
                    day: get(row, "day")?,
                    calls: n(row, "calls")?,
                    input_tokens: n(row, "input_tokens")?,
                    output_tokens: n(row, "output_tokens")?,
                    cost_pico: get(row, "cost_pico")?,
                    unpriced_calls: n(row, "unpriced")?,
                })
            })
            .collect()
    }

    async fn budget(&self, owner: &str, period_start_ms: i64) -> Result<BudgetState> {
        let row = sqlx::query("SELECT committed_pico, spent_pico FROM budget_periods WHERE owner = $1 AND period_start_ms = $2")
            .bind(owner)
            .bind(period_start_ms)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(match row {
            Some(r) => BudgetState {
                committed_pico: get(&r, "committed_pico")?,
                spent_pico: get(&r, "spent_pico")?,
            },
            None => BudgetState::default(),
        })
    }
}
