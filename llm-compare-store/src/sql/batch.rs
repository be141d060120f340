//! The group-commit applier and the batch SQL builder: many writes, few statements.

use std::collections::HashMap;
use std::sync::Arc;

use llm_compare_core::{Complete, ModelResult, RequestStatus, Result, now_ms};
use sqlx::{Any, AnyPool, AssertSqlSafe, Transaction};

use super::decode::{db_err, json, pico, tags_column};
use super::wal::WalRewind;
use super::{SqlStore, begin_write};
use crate::group::{Apply, Op};
use crate::{NewComparison, Write};

/// What the writer tasks make their transactions with (not the store: they must not keep its
/// senders alive).
#[derive(Debug, Clone)]
pub(super) struct Batches {
    pub(super) pool: AnyPool,
    /// SQLite: the WAL rewinds this writer makes between batches (none on PostgreSQL).
    pub(super) rewind: Option<Arc<WalRewind>>,
}

impl Apply for Batches {
    async fn apply(&self, ops: &[&Op]) -> Result<()> {
        let mut tx = begin_write(&self.pool, self.rewind.is_some()).await?;
        let writes: Vec<&Write> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Writes(w) => Some(w.iter()),
                Op::Progress { .. } => None,
            })
            .flatten()
            .collect();
        let (whole, rest) = wholes(&writes);
        // With no budget hold anywhere (no budgets, or none running), results and ends have
        // nothing to settle: one query for the batch instead of two per write.
        let held = writes
            .iter()
            .any(|w| matches!(w, Write::Create(c) if c.reservation.is_some()))
            || sqlx::query("SELECT 1 FROM budget_reservations LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .is_some();
        // Grouped by kind, each kind in as few statements as the backend allows: creates with
        // a budget hold one by one (the hold is checked first), every other create and the
        // comparisons recorded whole (chat completions written after they ran) in three
        // multi-row INSERTs, then all results, then all ends. A comparison's own writes keep
        // their order (created, answered, finished).
        let mut whole = whole;
        let (mut results, mut ends, mut threads) = (Vec::new(), Vec::new(), Vec::new());
        for w in rest {
            match w {
                Write::Create(c) if c.reservation.is_some() => {
                    SqlStore::create_in(&mut tx, c).await?;
                }
                Write::Create(c) => whole.push(Whole {
                    create: c,
                    results: Vec::new(),
                    finish: None,
                }),
                Write::Result { id, result } => results.push((id.as_str(), &**result)),
                Write::Finish { id, complete } => ends.push((id.as_str(), &**complete)),
                Write::Thread(t) => threads.push(&**t),
            }
        }
        SqlStore::insert_whole(&mut tx, &whole).await?;
        SqlStore::save_results_in(&mut tx, &results, held).await?;
        SqlStore::finish_in(&mut tx, &ends, held).await?;
        SqlStore::save_threads_in(&mut tx, &threads).await?;
        // Partial text last: once a result is saved (in this batch or before) it is skipped.
        for op in ops {
            if let Op::Progress {
                id,
                model_index,
                text,
            } = op
            {
                sqlx::query("UPDATE model_results SET text = $1, updated_at_ms = $2 WHERE comparison_id = $3 AND model_index = $4 AND result IS NULL")
                    .bind(text)
                    .bind(now_ms())
                    .bind(id)
                    .bind(*model_index as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)
    }

    async fn between(&self) {
        if let Some(rewind) = &self.rewind {
            rewind.between_batches(&self.pool).await;
        }
    }
}

/// A comparison a batch creates (without a budget hold), answers and finishes.
#[derive(Debug)]
pub(super) struct Whole<'a> {
    pub(super) create: &'a NewComparison,
    pub(super) results: Vec<&'a ModelResult>,
    /// `None`: created only (status `running`).
    pub(super) finish: Option<&'a Complete>,
}

