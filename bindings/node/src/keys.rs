//! API keys (`keys` in llm-compare-service): the embedding app is the operator — it mints,
//! lists, changes and revokes keys, and authenticates secrets with the server's own cached
//! checks. Each method parses, calls the shared `Service`, resolves to its JSON.

use llm_compare_service::Principal;
use llm_compare_service::keys::{CreateKey, UpdateKey};
use napi_derive::napi;

use crate::config::NativeEngine;
use crate::error::{OrJs, invalid};
use crate::registry::to_json;

#[napi]
impl NativeEngine {
    /// Mints a key (`body_json`: the body of `POST /v1/keys`): its JSON with the secret.
    #[napi]
    pub async fn create_key(&self, body_json: String) -> napi::Result<String> {
        let body: CreateKey =
            serde_json::from_str(&body_json).map_err(|e| invalid("key", e.to_string()))?;
        to_json(
            &self
                .service
                .create_key(&Principal::operator(), body)
                .await
                .or_js()?,
        )
    }

    /// A page of keys, newest first.
    #[napi]
    pub async fn keys(&self, limit: Option<u32>, cursor: Option<String>) -> napi::Result<String> {
        to_json(
            &self
                .service
                .keys(&Principal::operator(), limit, cursor.as_deref())
                .await
                .or_js()?,
        )
    }

    /// Key `key_id` (never its secret).
    #[napi]
    pub async fn key(&self, key_id: String) -> napi::Result<String> {
        to_json(
            &self
                .service
                .key(&Principal::operator(), &key_id)
                .await
                .or_js()?,
        )
    }

    /// Changes key `key_id` (`changes_json`: the body of `PATCH /v1/keys/{id}`).
    #[napi]
    pub async fn update_key(&self, key_id: String, changes_json: String) -> napi::Result<String> {
        let changes: UpdateKey =
            serde_json::from_str(&changes_json).map_err(|e| invalid("changes", e.to_string()))?;
        to_json(
            &self
                .service
                .update_key(&Principal::operator(), &key_id, changes)
                .await
                .or_js()?,
        )
    }

    /// Revokes key `key_id`.
    #[napi]
    pub async fn revoke_key(&self, key_id: String) -> napi::Result<String> {
        to_json(
            &self
                .service
                .revoke_key(&Principal::operator(), &key_id)
                .await
                .or_js()?,
        )
    }

    /// Who presents `secret`: `{user, kind, key, budget}`, or the server's error.
    #[napi]
    pub async fn authenticate(&self, secret: Option<String>) -> napi::Result<String> {
        let who = self.service.authenticate(secret.as_deref()).await.or_js()?;
        to_json(&self.service.key_self(&who).await.or_js()?)
    }
}
