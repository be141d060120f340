//! API keys: `Authorization: Bearer KEY` or `X-API-Key: KEY`, each mapped to a user.
//! Keys are kept only as SHA-256 digests and never logged. With no key configured the
//! server is open: every caller is the single user `anonymous`.

use std::collections::HashMap;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The user every caller is on an open server.
pub const ANONYMOUS: &str = "anonymous";

/// The configured API keys.
#[derive(Clone, Default)]
pub struct ApiKeys {
    by_digest: HashMap<[u8; 32], String>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("users", &self.by_digest.len())
            .finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Keys from `(user, key)` pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            by_digest: pairs
                .into_iter()
                .map(|(u, k)| (digest(k), u.to_string()))
                .collect(),
        }
    }

    /// Parses `alice:KEY1,bob:KEY2` (the `LLM_COMPARE_API_KEYS` format).
    pub fn parse(spec: &str) -> Result<Vec<(String, String)>, String> {
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

    /// Whether the server is open (no keys).
    pub fn is_open(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The user presenting these headers (or `query_key`, for WebSocket clients that cannot
    /// set headers).
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        query_key: Option<&str>,
    ) -> Result<String, ApiError> {
        if self.is_open() {
            return Ok(ANONYMOUS.to_string());
        }
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let key = bearer
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .or(query_key)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "an API key is required: Authorization: Bearer KEY or X-API-Key: KEY",
                )
            })?;
        self.by_digest
            .get(&digest(key))
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))
    }
}
