//! `/v1/evals`: start an evaluation run over a dataset (POST → 201 + run id), stream its
//! progress (SSE, resumable with `Last-Event-ID`), look at it, list them, cancel one.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
pub use llm_compare_service::eval::runs::{
    CreateEval, EvalRunInfo, EvalRunView, EvalStarted, EvalStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, IdPath, JsonBody, QueryParams, Who};
use crate::server::AppState;

/// `201 Created`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalCreated {
    /// The run.
    #[serde(flatten)]
    pub run: EvalStarted,
    /// Where to stream its progress (SSE).
    pub stream_url: String,
}

/// Starts an evaluation run: every row of the dataset compared across the models, each
/// answer checked against the row's assertions, every pair judged (with a judge). Stream
/// its progress from `stream_url`.
#[utoipa::path(
    post, path = "/v1/evals", tag = "evals",
    request_body = CreateEval,
    responses(
        (status = 201, description = "Started", body = EvalCreated,
         headers(("Location" = String, description = "The run's URL"))),
        (status = 400, description = "Bad body, dataset (file, line and field named), assertion or model", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "`resume` names an unknown run, or another caller's", body = ErrorBody),
        (status = 409, description = "The run to resume is still running", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many requests per minute",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 501, description = "`resume` without a store (`not_configured`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn create(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<CreateEval>, ApiError>,
) -> Result<Response, ApiError> {
    state.check_rate(&who)?;
    let JsonBody(body) = body?;
    let run = state.service().start_evaluation(&who, body).await?;
    let location = format!("/v1/evals/{}", run.run_id);
    let mut resp = (
        StatusCode::CREATED,
        Json(EvalCreated {
            stream_url: format!("{location}/stream"),
            run,
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `?limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Runs to list, 1–100 (default 20).
    pub limit: Option<u32>,
}

/// The caller's runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalList {
    /// Newest first.
    pub runs: Vec<EvalRunInfo>,
}

/// The caller's evaluation runs, newest first.
#[utoipa::path(
    get, path = "/v1/evals", tag = "evals",
    params(ListQuery),
    responses(
        (status = 200, description = "The runs", body = EvalList),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<EvalList>, ApiError> {
    let limit = llm_compare_service::service::page_limit(q.limit)?;
    let runs = state.service().eval_runs(&user, limit).await?;
    Ok(Json(EvalList { runs }))
}

/// A run with its finished rows and, once it completed, its summary.
#[utoipa::path(
    get, path = "/v1/evals/{id}", tag = "evals",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = EvalRunView),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown run, or another caller's", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<Json<EvalRunView>, ApiError> {
    Ok(Json(state.service().eval_run(&user, &id).await?))
}

/// The run's report: one self-contained HTML page (pass rates with intervals, cost against
/// quality with the Pareto front, latency distributions, categories, the rows where the
/// models disagree); a run not yet completed is reported on the rows it finished.
#[utoipa::path(
    get, path = "/v1/evals/{id}/report", tag = "evals",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The report", content_type = "text/html", body = String),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown run, or another caller's", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn report(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let html = state.service().eval_report(&user, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing outside the page, not even a script of its own.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
            ),
        ],
        html,
    )
        .into_response())
}

/// `?last_event_id=` (clients that cannot set headers).
#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins).
    pub last_event_id: Option<u64>,
}

/// The run's progress as server-sent events: `start`, one `row` per finished row, then
/// `summary` (or `cancelled`); `id:` numbers them from 1. Resume with `Last-Event-ID`.
#[utoipa::path(
    get, path = "/v1/evals/{id}/stream", tag = "evals",
    params(("id" = String, Path, description = "Run id"), StreamQuery,
           ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = super::openapi::SseMessage),
        (status = 204, description = "The run ended and Last-Event-ID is its last event (stops an EventSource)"),
        (status = 400, description = "Bad Last-Event-ID", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown run, or another caller's", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn stream(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
    QueryParams(query): QueryParams<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = usize::try_from(super::comparisons::resume_after(
        &headers,
        query.last_event_id,
    )?)
    .unwrap_or(usize::MAX);
    let slot = state.open_stream(&user)?;
    let run = state.service().eval_events(&user, &id, after).await?;
    if run.ended_with.is_some_and(|n| after >= n) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let shutdown = state.shutdown().clone();
    let sse = run
        .events
        .take_until(async move { shutdown.cancelled().await })
        .map(move |(n, e)| {
            let _held = &slot;
            let json = serde_json::to_value(&e).unwrap_or_default();
            let kind = json
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("event")
                .to_string();
            Ok::<_, Infallible>(
                SseEvent::default()
                    .id(n.to_string())
                    .event(kind)
                    .data(json.to_string()),
            )
        });
    Ok(super::comparisons::sse_response(
        sse,
        state.options().keepalive,
    ))
}

/// `DELETE` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalCancelled {
    /// The run.
    pub run_id: String,
    /// Its status after the cancel (a run that already ended keeps its own).
    pub status: EvalStatus,
}

/// Cancels a run: no new row starts, the rows in flight are cancelled, the finished ones
/// are kept (`resume` runs the rest); the stream ends with `cancelled`.
#[utoipa::path(
    delete, path = "/v1/evals/{id}", tag = "evals",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 202, description = "Cancelled (or already ended)", body = EvalCancelled),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown run, or another caller's", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<EvalCancelled>), ApiError> {
    let status = state.service().cancel_evaluation(&user, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EvalCancelled { run_id: id, status }),
    ))
}
