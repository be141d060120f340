//! The writes several roles share: a comparison's record, its attachments, results, ledger
//! rows, its ending, and the budget reservation and its settlement.

use llm_compare_core::{Complete, Error, ModelResult, Result, now_ms};
use sqlx::{Any, Row, Transaction};

use super::SqlStore;
use super::batch::{Whole, execute_rows, typed_values};
use super::decode::{db_err, get, json, pico};
use crate::{AttachmentRef, NewComparison};

/// Base64 characters per stored piece of an attachment (1 MiB).
pub(super) const ATTACHMENT_CHUNK: usize = 1024 * 1024;

/// The usage ledger's columns, in the order both of its INSERTs bind them.
pub(super) const LEDGER_COLUMNS: &str = "comparison_id, model_index, owner, model, at_ms, input_tokens, output_tokens, cost_pico, priced, cost_source";

impl SqlStore {
    /// Records comparison `c` (with its budget hold) inside `tx`: the hold first, then the
    /// rows as any create's.
    pub(super) async fn create_in(
        tx: &mut Transaction<'static, Any>,
        c: &NewComparison,
    ) -> Result<()> {
        Self::reserve(tx, c).await?;
        Self::insert_whole(
            tx,
            &[Whole {
                create: c,
                results: Vec::new(),
                finish: None,
            }],
        )
        .await
    }

    /// Stores the bytes of `parts` once each (by SHA-256: bytes already stored are not
    /// written again) inside `tx`, counted once against `owner`; their references as the
    /// `attachments` column (None: no attachments).
    pub(super) async fn put_attachments(
        tx: &mut Transaction<'static, Any>,
        owner: &str,
        parts: &[llm_compare_core::Part],
    ) -> Result<Option<String>> {
        let mut refs = Vec::new();
        for part in parts {
            let Some((r, data)) = AttachmentRef::of(part)? else {
                continue;
            };
            if let (Some(data), Some(sha), Some(media_type)) = (data, &r.sha256, &r.media_type) {
                let added = sqlx::query(
                    "INSERT INTO attachments (sha256, media_type, size, created_at_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(sha)
                .bind(media_type)
                .bind(i64::try_from(r.size.unwrap_or(0)).unwrap_or(i64::MAX))
                .bind(now_ms())
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO attachment_owners (owner, sha256, size) VALUES ($1, $2, $3) \
                     ON CONFLICT (owner, sha256) DO NOTHING",
                )
                .bind(owner)
                .bind(sha)
                .bind(i64::try_from(r.size.unwrap_or(0)).unwrap_or(i64::MAX))
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
                // Stored already (another turn, another comparison): not written again.
                if added.rows_affected() > 0 {
                    let data = data.trim_end();
                    // base64 is ASCII: any byte offset is a character boundary.
                    for (seq, at) in (0..data.len()).step_by(ATTACHMENT_CHUNK).enumerate() {
                        sqlx::query(
                            "INSERT INTO attachment_chunks (sha256, seq, data) VALUES ($1, $2, $3)",
                        )
                        .bind(sha)
                        .bind(seq as i64)
                        .bind(&data[at..(at + ATTACHMENT_CHUNK).min(data.len())])
                        .execute(&mut **tx)
                        .await
                        .map_err(db_err)?;
                    }
                }
            }
            refs.push(r);
        }
        Ok((!refs.is_empty()).then(|| json(&refs)))
    }