/// Splits a batch into the comparisons it records whole and the other writes (in their
/// order). A comparison is whole when the batch creates it without a hold and finishes it,
/// with its results in between; anything else about it stays a write of its own.
pub(super) fn wholes<'a>(writes: &[&'a Write]) -> (Vec<Whole<'a>>, Vec<&'a Write>) {
    // Linear in the batch: a group commit may hold thousands of writes.
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        by_id.entry(w.comparison_id()).or_default().push(i);
    }
    let mut taken = vec![false; writes.len()];
    let mut whole: Vec<Whole<'a>> = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        let Write::Create(c) = *w else { continue };
        let mine = &by_id[c.id.as_str()];
        if c.reservation.is_some() || mine[0] != i || mine.len() < 2 {
            continue;
        }
        let Write::Finish { complete, .. } = writes[mine[mine.len() - 1]] else {
            continue;
        };
        let results: Option<Vec<&'a ModelResult>> = mine[1..mine.len() - 1]
            .iter()
            .map(|&k| match writes[k] {
                Write::Result { result, .. } => Some(&**result),
                _ => None,
            })
            .collect();
        let Some(results) = results else { continue };
        for &k in mine {
            taken[k] = true;
        }
        whole.push(Whole {
            create: c,
            results,
            finish: Some(complete),
        });
    }
    let rest = writes
        .iter()
        .zip(taken)
        .filter_map(|(w, t)| (!t).then_some(*w))
        .collect();
    (whole, rest)
}

/// Appends `rows` placeholder tuples of `cols` parameters each: `($1, $2), ($3, $4)` — or,
/// on SQLite (`anonymous`), `(?, ?), (?, ?)`, bound in the same order. SQLite looks every
/// named parameter (`$7`) up in a list as it parses, and sqlx asks each one's name back when
/// binding: both quadratic in a statement's parameters, which was half of SQLite's thread for
/// 2,000 chat records/s (batches of ~20 rows × 17 columns); `?` costs neither.
pub(super) fn values(sql: &mut String, rows: usize, cols: usize, anonymous: bool) {
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            placeholder(sql, r * cols + c + 1, anonymous);
        }
        sql.push(')');
    }
}

/// Parameter `n` (from 1): `$n`, or `?` when `anonymous` (see [`values`]).
pub(super) fn placeholder(sql: &mut String, n: usize, anonymous: bool) {
    use std::fmt::Write as _;
    if anonymous {
        sql.push('?');
    } else {
        let _ = write!(sql, "${n}");
    }
}

/// Whether `tx`'s statements take anonymous parameters (SQLite; see [`values`]).
pub(super) fn anonymous(tx: &Transaction<'static, Any>) -> bool {
    tx.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME
}

/// A query on the `Any` driver.
pub(super) type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// Most rows in one multi-row statement on SQLite (see [`row_chunks`]).
pub(super) const SQLITE_ROWS: usize = 64;

/// How a multi-row statement over `rows` rows is cut, as ranges of the rows. On SQLite
/// (`sqlite`): into chunks whose sizes are powers of two up to [`SQLITE_ROWS`] (13 rows: 8,
/// 4 and 1), so that a handful of statement texts serve every batch and each is prepared once
/// per connection and kept — parsing them anew for every batch was 81k of the 795k
/// instructions the server spent per chat completion (docs/benchmarks.md). On PostgreSQL:
/// one statement for all the rows, since its parsing happens in the database's process, and
/// there it is not kept (see [`typed_values`]).
pub(super) fn row_chunks(rows: usize, sqlite: bool) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < rows {
        let left = rows - start;
        // SQLite: the largest power of two that fits what is left, at most SQLITE_ROWS.
        let size = if sqlite {
            (1 << left.ilog2()).min(SQLITE_ROWS)
        } else {
            left
        };
        chunks.push(start..start + size);
        start += size;
    }
    chunks
}

