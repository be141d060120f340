//! `GET /v1/usage`: the caller's tokens and cost from the usage ledger, per model or per day,
//! with their budget for the current period (the report is the service's).

use axum::Json;
use axum::extract::State;
pub use llm_compare_service::usage::{
    BudgetView, GroupBy, UsageLine, UsageQuery, UsageReport, parse_time,
};

use super::error::{ApiError, ErrorBody};
use super::extract::{QueryParams, Who};
use crate::server::AppState;

/// The caller's usage (an admin's: any user's, `user=`): calls, tokens and cost per model or
/// per day, and the budget.
#[utoipa::path(
    get, path = "/v1/usage", tag = "usage",
    params(UsageQuery),
    responses(
        (status = 200, description = "Usage", body = UsageReport),
        (status = 400, description = "Bad from, to or group_by", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 403, description = "Another user's usage without an admin key (`forbidden`)", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 501, description = "The server has no store (`not_configured`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn get(
    State(state): State<AppState>,
    Who(who): Who,
    QueryParams(q): QueryParams<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    Ok(Json(state.service().usage_as(&who, &q).await?))
}
