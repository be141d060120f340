//! JavaScript functions as tools (the core's `tools`): `index.js` gives the definitions (with
//! the JSON Schema each function declares), one dispatcher, `([callId, name, argsJson]) =>
//! Promise<resultJson>`, which runs the function (plain or async, with an `AbortSignal`) and
//! reports its value or the error it threw, and `abort(callId)`, called when a call is given
//! up (timeout, cancel); here each call goes through them from the engine's threads.

use async_trait::async_trait;
use llm_compare_core::Tool;
use llm_compare_core::tools::{ToolExecutor, ToolOutput};
use napi::Status;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use serde_json::Value;

use crate::error::invalid;

/// The dispatcher: called with [call id, name, arguments JSON], resolves to `{"ok": text}` or
/// `{"error": message}` as JSON.
pub type Dispatch = ThreadsafeFunction<
    (String, String, String),
    Promise<String>,
    (String, String, String),
    Status,
    false,
>;

/// Aborts a call in flight (its `AbortSignal`), by call id.
pub type Abort = ThreadsafeFunction<String, (), String, Status, false>;

/// The functions given to one comparison.
pub(crate) struct JsTools {
    defs: Vec<Tool>,
    dispatch: Dispatch,
    abort: Option<Abort>,
    next: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for JsTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsTools")
            .field(
                "tools",
                &self
                    .defs
                    .iter()
                    .map(|t| &t.function.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl JsTools {
    /// `defs_json`: the tools' definitions (OpenAI function format), as JSON.
    pub(crate) fn new(
        defs_json: &str,
        dispatch: Dispatch,
        abort: Option<Abort>,
    ) -> napi::Result<Self> {
        let defs: Vec<Tool> = serde_json::from_str(defs_json)
            .map_err(|e| invalid("tools", format!("bad tool definitions: {e}")))?;
        Ok(Self {
            defs,
            dispatch,
            abort,
            next: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

/// The executor of `defs_json` through `dispatch` (None without them).
pub(crate) fn executor(
    defs_json: Option<String>,
    dispatch: Option<Dispatch>,
    abort: Option<Abort>,
) -> napi::Result<Option<std::sync::Arc<dyn ToolExecutor>>> {
    Ok(match (defs_json, dispatch) {
        (Some(defs), Some(d)) => Some(std::sync::Arc::new(JsTools::new(&defs, d, abort)?)),
        _ => None,
    })
}

/// Aborts its call when dropped before the call finished.
struct AbortOnDrop<'a> {
    abort: Option<&'a Abort>,
    id: String,
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.abort.take() {
            let _ = a.call(
                std::mem::take(&mut self.id),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

#[async_trait]
impl ToolExecutor for JsTools {
    fn tools(&self) -> Vec<Tool> {
        self.defs.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let id = self
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let mut guard = AbortOnDrop {
            abort: self.abort.as_ref(),
            id: id.clone(),
        };
        let answer = async {
            let promise = self
                .dispatch
                .call_async((id, name.to_string(), arguments.to_string()))
                .await?;
            promise.await
        }
        .await;
        // Finished: nothing to abort.
        guard.abort = None;
        let text = match answer {
            Ok(t) => t,
            Err(e) => {
                return ToolOutput::error(format!("the tool `{name}` could not be called: {e}"));
            }
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(o)) => match (o.get("ok"), o.get("error")) {
                (Some(Value::String(s)), _) => ToolOutput::ok(s.clone()),
                (_, Some(Value::String(e))) => ToolOutput::error(e.clone()),
                _ => ToolOutput::error(format!("the tool `{name}` gave no result")),
            },
            _ => ToolOutput::error(format!("the tool `{name}` gave no result")),
        }
    }
}
