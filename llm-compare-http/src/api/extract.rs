//! Request extractors that turn every bad input into an [`ApiError`] naming the problem:
//! the caller ([`Caller`]) and JSON bodies ([`JsonBody`]: 413 when too large, 415 when not
//! JSON, 400 naming the field that failed to parse).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use llm_compare_service::Principal;

use super::error::ApiError;
use crate::server::AppState;

/// The authenticated user (set by the auth middleware).
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// The authenticated caller with its key's scope and limits (set by the auth middleware).
#[derive(Debug, Clone)]
pub struct Who(pub Principal);

/// The caller of a request the auth middleware did not see: authenticated here.
async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(p) = parts.extensions.get::<Principal>() {
        return Ok(p.clone());
    }
    let query_key = parts
        .uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("api_key=")));
    let secret = super::auth::presented(&parts.headers, query_key);
    Ok(state.service().authenticate(secret).await?)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        principal(parts, state).await.map(|p| Caller(p.user))
    }
}

impl FromRequestParts<AppState> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        principal(parts, state).await.map(Who)
    }
}

/// A path parameter (the request id), with a JSON error when it cannot be decoded.
#[derive(Debug)]
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| IdPath(id))
            .map_err(|e| ApiError::invalid("id", format!("bad request id: {e}")))
    }
}

/// Query parameters, with the failing parameter named.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryParams)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." || path.is_empty() {
                    "query".to_string()
                } else {
                    path
                };
                ApiError::invalid(field, e.into_inner().to_string())
            })
    }
}

/// A JSON body, parsed with the failing field named.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/json")
                    || (ct.starts_with("application/") && ct.contains("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the body is larger than the server accepts",
                )
            } else {
                ApiError::invalid("body", format!("could not read the body: {rej}"))
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(JsonBody(v)),
            Err(e) => {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                let root = path == "." || path.is_empty();
                // serde names a missing field in the message; the path stops at its parent.
                let named = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next());
                let field = match (named, root) {
                    (Some(n), true) => n.to_string(),
                    (Some(n), false) => format!("{path}.{n}"),
                    (None, true) => "body".to_string(),
                    (None, false) => path,
                };
                Err(ApiError::invalid(field, message))
            }
        }
    }
}

/// A listing's query: `limit` and `cursor` (the last id of the previous page; UUIDv7 ids
/// sort by creation time).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<u32, ApiError> {
        Ok(llm_compare_service::service::page_limit(self.limit)?)
    }

    /// Splits `limit() + 1` fetched items into the page and the next cursor (the one extra
    /// item tells whether there is a next page).
    pub fn split<T>(
        &self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> &String,
    ) -> (Vec<T>, Option<String>) {
        let limit = self
            .limit
            .unwrap_or(llm_compare_service::service::DEFAULT_PAGE) as usize;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(|t| id(t).clone())
        } else {
            None
        };
        (items, next)
    }
}

/// A comparison's body: JSON, or `multipart/form-data` — a `request` field holding the JSON
/// and file fields that become attachments (after any in the JSON), so a browser form
/// uploads files as they are.
#[derive(Debug)]
pub struct ComparisonBody(pub llm_compare_service::CreateComparison);

impl<S: Send + Sync> FromRequest<S> for ComparisonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            return JsonBody::from_request(req, state)
                .await
                .map(|JsonBody(b)| ComparisonBody(b));
        }
        let mut form = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid("body", format!("not a multipart form: {e}")))?;
        let bad = |field: &str, e: axum::extract::multipart::MultipartError| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("{field}: the form is larger than the server accepts"),
                )
            } else {
                ApiError::invalid(field.to_string(), format!("could not read the form: {e}"))
            }
        };
        let mut request: Option<llm_compare_service::CreateComparison> = None;
        let mut files = Vec::new();
        while let Some(field) = form.next_field().await.map_err(|e| bad("body", e))? {
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(|e| bad(&name, e))?;
            if name == "request" && file_name.is_none() {
                let de = &mut serde_json::Deserializer::from_slice(&bytes);
                request = Some(serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = e.path().to_string();
                    ApiError::invalid(format!("request.{path}"), e.into_inner().to_string())
                })?);
            } else {
                let part = llm_compare_core::Part::from_bytes(&bytes, file_name.as_deref())
                    .map_err(|e| ApiError::invalid(name.clone(), e.to_string()))?;
                files.push(part);
            }
        }
        let mut body = request.ok_or_else(|| {
            ApiError::invalid(
                "request",
                "the form needs a `request` field with the comparison's JSON",
            )
        })?;
        if !files.is_empty() {
            body.attachments.get_or_insert_with(Vec::new).extend(files);
        }
        Ok(ComparisonBody(body))
    }
}
