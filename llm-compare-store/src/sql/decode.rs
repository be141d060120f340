//! Rows to types, strictly (a row that does not decode is a typed error naming it), and
//! database errors to the core error.

use llm_compare_core::{Error, RequestStatus, Result};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::{EvalRunRecord, SessionSummary};

/// A database failure as the core error: the database unreachable, timing out or too busy
/// is [`Error::Unavailable`] (503, retryable); anything else is internal. The source error
/// goes to the log, not to the caller.
pub(super) fn db_err(e: sqlx::Error) -> Error {
    let unavailable = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: class 08 (connection exception), 57P01-03 (shutting down, cannot
        // connect now), 53300 (too many connections); SQLite (numeric codes, never five
        // characters): BUSY (5) and LOCKED (6) with their extended codes (BUSY_SNAPSHOT 517,
        // BUSY_TIMEOUT 773, …: the primary code is the low byte).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08")
                || c.starts_with("57P")
                || c == "53300"
                || (c.len() < 5 && c.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)))
        }),
        _ => false,
    };
    if unavailable {
        tracing::warn!(target: "llm_compare::store", error = %e, "database unavailable");
        Error::unavailable("the database is unreachable or not answering; try again shortly")
    } else {
        tracing::error!(target: "llm_compare::store", error = %e, "database error");
        Error::Internal(format!("database: {e}"))
    }
}

/// The `tags` column: a JSON array, or NULL for none.
pub(super) fn tags_column(tags: &[String]) -> Option<String> {
    (!tags.is_empty()).then(|| json(&tags))
}

pub(super) fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A stored row that does not decode: a typed error naming the row, logged — never a
/// default standing in for what was stored.
pub(crate) fn corrupt(table: &str, id: &str, what: impl std::fmt::Display) -> Error {
    tracing::error!(target: "llm_compare::store", table, id, error = %what, "corrupt stored row");
    Error::Internal(format!("corrupt stored row in {table} `{id}`: {what}"))
}

pub(super) fn parse_status(table: &str, id: &str, s: &str) -> Result<RequestStatus> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| corrupt(table, id, format!("unknown status `{s}`")))
}

/// A JSON column of row `id`, decoded strictly.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    table: &str,
    id: &str,
    column: &str,
    s: &str,
) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(table, id, format!("column {column}: {e}")))
}

/// An optional JSON column of row `id`, decoded strictly.
pub(super) fn parse_json_opt<T: serde::de::DeserializeOwned>(
    table: &str,
    id: &str,
    column: &str,
    s: Option<String>,
) -> Result<Option<T>> {
    s.map(|s| parse_json(table, id, column, &s)).transpose()
}

pub(super) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(col).map_err(db_err)
}

pub(super) fn pico(usd: Option<llm_compare_core::Usd>) -> Option<i64> {
    usd.map(|u| i64::try_from(u.pico()).unwrap_or(i64::MAX))
}

pub(super) fn summary(row: &AnyRow) -> Result<SessionSummary> {
    let models: String = get(row, "models")?;
    let id: String = get(row, "id")?;
    Ok(SessionSummary {
        models: parse_json("sessions", &id, "models", &models)?,
        id,
        title: get(row, "title")?,
        system: get(row, "system")?,
        created_at_ms: get(row, "created_at_ms")?,
        turns: u64::try_from(get::<i64>(row, "turns")?).unwrap_or(0),
    })
}

/// An `eval_runs` row (its rows' reports left empty), decoded strictly.
pub(super) fn eval_run_of(row: &AnyRow, rows_done: u64) -> Result<EvalRunRecord> {
    let id: String = get(row, "id")?;
    let options: String = get(row, "options")?;
    let summary: Option<String> = get(row, "summary")?;
    Ok(EvalRunRecord {
        owner: get(row, "owner")?,
        dataset: get(row, "dataset")?,
        dataset_sha256: get(row, "dataset_sha256")?,
        options: parse_json("eval_runs", &id, "options", &options)?,
        units: u64::try_from(get::<i64>(row, "units")?)
            .map_err(|_| corrupt("eval_runs", &id, "a negative `units`"))?,
        summary: summary
            .map(|s| parse_json("eval_runs", &id, "summary", &s))
            .transpose()?,
        created_at_ms: get(row, "created_at_ms")?,
        finished_at_ms: get(row, "finished_at_ms")?,
        rows_done,
        rows: Vec::new(),
        id,
    })
}
