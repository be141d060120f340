//! What needs a store (`service` in llm-compare-store): snapshots, votes, the leaderboard,
//! listings and sessions, each resolving to the JSON the server would answer.

use llm_compare_service::service::page_limit;
use llm_compare_service::{CreateSession, VoteBody};
use napi_derive::napi;

use crate::config::NativeEngine;
use crate::error::{OrJs, invalid};
use crate::registry::to_json;

#[napi]
impl NativeEngine {
    /// `owner`'s comparison now (`GET /v1/comparisons/{id}`).
    #[napi]
    pub async fn snapshot(&self, request_id: String, owner: String) -> napi::Result<String> {
        to_json(&self.service.snapshot(&owner, &request_id).await.or_js()?)
    }

    /// Answers calls of client-side tools of `owner`'s comparison (`results_json`: the body
    /// of `POST /v1/comparisons/{id}/tool_results`); `{"accepted": n}`.
    #[napi]
    pub async fn tool_results(
        &self,
        request_id: String,
        owner: String,
        results_json: String,
    ) -> napi::Result<String> {
        let body: llm_compare_service::ToolResults =
            serde_json::from_str(&results_json).map_err(|e| invalid("results", e.to_string()))?;
        let accepted = self
            .service
            .tool_results(&owner, &request_id, body.results)
            .await
            .or_js()?;
        to_json(&serde_json::json!({ "accepted": accepted }))
    }

    /// Records `owner`'s vote (`vote_json`: `{winner, feedback?}`).
    #[napi]
    pub async fn vote(
        &self,
        request_id: String,
        owner: String,
        vote_json: String,
    ) -> napi::Result<String> {
        let vote: VoteBody =
            serde_json::from_str(&vote_json).map_err(|e| invalid("winner", e.to_string()))?;
        self.service
            .vote(&owner, &request_id, &vote)
            .await
            .or_js()?;
        to_json(&vote)
    }

    /// The leaderboard for votes cast in `[from_ms, to_ms)`.
    #[napi]
    pub async fn leaderboard(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> napi::Result<String> {
        to_json(&self.service.leaderboard(from_ms, to_ms).await.or_js()?)
    }

    /// `owner`'s usage report (`GET /v1/usage`; `query_json`: `{from?, to?, group_by?}`).
    #[napi]
    pub async fn usage(&self, owner: String, query_json: String) -> napi::Result<String> {
        let query: llm_compare_service::usage::UsageQuery = serde_json::from_str(&query_json)
            .map_err(|e| crate::error::invalid("usage", e.to_string()))?;
        to_json(&self.service.usage(&owner, &query).await.or_js()?)
    }

    /// `owner`'s comparisons outside sessions, newest first, older than id `before`.
    #[napi]
    pub async fn comparisons(
        &self,
        owner: String,
        limit: Option<u32>,
        before: Option<String>,
    ) -> napi::Result<String> {
        let limit = page_limit(limit).or_js()?;
        to_json(
            &self
                .service
                .comparisons(&owner, limit, before.as_deref())
                .await
                .or_js()?,
        )
    }

    /// Starts a session for `owner` (`body_json`: the body of `POST /v1/sessions`).
    #[napi]
    pub async fn create_session(&self, body_json: String, owner: String) -> napi::Result<String> {
        let body: CreateSession =
            serde_json::from_str(&body_json).map_err(|e| invalid("session", e.to_string()))?;
        to_json(
            &self
                .service
                .create_session(&llm_compare_service::Principal::user(owner), body)
                .await
                .or_js()?,
        )
    }

    /// `owner`'s sessions, newest first, older than id `before`.
    #[napi]
    pub async fn sessions(
        &self,
        owner: String,
        limit: Option<u32>,
        before: Option<String>,
    ) -> napi::Result<String> {
        let limit = page_limit(limit).or_js()?;
        to_json(
            &self
                .service
                .sessions(&owner, limit, before.as_deref())
                .await
                .or_js()?,
        )
    }

    /// `owner`'s session with every turn (`GET /v1/sessions/{id}`).
    #[napi]
    pub async fn session(&self, session_id: String, owner: String) -> napi::Result<String> {
        to_json(&self.service.session(&owner, &session_id).await.or_js()?)
    }

    /// Deletes `owner`'s session and its turns.
    #[napi]
    pub async fn delete_session(&self, session_id: String, owner: String) -> napi::Result<()> {
        self.service
            .delete_session(&owner, &session_id)
            .await
            .or_js()
    }
}
