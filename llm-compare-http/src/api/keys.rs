//! `/v1/keys`: API keys as data. Admin keys mint, list, change and revoke keys; any caller
//! reads its own (`/v1/keys/self`). The secret is in `POST`'s answer only.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use llm_compare_service::keys::{
    CreateKey, CreatedKey, KeyPage, KeyView, Scope, SelfView, UpdateKey,
};

use super::error::{ApiError, ErrorBody};

/// What every admin key route may answer besides its own answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Documentation of the responses: never constructed.
enum KeyRouteErrors {
    /// Missing, wrong, expired or revoked API key (`unauthorized`).
    #[response(status = 401)]
    Unauthorized(#[to_schema] ErrorBody),
    /// Not an admin key (`forbidden`).
    #[response(status = 403)]
    Forbidden(#[to_schema] ErrorBody),
    /// The server has no store (`not_configured`).
    #[response(status = 501)]
    NotConfigured(#[to_schema] ErrorBody),
    /// The database is unreachable (`unavailable`).
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody),
}
use super::extract::{IdPath, JsonBody, PageQuery, QueryParams, Who};
use crate::server::AppState;

/// Mints a key; its secret is in this answer only.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created: `key` is the secret, shown this once", body = CreatedKey,
         headers(("Location" = String, description = "The key's URL"))),
        (status = 400, description = "Bad body (the field named)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        KeyRouteErrors,
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<CreateKey>, ApiError>,
) -> Result<Response, ApiError> {
    let JsonBody(body) = body?;
    let created = state.service().create_key(&who, body).await?;
    let location = format!("/v1/keys/{}", created.view.id);
    let mut resp = (StatusCode::CREATED, Json(created)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Every key (no secrets), newest first.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of keys", body = KeyPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        KeyRouteErrors,
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Who(who): Who,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<KeyPage>, ApiError> {
    Ok(Json(
        state
            .service()
            .keys(&who, q.limit, q.cursor.as_deref())
            .await?,
    ))
}

/// The caller's own key: who it is and what it may do.
#[utoipa::path(
    get, path = "/v1/keys/self", tag = "keys",
    responses(
        (status = 200, description = "The caller and its key", body = SelfView),
        (status = 401, description = "Missing, wrong, expired or revoked API key", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn own(State(state): State<AppState>, Who(who): Who) -> Result<Json<SelfView>, ApiError> {
    Ok(Json(state.service().key_self(&who).await?))
}

/// One key (no secret).
#[utoipa::path(
    get, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 404, description = "No such key", body = ErrorBody),
        KeyRouteErrors,
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_one(
    State(state): State<AppState>,
    Who(who): Who,
    IdPath(id): IdPath,
) -> Result<Json<KeyView>, ApiError> {
    Ok(Json(state.service().key(&who, &id).await?))
}

/// Changes a key's name, limits or expiry (`null` clears one); every server applies it
/// within a second.
#[utoipa::path(
    patch, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    request_body = UpdateKey,
    responses(
        (status = 200, description = "The key as changed", body = KeyView),
        (status = 400, description = "Bad body (the field named)", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        KeyRouteErrors,
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Who(who): Who,
    IdPath(id): IdPath,
    body: Result<JsonBody<UpdateKey>, ApiError>,
) -> Result<Json<KeyView>, ApiError> {
    let JsonBody(body) = body?;
    Ok(Json(state.service().update_key(&who, &id, body).await?))
}

/// Revokes a key: every server refuses it within a second.
#[utoipa::path(
    delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key, revoked", body = KeyView),
        (status = 404, description = "No such key", body = ErrorBody),
        KeyRouteErrors,
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    Who(who): Who,
    IdPath(id): IdPath,
) -> Result<Json<KeyView>, ApiError> {
    Ok(Json(state.service().revoke_key(&who, &id).await?))
}