/// Executes a multi-row statement over `rows` inside `tx`, cut by [`row_chunks`]: `sql(n,
/// anonymous)` writes the statement for `n` rows, `bind` binds one row's parameters. Kept
/// prepared on SQLite, not on PostgreSQL (see [`typed_values`]).
pub(super) async fn execute_rows<'q, T>(
    tx: &mut Transaction<'static, Any>,
    rows: &'q [T],
    sql: impl Fn(usize, bool) -> String,
    bind: impl Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> Result<()> {
    let sqlite = anonymous(tx);
    for chunk in row_chunks(rows.len(), sqlite) {
        let rows = &rows[chunk];
        let q = sqlx::query(AssertSqlSafe(sql(rows.len(), sqlite))).persistent(sqlite);
        rows.iter()
            .fold(q, &bind)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Multi-row statements are not kept prepared on PostgreSQL: sqlx's `Any` driver binds a
/// NULL `f64` as `float4` (sqlx-core 0.9 `any/arguments.rs` swaps `Real` and `Double`), so
/// a statement first prepared with a NULL there would refuse every later value ("incorrect
/// binary data format"). SQLite's columns take any type: there they are kept
/// ([`row_chunks`]).
///
/// Like [`values`], each parameter cast to its column's type (`CAST($1 AS TEXT)`): in a
/// `VALUES` list PostgreSQL cannot infer them.
pub(super) fn typed_values(sql: &mut String, rows: usize, types: &[&str], anonymous: bool) {
    let cols = types.len();
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for (c, ty) in types.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str("CAST(");
            placeholder(sql, r * cols + c + 1, anonymous);
            sql.push_str(" AS ");
            sql.push_str(ty);
            sql.push(')');
        }
        sql.push(')');
    }
}

impl SqlStore {
    /// Inserts comparisons, their model rows and their attachments inside `tx`: those also
    /// answered and finished in the same batch as their final rows (and ledger entries), the
    /// others as running. A budget hold is the caller's ([`SqlStore::create_in`]).
    pub(super) async fn insert_whole(
        tx: &mut Transaction<'static, Any>,
        whole: &[Whole<'_>],
    ) -> Result<()> {
        if whole.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        let mut rows = Vec::with_capacity(whole.len());
        for w in whole {
            rows.push((
                w,
                Self::put_attachments(tx, &w.create.owner, &w.create.attachments).await?,
            ));
        }
        let columns = "INSERT INTO comparisons (id, owner, status, models, metadata, created_at_ms, session_id, prompt, \
             blind, instance, kind, finished_at_ms, totals, duration_ms, attachments, category, tags) VALUES ";
        execute_rows(
            tx,
            &rows,
            |n, anonymous| {
                let mut sql = String::from(columns);
                values(&mut sql, n, 17, anonymous);
                sql
            },
            |q, (w, refs)| {
                let c = w.create;
                q.bind(&c.id)
                    .bind(&c.owner)
                    .bind(
                        w.finish
                            .map_or(RequestStatus::Running.as_str(), |f| f.status.as_str()),
                    )
                    .bind(json(&c.models))
                    .bind(c.metadata.as_ref().map(json))
                    .bind(c.created_at_ms)
                    .bind(&c.session_id)
                    .bind(&c.prompt)
                    .bind(i64::from(c.blind))
                    .bind(&c.instance)
                    .bind(c.kind.as_str())
                    .bind(w.finish.map(|_| at))
                    .bind(w.finish.map(|f| json(&f.totals)))
                    .bind(w.finish.map(|f| f.duration_ms))
                    .bind(refs.as_deref())
                    .bind(&c.category)
                    .bind(tags_column(&c.tags))
            },
        )
        .await?;

        let models: Vec<(&Whole, usize, &String)> = whole
            .iter()
            .flat_map(|w| {
                w.create
                    .models
                    .iter()
                    .enumerate()
                    .map(move |(i, m)| (w, i, m))
            })
            .collect();
        execute_rows(tx, &models, |n, anonymous| {
            let mut sql = String::from(
                "INSERT INTO model_results (comparison_id, model_index, model, text, result, updated_at_ms, ttft_ms, cost_pico) VALUES ",
            );
            values(&mut sql, n, 8, anonymous);
            sql
        }, |q, &(w, i, model)| {
            let r = w.results.iter().find(|r| r.model_index == i);
            q.bind(&w.create.id)
                .bind(i as i64)
                .bind(model)
                .bind(r.map_or("", |r| r.text.as_str()))
                .bind(r.map(|r| json(*r)))
                .bind(at)
                .bind(r.and_then(|r| r.timing.ttft_ms))
                .bind(r.and_then(|r| pico(r.cost.total_usd)))
        })
        .await?;

        let results: Vec<(&str, &ModelResult)> = whole
            .iter()
            .flat_map(|w| w.results.iter().map(|r| (w.create.id.as_str(), *r)))
            .collect();
        Self::insert_ledger(tx, &results, at).await?;
        Ok(())
    }
}
