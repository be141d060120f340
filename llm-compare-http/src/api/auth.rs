//! Where a request's API key is: `Authorization: Bearer KEY`, `X-API-Key: KEY`, or (for
//! WebSocket clients, which cannot set headers) `?api_key=KEY` on a `/ws` route. What a key
//! is worth is the service's ([`llm_compare_service::keys`]); keys are never logged.

use axum::http::HeaderMap;

pub use llm_compare_service::keys::ANONYMOUS;

/// Parses `alice:KEY1,bob:KEY2` (the `LLM_COMPARE_API_KEYS` format).
pub fn parse_static_keys(spec: &str) -> Result<Vec<(String, String)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((u, k)) if !u.trim().is_empty() && !k.trim().is_empty() => {
                Ok((u.trim().to_string(), k.trim().to_string()))
            }
            _ => Err("LLM_COMPARE_API_KEYS must look like user:KEY,user2:KEY2".to_string()),
        })
        .collect()
}

/// The key these headers present, else `query_key`.
pub fn presented<'a>(headers: &'a HeaderMap, query_key: Option<&'a str>) -> Option<&'a str> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .or(query_key)
}
