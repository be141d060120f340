//! JavaScript functions as tools (the core's `tools`): `index.js` gives the definitions (with
//! the JSON Schema each function declares) and one dispatcher, `([name, argsJson]) =>
//! Promise<resultJson>`, which runs the function (plain or async) and reports its value or
//! the error it threw; here each call goes through it from the engine's threads.

use async_trait::async_trait;
use llm_compare_core::Tool;
use llm_compare_core::tools::{ToolExecutor, ToolOutput};
use napi::Status;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use serde_json::Value;

use crate::error::invalid;

/// The dispatcher: called with the pair [name, arguments JSON], resolves to `{"ok": text}` or
/// `{"error": message}` as JSON.
pub type Dispatch =
    ThreadsafeFunction<(String, String), Promise<String>, (String, String), Status, false>;

/// The functions given to one comparison.
pub(crate) struct JsTools {
    defs: Vec<Tool>,
    dispatch: Dispatch,
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
    pub(crate) fn new(defs_json: &str, dispatch: Dispatch) -> napi::Result<Self> {
        let defs: Vec<Tool> = serde_json::from_str(defs_json)
            .map_err(|e| invalid("tools", format!("bad tool definitions: {e}")))?;
        Ok(Self { defs, dispatch })
    }
}

/// The executor of `defs_json` through `dispatch` (None without them).
pub(crate) fn executor(
    defs_json: Option<String>,
    dispatch: Option<Dispatch>,
) -> napi::Result<Option<std::sync::Arc<dyn ToolExecutor>>> {
    Ok(match (defs_json, dispatch) {
        (Some(defs), Some(d)) => Some(std::sync::Arc::new(JsTools::new(&defs, d)?)),
        _ => None,
    })
}

#[async_trait]
impl ToolExecutor for JsTools {
    fn tools(&self) -> Vec<Tool> {
        self.defs.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let answer = async {
            let promise = self
                .dispatch
                .call_async((name.to_string(), arguments.to_string()))
                .await?;
            promise.await
        }
        .await;
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
