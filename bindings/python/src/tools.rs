//! Python functions as tools (the core's `tools`): the package derives each function's JSON
//! Schema from its signature; here a call runs the function — a plain one on a blocking
//! thread, a coroutine on the event loop `compare()` was called from (cancelled when the call
//! is given up: timeout, cancel) or, without a loop, in `asyncio.run` — and its return value
//! (text; other values as JSON) or exception becomes the tool's result.

use std::collections::HashMap;

use async_trait::async_trait;
use llm_compare_core::Tool;
use llm_compare_core::tools::{ToolExecutor, ToolOutput};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::error::invalid;

/// One function as the package passes it: name, description, JSON Schema (as JSON), the
/// function.
pub(crate) type PyTool = (String, String, String, Py<PyAny>);

/// The functions given to one comparison.
pub(crate) struct PyTools {
    defs: Vec<Tool>,
    functions: HashMap<String, Py<PyAny>>,
    event_loop: Option<Py<PyAny>>,
}

impl std::fmt::Debug for PyTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyTools")
            .field("tools", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PyTools {
    /// `tools`: (name, description, JSON Schema as JSON, function).
    pub(crate) fn new(
        py: Python<'_>,
        tools: Vec<(String, String, String, Py<PyAny>)>,
    ) -> PyResult<Self> {
        let event_loop = py
            .import("asyncio")?
            .call_method0("get_running_loop")
            .ok()
            .map(Bound::unbind);
        let mut defs = Vec::with_capacity(tools.len());
        let mut functions = HashMap::new();
        for (name, description, schema, f) in tools {
            let schema: Value = serde_json::from_str(&schema)
                .map_err(|e| invalid("tools", format!("`{name}`: its schema is not JSON: {e}")))?;
            defs.push(Tool::function(name.clone(), description, schema));
            functions.insert(name, f);
        }
        Ok(Self {
            defs,
            functions,
            event_loop,
        })
    }
}

/// The executor of `tools` (None for none).
pub(crate) fn executor(
    py: Python<'_>,
    tools: Option<Vec<PyTool>>,
) -> PyResult<Option<std::sync::Arc<dyn ToolExecutor>>> {
    Ok(match tools {
        Some(t) if !t.is_empty() => Some(std::sync::Arc::new(PyTools::new(py, t)?)),
        _ => None,
    })
}

/// What calling a function gave.
enum Started {
    /// Its result's text.
    Done(String),
    /// A coroutine scheduled on the loop: its `concurrent.futures.Future`.
    Pending(Py<PyAny>),
}

/// A value as the model reads it: text as is, `None` as nothing, anything else as JSON.
fn text_of(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_none() {
        return Ok(String::new());
    }
    if let Ok(s) = v.extract::<String>() {
        return Ok(s);
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("default", py.import("builtins")?.getattr("str")?)?;
    kwargs.set_item("ensure_ascii", false)?;
    py.import("json")?
        .call_method("dumps", (v,), Some(&kwargs))?
        .extract()
}

/// A call's scheduled coroutine (its `concurrent.futures.Future`) and whether the call was
/// given up: shared by the call and the thread that schedules it, so a call given up at any
/// moment — even before the coroutine is scheduled — cancels it.
#[derive(Default)]
struct Scheduled {
    future: Option<Py<PyAny>>,
    given_up: bool,
}

/// Gives the call up when dropped before it finished: cancels its coroutine (never holding
/// the lock while taking the GIL: the scheduling thread takes them the other way round).
struct GiveUp(std::sync::Arc<std::sync::Mutex<Scheduled>>);

impl Drop for GiveUp {
    fn drop(&mut self) {
        let future = match self.0.lock() {
            Ok(mut s) => {
                s.given_up = true;
                s.future.take()
            }
            Err(_) => None,
        };
        if let Some(f) = future {
            Python::attach(|py| {
                let _ = f.call_method0(py, "cancel");
            });
        }
    }
}

#[async_trait]
impl ToolExecutor for PyTools {
    fn tools(&self) -> Vec<Tool> {
        self.defs.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let picked = Python::attach(|py| {
            (
                self.functions.get(name).map(|f| f.clone_ref(py)),
                self.event_loop.as_ref().map(|l| l.clone_ref(py)),
            )
        });
        let (Some(f), event_loop) = picked else {
            return ToolOutput::error(format!("no tool `{name}`"));
        };
        // Each blocking thread below is counted until it has left Python (see runtime.rs).
        let running = crate::runtime::ToolCall::enter();
        let args = arguments.to_string();
        let scheduled = std::sync::Arc::new(std::sync::Mutex::new(Scheduled::default()));
        let guard = GiveUp(scheduled.clone());
        // A plain function may block: it runs on a blocking thread, not on the runtime.
        let started = tokio::task::spawn_blocking(move || {
            let _running = running;
            Python::attach(|py| -> PyResult<Started> {
                let kwargs = py.import("json")?.call_method1("loads", (args,))?;
                let kwargs = kwargs.cast_into::<PyDict>()?;
                let r = f.bind(py).call((), Some(&kwargs))?;
                if !py
                    .import("inspect")?
                    .call_method1("isawaitable", (&r,))?
                    .is_truthy()?
                {
                    return Ok(Started::Done(text_of(py, &r)?));
                }
                let asyncio = py.import("asyncio")?;
                match event_loop {
                    Some(l) => {
                        let future = asyncio.call_method1("run_coroutine_threadsafe", (r, l))?;
                        let given_up = match scheduled.lock() {
                            Ok(mut s) if !s.given_up => {
                                s.future = Some(future.clone().unbind());
                                false
                            }
                            _ => true,
                        };
                        if given_up {
                            future.call_method0("cancel")?;
                        }
                        Ok(Started::Pending(future.unbind()))
                    }
                    None => Ok(Started::Done(text_of(
                        py,
                        &asyncio.call_method1("run", (r,))?,
                    )?)),
                }
            })
        })
        .await;
        let pending = match started {
            Ok(Ok(Started::Done(text))) => return ToolOutput::ok(text),
            Ok(Ok(Started::Pending(f))) => f,
            Ok(Err(e)) => return ToolOutput::error(e.to_string()),
            Err(e) => return ToolOutput::error(format!("the tool `{name}` failed: {e}")),
        };
        // Waits on a blocking thread (`result()` releases the GIL while it waits); a call
        // given up cancels the coroutine (the guard), which ends the wait.
        let running = crate::runtime::ToolCall::enter();
        let done = tokio::task::spawn_blocking(move || {
            let _running = running;
            Python::attach(|py| -> PyResult<String> {
                let v = pending.call_method0(py, "result")?;
                text_of(py, v.bind(py))
            })
        })
        .await;
        // Finished: nothing to cancel.
        if let Ok(mut s) = guard.0.lock() {
            s.future = None;
        }
        match done {
            Ok(Ok(text)) => ToolOutput::ok(text),
            Ok(Err(e)) => ToolOutput::error(e.to_string()),
            Err(e) => ToolOutput::error(format!("the tool `{name}` failed: {e}")),
        }
    }
}
