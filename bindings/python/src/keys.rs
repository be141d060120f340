//! API keys (`keys` in llm-compare-service): the embedding app is the operator — it mints,
//! lists, changes and revokes keys, and authenticates secrets with the same cached checks the
//! server runs. Each method parses, calls the shared `Service`, resolves to its JSON.

use llm_compare_service::Principal;
use llm_compare_service::keys::{CreateKey, UpdateKey};
use pyo3::prelude::*;

use crate::config::Engine;
use crate::error::invalid;
use crate::registry::future_json;

#[pymethods]
impl Engine {
    /// Mints a key (`body_json`: the body of `POST /v1/keys`); resolves to its JSON with the
    /// secret (`key`), shown this once.
    fn create_key<'py>(&self, py: Python<'py>, body_json: &str) -> PyResult<Bound<'py, PyAny>> {
        let body: CreateKey =
            serde_json::from_str(body_json).map_err(|e| invalid("key", e.to_string()))?;
        let service = self.service.clone();
        future_json(py, async move {
            service.create_key(&Principal::operator(), body).await
        })
    }

    /// A page of keys, newest first (`GET /v1/keys`).
    #[pyo3(signature = (limit = None, cursor = None))]
    fn keys<'py>(
        &self,
        py: Python<'py>,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(py, async move {
            service
                .keys(&Principal::operator(), limit, cursor.as_deref())
                .await
        })
    }

    /// Key `key_id` (never its secret).
    fn key<'py>(&self, py: Python<'py>, key_id: String) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(py, async move {
            service.key(&Principal::operator(), &key_id).await
        })
    }

    /// Changes key `key_id` (`changes_json`: the body of `PATCH /v1/keys/{id}`).
    fn update_key<'py>(
        &self,
        py: Python<'py>,
        key_id: String,
        changes_json: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let changes: UpdateKey =
            serde_json::from_str(changes_json).map_err(|e| invalid("changes", e.to_string()))?;
        let service = self.service.clone();
        future_json(py, async move {
            service
                .update_key(&Principal::operator(), &key_id, changes)
                .await
        })
    }

    /// Revokes key `key_id`.
    fn revoke_key<'py>(&self, py: Python<'py>, key_id: String) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(py, async move {
            service.revoke_key(&Principal::operator(), &key_id).await
        })
    }

    /// Who presents `secret`: `{user, kind, key, budget}` (`GET /v1/keys/self`), or the
    /// error the server would answer (missing, unknown, expired, revoked).
    #[pyo3(signature = (secret = None))]
    fn authenticate<'py>(
        &self,
        py: Python<'py>,
        secret: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(py, async move {
            let who = service.authenticate(secret.as_deref()).await?;
            service.key_self(&who).await
        })
    }
}
