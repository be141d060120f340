//! `NativeComparison` over one core `DrivenComparison` (driven by a task on the runtime, so
//! models keep streaming and their timings stay true however slowly JavaScript reads):
//! `next()` resolves to the next event's JSON (null after `complete`), `result()` to the
//! `complete` event's, `cancel()` stops the upstream calls.

use std::sync::Arc;

use llm_compare_core::DrivenComparison;
use napi_derive::napi;

use crate::error::OrJs;

/// A running comparison (wrapped by `Comparison` in index.js).
#[napi]
#[derive(Debug)]
pub struct NativeComparison {
    driven: Arc<DrivenComparison>,
}

impl NativeComparison {
    /// Starts driving `comparison` on napi's runtime.
    pub(crate) fn spawn(comparison: llm_compare_core::Comparison) -> Self {
        let driven = napi::bindgen_prelude::within_runtime_if_available(|| {
            DrivenComparison::spawn(comparison)
        });
        Self {
            driven: Arc::new(driven),
        }
    }
}

#[napi]
impl NativeComparison {
    /// The comparison's id.
    #[napi(getter)]
    pub fn request_id(&self) -> String {
        self.driven.request_id().to_string()
    }

    /// Its models, by `model_index`.
    #[napi(getter)]
    pub fn models(&self) -> Vec<String> {
        self.driven.models().to_vec()
    }

    /// The next event's JSON; null after `complete`.
    #[napi]
    pub async fn next(&self) -> Option<String> {
        self.driven.next().await
    }

    /// Reads to the end; the `complete` event's JSON.
    #[napi]
    pub async fn result(&self) -> napi::Result<String> {
        self.driven.result().await.or_js()
    }

    /// Cancels the upstream calls (the stream then ends with `cancelled`).
    #[napi]
    pub fn cancel(&self) {
        self.driven.cancel_token().cancel();
    }

    /// Whether `complete` has been read.
    #[napi(getter)]
    pub fn finished(&self) -> bool {
        self.driven.finished()
    }
}
