//! `GET /v1/leaderboard`: every user's votes as a ranking (JSON or CSV), filtered by time.
//! Votes are kept in memory and only new ones are read per request; the board is recomputed
//! only when votes arrived or the filter changed.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use llm_compare_service::leaderboard::Leaderboard;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, QueryParams};
use super::usage::parse_time;
use crate::server::AppState;

/// `GET /v1/leaderboard` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardQuery {
    /// Votes cast at or after: RFC 3339, `YYYY-MM-DD` or Unix milliseconds.
    pub from: Option<String>,
    /// Votes cast before: RFC 3339, `YYYY-MM-DD` or Unix milliseconds.
    pub to: Option<String>,
    /// `json` (default) or `csv` (or send `Accept: text/csv`).
    pub format: Option<String>,
    /// Whose votes: `human` (default), `judge` (LLM judges' verdicts from evaluation runs)
    /// or `all`.
    pub source: Option<String>,
    /// `true`: ratings with the effect of answer length and markdown removed (Bradley-Terry
    /// with style covariates), and the covariates' coefficients (`style`).
    pub style_control: Option<bool>,
    /// Only votes on comparisons of this category (`categories` in the answer lists them).
    pub category: Option<String>,
}

/// Models ranked by votes: Bradley-Terry rating with a bootstrap 95% interval, online Elo,
/// wins/losses/ties, mean time to first token and cost.
#[utoipa::path(
    get, path = "/v1/leaderboard", tag = "leaderboard",
    params(LeaderboardQuery),
    responses(
        (status = 200, description = "The leaderboard (JSON, or CSV with format=csv)", body = Leaderboard),
        (status = 400, description = "Bad from, to, format or source", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 501, description = "The server has no store (`not_configured`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(user): Caller,
    QueryParams(q): QueryParams<LeaderboardQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let from = q
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to = q.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                format!("format must be json or csv, not `{other}`"),
            ));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    let source = match q.source.as_deref() {
        None => llm_compare_service::leaderboard::Source::Human,
        Some(v) => llm_compare_service::leaderboard::Source::parse(v).ok_or_else(|| {
            ApiError::invalid(
                "source",
                format!("source must be human, judge or all, not `{v}`"),
            )
        })?,
    };
    let board = state
        .service()
        .leaderboard_guarded(
            (
                from,
                to,
                source,
                q.style_control.unwrap_or(false),
                q.category,
            ),
            || state.check_board_rate(&user),
        )
        .await?;
    if csv {
        let mut resp = board.to_csv().into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        resp.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"leaderboard.csv\""),
        );
        return Ok(resp);
    }
    Ok(axum::Json(board).into_response())
}