    /// Saves models' results, their usage-ledger entries and (`held`: when any budget hold
    /// exists) their settled costs inside `tx`: two statements for the lot.
    pub(super) async fn save_results_in(
        tx: &mut Transaction<'static, Any>,
        results: &[(&str, &ModelResult)],
        held: bool,
    ) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        // `UPDATE … FROM (VALUES …)`: SQLite (3.33+) and PostgreSQL both name the columns
        // column1…; every parameter is cast so PostgreSQL knows its type.
        execute_rows(tx, results, |n, anonymous| {
            let mut sql = String::from(
                "UPDATE model_results SET text = v.column3, result = v.column4, updated_at_ms = v.column5, \
                 ttft_ms = v.column6, cost_pico = v.column7 FROM (VALUES ",
            );
            typed_values(
                &mut sql,
                n,
                &["TEXT", "BIGINT", "TEXT", "TEXT", "BIGINT", "DOUBLE PRECISION", "BIGINT"],
                anonymous,
            );
            sql.push_str(
                ") AS v WHERE model_results.comparison_id = v.column1 AND model_results.model_index = v.column2",
            );
            sql
        }, |q, &(id, r)| {
            q.bind(id)
                .bind(r.model_index as i64)
                .bind(&r.text)
                .bind(json(r))
                .bind(at)
                .bind(r.timing.ttft_ms)
                .bind(pico(r.cost.total_usd))
        })
        .await?;
        Self::insert_ledger(tx, results, at).await?;
        if held {
            for (id, r) in results {
                Self::settle(
                    tx,
                    id,
                    Some(r.model_index),
                    pico(r.cost.total_usd).unwrap_or(0),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Enters model calls in the usage ledger inside `tx` (one statement; the owner comes
    /// from each comparison's row, which must exist by now).
    pub(super) async fn insert_ledger(
        tx: &mut Transaction<'static, Any>,
        results: &[(&str, &ModelResult)],
        at: i64,
    ) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        // `WHERE 1 = 1` keeps SQLite from reading `ON CONFLICT` as a join constraint.
        execute_rows(tx, results, |n, anonymous| {
            let mut sql = format!(
                "INSERT INTO usage_ledger ({LEDGER_COLUMNS}) SELECT c.id, v.column2, c.owner, v.column3, v.column4, \
                 v.column5, v.column6, v.column7, v.column8, v.column9 FROM (VALUES "
            );
            typed_values(
                &mut sql,
                n,
                &["TEXT", "BIGINT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "TEXT"],
                anonymous,
            );
            sql.push_str(
                ") AS v JOIN comparisons c ON c.id = v.column1 WHERE 1 = 1 \
                 ON CONFLICT (comparison_id, model_index) DO NOTHING",
            );
            sql
        }, |q, &(id, r)| {
            q.bind(id)
                .bind(r.model_index as i64)
                .bind(r.served_by.as_deref().unwrap_or(&r.model))
                .bind(at)
                .bind(i64::try_from(r.usage.input_tokens).unwrap_or(i64::MAX))
                .bind(i64::try_from(r.usage.output_tokens).unwrap_or(i64::MAX))
                .bind(pico(r.cost.total_usd).unwrap_or(0))
                .bind(i64::from(r.cost.priced))
                .bind(r.cost.source.as_str())
        })
        .await
    }

    /// Saves the ends of comparisons inside `tx` (one statement), releasing what they still
    /// hold (`held`: when any budget hold exists).
    pub(super) async fn finish_in(
        tx: &mut Transaction<'static, Any>,
        ends: &[(&str, &Complete)],
        held: bool,
    ) -> Result<()> {
        if ends.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        execute_rows(tx, ends, |n, anonymous| {
            let mut sql = String::from(
                "UPDATE comparisons SET status = v.column2, finished_at_ms = v.column3, totals = v.column4, \
                 duration_ms = v.column5 FROM (VALUES ",
            );
            typed_values(
                &mut sql,
                n,
                &["TEXT", "TEXT", "BIGINT", "TEXT", "DOUBLE PRECISION"],
                anonymous,
            );
            sql.push_str(") AS v WHERE comparisons.id = v.column1");
            sql
        }, |q, &(id, c)| {
            q.bind(id)
                .bind(c.status.as_str())
                .bind(at)
                .bind(json(&c.totals))
                .bind(c.duration_ms)
        })
        .await?;
        // Every model has a result by now; anything still held was never spent.
        if held {
            for (id, _) in ends {
                Self::settle(tx, id, None, 0).await?;
            }
        }
        Ok(())
    }

    /// Holds `c`'s worst-case cost against its owner's period, inside `tx`.
    pub(super) async fn reserve(
        tx: &mut Transaction<'static, Any>,
        c: &NewComparison,
    ) -> Result<()> {
        let Some(r) = &c.reservation else {
            return Ok(());
        };
        let total: i64 = r.per_model_pico.iter().sum();
        let account = r.account.as_deref().unwrap_or(&c.owner);
        sqlx::query("INSERT INTO budget_periods (owner, period_start_ms, committed_pico, spent_pico) VALUES ($1, $2, 0, 0) ON CONFLICT (owner, period_start_ms) DO NOTHING")
            .bind(account)
            .bind(r.period_start_ms)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        // One conditional UPDATE: atomic on both backends (PostgreSQL re-checks the condition
        // on the locked row; SQLite has one writer), so concurrent holds cannot overshoot.
        let held = sqlx::query("UPDATE budget_periods SET committed_pico = committed_pico + $1 WHERE owner = $2 AND period_start_ms = $3 AND committed_pico + $1 <= $4")
            .bind(total)
            .bind(account)
            .bind(r.period_start_ms)
            .bind(r.limit_pico)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        if held.rows_affected() == 0 {
            let committed: i64 = sqlx::query("SELECT committed_pico FROM budget_periods WHERE owner = $1 AND period_start_ms = $2")
                .bind(account)
                .bind(r.period_start_ms)
                .fetch_one(&mut **tx)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(db_err)?;
            let usd = |p: i64| p as f64 / 1e12;
            return Err(Error::BudgetExceeded(format!(
                "this comparison could cost up to ${:.6}, and ${:.6} of the period's ${:.6} budget is spent or held by running comparisons",
                usd(total),
                usd(committed),
                usd(r.limit_pico)
            )));
        }
        for (i, amount) in r.per_model_pico.iter().enumerate() {
            sqlx::query("INSERT INTO budget_reservations (comparison_id, model_index, owner, period_start_ms, amount_pico) VALUES ($1, $2, $3, $4, $5)")
                .bind(&c.id)
                .bind(i as i64)
                .bind(account)
                .bind(r.period_start_ms)
                .bind(*amount)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Replaces the reservation of one model call (or, without `model_index`, of all of the
    /// comparison's calls) by `actual` pico-USD.
    pub(super) async fn settle(
        tx: &mut Transaction<'static, Any>,
        id: &str,
        model_index: Option<usize>,
        actual: i64,
    ) -> Result<()> {
        let index = model_index.map_or(-1, |i| i as i64);
        let held = sqlx::query("SELECT owner, period_start_ms, amount_pico FROM budget_reservations WHERE comparison_id = $1 AND ($2 < 0 OR model_index = $2)")
            .bind(id)
            .bind(index)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
        for row in held {
            let owner: String = get(&row, "owner")?;
            let period: i64 = get(&row, "period_start_ms")?;
            let amount: i64 = get(&row, "amount_pico")?;
            sqlx::query("UPDATE budget_periods SET committed_pico = committed_pico - $1 + $2, spent_pico = spent_pico + $2 WHERE owner = $3 AND period_start_ms = $4")
                .bind(amount)
                .bind(actual)
                .bind(&owner)
                .bind(period)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query(
            "DELETE FROM budget_reservations WHERE comparison_id = $1 AND ($2 < 0 OR model_index = $2)",
        )
        .bind(id)
        .bind(index)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
