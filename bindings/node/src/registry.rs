//! The request registry (`registry` in the core): POST-then-stream. `submit` records (with a
//! store), registers and starts a comparison; `stream` reads its events from any seq, as
//! often as wanted; `cancel` stops it.

use napi_derive::napi;

use crate::config::{NativeEngine, parse_body};
use crate::error::OrJs;

/// A registered comparison's events (wrapped by `EventStream` in index.js).
#[napi]
pub struct NativeEventStream {
    events: llm_compare_service::embed::JsonEvents,
}

impl std::fmt::Debug for NativeEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeEventStream").finish_non_exhaustive()
    }
}

#[napi]
impl NativeEventStream {
    /// The next event's JSON; null after `complete`.
    #[napi]
    pub async fn next(&self) -> Option<String> {
        self.events.next().await
    }
}

/// A value as JSON text.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> napi::Result<String> {
    llm_compare_service::embed::to_json(value).or_js()
}

#[napi]
impl NativeEngine {
    /// Records (with a store), registers and starts a comparison for `owner` (`body_json`:
    /// the body of `POST /v1/comparisons`); resolves to `{request_id, models,
    /// history_trimmed?}` as JSON.
    #[napi]
    pub async fn submit(
        &self,
        body_json: String,
        owner: String,
        tools_json: Option<String>,
        dispatch: Option<crate::tools::Dispatch>,
        abort: Option<crate::tools::Abort>,
    ) -> napi::Result<String> {
        let body = parse_body(&body_json)?;
        let tools = crate::tools::executor(tools_json, dispatch, abort)?;
        to_json(
            &self
                .service
                .submit_with(&llm_compare_service::Principal::user(owner), body, tools)
                .await
                .or_js()?,
        )
    }

    /// `owner`'s request's events after `after_seq`: replayed, then live, to `complete`.
    #[napi]
    pub async fn stream(
        &self,
        request_id: String,
        owner: String,
        after_seq: Option<i64>,
    ) -> napi::Result<NativeEventStream> {
        let after = u64::try_from(after_seq.unwrap_or(0)).unwrap_or(0);
        let events = self
            .service
            .subscribe(&owner, &request_id, after)
            .await
            .or_js()?;
        Ok(NativeEventStream {
            events: llm_compare_service::embed::JsonEvents::new(events),
        })
    }

    /// Cancels `owner`'s request; resolves to its status right after.
    #[napi]
    pub async fn cancel(&self, request_id: String, owner: String) -> napi::Result<String> {
        let status = self.service.cancel(&owner, &request_id).await.or_js()?;
        Ok(status.as_str().to_string())
    }

    /// How many of `owner`'s requests are active.
    #[napi]
    pub fn active(&self, owner: String) -> u32 {
        u32::try_from(self.memory.active_count(&owner)).unwrap_or(u32::MAX)
    }
}
