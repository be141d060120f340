//! What needs a store (`service` in llm-compare-store): snapshots, votes, the leaderboard,
//! listings and sessions. Each method parses its input, calls the shared `Service` — the
//! same code the server's handlers call — and resolves to the JSON the server would answer.

use llm_compare_service::service::page_limit;
use llm_compare_service::{CreateSession, VoteBody};
use pyo3::prelude::*;

use crate::config::{Engine, block_on};
use crate::error::{invalid, to_py};
use crate::registry::future_json;

#[pymethods]
impl Engine {
    /// `owner`'s comparison now (`GET /v1/comparisons/{id}`), as JSON.
    fn snapshot<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
        owner: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(
            py,
            async move { service.snapshot(&owner, &request_id).await },
        )
    }

    /// Answers calls of client-side tools of `owner`'s comparison (`results_json`: the body
    /// of `POST /v1/comparisons/{id}/tool_results`); resolves to `{"accepted": n}`.
    fn tool_results<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
        owner: String,
        results_json: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body: llm_compare_service::ToolResults =
            serde_json::from_str(results_json).map_err(|e| invalid("results", e.to_string()))?;
        let service = self.service.clone();
        future_json(py, async move {
            let accepted = service
                .tool_results(&owner, &request_id, body.results)
                .await?;
            Ok(serde_json::json!({ "accepted": accepted }))
        })
    }

    /// Records `owner`'s vote (`vote_json`: `{winner, feedback?}`); resolves to it as JSON.
    fn vote<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
        owner: String,
        vote_json: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let vote: VoteBody =
            serde_json::from_str(vote_json).map_err(|e| invalid("winner", e.to_string()))?;
        let service = self.service.clone();
        future_json(py, async move {
            service.vote(&owner, &request_id, &vote).await?;
            Ok(vote)
        })
    }

    /// The leaderboard for votes cast in `[from_ms, to_ms)`, as JSON.
    #[pyo3(signature = (from_ms = None, to_ms = None))]
    fn leaderboard<'py>(
        &self,
        py: Python<'py>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(py, async move { service.leaderboard(from_ms, to_ms).await })
    }

    /// `owner`'s usage report (`GET /v1/usage`; `query_json`: `{from?, to?, group_by?}`), as
    /// JSON.
    fn usage<'py>(
        &self,
        py: Python<'py>,
        owner: String,
        query_json: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = usage_query(query_json)?;
        let service = self.service.clone();
        future_json(py, async move { service.usage(&owner, &query).await })
    }

    /// The same report, blocking (for synchronous code).
    fn usage_sync(&self, py: Python<'_>, owner: String, query_json: &str) -> PyResult<String> {
        let query = usage_query(query_json)?;
        let service = self.service.clone();
        let report =
            block_on(py, async move { service.usage(&owner, &query).await }).map_err(to_py)?;
        serde_json::to_string(&report).map_err(|e| invalid("usage", e.to_string()))
    }

    /// `owner`'s comparisons outside sessions, newest first, older than id `before`.
    #[pyo3(signature = (owner, limit = None, before = None))]
    fn comparisons<'py>(
        &self,
        py: Python<'py>,
        owner: String,
        limit: Option<u32>,
        before: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = page_limit(limit).map_err(to_py)?;
        let service = self.service.clone();
        future_json(py, async move {
            service.comparisons(&owner, limit, before.as_deref()).await
        })
    }

    /// Starts a session for `owner` (`body_json`: the body of `POST /v1/sessions`).
    fn create_session<'py>(
        &self,
        py: Python<'py>,
        body_json: &str,
        owner: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body: CreateSession =
            serde_json::from_str(body_json).map_err(|e| invalid("session", e.to_string()))?;
        let service = self.service.clone();
        future_json(py, async move {
            service
                .create_session(&llm_compare_service::Principal::user(owner), body)
                .await
        })
    }

    /// `owner`'s sessions, newest first, older than id `before`.
    #[pyo3(signature = (owner, limit = None, before = None))]
    fn sessions<'py>(
        &self,
        py: Python<'py>,
        owner: String,
        limit: Option<u32>,
        before: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = page_limit(limit).map_err(to_py)?;
        let service = self.service.clone();
        future_json(py, async move {
            service.sessions(&owner, limit, before.as_deref()).await
        })
    }

    /// `owner`'s session with every turn (`GET /v1/sessions/{id}`).
    fn session<'py>(
        &self,
        py: Python<'py>,
        session_id: String,
        owner: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(
            py,
            async move { service.session(&owner, &session_id).await },
        )
    }

    /// Deletes `owner`'s session and its turns.
    fn delete_session<'py>(
        &self,
        py: Python<'py>,
        session_id: String,
        owner: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = self.service.clone();
        future_json(py, async move {
            service.delete_session(&owner, &session_id).await
        })
    }
}

/// A usage query (`{from?, to?, group_by?}`); a bad one names the field.
fn usage_query(json: &str) -> PyResult<llm_compare_service::usage::UsageQuery> {
    serde_json::from_str(json).map_err(|e| invalid("usage", e.to_string()))
}
