//! Evaluation runs (`eval` in the service): `evaluate` starts a run over a dataset and gives
//! its events (start, each finished row, the summary) one JSON text at a time.

use std::sync::Arc;

use futures::StreamExt;
use napi_derive::napi;
use tokio::sync::Mutex;

use crate::config::NativeEngine;
use crate::error::OrJs;
use crate::registry::to_json;

type Events = futures::stream::BoxStream<'static, llm_compare_service::eval::EvalEvent>;

/// A run's events (wrapped by `evaluate` in index.js).
#[napi]
pub struct NativeEvalStream {
    events: Arc<Mutex<Events>>,
}

impl std::fmt::Debug for NativeEvalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeEvalStream").finish_non_exhaustive()
    }
}

#[napi]
impl NativeEvalStream {
    /// The next event's JSON; null after the summary.
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<String>> {
        match self.events.lock().await.next().await {
            Some(e) => to_json(&e).map(Some),
            None => Ok(None),
        }
    }
}

#[napi]
impl NativeEngine {
    /// Starts an evaluation run for `owner` over dataset `name` (its `text`: JSONL or CSV)
    /// with `options_json`; `resume`: a run to continue.
    #[napi]
    pub async fn evaluate(
        &self,
        name: String,
        text: String,
        options_json: String,
        owner: String,
        template: Option<String>,
        resume: Option<String>,
    ) -> napi::Result<NativeEvalStream> {
        let (dataset, options) =
            llm_compare_service::eval::prepare(&name, &text, template.as_deref(), &options_json)
                .or_js()?;
        let events = self
            .service
            .evaluate(
                &llm_compare_service::Principal::user(owner),
                dataset,
                options,
                resume.as_deref(),
            )
            .await
            .or_js()?;
        Ok(NativeEvalStream {
            events: Arc::new(Mutex::new(events)),
        })
    }
}
