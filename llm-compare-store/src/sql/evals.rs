//! [`EvalStore`] in SQL: evaluation runs and their rows.

use async_trait::async_trait;
use llm_compare_core::{Error, Result, now_ms};

use super::SqlStore;
use super::decode::{db_err, eval_run_of, get, parse_json};
use crate::{EvalRunRecord, EvalStore};

#[async_trait]
impl EvalStore for SqlStore {
    async fn create_eval_run(&self, run: &EvalRunRecord) -> Result<()> {
        sqlx::query("INSERT INTO eval_runs (id, owner, dataset, dataset_sha256, options, units, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&run.id)
            .bind(&run.owner)
            .bind(&run.dataset)
            .bind(&run.dataset_sha256)
            .bind(run.options.to_string())
            .bind(i64::try_from(run.units).unwrap_or(i64::MAX))
            .bind(run.created_at_ms)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn eval_run(&self, owner: &str, id: &str) -> Result<Option<EvalRunRecord>> {
        let Some(row) = sqlx::query("SELECT id, owner, dataset, dataset_sha256, options, units, summary, created_at_ms, finished_at_ms FROM eval_runs WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT report FROM eval_rows WHERE run_id = $1 ORDER BY created_at_ms, row_id, repeat",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut reports = Vec::with_capacity(rows.len());
        for r in rows {
            let text: String = get(&r, "report")?;
            reports.push(parse_json("eval_rows", id, "report", &text)?);
        }
        let mut run = eval_run_of(&row, reports.len() as u64)?;
        run.rows = reports;
        Ok(Some(run))
    }

    async fn eval_runs(&self, owner: &str, limit: u32) -> Result<Vec<EvalRunRecord>> {
        let rows = sqlx::query("SELECT id, owner, dataset, dataset_sha256, options, units, summary, created_at_ms, finished_at_ms, (SELECT COUNT(*) FROM eval_rows r WHERE r.run_id = eval_runs.id) AS rows_done FROM eval_runs WHERE owner = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2")
            .bind(owner)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let done: i64 = get(row, "rows_done")?;
                eval_run_of(row, u64::try_from(done).unwrap_or(0))
            })
            .collect()
    }

    async fn save_eval_row(
        &self,
        run_id: &str,
        row_id: &str,
        repeat: u32,
        comparison_id: &str,
        report: &serde_json::Value,
    ) -> Result<()> {
        let inserted = sqlx::query("INSERT INTO eval_rows (run_id, row_id, repeat, comparison_id, report, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(run_id)
            .bind(row_id)
            .bind(i64::from(repeat))
            .bind(comparison_id)
            .bind(report.to_string())
            .bind(now_ms())
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::Conflict(
                format!("row `{row_id}` (repeat {repeat}) of run `{run_id}` is recorded already"),
            )),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn finish_eval_run(&self, run_id: &str, summary: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE eval_runs SET summary = $1, finished_at_ms = $2 WHERE id = $3")
            .bind(summary.to_string())
            .bind(now_ms())
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
